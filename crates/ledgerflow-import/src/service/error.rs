//! Why an import failed, kept apart by whose fault it is: the file or the options (bad input:
//! a parse error, bad rows, a question only the user can answer), reading it (the operating
//! system, a file that changed under the import, a worker that died), or the store. Causes are
//! kept as sources; each message stays one sentence naming the file.

use ledgerflow_core::StoreError;

use crate::model::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a whole.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Rows that cannot be imported, and no `skip_invalid`: nothing was written.
    #[error("{file}: {first}{more} (nothing was imported; {hint})")]
    BadRows {
        file: String,
        first: String,
        more: String,
        /// What to do: skip the bad rows, or (when no row can be read) what the rows say.
        hint: String,
        /// Some rows are good: skipping the bad ones would import them (each interface says
        /// how in its own words; `hint` says it for the command line).
        skippable: bool,
    },
    /// A question only the user can answer (which statement, which account).
    #[error("{0}")]
    Ambiguous(String),
    /// The file could not be read through: not its content's fault, and nothing was written.
    /// The message is the whole sentence, cause included (as before the cause was kept): a
    /// printer of error chains prints this error's own message, not the chain.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: ReadError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What went wrong while reading a file (never what the file says).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system's error (open, read, metadata).
    #[error(transparent)]
    Os(#[from] std::io::Error),
    /// The file's bytes are not those that were hashed and decided on.
    #[error("the file changed while it was being imported: nothing was written")]
    Changed,
    /// Streamed, a field was not UTF-8 although the whole file was when it was hashed.
    #[error("the file could not be decoded")]
    Undecodable,
    /// A blocking task of the import panicked or was cancelled.
    #[error("the import task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

impl ImportError {
    /// Whether the user's input is at fault: the file's content or the options (exit code 2,
    /// HTTP 422). `false` for reading failures (I/O, a file changed under the import, a failed
    /// task: exit code 4, HTTP 500) and for the store's errors, which classify themselves.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ImportError::Parse(_) | ImportError::BadRows { .. } | ImportError::Ambiguous(_) => true,
            ImportError::Io { .. } | ImportError::Store(_) => false,
        }
    }

    /// A reading failure of `file`.
    pub(super) fn read(file: &str, source: ReadError) -> Self {
        ImportError::Io {
            file: file.to_string(),
            source,
        }
    }

    /// The operating system's error while reading `file`.
    pub(super) fn io(file: &str, e: std::io::Error) -> Self {
        Self::read(file, ReadError::Os(e))
    }

    /// A blocking task of the import of `file` failed.
    pub(super) fn task(file: &str, e: tokio::task::JoinError) -> Self {
        Self::read(file, ReadError::Task(e))
    }

    /// `file` changed between the passes.
    pub(super) fn changed(file: &str) -> Self {
        Self::read(file, ReadError::Changed)
    }

    /// Bad rows refuse the file: the first one said word for word, the others counted.
    /// `count` of the file's `read` rows are bad; `bad` holds the first reasons.
    pub(super) fn bad_rows(file: &str, bad: &[String], count: usize, read: usize) -> Self {
        let more = if count > 1 {
            format!(" (and {} more bad rows)", count - 1)
        } else {
            String::new()
        };
        let first = bad.first().cloned().unwrap_or_default();
        // "the amount is in EUR but account "X" is in USD" on every row: the wrong account.
        let currency = first
            .split_once("the amount is in ")
            .and_then(|(_, rest)| rest.get(..3))
            .filter(|c| c.bytes().all(|b| b.is_ascii_uppercase()));
        let hint = match currency {
            Some(c) if count == read => {
                format!("every row is in {c}: import the file into an account in {c}")
            }
            _ if count == read => {
                "no row of the file could be read: check its format or reading".to_string()
            }
            _ => "--skip-invalid imports the good rows".to_string(),
        };
        ImportError::BadRows {
            file: file.to_string(),
            first,
            more,
            hint,
            skippable: count < read,
        }
    }
}
