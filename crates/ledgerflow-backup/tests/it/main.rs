//! Backups on both engines, against real SQLite files and a real PostgreSQL server; restored by
//! the standard tools (`zstd`, `sqlite3`, `pg_restore`, `psql`) the way a user would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ledgerflow_backup::{BackupError, Destination, Kind, Settings};
use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_db::{Location, OpenMode};
use ledgerflow_test_support::fixtures::{new_account, new_tx, new_tx_on};
use ledgerflow_test_support::raw;

mod backups;
mod encryption;
mod hostile;
mod offsite;

pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub location: Location,
    pub dir: tempfile::TempDir,
}

impl TestStore {
    pub fn name(&self) -> &'static str {
        self.location.engine_name()
    }

    pub fn settings(&self) -> Settings {
        Settings {
            pg_bin_dir: ledgerflow_test_support::find_bindir(),
            config_toml: "database_url = \"postgres://ledger:********@db/ledger\"\n".into(),
            destinations: [(
                "nas".to_string(),
                Destination::Dir(self.dir.path().join("nas")),
            )]
            .into(),
            ..Settings::in_dir(self.dir.path().join("backups"))
        }
    }

    /// The store's lineage id (it is initialised).
    pub async fn lineage(&self) -> uuid::Uuid {
        self.store
            .meta()
            .await
            .expect("meta")
            .expect("init")
            .lineage_id
    }

    /// Runs SQL with the engine's own command-line tool, behind LedgerFlow's back.
    pub fn raw_sql(&self, sql: &str) {
        let target = match &self.location {
            Location::Sqlite(p) => raw::Target::Sqlite(p),
            Location::Postgres(url) => raw::Target::Postgres(url),
        };
        raw::sql(target, sql);
    }
}

/// An initialised store with `rows` imported transactions, on each engine this machine has.
pub async fn stores(rows: i64) -> Vec<TestStore> {
    ledgerflow_test_support::init_test_log();
    let mut v = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let location = Location::Sqlite(dir.path().join("data").join("ledgerflow.db"));
    v.push((location, dir));
    if let Some(pg) = ledgerflow_test_support::postgres() {
        v.push((
            Location::Postgres(pg.create_database()),
            tempfile::tempdir().expect("tempdir"),
        ));
    }
    let mut out = Vec::new();
    for (location, dir) in v {
        let store = ledgerflow_db::open(&location, OpenMode::Create)
            .await
            .expect("open");
        store
            .initialize(&actor(), Environment::Dev)
            .await
            .expect("init");
        let t = TestStore {
            store,
            location,
            dir,
        };
        fill(t.store.as_ref(), rows).await;
        out.push(t);
    }
    out
}

pub fn actor() -> Actor {
    Actor::system("test")
}

pub async fn fill(store: &dyn Store, rows: i64) -> i64 {
    let account = match store.find_account("Checking").await.expect("find") {
        Some(a) => a,
        None => store
            .create_account(&actor(), &new_account("Checking"))
            .await
            .expect("account"),
    };
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    let new: Vec<NewTransaction> = (0..rows)
        .map(|i| NewTransaction {
            source: "test".into(),
            ..new_tx_on(
                account.id,
                start + chrono::Days::new((i % 365) as u64),
                -(i % 9_000) - 1,
                &format!("SHOP {i} SOMEWHERE IN TOWN"),
            )
        })
        .collect();
    let batch = store
        .create_import(
            &actor(),
            NewImportBatch {
                account_id: account.id,
                file_name: "fill.csv".into(),
                file_sha256: uuid::Uuid::new_v4().simple().to_string(),
                format: "csv".into(),
                rows_read: rows,
                rows_new: rows,
                rows_duplicate: 0,
                rows_flagged: 0,
                rows_skipped: 0,
            },
            new,
        )
        .await
        .expect("fill");
    batch.id
}

pub fn zstd_decompress(from: &Path, to: &Path) {
    let st = Command::new("zstd")
        .arg("-d")
        .arg("-q")
        .arg("-f")
        .arg(from)
        .arg("-o")
        .arg(to)
        .status()
        .expect("zstd runs (apt install zstd)");
    assert!(st.success());
}

pub fn backup_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

pub async fn take(t: &TestStore, kind: Kind) -> Result<ledgerflow_backup::Outcome, BackupError> {
    ledgerflow_backup::backup(t.store.as_ref(), &t.location, &t.settings(), kind, false).await
}

/// Takes a backup of `kind`, which must succeed and verify.
pub async fn take_verified(t: &TestStore, kind: Kind) -> ledgerflow_backup::Outcome {
    let o = take(t, kind).await.expect("backup");
    assert!(o.verified, "{}: {}", t.name(), o.verification);
    o
}

/// Restores a plain snapshot (a SQLite file or a pg_dump archive) with the engine's own tools
/// and returns what they say of the transactions: "count|sum" in it.
pub fn count_with_standard_tools(t: &TestStore, raw: &Path) -> String {
    match &t.location {
        Location::Sqlite(_) => raw::sqlite3_stdout(
            raw,
            "SELECT count(*), sum(amount_minor) FROM transactions; PRAGMA integrity_check;",
        ),
        Location::Postgres(_) => {
            let pg = ledgerflow_test_support::postgres().expect("server");
            let db = pg.create_database();
            let st = Command::new(pg.bin("pg_restore"))
                .arg("--no-owner")
                .arg("--exit-on-error")
                .arg(format!("--dbname={db}"))
                .arg(raw)
                .status()
                .expect("pg_restore");
            assert!(st.success());
            let o = Command::new(pg.bin("psql"))
                .arg("-X")
                .arg("-A")
                .arg("-t")
                .arg(&db)
                .arg("-c")
                .arg("SELECT count(*) || '|' || sum(amount_minor) FROM transactions")
                .output()
                .expect("psql");
            String::from_utf8_lossy(&o.stdout).to_string()
        }
    }
}

/// Verifies `file` with `s`: the check must run and refuse the backup, saying `why` (any reason
/// when `why` is empty). Returns the outcome.
pub async fn refused_by_verify(
    t: &TestStore,
    s: &Settings,
    file: &Path,
    why: &str,
) -> ledgerflow_backup::Outcome {
    let o = ledgerflow_backup::verify(&t.location, s, file)
        .await
        .expect("verify runs");
    assert!(!o.verified);
    assert!(o.verification.contains(why), "{}", o.verification);
    o
}
