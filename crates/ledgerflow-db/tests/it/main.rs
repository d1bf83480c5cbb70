//! The storage conformance suite: every scenario runs against SQLite and PostgreSQL.
//!
//! - `store`: init, meta, schema versions.
//! - `ledger`: accounts, categories, transactions, users.
//! - `journal`: the chain and the row check, including edits made by sqlite3/psql.

mod imports;
mod journal;
mod ledger;
mod store;
mod web;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_db::{Location, OpenMode};
pub use ledgerflow_test_support::fixtures::{date, new_account, new_category, new_tx};
use ledgerflow_test_support::raw;

/// A store under test plus the means to reach it behind LedgerFlow's back.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub location: Location,
    pub engine: Engine,
    _dir: Option<tempfile::TempDir>,
}

/// Having `Drop` makes a closure that uses `t.store` capture the whole `TestStore`, so the
/// temporary directory lives as long as the scenario (precise closure capture would otherwise
/// drop it early).
impl Drop for TestStore {
    fn drop(&mut self) {}
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::Sqlite(dir.path().join("ledgerflow.db"));
        TestStore::create(location, Engine::Sqlite, Some(dir)).await
    }

    pub async fn postgres() -> Option<TestStore> {
        let server = ledgerflow_test_support::postgres()?;
        let location = Location::Postgres(server.create_database());
        Some(TestStore::create(location, Engine::Postgres, None).await)
    }

    /// Creates the store at `location` (kept alive with `dir`, its temporary directory).
    async fn create(
        location: Location,
        engine: Engine,
        dir: Option<tempfile::TempDir>,
    ) -> TestStore {
        let store = ledgerflow_db::open(&location, OpenMode::Create)
            .await
            .unwrap_or_else(|e| panic!("open {engine}: {e}"));
        TestStore {
            store,
            location,
            engine,
            _dir: dir,
        }
    }

    /// Runs SQL with the engine's own command-line tool (sqlite3 or psql), as a user would.
    pub fn raw_sql(&self, sql: &str) -> String {
        let target = match &self.location {
            Location::Sqlite(p) => raw::Target::Sqlite(p),
            Location::Postgres(url) => raw::Target::Postgres(url),
        };
        raw::sql(target, sql)
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match &self.location {
            Location::Sqlite(p) => Some(p.clone()),
            Location::Postgres(_) => None,
        }
    }

    pub async fn initialized() -> Vec<TestStore> {
        let mut v = Vec::new();
        for t in [Some(TestStore::sqlite().await), TestStore::postgres().await]
            .into_iter()
            .flatten()
        {
            t.store
                .initialize(&actor(), Environment::Dev)
                .await
                .expect("init");
            v.push(t);
        }
        v
    }
}

/// Runs `scenario` against every engine available (both in CI).
pub async fn on_each_engine<F, Fut>(scenario: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    ledgerflow_test_support::init_test_log();
    let stores = TestStore::initialized().await;
    if stores.len() < 2 {
        eprintln!("WARNING: PostgreSQL unavailable, scenario ran on SQLite only");
    }
    for t in stores {
        eprintln!("-- engine: {}", t.engine);
        scenario(t).await;
    }
}

/// Runs `scenario` against the store of every engine available, for scenarios that need
/// nothing else of their `TestStore`.
pub async fn on_each_store(scenario: impl AsyncFn(&dyn Store)) {
    let scenario = &scenario;
    on_each_engine(|t| async move { scenario(t.store.as_ref()).await }).await;
}

pub fn actor() -> Actor {
    Actor::system("test")
}

pub async fn account(store: &dyn Store, name: &str) -> Account {
    store
        .create_account(
            &actor(),
            &NewAccount {
                institution: Some("Test Bank".into()),
                opening_balance_minor: 10_000,
                ..new_account(name)
            },
        )
        .await
        .expect("create account")
}

/// Edits transaction `id` with the patch `change` makes of an empty one (the edit must
/// succeed); returns the row after the edit.
pub async fn edit(
    s: &dyn Store,
    id: i64,
    change: impl FnOnce(&mut TransactionPatch),
) -> Transaction {
    let mut patch = TransactionPatch::default();
    change(&mut patch);
    s.update_transaction(&actor(), id, &patch)
        .await
        .expect("edit")
}
