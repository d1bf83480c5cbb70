//! The JSON API end to end, the same scenario on both engines.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::*;

#[tokio::test]
async fn a_ledger_is_built_searched_categorized_and_undone_through_the_api() {
    for app in TestApp::both().await {
        eprintln!("-- engine: {}", app.engine);
        let (ed, vera) = (&app.editor, &app.viewer);
        let acct = app.with_rows(0).await;
        // Categories: a tree.
        let food = app
            .post_json(
                "/api/v1/categories",
                ed,
                json!({"name": "Food", "kind": "expense"}),
            )
            .await;
        assert_eq!(food.status, StatusCode::CREATED, "{}", food.body);
        let food_id = food.json()["id"].as_i64().expect("id");
        let groceries = app
            .post_json(
                "/api/v1/categories",
                ed,
                json!({"name": "Groceries", "parent": "Food"}),
            )
            .await;
        assert_eq!(groceries.json()["path"], "Food:Groceries");
        let groceries_id = groceries.json()["id"].as_i64().expect("id");

        // An import: the dry run decides and writes nothing; the real one writes exactly that.
        let csv = wf_csv(0, 300);
        let dry = app
            .send(
                Method::POST,
                &format!("/api/v1/imports?account={acct}&file_name=wf.csv&dry_run=true"),
                ed,
                Some("text/csv"),
                csv.clone(),
                &[],
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
        let new_rows = dry.json()["new"].as_u64().expect("new");
        assert!(new_rows > 250, "{}", dry.body);
        assert_eq!(
            dry.json()["decisions"].as_array().expect("decisions").len(),
            300
        );
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        let real = app
            .send(
                Method::POST,
                "/api/v1/imports?account=Checking&file_name=wf.csv",
                ed,
                Some("text/csv"),
                csv.clone(),
                &[],
            )
            .await;
        assert_eq!(real.status, StatusCode::CREATED, "{}", real.body);
        assert_eq!(real.json()["new"].as_u64(), Some(new_rows));
        let batch = real.json()["batch_id"].as_i64().expect("batch");
        // The same file again is a no-op that names the batch.
        let again = app
            .send(
                Method::POST,
                &format!("/api/v1/imports?account={acct}&file_name=wf.csv"),
                ed,
                Some("text/csv"),
                csv,
                &[],
            )
            .await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json()["already_imported"].as_i64(), Some(batch));
        // A file that is not a bank file: a clear 422, nothing written.
        let bad = app
            .send(
                Method::POST,
                &format!("/api/v1/imports?account={acct}&file_name=notes.txt"),
                ed,
                Some("text/plain"),
                b"hello, this is not a statement\n".to_vec(),
                &[],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(!bad.error().is_empty());
        assert_eq!(
            app.store().counts().await.expect("counts").transactions,
            new_rows as i64
        );

        // The list: pages of 50 by cursor visit every row once.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = String::new();
        loop {
            let page = app
                .get(
                    &format!("/api/v1/transactions?limit=50&cursor={cursor}"),
                    vera,
                )
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let v = page.json();
            for t in v["items"].as_array().expect("items") {
                assert!(seen.insert(t["id"].as_i64().expect("id")));
            }
            match v["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => break,
            }
        }
        assert_eq!(seen.len() as u64, new_rows);

        // A search (indexed), with filters.
        let hits = app
            .get("/api/v1/transactions?q=safeway&limit=1000", vera)
            .await
            .json();
        let items = hits["items"].as_array().expect("items").clone();
        assert!(!items.is_empty());
        assert!(items.iter().all(|t| {
            t["payee"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains("safeway")
                || t["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains("safeway")
        }));
        let first = items[0]["id"].as_i64().expect("id");
        let bad_filter = app.get("/api/v1/transactions?from=2024-13-01", vera).await;
        assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
        assert!(bad_filter.error().contains("not a valid date"));

        // Categorize one, then the history shows who changed what.
        let r = app
            .patch_json(
                &format!("/api/v1/transactions/{first}"),
                ed,
                json!({"category": "Food:Groceries"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["category"], "Food:Groceries");
        let history = app
            .get(&format!("/api/v1/transactions/{first}/history"), vera)
            .await
            .json();
        let changes = history.as_array().expect("history");
        assert_eq!(changes[0]["op"], "insert");
        let last = changes.last().expect("change");
        assert_eq!(last["actor"], "token:ed/test");
        assert!(
            last["fields"].as_array().expect("fields").iter().any(|f| f
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("category_id: — → {groceries_id}"))),
            "{last}"
        );
        // Bulk: every search hit into Food; the category filter (with subcategories) finds them.
        let ids: Vec<i64> = items.iter().filter_map(|t| t["id"].as_i64()).collect();
        let r = app
            .post_json(
                "/api/v1/transactions/categorize",
                ed,
                json!({"ids": ids, "category": food_id}),
            )
            .await;
        assert_eq!(r.json()["changed"].as_u64(), Some(ids.len() as u64));
        let in_food = app
            .get(
                &format!("/api/v1/transactions?category={food_id}&limit=1000"),
                vera,
            )
            .await
            .json();
        assert_eq!(in_food["items"].as_array().expect("items").len(), ids.len());

        // Create, edit with exact money, delete.
        let made = app
            .post_json(
                "/api/v1/transactions",
                ed,
                json!({"account": acct, "date": "2024-05-01", "amount": "-0.10", "payee": "Tiny"}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let tiny = made.json()["id"].as_i64().expect("id");
        assert_eq!(made.json()["amount_minor"], -10);
        let r = app
            .patch_json(
                &format!("/api/v1/transactions/{tiny}"),
                ed,
                json!({"amount": "-0.20", "category": null}),
            )
            .await;
        assert_eq!(r.json()["amount"], "-0.20");
        let r = app
            .patch_json(
                &format!("/api/v1/transactions/{tiny}"),
                ed,
                json!({"amount": "1.005"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "three decimals in USD: {}",
            r.body
        );
        // A misspelt field is an error, not a silent no-op that looks like success.
        let r = app
            .patch_json(
                &format!("/api/v1/transactions/{tiny}"),
                ed,
                json!({"amout": "-5"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("amout"), "{}", r.body);
        let r = app
            .send(
                Method::DELETE,
                &format!("/api/v1/transactions/{tiny}"),
                ed,
                None,
                Vec::new(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&format!("/api/v1/transactions/{tiny}"), vera)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        // A malformed body names the problem.
        let r = app
            .send(
                Method::POST,
                "/api/v1/transactions",
                ed,
                Some("application/json"),
                b"{".to_vec(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error().contains("JSON"));

        // Balances.
        let accounts = app.get("/api/v1/accounts", vera).await.json();
        let sum: i64 = app
            .store()
            .account_sums()
            .await
            .expect("sums")
            .iter()
            .map(|(_, s)| s)
            .sum();
        assert_eq!(accounts[0]["balance_minor"].as_i64(), Some(sum));

        // Undo the import: its rows are gone, the journal verifies.
        let r = app
            .send(
                Method::DELETE,
                &format!("/api/v1/imports/{batch}"),
                ed,
                None,
                Vec::new(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["removed"].as_u64(), Some(new_rows));
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        let report = ledgerflow_core::service::verify_journal(app.store())
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problem);

        // Backups: an admin takes one, verified by a restore; the status lists it.
        let r = app
            .send(
                Method::POST,
                "/api/v1/backups",
                &app.admin,
                None,
                Vec::new(),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.json()["verified"], true);
        let status = app.get("/api/v1/backups", &app.admin).await.json();
        assert_eq!(status["backups"].as_array().expect("list").len(), 1);
        assert_eq!(status["health"]["stale"], false);
    }
}

/// Every operation in the OpenAPI document is served (not 404/405), and every route the router
/// registers outside the pages is in the document.
#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(20).await;
    let tx = app.first_tx("").await;
    let doc = app.get("/api/v1/openapi.json", &As::Nobody).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("ops") {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(
                m,
                Method::GET | Method::POST | Method::PATCH | Method::DELETE
            ) {
                continue;
            }
            documented.push(format!("{m} {path}"));
            // Deletions go to a row that does not exist (404 is an answer; 405 is not).
            let concrete = if m == Method::DELETE {
                path.replace("{id}", "999999")
            } else {
                path.clone()
            };
            let concrete = concrete
                .replace("/accounts/{id}", &format!("/accounts/{acct}"))
                .replace("/transactions/{id}", &format!("/transactions/{tx}"))
                .replace("{id}", "999999");
            // The role the document names is the one the server enforces.
            let role = op["x-required-role"].as_str();
            let who = match role {
                Some("viewer") => &app.viewer,
                Some("editor") => &app.editor,
                Some("admin") => &app.admin,
                _ => &As::Nobody,
            };
            let r = app
                .send(
                    m.clone(),
                    &concrete,
                    who,
                    Some("application/json"),
                    b"{}".to_vec(),
                    &[],
                )
                .await;
            assert!(
                r.status != StatusCode::METHOD_NOT_ALLOWED
                    && (r.status != StatusCode::NOT_FOUND || concrete.contains("999999")),
                "{m} {concrete}: {} {}",
                r.status,
                r.body
            );
            assert!(
                r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                "{m} {concrete} as {role:?}: {} {}",
                r.status,
                r.body
            );
            if let Some(lower) = match role {
                Some("editor") => Some(&app.viewer),
                Some("admin") => Some(&app.editor),
                _ => None,
            } {
                let r = app
                    .send(
                        m.clone(),
                        &concrete,
                        lower,
                        Some("application/json"),
                        b"{}".to_vec(),
                        &[],
                    )
                    .await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{m} {concrete} below {role:?}"
                );
            }
        }
    }
    // Every route the router serves outside the pages, read from its own route table: a new
    // route that is not documented fails here.
    let routes = ledgerflow_web::route_list();
    assert!(routes.len() >= 24, "{routes:?}");
    for route in &routes {
        assert!(
            documented.iter().any(|d| d == route),
            "{route} is not documented"
        );
    }
}
