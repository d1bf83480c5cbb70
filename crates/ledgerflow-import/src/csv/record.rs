//! One CSV record as a transaction: the profile's columns resolved against the header, dates
//! read with a compiled format, amounts with the profile's separators and sign convention. A
//! date that does not parse is an error on that row, never "today".

use chrono::NaiveDate;

use super::presets::norm;
use super::profile::{Column, Profile, Sign};
use super::stream::CsvItem;
use crate::model::{ParsedTxn, RowError, shown};

fn index_of(col: &Column, header: Option<&[String]>) -> Result<usize, String> {
    match col {
        Column::Index(i) => Ok(*i),
        Column::Name(n) => header
            .and_then(|h| h.iter().position(|x| norm(x) == norm(n)))
            .ok_or_else(|| format!("the file has no column \"{n}\"")),
    }
}

/// The columns of a profile, resolved against the header.
pub(super) struct Columns {
    date: usize,
    payee: usize,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    flag: Option<usize>,
    memo: Option<usize>,
    external_id: Option<usize>,
    check_number: Option<usize>,
    currency: Option<usize>,
    /// The header's cells: a row with text beyond them was split where it should not have
    /// been (a delimiter inside an unquoted payee), and its columns cannot be trusted.
    width: Option<usize>,
}

impl Columns {
    pub(super) fn resolve(profile: &Profile, header: Option<&[String]>) -> Result<Self, String> {
        let col = |c: &Column| index_of(c, header);
        let opt = |c: &Option<Column>| c.as_ref().map(|c| index_of(c, header)).transpose();
        Ok(Columns {
            date: col(&profile.date)?,
            payee: col(&profile.payee)?,
            amount: opt(&profile.amount)?,
            debit: opt(&profile.debit)?,
            credit: opt(&profile.credit)?,
            flag: opt(&profile.flag)?,
            memo: opt(&profile.memo)?,
            external_id: opt(&profile.external_id)?,
            check_number: opt(&profile.check_number)?,
            currency: opt(&profile.currency)?,
            width: header.map(<[String]>::len),
        })
    }
}

/// A date format compiled once: the common all-numeric shapes (`%m/%d/%Y`, `%d.%m.%Y`,
/// `%Y-%m-%d`, ...) are read directly (a year must have four digits: `24` is not the year 24);
/// anything else goes through chrono.
pub(super) enum DateFormat {
    Numeric(Vec<DatePart>),
    Chrono(String),
}

#[derive(Clone, Copy)]
pub(super) enum DatePart {
    Day,
    Month,
    Year,
    Lit(u8),
}

impl DateFormat {
    pub(super) fn new(fmt: &str) -> Self {
        let mut parts = Vec::new();
        let mut it = fmt.bytes();
        while let Some(b) = it.next() {
            match b {
                b'%' => match it.next() {
                    Some(b'd') => parts.push(DatePart::Day),
                    Some(b'm') => parts.push(DatePart::Month),
                    Some(b'Y') => parts.push(DatePart::Year),
                    _ => return DateFormat::Chrono(fmt.to_string()),
                },
                b'0'..=b'9' | b' ' => return DateFormat::Chrono(fmt.to_string()),
                b if b.is_ascii() => parts.push(DatePart::Lit(b)),
                _ => return DateFormat::Chrono(fmt.to_string()),
            }
        }
        DateFormat::Numeric(parts)
    }

    /// Reads a date cell; a cell with a time or words after its date (`2024-01-02 10:00`,
    /// `2024-01-02T10:00:00`, `11/14/2020 as of 11/13/2020`) is read by its first part.
    pub(super) fn parse(&self, text: &str) -> Option<NaiveDate> {
        self.parse_whole(text).or_else(|| {
            let head = date_head(text);
            (head.len() < text.len() && !head.is_empty())
                .then(|| self.parse_whole(head))
                .flatten()
        })
    }

    fn parse_whole(&self, text: &str) -> Option<NaiveDate> {
        match self {
            DateFormat::Chrono(f) => NaiveDate::parse_from_str(text, f).ok(),
            DateFormat::Numeric(parts) => match Self::numeric(parts, text.as_bytes()) {
                Some(d) => Some(d),
                // Rare shapes (a sign, five-digit years): let chrono decide, as it always did.
                None if text.bytes().any(|b| b == b'+' || b == b'-' || b == b' ') => {
                    let f: String = parts
                        .iter()
                        .map(|p| match p {
                            DatePart::Day => "%d".to_string(),
                            DatePart::Month => "%m".to_string(),
                            DatePart::Year => "%Y".to_string(),
                            DatePart::Lit(b) => (*b as char).to_string(),
                        })
                        .collect();
                    NaiveDate::parse_from_str(text, &f).ok()
                }
                None => None,
            },
        }
    }

    fn numeric(parts: &[DatePart], s: &[u8]) -> Option<NaiveDate> {
        let (mut d, mut m, mut y) = (None, None, None);
        let mut i = 0;
        for (k, p) in parts.iter().enumerate() {
            match p {
                DatePart::Lit(b) => {
                    if s.get(i) != Some(b) {
                        return None;
                    }
                    i += 1;
                }
                DatePart::Day | DatePart::Month | DatePart::Year => {
                    // chrono reads up to two digits for %d/%m (one is enough) and four for %Y
                    // when a literal follows; the fast path keeps to those shapes.
                    let max = if matches!(p, DatePart::Year) { 4 } else { 2 };
                    let start = i;
                    let mut v: u32 = 0;
                    while i < s.len() && i - start < max && s[i].is_ascii_digit() {
                        v = v * 10 + u32::from(s[i] - b'0');
                        i += 1;
                    }
                    let len = i - start;
                    let last = k + 1 == parts.len();
                    if len == 0 || (matches!(p, DatePart::Year) && len != 4) {
                        return None;
                    }
                    if last && i < s.len() {
                        return None;
                    }
                    match p {
                        DatePart::Day => d = Some(v),
                        DatePart::Month => m = Some(v),
                        _ => y = Some(v as i32),
                    }
                }
            }
        }
        if i != s.len() {
            return None;
        }
        NaiveDate::from_ymd_opt(y?, m?, d?)
    }
}

/// The currency an amount cell names: an ISO code before or after the number, or an
/// unambiguous symbol (€, £; `$` and `¥` name several currencies and say nothing).
fn currency_marker(cell: &str) -> Option<String> {
    // The common cell, a plain number, without building anything.
    if cell
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'+' | b'(' | b')' | b' '))
    {
        return None;
    }
    let t: String = cell.chars().filter(|c| !c.is_whitespace()).collect();
    if t.contains('€') {
        return Some("EUR".into());
    }
    if t.contains('£') {
        return Some("GBP".into());
    }
    let code = |s: &str| {
        (s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())).then(|| s.to_string())
    };
    let digits = t.find(|c: char| c.is_ascii_digit())?;
    let last = t.rfind(|c: char| c.is_ascii_digit())?;
    let before = t[..digits].trim_matches(['-', '+', '(']);
    let after = t[last + 1..].trim_matches(['-', ')']);
    code(before).or_else(|| code(after))
}

/// A currency column's cell as a code: three letters (`EUR`, `usd`), `€` or `£`; anything else
/// (empty, `$`, a name) says nothing and the account's currency stands.
pub(super) fn currency_cell(cell: &str) -> Option<String> {
    let t = cell.trim();
    match t {
        "€" => Some("EUR".into()),
        "£" => Some("GBP".into()),
        _ if t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(t.to_ascii_uppercase())
        }
        _ => None,
    }
}

/// The text of a date cell before a time or other words: up to the first space or `T`.
pub(super) fn date_head(text: &str) -> &str {
    let t = text.trim();
    t.split([' ', 'T']).next().unwrap_or(t)
}

/// A cell of a section line (a card number heading its rows, "Transaction details:"), not
/// part of a transaction the delimiter failed to split: none of its words is a number or
/// holds a date.
/// A cell holding a line break followed by a line that begins with a date in the file's
/// format: a quote left open swallowed the next row (a memo over two lines begins with text).
fn runs_into_a_row(cell: &str, dates: &DateFormat) -> bool {
    if !cell.contains('\n') {
        return false;
    }
    cell.lines().skip(1).any(|next| {
        let first = next
            .trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .split([',', ';', '\t', '|', '"'])
            .next()
            .unwrap_or_default()
            .trim();
        !first.is_empty() && dates.parse_whole(first).is_some()
    })
}

fn section_line(cell: &str, dates: &DateFormat) -> bool {
    cell.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '|' | ':'))
        .filter(|w| !w.is_empty())
        .all(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric());
            let number = core.chars().any(|c| c.is_ascii_digit())
                && core
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '\''));
            !number
                && !date_shaped(w)
                && dates.parse(w).is_none()
                && dates.parse(date_head(w)).is_none()
        })
}

/// Digits, a `-` `/` or `.`, digits, the same again, digits: a date in some format.
fn date_shaped(w: &str) -> bool {
    let b = w.as_bytes();
    (0..b.len()).any(|start| {
        let mut i = start;
        for part in 0..3 {
            let from = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == from || (part < 2 && !(i < b.len() && matches!(b[i], b'-' | b'/' | b'.'))) {
                return false;
            }
            if part < 2 {
                i += 1;
            }
        }
        true
    })
}

/// One record as a transaction, a row error, or `None` for a pending row or a row with neither
/// a date nor an amount (a blank line, a continuation or a section line) whose cells hold no
/// number and no date ([`section_line`]): a row the delimiter failed to split is an error.
pub(super) fn row(
    profile: &Profile,
    cols: &Columns,
    dates: &DateFormat,
    line: usize,
    r: &::csv::StringRecord,
) -> Option<CsvItem> {
    let get = |i: usize| r.get(i).map(str::trim).unwrap_or("");
    let date_text = get(cols.date);
    if date_text.eq_ignore_ascii_case("pending") {
        return None;
    }
    let amount_cells = [cols.amount, cols.debit, cols.credit];
    let no_amount = amount_cells.iter().flatten().all(|&i| get(i).is_empty());
    let cells = || r.iter().filter(|c| !c.trim().is_empty()).count();
    if no_amount
        && (date_text.is_empty() || cells() <= 1)
        && r.iter()
            .all(|c| c.trim().is_empty() || section_line(c, dates))
    {
        return None;
    }
    let err = |reason: String| Some(CsvItem::Error(RowError { line, reason }));
    if r.iter().any(|c| runs_into_a_row(c, dates)) {
        return err(
            "a quoted cell runs past the end of its line into a row that begins with a date (a missing closing quote?): the rows cannot be told apart"
                .into(),
        );
    }
    if let Some(width) = cols.width
        && r.iter().skip(width).any(|c| !c.trim().is_empty())
    {
        return err(format!(
            "the row has {} cells where the header has {width} (a delimiter inside an unquoted text?): its columns cannot be told apart",
            r.len()
        ));
    }
    let Some(date) = dates.parse(date_text) else {
        return err(format!(
            "date \"{}\" does not match the format {}",
            shown(date_text),
            profile.date_format
        ));
    };
    let amount = match profile.sign {
        Sign::Signed => cols.amount.and_then(|i| profile.amount(get(i))),
        Sign::DebitCredit => {
            let d = cols.debit.map(get).filter(|s| !s.is_empty());
            let c = cols.credit.map(get).filter(|s| !s.is_empty());
            match (d, c) {
                (Some(d), None) => profile.amount(d).map(|v| -v.abs()),
                (None, Some(c)) => profile.amount(c).map(|v| v.abs()),
                (Some(d), Some(c)) => profile
                    .amount(c)
                    .zip(profile.amount(d))
                    .map(|(c, d)| c.abs() - d.abs()),
                (None, None) => None,
            }
        }
        Sign::Flag => cols.amount.and_then(|i| profile.amount(get(i))).map(|v| {
            let flag = cols.flag.map(get).unwrap_or("");
            if profile
                .debit_flags
                .iter()
                .any(|d| d.eq_ignore_ascii_case(flag))
            {
                -v.abs()
            } else {
                v.abs()
            }
        }),
    };
    let Some(mut amount) = amount else {
        let text = cols.amount.or(cols.debit).map(get).unwrap_or("");
        return err(format!("amount \"{}\" is not an amount", shown(text)));
    };
    if profile.invert {
        amount = -amount;
    }
    let some = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty()).map(str::to_string);
    // A currency written in the amount ("5.00 USD", "€12,00"): the import checks it against
    // the account's, instead of taking dollars for euros.
    let currency = [cols.amount, cols.debit, cols.credit]
        .into_iter()
        .flatten()
        .map(get)
        .find_map(currency_marker)
        .or_else(|| cols.currency.map(get).and_then(currency_cell))
        .or_else(|| profile.file_currency.clone());
    Some(CsvItem::Txn(ParsedTxn {
        date,
        value_date: None,
        amount,
        currency,
        payee: get(cols.payee).to_string(),
        memo: cols.memo.map(get).unwrap_or("").to_string(),
        external_id: some(cols.external_id),
        check_number: some(cols.check_number),
        category: None,
        line,
        page: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::currency_marker;

    #[test]
    fn a_currency_written_in_the_amount_is_read() {
        for (cell, code) in [
            ("5.00 USD", Some("USD")),
            ("USD 5.00", Some("USD")),
            ("-12,00 €", Some("EUR")),
            ("£3.10", Some("GBP")),
            ("(4.00) CHF", Some("CHF")),
            ("$5.00", None),
            ("5.00", None),
            ("", None),
        ] {
            assert_eq!(currency_marker(cell).as_deref(), code, "{cell}");
        }
    }
}
