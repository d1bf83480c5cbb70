//! `ledgerflow import`: batches, duplicates right in both directions, atomic failures, undo.

use crate::TestApp;
use crate::helpers::{strings, tx_add};

/// An OFX statement with one transaction per (day, amount, payee, fitid).
fn ofx(rows: &[(u32, &str, &str, &str)]) -> String {
    let mut s = String::from(
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD\n<BANKACCTFROM><BANKID>1<ACCTID>999</BANKACCTFROM><BANKTRANLIST>\n",
    );
    for (day, amount, payee, fitid) in rows {
        s.push_str(&format!(
            "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>202401{day:02}<TRNAMT>{amount}<FITID>{fitid}<NAME>{payee}</STMTTRN>\n"
        ));
    }
    s.push_str("</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n");
    s
}

/// A QIF bank file (no bank ids).
fn qif(rows: &[(u32, &str, &str)]) -> String {
    let mut s = String::from("!Type:Bank\n");
    for (day, amount, payee) in rows {
        s.push_str(&format!("D01/{day:02}/2024\nT{amount}\nP{payee}\n^\n"));
    }
    s
}

fn write(app: &TestApp, name: &str, body: &str) -> String {
    std::fs::write(app.path().join(name), body).expect("write");
    name.to_string()
}

fn count(app: &TestApp) -> i64 {
    app.json(&["status", "--json"])["counts"]["transactions"]
        .as_i64()
        .expect("count")
}

fn setup() -> Vec<TestApp> {
    let apps = TestApp::both();
    for app in &apps {
        app.with_checking();
    }
    apps
}

/// An import summary's rows read, new and duplicate (`None` where one is missing).
fn read_new_duplicates(s: &serde_json::Value) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        s["rows_read"].as_i64(),
        s["new"].as_i64(),
        s["duplicates"].as_i64(),
    )
}

#[test]
fn an_overlapping_statement_adds_exactly_its_new_rows() {
    for app in setup() {
        eprintln!("-- engine: {}", app.engine);
        let first: Vec<(u32, &str, &str, &str)> = (1..=5)
            .map(|d| {
                (
                    d,
                    "-10.00",
                    "SHOP",
                    ["A1", "A2", "A3", "A4", "A5"][d as usize - 1],
                )
            })
            .collect();
        let f1 = write(&app, "jan1.ofx", &ofx(&first));
        let s = app.json(&["import", &f1, "--account", "Checking", "--json"]);
        assert_eq!(read_new_duplicates(&s), (Some(5), Some(5), Some(0)));
        assert!(s["batch_id"].as_i64().is_some());
        // a later, overlapping export: days 3..8
        let second: Vec<(u32, &str, &str, &str)> = (3..=8)
            .map(|d| {
                (
                    d,
                    "-10.00",
                    "SHOP",
                    ["A3", "A4", "A5", "A6", "A7", "A8"][d as usize - 3],
                )
            })
            .collect();
        let f2 = write(&app, "jan2.ofx", &ofx(&second));
        let s = app.json(&["import", &f2, "--account", "Checking", "--json"]);
        assert_eq!(read_new_duplicates(&s), (Some(6), Some(3), Some(3)));
        assert_eq!(count(&app), 8);

        // the very same file again is a no-op that says so
        let s = app.json(&["import", &f2, "--account", "Checking", "--json"]);
        assert_eq!(s["new"], 0);
        assert!(s["already_imported"].as_i64().is_some());
        assert_eq!(count(&app), 8);

        // undo removes exactly the second batch's rows
        let batches = app.json(&["import", "list", "--json"]);
        let second_batch = batches[1]["id"].as_i64().expect("id").to_string();
        // not while the account is archived: its transactions are frozen
        app.ok(&["account", "archive", "Checking"]);
        app.fails_saying(&["import", "undo", &second_batch], 1, "archived");
        assert_eq!(count(&app), 8);
        app.ok(&["account", "unarchive", "Checking"]);
        app.ok(&["import", "undo", &second_batch]);
        assert_eq!(count(&app), 5);
        app.ok(&["journal", "verify"]);
    }
}

#[test]
fn identical_purchases_are_all_kept_and_counted_on_reimport() {
    for app in setup() {
        eprintln!("-- engine: {}", app.engine);
        let two = write(
            &app,
            "a.qif",
            &qif(&[(5, "-4.50", "COFFEE"), (5, "-4.50", "COFFEE")]),
        );
        let s = app.json(&["import", &two, "--account", "Checking", "--json"]);
        assert_eq!(
            s["new"], 2,
            "two identical coffees on one day are both kept"
        );
        // a longer export with the same two coffees and a third one
        let three = write(
            &app,
            "b.qif",
            &qif(&[
                (5, "-4.50", "COFFEE"),
                (5, "-4.50", "COFFEE"),
                (5, "-4.50", "COFFEE"),
                (6, "-1.00", "GUM"),
            ]),
        );
        let s = app.json(&["import", &three, "--account", "Checking", "--json"]);
        assert_eq!(
            (s["new"].as_i64(), s["duplicates"].as_i64()),
            (Some(2), Some(2))
        );
        assert_eq!(count(&app), 4);
    }
}

#[test]
fn a_file_with_one_bad_date_imports_nothing_and_names_the_line() {
    for app in setup() {
        eprintln!("-- engine: {}", app.engine);
        let body = ofx(&[(1, "-1.00", "OK", "B1"), (2, "-2.00", "OK", "B2")])
            .replace("<DTPOSTED>20240102", "<DTPOSTED>2024-13");
        let f = write(&app, "bad.ofx", &body);
        let err = app.fails_saying(
            &["import", &f, "--account", "Checking"],
            2,
            "bad.ofx: line 9: DTPOSTED \"2024-13\" is not a date",
        );
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(count(&app), 0);
        assert_eq!(app.json_len(&["import", "list", "--json"]), Some(0));
        // with --skip-invalid the good row lands and the bad one is listed
        let s = app.json(&[
            "import",
            &f,
            "--account",
            "Checking",
            "--skip-invalid",
            "--json",
        ]);
        assert_eq!(
            (s["new"].as_i64(), s["skipped"].as_i64()),
            (Some(1), Some(1))
        );
        assert!(
            s["skipped_rows"][0]
                .as_str()
                .expect("row")
                .contains("line 9")
        );
        // Several files: each is its own batch. When a later one fails, --json still reports
        // the ones imported before it (on stdout), and the failure on stderr.
        let good = write(&app, "good.qif", &qif(&[(5, "-5.00", "FIVE")]));
        let bad = write(&app, "bad2.ofx", &body.replace("B1", "C1"));
        let out = app.run(&["import", &good, &bad, "--account", "Checking", "--json"]);
        assert_eq!(out.status.code(), Some(2));
        let done: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(done.as_array().map(Vec::len), Some(1), "{done}");
        assert_eq!(done[0]["new"].as_i64(), Some(1), "{done}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("bad2.ofx"));
    }
}

#[test]
fn deleted_rows_stay_deleted_and_near_matches_are_flagged_not_merged() {
    let app = &setup()[0];
    let f = write(
        app,
        "c.qif",
        &qif(&[(3, "-7.00", "BAKERY"), (4, "-8.00", "BUTCHER")]),
    );
    app.ok(&["import", &f, "--account", "Checking"]);
    let list = app.json(&["tx", "list", "-q", "BAKERY", "--json"]);
    let id = list["items"][0]["id"].as_i64().expect("id").to_string();
    app.ok(&["tx", "delete", &id]);
    let again = write(
        app,
        "c2.qif",
        &qif(&[
            (3, "-7.00", "BAKERY"),
            (4, "-8.00", "BUTCHER"),
            (9, "-1.00", "NEW"),
        ]),
    );
    let s = app.json(&["import", &again, "--account", "Checking", "--json"]);
    assert_eq!(
        (
            s["new"].as_i64(),
            s["duplicates"].as_i64(),
            s["deleted"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let back = write(app, "c3.qif", &qif(&[(3, "-7.00", "BAKERY")]));
    let s = app.json(&[
        "import",
        &back,
        "--account",
        "Checking",
        "--include-deleted",
        "--json",
    ]);
    assert_eq!(s["new"], 1, "--include-deleted brings it back");

    // a hand-typed row and a bank row two days later with a longer payee: imported, flagged
    app.ok(&tx_add(
        "Checking",
        "2024-01-20",
        "-45.00",
        "Blue Bottle Coffee",
        &[],
    ));
    let near = write(
        app,
        "d.qif",
        &qif(&[(22, "-45.00", "BLUE BOTTLE COFFEE #12 OAKLAND")]),
    );
    let s = app.json(&["import", &near, "--account", "Checking", "--json"]);
    assert_eq!(
        (s["new"].as_i64(), s["flagged"].as_i64()),
        (Some(1), Some(1))
    );
    let flagged = app.json(&["tx", "list", "-q", "OAKLAND", "--json"]);
    assert_eq!(flagged["items"][0]["needs_review"], true);
    let manual = app.json(&["tx", "list", "-q", "Blue Bottle Coffee", "--json"]);
    assert_eq!(
        manual["items"].as_array().map(Vec::len),
        Some(2),
        "the existing row was not merged or changed"
    );
}

#[test]
fn dry_run_writes_nothing_and_multi_statement_files_ask_which() {
    let app = &setup()[0];
    let f = write(app, "e.qif", &qif(&[(1, "-1.00", "A"), (2, "-2.00", "B")]));
    let s = app.json(&["import", &f, "--account", "Checking", "--dry-run", "--json"]);
    assert_eq!(s["new"], 2);
    assert_eq!(s["decisions"][0]["decision"], "new");
    assert_eq!(count(app), 0);
    // The text report shows amounts as the bank wrote them, not in minor units.
    let text = app.ok(&["import", &f, "--account", "Checking", "--dry-run"]);
    assert!(text.contains("-1.00") && text.contains("-2.00"), "{text}");
    assert!(!text.contains(" -100 "), "{text}");
    let head = app.json(&["status", "--json"])["journal"]["head_seq"].clone();
    assert_eq!(head, 2, "nothing journaled by a dry run");
    // A directory is not a bank file: bad input, not an internal error.
    let dir = app.path().to_string_lossy().to_string();
    app.fails_saying(
        &["import", &dir, "--account", "Checking"],
        2,
        "is a directory, not a bank file",
    );

    let two = "!Account\nNChecking\nTBank\n^\n!Type:Bank\nD01/02/2024\nT-1\nPx\n^\n!Account\nNVisa\nTCCard\n^\n!Type:CCard\nD01/03/2024\nT-2\nPy\n^\n";
    let f = write(app, "two.qif", two);
    let err = app.fails(&["import", &f, "--account", "Checking"], 2);
    assert!(
        err.contains("2 statements (accounts Checking, Visa)") && err.contains("--statement"),
        "{err}"
    );
    let s = app.json(&[
        "import",
        &f,
        "--account",
        "Checking",
        "--statement",
        "Visa",
        "--json",
    ]);
    assert_eq!(s["new"], 1);
    app.fails_saying(
        &["import", &f, "--account", "Nope"],
        2,
        "unknown account \"Nope\"",
    );
}

#[test]
fn a_100k_row_wells_fargo_file_keeps_every_row_and_an_overlap_adds_only_the_rest() {
    let app = &setup()[0];
    let first = app.path().join("wf1.csv");
    ledgerflow_test_support::write_wf_csv(&first, 0, 100_000).expect("write");
    let s = app.json(&["import", "wf1.csv", "--account", "Checking", "--json"]);
    assert_eq!(s["rows_read"], 100_000);
    assert_eq!(
        s["new"], 100_000,
        "identical purchases in one file are all kept"
    );
    assert_eq!(s["duplicates"], 0);
    let second = app.path().join("wf2.csv");
    ledgerflow_test_support::write_wf_csv(&second, 60_000, 130_000).expect("write");
    let s = app.json(&["import", "wf2.csv", "--account", "Checking", "--json"]);
    assert_eq!(
        read_new_duplicates(&s),
        (Some(70_000), Some(30_000), Some(40_000))
    );
    assert_eq!(count(app), 130_000);
    assert!(
        app.json(&["journal", "verify", "--json"])["ok"]
            .as_bool()
            .unwrap_or(false)
    );
}

#[test]
fn csv_profiles_are_saved_checked_and_used() {
    let app = &setup()[0];
    // a preset printed as TOML is a valid profile to start from
    let wf = app.ok(&["import", "profile", "show", "wellsfargo"]);
    assert!(wf.contains("date_format = \"%m/%d/%Y\""), "{wf}");
    let profile = "name = \"sparkasse\"\ndelimiter = \";\"\nencoding = \"windows-1252\"\ndate = \"Buchungstag\"\ndate_format = \"%d.%m.%Y\"\namount = \"Betrag\"\npayee = \"Empfaenger\"\ndecimal = \",\"\nthousands = \".\"\n";
    write(app, "sparkasse.toml", profile);
    app.ok(&["import", "profile", "add", "sparkasse.toml"]);
    let list = app.ok(&["import", "profile", "list"]);
    assert!(
        list.contains("sparkasse") && list.contains("discover"),
        "{list}"
    );
    // Windows-1252 bytes: "Bäcker" with 0xE4
    let mut bytes = b"Buchungstag;Empfaenger;Betrag\n31.01.2024;B".to_vec();
    bytes.push(0xE4);
    bytes.extend_from_slice(b"cker;-1.234,56\n01.02.2024;Gehalt;2.500,00\n");
    std::fs::write(app.path().join("umsatz.csv"), &bytes).expect("write");
    // An unknown layout is refused with the reading LedgerFlow infers and the commands.
    let err = app.fails(&["import", "umsatz.csv", "--account", "Checking"], 2);
    for said in [
        "\"Buchungstag\": date (%d.%m.%Y)",
        "\"Betrag\": amount (signed)",
        "--format csv:auto",
        "profile add --from umsatz.csv --name NAME",
    ] {
        assert!(err.contains(said), "{said}: {err}");
    }
    assert_eq!(count(app), 0);
    // Accepted with csv:auto (a dry run here), saved with profile add --from.
    let dry = app.json(&[
        "import",
        "umsatz.csv",
        "--account",
        "Checking",
        "--format",
        "csv:auto",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(dry["new"], 2, "{dry}");
    let inspect = app.json(&["import", "inspect", "umsatz.csv", "--json"]);
    assert_eq!(inspect["inferred"]["profile"]["date_format"], "%d.%m.%Y");
    assert_eq!(inspect["transactions"][0]["amount_minor"], -123_456);
    app.ok(&[
        "import",
        "profile",
        "add",
        "--from",
        "umsatz.csv",
        "--name",
        "umsatz",
    ]);
    let saved = app.ok(&["import", "profile", "show", "umsatz"]);
    assert!(saved.contains("date = \"Buchungstag\""), "{saved}");
    app.fails_saying(
        &[
            "import",
            "profile",
            "add",
            "--from",
            "umsatz.csv",
            "--name",
            "umsatz",
        ],
        2,
        "already saved",
    );
    app.ok(&[
        "import",
        "profile",
        "add",
        "--from",
        "umsatz.csv",
        "--name",
        "umsatz",
        "--replace",
    ]);
    app.fails_saying(
        &[
            "import",
            "profile",
            "add",
            "--from",
            "umsatz.csv",
            "--name",
            "../evil",
        ],
        2,
        "may only hold",
    );
    let s = app.json(&[
        "import",
        "umsatz.csv",
        "--account",
        "Checking",
        "--format",
        "csv:sparkasse",
        "--json",
    ]);
    assert_eq!(s["new"], 2);
    let rows = app.json(&["tx", "list", "--json"]);
    let payees = strings(&rows["items"], "payee");
    assert!(payees.contains(&"Bäcker"), "{payees:?}");
    assert_eq!(rows["items"][1]["amount_minor"], -123_456);
    // a broken profile is refused with the reason
    write(
        app,
        "bad.toml",
        "name = \"x\"\ndate = 0\ndate_format = \"%d.%m\"\namount = 1\npayee = 2\n",
    );
    app.fails_saying(
        &["import", "profile", "add", "bad.toml"],
        2,
        "does not describe a full date",
    );
    write(
        app,
        "typo.toml",
        "name = \"x\"\ndate = 0\ndate_format = \"%d.%m.%Y\"\namount = 1\npayee = 2\ndelimeter = \";\"\n",
    );
    app.fails_saying(&["import", "profile", "add", "typo.toml"], 2, "delimeter");
}

/// An MT940 file is detected and imported; a statement whose balances do not add up is refused
/// whole; rows in another currency than the account's say which account they need.
#[test]
fn mt940_statements_import_and_a_broken_one_is_refused() {
    for app in &setup() {
        app.ok(&[
            "account",
            "add",
            "Giro",
            "--kind",
            "checking",
            "--currency",
            "EUR",
        ]);
        let sta = ":20:STARTUMS\n:25:10020030/1234567\n:28C:5/1\n:60F:C240131EUR1000,00\n:61:2402010201DR150,00NTRFNONREF//B1\n:86:166?00SEPA-UEBERWEISUNG?20Miete Februar?32Hausverwaltung\n:61:2402020202CR2500,5NTRFNONREF//B2\n:86:/TRTP/SEPA CREDIT/NAME/Acme AG/REMI/Gehalt/\n:62F:C240202EUR3350,50\n";
        write(app, "broken.sta", &sta.replace("3350,50", "3350,51"));
        app.fails_saying(
            &["import", "broken.sta", "--account", "Giro"],
            2,
            "closing balance says 3350.51",
        );
        assert_eq!(count(app), 0);
        write(app, "feb.sta", sta);
        app.fails_saying(
            &["import", "feb.sta", "--account", "Checking"],
            2,
            "every row is in EUR: import the file into an account in EUR",
        );
        let s = app.json(&["import", "feb.sta", "--account", "Giro", "--json"]);
        assert_eq!(
            (s["new"].as_u64(), s["format"].as_str()),
            (Some(2), Some("mt940"))
        );
        let rows = app.json(&["tx", "list", "--json"]);
        let payees = strings(&rows["items"], "payee");
        assert!(
            payees.contains(&"Hausverwaltung") && payees.contains(&"Acme AG"),
            "{payees:?}"
        );
    }
}

#[test]
fn a_pdf_statement_is_previewed_and_imported_only_with_yes() {
    use ledgerflow_test_support::pdf::{Amounts, StatementSpec, poppler, sample_rows};
    if !poppler() {
        return;
    }
    let day = |m, d| chrono::NaiveDate::from_ymd_opt(2024, m, d).expect("date");
    let mut spec = StatementSpec::new("Harbour Bank", Amounts::DebitCredit, day(5, 1), day(5, 31));
    spec.rows = sample_rows(day(5, 1), day(5, 31), 12, 4);
    spec.section_after = Some((2, "TRANSACTIONS FOR JANE DOE".into()));
    for app in &setup() {
        std::fs::write(app.path().join("may.pdf"), spec.to_pdf()).expect("write");
        let shown = app.ok(&["import", "inspect", "may.pdf"]);
        assert!(
            shown.contains("pdf file") && shown.contains("PAGE:LINE"),
            "{shown}"
        );
        let j = app.json(&["import", "inspect", "may.pdf", "--json"]);
        assert_eq!(j["transactions"].as_array().map(Vec::len), Some(12));
        assert_eq!(j["transactions"][0]["page"].as_u64(), Some(1));
        // The generic reader takes the section line for the end of row 3.
        assert!(
            j["transactions"][2]["payee"]
                .as_str()
                .is_some_and(|p| p.ends_with("TRANSACTIONS FOR JANE DOE")),
            "{}",
            j["transactions"][2]
        );

        // Without --yes: the preview, nothing written, and the command that imports.
        let out = app.run(&["import", "may.pdf", "--account", "Checking"]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        assert!(
            stdout.contains("would import 12 new") && stdout.contains("page 1 line"),
            "{stdout}"
        );
        assert!(
            stderr.contains("nothing was imported") && stderr.contains("--account Checking --yes"),
            "{stderr}"
        );
        assert_eq!(count(app), 0);

        // A template corrects the reading; a bad one is refused with its reason.
        write(app, "bad.toml", "name = \"harbour\"\nmatch = []\n");
        app.fails_saying(
            &["import", "template", "add", "bad.toml"],
            2,
            "needs `match`",
        );
        write(
            app,
            "harbour.toml",
            "name = \"harbour\"\nmatch = [\"Harbour Bank\"]\nskip = [\"TRANSACTIONS FOR\"]\n",
        );
        app.ok(&["import", "template", "add", "harbour.toml"]);
        assert!(app.ok(&["import", "template", "list"]).contains("harbour"));
        let j = app.json(&["import", "inspect", "may.pdf", "--json"]);
        assert_eq!(j["profile"].as_str(), Some("harbour"));
        assert_eq!(
            j["transactions"][2]["payee"].as_str(),
            Some(spec.rows[2].text.as_str())
        );

        let s = app.json(&[
            "import",
            "may.pdf",
            "--account",
            "Checking",
            "--yes",
            "--json",
        ]);
        assert_eq!(
            (s["new"].as_u64(), s["format"].as_str()),
            (Some(12), Some("pdf"))
        );
        assert_eq!(count(app), 12);
    }
}

/// A reading saved with `--account` is remembered for the account: its next CSV of that
/// layout is imported with no `--format`; a file it would misread (US amounts under a German
/// profile) is not read with it, and that is said. An ambiguous reading is not remembered. A
/// broken PDF template blocks no other import, and a template is saved whole, never through
/// a link planted where it goes.
#[test]
fn a_profile_remembered_for_an_account_reads_its_next_csv_and_nothing_else() {
    for app in &setup() {
        let head = "Buchungstag;Empfaenger;Betrag;Saldo\n";
        write(
            app,
            "jan.csv",
            &format!(
                "{head}02.01.2024;Miete;-1.200,00;3.800,00\n05.01.2024;Gehalt;2.500,50;6.300,50\n13.01.2024;Baecker;-3,20;6.297,30\n"
            ),
        );
        let saved = app.ok(&[
            "import",
            "profile",
            "add",
            "--from",
            "jan.csv",
            "--name",
            "giro",
            "--account",
            "Checking",
        ]);
        assert!(
            saved.contains("Remembered for account \"Checking\""),
            "{saved}"
        );
        write(
            app,
            "feb.csv",
            &format!(
                "{head}01.02.2024;Miete;-1.200,00;5.097,30\n14.02.2024;Kiosk;-1.234,50;3.862,80\n"
            ),
        );
        let s = app.json(&["import", "feb.csv", "--account", "Checking", "--json"]);
        assert_eq!(s["new"], 2, "{s}");
        let rows = app.json(&["tx", "list", "--json"]);
        let amounts: Vec<i64> = rows["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|t| t["amount_minor"].as_i64())
            .collect();
        assert!(amounts.contains(&-123_450), "{amounts:?}");
        // Same headers, US amounts: the German reading would make -4.50 into -450.00.
        write(
            app,
            "us.csv",
            &format!("{head}03.03.2024;Coffee;-4.50;995.50\n04.03.2024;Pay;1,000.00;1,995.50\n"),
        );
        let err = app.fails(&["import", "us.csv", "--account", "Checking"], 2);
        assert!(
            err.contains("\"giro\" remembered for this account does not read this file"),
            "{err}"
        );
        assert_eq!(count(app), 2);
        // An ambiguous reading (signs no balance proves) is saved with a warning, never
        // remembered.
        write(
            app,
            "card.csv",
            "Date,Description,Amount\n2024-01-02,COFFEE,4.50\n2024-01-03,GROCER,61.20\n2024-01-05,BOOKS,12.00\n",
        );
        app.fails_saying(
            &[
                "import",
                "profile",
                "add",
                "--from",
                "card.csv",
                "--name",
                "card",
                "--account",
                "Checking",
            ],
            2,
            "ambiguous",
        );
        let out = app.run(&[
            "import", "profile", "add", "--from", "card.csv", "--name", "card",
        ]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("ambiguous"));
        // A broken PDF template is said, and blocks no CSV import.
        let templates = app.path().join("ledgerflow-data").join("import-templates");
        std::fs::create_dir_all(&templates).expect("dir");
        std::fs::write(templates.join("broken.toml"), "this is = = not toml").expect("write");
        write(
            app,
            "mar.csv",
            &format!("{head}01.03.2024;Miete;-1.200,00;2.662,80\n"),
        );
        let out = app.run(&["import", "mar.csv", "--account", "Checking"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("PDF template not used"));
        // A template saved where a link was planted replaces the link, not its target.
        #[cfg(unix)]
        {
            let victim = app.path().join("victim.txt");
            std::fs::write(&victim, "keep me").expect("write");
            std::os::unix::fs::symlink(&victim, templates.join("mine.toml")).expect("link");
            write(
                app,
                "mine.toml",
                "name = \"mine\"\nmatch = [\"Mine Bank\"]\n",
            );
            app.ok(&["import", "template", "add", "mine.toml", "--replace"]);
            assert_eq!(std::fs::read_to_string(&victim).expect("read"), "keep me");
            assert!(
                std::fs::symlink_metadata(templates.join("mine.toml"))
                    .expect("saved")
                    .file_type()
                    .is_file()
            );
        }
    }
}

/// Rows of account "Checking" whose text holds the word `word` (through the text index).
fn found(app: &TestApp, word: &str) -> usize {
    app.json(&["tx", "list", "-q", word, "--account", "Checking", "--json"])["items"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A large import killed with SIGKILL at any moment leaves none of its rows or all of them, the
/// journal whole and the text index in step with the rows: the bulk path (many rows to a
/// statement, the text index written after the rows, in key order, for a file listed newest
/// first as banks list them).
#[test]
fn a_large_import_killed_at_any_moment_leaves_none_or_all_of_its_rows() {
    use ledgerflow_test_support::wf_row;
    const ROWS: u64 = 20_000;
    for app in setup() {
        app.ok(&crate::helpers::account_add(
            "Timing",
            "checking",
            "USD",
            &[],
        ));
        let body: String = (0..ROWS).rev().map(wf_row).collect();
        write(&app, "newest-first.csv", &body);
        let full = app.timed(&["import", "newest-first.csv", "--account", "Timing"]);
        // Each row's text ends with its number below 100,000: one row holds each number.
        let numbers: Vec<String> = [0, ROWS / 2, ROWS - 1]
            .iter()
            .map(|k| {
                let row = wf_row(*k);
                let text = row.trim_end().trim_end_matches('"');
                text.rsplit(' ').next().unwrap_or_default().to_string()
            })
            .collect();
        let mut landed = false;
        for at in crate::kill_moments(0x51_7CC1_B727_220A, 10, full + full / 4) {
            app.kill_after(&["import", "newest-first.csv", "--account", "Checking"], at);
            let n = count(&app) - ROWS as i64;
            assert!(
                n == 0 || n == ROWS as i64,
                "{}: killed after {at} ms, {n} rows of {ROWS} were left",
                app.engine
            );
            app.ok(&["journal", "verify"]);
            for word in &numbers {
                assert_eq!(
                    found(&app, word),
                    usize::from(n > 0),
                    "{}: killed after {at} ms, the text index disagrees with the rows on {word}",
                    app.engine
                );
            }
            if n > 0 {
                landed = true;
                break;
            }
        }
        if !landed {
            let s = app.json(&[
                "import",
                "newest-first.csv",
                "--account",
                "Checking",
                "--json",
            ]);
            assert_eq!(s["new"], ROWS, "{s}");
        }
        app.ok(&["journal", "verify"]);
        assert_eq!(count(&app), 2 * ROWS as i64);
        for word in &numbers {
            assert_eq!(found(&app, word), 1, "{}: {word}", app.engine);
        }
    }
}

/// Undoing an import is refused when the account's balance without its rows would be more
/// than the store can sum (other imports brought it back within range): nothing goes, and
/// every balance still reads.
#[test]
fn an_undo_that_would_leave_a_balance_beyond_what_a_ledger_holds_is_refused() {
    let rows = |n: usize, amount: &str| -> String {
        (0..n)
            .map(|k| {
                format!(
                    "\"{:02}/{:02}/2024\",\"{amount}\",\"*\",\"\",\"BIG {k}\"\n",
                    1 + k % 12,
                    1 + k % 28
                )
            })
            .collect()
    };
    for app in setup() {
        // 5,000 rows of -10^15 minor units, then 9,300 of +10^15: together 4.3 * 10^18, fine;
        // without the first batch 9.3 * 10^18, beyond an i64.
        write(&app, "neg.csv", &rows(5_000, "-10000000000000.00"));
        write(&app, "pos.csv", &rows(9_300, "10000000000000.00"));
        let neg = app.json(&["import", "neg.csv", "--account", "Checking", "--json"]);
        app.ok(&["import", "pos.csv", "--account", "Checking"]);
        let batch = neg["batch_id"].as_i64().expect("batch").to_string();
        app.fails_saying(
            &["import", "undo", &batch],
            2,
            "more than a ledger can hold",
        );
        assert_eq!(count(&app), 14_300, "{}", app.engine);
        app.ok(&["account", "list"]);
        app.ok(&["journal", "verify"]);
    }
}
