//! The store's own facts: its environment and engine, its meta row, restorations and counts.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

text_enum!(
    /// The environment a store belongs to.
    Environment, "environment" {
        Dev => "dev",
        Staging => "staging",
        Prod => "prod",
    }
);

text_enum!(
    /// The storage engine behind a store.
    Engine, "engine" {
        Sqlite => "sqlite",
        Postgres => "postgres",
    }
);

/// The store's own facts, recorded at `init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub lineage_id: uuid::Uuid,
    pub environment: Environment,
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    pub protected: bool,
    /// The backup this store was last restored from, and when.
    pub restored: Option<Restoration>,
}

/// A restore that made this store: the backup's file name and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restoration {
    pub from: String,
    pub at: DateTime<Utc>,
}

/// The facts of a store that the journal vouches for (the schema version is not among them: it
/// moves with migrations, which have their own history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFacts {
    pub lineage_id: uuid::Uuid,
    pub environment: Environment,
    pub created_at: DateTime<Utc>,
    pub protected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<Restoration>,
}

impl From<&StoreMeta> for StoreFacts {
    fn from(m: &StoreMeta) -> Self {
        StoreFacts {
            lineage_id: m.lineage_id,
            environment: m.environment,
            created_at: m.created_at,
            protected: m.protected,
            restored: m.restored.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub accounts: i64,
    pub transactions: i64,
    pub categories: i64,
    pub users: i64,
    pub import_batches: i64,
}
