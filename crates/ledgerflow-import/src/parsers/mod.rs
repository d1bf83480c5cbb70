//! The whole-file parsers (OFX/QFX, QIF, CAMT, MT940, and the text decoding they share) and the two
//! entry points that pick one: [`parse`] (a named format, or the one [`detect`] recognises from
//! the content). CSV has its own module (`crate::csv`): it is also streamed.

pub mod camt;
pub mod decode;
pub mod mt940;
pub mod ofx;
pub mod qif;

use crate::csv;
use crate::model::{Format, ParseError, ParsedFile};

/// Parses `bytes` in `format`, or in the format detected from the content when `None`.
pub fn parse(bytes: &[u8], file: &str, format: Option<Format>) -> Result<ParsedFile, ParseError> {
    let format = match format {
        Some(f) => f,
        None => detect(bytes).ok_or_else(|| ParseError {
            file: file.to_string(),
            reason: "the format is not recognised (OFX/QFX, QIF, CAMT, MT940, PDF statements and CSV files with a date, an amount and a payee on each row are read)".into(),
        })?,
    };
    match format {
        Format::Ofx => ofx::parse(bytes, file),
        Format::Qif => qif::parse(bytes, file, qif::DateOrder::MonthFirst),
        Format::Camt => camt::parse(bytes, file),
        Format::Mt940 => mt940::parse(bytes, file),
        Format::Csv => csv::parse(bytes, file, None),
        Format::Pdf => crate::pdf::parse(bytes, file, &[]),
    }
}

/// Recognises a format from the content, not the file name.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if crate::pdf::sniff(bytes) {
        Some(Format::Pdf)
    } else if ofx::sniff(bytes) {
        Some(Format::Ofx)
    } else if camt::sniff(bytes) {
        Some(Format::Camt)
    } else if qif::sniff(bytes) {
        Some(Format::Qif)
    } else if mt940::sniff(bytes) {
        Some(Format::Mt940)
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
            for f in [Format::Ofx, Format::Qif, Format::Camt, Format::Mt940, Format::Csv] {
                let _ = parse(&bytes, "fuzz", Some(f));
            }
        }

        /// Nor does text shaped like the formats, with its tags and codes shuffled.
        #[test]
        fn format_shaped_noise_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
            "<OFX>", "<STMTRS>", "</STMTRS>", "<STMTTRN>", "</STMTTRN>", "<DTPOSTED>", "20240101", "<TRNAMT>", "-1,5", "&", "&amp;", "<![CDATA[", "]]>", "<MEMO/>", "</OFX>",
            "!Type:Bank\n", "D01/02/2024\n", "T-1.00\n", "^\n", "S\n", "$-1\n", "!Account\n", "N\n", "D31/31/99\n",
            "\"01/02/2024\",\"-1.00\",\"*\",\"\",\"X\"\n", "Date,Description,Amount\n", ",", ";", "\"",
            ":20:X\n", ":25:1\n", ":60F:C240101EUR1,00\n", ":61:2401020102D1,00NTRFNONREF//R\n", ":86:166?00A?20b?32c\n", ":86:/NAME/x/REMI/y\n", ":62F:C240102EUR0,00\n", "-}", "{4:", ":61:24010212", "RC", "?", "/", "999PN1234",
            "<Stmt>", "</Stmt>", "<Ntry>", "</Ntry>", "<Amt Ccy=\"EUR\">", "</Amt>", "<CdtDbtInd>DBIT</CdtDbtInd>", "<BookgDt><Dt>2024-01-01</Dt></BookgDt>", "\n", "é", "\u{0}",
        ]), 0..60)) {
            let text: String = parts.concat();
            for f in [Format::Ofx, Format::Qif, Format::Camt, Format::Mt940, Format::Csv] {
                let _ = parse(text.as_bytes(), "fuzz", Some(f));
            }
        }
    }
}
