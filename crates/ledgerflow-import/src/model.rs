//! What every parser produces: statements of transactions with exact amounts, plus warnings and
//! the rows it could not read (each naming its line or element).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

/// The formats LedgerFlow reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ofx,
    Qif,
    Camt,
    Mt940,
    Csv,
    Pdf,
}

impl Format {
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Ofx => "ofx",
            Format::Qif => "qif",
            Format::Camt => "camt",
            Format::Mt940 => "mt940",
            Format::Csv => "csv",
            Format::Pdf => "pdf",
        }
    }
}

/// One transaction as the bank wrote it. `amount` is exact; the sign is money in (+) or out (-).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedTxn {
    pub date: NaiveDate,
    /// A second date when the bank gives one (CAMT value date, OFX user date).
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    /// ISO 4217 code when the file says (per transaction or per statement).
    pub currency: Option<String>,
    pub payee: String,
    pub memo: String,
    /// The bank's id (OFX FITID, CAMT AcctSvcrRef/EndToEndId), when present.
    pub external_id: Option<String>,
    /// Check number, category or transfer account, when the format carries one.
    pub check_number: Option<String>,
    pub category: Option<String>,
    /// Line (1-based) where the transaction starts (in a PDF: on its page).
    pub line: usize,
    /// The page, in a PDF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
}

/// One account's part of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// The account id the bank gave, if any.
    pub account: Option<String>,
    pub currency: Option<String>,
    pub start: Option<NaiveDate>,
    pub end: Option<NaiveDate>,
    /// The balances the bank printed (MT940 `:60F:`/`:62F:`), when the format gives them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening: Option<Balance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing: Option<Balance>,
    pub transactions: Vec<ParsedTxn>,
}

/// A balance a statement states: on `date`, `amount` (signed, exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub date: NaiveDate,
    pub amount: Decimal,
}

/// A row that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A whole file, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParsedFile {
    pub format: Format,
    /// The CSV preset or profile used.
    pub profile: Option<String>,
    pub statements: Vec<Statement>,
    /// How the file was read, where that took judgment (a PDF's columns, the balances that
    /// prove the rows): shown with the preview.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    pub warnings: Vec<String>,
    /// Rows that could not be read. A file with any is refused unless the caller skips them.
    pub errors: Vec<RowError>,
}

impl ParsedFile {
    pub fn transaction_count(&self) -> usize {
        self.statements.iter().map(|s| s.transactions.len()).sum()
    }
}

/// Why a whole file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {reason}")]
pub struct ParseError {
    pub file: String,
    pub reason: String,
}

/// The most bytes a line of a QIF or CSV file (a CSV record, which may span lines, counts as one)
/// or the text of one OFX or CAMT element may hold. Real bank files stay far below: the longest
/// line of the corpora is 14 KB. OFX and CAMT files may well be one long line, so for them the
/// limit is on each element's text and each tag, not on lines.
pub const MAX_LINE: usize = 64 * 1024;

/// How deeply OFX and CAMT elements may nest. Real bank files stay below 15 levels; without a
/// limit a file of nested elements only is a cheap way to exhaust memory or a stack.
pub const MAX_DEPTH: usize = 128;

/// The reason given for a line (or record) over [`MAX_LINE`].
pub(crate) fn too_long(line: usize) -> String {
    format!("line {line} is longer than {MAX_LINE} bytes")
}

/// The reason given for elements nested over [`MAX_DEPTH`].
pub(crate) fn too_deep(line: usize) -> String {
    format!("the elements are nested too deeply at line {line} (more than {MAX_DEPTH} levels)")
}

pub(crate) use ledgerflow_core::error::shown;

/// Parses amount text the way banks write it: optional sign (leading `+`/`-`, trailing `-`,
/// parentheses), optional currency symbol, `.` or `,` as the decimal separator, and thousands
/// separators when both appear. Exact: never through a float.
pub fn parse_amount(text: &str) -> Option<Decimal> {
    let mut s: String = text.trim().chars().filter(|c| !c.is_whitespace()).collect();
    // A currency code or symbol before or after the number: "EUR-12.00", "12,00€", "5USD".
    for _ in 0..2 {
        s = s.trim_matches(['$', '€', '£', '¥']).to_string();
        let b = s.as_bytes();
        if b.len() > 3 && b[..3].iter().all(u8::is_ascii_uppercase) {
            s = s[3..].to_string();
        } else if b.len() > 3 && b[b.len() - 3..].iter().all(u8::is_ascii_uppercase) {
            s = s[..s.len() - 3].to_string();
        }
    }
    if s.is_empty() {
        return None;
    }
    let mut negative = false;
    if s.starts_with('(') && s.ends_with(')') {
        negative = true;
        s = s[1..s.len() - 1].to_string();
    }
    if let Some(rest) = s.strip_suffix('-') {
        negative = !negative;
        s = rest.to_string();
    }
    if let Some(rest) = s.strip_prefix('-') {
        negative = !negative;
        s = rest.to_string();
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest.to_string();
    }
    let s = s.trim_start_matches(['$', '€', '£', '¥']);
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    let last_dot = s.rfind('.');
    let last_comma = s.rfind(',');
    let normalized = match (last_dot, last_comma) {
        (Some(d), Some(c)) if d > c => s.replace(',', ""),
        (Some(_), Some(_)) => s.replace('.', "").replace(',', "."),
        // One or more commas and no dot: several commas group thousands ("1,234,567"); a single
        // comma is a decimal comma ("19,78"). Files that mean otherwise need a CSV profile.
        (None, Some(_)) if s.matches(',').count() > 1 => s.replace(',', ""),
        (None, Some(_)) => s.replace(',', "."),
        _ => s.to_string(),
    };
    if normalized.matches('.').count() > 1 || normalized.starts_with('.') && normalized.len() == 1 {
        return None;
    }
    // Exact: more digits than a Decimal holds is refused, never rounded.
    let d = Decimal::from_str_exact(&normalized).ok()?;
    Some(if negative { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn amounts_as_banks_write_them() {
        assert_eq!(parse_amount("-12.34"), Some(d("-12.34")));
        assert_eq!(parse_amount("+0,91"), Some(d("0.91")));
        assert_eq!(parse_amount("-19,78"), Some(d("-19.78")));
        assert_eq!(parse_amount("1.234,56"), Some(d("1234.56")));
        assert_eq!(parse_amount("1,234.56"), Some(d("1234.56")));
        assert_eq!(parse_amount("(45.00)"), Some(d("-45.00")));
        assert_eq!(parse_amount("$120"), Some(d("120")));
        assert_eq!(parse_amount("-30.000"), Some(d("-30.000")));
        assert_eq!(parse_amount("12.50-"), Some(d("-12.50")));
        assert_eq!(parse_amount("1,234,567"), Some(d("1234567")));
        assert_eq!(parse_amount("12,00 €"), Some(d("12.00")));
        assert_eq!(parse_amount("EUR -12.00"), Some(d("-12.00")));
        assert_eq!(parse_amount("-5.10 USD"), Some(d("-5.10")));
        assert_eq!(parse_amount("$-3.00"), Some(d("-3.00")));
        for bad in [
            "",
            "abc",
            "1.2.3",
            "12a",
            "--",
            "EUR",
            "12.00 CR",
            "1.000000000000000000000000000001",
            "99999999999999999999999999999",
        ] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
    }
}
