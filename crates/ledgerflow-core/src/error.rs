//! Errors of the domain layer, and of the stores below it (defined here so that errors,
//! the model and the store trait depend on each other in one direction only).

use crate::money::MoneyError;

/// Bad input from a user: one sentence that names the offending thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

impl ValidationError {
    pub fn new(msg: impl Into<String>) -> Self {
        ValidationError(msg.into())
    }
}

/// Everything a ledger operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input was wrong; nothing was changed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The thing named does not exist ("unknown account \"X\"").
    #[error("{0}")]
    NotFound(String),
    /// The operation is refused by a rule (protection, environment, conflict).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Errors from a store. Engines map their driver errors onto these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// "transaction 42", "account \"Visa\"".
    #[error("{0} does not exist")]
    NotFound(String),
    /// A uniqueness or reference rule was broken ("an account named \"Visa\" already exists").
    #[error("{0}")]
    Conflict(String),
    #[error("the store at {location} is not initialised: run `ledgerflow init` first")]
    NotInitialized { location: String },
    #[error("the store at {location} is already initialised (lineage {lineage})")]
    AlreadyInitialized { location: String, lineage: String },
    #[error(
        "the store's schema is version {store}, newer than this ledgerflow knows ({binary}): upgrade ledgerflow before opening it"
    )]
    SchemaTooNew { store: i64, binary: i64 },
    /// The location given is not one LedgerFlow can use (bad input, not an outage).
    #[error("{location}: {reason}")]
    InvalidLocation { location: String, reason: String },
    /// The store cannot be reached or opened.
    #[error("cannot open the store at {location}: {reason}")]
    Unavailable { location: String, reason: String },
    #[error("database error: {0}")]
    Database(String),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Characters of someone else's text (a file's, a request's) quoted in a message, at most.
const SHOWN: usize = 60;

/// Text from a file or a request as a message quotes it: whole when short, else its first
/// characters and how long it is, so that a message stays one readable sentence whatever it
/// holds.
/// Control characters (a terminal's escape sequences among them) and the Unicode marks that
/// reorder text on screen are written as escapes.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(SHOWN) {
        None => shown_whole(s),
        Some((cut, _)) => {
            std::borrow::Cow::Owned(format!("{}… ({} bytes)", shown_whole(&s[..cut]), s.len()))
        }
    }
}

/// Text from a file as a terminal or a comment shows it, whole: control characters and the
/// marks that reorder text written as escapes.
pub fn shown_whole(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| {
                if hidden(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A character that is not shown as itself: a control character, or a mark that reorders the
/// text around it (bidirectional embeddings, overrides and isolates).
fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from a file as LedgerFlow keeps it (a payee, a memo): trimmed, a terminal's escape
/// sequences and other control characters dropped (a tab is a space), and the marks that
/// reorder text on screen dropped, so that what is stored reads as what it is.
pub fn plain_text(s: &str) -> std::borrow::Cow<'_, str> {
    let t = s.trim();
    // Printable ASCII (most bank text) hides nothing: one pass over the bytes settles it.
    if t.bytes().all(|b| (b' '..=b'~').contains(&b)) || !t.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.peek() {
                // CSI: ESC [ parameters… final byte (@ to ~).
                Some('[') => {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: ESC ] … BEL (or ESC \\).
                Some(']') => {
                    chars.next();
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {
                    chars.next();
                }
            },
            '\t' => out.push(' '),
            c if hidden(c) => {}
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out.trim().to_string())
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn hostile_text_is_shown_escaped_and_kept_plain() {
        let evil = "ACME\u{1b}[31m RED\u{1b}[0m\u{1b}]0;title\u{7} \u{202e}gnp.exe\u{0}\tX";
        assert_eq!(plain_text(evil), "ACME RED gnp.exe X");
        assert!(!shown(evil).chars().any(hidden), "{}", shown(evil));
        assert!(shown(evil).contains("\\u{1b}"), "{}", shown(evil));
        assert_eq!(plain_text("  Café  "), "Café");
        assert!(matches!(plain_text("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
