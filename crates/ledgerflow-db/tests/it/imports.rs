//! Import batches: recorded with their rows in one transaction, found by file hash, undone
//! exactly, and the keys duplicate detection reads (tombstones of deleted rows included).

use ledgerflow_core::StoreError;
use ledgerflow_core::model::*;
use ledgerflow_core::service::verify_journal;
use ledgerflow_core::store::JournalFilter;

use crate::*;

fn batch(account_id: i64, sha: &str, n: i64) -> NewImportBatch {
    NewImportBatch {
        account_id,
        file_name: "statement.ofx".into(),
        file_sha256: sha.into(),
        format: "ofx".into(),
        rows_read: n,
        rows_new: n,
        rows_duplicate: 0,
        rows_flagged: 0,
        rows_skipped: 0,
    }
}

#[tokio::test]
async fn an_import_is_recorded_found_and_undone_exactly() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        let manual = s
            .insert_transactions(&actor(), vec![new_tx(chk.id, "2024-01-01", -100, "manual")])
            .await
            .expect("manual");
        let rows: Vec<NewTransaction> = (0..30)
            .map(|i| new_tx(chk.id, "2024-01-05", -i, "imported"))
            .collect();
        let b = s
            .create_import(&actor(), batch(chk.id, "abc", 30), rows)
            .await
            .expect("import");
        assert_eq!(b.actor, "system:test");
        assert_eq!(s.counts().await.expect("counts").transactions, 31);
        let page = s
            .list_transactions(&TxFilter {
                import_batch_id: Some(b.id),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("list");
        assert_eq!(page.items.len(), 30);
        assert!(page.items.iter().all(|t| t.import_batch_id == Some(b.id)));
        assert_eq!(
            s.find_import(chk.id, "abc")
                .await
                .expect("find")
                .map(|x| x.id),
            Some(b.id)
        );
        assert_eq!(s.find_import(chk.id, "other").await.expect("find"), None);
        assert_eq!(s.list_imports().await.expect("list").len(), 1);
        assert!(verify_journal(s).await.expect("verify").ok);

        // a user edit of an imported row does not stop the undo, and the undo takes only the batch
        let some = page.items[0].id;
        edit(s, some, |p| p.memo = Some("seen".into())).await;
        assert_eq!(s.undo_import(&actor(), b.id).await.expect("undo"), 30);
        assert_eq!(s.counts().await.expect("counts").transactions, 1);
        assert_eq!(
            s.get_transaction(manual[0])
                .await
                .expect("manual stays")
                .payee,
            "manual"
        );
        assert!(matches!(
            s.get_import(b.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.undo_import(&actor(), b.id).await,
            Err(StoreError::NotFound(_))
        ));
        let r = verify_journal(s).await.expect("verify");
        assert!(r.ok, "{:?}", r.problem);
        // the same file can be imported again after an undo
        assert_eq!(s.find_import(chk.id, "abc").await.expect("find"), None);
    })
    .await;
}

#[tokio::test]
async fn an_import_into_a_missing_account_records_nothing() {
    on_each_store(async |s| {
        let err = s
            .create_import(
                &actor(),
                batch(999, "x", 1),
                vec![new_tx(999, "2024-01-01", -1, "x")],
            )
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(s.counts().await.expect("counts").import_batches, 0);
        assert_eq!(s.journal_head().await.expect("head").head_seq, 1);
    })
    .await;
}

#[tokio::test]
async fn dedup_keys_cover_the_range_and_remember_deletions() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        let other = account(s, "Other").await;
        let mut a = new_tx(chk.id, "2024-01-05", -450, "Coffee");
        a.external_id = Some("FIT1".into());
        let ids = s
            .insert_transactions(
                &actor(),
                vec![
                    a,
                    new_tx(chk.id, "2024-01-06", -999, ""),
                    new_tx(chk.id, "2024-03-01", -1, "later"),
                    new_tx(other.id, "2024-01-05", -450, "Coffee"),
                ],
            )
            .await
            .expect("insert");
        s.delete_transaction(&actor(), ids[1])
            .await
            .expect("delete");
        let mut keys = Vec::new();
        s.scan_dedup_keys(chk.id, date("2024-01-01"), date("2024-01-31"), &mut |k| {
            keys.push(k)
        })
        .await
        .expect("keys");
        assert_eq!(keys.len(), 2, "{keys:?}");
        let live = keys.iter().find(|k| !k.deleted).expect("live row");
        assert_eq!(live.id, ids[0]);
        assert_eq!(live.external_id.as_deref(), Some("FIT1"));
        assert_eq!(live.amount_minor, -450);
        let gone = keys.iter().find(|k| k.deleted).expect("tombstone");
        assert_eq!(gone.posted_date, date("2024-01-06"));
        assert_eq!(gone.id, ids[1], "a tombstone keeps the id the row had");
        let tx = s.get_transaction(ids[0]).await.expect("tx");
        assert_eq!(hex::encode(live.fingerprint), tx.fingerprint);
        let texts = s
            .payee_texts(&[ids[0], ids[2], 999_999])
            .await
            .expect("texts");
        let mut texts: Vec<(i64, String)> = texts;
        texts.sort();
        assert_eq!(
            texts,
            vec![
                (ids[0], "Coffee".to_string()),
                (ids[2], "later".to_string())
            ]
        );
    })
    .await;
}

/// An import larger than one journal chunk is undone exactly: its rows go into the journal a
/// chunk at a time (memory stays bounded), every chunk a bulk delete, then the batch; the
/// journal replays to the rows, and the rows digest holds.
#[tokio::test]
async fn a_large_import_is_undone_in_chunks_exactly() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        let kept = s
            .insert_transactions(&actor(), vec![new_tx(chk.id, "2024-01-01", -7, "kept")])
            .await
            .expect("manual");
        let n = 40_000i64;
        let rows: Vec<NewTransaction> = (0..n)
            .map(|i| new_tx(chk.id, "2024-02-01", -i, &format!("row {i}")))
            .collect();
        let b = s
            .create_import(&actor(), batch(chk.id, "large", n), rows)
            .await
            .expect("import");
        let before = s.journal_head().await.expect("head").head_seq;
        assert_eq!(
            s.undo_import(&actor(), b.id).await.expect("undo"),
            n as usize
        );
        assert_eq!(s.counts().await.expect("counts").transactions, 1);
        assert_eq!(
            s.get_transaction(kept[0]).await.expect("kept").payee,
            "kept"
        );
        let entries = s
            .journal_entries(&JournalFilter {
                after_seq: before,
                limit: 100,
                ..JournalFilter::default()
            })
            .await
            .expect("entries");
        let ops: Vec<&str> = entries.iter().map(|e| e.op.as_str()).collect();
        assert_eq!(
            ops,
            ["bulk_delete", "bulk_delete", "bulk_delete", "delete"],
            "40,000 rows in chunks of 16,384, then the batch"
        );
        let r = verify_journal(s).await.expect("verify");
        assert!(r.ok, "{:?}", r.problem);
        let snap = ledgerflow_core::service::check_snapshot(s)
            .await
            .expect("check");
        assert!(snap.ok, "{:?}", snap.problem);
    })
    .await;
}

#[tokio::test]
async fn a_streamed_import_commits_only_when_done() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        // Chunks, then the sender goes away without `Done` (a parse failure, a lost upload):
        // nothing of it stays.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let chk_id = chk.id;
        let rows = move |from: i64| -> Vec<NewTransaction> {
            (from..from + 500)
                .map(|i| new_tx(chk_id, "2024-02-01", -i, "streamed"))
                .collect()
        };
        let sender = tokio::spawn(async move {
            for k in 0..3 {
                tx.send(ImportChunk::Rows(rows(k * 500)))
                    .await
                    .expect("send");
            }
        });
        let err = s
            .import_rows(&actor(), batch(chk.id, "cut", 0), rx)
            .await
            .expect_err("an unfinished stream is refused");
        sender.await.expect("sender");
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(s.counts().await.expect("counts").transactions, 0);
        assert!(s.list_imports().await.expect("list").is_empty());

        // The same stream finished: one batch with its final counts, every chunk journaled.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let sender = tokio::spawn(async move {
            for k in 0..3 {
                tx.send(ImportChunk::Rows(rows(k * 500)))
                    .await
                    .expect("send");
            }
            let counts = ImportCounts {
                rows_read: 1600,
                rows_new: 1500,
                rows_duplicate: 100,
                rows_flagged: 0,
                rows_skipped: 0,
            };
            tx.send(ImportChunk::Done(counts)).await.expect("done");
        });
        let b = s
            .import_rows(&actor(), batch(chk.id, "whole", 0), rx)
            .await
            .expect("import");
        sender.await.expect("sender");
        assert_eq!(
            (b.rows_read, b.rows_new, b.rows_duplicate),
            (1600, 1500, 100)
        );
        let stored = s.get_import(b.id).await.expect("batch");
        assert_eq!(
            stored.rows_new, 1500,
            "the counts are stored, not only returned"
        );
        assert_eq!(s.counts().await.expect("counts").transactions, 1500);
        assert!(
            verify_journal(s).await.expect("verify").ok,
            "the journal replays the streamed import"
        );
        assert_eq!(s.undo_import(&actor(), b.id).await.expect("undo"), 1500);
        assert_eq!(s.counts().await.expect("counts").transactions, 0);
        assert!(verify_journal(s).await.expect("verify").ok, "and its undo");
    })
    .await;
}

/// W14: on PostgreSQL a streamed import does not hold the journal's lock while its rows arrive:
/// another writer commits in the middle of it. The import's stream is only finished after that
/// write returns, so an import that held the lock would never finish (the timeout is a deadlock
/// guard, not a speed check). SQLite has one writer at a time by design: an import is one
/// transaction there, and writers wait for it.
#[tokio::test]
async fn w14_a_postgres_import_in_progress_does_not_block_other_writers() {
    on_each_engine(|t| async move {
        if t.engine != Engine::Postgres {
            return;
        }
        let chk = account(t.store.as_ref(), "Checking").await;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
        let (wrote_tx, wrote_rx) = tokio::sync::oneshot::channel::<()>();
        let chk_id = chk.id;
        let sender = tokio::spawn(async move {
            let rows: Vec<NewTransaction> = (0..2_000)
                .map(|i| new_tx(chk_id, "2024-02-01", -i, "streamed"))
                .collect();
            tx.send(ImportChunk::Rows(rows)).await.expect("send");
            // The first chunk is in the import's transaction once the next send is taken.
            tx.send(ImportChunk::Rows(vec![new_tx(
                chk_id,
                "2024-02-02",
                -1,
                "more",
            )]))
            .await
            .expect("send");
            let _ = sent_tx.send(());
            let _ = wrote_rx.await;
            tx.send(ImportChunk::Done(ImportCounts {
                rows_read: 2_001,
                rows_new: 2_001,
                rows_duplicate: 0,
                rows_flagged: 0,
                rows_skipped: 0,
            }))
            .await
            .expect("done");
        });
        let store = t.store.clone();
        let import = tokio::spawn(async move {
            store
                .import_rows(&actor(), batch(chk_id, "w14", 0), rx)
                .await
        });
        sent_rx.await.expect("chunks sent");
        let other = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            t.store.create_account(
                &actor(),
                &NewAccount {
                    kind: AccountKind::Savings,
                    ..new_account("Savings")
                },
            ),
        )
        .await
        .expect("another writer waited for the whole import (the journal lock was held)")
        .expect("account");
        let _ = wrote_tx.send(());
        let b = import.await.expect("join").expect("import");
        sender.await.expect("sender");
        assert_eq!(b.rows_new, 2_001);
        assert!(other.id > 0);
        let r = verify_journal(t.store.as_ref()).await.expect("verify");
        assert!(r.ok, "{:?}", r.problem);
    })
    .await;
}

/// Whether `store` can take the account's import lock within a moment (while another holds it,
/// it cannot).
async fn lock_free(store: &dyn Store, account_id: i64) -> bool {
    let wait = std::time::Duration::from_millis(400);
    match tokio::time::timeout(wait, store.lock_imports(account_id)).await {
        Ok(taken) => {
            taken.expect("lock");
            true
        }
        Err(_) => false,
    }
}

/// A second handle on the store (another process would open it like this).
async fn second_handle(t: &TestStore) -> std::sync::Arc<dyn Store> {
    ledgerflow_db::open(&t.location, OpenMode::Existing)
        .await
        .expect("second handle")
}

#[tokio::test]
async fn the_import_lock_is_held_until_dropped_across_handles() {
    on_each_engine(|t| async move {
        let s = t.store.as_ref();
        let chk = account(s, "Checking").await;
        let other = second_handle(&t).await;
        let held = s.lock_imports(chk.id).await.expect("lock");
        assert!(
            !lock_free(other.as_ref(), chk.id).await,
            "{}: taken twice",
            t.engine
        );
        assert!(
            !lock_free(s, chk.id).await,
            "{}: taken twice in-process",
            t.engine
        );
        drop(held);
        assert!(
            lock_free(other.as_ref(), chk.id).await,
            "{}: not released",
            t.engine
        );
        other.close().await;
    })
    .await;
}

/// SQLite: the lock is beside the database file itself, so a path through a symlink shares it;
/// a symlink, FIFO or directory where the lock file goes is refused at once, naming it.
#[tokio::test]
async fn the_sqlite_import_lock_follows_the_database_and_refuses_what_is_not_its_file() {
    let t = TestStore::sqlite().await;
    let s = t.store.as_ref();
    let chk = account(s, "Checking").await;
    let db = t.sqlite_path().expect("sqlite");
    let links = tempfile::tempdir().expect("tempdir");
    let link = links.path().join("ledgerflow.db");
    std::os::unix::fs::symlink(&db, &link).expect("symlink");
    let through_link = ledgerflow_db::open(&Location::Sqlite(link), OpenMode::Existing)
        .await
        .expect("open through the link");
    let held = s.lock_imports(chk.id).await.expect("lock");
    assert!(
        !lock_free(through_link.as_ref(), chk.id).await,
        "a symlinked path has its own lock"
    );
    drop(held);
    through_link.close().await;

    let lock_path = db.with_file_name("ledgerflow.db.import-lock");
    let victim = links.path().join("victim");
    for (what, plant) in [
        (
            "a symlink",
            Box::new(|p: &std::path::Path| std::os::unix::fs::symlink(&victim, p))
                as Box<dyn Fn(&std::path::Path) -> std::io::Result<()>>,
        ),
        (
            "a directory",
            Box::new(|p: &std::path::Path| std::fs::create_dir(p)),
        ),
        (
            "a FIFO",
            Box::new(|p: &std::path::Path| {
                let made = std::process::Command::new("mkfifo").arg(p).status()?;
                assert!(made.success(), "mkfifo");
                Ok(())
            }),
        ),
    ] {
        let _ = std::fs::remove_file(&lock_path);
        plant(&lock_path).expect(what);
        let wait = std::time::Duration::from_secs(5);
        let err = tokio::time::timeout(wait, s.lock_imports(chk.id))
            .await
            .unwrap_or_else(|_| panic!("{what}: the lock waited on it"))
            .expect_err(what);
        assert!(
            err.to_string().contains("ledgerflow.db.import-lock"),
            "{what}: {err}"
        );
        assert!(
            !victim.exists(),
            "{what}: a file was created through the link"
        );
        let _ = std::fs::remove_file(&lock_path);
        let _ = std::fs::remove_dir(&lock_path);
    }
    assert!(lock_free(s, chk.id).await, "the lock file is made again");
}
