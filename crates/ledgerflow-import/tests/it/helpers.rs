//! What the import tests share: the stores they run against (SQLite, and PostgreSQL where the
//! machine has it), an account, the import calls, and the corpora's sample files. Every store
//! and every corpus walk starts the test log (`TEST_LOG=1` prints the import's tracing events).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledgerflow_core::Store;
use ledgerflow_core::model::{Account, Actor};
use ledgerflow_db::{Location, OpenMode};
use ledgerflow_import::service::{
    ImportError, ImportOptions, ImportSummary, Progress, Quiet, Source, import_file,
};
use ledgerflow_test_support::fixtures::new_account;

pub(crate) struct Engine {
    pub(crate) store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

/// A fresh store on each engine.
pub(crate) async fn engines() -> Vec<Engine> {
    ledgerflow_test_support::init_test_log();
    let mut v = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ledgerflow_db::open(&Location::Sqlite(dir.path().join("l.db")), OpenMode::Create)
        .await
        .expect("sqlite");
    v.push(Engine { store, _dir: dir });
    if let Some(pg) = ledgerflow_test_support::postgres() {
        let store =
            ledgerflow_db::open(&Location::Postgres(pg.create_database()), OpenMode::Create)
                .await
                .expect("postgres");
        v.push(Engine {
            store,
            _dir: tempfile::tempdir().expect("tempdir"),
        });
    }
    v
}

/// Each engine's fresh store opened twice, as two processes would (the CLI and the server).
pub(crate) async fn twice_opened() -> Vec<(Arc<dyn Store>, Arc<dyn Store>, tempfile::TempDir)> {
    ledgerflow_test_support::init_test_log();
    let sqlite = tempfile::tempdir().expect("tempdir");
    let mut locations = vec![(Location::Sqlite(sqlite.path().join("l.db")), sqlite)];
    if let Some(pg) = ledgerflow_test_support::postgres() {
        let at = Location::Postgres(pg.create_database());
        locations.push((at, tempfile::tempdir().expect("tempdir")));
    }
    let mut v = Vec::new();
    for (at, dir) in locations {
        let first = ledgerflow_db::open(&at, OpenMode::Create)
            .await
            .expect("first");
        let second = ledgerflow_db::open(&at, OpenMode::Existing)
            .await
            .expect("second");
        v.push((first, second, dir));
    }
    v
}

/// Runs `test` on a fresh store of each engine with a new checking account, then closes it.
pub(crate) async fn on_each_store(test: impl AsyncFn(&dyn Store, Account)) {
    for e in engines().await {
        let s = e.store.as_ref();
        let account = checking(s).await;
        test(s, account).await;
        s.close().await;
    }
}

pub(crate) fn actor() -> Actor {
    Actor::system("test")
}

/// A new USD checking account.
pub(crate) async fn checking(store: &dyn Store) -> Account {
    store
        .create_account(&actor(), &new_account("Checking"))
        .await
        .expect("account")
}

/// Imports the file at `path` (named by its path) with the default options.
pub(crate) async fn import_path(
    store: &dyn Store,
    account: &Account,
    path: &Path,
    progress: Arc<dyn Progress>,
) -> Result<ImportSummary, ImportError> {
    import_file(
        store,
        &actor(),
        account,
        &path.display().to_string(),
        Source::Path(path.to_path_buf()),
        &ImportOptions::default(),
        progress,
    )
    .await
}

/// Imports `bytes` as `name` with `opts`.
pub(crate) async fn import_bytes(
    s: &dyn Store,
    account: &Account,
    name: &str,
    bytes: &[u8],
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    import_file(
        s,
        &actor(),
        account,
        name,
        Source::bytes(bytes),
        opts,
        Arc::new(Quiet),
    )
    .await
}

/// Imports `bytes` as `name` with the default options.
pub(crate) async fn import_default(
    s: &dyn Store,
    account: &Account,
    name: &str,
    bytes: &[u8],
) -> Result<ImportSummary, ImportError> {
    import_bytes(s, account, name, bytes, &ImportOptions::default()).await
}

/// A temporary directory holding `wf.csv`: Wells Fargo rows `0..rows`.
pub(crate) fn wf_csv_file(rows: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wf.csv");
    ledgerflow_test_support::write_wf_csv(&path, 0, rows).expect("write");
    (dir, path)
}

/// Nothing was imported: no transaction, no batch.
pub(crate) async fn assert_nothing_written(s: &dyn Store) {
    assert_eq!(s.counts().await.expect("counts").transactions, 0);
    assert!(s.list_imports().await.expect("imports").is_empty());
}

/// The corpora's root; `None` (the test is skipped, said on stderr) when they are missing
/// outside CI; under `CI=true` a missing corpus fails the test.
pub(crate) fn corpora() -> Option<PathBuf> {
    ledgerflow_test_support::init_test_log();
    ledgerflow_test_support::corpora_dir()
}

/// Notes, configs and expected outputs beside the samples: not inputs.
const NOT_SAMPLES: &[&str] = &[
    ".pydata",
    ".json",
    ".beancount",
    ".zip",
    ".md",
    ".txt",
    ".py",
    ".yaml",
    ".yml",
    ".rules",
    ".toml",
];

/// The sample files below `dir`, sorted, leaving out `expected` folders and notes or configs.
pub(crate) fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if p.is_dir() {
            if name != "expected" {
                walk(&p, out);
            }
        } else if !NOT_SAMPLES.iter().any(|s| name.ends_with(s)) {
            out.push(p);
        }
    }
}
