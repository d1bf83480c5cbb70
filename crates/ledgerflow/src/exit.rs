//! The exit-code contract. These numbers are stable; scripts may rely on them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | refused, or a check failed (journal verify, a conflict, a protected store) |
//! | 2 | bad usage or bad input (unknown flag, unknown account, an amount with too many decimals) |
//! | 3 | the store is unavailable: not initialised, cannot be reached, or its schema is too new |
//! | 4 | an unexpected internal or I/O error |

use ledgerflow_core::{CoreError, MoneyError, StoreError, ValidationError};

use ledgerflow_import::service::ImportError;

use crate::config::ConfigError;

pub const OK: u8 = 0;
pub const REFUSED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const STORE_UNAVAILABLE: u8 = 3;
pub const INTERNAL: u8 = 4;

/// A check that failed: the message was already printed; exit with `REFUSED`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

/// A command refused to act.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Input that does not make sense.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

fn store_code(e: &StoreError) -> u8 {
    match e {
        StoreError::NotFound(_) | StoreError::InvalidLocation { .. } => BAD_INPUT,
        StoreError::Conflict(_) | StoreError::AlreadyInitialized { .. } => REFUSED,
        StoreError::NotInitialized { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Unavailable { .. } => STORE_UNAVAILABLE,
        StoreError::Database(_) | StoreError::Journal(_) => INTERNAL,
    }
}

/// The exit code for an error, from the first typed error in its chain.
pub fn code_for(err: &anyhow::Error) -> u8 {
    classify(err).map_or(INTERNAL, |(code, _, _)| code)
}

/// What to print for an error: the first typed error's own sentence, without the "opening the
/// store at …" wrappers that would repeat what it already says; for internal errors and errors
/// whose context matters, the whole chain of causes.
pub fn message(err: &anyhow::Error) -> String {
    match classify(err) {
        Some((_, cause, true)) => cause.to_string(),
        _ => format!("{err:#}"),
    }
}

/// The one place errors are classified: the first typed error in the chain, its exit code, and
/// whether its sentence stands alone (an unexpected error prints its whole chain of causes,
/// except an import's I/O error, whose message names its cause already).
fn classify(err: &anyhow::Error) -> Option<(u8, &(dyn std::error::Error + 'static), bool)> {
    err.chain()
        .find_map(|cause| typed(cause).map(|(code, alone)| (code, cause, alone)))
}

fn typed(cause: &(dyn std::error::Error + 'static)) -> Option<(u8, bool)> {
    let code = code_of(cause)?;
    let alone = match cause.downcast_ref::<ImportError>() {
        // An import's own failure (a bad file, an unreadable one) names its cause already.
        Some(e) if !matches!(e, ImportError::Store(_)) => true,
        // A backup's failure reads best with its context; other internal errors print it all.
        _ => code != INTERNAL && !cause.is::<ledgerflow_backup::BackupError>(),
    };
    Some((code, alone))
}

fn code_of(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use ledgerflow_backup::BackupError;
    if let Some(e) = cause.downcast_ref::<CoreError>() {
        return Some(match e {
            CoreError::Invalid(_) | CoreError::Money(_) | CoreError::NotFound(_) => BAD_INPUT,
            CoreError::Refused(_) => REFUSED,
            CoreError::Store(s) => store_code(s),
        });
    }
    if let Some(s) = cause.downcast_ref::<StoreError>() {
        return Some(store_code(s));
    }
    if let Some(b) = cause.downcast_ref::<BackupError>() {
        return Some(match b {
            BackupError::Store(s) => store_code(s),
            BackupError::NotFound(_) => BAD_INPUT,
            BackupError::Io(_) => INTERNAL,
            _ => REFUSED,
        });
    }
    if let Some(e) = cause.downcast_ref::<ImportError>() {
        // A file that cannot be read, or changed while it was read, is not bad input.
        return Some(match e {
            ImportError::Store(s) => store_code(s),
            e if e.is_bad_input() => BAD_INPUT,
            _ => INTERNAL,
        });
    }
    if cause.is::<ValidationError>()
        || cause.is::<MoneyError>()
        || cause.is::<BadInput>()
        || cause.is::<ConfigError>()
    {
        return Some(BAD_INPUT);
    }
    if cause.is::<CheckFailed>() || cause.is::<Refused>() {
        return Some(REFUSED);
    }
    None
}
