//! The HTML pages in-process: what a browser without JavaScript gets, and the htmx fragments.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::*;

fn multipart(fields: &[(&str, &str)], file: (&str, &[u8])) -> (String, Vec<u8>) {
    let boundary = "----ledgerflow-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: text/csv\r\n\r\n",
            file.0
        )
        .as_bytes(),
    );
    body.extend_from_slice(file.1);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `bytes` as `name` for the account through the import page, as `who`.
async fn upload(app: &TestApp, who: &As, acct: i64, name: &str, bytes: &[u8]) -> Reply {
    let (ct, body) = multipart(
        &[("csrf", who.csrf()), ("account", &acct.to_string())],
        (name, bytes),
    );
    app.send(Method::POST, "/imports", who, Some(&ct), body, &[])
        .await
}

#[tokio::test]
async fn an_editor_imports_through_the_page_with_a_preview_and_can_undo_it() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let csrf = ed.csrf();
    let csv = wf_csv(0, 40);
    let (ct, body) = multipart(
        &[("csrf", csrf), ("account", &acct.to_string())],
        ("wf.csv", &csv),
    );
    let r = app
        .send(Method::POST, "/imports", &ed, Some(&ct), body, &[])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Preview: wf.csv"), "{}", r.body);
    assert!(r.body.contains("40</b> rows read"), "{}", r.body);
    assert_eq!(
        app.store().counts().await.expect("counts").transactions,
        0,
        "a preview writes nothing"
    );
    let key_at = r.body.find("name=\"upload\" value=\"").expect("upload key") + 21;
    let key: String = r.body[key_at..].chars().take_while(|c| *c != '"').collect();
    // Another user cannot confirm someone else's upload.
    let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
    let r = app
        .form("/imports/confirm", &ada, &[("upload", &key)])
        .await;
    assert!(r.body.contains("expired"), "{}", r.body);
    let r = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().starts_with("/transactions?batch="),
        "{}",
        r.location()
    );
    let written = app.store().counts().await.expect("counts").transactions;
    assert!(written > 30);
    // Confirming twice (a double click) shows the same import again and writes nothing more.
    let twice = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
    assert_eq!(twice.status, StatusCode::SEE_OTHER, "{}", twice.body);
    assert_eq!(twice.location(), r.location());
    assert_eq!(
        app.store().counts().await.expect("counts").transactions,
        written
    );
    assert_eq!(app.store().list_imports().await.expect("imports").len(), 1);
    // Uploading the very same file again says so once and offers nothing to import.
    let again = upload(&app, &ed, acct, "wf.csv", &csv).await;
    assert_eq!(
        again.body.matches("already imported").count(),
        1,
        "{}",
        again.body
    );
    assert!(
        again.body.contains("id=\"already-imported\""),
        "{}",
        again.body
    );
    assert!(!again.body.contains("confirm-import"), "{}", again.body);
    assert!(!again.body.contains("rows read"), "{}", again.body);
    // The batch's rows are listed; the batch is on the imports page; undo removes it.
    let list = app.get(&r_location_batch(&app).await, &ed).await;
    assert_eq!(
        list.body.matches("class=\"payee\"").count() as i64,
        written.min(50)
    );
    let batch = app.store().list_imports().await.expect("imports")[0].id;
    let imports = app.get("/imports", &ed).await;
    assert!(imports.body.contains(&format!("/imports/{batch}/undo")));
    let r = app.form(&format!("/imports/{batch}/undo"), &ed, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
    let after = app.get("/imports", &ed).await;
    assert!(
        after.body.contains(&format!(
            "Import {batch} undone: {written} transactions removed"
        )),
        "{}",
        after.body
    );
    // A file that is not a bank file: the page says why; nothing is written.
    let (ct, body) = multipart(
        &[("csrf", csrf), ("account", &acct.to_string())],
        ("x.txt", b"not a statement"),
    );
    let r = app
        .send(Method::POST, "/imports", &ed, Some(&ct), body, &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("class=\"error\""), "{}", r.body);
    // A viewer sees no upload form, and a forged upload is refused.
    let vera = app.sign_in("vera", PASSWORD).await.expect("vera");
    assert!(
        !app.get("/imports", &vera)
            .await
            .body
            .contains("id=\"upload\"")
    );
    let vcsrf = vera.csrf();
    let (ct, body) = multipart(
        &[("csrf", vcsrf), ("account", &acct.to_string())],
        ("wf.csv", &csv),
    );
    assert_eq!(
        app.send(Method::POST, "/imports", &vera, Some(&ct), body, &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// The key of the upload a preview page confirms.
fn upload_key(preview: &str) -> String {
    let at = preview
        .find("name=\"upload\" value=\"")
        .expect("upload key")
        + 21;
    preview[at..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn a_confirmed_import_that_takes_a_while_shows_its_progress_until_it_is_done() {
    for app in TestApp::both().await {
        let acct = app.with_rows(0).await;
        let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
        let csv = wf_csv(0, 300);
        let preview = upload(&app, &ed, acct, "wf.csv", &csv).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        let key = upload_key(&preview.body);
        // Another import holds the account: the confirmed import waits for its turn, and the
        // page that confirmed it says so and refreshes itself.
        let held = app
            .store()
            .lock_imports(acct)
            .await
            .expect("the account's import lock");
        let r = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
        let job = format!("/imports/jobs/{key}");
        // The answer to the post is a redirect to the job's own page: its refresh (and the
        // browser's reload or back) never posts the form again.
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), job);
        let r = app.get(&job, &ed).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body
                .contains(&format!("http-equiv=\"refresh\" content=\"1; url={job}\"")),
            "{}",
            r.body
        );
        assert!(r.body.contains("Importing wf.csv"), "{}", r.body);
        assert!(
            r.body
                .contains("Waiting for another import into this account"),
            "{}",
            r.body
        );
        assert!(r.body.contains("<progress"), "{}", r.body);
        // Pressed again, the same job: nothing is imported twice.
        let again = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
        assert_eq!(again.location(), job);
        // The Imports page lists it while it runs, with its page.
        let imports = app.get("/imports", &ed).await;
        assert!(imports.body.contains("Importing now"), "{}", imports.body);
        assert!(
            imports.body.contains(&format!("href=\"{job}\"")),
            "{}",
            imports.body
        );
        // Somebody else's job is not shown.
        let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
        let theirs = app.get(&job, &ada).await;
        assert!(theirs.body.contains("no longer shown"), "{}", theirs.body);
        assert!(!theirs.body.contains("wf.csv"), "{}", theirs.body);
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        drop(held);
        // Once its turn comes the import runs; the page then goes to the batch's rows.
        let mut done = None;
        for _ in 0..600 {
            let r = app.get(&job, &ed).await;
            if r.status == StatusCode::SEE_OTHER {
                done = Some(r);
                break;
            }
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let done = done.expect("the import finished within 30 s");
        assert_eq!(done.location(), r_location_batch(&app).await);
        let rows = app.get(&done.location(), &ed).await;
        assert!(rows.body.contains("Imported 300 new rows"), "{}", rows.body);
        assert_eq!(
            app.store().counts().await.expect("counts").transactions,
            300
        );
        assert_eq!(app.store().list_imports().await.expect("imports").len(), 1);
        // The page of a finished job still leads there (a reload).
        let reload = app.get(&job, &ed).await;
        assert_eq!(reload.location(), done.location());
    }
}

#[tokio::test]
async fn a_user_has_at_most_four_imports_running_or_waiting_and_a_fifth_keeps_its_preview() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let mut keys = Vec::new();
    for k in 0..5 {
        let preview = upload(
            &app,
            &ed,
            acct,
            &format!("wf-{k}.csv"),
            &wf_csv(k * 100, k * 100 + 30),
        )
        .await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        keys.push(upload_key(&preview.body));
    }
    // Another import holds the account: four confirmed imports wait their turn.
    let held = app
        .store()
        .lock_imports(acct)
        .await
        .expect("the account's import lock");
    for key in &keys[..4] {
        let r = app.form("/imports/confirm", &ed, &[("upload", key)]).await;
        assert_eq!(r.location(), format!("/imports/jobs/{key}"), "{}", r.body);
    }
    // A fifth is refused, and its preview is kept to confirm later.
    let r = app
        .form("/imports/confirm", &ed, &[("upload", &keys[4])])
        .await;
    assert!(
        r.body
            .contains("You have 4 imports running or waiting their turn"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"confirm-import\""), "{}", r.body);
    drop(held);
    for _ in 0..600 {
        if app.store().list_imports().await.expect("imports").len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let r = app
        .form("/imports/confirm", &ed, &[("upload", &keys[4])])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().starts_with("/transactions?batch="),
        "{}",
        r.location()
    );
    assert_eq!(app.store().list_imports().await.expect("imports").len(), 5);
    assert_eq!(
        app.store().counts().await.expect("counts").transactions,
        150
    );
}

#[tokio::test]
async fn a_stopping_server_finishes_the_running_web_imports_and_does_not_begin_the_waiting_ones() {
    let app = TestApp::sqlite().await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let mut accounts = Vec::new();
    for name in ["First", "Second", "Third"] {
        let r = app
            .post_json(
                "/api/v1/accounts",
                &app.editor,
                serde_json::json!({"name": name, "kind": "checking", "currency": "USD"}),
            )
            .await;
        accounts.push(r.json()["id"].as_i64().expect("id"));
    }
    // Two imports take the two running places and wait for their turn (another import holds
    // the first account; SQLite takes imports one at a time); the third waits for a place.
    let held = app.store().lock_imports(accounts[0]).await.expect("lock");
    let mut jobs = Vec::new();
    for (k, acct) in accounts.iter().enumerate() {
        let k = k as u64;
        let csv = wf_csv(k * 100, k * 100 + 20);
        let preview = upload(&app, &ed, *acct, &format!("wf-{k}.csv"), &csv).await;
        let key = upload_key(&preview.body);
        let r = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
        assert_eq!(r.location(), format!("/imports/jobs/{key}"), "{}", r.body);
        jobs.push(r.location());
    }
    let third = app.get(&jobs[2], &ed).await;
    assert!(
        third
            .body
            .contains("Waiting for other imports on this server to finish"),
        "{}",
        third.body
    );
    // The server is told to stop; the running imports finish once their accounts are free.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = tokio::spawn(ledgerflow_web::serve(listener, app.state.clone(), async {}));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !server.is_finished(),
        "the stop waits for the running imports"
    );
    drop(held);
    server
        .await
        .expect("the server task")
        .expect("the server stopped");
    assert_eq!(app.store().list_imports().await.expect("imports").len(), 2);
    assert_eq!(app.store().counts().await.expect("counts").transactions, 40);
    for job in &jobs[..2] {
        let done = app.get(job, &ed).await;
        assert!(
            done.location().starts_with("/transactions?batch="),
            "{}",
            done.body
        );
    }
    let not_begun = app.get(&jobs[2], &ed).await;
    assert!(
        not_begun
            .body
            .contains("The server stopped before this import began: nothing of it was written"),
        "{}",
        not_begun.body
    );
}

async fn r_location_batch(app: &TestApp) -> String {
    let b = app.store().list_imports().await.expect("imports")[0].id;
    format!("/transactions?batch={b}")
}

#[tokio::test]
async fn the_list_searches_filters_and_changes_categories_inline() {
    let app = TestApp::sqlite().await;
    app.with_rows(200).await;
    let cat = app
        .post_json(
            "/api/v1/categories",
            &app.editor,
            json!({"name": "Groceries"}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("cat");
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let page = app.get("/transactions?q=safeway", &ed).await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = page.body.matches("class=\"payee\"").count();
    assert!(rows > 0);
    let api_count = app
        .get("/api/v1/transactions?q=safeway&limit=50", &app.viewer)
        .await
        .json()["items"]
        .as_array()
        .expect("items")
        .len();
    assert_eq!(rows, api_count, "the page shows what the API finds");
    assert!(
        page.body.contains("hx-post=\"/transactions/"),
        "inline edit for editors"
    );
    // A bad filter is shown on the page, not a crash.
    let bad = app.get("/transactions?min=abc", &ed).await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.body.contains("class=\"error\""), "{}", bad.body);
    // Pages follow the cursor.
    let all = app.get("/transactions", &ed).await;
    let next_at = all.body.find("id=\"next-page\"").map(|_| ());
    assert!(next_at.is_some(), "200 rows: there is a next page");
    // htmx inline change: the row comes back with the category selected.
    let id = app.first_tx("q=safeway").await;
    let r = app
        .htmx_post(
            &format!("/transactions/{id}/category"),
            &ed,
            &format!("category={cat}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body
            .trim_start()
            .starts_with(&format!("<tr id=\"tx-{id}\"")),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(&format!("<option value=\"{cat}\" selected>")),
        "{}",
        r.body
    );
    assert_eq!(
        app.store()
            .get_transaction(id)
            .await
            .expect("tx")
            .category_id,
        Some(cat)
    );
    // The detail page shows the change in the history.
    let detail = app.get(&format!("/transactions/{id}"), &ed).await;
    assert!(detail.body.contains("user:ed"), "{}", detail.body);
    assert!(detail.body.contains(&format!("category_id: — → {cat}")));
    // An htmx error lands in the flash area.
    let r = app
        .htmx_post(
            &format!("/transactions/{id}/category"),
            &ed,
            "category=NoSuchCategory",
        )
        .await;
    assert_eq!(
        r.headers.get("hx-retarget").and_then(|v| v.to_str().ok()),
        Some("#flash")
    );
    assert!(r.body.contains("NoSuchCategory"), "{}", r.body);
    // A viewer's list has no inline edit.
    let vera = app.sign_in("vera", PASSWORD).await.expect("vera");
    let view = app.get("/transactions", &vera).await;
    assert!(!view.body.contains("hx-post"));
    assert!(!view.body.contains("id=\"bulk\""));
}

#[tokio::test]
async fn the_dashboard_draws_this_months_spending_and_the_safety_page_backs_up() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let today = chrono::Utc::now().date_naive().to_string();
    app.json(
        Method::POST,
        "/api/v1/categories",
        &app.editor,
        json!({"name": "Rent"}),
    )
    .await;
    for (amount, cat) in [
        ("-1200.00", Some("Rent")),
        ("-35.50", None),
        ("2500.00", None),
    ] {
        let r = app.post_json("/api/v1/transactions", &app.editor, json!({"account": acct, "date": today, "amount": amount, "payee": "X", "category": cat})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
    let dash = app.get("/", &ada).await;
    assert!(dash.body.contains("<svg class=\"chart\""), "{}", dash.body);
    assert!(dash.body.contains(">Rent<"));
    assert!(dash.body.contains("1200.00 USD"));
    assert!(dash.body.contains("Uncategorized"));
    assert!(
        dash.body.contains("Total spending: <b>1235.50 USD</b>"),
        "{}",
        dash.body
    );
    assert!(dash.headers.contains_key("content-security-policy"));
    // Safety: no backup yet, then "back up now" takes a verified one.
    let safety = app.get("/safety", &ada).await;
    assert!(safety.body.contains("never"));
    let r = app.form("/safety/backup", &ada, &[("kind", "db")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = app.get(&r.location(), &ada).await;
    assert!(after.body.contains("taken and verified"), "{}", after.body);
    assert!(after.body.contains("just now"));
    // Editors do not see the safety page.
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    assert_eq!(app.get("/safety", &ed).await.status, StatusCode::FORBIDDEN);
    assert!(!app.get("/", &ed).await.body.contains("href=\"/safety\""));
}

/// A CSV no preset recognises is previewed as LedgerFlow infers it, the reading shown (columns,
/// evidence); confirming imports exactly the previewed rows. Through the API it is refused
/// unless `format=csv:auto`.
#[tokio::test]
async fn an_unknown_csv_is_previewed_with_its_inferred_reading_then_imported() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let csv = "Buchungstag;Empfänger;Verwendungszweck;Betrag;Saldo\r\n01.02.2024;Miete GmbH;Februar;-1.200,00;3.800,00\r\n05.02.2024;Arbeitgeber AG;Gehalt;2.500,50;6.300,50\r\n13.02.2024;Bäcker;Brot;-3,20;6.297,30\r\n";
    let r = upload(&app, &ed, acct, "umsatz.csv", csv.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"inferred-reading\""), "{}", r.body);
    // The reading as a form: column 1 is the date, read day first.
    assert!(
        r.body
            .contains("<option value=\"date\" selected>date</option>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<option value=\"%d.%m.%Y\" selected>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("reconciles on 2/2 rows"), "{}", r.body);
    assert!(r.body.contains("3</b> rows read"), "{}", r.body);
    assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
    let key_at = r.body.find("name=\"upload\" value=\"").expect("upload key") + 21;
    let key: String = r.body[key_at..].chars().take_while(|c| *c != '"').collect();
    let r = app.form("/imports/confirm", &ed, &[("upload", &key)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = app
        .store()
        .list_transactions(&ledgerflow_core::model::TxFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list");
    let mut got: Vec<(String, i64)> = page
        .items
        .iter()
        .map(|t| (t.posted_date.to_string(), t.amount_minor))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("2024-02-01".to_string(), -120_000),
            ("2024-02-05".to_string(), 250_050),
            ("2024-02-13".to_string(), -320)
        ]
    );

    // The API: refused without a word, read with format=csv:auto, any other format refused.
    let api = |format: &'static str| {
        let app = &app;
        let ed = &ed;
        async move {
            app.send(
                Method::POST,
                &format!("/api/v1/imports?account={acct}&file_name=u2.csv&dry_run=true{format}"),
                ed,
                Some("text/csv"),
                csv.replace("Bäcker", "Konditor").into_bytes(),
                &[],
            )
            .await
        }
    };
    let r = api("").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = api("&format=csv:auto").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["rows_read"].as_u64(), Some(3), "{}", r.body);
    let r = api("&format=qif%2F..").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// The reading form of an unknown CSV, on both engines: what the form sends is hostile (an
/// unknown role, a column past the file's, a format that is no date, two date columns, a
/// profile name that is a path) and each is refused with its reason, the preview kept and
/// nothing imported; a good correction reads the rows again, and confirming imports them and
/// saves the reading, remembered for the account.
#[tokio::test]
async fn an_unknown_csvs_reading_is_corrected_through_the_form_and_hostile_fields_are_refused() {
    for app in TestApp::both().await {
        let acct = app.with_rows(0).await;
        let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
        let csv = "Date,Description,Amount,Ref\n01/02/2024,COFFEE SHOP,4.50,A1\n03/04/2024,PAYMENT,-250.00,A2\n";
        let r = upload(&app, &ed, acct, "card.csv", csv.as_bytes()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("id=\"ambiguous-reading\""), "{}", r.body);
        let key_at = r.body.find("/imports/preview/").expect("key") + 17;
        let key: String = r.body[key_at..]
            .chars()
            .take_while(|c| *c != '/' && *c != '"' && *c != '?')
            .collect();
        let reading = format!("/imports/preview/{key}/reading");
        let good = [
            ("col0", "date"),
            ("col1", "payee"),
            ("col2", "amount"),
            ("col3", "bank_id"),
            ("date_format", "%d/%m/%Y"),
            ("decimal", "."),
            ("thousands", ","),
            ("invert", "on"),
        ];
        let with = |changes: &[(&'static str, &'static str)]| {
            let mut v: Vec<(&str, &str)> = good
                .iter()
                .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
                .copied()
                .collect();
            v.extend_from_slice(changes);
            v
        };
        for (changes, why) in [
            (vec![("col1", "date")], "only one column can be the date"),
            (
                vec![("col0", "../../x")],
                "choose the column that holds the date",
            ),
            (
                vec![("date_format", "%H:%M")],
                "does not describe a full date",
            ),
            (vec![("decimal", "x")], "must be"),
            (vec![("thousands", ".")], "thousands"),
            (vec![("col2", "direction")], "amount"),
        ] {
            let r = app.form(&reading, &ed, &with(&changes)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            assert!(
                r.body.contains("id=\"reading-error\""),
                "{changes:?}: {}",
                r.body
            );
            assert!(r.body.contains(why), "{changes:?} → {why}: {}", r.body);
            assert!(
                r.body.contains("id=\"ambiguous-reading\""),
                "the guess stays"
            );
        }
        // Fields the file has no column for are passed over; the good reading is read again.
        let mut fields = with(&[]);
        fields.push(("col99", "date"));
        let r = app.form(&reading, &ed, &fields).await;
        assert!(!r.body.contains("id=\"reading-error\""), "{}", r.body);
        assert!(
            r.body
                .contains("<td>2024-02-01</td><td class=\"num\">-4.50</td>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("id=\"confirm-import\""), "{}", r.body);
        // Another user cannot read or correct this upload.
        let ada = app.sign_in("ada", PASSWORD).await.expect("ada");
        let r = app.form(&reading, &ada, &with(&[])).await;
        assert!(r.body.contains("no longer kept"), "{}", r.body);
        // A confirm from a page that showed an earlier reading (another tab) imports nothing:
        // the rows are shown again, as now read.
        let r = app
            .form(
                "/imports/confirm",
                &ed,
                &[("upload", &key), ("reading", "0")],
            )
            .await;
        assert!(r.body.contains("The reading changed"), "{}", r.body);
        assert!(
            r.body.contains("name=\"reading\" value=\"1\""),
            "{}",
            r.body
        );
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        // A profile name that is a path is refused before anything is imported.
        let r = app
            .form(
                "/imports/confirm",
                &ed,
                &[
                    ("upload", &key),
                    ("reading", "1"),
                    ("save", "on"),
                    ("save_as", "../../evil"),
                ],
            )
            .await;
        assert!(r.body.contains("may only hold letters"), "{}", r.body);
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        let r = app
            .form(
                "/imports/confirm",
                &ed,
                &[
                    ("upload", &key),
                    ("reading", "1"),
                    ("save", "on"),
                    ("save_as", "card"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(app.store().counts().await.expect("counts").transactions, 2);
        let after = app.get(&r.location(), &ed).await;
        assert!(
            after.body.contains("saved as profile &#34;card&#34;"),
            "{}",
            after.body
        );
        let saved = ledgerflow_import::csv::SavedProfiles::in_data_dir(app.dir.path());
        assert_eq!(saved.for_account(acct).map(|p| p.name), Some("card".into()));
        assert!(!app.dir.path().join("evil.toml").exists());
        // The key is spent.
        let r = app.form(&reading, &ed, &with(&[])).await;
        assert!(r.body.contains("no longer kept"), "{}", r.body);
    }
}

/// A file with an unreadable row: refused in the web's own words (no command-line flag), then
/// uploaded again with "Skip unreadable rows": the preview lists the bad row, confirming
/// imports the good ones, and the page says what was imported.
#[tokio::test]
async fn unreadable_rows_are_skipped_from_the_upload_form() {
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let ed = app.sign_in("ed", PASSWORD).await.expect("ed");
    let mut csv = wf_csv(0, 10);
    csv.extend_from_slice(b"\"13/45/2024\",\"-1.00\",\"*\",\"\",\"BAD DATE\"\n");
    let r = upload(&app, &ed, acct, "wf.csv", &csv).await;
    assert!(r.body.contains("Skip unreadable rows"), "{}", r.body);
    assert!(!r.body.contains("--skip-invalid"), "{}", r.body);
    assert!(
        r.body.contains("id=\"skip-invalid\""),
        "the form offers it: {}",
        r.body
    );
    let (ct, body) = multipart(
        &[
            ("csrf", ed.csrf()),
            ("account", &acct.to_string()),
            ("skip_invalid", "on"),
        ],
        ("wf.csv", &csv),
    );
    let r = app
        .send(Method::POST, "/imports", &ed, Some(&ct), body, &[])
        .await;
    assert!(r.body.contains("Skipped: line 11"), "{}", r.body);
    let key_at = r.body.find("name=\"upload\" value=\"").expect("upload key") + 21;
    let key: String = r.body[key_at..].chars().take_while(|c| *c != '"').collect();
    let done = app
        .form(
            "/imports/confirm",
            &ed,
            &[("upload", &key), ("reading", "0")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(app.store().counts().await.expect("counts").transactions, 10);
    let list = app.get(&done.location(), &ed).await;
    assert!(list.body.contains("Imported 10 new rows"), "{}", list.body);
    assert!(
        list.body.contains("1 unreadable row skipped"),
        "{}",
        list.body
    );
}
