//! Hostile input (issue 12): files built to exhaust a stack or memory are refused with one clear
//! sentence, and nothing is written. Deep nesting (B3): CAMT and OFX elements nest at most
//! `MAX_DEPTH` levels, on any thread. Long text (B5): a line, a CSV record or an element's text
//! over `MAX_LINE` bytes refuses the file without being read whole; a payee or memo over the
//! limits of manual entry refuses the file and names the line; a file name is cut to a label.

use std::io::Read;
use std::sync::Arc;

use ledgerflow_core::model::TxFilter;
use ledgerflow_import::service::{
    ImportError, ImportOptions, MAX_FILE_NAME, Quiet, Source, import_file,
};
use ledgerflow_import::{Format, MAX_DEPTH, MAX_LINE, parse};

use crate::helpers::{actor, assert_nothing_written, import_bytes, import_default, on_each_store};

const CAMT_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\n";

/// A CAMT document whose line 3 opens `levels` `<tag>` elements inside each other.
fn nested_camt(tag: &str, levels: usize) -> Vec<u8> {
    let mut s = String::from(CAMT_HEAD);
    s.push_str(&format!("<{tag}>").repeat(levels));
    s.push_str(&format!("</{tag}>").repeat(levels));
    s.push_str("\n</BkToCstmrStmt></Document>\n");
    s.into_bytes()
}

/// One booked CAMT entry.
fn camt_entry(k: usize) -> String {
    format!(
        "<Ntry><Amt Ccy=\"EUR\">{k}.25</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt><AcctSvcrRef>R{k}</AcctSvcrRef><NtryDtls><TxDtls><RltdPties><Cdtr><Nm>Shop {k}</Nm></Cdtr></RltdPties></TxDtls></NtryDtls></Ntry>"
    )
}

const OFX_SGML_HEAD: &str = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n";
const OFX_STATEMENT: &str = "<STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>123</BANKACCTFROM><BANKTRANLIST><STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-4.50<FITID>A1<NAME>COFFEE</STMTTRN></BANKTRANLIST></STMTRS>";

fn assert_refused_as_too_deep(
    result: Result<ledgerflow_import::ParsedFile, ledgerflow_import::ParseError>,
    line: usize,
) {
    let err = result.expect_err("refused");
    assert!(
        err.reason
            .contains(&format!("nested too deeply at line {line}")),
        "{err}"
    );
    assert!(err.to_string().len() < 200, "one short sentence: {err}");
}

#[test]
fn camt_nested_60_000_levels_is_refused_naming_the_line() {
    let bytes = nested_camt("Stmt", 60_000);
    assert!(bytes.len() > 750_000, "the issue's 780 KB file");
    assert_refused_as_too_deep(parse(&bytes, "deep.xml", Some(Format::Camt)), 3);
}

#[test]
fn camt_nested_200_000_levels_is_refused_as_inspect_reads_it() {
    // `import inspect` detects the format and parses on the main thread.
    for tag in ["Stmt", "Ntry", "X"] {
        let bytes = nested_camt(tag, 200_000);
        assert_refused_as_too_deep(parse(&bytes, "deep.xml", None), 3);
    }
}

#[test]
fn camt_at_the_depth_limit_still_parses() {
    // Document, BkToCstmrStmt, the wrappers, Stmt, then Ntry/NtryDtls/TxDtls/RltdPties/Cdtr/Nm:
    // the deepest element is at exactly MAX_DEPTH; one wrapper more is refused.
    let doc = |wrap: usize| {
        let mut s = String::from(CAMT_HEAD);
        s.push_str(&"<Wrap>".repeat(wrap));
        s.push_str(&format!("<Stmt>{}</Stmt>", camt_entry(1)));
        s.push_str(&"</Wrap>".repeat(wrap));
        s.push_str("</BkToCstmrStmt></Document>");
        s
    };
    let f = parse(doc(MAX_DEPTH - 9).as_bytes(), "ok.xml", Some(Format::Camt)).expect("parses");
    assert_eq!(f.transaction_count(), 1);
    assert_eq!(f.statements[0].transactions[0].payee, "Shop 1");
    assert_refused_as_too_deep(parse(doc(MAX_DEPTH - 8).as_bytes(), "x.xml", None), 3);
}

#[test]
fn ofx_nested_deeply_is_refused_sgml_and_xml() {
    // SGML: aggregates that are never closed.
    let mut sgml = format!("{OFX_SGML_HEAD}<OFX>\n");
    sgml.push_str(&"<BANKMSGSRSV1>".repeat(60_000));
    assert_refused_as_too_deep(parse(sgml.as_bytes(), "deep.ofx", None), 7);
    // XML, closed.
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?OFX OFXHEADER=\"200\" VERSION=\"220\"?>\n<OFX>\n",
    );
    xml.push_str(&"<STMTTRNRS>".repeat(200_000));
    xml.push_str(&"</STMTTRNRS>".repeat(200_000));
    xml.push_str("</OFX>\n");
    assert_refused_as_too_deep(parse(xml.as_bytes(), "deep.ofx", Some(Format::Ofx)), 4);
}

#[test]
fn ofx_at_the_depth_limit_still_parses() {
    // OFX, the wrappers, STMTRS, BANKTRANLIST, STMTTRN: aggregates exactly MAX_DEPTH deep
    // (leaves do not count); one wrapper more is refused.
    let doc = |wrap: usize| {
        format!(
            "{OFX_SGML_HEAD}<OFX>{}{OFX_STATEMENT}{}</OFX>",
            "<W>".repeat(wrap),
            "</W>".repeat(wrap)
        )
    };
    let f = parse(doc(MAX_DEPTH - 4).as_bytes(), "ok.ofx", None).expect("parses");
    assert_eq!(f.transaction_count(), 1);
    assert_refused_as_too_deep(parse(doc(MAX_DEPTH - 3).as_bytes(), "x.ofx", None), 6);
}

/// The web server's path: the import runs on a tokio worker (2 MiB of stack).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_upload_does_not_abort_a_tokio_worker() {
    on_each_store(async |s, account| {
        for bytes in [nested_camt("Stmt", 60_000), nested_camt("Ntry", 200_000)] {
            let err = import_default(s, &account, "deep.xml", &bytes)
                .await
                .expect_err("refused");
            assert!(
                matches!(err, ImportError::Parse(_))
                    && err.to_string().contains("nested too deeply at line 3"),
                "{err}"
            );
        }
        assert_nothing_written(s).await;
    })
    .await;
}

const WF_ROW: &str = "\"01/02/2024\",\"-4.50\",\"*\",\"\",\"COFFEE\"\n";

fn wf_row_with_payee(payee: &str) -> String {
    format!("\"01/03/2024\",\"-2.00\",\"*\",\"\",\"{payee}\"\n")
}

#[tokio::test]
async fn a_csv_with_a_1_mib_payee_imports_nothing_streamed_or_decoded_whole() {
    on_each_store(async |s, account| {
        let payee = "A".repeat(1 << 20);
        let utf8 = format!("{WF_ROW}{}", wf_row_with_payee(&payee)).into_bytes();
        // Not UTF-8 (a Windows-1252 é first): parsed in memory instead of streamed.
        let mut latin = utf8.clone();
        latin.splice(WF_ROW.len() + 29..WF_ROW.len() + 29, [0xE9]);
        for bytes in [&utf8, &latin] {
            let err = import_default(s, &account, "big.csv", bytes)
                .await
                .expect_err("refused");
            assert!(
                err.to_string()
                    .contains(&format!("line 2 is longer than {MAX_LINE} bytes")),
                "{err}"
            );
            assert!(err.to_string().len() < 200, "{err}");
        }
        assert_nothing_written(s).await;
    })
    .await;
}

#[tokio::test]
async fn a_payee_or_memo_over_the_manual_entry_limits_refuses_the_file_naming_the_line() {
    on_each_store(async |s, account| {
        let csv = format!("{WF_ROW}{}", wf_row_with_payee(&"P".repeat(501)));
        let qif_memo = |n: usize| {
            format!(
                "!Type:Bank\nD01/02/2024\nT-1.00\nPShop\nM{}\n^\nD01/04/2024\nT-3.00\nPBakery\n^\n",
                "m".repeat(n)
            )
        };
        // Into an empty account (one pass) and into one with history (scan, then write).
        for history in [false, true] {
            if history {
                import_default(
                    s,
                    &account,
                    "first.csv",
                    b"\"01/01/2024\",\"-1.00\",\"*\",\"\",\"FIRST\"\n",
                )
                .await
                .expect("history");
            }
            let before = s.counts().await.expect("counts").transactions;
            for (name, bytes, said) in [
                (
                    "payee.csv",
                    csv.clone(),
                    "line 2: payee is longer than 500 characters",
                ),
                (
                    "memo.qif",
                    qif_memo(4_001),
                    "line 2: memo is longer than 4000 characters",
                ),
            ] {
                let err = import_default(s, &account, name, bytes.as_bytes())
                    .await
                    .expect_err("refused");
                assert!(
                    matches!(err, ImportError::BadRows { .. }) && err.to_string().contains(said),
                    "{err}"
                );
                assert_eq!(s.counts().await.expect("counts").transactions, before);
            }
            // --skip-invalid skips that row, and says so; nothing is cut short.
            let summary = import_bytes(
                s,
                &account,
                &format!("payee-{history}.csv"),
                csv.as_bytes(),
                &ImportOptions {
                    skip_invalid: true,
                    ..ImportOptions::default()
                },
            )
            .await
            .expect("skip invalid");
            assert_eq!((summary.new, summary.skipped), (1, 1), "{summary:?}");
            assert!(summary.skipped_rows[0].contains("payee is longer"));
            s.undo_import(&actor(), summary.batch_id.expect("batch"))
                .await
                .expect("undo");
        }
        // At the limit, the memo is kept whole.
        let summary = import_default(s, &account, "memo-ok.qif", qif_memo(4_000).as_bytes())
            .await
            .expect("imports");
        assert_eq!(summary.new, 2);
        let page = s
            .list_transactions(&TxFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("list");
        assert!(
            page.items.iter().any(|t| t.memo.len() == 4_000),
            "the memo is whole"
        );
    })
    .await;
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Streams `reader` as a Wells Fargo CSV: the error, and how many bytes were read for it.
fn stream_counting(reader: impl Read) -> (String, usize) {
    let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = Counting {
        inner: reader,
        read: read.clone(),
    };
    let profile = ledgerflow_import::csv::preset("wellsfargo").expect("preset");
    let result =
        ledgerflow_import::csv::stream(std::io::BufReader::new(counting), &profile, &mut |_| true);
    let reason = match result {
        Err(ledgerflow_import::csv::StreamError::Parse(reason)) => reason,
        Err(_) => "another error".into(),
        Ok(_) => "no error".into(),
    };
    (reason, read.load(std::sync::atomic::Ordering::Relaxed))
}

/// Gives `good` bytes, then fails as a disk would.
struct FailingAfter {
    good: std::io::Cursor<Vec<u8>>,
}

impl Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.good.read(buf)? {
            0 => Err(std::io::Error::other("the disk went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_reader_that_fails_mid_stream_is_an_io_error_not_a_parse_error() {
    let profile = ledgerflow_import::csv::preset("wellsfargo").expect("preset");
    let reader = FailingAfter {
        good: std::io::Cursor::new(WF_ROW.repeat(3).into_bytes()),
    };
    let result =
        ledgerflow_import::csv::stream(std::io::BufReader::new(reader), &profile, &mut |_| true);
    match result {
        Err(ledgerflow_import::csv::StreamError::Io(e)) => {
            assert_eq!(e.to_string(), "the disk went away");
        }
        Err(other) => panic!("an I/O error, not {other:?}"),
        Ok(_) => panic!("an I/O error, not a file"),
    }
}

#[test]
fn a_60_mb_line_is_refused_without_being_read_whole() {
    // One line of 60 MB, never held: the reader is stopped after the limit.
    let (reason, read) = stream_counting(std::io::repeat(b'x').take(60 << 20));
    assert_eq!(reason, format!("line 1 is longer than {MAX_LINE} bytes"));
    assert!(read < 4 * MAX_LINE, "read {read} bytes");
    // A good row, then a quoted field of 60 MB of short lines: one record, refused at its start.
    let body = std::io::repeat(b'\n').take(60 << 20);
    let (reason, read) = stream_counting(
        std::io::Cursor::new(format!("{WF_ROW}\"01/03/2024\",\"-2.00\",\"*\",\"\",\"")).chain(body),
    );
    assert_eq!(reason, format!("line 2 is longer than {MAX_LINE} bytes"));
    assert!(read < 4 * MAX_LINE, "read {read} bytes");
    // Just under the limit is fine.
    let row = wf_row_with_payee(&"x".repeat(MAX_LINE - 40));
    assert!(row.len() < MAX_LINE);
    let (reason, _) = stream_counting(std::io::Cursor::new(format!("{WF_ROW}{row}")));
    assert_eq!(reason, "no error");
}

#[test]
fn a_one_line_file_of_2_mib_is_refused_by_every_parser() {
    let long = "x".repeat(2 << 20);
    let profile = ledgerflow_import::csv::preset("wellsfargo").expect("preset");
    let csv = format!("\"01/02/2024\",\"-1.00\",\"*\",\"\",\"{long}\"");
    let err = ledgerflow_import::csv::parse(csv.as_bytes(), "one.csv", Some(&profile))
        .expect_err("refused");
    assert_eq!(
        err.reason,
        format!("line 1 is longer than {MAX_LINE} bytes")
    );
    let qif = format!("!Type:Bank\nP{long}\n");
    let err = parse(qif.as_bytes(), "one.qif", None).expect_err("refused");
    assert_eq!(
        err.reason,
        format!("line 2 is longer than {MAX_LINE} bytes")
    );
    // OFX and CAMT files are often one line: their limit is on a value or a tag.
    let ofx = format!("{OFX_SGML_HEAD}<OFX><STMTRS><STMTTRN><NAME>{long}</STMTTRN></STMTRS></OFX>");
    let err = parse(ofx.as_bytes(), "one.ofx", None).expect_err("refused");
    assert!(
        err.reason.contains("a value is longer than 65536 bytes"),
        "{err}"
    );
    let ofx = format!("{OFX_SGML_HEAD}<OFX><{long}></OFX>");
    let err = parse(ofx.as_bytes(), "one.ofx", None).expect_err("refused");
    assert!(
        err.reason.contains("a tag is longer than 65536 bytes"),
        "{err}"
    );
    let camt =
        format!("{CAMT_HEAD}<Stmt><Ntry><Nm>{long}</Nm></Ntry></Stmt></BkToCstmrStmt></Document>");
    let err = parse(camt.as_bytes(), "one.xml", None).expect_err("refused");
    assert!(
        err.reason
            .contains("line 3: the text of <Nm> is longer than 65536 bytes"),
        "{err}"
    );
    assert!(err.to_string().len() < 200, "{err}");
}

#[tokio::test]
async fn a_one_line_file_of_2_mib_on_disk_imports_nothing() {
    on_each_store(async |s, account| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("one.csv");
        std::fs::write(&path, "x".repeat(2 << 20)).expect("write");
        let err = import_file(
            s,
            &actor(),
            &account,
            "one.csv",
            Source::Path(path),
            &ImportOptions {
                profile: ledgerflow_import::csv::preset("wellsfargo"),
                ..ImportOptions::default()
            },
            Arc::new(Quiet),
        )
        .await
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("one.csv: line 1 is longer than {MAX_LINE} bytes")
        );
        assert_nothing_written(s).await;
    })
    .await;
}

#[test]
fn one_line_and_pretty_printed_camt_files_over_64_kib_still_parse() {
    let entries: Vec<String> = (0..3_000).map(camt_entry).collect();
    // One line of ~700 KB.
    let one_line = format!(
        "{}<Stmt>{}</Stmt></BkToCstmrStmt></Document>",
        CAMT_HEAD.replace('\n', ""),
        entries.concat()
    );
    // Indented: the statement holds more than 64 KiB of whitespace between its entries.
    let indent = format!("\n{}", " ".repeat(24));
    let pretty = format!(
        "{CAMT_HEAD}<Stmt>{indent}{}\n</Stmt></BkToCstmrStmt></Document>",
        entries.join(&indent)
    );
    for doc in [one_line, pretty] {
        let f = parse(doc.as_bytes(), "big.xml", Some(Format::Camt)).expect("parses");
        assert_eq!(f.transaction_count(), 3_000);
        assert!(f.errors.is_empty());
    }
}

#[tokio::test]
async fn a_5000_character_file_name_becomes_a_255_character_label() {
    on_each_store(async |s, account| {
        let name = format!("{}.csv", "é".repeat(4_996));
        assert_eq!(name.chars().count(), 5_000);
        let summary = import_default(s, &account, &name, WF_ROW.as_bytes())
            .await
            .expect("imports");
        assert_eq!(summary.file.chars().count(), MAX_FILE_NAME);
        assert!(summary.file.ends_with('…'), "{}", summary.file);
        let batches = s.list_imports().await.expect("imports");
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].file_name, summary.file);
        // Messages carry the label too.
        let err = import_default(
            s,
            &account,
            &format!("{name}\n"),
            b"\"13/45/2024\",\"-1.00\",\"*\",\"\",\"BAD\"\n",
        )
        .await
        .expect_err("refused");
        assert!(err.to_string().len() < 1_000, "{err}");
    })
    .await;
}

/// A CSV of `n` rows of `amount` (payees `{payee} k`), and the options that read it.
fn big_rows(n: usize, payee: &str, amount: &str) -> (String, ImportOptions) {
    let file: String = std::iter::once("Date,Payee,Amount\n".to_string())
        .chain((0..n).map(|k| format!("2024-01-{:02},{payee} {k},{amount}\n", k % 28 + 1)))
        .collect();
    let opts = ImportOptions {
        profile: ledgerflow_import::csv::infer(&file, "UTF-8")
            .ok()
            .map(|i| i.profile),
        ..Default::default()
    };
    (file, opts)
}

/// The refusal of a write that would make an account's balance overflow.
fn says_overflow(e: impl std::fmt::Display) {
    assert!(e.to_string().contains("more than a ledger can hold"), "{e}");
}

/// Rows each within the limits of manual entry whose total no ledger can hold (10,000 rows of ten
/// trillion dollars, then 5,000 on top of 5,000): refused whole, in the preview as in the
/// import, so balances, reports and backups' manifests keep summing; nothing is written.
#[tokio::test]
async fn rows_whose_total_overflows_the_account_are_refused_whole() {
    on_each_store(async |s, account| {
        let (file, opts) = big_rows(10_000, "Payee", "9999999999999.99");
        for dry_run in [true, false] {
            let opts = ImportOptions {
                dry_run,
                ..opts.clone()
            };
            says_overflow(
                import_bytes(s, &account, "huge.csv", file.as_bytes(), &opts)
                    .await
                    .expect_err("refused"),
            );
        }
        assert_nothing_written(s).await;
        // Within the limit alone, but not on top of what the account holds.
        let (five, _) = big_rows(5_000, "Payee", "9999999999999.99");
        import_bytes(s, &account, "five.csv", five.as_bytes(), &opts)
            .await
            .expect("five thousand rows fit");
        let (more, _) = big_rows(5_000, "Other", "9999999999999.98");
        says_overflow(
            import_bytes(s, &account, "more.csv", more.as_bytes(), &opts)
                .await
                .expect_err("refused on top"),
        );
        let sums = s.account_sums().await.expect("the account still sums");
        assert_eq!(sums, vec![(account.id, 5_000 * 999_999_999_999_999)]);
    })
    .await;
}

/// An account a few hundred billion minor units short of the most a ledger can hold: a row
/// added by hand, an amount edited up, a deleted row, a raised opening balance and an import
/// that would pass the limit are each refused, saying why; the account keeps summing.
#[tokio::test]
async fn no_write_makes_an_accounts_balance_overflow() {
    use ledgerflow_core::model::TxStatus;
    use ledgerflow_core::service::{self, AccountChanges, TxChanges, TxInput};
    on_each_store(async |s, account| {
        let (file, opts) = big_rows(9_223, "Payee", "9999999999999.99");
        import_bytes(s, &account, "near.csv", file.as_bytes(), &opts)
            .await
            .expect("fits, barely");
        let input = |amount: &'static str| TxInput {
            account: &account,
            date: "2024-02-01",
            amount,
            payee: "By hand",
            description: "",
            memo: "",
            category: None,
            status: TxStatus::Cleared,
        };
        says_overflow(
            service::add_transaction(s, &actor(), &input("9999999999999.99"))
                .await
                .expect_err("refused"),
        );
        let small = service::add_transaction(s, &actor(), &input("-1.00"))
            .await
            .expect("a small row fits");
        let changes = TxChanges {
            amount: Some("9999999999999.99"),
            ..Default::default()
        };
        says_overflow(
            service::patch_transaction(s, &actor(), small.id, &changes)
                .await
                .expect_err("refused"),
        );
        says_overflow(
            service::update_account(
                s,
                &actor(),
                account.id,
                &AccountChanges {
                    opening_balance: Some("9999999999999.99"),
                    ..Default::default()
                },
            )
            .await
            .expect_err("refused"),
        );
        let more = "Date,Payee,Amount\n2024-03-01,Late,9999999999999.99\n";
        says_overflow(
            import_bytes(s, &account, "more.csv", more.as_bytes(), &opts)
                .await
                .expect_err("refused"),
        );
        let sums = s.account_sums().await.expect("the account still sums");
        assert_eq!(sums, vec![(account.id, 9_223 * 999_999_999_999_999 - 100)]);
    })
    .await;
}

/// A quote left open swallows the rows after it into one cell: the row is an error that names
/// its line (it was imported with the next row lost). A memo over two lines is still a memo.
#[tokio::test]
async fn a_quote_left_open_over_the_next_row_is_a_row_error_and_a_two_line_memo_is_not() {
    let row =
        |d: u32, text: &str| format!("\"01/{d:02}/2024\",\"-{d}.00\",\"*\",\"\",\"{text}\"\n");
    let broken = format!(
        "{}\"01/02/2024\",\"-2.00\",\"*\",\"\",\"POS unterminated\n{}{}",
        row(1, "ONE"),
        row(3, "THREE"),
        row(4, "FOUR")
    );
    let f = parse(broken.as_bytes(), "open-quote.csv", Some(Format::Csv)).expect("parses");
    assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
    assert_eq!(f.errors[0].line, 2);
    assert!(
        f.errors[0].reason.contains("missing closing quote"),
        "{}",
        f.errors[0]
    );
    let two_lines = format!(
        "{}{}",
        row(1, "ONE\nSECOND LINE OF THE MEMO"),
        row(2, "TWO")
    );
    let f = parse(two_lines.as_bytes(), "memo.csv", Some(Format::Csv)).expect("parses");
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert_eq!(f.transaction_count(), 2);
    // Streamed (an import), the file is refused and nothing is written.
    on_each_store(async |s, account| {
        let err = import_default(s, &account, "open-quote.csv", broken.as_bytes())
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert_nothing_written(s).await;
    })
    .await;
}
