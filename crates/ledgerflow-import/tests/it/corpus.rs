//! Every OFX, QIF and CAMT sample either parses or is refused with a clear reason; where the
//! corpus manifest records what a file holds, the parse must say the same.

use std::path::{Path, PathBuf};

use ledgerflow_import::{Format, ParsedFile, ParsedTxn, Statement, parse};

use crate::helpers::{corpora, sample_files};

/// Inputs of a format folder (expected outputs and notes are left out).
fn samples(root: &Path, folder: &str) -> Vec<PathBuf> {
    sample_files(&root.join(folder))
}

/// A sample's path below the corpora (the name errors must carry) and its bytes.
fn read_sample(root: &Path, path: &Path) -> (String, Vec<u8>) {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let bytes = std::fs::read(path).expect("read");
    (rel, bytes)
}

fn get(root: &Path, rel: &str) -> ParsedFile {
    let bytes = std::fs::read(root.join(rel)).expect("read sample");
    parse(&bytes, rel, None).unwrap_or_else(|e| panic!("{rel} must parse: {e}"))
}

/// The first transaction of `st` has this amount, payee and memo (`amount_payee_memo`) and
/// this external id; it is returned for more checks.
fn first_is<'a>(
    st: &'a Statement,
    amount_payee_memo: [&str; 3],
    external_id: &str,
) -> &'a ParsedTxn {
    let t = &st.transactions[0];
    let [amount, payee, memo] = amount_payee_memo;
    assert_eq!(t.amount.to_string(), amount);
    assert_eq!(t.payee, payee);
    assert_eq!(t.memo, memo);
    assert_eq!(t.external_id.as_deref(), Some(external_id));
    t
}

#[test]
fn every_sample_parses_or_is_refused_clearly() {
    let Some(root) = corpora() else { return };
    let mut report = Vec::new();
    let (mut ok, mut with_row_errors, mut refused, mut txns) = (0, 0, 0, 0);
    for (folder, format) in [
        ("ofx", Format::Ofx),
        ("qif", Format::Qif),
        ("camt", Format::Camt),
    ] {
        for path in samples(&root, folder) {
            let (rel, bytes) = read_sample(&root, &path);
            match parse(&bytes, &rel, Some(format)) {
                Ok(f) if f.errors.is_empty() => {
                    ok += 1;
                    txns += f.transaction_count();
                }
                Ok(f) => {
                    with_row_errors += 1;
                    for e in &f.errors {
                        assert!(!e.reason.is_empty() && e.line > 0, "{rel}: {e:?}");
                    }
                    report.push(format!("row errors  {rel}: {}", f.errors[0]));
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.to_string().starts_with(&rel) && e.reason.len() > 10,
                        "{e}"
                    );
                    report.push(format!("refused     {e}"));
                }
            }
        }
    }
    eprintln!(
        "corpus: {ok} parsed cleanly ({txns} transactions), {with_row_errors} with row errors, {refused} refused"
    );
    for r in &report {
        eprintln!("  {r}");
    }
    assert!(ok >= 100, "most samples parse: only {ok} did");
}

#[test]
fn ofxparse_bank_medium_matches_its_project() {
    let Some(root) = corpora() else { return };
    let st = &get(&root, "ofx/ofxparse/bank_medium.ofx").statements[0];
    assert_eq!(st.account.as_deref(), Some("12300 000012345678"));
    assert_eq!(st.currency.as_deref(), Some("CAD"));
    assert_eq!(
        st.start.map(|d| d.to_string()).as_deref(),
        Some("2009-04-01")
    );
    assert_eq!(st.end.map(|d| d.to_string()).as_deref(), Some("2009-05-23"));
    assert_eq!(st.transactions.len(), 3);
    first_is(
        st,
        [
            "-6.60",
            "MCDONALD'S #112",
            "POS MERCHANDISE;MCDONALD'S #112",
        ],
        "0000123456782009040100001",
    );
}

#[test]
fn ofx_quirks_from_the_notes() {
    let Some(root) = corpora() else { return };
    // two statements in one file
    assert_eq!(
        get(&root, "ofx/ofxparse/multiple_accounts2.ofx")
            .statements
            .len(),
        2
    );
    assert_eq!(
        get(&root, "ofx/asgrim-ofxparser/ofxdata-bb-two-stmtrs.ofx")
            .statements
            .len(),
        2
    );
    // one-line file with its header keys run together
    let one = get(&root, "ofx/asgrim-ofxparser/ofxdata-oneline.ofx");
    assert_eq!(one.transaction_count(), 8);
    assert_eq!(one.statements[0].currency.as_deref(), Some("EUR"));
    // double-escaped entities
    let html = get(&root, "ofx/actual/html-vals.qfx");
    assert!(
        html.statements[0]
            .transactions
            .iter()
            .any(|t| t.payee == "TPAY <DEFTPYMT>"),
        "{:?}",
        html.statements[0].transactions
    );
    // missing DTPOSTED is an error on that row, never "today"
    let dm = get(&root, "ofx/ofxparse/fail_nice/date_missing.ofx");
    assert!(
        dm.errors.iter().any(|e| e.reason.contains("DTPOSTED")),
        "{:?}",
        dm.errors
    );
    // the cash part of an investment statement
    assert_eq!(
        get(&root, "ofx/ofxparse/fidelity-savings.ofx").transaction_count(),
        4
    );
    // comma decimals
    let euro = get(&root, "ofx/ofxtools/stmtrs_euro.ofx");
    assert!(
        euro.statements[0]
            .transactions
            .iter()
            .any(|t| t.amount.to_string() == "-200.00")
    );
}

#[test]
fn camt_batch_entry_is_split_into_its_details() {
    let Some(root) = corpora() else { return };
    let f = get(&root, "camt/actual/camt.053.xml");
    let amounts: Vec<String> = f
        .statements
        .iter()
        .flat_map(|s| s.transactions.iter())
        .map(|t| t.amount.to_string())
        .collect();
    assert!(
        amounts.contains(&"2.25".to_string()) || amounts.contains(&"-2.25".to_string()),
        "{amounts:?}"
    );
    assert!(
        amounts.contains(&"1.20".to_string()) || amounts.contains(&"-1.20".to_string()),
        "{amounts:?}"
    );
}

#[test]
fn camt_samples_match_their_project() {
    let Some(root) = corpora() else { return };
    let simple = get(&root, "camt/ofxstatement-iso20022/simple.xml");
    let st = &simple.statements[0];
    assert_eq!(st.account.as_deref(), Some("LT000000000000000000"));
    assert_eq!(st.transactions.len(), 4);
    let t = first_is(
        st,
        ["-0.29", "AB DNB Bankas", "Sąskaitos aptarnavimo mokestis"],
        "FC1261858984",
    );
    assert_eq!(t.date.to_string(), "2015-12-31");
    assert_eq!(
        t.value_date.map(|d| d.to_string()).as_deref(),
        Some("2016-01-01")
    );
    let dav = get(&root, "camt/ofxstatement-iso20022/davider80.xml");
    assert_eq!(dav.transaction_count(), 16);
    assert_eq!(
        dav.statements[0].transactions[0].amount.to_string(),
        "-905.3"
    );
    let c52 = get(&root, "camt/ofxstatement-iso20022/camt052.xml");
    assert_eq!(c52.transaction_count(), 5);
    assert_eq!(
        c52.statements[0].transactions[0].payee,
        "SPARKASSE PFORZHEIM CALW"
    );
}

#[test]
fn every_csv_sample_is_read_by_a_preset_or_refused_clearly() {
    let Some(root) = corpora() else { return };
    let (mut read, mut refused) = (0, 0);
    let mut detected = Vec::new();
    for path in samples(&root, "csv") {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !(name.ends_with(".csv") || name.ends_with(".tsv") || name.ends_with(".ssv")) {
            continue;
        }
        let (rel, bytes) = read_sample(&root, &path);
        match ledgerflow_import::csv::parse(&bytes, &rel, None) {
            Ok(f) => {
                read += 1;
                detected.push(format!(
                    "{rel}: {} ({} rows, {} row errors)",
                    f.profile.clone().unwrap_or_default(),
                    f.transaction_count(),
                    f.errors.len()
                ));
            }
            Err(e) => {
                refused += 1;
                assert!(
                    e.reason.contains("read with a CSV profile") || e.reason.contains("column"),
                    "{e}"
                );
            }
        }
    }
    eprintln!(
        "corpus (CSV, no profile given): {read} read by a built-in preset, {refused} refused (need a profile)"
    );
    for d in &detected {
        eprintln!("  {d}");
    }
    assert!(read + refused > 100);
}

/// Every MT940 sample of the corpora is detected as MT940, and each statement that gives both
/// balances adds up (the parser refuses it otherwise); the one file OCA marks wrong is refused.
#[test]
fn mt940_samples_reconcile_with_their_balances() {
    let Some(root) = corpora() else { return };
    let files = samples(&root, "mt940");
    assert!(files.len() >= 8, "the MT940 samples are there");
    let (mut statements, mut checked, mut txns) = (0, 0, 0);
    for path in files {
        let (rel, bytes) = read_sample(&root, &path);
        if rel.ends_with("test-sns.940") {
            // SNS's sample ends its last message before the closing balance: refused as cut
            // short, never imported in part.
            let err = parse(&bytes, &rel, None).expect_err("cut short");
            assert!(err.reason.contains("no closing balance"), "{err}");
            continue;
        }
        if rel.contains("test-wrong-file") {
            let err = parse(&bytes, &rel, Some(Format::Mt940)).expect_err("OCA's wrong file");
            assert!(err.reason.contains(":9401:"), "{err}");
            continue;
        }
        assert_eq!(
            ledgerflow_import::detect(&bytes),
            Some(Format::Mt940),
            "{rel} is detected"
        );
        let f = parse(&bytes, &rel, None).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(f.errors.is_empty(), "{rel}: {:?}", f.errors);
        for st in &f.statements {
            statements += 1;
            txns += st.transactions.len();
            let (Some(open), Some(close)) = (st.opening, st.closing) else {
                panic!("{rel} has both balances");
            };
            checked += 1;
            let sum: rust_decimal::Decimal = st.transactions.iter().map(|t| t.amount).sum();
            assert_eq!(open.amount + sum, close.amount, "{rel}");
            for t in &st.transactions {
                assert!(t.currency.is_some(), "{rel}: line {}", t.line);
            }
        }
    }
    eprintln!("mt940: {statements} statements ({txns} entries), {checked} reconciled");
    assert_eq!(checked, statements, "every statement reconciles");
}

/// What the samples say, entry by entry: German `?` subfields, SEPA slash tags, free text,
/// decimal commas without decimals, and years before 2000.
#[test]
fn mt940_samples_read_their_details() {
    let Some(root) = corpora() else { return };
    let f = get(&root, "mt940/actual/data.sta");
    assert_eq!(f.format, Format::Mt940);
    let st = &f.statements[0];
    assert_eq!(st.account.as_deref(), Some("FR7630006000011234567890189"));
    let t = &st.transactions;
    assert_eq!(t.len(), 6);
    first_is(
        st,
        ["-42.50", "Boulangerie L'Étoile", "Facture 2025-0042"],
        "BANKREF001",
    );
    assert_eq!(
        (t[1].payee.as_str(), t[1].memo.as_str()),
        ("Employeur Acme SARL", "Salaire août 2025")
    );
    assert_eq!(
        (t[2].payee.as_str(), t[2].memo.as_str()),
        ("MÜLLER GMBH", "Rechnung 4711")
    );
    assert_eq!(t[3].payee, "RETRAIT GUICHET AUTOMATIQUE");
    assert_eq!(
        (t[4].payee.as_str(), t[4].memo.as_str()),
        ("Librairie Gibert Joseph", "Virement en ligne")
    );
    assert_eq!(t[0].date.to_string(), "2025-08-01");

    let f = get(&root, "mt940/gnucash-docs/gnc_sample_mt940.mt940");
    let st = &f.statements[0];
    assert_eq!(st.currency.as_deref(), Some("DEM"));
    assert_eq!(st.transactions.len(), 11);
    assert_eq!(st.transactions[0].amount.to_string(), "-6800");
    assert_eq!(st.transactions[0].payee, "SCHECK-NR. 0000016703074");
    assert_eq!(st.transactions[0].date.to_string(), "1995-10-17");

    let f = get(
        &root,
        "mt940/oca-bank-statement-import/mt940_nl_ing/test_files/test-ing.940",
    );
    let st = &f.statements[0];
    assert_eq!(st.account.as_deref(), Some("NL77INGB0574908765"));
    assert_eq!(st.transactions.len(), 8);
    assert_eq!(st.transactions[0].payee, "ING BANK NV INZAKE WEB");
    assert_eq!(st.transactions[0].memo, "EV10001REP1000000T1000");
    assert_eq!(st.transactions[2].payee, "J.Janssen");

    let f = get(
        &root,
        "mt940/oca-bank-statement-import/mt940_nl_rabo/test_files/test-rabo.swi",
    );
    assert_eq!(f.statements.len(), 4);
    assert_eq!(f.statements[0].transactions[0].payee, "R. SMITH");
    assert_eq!(f.statements[2].transactions[0].payee, "Kosten");

    // SNS's sample, its cut-short last message left out.
    let sns = "mt940/oca-bank-statement-import/mt940_base/test_files/test-sns.940";
    let bytes = std::fs::read(root.join(sns)).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    let whole = &text[..text.rfind("{1:").expect("messages")];
    let f = parse(whole.as_bytes(), sns, None).unwrap_or_else(|e| panic!("{e}"));
    let t = &f.statements[0].transactions;
    assert_eq!(t[0].payee, "gerrits glas en schilderwerk");
    assert_eq!(t[1].payee, "Jumbo Wijchen B.V.");
}

/// Every corpus CSV that no preset recognises gets an inferred reading, or a reason; the
/// share that infers and then reads without a bad row is reported (and must not fall).
#[test]
fn csv_without_a_profile_is_inferred() {
    let Some(root) = corpora() else { return };
    let (mut total, mut clean, mut refused) = (0, 0, 0);
    let mut report = Vec::new();
    for path in samples(&root, "csv") {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !["csv", "tsv", "ssv", "txt", "dat"].contains(&ext.as_str()) {
            continue;
        }
        let (rel, bytes) = read_sample(&root, &path);
        let decoded = ledgerflow_import::decode::decode(&bytes, None);
        if ledgerflow_import::csv::detect_preset(&decoded.text).is_some() {
            continue;
        }
        total += 1;
        match ledgerflow_import::csv::infer(&decoded.text, decoded.encoding) {
            Err(why) => {
                refused += 1;
                report.push(format!("no reading  {rel}: {why}"));
            }
            Ok(inf) => {
                let f = ledgerflow_import::csv::parse(&bytes, &rel, Some(&inf.profile));
                match f {
                    Ok(f) if f.errors.is_empty() && f.transaction_count() > 0 => {
                        clean += 1;
                        report.push(format!(
                            "ok {:>3}%     {rel}: {} rows",
                            inf.confidence,
                            f.transaction_count()
                        ));
                    }
                    Ok(f) => report.push(format!(
                        "row errors  {rel}: {} of {}: {:?}",
                        f.errors.len(),
                        f.transaction_count() + f.errors.len(),
                        f.errors.first()
                    )),
                    Err(e) => report.push(format!("refused     {e}")),
                }
            }
        }
    }
    eprintln!("csv inference: {clean}/{total} read cleanly, {refused} without a reading");
    for r in &report {
        eprintln!("  {r}");
    }
    assert!(total >= 50, "the CSV samples are there");
    assert!(
        clean * 2 >= total,
        "at least half read cleanly: {clean}/{total}"
    );
}

/// Every OFX, CAMT and QIF sample is recognised as its format from its content alone, and a CSV
/// or MT940 that only mentions another format's marks in a text is not taken for it.
#[test]
fn formats_are_detected_from_how_files_start() {
    let Some(root) = corpora() else { return };
    let mut missed = Vec::new();
    for (folder, format) in [
        ("ofx", Format::Ofx),
        ("camt", Format::Camt),
        ("qif", Format::Qif),
    ] {
        for path in samples(&root, folder) {
            let (rel, bytes) = read_sample(&root, &path);
            // Samples that are not statements (expected outputs, notes) are left out.
            if parse(&bytes, &rel, Some(format)).is_ok_and(|f| f.transaction_count() > 0)
                && ledgerflow_import::detect(&bytes) != Some(format)
            {
                missed.push(rel);
            }
        }
    }
    assert!(missed.is_empty(), "not detected: {missed:?}");
    for (text, not) in [
        (
            "Date,Payee,Amount\n2024-01-02,<OFX> shop,-1.00\n",
            Format::Ofx,
        ),
        (
            ":20:X\n:25:1\n:60F:C240101EUR0,\n:61:240102C1,NTRF\n:86:see camt.053 BkToCstmrStmt\n:62F:C240102EUR1,\n",
            Format::Camt,
        ),
    ] {
        assert_ne!(
            ledgerflow_import::detect(text.as_bytes()),
            Some(not),
            "{text}"
        );
    }
}
