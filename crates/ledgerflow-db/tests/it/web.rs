//! What the web app needs from a store, the same on both engines: indexed text search (both
//! of SQLite's plans give the brute-force answer), every sort with keyset pages that neither
//! repeat nor skip a row, and credentials stored by hash.

use std::collections::HashSet;

use chrono::Utc;
use ledgerflow_core::model::*;

use crate::*;

/// Every page of a filter, followed by cursor.
async fn all_pages(s: &dyn ledgerflow_core::Store, mut f: TxFilter) -> Vec<Transaction> {
    let mut out = Vec::new();
    loop {
        let page = s.list_transactions(&f).await.expect("list");
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => f.after = Some(c),
            None => return out,
        }
    }
}

/// Accents folded, as both indexes do (for the letters these tests use).
fn fold(w: &str) -> String {
    w.replace(['é', 'è'], "e")
}

/// What a search must find: each word is a word of payee, description or memo (or begins
/// one, when typed `word*`).
fn matches(t: &Transaction, text: &str) -> bool {
    let words: Vec<String> = [&t.payee, &t.description, &t.memo]
        .iter()
        .flat_map(|s| search_words(s))
        .map(|w| fold(&w))
        .collect();
    search_terms(text).iter().all(|q| {
        let q_word = fold(&q.word);
        words
            .iter()
            .any(|w| *w == q_word || (q.prefix && w.starts_with(q_word.as_str())))
    })
}

#[tokio::test]
async fn search_finds_words_and_prefixes_through_the_index_and_agrees_with_a_scan() {
    on_each_engine(|t| async move {
        let s = t.store.as_ref();
        let chk = account(s, "Checking").await;
        // 2,600 common rows (more than SQLite reads through the index and sorts), and a few
        // rare ones.
        let mut rows: Vec<NewTransaction> = (0..2_600)
            .map(|i| {
                let mut r = new_tx(
                    chk.id,
                    &format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                    -(100 + i as i64),
                    if i % 2 == 0 {
                        "AMAZON.COM*MK1234"
                    } else {
                        "Amazon Marketplace"
                    },
                );
                r.description = format!("order {i}");
                r
            })
            .collect();
        let mut cafe = new_tx(chk.id, "2024-03-03", -450, "Café Crème");
        cafe.memo = "with Bob_Smith".into();
        rows.push(cafe);
        rows.push(new_tx(chk.id, "2024-03-04", -999, "Hardware 50% off_sale"));
        rows.push(new_tx(chk.id, "2024-03-05", -1500, "ÉCOLE PRIMAIRE"));
        let ids = s.insert_transactions(&actor(), rows).await.expect("insert");
        let everything = all_pages(
            s,
            TxFilter {
                limit: 1000,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(everything.len(), ids.len());
        for q in [
            "amazon", // common: read newest first from the index, a page at a time
            "AMAZ",   // not a word of any row
            "AMAZ*",  // a prefix, any case
            "mark* amaz*",
            "com mk1234", // several words: all must match (punctuation splits words)
            "cafe",       // accents do not matter
            "crème",
            "ecole", // accents folded in upper case too
            "École",
            "bob", // memo, split at '_'
            "smith",
            "50%",      // '%' is not a wildcard
            "order 17", // description; "17" matches 17, 170..179, 1700..
            "zebra",    // nothing
        ] {
            let expected: Vec<i64> = everything
                .iter()
                .filter(|t| matches(t, q))
                .map(|t| t.id)
                .collect();
            let found: Vec<i64> = all_pages(
                s,
                TxFilter {
                    text: Some(q.into()),
                    limit: 500,
                    ..Default::default()
                },
            )
            .await
            .into_iter()
            .map(|t| t.id)
            .collect();
            assert_eq!(found, expected, "search {q:?} on {}", t.engine);
        }
        assert_eq!(
            everything.iter().filter(|t| matches(t, "amazon")).count(),
            2_600
        );
        assert_eq!(everything.iter().filter(|t| matches(t, "cafe")).count(), 1);
        // Edits and deletions reach the index.
        let cafe_id = everything
            .iter()
            .find(|t| t.payee == "Café Crème")
            .map(|t| t.id)
            .expect("cafe");
        edit(s, cafe_id, |p| p.payee = Some("Blue Bottle".into())).await;
        let find = |q: &'static str| async move {
            s.list_transactions(&TxFilter {
                text: Some(q.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("search")
            .items
            .into_iter()
            .map(|t| t.id)
            .collect::<Vec<_>>()
        };
        assert!(find("cafe").await.is_empty(), "the old payee is gone");
        assert_eq!(find("bottle").await, vec![cafe_id]);
        s.delete_transaction(&actor(), cafe_id)
            .await
            .expect("delete");
        assert!(find("bottle").await.is_empty());
        // A search combines with the other filters.
        let march_amazon = all_pages(
            s,
            TxFilter {
                text: Some("amazon".into()),
                from: Some(date("2024-03-01")),
                to: Some(date("2024-03-31")),
                limit: 100,
                ..Default::default()
            },
        )
        .await;
        assert!(!march_amazon.is_empty());
        assert!(
            march_amazon
                .iter()
                .all(|t| t.posted_date.format("%m").to_string() == "03")
        );
    })
    .await;
}

#[tokio::test]
async fn every_sort_pages_through_all_rows_once_in_order() {
    on_each_engine(|t| async move {
        let s = t.store.as_ref();
        let chk = account(s, "Checking").await;
        // Many ties on date and on amount, so the id breaks them.
        let rows: Vec<NewTransaction> = (0..257)
            .map(|i| {
                new_tx(
                    chk.id,
                    &format!("2024-01-{:02}", 1 + i % 5),
                    (i as i64 % 7) * 100 - 300,
                    "Row",
                )
            })
            .collect();
        s.insert_transactions(&actor(), rows).await.expect("insert");
        // With a search too: SQLite reads date orders from the text index itself.
        for (sort, text) in TxSort::ALL
            .iter()
            .flat_map(|s| [(s, None), (s, Some("row".to_string()))])
        {
            let got = all_pages(
                s,
                TxFilter {
                    sort: *sort,
                    text,
                    limit: 10,
                    ..Default::default()
                },
            )
            .await;
            assert_eq!(got.len(), 257, "{sort}");
            let unique: HashSet<i64> = got.iter().map(|t| t.id).collect();
            assert_eq!(unique.len(), 257, "{sort}: a row repeated");
            let key = |t: &Transaction| match sort {
                TxSort::DateDesc | TxSort::DateAsc => (t.posted_date.to_string(), 0, t.id),
                TxSort::AmountDesc | TxSort::AmountAsc => (String::new(), t.amount_minor, t.id),
            };
            let mut sorted = got.clone();
            sorted.sort_by_key(key);
            if matches!(sort, TxSort::DateDesc | TxSort::AmountDesc) {
                sorted.reverse();
            }
            assert_eq!(
                got.iter().map(|t| t.id).collect::<Vec<_>>(),
                sorted.iter().map(|t| t.id).collect::<Vec<_>>(),
                "{sort} on {}",
                t.engine
            );
        }
    })
    .await;
}

#[tokio::test]
async fn credentials_are_found_by_hash_and_revoked() {
    on_each_engine(|t| async move {
        let s = t.store.as_ref();
        let u = s
            .create_user(
                &actor(),
                &NewUser {
                    name: "ann".into(),
                    role: Role::Editor,
                    password_hash: None,
                },
            )
            .await
            .expect("user");
        let hash = |b: u8| [b; 32];
        let token = s
            .create_credential(
                &actor(),
                &NewCredential {
                    kind: CredentialKind::Token,
                    user_id: u.id,
                    name: "script".into(),
                    secret_sha256: hash(1),
                    expires_at: None,
                },
            )
            .await
            .expect("token");
        let expired = s
            .create_credential(
                &actor(),
                &NewCredential {
                    kind: CredentialKind::Session,
                    user_id: u.id,
                    name: String::new(),
                    secret_sha256: hash(2),
                    expires_at: Some(Utc::now() - chrono::Duration::minutes(1)),
                },
            )
            .await
            .expect("session");
        let (found, user) = s
            .find_credential(&hash(1))
            .await
            .expect("find")
            .expect("present");
        assert_eq!(found, token);
        assert_eq!(user.name, "ann");
        assert!(found.is_live(Utc::now()));
        assert!(s.find_credential(&hash(9)).await.expect("find").is_none());
        let (old, _) = s
            .find_credential(&hash(2))
            .await
            .expect("find")
            .expect("present");
        assert_eq!(old.id, expired.id);
        assert!(!old.is_live(Utc::now()), "expired");
        // A new session clears expired ones.
        s.create_credential(
            &actor(),
            &NewCredential {
                kind: CredentialKind::Session,
                user_id: u.id,
                name: String::new(),
                secret_sha256: hash(3),
                expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            },
        )
        .await
        .expect("session");
        assert!(s.find_credential(&hash(2)).await.expect("find").is_none());
        // Same secret twice is refused.
        assert!(
            s.create_credential(
                &actor(),
                &NewCredential {
                    kind: CredentialKind::Token,
                    user_id: u.id,
                    name: "dup".into(),
                    secret_sha256: hash(1),
                    expires_at: None,
                }
            )
            .await
            .is_err()
        );
        s.touch_credential(token.id).await.expect("touch");
        let listed = s
            .list_credentials(CredentialKind::Token, Some(u.id))
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some());
        assert_eq!(
            s.revoke_credentials(&actor(), Some(token.id), None, None)
                .await
                .expect("revoke"),
            1
        );
        assert_eq!(
            s.revoke_credentials(&actor(), Some(token.id), None, None)
                .await
                .expect("again"),
            0,
            "already revoked"
        );
        let (revoked, _) = s
            .find_credential(&hash(1))
            .await
            .expect("find")
            .expect("kept");
        assert!(!revoked.is_live(Utc::now()));
        // Revoking a user's sessions leaves nothing live.
        assert_eq!(
            s.revoke_credentials(&actor(), None, Some(u.id), Some(CredentialKind::Session))
                .await
                .expect("revoke all"),
            1
        );
        // The database keeps only hashes.
        let stored = t.raw_sql("SELECT count(*) FROM credentials");
        assert_eq!(stored, "2");
    })
    .await;
}

/// A PostgreSQL database created as SQL_ASCII (what `initdb` makes with the C locale) counts
/// every byte as a character: the search words of accented text are still folded as the
/// query's are, so a word typed as stored is found.
#[tokio::test]
async fn search_finds_accented_words_in_a_sql_ascii_postgresql_database() {
    let Some(server) = ledgerflow_test_support::postgres_or_skip("sql_ascii search") else {
        return;
    };
    let name = format!("lf_ascii_{}", uuid::Uuid::new_v4().simple());
    let status = server
        .psql("postgres")
        .arg("-c")
        .arg(format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ))
        .status()
        .expect("psql");
    assert!(status.success());
    let t = TestStore::create(
        ledgerflow_db::Location::Postgres(server.url(&name)),
        Engine::Postgres,
        None,
    )
    .await;
    let store = t.store.clone();
    store
        .initialize(&actor(), Environment::Dev)
        .await
        .expect("init");
    let chk = account(store.as_ref(), "Checking").await;
    let ids = store
        .insert_transactions(
            &actor(),
            vec![
                new_tx(chk.id, "2024-01-02", -1234, "Café Crème Zürich"),
                new_tx(chk.id, "2024-01-03", -234, "plain words only"),
            ],
        )
        .await
        .expect("insert");
    for word in ["café", "Café", "crème", "zürich"] {
        let found: Vec<i64> = store
            .list_transactions(&TxFilter {
                text: Some(word.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("search")
            .items
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(found, vec![ids[0]], "search {word:?}");
    }
    store.close().await;
}
