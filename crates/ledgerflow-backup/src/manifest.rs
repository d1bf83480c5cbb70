//! What a backup holds, written inside the archive (full backups), beside it
//! (`<file>.manifest.json`) and into the catalog, so it survives the loss of the database.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ledgerflow_core::Store;
use serde::{Deserialize, Serialize};

use crate::BackupError;

/// The ledger's state in a snapshot: what a restore must reproduce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub schema_version: i64,
    pub lineage_id: Option<String>,
    pub environment: Option<String>,
    pub journal_seq: i64,
    /// Hex of the journal head's hash.
    pub journal_hash: String,
    /// Rows per table.
    pub counts: BTreeMap<String, i64>,
    /// Sum of amounts (minor units) per account id.
    pub account_sums: BTreeMap<String, i64>,
}

impl Facts {
    /// Reads the facts of a store (a live one, or a scratch restore).
    pub async fn of(store: &dyn Store) -> Result<Facts, BackupError> {
        let meta = store.meta().await?;
        let counts = store.counts().await?;
        let head = store.journal_head().await?;
        let sums = store.account_sums().await?;
        Ok(Facts {
            schema_version: store.schema_version().await?,
            lineage_id: meta.as_ref().map(|m| m.lineage_id.to_string()),
            environment: meta.as_ref().map(|m| m.environment.as_str().to_string()),
            journal_seq: head.head_seq,
            journal_hash: hex::encode(head.head_hash),
            counts: BTreeMap::from([
                ("accounts".to_string(), counts.accounts),
                ("categories".to_string(), counts.categories),
                ("import_batches".to_string(), counts.import_batches),
                ("transactions".to_string(), counts.transactions),
                ("users".to_string(), counts.users),
                ("journal".to_string(), head.head_seq),
            ]),
            account_sums: sums
                .into_iter()
                .map(|(id, sum)| (id.to_string(), sum))
                .collect(),
        })
    }

    /// The first difference between what a backup promised and what its restore holds.
    pub fn difference(&self, restored: &Facts) -> Option<String> {
        if self.schema_version != restored.schema_version
            && restored.schema_version < self.schema_version
        {
            return Some(format!(
                "schema version {} restored, {} recorded",
                restored.schema_version, self.schema_version
            ));
        }
        if self.lineage_id != restored.lineage_id {
            return Some("the restored store has another lineage id".into());
        }
        if (self.journal_seq, &self.journal_hash) != (restored.journal_seq, &restored.journal_hash)
        {
            return Some(format!(
                "journal head {} restored, {} recorded",
                restored.journal_seq, self.journal_seq
            ));
        }
        for (table, n) in &self.counts {
            let got = restored.counts.get(table).copied().unwrap_or(-1);
            if got != *n {
                return Some(format!("{table}: {got} rows restored, {n} recorded"));
            }
        }
        if self.account_sums != restored.account_sums {
            return Some("the sums of amounts per account differ from the manifest".into());
        }
        None
    }
}

/// One file inside a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub file: String,
    pub kind: String,
    pub engine: String,
    pub compression: String,
    /// "age" when the archive is encrypted (after compression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// The age recipient it is encrypted to (public).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    pub created_at: DateTime<Utc>,
    pub app_version: String,
    pub build_commit: String,
    pub host: String,
    pub facts: Facts,
    /// The files inside the archive (the database snapshot, the configuration).
    pub members: Vec<Member>,
    /// The archive itself (absent from the copy inside the archive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}
