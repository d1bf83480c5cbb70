//! A real headless Chromium (Debian's `chromium` and `chromium-driver`, installed by `.ci/run`)
//! against the real server on loopback: an editor signs in, imports a bank file through the
//! page, finds a transaction by search and changes its category inline (htmx); a viewer sees
//! no way to edit, and a write sent from the viewer's page is refused.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thirtyfour::prelude::*;

use crate::*;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts chromedriver, or says why the browser test cannot run (a failure in CI).
fn chromedriver() -> Option<(Driver, u16)> {
    let found = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = found else {
        let msg = "!!!!! chromedriver not found: the browser test CANNOT run (apt-get install chromium chromium-driver) !!!!!";
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{msg} (CI=true: this is a failure, not a skip)");
        }
        eprintln!("{msg}");
        return None;
    };
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((driver, port));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(port: u16) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary("/usr/bin/chromium").expect("binary");
    let profile = tempfile::tempdir().expect("profile").keep();
    for arg in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        &format!("--user-data-dir={}", profile.display()),
    ] {
        caps.add_arg(arg).expect("arg");
    }
    WebDriver::new(format!("http://127.0.0.1:{port}"), caps)
        .await
        .expect("a browser session")
}

/// Types `text` into the element with this id.
async fn type_into(d: &WebDriver, id: &str, text: &str) {
    d.find(By::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .send_keys(text)
        .await
        .expect("type");
}

async fn sign_in(d: &WebDriver, base: &str, name: &str) {
    d.goto(format!("{base}/login")).await.expect("login page");
    type_into(d, "name", name).await;
    type_into(d, "password", PASSWORD).await;
    d.find(By::Id("sign-in"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let who = d.query(By::Id("whoami")).first().await.expect("signed in");
    assert_eq!(who.text().await.expect("text"), name);
}

/// The real server on a loopback port: its base URL, and how to stop it.
struct Served {
    base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(app: &TestApp) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(ledgerflow_web::serve(listener, app.state.clone(), async {
            let _ = stopped.await;
        }));
        Served { base, stop, server }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

/// On the import page: picks the account, chooses the file and asks for the preview.
async fn upload_for_preview(
    d: &WebDriver,
    base: &str,
    account: i64,
    file: &std::path::Path,
) -> WebDriverResult<()> {
    d.goto(format!("{base}/imports")).await?;
    d.find(By::Css(format!(
        "#import-account option[value='{account}']"
    )))
    .await?
    .click()
    .await?;
    d.find(By::Id("import-file"))
        .await?
        .send_keys(file.display().to_string())
        .await?;
    d.find(By::Id("preview")).await?.click().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_an_editor_imports_searches_and_categorizes_and_a_viewer_cannot_edit() {
    let Some((_driver, driver_port)) = chromedriver() else {
        return;
    };
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let cat = app
        .json(
            axum::http::Method::POST,
            "/api/v1/categories",
            &app.editor,
            serde_json::json!({"name": "Groceries"}),
        )
        .await
        .json()["id"]
        .as_i64()
        .expect("category");
    let served = Served::start(&app).await;
    let base = served.base.clone();
    let file = app.dir.path().join("wf-export.csv");
    std::fs::write(&file, wf_csv(0, 120)).expect("csv");

    let d = browser(driver_port).await;
    let result = async {
        // The editor signs in and imports through the page.
        sign_in(&d, &base, "ed").await;
        upload_for_preview(&d, &base, acct, &file).await?;
        let summary = d.query(By::Id("preview-summary")).first().await?.text().await?;
        assert!(summary.contains("120 rows read"), "{summary}");
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        d.find(By::Id("confirm-import")).await?.click().await?;
        d.query(By::Id("tx-table")).first().await?;
        assert!(d.current_url().await?.as_str().contains("/transactions?batch="));
        let imported = app.store().counts().await.expect("counts").transactions;
        assert!(imported > 100, "{imported}");

        // Search finds it.
        d.goto(format!("{base}/transactions")).await?;
        d.find(By::Id("search")).await?.send_keys("safeway").await?;
        d.find(By::Id("apply")).await?.click().await?;
        // The old list stays on screen until the new page arrives: wait for its address.
        let mut searched = false;
        for _ in 0..100 {
            if d.current_url().await?.as_str().contains("q=safeway") {
                searched = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(searched, "the search page did not load");
        d.query(By::Css("#tx-table tbody tr")).first().await?;
        let rows = d.find_all(By::Css("#tx-table tbody tr")).await?;
        assert!(!rows.is_empty());
        for r in &rows {
            let text = r.text().await?.to_lowercase();
            assert!(text.contains("safeway"), "{text}");
        }
        let row_id = rows[0].attr("id").await?.expect("row id");
        let tx: i64 = row_id.trim_start_matches("tx-").parse().expect("id");

        // The category changes inline: htmx posts on change and swaps the row.
        d.find(By::Css(format!("#{row_id} select option[value='{cat}']")))
            .await?
            .click()
            .await?;
        let mut stored = None;
        for _ in 0..100 {
            stored = app.store().get_transaction(tx).await.expect("tx").category_id;
            if stored.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(stored, Some(cat), "the inline change reached the store");
        let selected = d
            .query(By::Css(format!("#{row_id} select option[value='{cat}'][selected]")))
            .first()
            .await?;
        assert_eq!(selected.text().await?, "Groceries");
        assert!(d.current_url().await?.as_str().contains("q=safeway"), "no page reload");

        // Sign out; the viewer sees no way to edit.
        d.find(By::Css("form[action='/logout'] button")).await?.click().await?;
        d.query(By::Id("sign-in")).first().await?;
        sign_in(&d, &base, "vera").await;
        d.goto(format!("{base}/transactions?q=safeway")).await?;
        d.query(By::Css("#tx-table tbody tr")).first().await?;
        assert!(d.find_all(By::Css("#tx-table select")).await?.is_empty());
        assert!(d.find_all(By::Id("bulk")).await?.is_empty());
        d.goto(format!("{base}/transactions/{tx}")).await?;
        assert!(d.find_all(By::Id("edit")).await?.is_empty());
        // A write sent from the viewer's own page, with its CSRF token, is still refused.
        let status = d
            .execute(
                r#"const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
                   const xhr = new XMLHttpRequest();
                   xhr.open("PATCH", "/api/v1/transactions/" + arguments[0], false);
                   xhr.setRequestHeader("Content-Type", "application/json");
                   xhr.setRequestHeader("X-CSRF-Token", token);
                   xhr.send(JSON.stringify({category: null}));
                   return xhr.status;"#,
                vec![serde_json::json!(tx)],
            )
            .await?
            .convert::<u16>()?;
        assert_eq!(status, 403);
        assert_eq!(
            app.store().get_transaction(tx).await.expect("tx").category_id,
            Some(cat),
            "unchanged"
        );
        WebDriverResult::Ok(())
    }
    .await;
    let _ = d.quit().await;
    served.stop().await;
    result.expect("the browser scenario");
}

/// A confirmed import that has to wait (another import holds the account), in a real browser:
/// the confirm lands on the import's own page, which refreshes itself (asking for its own
/// address, never posting the form again) and shows the phase, until the import is done and
/// the page goes to the new rows with the notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_a_long_import_shows_its_progress_until_it_lands_on_the_new_rows() {
    let Some((_driver, driver_port)) = chromedriver() else {
        return;
    };
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let served = Served::start(&app).await;
    let base = served.base.clone();
    let file = app.dir.path().join("wf-long.csv");
    std::fs::write(&file, wf_csv(0, 200)).expect("csv");
    let d = browser(driver_port).await;
    let result = async {
        sign_in(&d, &base, "ed").await;
        upload_for_preview(&d, &base, acct, &file).await?;
        d.query(By::Id("confirm-import")).first().await?;
        let held = app
            .store()
            .lock_imports(acct)
            .await
            .expect("the account's import lock");
        d.find(By::Id("confirm-import")).await?.click().await?;
        d.query(By::Id("job-progress")).first().await?;
        assert!(d.current_url().await?.as_str().contains("/imports/jobs/"));
        // Refreshed a few times, it is still the progress page (not an error, not the form).
        // (Its source is read whole: an element found may be gone by the next refresh.)
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        let page = d.source().await?;
        assert!(page.contains("id=\"job-phase\""), "{page}");
        assert!(page.contains("Waiting for another import"), "{page}");
        assert!(d.current_url().await?.as_str().contains("/imports/jobs/"));
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        drop(held);
        let mut landed = false;
        for _ in 0..300 {
            if d.current_url()
                .await?
                .as_str()
                .contains("/transactions?batch=")
            {
                landed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(landed, "the page went to the batch's rows");
        d.query(By::Id("tx-table")).first().await?;
        let page = d.source().await?;
        assert!(page.contains("Imported 200 new rows"), "{page}");
        assert_eq!(
            app.store().counts().await.expect("counts").transactions,
            200
        );
        WebDriverResult::Ok(())
    }
    .await;
    let _ = d.quit().await;
    served.stop().await;
    result.expect("the browser scenario");
}

/// A PDF statement through the page, in a real browser: the preview says it was read from a
/// PDF's layout and gives each row's page and line; nothing is written before the confirm;
/// confirming imports exactly the rows shown. The preview is kept as a screenshot when
/// `LEDGERFLOW_SCREENSHOTS` names a directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_a_pdf_statement_is_previewed_with_pages_and_lines_then_imported() {
    use ledgerflow_test_support::pdf::{Amounts, StatementSpec, sample_rows};
    let Some((_driver, driver_port)) = chromedriver() else {
        return;
    };
    if std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "pdftotext is missing and CI is set"
        );
        return;
    }
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2024, m, d).expect("date");
    let mut spec = StatementSpec::new("Harbour Bank", Amounts::DebitCredit, day(5, 1), day(5, 31));
    spec.opening_minor = 100_000;
    spec.rows = sample_rows(day(5, 1), day(5, 31), 36, 2);
    spec.rows_per_page = 20;
    let file = app.dir.path().join("may-statement.pdf");
    std::fs::write(&file, spec.to_pdf()).expect("pdf");
    let served = Served::start(&app).await;
    let base = served.base.clone();
    let d = browser(driver_port).await;
    let result = async {
        sign_in(&d, &base, "ed").await;
        upload_for_preview(&d, &base, acct, &file).await?;
        let summary = d
            .query(By::Id("preview-summary"))
            .first()
            .await?
            .text()
            .await?;
        assert!(summary.contains("36 rows read"), "{summary}");
        let note = d.find(By::Id("pdf-reading")).await?.text().await?;
        assert!(note.contains("Read from a PDF statement"), "{note}");
        let body = d.find(By::Tag("body")).await?.text().await?;
        assert!(
            body.contains("the balance column reconciles on 36/36 rows"),
            "{body}"
        );
        let cells = d
            .find_all(By::Css("table.preview tbody tr td:first-child"))
            .await?;
        assert_eq!(cells.len(), 36);
        assert!(cells[0].text().await?.starts_with("p. 1, l. "));
        assert!(cells[35].text().await?.starts_with("p. 2, l. "));
        if let Ok(dir) = std::env::var("LEDGERFLOW_SCREENSHOTS") {
            d.screenshot(&std::path::Path::new(&dir).join("pdf-preview.png"))
                .await?;
        }
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        d.find(By::Id("confirm-import")).await?.click().await?;
        d.query(By::Id("tx-table")).first().await?;
        assert_eq!(app.store().counts().await.expect("counts").transactions, 36);
        WebDriverResult::Ok(())
    }
    .await;
    let _ = d.quit().await;
    served.stop().await;
    result.expect("the browser scenario");
}

/// A card export nothing recognises, whose dates read either way and whose charges are
/// positive: the preview refuses to import the guess, the user corrects the reading in the
/// form (date order, flipped signs), sees the rows read again, imports, and the reading is
/// saved as a profile remembered for the account, so the next month's file is read with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_an_unknown_csv_reading_is_corrected_imported_and_remembered() {
    let Some((_driver, driver_port)) = chromedriver() else {
        return;
    };
    let app = TestApp::sqlite().await;
    let acct = app.with_rows(0).await;
    let january = app.dir.path().join("card-jan.csv");
    std::fs::write(
        &january,
        "Date,Description,Amount,Ref\n01/02/2024,COFFEE SHOP,4.50,A1\n03/04/2024,PAYMENT THANK YOU,-250.00,A2\n05/06/2024,GROCER,61.20,A3\n",
    )
    .expect("csv");
    let february = app.dir.path().join("card-feb.csv");
    std::fs::write(
        &february,
        "Date,Description,Amount,Ref\n07/06/2024,BOOKSHOP,12.00,B1\n09/06/2024,PAYMENT THANK YOU,-40.00,B2\n",
    )
    .expect("csv");
    let served = Served::start(&app).await;
    let base = served.base.clone();
    let d = browser(driver_port).await;
    let select = |id: &'static str, value: &'static str| {
        let d = &d;
        async move {
            d.find(By::Css(format!("#{id} option[value='{value}']")))
                .await?
                .click()
                .await
        }
    };
    let amounts = |d: &WebDriver| {
        let d = d.clone();
        async move {
            let mut out = Vec::new();
            for row in d.find_all(By::Css("table.preview tbody tr")).await? {
                let cells = row.find_all(By::Tag("td")).await?;
                out.push((cells[1].text().await?, cells[2].text().await?));
            }
            out.sort();
            WebDriverResult::Ok(out)
        }
    };
    let result = async {
        sign_in(&d, &base, "ed").await;
        upload_for_preview(&d, &base, acct, &january).await?;
        // The guess is shown, named ambiguous, and cannot be imported.
        d.query(By::Id("reading-form")).first().await?;
        let warning = d.find(By::Id("ambiguous-reading")).await?.text().await?;
        assert!(warning.contains("ambiguous"), "{warning}");
        assert!(d.find_all(By::Id("confirm-import")).await?.is_empty());
        let form = d.find(By::Id("reading-form")).await?.text().await?;
        assert!(form.contains("COFFEE SHOP"), "the first values: {form}");
        if let Ok(dir) = std::env::var("LEDGERFLOW_SCREENSHOTS") {
            d.screenshot(&std::path::Path::new(&dir).join("csv-reading-form.png"))
                .await?;
        }
        // Day first, and charges are positive in this file.
        select("date-format", "%d/%m/%Y").await?;
        select("col3", "bank_id").await?;
        d.find(By::Id("invert")).await?.click().await?;
        d.find(By::Id("reread")).await?.click().await?;
        d.query(By::Id("confirm-import")).first().await?;
        assert_eq!(
            amounts(&d).await?,
            vec![
                ("2024-02-01".to_string(), "-4.50".to_string()),
                ("2024-04-03".to_string(), "250.00".to_string()),
                ("2024-06-05".to_string(), "-61.20".to_string()),
            ]
        );
        let reading = d.find(By::Id("inferred-reading")).await?.text().await?;
        assert!(reading.contains("set by you"), "{reading}");
        assert_eq!(app.store().counts().await.expect("counts").transactions, 0);
        // Imported, and kept as a profile for this account.
        let name = d.find(By::Id("save-as")).await?;
        name.clear().await?;
        name.send_keys("my-card").await?;
        d.find(By::Id("confirm-import")).await?.click().await?;
        let notice = d.query(By::Id("notice")).first().await?.text().await?;
        assert!(notice.contains("\"my-card\""), "{notice}");
        assert_eq!(app.store().counts().await.expect("counts").transactions, 3);
        let saved = ledgerflow_import::csv::SavedProfiles::in_data_dir(app.dir.path());
        let profile = saved.for_account(acct).expect("remembered for the account");
        assert_eq!(profile.name, "my-card");
        assert!(profile.invert);
        // The next file of that account is read with it: no guess, right signs.
        upload_for_preview(&d, &base, acct, &february).await?;
        let note = d
            .query(By::Id("remembered-profile"))
            .first()
            .await?
            .text()
            .await?;
        assert!(note.contains("my-card"), "{note}");
        assert!(d.find_all(By::Id("reading-form")).await?.is_empty());
        assert_eq!(
            amounts(&d).await?,
            vec![
                ("2024-06-07".to_string(), "-12.00".to_string()),
                ("2024-06-09".to_string(), "40.00".to_string()),
            ]
        );
        WebDriverResult::Ok(())
    }
    .await;
    let _ = d.quit().await;
    served.stop().await;
    result.expect("the browser scenario");
}
