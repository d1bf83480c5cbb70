//! Errors of the domain layer.

use crate::money::MoneyError;
use crate::store::StoreError;

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
