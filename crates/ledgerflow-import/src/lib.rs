//! Bank file parsers. Each takes the file's bytes and returns a [`ParsedFile`]: statements of
//! transactions with exact decimal amounts, warnings, and the rows it could not read (each naming
//! its line). Nothing here touches the store; `ledgerflow import` turns a parsed file into an
//! import batch.
//!
//! No input may panic a parser: they are fuzzed (proptest, `tests/it/fuzz.rs`) and run over
//! every corpus sample. Nor may it exhaust a stack or memory: elements nest at most
//! [`MAX_DEPTH`] levels and a line (or an element's text) holds at most [`MAX_LINE`] bytes.

pub mod csv;
pub mod model;
pub mod parsers;
pub mod service;

pub use model::{
    Format, MAX_DEPTH, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement,
};
pub use parsers::{camt, decode, ofx, qif};

/// Parses `bytes` in `format`, or in the format detected from the content when `None`.
pub fn parse(bytes: &[u8], file: &str, format: Option<Format>) -> Result<ParsedFile, ParseError> {
    let format = match format {
        Some(f) => f,
        None => detect(bytes).ok_or_else(|| ParseError {
            file: file.to_string(),
            reason: "the format is not recognised (OFX/QFX, QIF, CAMT and the CSV exports of known banks are detected; name a CSV profile with --format csv:NAME)".into(),
        })?,
    };
    match format {
        Format::Ofx => ofx::parse(bytes, file),
        Format::Qif => qif::parse(bytes, file, qif::DateOrder::MonthFirst),
        Format::Camt => camt::parse(bytes, file),
        Format::Csv => csv::parse(bytes, file, None),
    }
}

/// Recognises a format from the content, not the file name.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if ofx::sniff(bytes) {
        Some(Format::Ofx)
    } else if camt::sniff(bytes) {
        Some(Format::Camt)
    } else if qif::sniff(bytes) {
        Some(Format::Qif)
    } else if csv::sniff(bytes) {
        Some(Format::Csv)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// No input panics any parser.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            for f in [Format::Ofx, Format::Qif, Format::Camt, Format::Csv] {
                let _ = parse(&bytes, "fuzz", Some(f));
            }
        }

        /// Nor does text shaped like the formats, with its tags and codes shuffled.
        #[test]
        fn format_shaped_noise_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
            "<OFX>", "<STMTRS>", "</STMTRS>", "<STMTTRN>", "</STMTTRN>", "<DTPOSTED>", "20240101", "<TRNAMT>", "-1,5", "&", "&amp;", "<![CDATA[", "]]>", "<MEMO/>", "</OFX>",
            "!Type:Bank\n", "D01/02/2024\n", "T-1.00\n", "^\n", "S\n", "$-1\n", "!Account\n", "N\n", "D31/31/99\n",
            "\"01/02/2024\",\"-1.00\",\"*\",\"\",\"X\"\n", "Date,Description,Amount\n", ",", ";", "\"",
            "<Stmt>", "</Stmt>", "<Ntry>", "</Ntry>", "<Amt Ccy=\"EUR\">", "</Amt>", "<CdtDbtInd>DBIT</CdtDbtInd>", "<BookgDt><Dt>2024-01-01</Dt></BookgDt>", "\n", "é", "\u{0}",
        ]), 0..60)) {
            let text: String = parts.concat();
            for f in [Format::Ofx, Format::Qif, Format::Camt, Format::Csv] {
                let _ = parse(text.as_bytes(), "fuzz", Some(f));
            }
        }
    }
}
