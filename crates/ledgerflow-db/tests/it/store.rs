//! Opening, initialising and versioning a store.

use ledgerflow_core::StoreError;
use ledgerflow_core::model::*;
use ledgerflow_db::{Location, OpenMode};

use crate::*;

#[tokio::test]
async fn init_records_lineage_environment_and_schema() {
    on_each_engine(|t| async move {
        let meta = t.store.meta().await.expect("meta").expect("initialised");
        assert_eq!(meta.environment, Environment::Dev);
        assert!(!meta.protected);
        assert_eq!(meta.schema_version, t.store.known_schema_version());
        assert!(meta.schema_version >= 1);
        let head = t.store.journal_head().await.expect("head");
        assert_eq!(head.head_seq, 1, "init is the first journal entry");

        let err = t
            .store
            .initialize(&actor(), Environment::Prod)
            .await
            .expect_err("second init refused");
        assert!(
            matches!(err, StoreError::AlreadyInitialized { .. }),
            "{err}"
        );
        // nothing changed
        assert_eq!(t.store.meta().await.expect("meta"), Some(meta));
    })
    .await;
}

#[tokio::test]
async fn prod_stores_are_protected_at_init() {
    let t = TestStore::sqlite().await;
    let meta = t
        .store
        .initialize(&actor(), Environment::Prod)
        .await
        .expect("init");
    assert!(meta.protected);
    assert_eq!(t.store.meta().await.expect("meta"), Some(meta));
}

#[tokio::test]
async fn a_missing_store_asks_for_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loc = Location::Sqlite(dir.path().join("nope").join("ledgerflow.db"));
    let err = ledgerflow_db::open(&loc, OpenMode::Existing)
        .await
        .err()
        .expect("missing store refused");
    assert!(err.to_string().contains("run `ledgerflow init`"), "{err}");
    assert!(!dir.path().join("nope").exists(), "nothing was created");

    if let Some(server) = ledgerflow_test_support::postgres() {
        let loc = Location::Postgres(server.create_database());
        let err = ledgerflow_db::open(&loc, OpenMode::Existing)
            .await
            .err()
            .expect("empty database refused");
        assert!(matches!(err, StoreError::NotInitialized { .. }), "{err}");
    }
}

#[tokio::test]
async fn a_store_with_a_newer_schema_is_refused_naming_both_versions() {
    on_each_engine(|t| async move {
        let known = t.store.known_schema_version();
        t.store.close().await;
        let future = known + 7;
        let blob = match t.engine {
            Engine::Sqlite => "x'00'",
            Engine::Postgres => "'\\x00'::bytea",
        };
        let success = match t.engine {
            Engine::Sqlite => "1",
            Engine::Postgres => "TRUE",
        };
        t.raw_sql(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({future}, 'from the future', {success}, {blob}, 0)"
        ));
        for mode in [OpenMode::Existing, OpenMode::Create] {
            let err = ledgerflow_db::open(&t.location, mode)
                .await
                .err()
                .expect("newer schema refused");
            assert!(
                matches!(err, StoreError::SchemaTooNew { store, binary } if store == future && binary == known),
                "{err}"
            );
            assert!(err.to_string().contains(&future.to_string()));
            assert!(err.to_string().contains(&known.to_string()));
        }
    })
    .await;
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys() {
    let t = TestStore::sqlite().await;
    let store =
        ledgerflow_db::SqliteStore::open(&t.sqlite_path().expect("path"), OpenMode::Existing)
            .await
            .expect("open");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .expect("pragma");
    assert_eq!(fk, 1);
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .expect("pragma");
    assert_eq!(sync, 2, "synchronous=FULL");
}

/// A store made by an older LedgerFlow (schema version 1) is brought forward with its rows, ids,
/// links and id counter intact.
#[tokio::test]
async fn a_version_1_sqlite_store_is_migrated_with_its_rows() {
    use sqlx::migrate::Migrator;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v1.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    let mut v1 = Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .expect("migrations");
    v1.migrations = std::borrow::Cow::Owned(vec![v1.migrations[0].clone()]);
    assert_eq!(v1.migrations[0].version, 1);
    v1.run(&pool).await.expect("schema version 1");
    let fp = "x'00112233445566778899aabbccddeeff'";
    for sql in [
        "INSERT INTO accounts (name, institution, kind, currency, opening_balance_minor, archived, created_at, updated_at) \
         VALUES ('Checking', '', 'checking', 'USD', 0, 0, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')".to_string(),
        format!("INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, status, source, fingerprint, created_at, updated_at) \
         VALUES (1, 1, '2024-01-02', -450, 'USD', 'Coffee', 'cleared', 'manual', {fp}, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')"),
        format!("INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, status, source, fingerprint, transfer_id, created_at, updated_at) \
         VALUES (2, 1, '2024-01-03', 450, 'USD', 'Back', 'cleared', 'manual', {fp}, 1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')"),
        format!("INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, payee, status, source, fingerprint, created_at, updated_at) \
         VALUES (3, 1, '2024-01-04', -1, 'USD', 'Gone', 'cleared', 'manual', {fp}, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')"),
        "DELETE FROM transactions WHERE id = 3".to_string(),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.expect("v1 data");
    }
    pool.close().await;

    let store = ledgerflow_db::open(&Location::Sqlite(path.clone()), OpenMode::Existing)
        .await
        .expect("the old store opens and is migrated");
    assert_eq!(
        store.schema_version().await.expect("version"),
        store.known_schema_version()
    );
    let t = store.get_transaction(2).await.expect("row 2 kept");
    // Migration 3's text index holds the rows that were there before it.
    let found = store
        .list_transactions(&ledgerflow_core::model::TxFilter {
            text: Some("coff*".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(
        found.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!((t.payee.as_str(), t.transfer_id), ("Back", Some(1)));
    assert_eq!(
        store.get_transaction(1).await.expect("row 1").amount_minor,
        -450
    );
    // The id counter survives the rebuild: the deleted row's id is not handed out again.
    let ids = store
        .insert_transactions(&actor(), vec![new_tx(1, "2024-02-01", -5, "New")])
        .await
        .expect("insert after migration");
    assert_eq!(ids, vec![4]);
    // The new CHECK still refuses a date that is not one, and foreign keys still hold.
    let check = raw::sqlite3(
        &path,
        &format!(
            "PRAGMA foreign_keys = ON; INSERT INTO transactions (account_id, posted_date, amount_minor, currency, status, source, fingerprint, created_at, updated_at) \
             VALUES (1, 'yesterday!', 1, 'USD', 'cleared', 'x', {fp}, 'x', 'x');"
        ),
    );
    assert!(!check.status.success(), "a bad date is refused");
    let fk = raw::sqlite3_stdout(&path, "PRAGMA foreign_key_check;");
    assert!(fk.is_empty(), "{fk}");
    store.close().await;
}
