//! QIF: `!Type:Bank|CCard|Cash|Oth A|Oth L` sections, `!Account` blocks (multi-account files),
//! splits (their sum must equal the total), transfers `[Account]`, apostrophe and two-digit
//! years. The date order is decided once per file: a part above 12 pins it; a file where every
//! date is ambiguous is read month-first (or as the caller says) and a warning says so.
//!
//! A line over [`MAX_LINE`] bytes refuses the file. QIF does not nest.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::model::{
    Format, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement, parse_amount, shown,
    too_long,
};
use crate::parsers::decode::decode;

/// Order of day and month in dates like 03/04/2024.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    MonthFirst,
    DayFirst,
}

pub fn sniff(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let t = head.trim_start_matches('\u{feff}').trim_start();
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    ["!type:", "!account", "!option", "!clear"]
        .iter()
        .any(|m| lower.starts_with(m))
        || headerless(t)
}

/// A file of QIF records with no `!` header at all: every line up to the first record
/// separator (`^`, also written `^^`) starts with a QIF field code, and the record has a date
/// and an amount. A CSV never has a line that is only `^`.
fn headerless(text: &str) -> bool {
    let (mut date, mut amount) = (false, false);
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(64)
    {
        if line.trim_start_matches('^').is_empty() {
            return date && amount;
        }
        match line.bytes().next() {
            Some(b'D') => date = true,
            Some(b'T' | b'U') => amount = true,
            Some(b'P' | b'M' | b'L' | b'N' | b'C' | b'A' | b'S' | b'E' | b'$' | b'%' | b'F') => {}
            _ => return false,
        }
    }
    false
}

/// A date split into its parts, before the order is known.
#[derive(Debug, Clone)]
enum RawDate {
    /// Year first (ISO-like).
    Ymd(i32, u32, u32),
    /// Two leading numeric parts (order unknown) and a year.
    Pair(u32, u32, i32),
    /// Day, month name, year ("26 Jan 2026").
    Named(u32, u32, i32),
}

fn month_number(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let l = s.to_ascii_lowercase();
    M.iter()
        .position(|m| l.starts_with(m))
        .map(|i| i as u32 + 1)
}

fn year(part: &str, apostrophe: bool) -> Option<i32> {
    let part = part.trim();
    if !matches!(part.len(), 1 | 2 | 4) {
        return None;
    }
    let y: i32 = part.parse().ok()?;
    Some(match part.trim().len() {
        4 => y,
        _ if apostrophe => 2000 + y,
        _ if y < 70 => 2000 + y,
        _ => 1900 + y,
    })
}

fn raw_date(s: &str) -> Option<RawDate> {
    let s = s.trim();
    let apostrophe = s.contains('\'');
    let parts: Vec<&str> = s
        .split(|c: char| c == '/' || c == '-' || c == '.' || c == '\'' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() != 3 {
        return None;
    }
    if let Some(m) =
        month_number(parts[1]).filter(|_| !parts[1].chars().all(|c| c.is_ascii_digit()))
    {
        return Some(RawDate::Named(
            parts[0].parse().ok()?,
            m,
            year(parts[2], apostrophe)?,
        ));
    }
    if parts[0].len() == 4 {
        return Some(RawDate::Ymd(
            parts[0].parse().ok()?,
            parts[1].parse().ok()?,
            parts[2].parse().ok()?,
        ));
    }
    Some(RawDate::Pair(
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        year(parts[2], apostrophe)?,
    ))
}

fn resolve(d: &RawDate, order: DateOrder) -> Option<NaiveDate> {
    match *d {
        RawDate::Ymd(y, m, dd) => NaiveDate::from_ymd_opt(y, m, dd),
        RawDate::Named(dd, m, y) => NaiveDate::from_ymd_opt(y, m, dd),
        RawDate::Pair(a, b, y) => match order {
            DateOrder::MonthFirst => NaiveDate::from_ymd_opt(y, a, b),
            DateOrder::DayFirst => NaiveDate::from_ymd_opt(y, b, a),
        },
    }
}

#[derive(Default)]
struct Record {
    line: usize,
    date: Option<String>,
    amount: Option<String>,
    payee: String,
    memo: String,
    category: Option<String>,
    check: Option<String>,
    splits: Vec<(usize, Option<String>)>,
}

/// Sections whose records are not bank transactions.
fn is_list_section(t: &str) -> bool {
    let l = t.to_ascii_lowercase();
    [
        "cat",
        "class",
        "memorized",
        "invst",
        "security",
        "prices",
        "template",
        "invitem",
    ]
    .iter()
    .any(|k| l.starts_with(k))
}

pub fn parse(bytes: &[u8], file: &str, default_order: DateOrder) -> Result<ParsedFile, ParseError> {
    let decoded = decode(bytes, None);
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let text = decoded.text;
    if !sniff(text.as_bytes()) {
        return Err(ParseError {
            file: file.to_string(),
            reason: "not a QIF file: it does not start with !Type, !Account, !Option or !Clear, nor with a record (D, T … ^)".into(),
        });
    }
    let (statements, skipped_sections) = read_records(&text, file, &mut warnings)?;
    if let Some(w) = skipped_warning(&skipped_sections) {
        warnings.push(w);
    }
    let order = date_order(&statements, file, default_order, &mut warnings)?;

    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (mut st, recs) in statements {
        for r in recs {
            match to_txn(&r, order) {
                Ok(t) => st.transactions.push(t),
                Err(e) => errors.push(e),
            }
        }
        st.start = st.transactions.iter().map(|t| t.date).min();
        st.end = st.transactions.iter().map(|t| t.date).max();
        out.push(st);
    }
    Ok(ParsedFile {
        format: Format::Qif,
        profile: None,
        statements: out,
        evidence: Vec::new(),
        warnings,
        errors,
    })
}

/// A file's statements, each with its records, in file order.
type Records = Vec<(Statement, Vec<Record>)>;

/// The first pass: the records of the bank sections, grouped into statements (an `!Account`
/// block names the next one), and the other sections skipped (named once each, in file order).
fn read_records(
    text: &str,
    file: &str,
    warnings: &mut Vec<String>,
) -> Result<(Records, Vec<String>), ParseError> {
    let mut statements: Records = Vec::new();
    let mut section_is_bank = true;
    let mut in_account_block = false;
    let mut pending_account: Option<String> = None;
    let mut cur = Record::default();
    // Skipped sections in file order, and the same as a set (a file may have many).
    let mut skipped_sections = Vec::new();
    let mut skipped_seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.len() > MAX_LINE {
            return Err(ParseError {
                file: file.to_string(),
                reason: too_long(line_no),
            });
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('!') {
            let h = h.trim();
            let lower = h.to_ascii_lowercase();
            if lower.starts_with("account") {
                in_account_block = true;
            } else if let Some(t) = lower.strip_prefix("type:") {
                in_account_block = false;
                section_is_bank = !is_list_section(t);
                if section_is_bank {
                    statements.push((
                        Statement {
                            account: pending_account.take(),
                            ..Default::default()
                        },
                        Vec::new(),
                    ));
                } else if skipped_seen.insert(h.to_string()) {
                    skipped_sections.push(h.to_string());
                }
            }
            continue;
        }
        let (code, value) = line.split_at(line.chars().next().map(char::len_utf8).unwrap_or(0));
        if in_account_block {
            match code {
                "N" => pending_account = Some(value.trim().to_string()),
                "^" => {}
                _ => {}
            }
            continue;
        }
        if !section_is_bank {
            continue;
        }
        if code == "^" {
            if cur.date.is_some() || cur.amount.is_some() {
                if statements.is_empty() {
                    warnings
                        .push("records before any !Type header were read as a bank account".into());
                    statements.push((Statement::default(), Vec::new()));
                }
                if let Some((_, recs)) = statements.last_mut() {
                    recs.push(std::mem::take(&mut cur));
                }
            }
            cur = Record::default();
            continue;
        }
        if cur.line == 0 {
            cur.line = line_no;
        }
        let v = value.trim().to_string();
        match code {
            "D" => cur.date = Some(v),
            "T" => cur.amount = Some(v),
            "U" if cur.amount.is_none() => cur.amount = Some(v),
            "P" => cur.payee = v,
            "M" => cur.memo = v,
            "L" => cur.category = Some(v).filter(|c| !c.is_empty()),
            "N" => cur.check = Some(v).filter(|c| !c.is_empty()),
            "$" => cur.splits.push((line_no, Some(v))),
            _ => {}
        }
    }
    if cur.date.is_some() || cur.amount.is_some() {
        if statements.is_empty() {
            statements.push((Statement::default(), Vec::new()));
        }
        if let Some((_, recs)) = statements.last_mut() {
            recs.push(cur);
        }
    }
    Ok((statements, skipped_sections))
}

/// The warning that names the sections skipped (the first five, and how many more).
fn skipped_warning(skipped_sections: &[String]) -> Option<String> {
    if skipped_sections.is_empty() {
        return None;
    }
    let mut named: Vec<String> = skipped_sections
        .iter()
        .take(5)
        .map(|h| shown(h).into_owned())
        .collect();
    if skipped_sections.len() > named.len() {
        named.push(format!("and {} more", skipped_sections.len() - named.len()));
    }
    Some(format!("skipped non-bank sections: {}", named.join(", ")))
}

/// Decides the date order once for the whole file: the order its unambiguous dates show, or
/// `default_order` (with a warning) when every date could be read either way.
fn date_order(
    statements: &Records,
    file: &str,
    default_order: DateOrder,
    warnings: &mut Vec<String>,
) -> Result<DateOrder, ParseError> {
    let raws: Vec<RawDate> = statements
        .iter()
        .flat_map(|(_, r)| r.iter())
        .filter_map(|r| r.date.as_deref().and_then(raw_date))
        .collect();
    // A date impossible in both orders (31/31/99) votes for neither: it becomes a row error.
    let day_first = raws
        .iter()
        .any(|d| matches!(d, RawDate::Pair(a, b, _) if *a > 12 && *b <= 12));
    let month_first = raws
        .iter()
        .any(|d| matches!(d, RawDate::Pair(a, b, _) if *b > 12 && *a <= 12));
    Ok(match (day_first, month_first) {
        (true, true) => {
            return Err(ParseError {
                file: file.to_string(),
                reason: "dates mix day-first and month-first orders".into(),
            });
        }
        (true, false) => DateOrder::DayFirst,
        (false, true) => DateOrder::MonthFirst,
        (false, false) => {
            if raws.iter().any(|d| matches!(d, RawDate::Pair(..))) {
                warnings.push(format!(
                    "every date could be day-first or month-first: read as {}",
                    match default_order {
                        DateOrder::MonthFirst => "month/day/year",
                        DateOrder::DayFirst => "day/month/year",
                    }
                ));
            }
            default_order
        }
    })
}

fn to_txn(r: &Record, order: DateOrder) -> Result<ParsedTxn, RowError> {
    let err = |reason: String| RowError {
        line: r.line,
        reason,
    };
    let dtext = r
        .date
        .as_deref()
        .ok_or_else(|| err("record has no D (date) line".into()))?;
    let date = raw_date(dtext)
        .and_then(|d| resolve(&d, order))
        .ok_or_else(|| err(format!("date \"{}\" is not a date", shown(dtext))))?;
    let atext = r
        .amount
        .as_deref()
        .ok_or_else(|| err("record has no T (amount) line".into()))?;
    let amount = parse_amount(atext)
        .ok_or_else(|| err(format!("amount \"{}\" is not an amount", shown(atext))))?;
    if !r.splits.is_empty() {
        let mut sum = Decimal::ZERO;
        for (line, s) in &r.splits {
            let s = s.as_deref().unwrap_or_default();
            let part = parse_amount(s).ok_or_else(|| RowError {
                line: *line,
                reason: format!("split amount \"{}\" is not an amount", shown(s)),
            })?;
            sum = sum.checked_add(part).ok_or_else(|| RowError {
                line: *line,
                reason: "the split amounts add up past what can be held".into(),
            })?;
        }
        if sum != amount {
            return Err(err(format!(
                "splits sum to {sum} but the total is {amount}"
            )));
        }
    }
    Ok(ParsedTxn {
        date,
        value_date: None,
        amount,
        currency: None,
        payee: r.payee.clone(),
        memo: r.memo.clone(),
        external_id: None,
        check_number: r.check.clone(),
        category: r.category.clone(),
        line: r.line,
        page: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ParsedFile {
        parse(s.as_bytes(), "t.qif", DateOrder::MonthFirst).expect("parses")
    }

    #[test]
    fn bank_records_splits_and_transfers() {
        let f = p(
            "!Type:Bank\nD12/19/18\nT-1,234.56\nPLandlord\nL[Savings]\n^\nD12/20'18\nT-30.00\nPShop\nSFood\n$-20.00\nSHome\n$-10.00\n^\n",
        );
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let t = &f.statements[0].transactions;
        assert_eq!(t[0].date, NaiveDate::from_ymd_opt(2018, 12, 19).expect("d"));
        assert_eq!(t[0].amount.to_string(), "-1234.56");
        assert_eq!(t[0].category.as_deref(), Some("[Savings]"));
        assert_eq!(t[1].date, NaiveDate::from_ymd_opt(2018, 12, 20).expect("d"));
    }

    #[test]
    fn splits_that_do_not_add_up_are_errors_naming_the_line() {
        let f = p("!Type:Bank\nD01/02/2024\nT-30.00\nSFood\n$-20.00\n^\n");
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].line, 2);
        assert!(f.errors[0].reason.contains("splits sum to -20.00"));
    }

    #[test]
    fn date_order_is_decided_once_per_file() {
        let f = p("!Type:Bank\nD03/04/2024\nT1\n^\nD28/02/2024\nT2\n^\n");
        let t = &f.statements[0].transactions;
        assert_eq!(
            t[0].date,
            NaiveDate::from_ymd_opt(2024, 4, 3).expect("d"),
            "a day > 12 pins day-first for every row"
        );
        let f = p("!Type:Bank\nD03/04/2024\nT1\n^\n");
        assert_eq!(
            f.statements[0].transactions[0].date,
            NaiveDate::from_ymd_opt(2024, 3, 4).expect("d")
        );
        assert!(f.warnings.iter().any(|w| w.contains("month/day/year")));
        let f = p(
            "!Type:Bank\nD 6/ 4'18\nT1\n^\nD3/11' 2\nT1\n^\nD2024-01-02\nT1\n^\nD26 Jan 2026\nT1\n^\n",
        );
        let d: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.date.to_string())
            .collect();
        assert_eq!(
            d,
            vec!["2018-06-04", "2002-03-11", "2024-01-02", "2026-01-26"]
        );
    }

    #[test]
    fn impossible_dates_are_row_errors_not_file_refusals() {
        let f = p(
            "!Type:Bank\nD01/02/2024\nT1\n^\nD31/31/99\nT2\n^\nD1/2/20245\nT3\n^\nD1/2/2147483647\nT4\n^\n",
        );
        assert_eq!(f.statements[0].transactions.len(), 1);
        assert_eq!(f.errors.len(), 3);
        assert!(f.errors.iter().all(|e| e.reason.contains("is not a date")));
    }

    #[test]
    fn multi_account_files_give_one_statement_per_account() {
        let f = p(
            "!Account\nNChecking\nTBank\n^\n!Type:Bank\nD01/02/2024\nT-1\n^\n!Account\nNVisa\nTCCard\n^\n!Type:CCard\nD01/03/2024\nT-2\n^\n",
        );
        assert_eq!(f.statements.len(), 2);
        assert_eq!(f.statements[1].account.as_deref(), Some("Visa"));
        assert_eq!(f.statements[1].transactions[0].amount.to_string(), "-2");
    }

    /// Files that begin with `!Option:AutoSwitch`, `!Clear:AutoSwitch`, `!Account`, an unknown
    /// `!Type:` or no header at all, with records ended by `^^`, are QIF and read as such.
    #[test]
    fn every_opening_banks_write_is_qif() {
        let body = "D01/02/2024\nT-1.50\nPShop\n^^\nD01/03/2024\nT2.00\nPPay\n^\n";
        for head in [
            "!Option:AutoSwitch\n!Account\nNChecking\nTBank\n^\n!Clear:AutoSwitch\n!Type:Bank\n",
            "!Clear:AutoSwitch\n!Type:Bank\n",
            "!Account\nNChecking\nTBank\n^\n!Type:Bank\n",
            "!Type:Savings\n",
            "!TYPE:BANK\n",
            "",
        ] {
            let text = format!("{head}{body}");
            assert!(sniff(text.as_bytes()), "{head:?} is QIF");
            assert_eq!(
                crate::detect(text.as_bytes()),
                Some(Format::Qif),
                "{head:?} is detected as QIF"
            );
            let f = p(&text);
            let amounts: Vec<String> = f
                .statements
                .iter()
                .flat_map(|s| &s.transactions)
                .map(|t| t.amount.to_string())
                .collect();
            assert_eq!(amounts, vec!["-1.50", "2.00"], "{head:?}");
        }
        // A CSV whose first column starts with D is not taken for headerless QIF.
        for not_qif in [
            "Date,Amount,Payee\n2024-01-02,-1.00,Shop\n",
            "D01/02/2024\nT-1\nhello\n^\n",
            "D01/02/2024\nPShop\n^\n",
        ] {
            assert!(!sniff(not_qif.as_bytes()), "{not_qif:?}");
        }
    }

    /// Split amounts that add up past a Decimal are a row error, not a panic.
    #[test]
    fn split_amounts_that_overflow_are_a_row_error() {
        let max = "79228162514264337593543950335";
        let f = p(&format!(
            "!Type:Bank\nD01/02/2024\nT1\nPX\nSA\n${max}\nSB\n${max}\n^\n"
        ));
        assert!(f.statements.iter().all(|s| s.transactions.is_empty()));
        assert!(f.errors[0].reason.contains("add up past"), "{:?}", f.errors);
    }
}
