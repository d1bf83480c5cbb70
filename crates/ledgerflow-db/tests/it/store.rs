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
