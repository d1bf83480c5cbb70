//! What a backup holds, written inside the archive (full backups), beside it
//! (`<file>.manifest.json`) and into the catalog, so it survives the loss of the database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
        if self.environment != restored.environment {
            return Some(format!(
                "the restored store is a {} store, the manifest says {}",
                restored.environment.as_deref().unwrap_or("uninitialised"),
                self.environment.as_deref().unwrap_or("uninitialised")
            ));
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

/// The largest manifest LedgerFlow reads (its own are a few kilobytes).
pub const MAX_MANIFEST: u64 = 1 << 20;

/// The member names an archive may hold: the snapshot of its engine, and in a full backup the
/// configuration. Nothing else is ever unpacked.
pub fn member_names(kind: &str, engine: &str) -> Option<&'static [&'static str]> {
    match (kind, engine) {
        ("db", "sqlite") => Some(&["db.sqlite"]),
        ("db", "postgres") => Some(&["db.pgdump"]),
        ("full", "sqlite") => Some(&["db.sqlite", "config.toml"]),
        ("full", "postgres") => Some(&["db.pgdump", "config.toml"]),
        _ => None,
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Manifest {
    /// Checks a manifest read from the backup directory before anything acts on it: it must
    /// describe the archive `file_name` (its own name, one of LedgerFlow's backup names), with
    /// the kind, engine, compression and encryption that name says, and list exactly the
    /// members of that kind and engine, each with a size and a SHA-256.
    pub fn check(&self, file_name: &str) -> Result<(), String> {
        let name = crate::fsx::check_backup_name(file_name)?;
        if self.format != 1 {
            return Err(format!(
                "manifest format {} is not one this LedgerFlow reads",
                self.format
            ));
        }
        if self.file != file_name {
            return Err(format!(
                "the manifest describes \"{}\", not {file_name}",
                crate::fsx::printable(&self.file, 120)
            ));
        }
        let engine = match name.ext {
            "sqlite" => Some("sqlite"),
            "pgdump" => Some("postgres"),
            _ => None,
        };
        if self.kind != name.kind
            || engine.is_some_and(|e| e != self.engine)
            || self.compression != name.compression
            || self.encryption.is_some() != name.encrypted
            || self.encryption.as_deref().is_some_and(|e| e != "age")
        {
            return Err(format!(
                "the manifest's kind, engine, compression or encryption disagree with the name {file_name}"
            ));
        }
        if !self.sha256.as_deref().is_some_and(is_sha256_hex) || self.size.is_none() {
            return Err("the manifest has no size or SHA-256 of the archive".into());
        }
        if let Some(l) = &self.facts.lineage_id
            && uuid::Uuid::parse_str(l).is_err()
        {
            return Err("the manifest's lineage id is not a UUID".into());
        }
        if let Some(e) = &self.facts.environment
            && !matches!(e.as_str(), "dev" | "staging" | "prod")
        {
            return Err("the manifest's environment is not dev, staging or prod".into());
        }
        self.check_members()
    }

    /// The members must be exactly those of the manifest's kind and engine, in order: plain
    /// names from a fixed set, never paths.
    pub fn check_members(&self) -> Result<(), String> {
        let want = member_names(&self.kind, &self.engine).ok_or_else(|| {
            format!(
                "the manifest's kind \"{}\" or engine \"{}\" is not one of LedgerFlow's",
                crate::fsx::printable(&self.kind, 20),
                crate::fsx::printable(&self.engine, 20)
            )
        })?;
        let names: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        if names != want {
            return Err(format!(
                "the manifest lists the members {:?}, but a {} {} backup holds exactly {want:?}: refused",
                names
                    .iter()
                    .map(|n| crate::fsx::printable(n, 60))
                    .collect::<Vec<_>>(),
                self.kind,
                self.engine
            ));
        }
        if let Some(m) = self.members.iter().find(|m| !is_sha256_hex(&m.sha256)) {
            return Err(format!("the manifest's SHA-256 of {} is not one", m.name));
        }
        Ok(())
    }
}

/// The manifest beside a backup (`<file>.manifest.json`, `.failed` left off), read with a
/// bounded size and checked ([`Manifest::check`]) before anything acts on it.
pub fn read_manifest(path: &Path) -> Result<Manifest, crate::BackupError> {
    let full = path.to_string_lossy();
    let name = full.trim_end_matches(".failed");
    let file_name = Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let side = PathBuf::from(format!("{name}.manifest.json"));
    let not_found = |e: String| {
        crate::BackupError::NotFound(format!(
            "{}: no manifest beside it ({e}); it is not a LedgerFlow backup or its manifest was lost",
            path.display()
        ))
    };
    let dir = side.parent().unwrap_or(Path::new("."));
    let side_name = format!("{file_name}.manifest.json");
    match crate::fsx::regular_file(dir, &side_name) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(not_found("No such file or directory".into())),
        Err(e) => return Err(crate::BackupError::Refused(e.to_string())),
    }
    let bytes =
        crate::fsx::read_small(&side, MAX_MANIFEST).map_err(|e| not_found(e.to_string()))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| crate::BackupError::Io(format!("{}: {e}", side.display())))?;
    m.check(&file_name)
        .map_err(|e| crate::BackupError::Refused(format!("{}: {e}", side.display())))?;
    Ok(m)
}
