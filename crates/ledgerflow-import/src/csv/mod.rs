//! Bank CSV exports: built-in presets for the common US banks, detected from the header (or the
//! headerless shape of Wells Fargo), and generic profiles for everything else (delimiter,
//! encoding, preamble and footer lines, column mapping, date format, decimal and thousands
//! separators, sign convention, inverted signs).
//!
//! A date that does not parse is an error on that row, never "today". A line (or a quoted record
//! spanning lines) over [`MAX_LINE`](crate::MAX_LINE) bytes refuses the file, and is never read
//! whole into memory.
//!
//! `profile.rs` (a profile and its checks), `presets.rs` (the built-in ones and their detection),
//! `record.rs` (a record as a transaction), `stream.rs` (the streaming reader); here, [`parse`]
//! reads a whole file.

mod infer;
mod presets;
mod profile;
mod record;
mod saved;
mod stream;

pub use infer::{
    ColumnRole, Correction, Inferred, Role, date_format_choices, infer, infer_bytes,
    infer_unrecognised,
};
pub use presets::{detect_preset, preset, presets, sniff};
pub use profile::{Column, Profile, Sign, settle_profile};
pub use saved::{SavedProfiles, check_profile_name, profile_name_from};
pub use stream::{CsvItem, CsvSummary, StreamError, stream};

/// Rows a CSV reading passed over: pending rows, rows of empty cells, and section lines (a
/// card number between a card's rows, a heading) — counted, the first ones by their line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassedOver {
    pub count: usize,
    /// The lines of the first [`PassedOver::LISTED`] of them.
    pub lines: Vec<usize>,
}

impl PassedOver {
    pub const LISTED: usize = 10;

    pub(crate) fn add(&mut self, line: usize) {
        self.count += 1;
        if self.lines.len() < Self::LISTED {
            self.lines.push(line);
        }
    }

    /// The warning an import gives, when any row was passed over.
    pub fn warning(&self) -> Option<String> {
        (self.count > 0).then(|| {
            let mut lines: Vec<String> = self.lines.iter().map(usize::to_string).collect();
            if self.count > self.lines.len() {
                lines.push("…".into());
            }
            format!(
                "passed over {} rows that hold no transaction (pending, empty, or a section line with no date or amount): line {}",
                self.count,
                lines.join(", ")
            )
        })
    }
}

use crate::model::{Format, ParseError, ParsedFile, Statement};
use crate::parsers::decode::{decode, encoding_for};

/// Reads a CSV export with `profile` (`None` detects a preset), all in memory: for `inspect`,
/// small files and files that are not UTF-8. Large UTF-8 files are streamed with [`stream`].
pub fn parse(
    bytes: &[u8],
    file: &str,
    profile: Option<&Profile>,
) -> Result<ParsedFile, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let declared = profile.and_then(|p| encoding_for(&p.encoding));
    let decoded = decode(bytes, declared);
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let text = decoded.text;
    let profile = settle_profile(text.as_bytes(), profile).map_err(fail)?;
    let mut txns = Vec::new();
    let mut errors = Vec::new();
    let summary = match stream(text.as_bytes(), &profile, &mut |item| {
        match item {
            CsvItem::Txn(t) => txns.push(t),
            CsvItem::Error(e) => errors.push(e),
        }
        true
    }) {
        Ok(s) => s,
        Err(StreamError::Parse(reason)) => return Err(fail(reason)),
        Err(StreamError::Io(e)) => return Err(fail(e.to_string())),
        // The text is UTF-8 and the callback never stops.
        Err(StreamError::NotUtf8 | StreamError::Stopped) => {
            return Err(fail("the file could not be decoded".into()));
        }
    };
    warnings.extend(summary.passed.warning());
    let start = txns.iter().map(|t| t.date).min();
    let end = txns.iter().map(|t| t.date).max();
    Ok(ParsedFile {
        format: Format::Csv,
        profile: Some(profile.name.clone()),
        statements: vec![Statement {
            account: None,
            currency: None,
            start,
            end,
            transactions: txns,
            ..Default::default()
        }],
        evidence: Vec::new(),
        warnings,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wells_fargo_without_a_header_is_detected() {
        let f = parse(
            b"\"12/04/2009\",\"-12.07\",\"*\",\"\",\"CHECK CRD PURCHASE 12/02 EUPHORIA\"\n\"12/04/2009\",\"-789.00\",\"*\",\"2392\",\"CHECK # 2392\"\n",
            "wf.csv",
            None,
        )
        .expect("parses");
        assert_eq!(f.profile.as_deref(), Some("wellsfargo"));
        let t = &f.statements[0].transactions;
        assert_eq!(t[1].amount.to_string(), "-789.00");
        assert_eq!(t[1].check_number.as_deref(), Some("2392"));
        assert_eq!(t[0].payee, "CHECK CRD PURCHASE 12/02 EUPHORIA");
    }

    /// The amounts of the file's first statement, as written.
    fn amounts(f: &crate::model::ParsedFile) -> Vec<String> {
        f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect()
    }

    #[test]
    fn presets_are_found_by_header_even_after_a_preamble() {
        let bofa = "Description,,Summary Amt.\nBeginning balance,,100.00\n\nDate,Description,Amount,Running Bal.\n01/02/2024,COFFEE,-4.50,95.50\n";
        let f = parse(bofa.as_bytes(), "bofa.csv", None).expect("parses");
        assert_eq!(f.profile.as_deref(), Some("bofa-checking"));
        assert_eq!(f.statements[0].transactions[0].amount.to_string(), "-4.50");
        let cap = "Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit\n2024-01-03,2024-01-04,1234,STORE,Shopping,25.10,\n2024-01-05,2024-01-05,1234,PAYMENT,Payment,,100.00\n";
        let f = parse(cap.as_bytes(), "c1.csv", None).expect("parses");
        assert_eq!(amounts(&f), ["-25.10", "100.00"]);
        let disc = "Trans. Date,Post Date,Description,Amount,Category\n01/02/2024,01/02/2024,STORE,25.00,Shopping\n";
        let f = parse(disc.as_bytes(), "d.csv", None).expect("parses");
        assert_eq!(
            f.statements[0].transactions[0].amount.to_string(),
            "-25.00",
            "card charges come out negative"
        );
    }

    #[test]
    fn a_bad_date_is_an_error_on_its_row_never_today() {
        let f = parse(
            b"\"12/04/2009\",\"-12.07\",\"*\",\"\",\"A\"\n\"13/45/2009\",\"-1.00\",\"*\",\"\",\"B\"\n",
            "wf.csv",
            None,
        )
        .expect("parses");
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].line, 2);
        assert!(f.errors[0].reason.contains("\"13/45/2009\""));
    }

    #[test]
    fn a_european_profile_reads_semicolons_and_decimal_commas() {
        let p: Profile = toml::from_str(
            r#"
name = "sparkasse"
delimiter = ";"
date = "Buchungstag"
date_format = "%d.%m.%Y"
amount = "Betrag"
payee = "Empfaenger"
decimal = ","
thousands = "."
"#,
        )
        .expect("profile");
        let f = parse(
            "Buchungstag;Empfaenger;Betrag\n31.01.2024;Miete;-1.234,56\n01.02.2024;Gehalt;2.500,00\n".as_bytes(),
            "s.csv",
            Some(&p),
        )
        .expect("parses");
        assert_eq!(amounts(&f), ["-1234.56", "2500.00"]);
        assert_eq!(
            f.statements[0].transactions[0].date.to_string(),
            "2024-01-31"
        );
    }

    #[test]
    fn detection_never_cuts_a_character_in_half() {
        for pad in 0..4 {
            let mut text = "Date,Description,Amount\n".to_string();
            while text.len() < 8192 - pad {
                text.push_str("01/02/2024,CAFÉ ÉÉÉ,-1.00\n");
            }
            let _ = sniff(text.as_bytes());
            let _ = parse(text.as_bytes(), "x.csv", None);
        }
    }

    #[test]
    fn profiles_are_checked() {
        let mut p = preset("wellsfargo").expect("preset");
        p.date_format = "%m/%Y".into();
        assert!(p.validate().is_err());
        let mut p = preset("citi").expect("preset");
        p.debit = None;
        assert!(p.validate().is_err());
        for p in presets() {
            p.validate().expect("presets are valid");
        }
    }

    /// A bad row is named by its line whatever the line endings (CRLF, CRCRLF, LF), and a CR
    /// inside a quoted field stays.
    #[test]
    fn line_numbers_hold_with_crlf() {
        let p = preset("chase-card").expect("preset");
        for eol in ["\n", "\r\n", "\r\r\n"] {
            let text = [
                "Transaction Date,Post Date,Description,Category,Type,Amount,Memo",
                "01/02/2024,01/02/2024,\"A\rB\",Food,Sale,-1.00,",
                "01/03/2024,01/03/2024,B,Food,Sale,abc,",
                "",
            ]
            .join(eol);
            let f = parse(text.as_bytes(), "t.csv", Some(&p)).expect("parses");
            assert_eq!(f.errors.len(), 1, "{eol:?}");
            assert_eq!(f.errors[0].line, 3, "{eol:?}");
            assert_eq!(f.statements[0].transactions[0].payee, "A\rB", "{eol:?}");
        }
    }
}
