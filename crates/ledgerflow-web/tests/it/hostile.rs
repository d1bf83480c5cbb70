//! Hostile parameters and the correctness bugs a new user found (issue 12): bulk edits that
//! half-happen, a category name that makes a path ambiguous, open redirects, notices taken
//! from the URL, currencies added together, a preview that hid the rows that matter.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::*;

#[tokio::test]
async fn w1_bulk_categorize_with_one_unknown_id_changes_nothing() {
    for app in TestApp::both().await {
        app.with_rows(5).await;
        let r = app
            .post_json("/api/v1/categories", &app.editor, json!({"name": "Food"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let a = app.first_tx("").await;
        let b = app.first_tx("q=2").await;
        let r = app
            .post_json(
                "/api/v1/transactions/categorize",
                &app.editor,
                json!({"ids": [a, b, 999_999_999], "category": "Food"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        for id in [a, b] {
            let t = app.store().get_transaction(id).await.expect("tx");
            assert_eq!(
                t.category_id, None,
                "{}: {id} was recategorised",
                app.engine
            );
        }
        // All known: all change, in one go.
        let r = app
            .post_json(
                "/api/v1/transactions/categorize",
                &app.editor,
                json!({"ids": [a, b, a], "category": "Food"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.json()["changed"], 2);
        let report = ledgerflow_core::service::verify_journal(app.store())
            .await
            .expect("verify");
        assert!(report.ok, "{:?}", report.problem);
    }
}

#[tokio::test]
async fn b6_renaming_a_category_refuses_the_path_separator_on_every_face() {
    let app = TestApp::sqlite().await;
    for name in ["Bills", "Rent"] {
        let r = app
            .post_json("/api/v1/categories", &app.editor, json!({"name": name}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let rent = app
        .store()
        .list_categories()
        .await
        .expect("list")
        .into_iter()
        .find(|c| c.name == "Rent")
        .expect("rent");
    for bad in ["Bills:Rent", "none", ":"] {
        let r = app
            .patch_json(
                &format!("/api/v1/categories/{}", rent.id),
                &app.editor,
                json!({"name": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    // A parent that does not exist is not found, not a name conflict.
    let r = app
        .patch_json(
            &format!("/api/v1/categories/{}", rent.id),
            &app.editor,
            json!({"parent_id": 999_999}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.body.contains("999999"), "{}", r.body);
    let r = app
        .post_json("/api/v1/categories", &app.editor, json!({"name": "none"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let names: Vec<String> = app
        .store()
        .list_categories()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(names.iter().all(|n| !n.contains(':')), "{names:?}");
}

/// Signs in with `next` and returns where the server sends the browser (and its status).
async fn sign_in_to(app: &TestApp, next: &str) -> (StatusCode, String) {
    let login = app.login_cookie().await;
    let fields = [
        ("csrf", login.as_str()),
        ("name", "ed"),
        ("password", PASSWORD),
        ("next", next),
    ];
    let r = app.post_login(&fields, Some(&login)).await;
    (r.status, r.location())
}

#[tokio::test]
async fn w11_after_sign_in_only_a_local_path_is_followed() {
    let app = TestApp::sqlite().await;
    for (next, want) in [
        ("/transactions?q=a", "/transactions?q=a"),
        ("/\t/evil.example/phish", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\nSet-Cookie: x=1", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/ /evil.example", "/"),
        ("", "/"),
    ] {
        let (status, location) = sign_in_to(&app, next).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location, want, "{next:?}");
    }
    // The form itself never carries a bad `next` either.
    let page = app.get("/login?next=/%09/evil.example", &As::Nobody).await;
    assert!(!page.body.contains("evil.example"), "{}", page.body);
}

#[tokio::test]
async fn w12_the_safety_page_never_shows_a_notice_from_the_url() {
    let app = TestApp::sqlite().await;
    app.with_rows(20).await;
    let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
    let page = app
        .get(
            "/safety?message=Your%20backups%20are%20corrupt%3A%20call%20evil",
            &ada,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("call evil"), "{}", page.body);
    let r = app.form("/safety/backup", &ada, &[("kind", "db")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/safety");
    let page = app.get("/safety", &ada).await;
    assert!(page.body.contains("taken and verified"), "{}", page.body);
    // Shown once.
    let again = app.get("/safety", &ada).await;
    assert!(!again.body.contains("taken and verified"));
}

#[tokio::test]
async fn c2_the_dashboard_never_adds_two_currencies_together() {
    let app = TestApp::sqlite().await;
    let usd = app.with_rows(0).await;
    let r = app
        .post_json(
            "/api/v1/accounts",
            &app.editor,
            json!({"name": "Euro", "kind": "checking", "currency": "EUR"}),
        )
        .await;
    let eur = r.json()["id"].as_i64().expect("id");
    app.json(
        Method::POST,
        "/api/v1/categories",
        &app.editor,
        json!({"name": "Food"}),
    )
    .await;
    let today = chrono::Utc::now().date_naive().to_string();
    for (acct, amount) in [(usd, "-88.45"), (eur, "-30.00")] {
        let r = app.post_json("/api/v1/transactions", &app.editor, json!({"account": acct, "date": today, "amount": amount, "payee": "Shop", "category": "Food"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
    let dash = app.get("/", &ada).await;
    assert!(dash.body.contains("88.45 USD"), "{}", dash.body);
    assert!(dash.body.contains("30.00 EUR"), "{}", dash.body);
    assert!(!dash.body.contains("118.45"), "{}", dash.body);
    assert!(
        dash.body
            .contains("Total spending: <b>30.00 EUR · 88.45 USD</b>"),
        "{}",
        dash.body
    );
}

#[tokio::test]
async fn c6_the_preview_shows_every_row_new_and_flagged_first_with_counts_per_decision() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(600).await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let csrf = ed.csrf();
    // An overlapping statement: the 600 known rows first, the 600 new ones at its end.
    let csv = wf_csv(0, 1_200);
    let boundary = "----hostile-boundary";
    let mut body = Vec::new();
    for (k, v) in [("csrf", csrf), ("account", &acct.to_string())] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let long_name = "n".repeat(5_000);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{long_name}.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&csv);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = app
        .send(
            Method::POST,
            "/imports",
            &ed,
            Some(&format!("multipart/form-data; boundary={boundary}")),
            body,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        !r.body.contains(&long_name),
        "the 5,000-character name is shown whole"
    );
    assert!(r.body.contains("<b>600</b> new"), "{}", r.body);
    assert!(r.body.contains("Flagged for review: <b>"), "{}", r.body);
    assert!(
        r.body.contains("Duplicates (skipped): <b>600</b>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Rows 1–500 of 1200"), "{}", r.body);
    let first_row = r.body.find("<tr class=\"decision-").expect("rows");
    assert!(
        r.body[first_row..].starts_with("<tr class=\"decision-new\""),
        "new rows first: {}",
        &r.body[first_row..first_row + 200]
    );
    assert_eq!(r.body.matches("<tr class=\"decision-").count(), 500);
    let key_at = r.body.find("name=\"upload\" value=\"").expect("upload key") + 21;
    let key: String = r.body[key_at..].chars().take_while(|c| *c != '"').collect();
    assert!(r.body.contains(&format!("/imports/preview/{key}?page=2")));
    let p2 = app
        .get(&format!("/imports/preview/{key}?page=2"), &ed)
        .await;
    assert!(p2.body.contains("Rows 501–1000 of 1200"), "{}", p2.body);
    assert_eq!(p2.body.matches("<tr class=\"decision-new\"").count(), 100);
    let p3 = app
        .get(&format!("/imports/preview/{key}?page=99"), &ed)
        .await;
    assert!(p3.body.contains("Rows 1001–1200 of 1200"), "{}", p3.body);
    assert_eq!(
        p3.body.matches("<tr class=\"decision-duplicate\"").count(),
        200
    );
    // Someone else's preview is not theirs to see; a bad page number is page 1.
    let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
    let other = app.get(&format!("/imports/preview/{key}"), &ada).await;
    assert!(other.body.contains("expired"), "{}", other.body);
    let bad = app
        .get(&format!("/imports/preview/{key}?page=-3x"), &ed)
        .await;
    assert!(bad.body.contains("Rows 1–500 of 1200"), "{}", bad.body);
}

#[tokio::test]
async fn w9_wrong_current_passwords_are_throttled_apart_from_sign_in() {
    let app = TestApp::sqlite().await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    for _ in 0..5 {
        let r = app.change_password(&ed, "wrong", "new-password-123").await;
        assert!(r.body.contains("current password is wrong"), "{}", r.body);
    }
    let r = app.change_password(&ed, PASSWORD, "new-password-123").await;
    assert!(
        r.body.contains("Too many wrong current passwords"),
        "{}",
        r.body
    );
    // Signing in is not locked by those failures.
    assert!(app.sign_in("ed", PASSWORD).await.is_ok());
}

/// A name that is no account, however long, is quoted in a bounded message, not sent back whole.
#[tokio::test]
async fn an_unknown_account_name_is_quoted_short() {
    let app = TestApp::sqlite().await;
    let long = "x".repeat(20_000);
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/imports?account={long}&file_name=wf.csv"),
            &app.editor,
            Some("text/csv"),
            wf_csv(0, 3),
            &[],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "{}",
        &r.body[..200.min(r.body.len())]
    );
    assert!(r.error().contains("unknown account"), "{}", r.error());
    assert!(r.body.len() < 1_000, "{} bytes", r.body.len());
}
