//! Fuzz targets for every parser (proptest): arbitrary bytes, mutated real samples (the seeds
//! below, plus the small files of `../shared/corpora` when present), generated deep nesting,
//! long lines, and CSV streamed in odd-sized pieces. The property: a parser never panics; it
//! returns a file or a clear error (one short sentence naming the file); every row error names a
//! line; every amount is an exact decimal that becomes integer minor units exactly or is refused,
//! never rounded.
//!
//! Short by default (256 cases a target, a few seconds); a long run sets `PROPTEST_CASES`:
//! `PROPTEST_CASES=200000 cargo test --release -p ledgerflow-import fuzz`. The costly targets
//! (long lines, deep nesting) run a sixteenth of that.

use std::io::Read;
use std::sync::OnceLock;

use ledgerflow_core::Currency;
use ledgerflow_import::csv::{CsvItem, Profile, StreamError, preset, presets};
use ledgerflow_import::qif::DateOrder;
use ledgerflow_import::{
    Format, MAX_DEPTH, MAX_LINE, ParseError, ParsedFile, camt, csv, detect, mt940, ofx, parse, qif,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rust_decimal::Decimal;

use crate::helpers::{corpora, sample_files};

/// Cases per target: `PROPTEST_CASES`, or a short run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config(divisor: u32) -> ProptestConfig {
    ProptestConfig {
        cases: (cases() / divisor).max(16),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// The name every fuzzed file goes by.
const FILE: &str = "fuzz";

/// The longest error a user should have to read, in bytes.
const MAX_REASON: usize = 512;

fn check_error(e: &ParseError) -> Result<(), TestCaseError> {
    prop_assert_eq!(&e.file, FILE);
    prop_assert!(!e.reason.trim().is_empty(), "an empty reason");
    prop_assert!(e.reason.len() <= MAX_REASON, "a long reason: {}", e.reason);
    Ok(())
}

/// The property every parse must have.
fn check(result: &Result<ParsedFile, ParseError>) -> Result<(), TestCaseError> {
    let f = match result {
        Err(e) => return check_error(e),
        Ok(f) => f,
    };
    for e in &f.errors {
        prop_assert!(e.line > 0, "a row error without a line: {e:?}");
        prop_assert!(!e.reason.trim().is_empty());
        prop_assert!(e.reason.len() <= MAX_REASON, "a long reason: {}", e.reason);
    }
    for w in &f.warnings {
        prop_assert!(w.len() <= MAX_REASON, "a long warning: {w}");
    }
    for t in f.statements.iter().flat_map(|s| &s.transactions) {
        prop_assert!(t.line > 0, "a transaction without a line: {t:?}");
        check_amount(t.amount)?;
    }
    Ok(())
}

/// An amount becomes integer minor units exactly, or is refused: never rounded.
fn check_amount(amount: Decimal) -> Result<(), TestCaseError> {
    for currency in currencies() {
        if let Ok(minor) = currency.decimal_to_minor(amount, "") {
            let back = Decimal::from(minor) / Decimal::from(10_i64.pow(currency.exponent()));
            prop_assert_eq!(back, amount, "{} in {}", amount, currency.code());
        }
    }
    Ok(())
}

fn currencies() -> &'static [Currency] {
    static C: OnceLock<Vec<Currency>> = OnceLock::new();
    C.get_or_init(|| {
        ["USD", "JPY", "BHD"]
            .iter()
            .filter_map(|c| Currency::from_code(c).ok())
            .collect()
    })
}

/// Every parser, every way it can be called on a whole file.
fn parse_every_way(bytes: &[u8]) -> Result<(), TestCaseError> {
    check(&ofx::parse(bytes, FILE))?;
    check(&camt::parse(bytes, FILE))?;
    check(&mt940::parse(bytes, FILE))?;
    check(&qif::parse(bytes, FILE, DateOrder::MonthFirst))?;
    check(&qif::parse(bytes, FILE, DateOrder::DayFirst))?;
    check(&csv::parse(bytes, FILE, None))?;
    for p in all_presets() {
        check(&csv::parse(bytes, FILE, Some(p)))?;
    }
    check(&parse(bytes, FILE, None))?;
    let _ = detect(bytes);
    let _ = ledgerflow_import::model::parse_amount(&String::from_utf8_lossy(bytes));
    Ok(())
}

fn all_presets() -> &'static [Profile] {
    static P: OnceLock<Vec<Profile>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = presets();
        // A European profile: semicolons, decimal commas, a preamble and a footer.
        v.push(Profile {
            name: "euro".into(),
            delimiter: ";".into(),
            encoding: "windows-1252".into(),
            skip_lines: 1,
            skip_footer: 1,
            has_header: true,
            date: csv::Column::Name("Datum".into()),
            date_format: "%d.%m.%Y".into(),
            amount: Some(csv::Column::Name("Betrag".into())),
            payee: csv::Column::Index(1),
            memo: Some(csv::Column::Index(3)),
            decimal: ",".into(),
            thousands: ".".into(),
            ..v[0].clone()
        });
        v
    })
}

const OFX_SGML: &str = "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nCHARSET:1252\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>USD<BANKACCTFROM><ACCTID>123</BANKACCTFROM>\n<BANKTRANLIST><DTSTART>20240101<DTEND>20240131\n<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105120000.000[-5:EST]<TRNAMT>-4.50<FITID>A1<NAME>AT&T WIRELESS<MEMO>bill &amp; more</STMTTRN>\n<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240131<TRNAMT>+1000,00<FITID>A2<NAME>PAYROLL</NAME><MEMO/></STMTTRN>\n</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>";
const OFX_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?OFX OFXHEADER=\"200\" VERSION=\"220\"?>\n<OFX><CREDITCARDMSGSRSV1><CCSTMTTRNRS><CCSTMTRS><CURDEF>EUR</CURDEF><CCACCTFROM><ACCTID>9</ACCTID></CCACCTFROM><BANKTRANLIST><STMTTRN><DTPOSTED>20240102</DTPOSTED><TRNAMT>-1.5</TRNAMT><NAME><![CDATA[Caf\u{e9} & Co]]></NAME></STMTTRN></BANKTRANLIST></CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1></OFX>";
const QIF: &str = "!Account\nNChecking\nTBank\n^\n!Type:Bank\nD12/19/18\nT-1,234.56\nPLandlord\nL[Savings]\n^\nD12/20'18\nT-30.00\nPShop\nMmemo\nSFood\n$-20.00\nSHome\n$-10.00\n^\n!Type:Cat\nNFood\n^\n";
const CAMT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt>
<Acct><Id><IBAN>DE14740618130000033626</IBAN></Id><Ccy>EUR</Ccy></Acct>
<Ntry><Amt Ccy="EUR">3.45</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-01-02</Dt></BookgDt><ValDt><Dt>2024-01-03</Dt></ValDt><AcctSvcrRef>R1</AcctSvcrRef>
<NtryDtls><TxDtls><Amt Ccy="EUR">2.25</Amt><RltdPties><Cdtr><Nm>Bakery &amp; Sons</Nm></Cdtr></RltdPties><RmtInf><Ustrd>bread</Ustrd></RmtInf></TxDtls>
<TxDtls><Amt Ccy="EUR">1.20</Amt><RltdPties><Cdtr><Nm>Kiosk</Nm></Cdtr></RltdPties></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><RvslInd>true</RvslInd><Sts>BOOK</Sts><BookgDt><DtTm>2024-01-05T10:00:00</DtTm></BookgDt></Ntry>
<Ntry><Amt Ccy="EUR">99.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts><BookgDt><Dt>2024-01-06</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>"#;
const CSV_SEEDS: &[&str] = &[
    "\"12/04/2009\",\"-12.07\",\"*\",\"\",\"CHECK CRD PURCHASE 12/02 EUPHORIA\"\n\"12/04/2009\",\"-789.00\",\"*\",\"2392\",\"CHECK # 2392\"\n",
    "Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\nDEBIT,01/02/2024,\"COFFEE, \"\"BEST\"\"\",-4.50,DEBIT_CARD,95.50,\nCHECK,01/03/2024,CHECK 101,-100.00,CHECK_PAID,-4.50,101\n",
    "Description,,Summary Amt.\nBeginning balance,,100.00\n\nDate,Description,Amount,Running Bal.\n01/02/2024,COFFEE,-4.50,95.50\n",
    "Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit\n2024-01-03,2024-01-04,1234,STORE,Shopping,25.10,\n2024-01-05,2024-01-05,1234,PAYMENT,Payment,,100.00\n",
    "Status,Date,Description,Debit,Credit\nCleared,01/02/2024,\"MULTI\nLINE\",1.00,\nPending,01/03/2024,X,,2.00\n",
    "Trans. Date,Post Date,Description,Amount,Category\n01/02/2024,01/02/2024,STORE,25.00,Shopping\n",
    "Konto;Girokonto\nDatum;Empfaenger;Betrag;Zweck\n31.01.2024;Miete;-1.234,56;Januar\n01.02.2024;Gehalt;2.500,00;\nSaldo;;;\n",
];

/// Seeds to mutate, each with its format: the ones above, and the corpora's small files.
fn seeds() -> &'static [(Format, Vec<u8>)] {
    static S: OnceLock<Vec<(Format, Vec<u8>)>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v: Vec<(Format, Vec<u8>)> = vec![
            (Format::Ofx, OFX_SGML.into()),
            (Format::Ofx, OFX_XML.into()),
            (Format::Qif, QIF.into()),
            (Format::Camt, CAMT.into()),
        ];
        v.extend(
            CSV_SEEDS
                .iter()
                .map(|s| (Format::Csv, s.as_bytes().to_vec())),
        );
        if let Some(root) = corpora() {
            for (folder, format) in [
                ("ofx", Format::Ofx),
                ("qif", Format::Qif),
                ("camt", Format::Camt),
                ("mt940", Format::Mt940),
                ("csv", Format::Csv),
            ] {
                // Sample files up to 32 KiB.
                for p in sample_files(&root.join(folder)) {
                    let small = std::fs::metadata(&p).is_ok_and(|m| m.len() <= 32 * 1024);
                    if small && let Ok(bytes) = std::fs::read(&p) {
                        v.push((format, bytes));
                    }
                }
            }
        }
        v
    })
}

/// Pieces the mutations splice in: the formats' own syntax and troublesome bytes.
const TOKENS: &[&str] = &[
    ":20:",
    ":61:2401020102RD1,5NTRFNONREF//B\n",
    ":86:166?00X?20y?32z\n",
    ":60F:C240101EUR0,\n",
    ":62F:D240102EUR1,5\n",
    "{4:\n",
    "-}",
    "<OFX>",
    "<STMTRS>",
    "</STMTRS>",
    "<STMTTRN>",
    "</STMTTRN>",
    "<DTPOSTED>",
    "20240101",
    "<TRNAMT>",
    "-1,5",
    "&",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "<![CDATA[",
    "]]>",
    "<MEMO/>",
    "</",
    "<",
    ">",
    "!Type:Bank\n",
    "D01/02/2024\n",
    "T-1.00\n",
    "^\n",
    "S\n",
    "$-1\n",
    "!Account\n",
    "D31/31/99\n",
    "\"",
    ",",
    ";",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "\"\"",
    "<Stmt>",
    "</Stmt>",
    "<Ntry>",
    "</Ntry>",
    "<Amt Ccy=\"EUR\">",
    "</Amt>",
    "<CdtDbtInd>DBIT</CdtDbtInd>",
    "<RvslInd>true</RvslInd>",
    "<?xml version=\"1.0\" encoding=\"windows-1252\"?>",
    "\u{feff}",
    "\u{0}",
    "é",
    "\u{1F600}",
    "99999999999999999999999999999",
    "0.0000000000000000000000000001",
    "(1.00)",
    "1.234,56",
    "12.50-",
    "$",
    "€",
    "-",
    "+",
    ".",
    "\u{a0}",
];

/// One edit of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Token(at, t)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1usize..256).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for m in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, x) if !b.is_empty() => {
                let i = i % b.len();
                b[i] ^= x.max(&1);
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, bytes) => {
                let i = at(*i, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Token(i, t) => {
                let i = at(*i, b.len());
                b.splice(i..i, TOKENS[*t].bytes());
            }
            Mutation::Delete(i, n) => {
                let i = at(*i, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Duplicate(i, n) => {
                let i = at(*i, b.len());
                let end = (i + n).min(b.len());
                let piece = b[i..end].to_vec();
                b.splice(end..end, piece);
            }
            Mutation::Truncate(i) => {
                let i = at(*i, b.len());
                b.truncate(i);
            }
        }
    }
    b
}

/// A reader that hands out at most `step` bytes a read (so lines and records are cut anywhere).
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

/// What a CSV stream produced: transactions, row errors, or why it stopped.
fn stream_all(reader: impl std::io::BufRead, profile: &Profile) -> Result<(usize, usize), String> {
    let (mut txns, mut errors) = (0, 0);
    let result = csv::stream(reader, profile, &mut |item| {
        match item {
            CsvItem::Txn(t) => {
                txns += 1;
                assert!(t.line > 0);
            }
            CsvItem::Error(e) => {
                errors += 1;
                assert!(e.line > 0 && e.reason.len() <= MAX_REASON, "{e:?}");
            }
        }
        true
    });
    match result {
        Ok(_) => Ok((txns, errors)),
        Err(StreamError::Parse(reason)) => Err(reason),
        Err(StreamError::NotUtf8) => Err("not UTF-8".into()),
        Err(StreamError::Stopped) => Err("stopped".into()),
        Err(StreamError::Io(e)) => Err(e.to_string()),
    }
}

/// A document of the format with a statement inside `depth` wrapping elements.
fn nested(format: Format, tag: &str, depth: usize, closed: bool) -> String {
    let open = format!("<{tag}>").repeat(depth);
    let close = if closed {
        format!("</{tag}>").repeat(depth)
    } else {
        String::new()
    };
    match format {
        Format::Camt => format!(
            "<?xml version=\"1.0\"?><Document><BkToCstmrStmt>{open}<Stmt><Ntry><Amt>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt></Ntry></Stmt>{close}</BkToCstmrStmt></Document>"
        ),
        _ => format!(
            "OFXHEADER:100\n\n<OFX>{open}<STMTRS><BANKTRANLIST><STMTTRN><DTPOSTED>20240105<TRNAMT>-4.50</STMTTRN></BANKTRANLIST></STMTRS>{close}</OFX>"
        ),
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// Any bytes at all, through every parser.
    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        parse_every_way(&bytes)?;
    }

    /// Any text (valid UTF-8, any characters).
    #[test]
    fn arbitrary_text(text in "\\PC{0,600}") {
        parse_every_way(text.as_bytes())?;
    }

    /// Real files with a few edits, read as their format and as detected.
    #[test]
    fn mutated_samples(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(mutation(), 1..12),
    ) {
        let seeds = seeds();
        let (format, seed) = &seeds[pick.index(seeds.len())];
        let bytes = mutate(seed, &edits);
        check(&parse(&bytes, FILE, Some(*format)))?;
        check(&parse(&bytes, FILE, None))?;
        if *format == Format::Csv {
            for p in all_presets() {
                check(&csv::parse(&bytes, FILE, Some(p)))?;
            }
        }
    }

    /// A CSV file streamed in pieces of any size reads as it does whole.
    #[test]
    fn csv_streamed_in_pieces_reads_as_whole(
        pick in 0..CSV_SEEDS.len(),
        edits in proptest::collection::vec(mutation(), 0..8),
        step in 1usize..64,
        capacity in 1usize..128,
    ) {
        let bytes = mutate(CSV_SEEDS[pick].as_bytes(), &edits);
        if std::str::from_utf8(&bytes).is_ok() {
            for p in all_presets() {
                let whole = stream_all(&bytes[..], p);
                let pieces = stream_all(
                    std::io::BufReader::with_capacity(capacity, Trickle { bytes: &bytes, step }),
                    p,
                );
                prop_assert_eq!(&whole, &pieces, "preset {}", p.name);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(1))]

    /// Amount text is read exactly or not at all: never rounded to fit.
    #[test]
    fn amount_text_is_exact_or_refused(
        negative in any::<bool>(),
        int in "[1-9][0-9]{0,34}|0",
        frac in "[0-9]{0,34}",
    ) {
        let text = match (negative, frac.is_empty()) {
            (false, true) => int.clone(),
            (false, false) => format!("{int}.{frac}"),
            (true, true) => format!("-{int}"),
            (true, false) => format!("-{int}.{frac}"),
        };
        let parsed = ledgerflow_import::model::parse_amount(&text);
        if let Some(d) = parsed {
            prop_assert_eq!(d.abs().to_string(), text.trim_start_matches('-'));
            prop_assert!(d.is_zero() || d.is_sign_negative() == negative, "{} read as {}", text, d);
        }
        let profile = preset("chase-checking").expect("preset");
        let csv = format!("Details,Posting Date,Description,Amount,Type,Balance,Check or Slip #\nDEBIT,01/02/2024,X,{text},T,0,\n");
        check(&csv::parse(csv.as_bytes(), FILE, Some(&profile)))?;
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// Elements nested inside each other: read within the limit, refused beyond it.
    #[test]
    fn deep_nesting(
        format in prop_oneof![Just(Format::Ofx), Just(Format::Camt)],
        tag in prop::sample::select(vec!["X", "Stmt", "Ntry", "STMTRS", "OFX", "Document", "a:b"]),
        depth in 0usize..(3 * MAX_DEPTH),
        closed in any::<bool>(),
    ) {
        let doc = nested(format, tag, depth, closed);
        let result = parse(doc.as_bytes(), FILE, Some(format));
        check(&result)?;
        if depth > MAX_DEPTH {
            let refused = result.as_ref().err().is_some_and(|e| e.reason.contains("nested too deeply at line"));
            prop_assert!(refused, "depth {}: {:?}", depth, result.map(|f| f.transaction_count()));
        } else if depth + 8 < MAX_DEPTH && closed && tag == "X" {
            prop_assert!(result.is_ok(), "depth {}: {:?}", depth, result);
        }
    }

    /// Lines, records and values around the length limit, in every format.
    #[test]
    fn long_lines(
        len in prop_oneof![(MAX_LINE - 70)..(MAX_LINE + 70), 0usize..(3 * MAX_LINE)],
        fill in prop::sample::select(vec!["x", "é", " ", "\"", ",", "\r", "<", "&amp;"]),
        which in 0usize..5,
    ) {
        let long: String = fill.repeat(len / fill.len() + 1).chars().take(len).collect();
        let bytes = match which {
            0 => format!("\"01/02/2024\",\"-1.00\",\"*\",\"\",\"{long}\"\n").into_bytes(),
            1 => format!("Date,Description,Amount,Running Bal.\n01/02/2024,{long},-1.00,0\n").into_bytes(),
            2 => format!("!Type:Bank\nD01/02/2024\nT-1.00\nP{long}\n^\n").into_bytes(),
            3 => format!("OFXHEADER:100\n\n<OFX><STMTRS><STMTTRN><DTPOSTED>20240105<TRNAMT>-4.50<NAME>{long}</STMTTRN></STMTRS></OFX>").into_bytes(),
            _ => format!("<?xml version=\"1.0\"?><Document><BkToCstmrStmt><Stmt><Ntry><Amt>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2024-01-02</Dt></BookgDt><AddtlNtryInf>{long}</AddtlNtryInf></Ntry></Stmt></BkToCstmrStmt></Document>").into_bytes(),
        };
        let result = parse(&bytes, FILE, None);
        check(&result)?;
        if let Some(p) = preset("wellsfargo").filter(|_| which == 0) {
            check(&csv::parse(&bytes, FILE, Some(&p)))?;
        }
        // Far beyond the limit, every format refuses plain text; well within it, none does.
        let refused = result.as_ref().err().is_some_and(|e| e.reason.contains("longer than 65536 bytes"));
        if long.len() > MAX_LINE + 64 && (fill == "x" || fill == "é") {
            prop_assert!(refused, "{} bytes of {:?} in format {}: {:?}", long.len(), fill, which, result.err());
        }
        if long.len() + 64 < MAX_LINE {
            prop_assert!(!refused, "{} bytes refused", long.len());
        }
    }
}
