//! LedgerFlow's domain: exact money, the ledger model, the change journal, and the [`Store`]
//! trait every storage engine implements. No SQL lives here.

pub mod error;
pub mod files;
pub mod fingerprint;
pub mod journal;
pub mod model;
pub mod money;
pub mod password;
pub mod query;
pub mod service;
pub mod store;

pub use error::{CoreError, ValidationError};
pub use money::{Currency, MoneyError};
pub use store::{Store, StoreError, StoreResult};

/// LedgerFlow's version, as recorded in backups and shown by `status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
