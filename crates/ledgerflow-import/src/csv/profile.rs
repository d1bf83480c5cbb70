//! A CSV profile: how one bank's export is read (delimiter, encoding, preamble and footer,
//! column mapping, date format, separators, sign convention), checked before it is used, and
//! settled for a file (the one given, or the preset the file's header identifies).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::presets::detect_preset;
use crate::parsers::decode::encoding_for;

/// How the amount is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sign {
    /// One signed amount column (negative = money out).
    #[default]
    Signed,
    /// Separate debit (money out) and credit (money in) columns, both positive.
    DebitCredit,
    /// An unsigned amount and a column that says which way it went.
    Flag,
}

/// A column, by header name or by 0-based position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}

/// How to read one bank's CSV export. Presets are built in; users save their own in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    /// `,` `;` `\t` `|`; empty detects it.
    #[serde(default)]
    pub delimiter: String,
    /// A charset label (`windows-1252`, `iso-8859-1`, `utf-8`); empty detects it.
    #[serde(default)]
    pub encoding: String,
    /// Lines before the header (or the first row).
    #[serde(default)]
    pub skip_lines: usize,
    /// Lines at the end that are not transactions.
    #[serde(default)]
    pub skip_footer: usize,
    #[serde(default = "yes")]
    pub has_header: bool,
    pub date: Column,
    /// chrono format, e.g. `%m/%d/%Y`, `%d.%m.%Y`, `%Y-%m-%d`.
    pub date_format: String,
    #[serde(default)]
    pub sign: Sign,
    pub amount: Option<Column>,
    pub debit: Option<Column>,
    pub credit: Option<Column>,
    /// With `sign = "flag"`: the column, and the values that mean money out.
    pub flag: Option<Column>,
    #[serde(default)]
    pub debit_flags: Vec<String>,
    pub payee: Column,
    pub memo: Option<Column>,
    pub external_id: Option<Column>,
    pub check_number: Option<Column>,
    /// A column holding each row's currency code (`EUR`): the import checks it against the
    /// account's, as it does a code written in the amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Column>,
    /// The currency of the whole file (`EUR`), when a header or a preamble line names it:
    /// rows with no currency of their own are checked against the account's with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_currency: Option<String>,
    /// `.` or `,`.
    #[serde(default = "dot")]
    pub decimal: String,
    /// Thousands separator (`,` `.` `'` or space); empty for none.
    #[serde(default)]
    pub thousands: String,
    /// Flip every sign (card exports where charges are positive).
    #[serde(default)]
    pub invert: bool,
    /// Header names that identify this bank's export (for detection).
    #[serde(default)]
    pub detect_header: Vec<String>,
}

fn yes() -> bool {
    true
}
fn dot() -> String {
    ".".into()
}

impl Profile {
    /// Checks a user's profile before it is saved or used.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("a profile needs a name".into());
        }
        if !matches!(self.decimal.as_str(), "." | ",") {
            return Err(format!(
                "decimal \"{}\" must be \".\" or \",\"",
                self.decimal
            ));
        }
        if self.thousands == self.decimal {
            return Err("the thousands and decimal separators must differ".into());
        }
        if !matches!(
            self.thousands.as_str(),
            "" | "," | "." | "'" | " " | "\u{a0}"
        ) {
            return Err(format!(
                "thousands \"{}\" must be \",\", \".\", \"'\", a space or empty",
                ledgerflow_core::error::shown(&self.thousands)
            ));
        }
        if let Some(code) = &self.file_currency
            && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(format!(
                "file_currency \"{}\" must be a three-letter currency code",
                ledgerflow_core::error::shown(code)
            ));
        }
        if !self.delimiter.is_empty() && self.delimiter_byte().is_none() {
            return Err(format!(
                "delimiter \"{}\" must be one character",
                self.delimiter
            ));
        }
        if !self.encoding.is_empty()
            && encoding_for(&self.encoding).is_none()
            && !self.encoding.eq_ignore_ascii_case("utf-8")
        {
            return Err(format!("unknown encoding \"{}\"", self.encoding));
        }
        // The format must be able to print a date that it can read back.
        let probe = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default();
        // A format asking for what a date has not (`%H`) cannot print one: an error, not a panic.
        let mut text = String::new();
        let printed = std::fmt::Write::write_fmt(
            &mut text,
            format_args!("{}", probe.format(&self.date_format)),
        );
        if printed.is_err()
            || self.date_format.len() > 64
            || NaiveDate::parse_from_str(&text, &self.date_format).ok() != Some(probe)
        {
            return Err(format!(
                "date_format \"{}\" does not describe a full date",
                self.date_format
            ));
        }
        match self.sign {
            Sign::Signed if self.amount.is_none() => {
                Err("sign = \"signed\" needs an amount column".into())
            }
            Sign::DebitCredit if self.debit.is_none() || self.credit.is_none() => {
                Err("sign = \"debit_credit\" needs debit and credit columns".into())
            }
            Sign::Flag
                if self.amount.is_none() || self.flag.is_none() || self.debit_flags.is_empty() =>
            {
                Err("sign = \"flag\" needs amount and flag columns and debit_flags".into())
            }
            _ => Ok(()),
        }
    }

    pub(super) fn delimiter_byte(&self) -> Option<u8> {
        match self.delimiter.as_str() {
            "\\t" | "tab" => Some(b'\t'),
            d if d.len() == 1 => d.bytes().next(),
            _ => None,
        }
    }

    /// Parses an amount with this profile's separators. Exact.
    pub(super) fn amount(&self, text: &str) -> Option<Decimal> {
        let text = text.trim();
        // The common shape, `-1234.56`, is read without building new strings.
        let digits = text.strip_prefix('-').unwrap_or(text);
        if self.decimal == "."
            && !digits.is_empty()
            && digits.len() < 20
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|b| *b == b'.').count() <= 1
            && !digits.starts_with('.')
            && !digits.ends_with('.')
        {
            return text.parse().ok();
        }
        let mut t: String = text.to_string();
        if t.is_empty() {
            return None;
        }
        if !self.thousands.is_empty() {
            // Thousands come in threes: `12,50` read with a `,` for thousands is a misreading
            // of a decimal comma, not 1250.
            let (whole, fraction) = match text.rfind(self.decimal.as_str()) {
                Some(i) => (&text[..i], &text[i + 1..]),
                None => (text, ""),
            };
            if fraction.contains(self.thousands.as_str()) && self.thousands != " " {
                return None;
            }
            let groups: Vec<usize> = whole
                .split(self.thousands.as_str())
                .map(|g| g.bytes().filter(u8::is_ascii_digit).count())
                .skip_while(|n| *n == 0)
                .collect();
            if groups.len() > 1
                && (!(1..=3).contains(&groups[0]) || groups[1..].iter().any(|n| *n != 3))
            {
                return None;
            }
            t = t.replace(&self.thousands, "");
        }

        t = t.replace(' ', "");
        if self.decimal == "," {
            t = t.replace(',', ".");
        }
        crate::model::parse_amount(&t)
    }
}

/// Settles the profile for a CSV file from its first bytes: the given one, or the preset its
/// header (or headerless shape) identifies.
pub fn settle_profile(head: &[u8], profile: Option<&Profile>) -> Result<Profile, String> {
    let profile = match profile {
        Some(p) => p.clone(),
        None => {
            let text = String::from_utf8_lossy(&head[..head.len().min(8192)]);
            detect_preset(&text).ok_or_else(|| {
                "this CSV matches no known bank export: it is read with a CSV profile that says how (or an inferred reading, which needs a date, an amount and a payee on each row)".to_string()
            })?
        }
    };
    profile
        .validate()
        .map_err(|e| format!("profile {}: {e}", profile.name))?;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thousands come in threes: a decimal comma read with `,` as the thousands separator is
    /// refused (a row error the preview shows), never read as a hundred times the amount.
    #[test]
    fn thousands_separators_group_three_digits() {
        let mut p = super::super::presets().remove(0);
        p.decimal = ".".into();
        p.thousands = ",".into();
        let read = |p: &Profile, t: &str| p.amount(t).map(|d| d.to_string());
        assert_eq!(read(&p, "1,234,567.89").as_deref(), Some("1234567.89"));
        assert_eq!(read(&p, "-1,234.50").as_deref(), Some("-1234.50"));
        assert_eq!(read(&p, "$ 12,345").as_deref(), Some("12345"));
        assert_eq!(read(&p, "12,50"), None);
        assert_eq!(read(&p, "-1,23,456.00"), None);
        p.decimal = ",".into();
        p.thousands = ".".into();
        assert_eq!(read(&p, "1.188,89").as_deref(), Some("1188.89"));
        assert_eq!(read(&p, "EUR 2.500,00").as_deref(), Some("2500.00"));
        assert_eq!(read(&p, "12.5,00"), None);
        // A US amount read with a German profile is refused, not 1.00 or -450.00.
        assert_eq!(read(&p, "1,000.00"), None);
        assert_eq!(read(&p, "-4.50"), None);
        p.thousands = " ".into();
        assert_eq!(read(&p, "1 234,56 EUR").as_deref(), Some("1234.56"));
    }

    /// A date format that cannot print a date is refused, not a panic.
    #[test]
    fn a_date_format_without_a_date_is_refused() {
        let mut p = super::super::presets().remove(0);
        for bad in ["%H:%M", "", "%", "%Y-%m", &"%Y".repeat(40)] {
            p.date_format = bad.to_string();
            assert!(p.validate().is_err(), "{bad}");
        }
        let mut p = super::super::presets().remove(0);
        for bad in ["-", "0", "ab"] {
            p.thousands = bad.to_string();
            assert!(p.validate().is_err(), "thousands {bad}");
        }
    }
}
