//! Ledger use cases, each written once and called by both faces (the CLI's commands and the
//! web's handlers): name resolution, validation, the archived-account rule, every write both
//! faces offer, and the journal checks. They work on any [`Store`](crate::Store) and fail with
//! [`CoreError`](crate::CoreError); each face maps that to its own answer (an exit code, an
//! HTTP status).
//!
//! - `checks`: dates, free text and names as typed.
//! - `accounts`, `categories`, `transactions`, `users`, `tokens`: one module per resource.
//! - `journal`: `journal verify`, the rows digest, the backup's snapshot check.

pub mod accounts;
pub mod categories;
pub mod checks;
pub mod journal;
pub mod tokens;
pub mod transactions;
pub mod users;

pub use accounts::*;
pub use categories::*;
pub use checks::*;
pub use journal::*;
pub use tokens::*;
pub use transactions::*;
pub use users::*;
