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
use std::process::Command;
use std::sync::Arc;

use ledgerflow_core::Store;
use ledgerflow_core::model::*;
use ledgerflow_db::{Location, OpenMode};

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
        let store = ledgerflow_db::open(&location, OpenMode::Create)
            .await
            .expect("open sqlite");
        TestStore {
            store,
            location,
            engine: Engine::Sqlite,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<TestStore> {
        let server = ledgerflow_test_support::postgres()?;
        let location = Location::Postgres(server.create_database());
        let store = ledgerflow_db::open(&location, OpenMode::Create)
            .await
            .expect("open postgres");
        Some(TestStore {
            store,
            location,
            engine: Engine::Postgres,
            _dir: None,
        })
    }

    /// Runs SQL with the engine's own command-line tool (sqlite3 or psql), as a user would.
    pub fn raw_sql(&self, sql: &str) -> String {
        let out = match &self.location {
            Location::Sqlite(p) => Command::new("sqlite3")
                .arg(p)
                .arg(sql)
                .output()
                .expect("run sqlite3"),
            Location::Postgres(url) => {
                let server = ledgerflow_test_support::postgres().expect("server");
                Command::new(server.bin("psql"))
                    .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                    .arg(url)
                    .arg("-c")
                    .arg(sql)
                    .output()
                    .expect("run psql")
            }
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
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
    let stores = TestStore::initialized().await;
    if stores.len() < 2 {
        eprintln!("WARNING: PostgreSQL unavailable, scenario ran on SQLite only");
    }
    for t in stores {
        eprintln!("-- engine: {}", t.engine);
        scenario(t).await;
    }
}

pub fn actor() -> Actor {
    Actor::system("test")
}

pub fn usd() -> ledgerflow_core::Currency {
    ledgerflow_core::Currency::USD
}

pub fn date(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub async fn account(store: &dyn Store, name: &str) -> Account {
    store
        .create_account(
            &actor(),
            &NewAccount {
                name: name.into(),
                institution: Some("Test Bank".into()),
                kind: AccountKind::Checking,
                currency: usd(),
                opening_balance_minor: 10_000,
            },
        )
        .await
        .expect("create account")
}

pub fn new_tx(account_id: i64, d: &str, amount: i64, payee: &str) -> NewTransaction {
    NewTransaction {
        account_id,
        posted_date: date(d),
        amount_minor: amount,
        currency: usd(),
        payee: payee.into(),
        description: String::new(),
        memo: String::new(),
        category_id: None,
        status: TxStatus::Cleared,
        source: "manual".into(),
        import_batch_id: None,
        external_id: None,
        transfer_id: None,
        needs_review: false,
    }
}
