//! Accounts, categories, transactions and users behave the same on both engines.

use std::collections::HashSet;

use ledgerflow_core::StoreError;
use ledgerflow_core::model::*;

use crate::*;

#[tokio::test]
async fn accounts_are_unique_editable_and_archivable() {
    on_each_store(async |s| {
        let a = account(s, "Checking").await;
        assert_eq!(a.opening_balance_minor, 10_000);
        let err = s
            .create_account(
                &actor(),
                &NewAccount {
                    kind: AccountKind::Savings,
                    ..new_account("Checking")
                },
            )
            .await
            .expect_err("duplicate name");
        assert_eq!(
            err.to_string(),
            "an account named \"Checking\" already exists"
        );

        // Account `id` patched with what `change` sets.
        let patch = async |id: i64, change: fn(&mut AccountPatch)| {
            let mut p = AccountPatch::default();
            change(&mut p);
            s.update_account(&actor(), id, &p).await
        };
        let b = account(s, "Visa").await;
        let renamed = patch(b.id, |p| {
            p.name = Some("Visa Signature".into());
            p.kind = Some(AccountKind::CreditCard);
        })
        .await
        .expect("update");
        assert_eq!(renamed.name, "Visa Signature");
        assert_eq!(s.get_account(b.id).await.expect("get"), renamed);
        let err = patch(b.id, |p| p.name = Some("Checking".into()))
            .await
            .expect_err("rename onto an existing name");
        assert!(matches!(err, StoreError::Conflict(_)));
        assert_eq!(
            s.get_account(b.id).await.expect("get").name,
            "Visa Signature"
        );

        patch(a.id, |p| p.archived = Some(true))
            .await
            .expect("archive");
        let active: Vec<String> = s
            .list_accounts(false)
            .await
            .expect("list")
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(active, vec!["Visa Signature"]);
        assert_eq!(s.list_accounts(true).await.expect("list").len(), 2);
        assert!(matches!(
            s.update_account(&actor(), 999, &AccountPatch::default())
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.find_account("Nope").await.expect("find"), None);
    })
    .await;
}

#[tokio::test]
async fn categories_form_a_tree_with_unique_sibling_names() {
    on_each_store(async |s| {
        // Creates expense category `name` under `parent`.
        let add = async |name: &str, parent: Option<i64>| {
            let new = NewCategory {
                parent_id: parent,
                ..new_category(name)
            };
            s.create_category(&actor(), &new).await
        };
        let food = add("Food", None).await.expect("food");
        let groc = add("Groceries", Some(food.id)).await.expect("groceries");
        let travel = add("Travel", None).await.expect("travel");
        // the same name under another parent is fine; twice under one parent is not
        add("Groceries", Some(travel.id))
            .await
            .expect("same name elsewhere");
        let err = add("groceries", Some(food.id))
            .await
            .expect_err("sibling duplicate");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        let err = add("x", Some(12345)).await.expect_err("unknown parent");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");

        let moved = s
            .update_category(
                &actor(),
                groc.id,
                &CategoryPatch {
                    name: Some("Supermarket".into()),
                    parent_id: Some(None),
                    ..Default::default()
                },
            )
            .await
            .expect("rename and move to top");
        assert_eq!(moved.parent_id, None);
        let all = s.list_categories().await.expect("list");
        let paths: Vec<String> = ledgerflow_core::service::category_paths(&all)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(
            paths,
            vec!["Food", "Supermarket", "Travel", "Travel:Groceries"]
        );
    })
    .await;
}

#[tokio::test]
async fn transactions_insert_list_filter_edit_delete() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        let visa = account(s, "Visa").await;
        let food = s
            .create_category(&actor(), &new_category("Food"))
            .await
            .expect("category");
        let mut rows = vec![
            new_tx(chk.id, "2024-01-05", -450, "Blue Bottle Coffee"),
            new_tx(chk.id, "2024-01-05", -450, "Blue Bottle Coffee"),
            new_tx(chk.id, "2024-01-31", 250_000, "ACME PAYROLL"),
            new_tx(visa.id, "2024-02-10", -12_999, "Hardware 50% off_sale"),
        ];
        rows[0].category_id = Some(food.id);
        rows[3].memo = "drill".into();
        let ids = s.insert_transactions(&actor(), rows).await.expect("insert");
        assert_eq!(ids.len(), 4);
        assert_eq!(s.counts().await.expect("counts").transactions, 4);

        // identical rows are both kept and share a fingerprint
        let a = s.get_transaction(ids[0]).await.expect("get");
        let b = s.get_transaction(ids[1]).await.expect("get");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.id, b.id);
        assert_eq!(a.amount_minor, -450);

        // Each filter (with a page of 50), and the ids it lists.
        let cases = [
            (
                page(|_| ()),
                vec![ids[3], ids[2], ids[1], ids[0]],
                "newest first, ties by id descending",
            ),
            (
                page(|f| f.account_id = Some(visa.id)),
                vec![ids[3]],
                "one account",
            ),
            (
                page(|f| f.text = Some("coffee".into())),
                vec![ids[1], ids[0]],
                "text search is case-insensitive",
            ),
            (
                page(|f| f.text = Some("50%".into())),
                vec![ids[3]],
                "LIKE wildcards in the search text are literal",
            ),
            (
                page(|f| f.text = Some("DRILL".into())),
                vec![ids[3]],
                "memo is searched",
            ),
            (
                page(|f| f.category_ids = vec![food.id]),
                vec![ids[0]],
                "one category",
            ),
            (
                page(|f| (f.from, f.to) = (Some(date("2024-01-06")), Some(date("2024-01-31")))),
                vec![ids[2]],
                "a date range",
            ),
            (
                page(|f| (f.min_amount_minor, f.max_amount_minor) = (Some(-1_000), Some(0))),
                vec![ids[1], ids[0]],
                "an amount range",
            ),
            (
                page(|f| (f.uncategorized, f.account_id) = (true, Some(chk.id))),
                vec![ids[2], ids[1]],
                "uncategorized in one account",
            ),
        ];
        for (f, want, what) in cases {
            let got: Vec<i64> = s
                .list_transactions(&f)
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(got, want, "{what}: {f:?}");
        }

        let edited = edit(s, ids[1], |p| {
            p.amount_minor = Some(-475);
            p.category_id = Some(Some(food.id));
            p.status = Some(TxStatus::Reconciled);
        })
        .await;
        assert_eq!(edited.amount_minor, -475);
        assert_ne!(
            edited.fingerprint, a.fingerprint,
            "fingerprint follows the amount"
        );
        assert_eq!(s.get_transaction(ids[1]).await.expect("get"), edited);

        let sums = s.account_sums().await.expect("sums");
        assert_eq!(
            sums,
            vec![(chk.id, -450 - 475 + 250_000), (visa.id, -12_999)]
        );

        let gone = s
            .delete_transaction(&actor(), ids[0])
            .await
            .expect("delete");
        assert_eq!(gone.id, ids[0]);
        assert!(matches!(
            s.get_transaction(ids[0]).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.delete_transaction(&actor(), ids[0]).await,
            Err(StoreError::NotFound(_))
        ));
        // a fresh insert never reuses a deleted id
        let new_ids = s
            .insert_transactions(
                &actor(),
                vec![
                    new_tx(chk.id, "2024-03-01", -1, "x"),
                    new_tx(chk.id, "2024-03-01", -2, "y"),
                ],
            )
            .await
            .expect("insert");
        assert!(new_ids.iter().all(|i| *i > ids[3]));

        // a row pointing at a missing account is refused and nothing of the batch lands
        let before = s.counts().await.expect("counts").transactions;
        let err = s
            .insert_transactions(
                &actor(),
                vec![
                    new_tx(chk.id, "2024-03-02", -1, "ok"),
                    new_tx(9999, "2024-03-02", -1, "bad"),
                ],
            )
            .await
            .expect_err("bad account");
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert_eq!(
            s.counts().await.expect("counts").transactions,
            before,
            "batch is atomic"
        );
    })
    .await;
}

#[tokio::test]
async fn keyset_pagination_visits_every_row_once() {
    on_each_store(async |s| {
        let chk = account(s, "Checking").await;
        // 2,500 rows over 50 days, many per day, inserted in two bulk batches
        let rows: Vec<NewTransaction> = (0..2_500)
            .map(|i| {
                let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("d")
                    + chrono::Days::new((i % 50) as u64);
                new_tx(chk.id, &d.to_string(), -(i as i64), &format!("row {i}"))
            })
            .collect();
        let (a, b) = rows.split_at(1_300);
        s.insert_transactions(&actor(), a.to_vec())
            .await
            .expect("bulk 1");
        s.insert_transactions(&actor(), b.to_vec())
            .await
            .expect("bulk 2");

        let mut seen = HashSet::new();
        let mut last: Option<(chrono::NaiveDate, i64)> = None;
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = s
                .list_transactions(&TxFilter {
                    account_id: Some(chk.id),
                    after: cursor,
                    limit: 333,
                    ..Default::default()
                })
                .await
                .expect("page");
            pages += 1;
            for t in &page.items {
                assert!(seen.insert(t.id), "row {} seen twice", t.id);
                if let Some(prev) = last {
                    assert!((t.posted_date, t.id) < prev, "order is strictly descending");
                }
                last = Some((t.posted_date, t.id));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 2_500);
        assert_eq!(pages, 8);
    })
    .await;
}

#[tokio::test]
async fn users_have_roles_and_can_be_disabled() {
    on_each_store(async |s| {
        let hash = ledgerflow_core::password::hash_password("a long passphrase").expect("hash");
        let u = s
            .create_user(
                &actor(),
                &NewUser {
                    name: "alice".into(),
                    role: Role::Admin,
                    password_hash: Some(hash.clone()),
                },
            )
            .await
            .expect("user");
        assert!(matches!(
            s.create_user(
                &actor(),
                &NewUser {
                    name: "alice".into(),
                    role: Role::Viewer,
                    password_hash: None
                }
            )
            .await,
            Err(StoreError::Conflict(_))
        ));
        let u2 = s
            .update_user(
                &actor(),
                u.id,
                &UserPatch {
                    role: Some(Role::Viewer),
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("update");
        assert_eq!(u2.role, Role::Viewer);
        assert!(u2.disabled);
        let found = s.find_user("alice").await.expect("find").expect("exists");
        assert_eq!(found, u2);
        assert!(ledgerflow_core::password::verify_password(
            "a long passphrase",
            found.password_hash.as_deref().expect("hash")
        ));
        assert_eq!(s.counts().await.expect("counts").users, 1);
    })
    .await;
}

/// A page of 50 transactions, narrowed by `narrow`.
fn page(narrow: impl FnOnce(&mut TxFilter)) -> TxFilter {
    let mut f = TxFilter {
        limit: 50,
        ..Default::default()
    };
    narrow(&mut f);
    f
}
