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
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(SHOWN) {
        None => std::borrow::Cow::Borrowed(s),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}… ({} bytes)", &s[..cut], s.len())),
    }
}
