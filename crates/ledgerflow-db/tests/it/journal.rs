//! The journal: a hash chain appended in the same transaction as every change, and a row check
//! that catches edits made outside LedgerFlow with sqlite3 or psql.

use ledgerflow_core::journal::{Entity, Op};
use ledgerflow_core::model::*;
use ledgerflow_core::service::verify_journal;
use ledgerflow_core::store::JournalFilter;

use crate::*;

/// A store with some history: accounts, a category, single and bulk inserts, an edit, a delete.
async fn with_history(t: &TestStore) -> Vec<i64> {
    let s = t.store.as_ref();
    let chk = account(s, "Checking").await;
    let cat = s
        .create_category(&actor(), &new_category("Food"))
        .await
        .expect("cat");
    let mut ids = s
        .insert_transactions(&actor(), vec![new_tx(chk.id, "2024-01-01", -100, "one")])
        .await
        .expect("single");
    ids.extend(
        s.insert_transactions(
            &actor(),
            (0..50)
                .map(|i| new_tx(chk.id, "2024-01-02", -i, "bulk"))
                .collect(),
        )
        .await
        .expect("bulk"),
    );
    edit(s, ids[3], |p| p.category_id = Some(Some(cat.id))).await;
    s.delete_transaction(&actor(), ids[4])
        .await
        .expect("delete");
    ids
}

async fn problem(t: &TestStore) -> Option<String> {
    let r = verify_journal(t.store.as_ref()).await.expect("verify runs");
    assert_eq!(r.ok, r.problem.is_none());
    r.problem
}

#[tokio::test]
async fn an_untouched_store_verifies_and_records_every_change() {
    on_each_engine(|t| async move {
        with_history(&t).await;
        let r = verify_journal(t.store.as_ref()).await.expect("verify");
        assert!(r.ok, "{:?}", r.problem);
        // init, account, category, insert, bulk insert, update, delete
        assert_eq!(r.entries, 7);
        assert_eq!(r.head.head_seq, 7);
        // the store's facts, an account, a category, 51 - 1 transactions, 1 tombstone
        assert_eq!(r.rows_checked, 1 + 1 + 1 + 50 + 1);
        let entries = t
            .store
            .journal_entries(&JournalFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("entries");
        let ops: Vec<(Entity, Op)> = entries.iter().map(|e| (e.entity, e.op)).collect();
        assert_eq!(
            ops,
            vec![
                (Entity::Store, Op::Init),
                (Entity::Account, Op::Insert),
                (Entity::Category, Op::Insert),
                (Entity::Transaction, Op::Insert),
                (Entity::Transaction, Op::BulkInsert),
                (Entity::Transaction, Op::Update),
                (Entity::Transaction, Op::Delete),
            ]
        );
        let edit = &entries[5];
        assert!(
            edit.before
                .as_deref()
                .expect("before")
                .contains("\"category_id\":null")
        );
        assert!(
            edit.after
                .as_deref()
                .expect("after")
                .contains("\"category_id\":1")
        );
        assert_eq!(edit.actor, "system:test");
        let only_tx = t
            .store
            .journal_entries(&JournalFilter {
                entity: Some(Entity::Transaction),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("filtered");
        assert_eq!(only_tx.len(), 4);
    })
    .await;
}

#[tokio::test]
async fn a_direct_amount_update_is_reported_with_entity_and_id() {
    on_each_engine(|t| async move {
        let ids = with_history(&t).await;
        assert_eq!(problem(&t).await, None);
        t.raw_sql(&format!(
            "UPDATE transactions SET amount_minor = amount_minor + 1 WHERE id = {}",
            ids[10]
        ));
        assert_eq!(
            problem(&t).await.as_deref(),
            Some(
                format!(
                    "transaction {}: the row differs from the journal (changed outside LedgerFlow)",
                    ids[10]
                )
                .as_str()
            )
        );
    })
    .await;
}

/// Runs `sql` behind LedgerFlow's back on a store with history; what verify then says.
async fn problem_after(t: &TestStore, sql: &str) -> Option<String> {
    with_history(t).await;
    t.raw_sql(sql);
    problem(t).await
}

/// On each engine, `sql` run behind LedgerFlow's back on a store with history makes verify say
/// exactly `want`.
async fn assert_reported(sql: &str, want: &str) {
    on_each_engine(|t| async move {
        assert_eq!(problem_after(&t, sql).await.as_deref(), Some(want), "{sql}");
    })
    .await;
}

#[tokio::test]
async fn direct_inserts_deletes_and_account_edits_are_reported() {
    on_each_engine(|t| async move {
        let ids = with_history(&t).await;
        t.raw_sql(&format!("DELETE FROM transactions WHERE id = {}", ids[7]));
        let p = problem(&t).await.expect("problem");
        assert!(
            p.contains(&format!("transaction {}", ids[7])) && p.contains("missing"),
            "{p}"
        );
    })
    .await;
    assert_reported(
        "UPDATE accounts SET name = 'Hacked'",
        "account 1: the row differs from the journal (changed outside LedgerFlow)",
    )
    .await;
    on_each_engine(|t| async move {
        let blob = if t.engine == Engine::Sqlite { "x'00112233445566778899aabbccddeeff'" } else { "'\\x00112233445566778899aabbccddeeff'::bytea" };
        let sql = format!(
            "INSERT INTO transactions (id, account_id, posted_date, amount_minor, currency, status, source, fingerprint, created_at, updated_at) \
             VALUES (9000, 1, '2024-05-01', -5, 'USD', 'cleared', 'manual', {blob}, '2024-05-01T00:00:00Z', '2024-05-01T00:00:00Z')"
        );
        assert_eq!(
            problem_after(&t, &sql).await.as_deref(),
            Some("transaction 9000: the row exists but the journal never created it (inserted outside LedgerFlow)")
        );
    })
    .await;
}

#[tokio::test]
async fn direct_edits_of_the_store_facts_are_reported() {
    for sql in [
        "UPDATE meta SET value = 'prod' WHERE key = 'environment'",
        "UPDATE meta SET value = 'true' WHERE key = 'protected'",
        "UPDATE meta SET value = '00000000-0000-0000-0000-000000000000' WHERE key = 'lineage_id'",
    ] {
        assert_reported(
            sql,
            "store 1: the row differs from the journal (changed outside LedgerFlow)",
        )
        .await;
    }
}

#[tokio::test]
async fn edits_to_the_journal_itself_break_the_chain() {
    assert_reported(
        "UPDATE journal SET actor = 'someone-else' WHERE seq = 3",
        "journal entry 3: its hash does not match its contents (the entry was altered)",
    )
    .await;
    on_each_engine(|t| async move {
        let p = problem_after(&t, "DELETE FROM journal WHERE seq = 4")
            .await
            .expect("problem");
        assert!(
            p.starts_with("journal entry 5: expected sequence number 4"),
            "{p}"
        );
    })
    .await;
    on_each_engine(|t| async move {
        let p = problem_after(&t, "DELETE FROM journal WHERE seq = 7")
            .await
            .expect("problem");
        assert!(p.contains("entries were removed"), "{p}");
    })
    .await;
}

#[tokio::test]
async fn an_edit_after_tampering_still_reveals_the_tampering() {
    on_each_engine(|t| async move {
        let ids = with_history(&t).await;
        t.raw_sql(&format!(
            "UPDATE transactions SET payee = 'evil' WHERE id = {}",
            ids[0]
        ));
        // LedgerFlow then edits the tampered row: the before-image disagrees with the journal
        edit(t.store.as_ref(), ids[0], |p| p.memo = Some("note".into())).await;
        let p = problem(&t).await.expect("problem");
        assert!(
            p.contains(&format!("transaction {}", ids[0]))
                && p.contains("not what the journal built"),
            "{p}"
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_keep_one_unbroken_chain() {
    on_each_engine(|t| async move {
        let chk = account(t.store.as_ref(), "Checking").await;
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = t.store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    s.insert_transactions(
                        &actor(),
                        vec![new_tx(chk.id, "2024-01-01", -(w * 100 + i), "c")],
                    )
                    .await
                    .expect("insert");
                }
            }));
        }
        for task in tasks {
            task.await.expect("join");
        }
        let r = verify_journal(t.store.as_ref()).await.expect("verify");
        assert!(r.ok, "{:?}", r.problem);
        assert_eq!(r.entries, 2 + 80);
        assert_eq!(t.store.counts().await.expect("counts").transactions, 80);
    })
    .await;
}
