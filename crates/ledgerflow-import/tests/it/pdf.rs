//! PDF statements: the corpus PDFs against their expected ledgers, and statements generated
//! with a known truth (`ledgerflow_test_support::pdf`) read back row for row.

use ledgerflow_import::{Format, parse};

use crate::helpers::corpora;

/// The transactions of an hledger/ledger journal: date, narration (spaces collapsed) and the
/// amount of the first posting, in minor units.
fn ledger_rows(text: &str) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let Some((date, narration)) = l.split_once(' ') else {
            continue;
        };
        if !date.starts_with("20") {
            continue;
        }
        let posting = lines.next().unwrap_or_default();
        let amount = posting
            .split_whitespace()
            .rev()
            .nth(1)
            .unwrap_or_default()
            .replace('.', "");
        out.push((
            date.replace('/', "-"),
            narration.split_whitespace().collect::<Vec<_>>().join(" "),
            amount.parse::<i64>().unwrap_or(i64::MIN),
        ));
    }
    out
}

#[test]
fn the_sbi_card_statement_matches_its_expected_ledger() {
    let Some(root) = corpora() else { return };
    let dir = root.join("pdf/paisa/sbi-credit-card");
    let bytes = std::fs::read(dir.join("monthly.pdf")).expect("read");
    let expected = ledger_rows(&std::fs::read_to_string(dir.join("monthly.ledger")).expect("read"));
    assert_eq!(expected.len(), 30);
    let parsed = parse(&bytes, "monthly.pdf", None).expect("the statement reads");
    for w in parsed.evidence.iter().chain(&parsed.warnings) {
        eprintln!("{w}");
    }
    assert_eq!(parsed.format, Format::Pdf);
    assert_eq!(parsed.profile.as_deref(), Some("sbi-card"));
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let st = &parsed.statements[0];
    assert_eq!(st.currency.as_deref(), Some("INR"));
    let got: Vec<(String, String, i64)> = st
        .transactions
        .iter()
        .map(|t| {
            (
                t.date.to_string(),
                t.payee.clone(),
                // The ledger posts to the expense: the card's side is the opposite.
                -(t.amount * rust_decimal::Decimal::from(100))
                    .trunc()
                    .to_string()
                    .parse::<i64>()
                    .expect("minor"),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // Each row says where it is.
    assert!(
        st.transactions
            .iter()
            .all(|t| t.page == Some(1) && t.line > 0)
    );
}

use chrono::NaiveDate;
use ledgerflow_import::ParsedFile;
use ledgerflow_import::pdf::Template;
use ledgerflow_test_support::pdf::{Amounts, Pdf, Row, StatementSpec, poppler, sample_rows};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("date")
}

fn rows_of(parsed: &ParsedFile) -> Vec<Row> {
    parsed.statements[0]
        .transactions
        .iter()
        .map(|t| Row {
            date: t.date,
            text: t.payee.clone(),
            minor: (t.amount * rust_decimal::Decimal::from(100))
                .trunc()
                .to_string()
                .parse()
                .expect("minor"),
        })
        .collect()
}

fn read(spec: &StatementSpec, templates: &[Template]) -> Result<ParsedFile, String> {
    ledgerflow_import::pdf::parse(&spec.to_pdf(), "generated.pdf", templates).map_err(|e| e.reason)
}

#[test]
fn a_multi_page_statement_across_new_year_reads_back_row_for_row() {
    if !poppler() {
        return;
    }
    let (start, end) = (day(2023, 12, 16), day(2024, 1, 15));
    let mut spec = StatementSpec::new("Springfield Savings Bank", Amounts::DebitCredit, start, end);
    spec.opening_minor = 123_456;
    spec.rows = sample_rows(start, end, 70, 7);
    spec.rows_per_page = 24;
    if let Ok(dir) = std::env::var("LEDGERFLOW_KEEP_PDF") {
        std::fs::write(
            std::path::Path::new(&dir).join("multipage.pdf"),
            spec.to_pdf(),
        )
        .expect("keep");
    }
    let parsed = read(&spec, &[]).expect("reads");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(
        rows_of(&parsed),
        spec.rows,
        "every row, its year, its wrapped text and its sign"
    );
    let st = &parsed.statements[0];
    assert_eq!((st.start, st.end), (Some(start), Some(end)));
    assert!(
        parsed.evidence.iter().any(|w| w.contains("reconciles on")),
        "{:?}",
        parsed.evidence
    );
    assert!(
        parsed
            .evidence
            .iter()
            .any(|w| w.contains("opening balance 1234.56")),
        "{:?}",
        parsed.evidence
    );
    // Rows name their page and line; the third page holds rows too.
    let pages: Vec<u32> = st.transactions.iter().filter_map(|t| t.page).collect();
    assert_eq!((pages[0], pages[pages.len() - 1]), (1, 3));
}

#[test]
fn a_signed_amount_column_in_euros_with_decimal_commas() {
    if !poppler() {
        return;
    }
    let (start, end) = (day(2024, 3, 1), day(2024, 3, 31));
    let mut spec = StatementSpec::new("Bank Europa", Amounts::Signed, start, end);
    spec.currency = Some("EUR".into());
    spec.opening_minor = 25_000_000;
    spec.rows = sample_rows(start, end, 20, 3);
    let parsed = read(&spec, &[]).expect("reads");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(rows_of(&parsed), spec.rows);
}

#[test]
fn a_card_statement_has_charges_out_and_payments_in() {
    if !poppler() {
        return;
    }
    let (start, end) = (day(2024, 11, 20), day(2024, 12, 19));
    let mut spec = StatementSpec::new("Example Card Services", Amounts::CardMarked, start, end);
    spec.opening_minor = -51_240;
    spec.rows = sample_rows(start, end, 15, 11);
    let parsed = read(&spec, &[]).expect("reads");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(rows_of(&parsed), spec.rows);
    assert!(
        parsed
            .evidence
            .iter()
            .any(|w| w.contains("credit-card statement"))
    );
    assert!(
        parsed.evidence.iter().any(|w| w.contains("as printed")),
        "{:?}",
        parsed.evidence
    );
}

#[test]
fn a_statement_whose_rows_do_not_add_up_is_refused() {
    if !poppler() {
        return;
    }
    let (start, end) = (day(2024, 11, 20), day(2024, 12, 19));
    let mut spec = StatementSpec::new("Example Card Services", Amounts::CardMarked, start, end);
    spec.rows = sample_rows(start, end, 15, 11);
    spec.closing_error_minor = 1;
    let e = read(&spec, &[]).expect_err("refused");
    assert!(e.contains("do not add up"), "{e}");
}

#[test]
fn a_template_corrects_what_the_generic_reader_gets_wrong() {
    if !poppler() {
        return;
    }
    let (start, end) = (day(2024, 5, 1), day(2024, 5, 31));
    let mut spec = StatementSpec::new("Harbour Bank", Amounts::DebitCredit, start, end);
    spec.rows = sample_rows(start, end, 8, 5);
    spec.wrap_at = 200;
    spec.section_after = Some((3, "TRANSACTIONS FOR JANE DOE".into()));
    // Without a template the section line reads as the wrapped end of row 4.
    let generic = read(&spec, &[]).expect("reads");
    assert!(
        generic.statements[0].transactions[3]
            .payee
            .ends_with("TRANSACTIONS FOR JANE DOE")
    );
    let template = Template::from_toml(
        "name = \"harbour\"\nmatch = [\"Harbour Bank\"]\nskip = [\"TRANSACTIONS FOR\"]\n",
    )
    .expect("template");
    let parsed = read(&spec, &[template]).expect("reads");
    assert_eq!(parsed.profile.as_deref(), Some("harbour"));
    assert_eq!(rows_of(&parsed), spec.rows);
}

#[test]
fn scans_password_protected_and_tableless_pdfs_are_refused_with_their_reason() {
    if !poppler() {
        return;
    }
    let mut scan = Pdf::new();
    scan.image_page();
    scan.image_page();
    let e = ledgerflow_import::pdf::parse(&scan.to_bytes(), "scan.pdf", &[]).expect_err("scan");
    assert!(e.reason.contains("no text layer"), "{e}");

    let mut letter = Pdf::new();
    letter.page().text(
        50.0,
        50.0,
        12.0,
        "Dear customer, your statement is enclosed.",
    );
    let e =
        ledgerflow_import::pdf::parse(&letter.to_bytes(), "letter.pdf", &[]).expect_err("letter");
    assert!(e.reason.contains("no transaction table"), "{e}");

    let e = ledgerflow_import::pdf::parse(b"%PDF-1.4\nnot really", "broken.pdf", &[])
        .expect_err("broken");
    assert!(e.reason.contains("not a PDF that can be read"), "{e}");

    // Encrypted with a user password, by qpdf (a real encryptor).
    let dir = tempfile::tempdir().expect("tempdir");
    let (plain, locked) = (dir.path().join("plain.pdf"), dir.path().join("locked.pdf"));
    let (start, end) = (day(2024, 5, 1), day(2024, 5, 31));
    let mut spec = StatementSpec::new("Harbour Bank", Amounts::DebitCredit, start, end);
    spec.rows = sample_rows(start, end, 3, 5);
    std::fs::write(&plain, spec.to_pdf()).expect("write");
    let status = std::process::Command::new("qpdf")
        .args(["--encrypt", "secret", "owner", "256", "--"])
        .arg(&plain)
        .arg(&locked)
        .status();
    match status {
        Ok(s) if s.success() => {
            let bytes = std::fs::read(&locked).expect("read");
            let e = ledgerflow_import::pdf::parse(&bytes, "locked.pdf", &[]).expect_err("locked");
            assert!(e.reason.contains("password-protected"), "{e}");
        }
        _ => assert!(
            std::env::var("CI").is_err(),
            "qpdf is missing and CI is set"
        ),
    }
}

#[test]
fn the_corpus_pdfs_without_a_table_or_text_are_refused() {
    if !poppler() {
        return;
    }
    let Some(root) = corpora() else { return };
    for (rel, why) in [
        ("pdf/beangulp/acme/acmebank1.pdf", "no transaction table"),
        (
            "pdf/beangulp/Downloads/Statement.pdf",
            "no transaction table",
        ),
        ("pdf/ofxstatement-dutch/blank.pdf", "no text layer"),
    ] {
        let bytes = std::fs::read(root.join(rel)).expect("read");
        let e = parse(&bytes, rel, None).expect_err(rel);
        assert!(e.reason.contains(why), "{rel}: {e}");
    }
}

mod fuzz {
    use ledgerflow_import::pdf::{Page, Word, read_pages};
    use proptest::prelude::*;

    fn word() -> impl Strategy<Value = Word> {
        (
            0.0f64..600.0,
            0.0f64..120.0,
            0.0f64..840.0,
            0.0f64..20.0,
            prop::sample::select(vec![
                "09",
                "Sep",
                "23",
                "02/07",
                "31/12",
                "13/13",
                "2024-02-29",
                "07.02.",
                "Dec",
                "31,",
                "1,234.56",
                "-12.00",
                "(5.00)",
                "12.00-",
                "12.00CR",
                "CR",
                "D",
                "C",
                "€1.000,00",
                "2,42.48",
                "Balance",
                "brought",
                "forward",
                "Opening",
                "balance",
                "New",
                "Amount",
                "Debit",
                "Credit",
                "Paid",
                "out",
                "in",
                "Statement",
                "date",
                "period",
                "to",
                "from",
                "TOTAL",
                "Credit Card",
                "999999999999999.99",
                "0.00",
                "",
                " ",
            ]),
        )
            .prop_map(|(x, w, top, h, text)| Word {
                x0: x,
                x1: x + w,
                top,
                bottom: top + h,
                text: text.to_string(),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]
        /// No layout of words panics the table reader, and every row it reads has a page.
        #[test]
        fn any_layout_of_words_never_panics(pages in proptest::collection::vec(proptest::collection::vec(word(), 0..80), 1..4)) {
            let pages: Vec<Page> = pages
                .into_iter()
                .enumerate()
                .map(|(i, words)| Page { number: i as u32 + 1, width: 595.0, words })
                .collect();
            if let Ok(f) = read_pages(&pages, &[]) {
                for st in &f.statements {
                    prop_assert!(st.transactions.iter().all(|t| t.page.is_some()));
                }
            }
        }
    }
}

/// The import service on both engines: a PDF's preview names each row's page, the import
/// writes every row (two equal rows on one day included), the same PDF again is a no-op, and a
/// PDF that does not add up writes nothing.
#[tokio::test]
async fn a_pdf_statement_imports_on_both_engines_after_its_preview() {
    use crate::helpers::{assert_nothing_written, import_bytes, import_default, on_each_store};
    use ledgerflow_import::service::ImportOptions;
    if !poppler() {
        return;
    }
    let (start, end) = (day(2024, 1, 1), day(2024, 1, 31));
    let mut spec = StatementSpec::new("Springfield Savings Bank", Amounts::DebitCredit, start, end);
    spec.opening_minor = 500_000;
    spec.rows = sample_rows(start, end, 40, 9);
    // Two equal coffees on one day: both are real.
    let coffee = Row {
        date: day(2024, 1, 20),
        text: "COFFEE CORNER".into(),
        minor: -450,
    };
    spec.rows.push(coffee.clone());
    spec.rows.push(coffee);
    spec.rows.sort_by_key(|r| r.date);
    spec.rows_per_page = 30;
    let pdf = spec.to_pdf();
    let mut bad = spec.clone();
    bad.closing_error_minor = -100;
    let bad = bad.to_pdf();
    on_each_store(async |s, account| {
        let e = import_default(s, &account, "bad.pdf", &bad)
            .await
            .expect_err("refused");
        assert!(e.to_string().contains("do not add up"), "{e}");
        assert_nothing_written(s).await;

        let preview = import_bytes(
            s,
            &account,
            "statement.pdf",
            &pdf,
            &ImportOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .expect("preview");
        assert_eq!(preview.decisions.len(), 42);
        assert_eq!(preview.decisions[0].page, Some(1));
        assert_eq!(preview.decisions[41].page, Some(2));
        assert_nothing_written(s).await;

        let done = import_default(s, &account, "statement.pdf", &pdf)
            .await
            .expect("import");
        assert_eq!((done.new, done.duplicates), (42, 0));
        let batches = s.list_imports().await.expect("batches");
        assert_eq!(batches[0].format, "pdf");
        let again = import_default(s, &account, "statement.pdf", &pdf)
            .await
            .expect("again");
        assert!(again.already_imported.is_some());
        let total: i64 = spec.rows.iter().map(|r| r.minor).sum();
        let sums = s.account_sums().await.expect("sums");
        assert_eq!(sums, vec![(account.id, total)], "every row, exactly");
    })
    .await;
}
