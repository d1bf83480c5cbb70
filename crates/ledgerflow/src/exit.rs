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
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CoreError>() {
            return match e {
                CoreError::Invalid(_) | CoreError::Money(_) | CoreError::NotFound(_) => BAD_INPUT,
                CoreError::Refused(_) => REFUSED,
                CoreError::Store(s) => store_code(s),
            };
        }
        if let Some(s) = cause.downcast_ref::<StoreError>() {
            return store_code(s);
        }
        if let Some(b) = cause.downcast_ref::<ledgerflow_backup::BackupError>() {
            return match b {
                ledgerflow_backup::BackupError::Store(s) => store_code(s),
                ledgerflow_backup::BackupError::NotFound(_) => BAD_INPUT,
                ledgerflow_backup::BackupError::Io(_) => INTERNAL,
                _ => REFUSED,
            };
        }
        if cause.is::<ValidationError>()
            || cause.is::<MoneyError>()
            || cause.is::<BadInput>()
            || cause.is::<ConfigError>()
        {
            return BAD_INPUT;
        }
        if cause.is::<CheckFailed>() || cause.is::<Refused>() {
            return REFUSED;
        }
    }
    INTERNAL
}
