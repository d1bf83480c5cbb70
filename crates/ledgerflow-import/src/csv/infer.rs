//! Inferring how to read a CSV that no preset recognises: the delimiter, the preamble and the
//! header, the date column and its format (decided from the whole column), the amount as one
//! signed column, a debit/credit pair or an amount with a direction column, the decimal and
//! thousands separators, payee and memo, a bank id, the footer. A running balance, when the
//! file has one, proves the sign convention row by row.
//!
//! The result is an ordinary [`Profile`] (named `auto`) the user can accept as it is
//! (`--format csv:auto`), save and edit, with the evidence and the ambiguities that led to it.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::profile::{Column, Profile, Sign};
use crate::model::parse_amount;
use crate::parsers::decode::encoding_for;

/// Records looked at, at most.
const SAMPLE_RECORDS: usize = 2_000;
/// Bytes looked at, at most.
const SAMPLE_BYTES: usize = 1024 * 1024;

/// What the inference decided, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Inferred {
    pub profile: Profile,
    /// 0–100: how sure the reading is.
    pub confidence: u8,
    /// Each column: its header (or `column N`) and the role it was given.
    pub columns: Vec<ColumnRole>,
    /// Why: "balance reconciles on 41/41 rows with debit negative", …
    pub evidence: Vec<String>,
    /// What could be read more than one way, with the choices.
    pub ambiguities: Vec<String>,
    /// The file's numbers do not say which mark is the decimal one (`1.200`, or both kinds).
    pub decimal_unsure: bool,
    /// Some of the file's numbers show their decimal mark (`12,50`, `3.99`).
    pub decimal_seen: bool,
    /// A running balance proved the amounts' column and sign.
    pub balance_proved: bool,
    /// How many of the amounts as read are positive, of how many.
    #[serde(skip)]
    positives: (usize, usize),
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnRole {
    pub index: usize,
    pub header: String,
    /// The role, said for a person: "date (%d.%m.%Y)", "debit (money out)", …
    pub role: String,
    /// The role, for a program (and the web form).
    pub kind: Role,
    /// The column's first cells, as the file has them.
    pub samples: Vec<String>,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Ignored,
    Date,
    /// One amount; signed, or unsigned with a direction column.
    Amount,
    /// Money out, positive.
    Debit,
    /// Money in, positive.
    Credit,
    /// Says which way the amount went (`DR`/`CR`, `S`/`H`, …).
    Direction,
    Payee,
    Memo,
    BankId,
    CheckNumber,
    /// Each row's currency code: checked against the account's.
    Currency,
    /// A running balance: not imported, it checks the signs.
    Balance,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::Ignored,
        Role::Date,
        Role::Amount,
        Role::Debit,
        Role::Credit,
        Role::Direction,
        Role::Payee,
        Role::Memo,
        Role::BankId,
        Role::CheckNumber,
        Role::Currency,
        Role::Balance,
    ];

    /// The name a form sends and the JSON carries.
    pub fn key(self) -> &'static str {
        match self {
            Role::Ignored => "ignored",
            Role::Date => "date",
            Role::Amount => "amount",
            Role::Debit => "debit",
            Role::Credit => "credit",
            Role::Direction => "direction",
            Role::Payee => "payee",
            Role::Memo => "memo",
            Role::BankId => "bank_id",
            Role::CheckNumber => "check_number",
            Role::Currency => "currency",
            Role::Balance => "balance",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Role::Ignored => "not imported",
            Role::Date => "date",
            Role::Amount => "amount",
            Role::Debit => "debit (money out)",
            Role::Credit => "credit (money in)",
            Role::Direction => "direction (in or out)",
            Role::Payee => "payee",
            Role::Memo => "memo",
            Role::BankId => "bank id",
            Role::CheckNumber => "check number",
            Role::Currency => "currency (checked against the account's)",
            Role::Balance => "running balance (not imported)",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.key() == key)
    }
}

/// A person's correction of an inferred reading: each column's role and how its cells read.
#[derive(Debug, Clone, Default)]
pub struct Correction {
    /// The role of each column, by position; columns not given are not imported.
    pub roles: Vec<Role>,
    /// chrono format of the date column.
    pub date_format: String,
    /// `.` or `,`.
    pub decimal: String,
    /// `,` `.` `'` ` ` or empty.
    pub thousands: String,
    /// Flip every sign (charges written positive).
    pub invert: bool,
    /// With a direction column: the values that mean money out.
    pub debit_flags: Vec<String>,
}

/// The date formats a person can choose from for a CSV's date column, with an example.
pub fn date_format_choices() -> Vec<(&'static str, String)> {
    let example = NaiveDate::from_ymd_opt(2024, 12, 31).unwrap_or_default();
    DATE_FORMATS
        .iter()
        .map(|f| (*f, example.format(f).to_string()))
        .collect()
}

impl Inferred {
    /// The reading for importing into `account`. A card account sees amounts from its own
    /// side (charges negative); a card's statement balance is often what is owed, which
    /// charges written positive raise — so a balance "proving" mostly positive amounts as
    /// money in proves nothing for a card, and the sign is named ambiguous.
    pub fn for_account(mut self, account: &ledgerflow_core::model::Account) -> Self {
        let (positive, of) = self.positives;
        if account.kind == ledgerflow_core::model::AccountKind::CreditCard
            && self.profile.sign == Sign::Signed
            && !self.profile.invert
            && positive * 2 > of
            && !self.ambiguities.iter().any(|a| a.contains("are positive"))
        {
            self.ambiguities.push(format!(
                "{positive} of {of} amounts are positive and \"{}\" is a credit card account: if the file writes charges positive (its balance what is owed), flip every sign",
                account.name
            ));
        }
        self
    }

    /// Refuses a reading that could be wrong: what is ambiguous, for the user to settle in a
    /// profile before anything is imported with it.
    pub fn settled(&self) -> Result<(), String> {
        if self.ambiguities.is_empty() {
            return Ok(());
        }
        Err(format!(
            "the inferred reading is ambiguous, so nothing was imported with it:\n{}",
            self.ambiguities
                .iter()
                .map(|a| format!("  - {}", ledgerflow_core::error::shown_whole(a)))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }

    /// The reading as a person corrected it: the same file shape (delimiter, preamble, header,
    /// footer, encoding), the columns and conventions as given. Checked: exactly one date
    /// column and a payee; one amount, or a debit and a credit column, or an amount with a
    /// direction column and the values that mean money out. The person decided, so nothing
    /// is left ambiguous — but a column marked as the running balance is the account's own
    /// record: the amounts as corrected are read from `bytes` (the file) and must move it, else
    /// the reading is named ambiguous until the amounts or the balance column are changed.
    pub fn corrected(&self, c: &Correction, bytes: &[u8]) -> Result<Inferred, String> {
        let width = self.columns.len();
        if c.roles.len() > width {
            return Err(format!(
                "the file has {width} columns, not {}",
                c.roles.len()
            ));
        }
        let role_at = |i: usize| c.roles.get(i).copied().unwrap_or(Role::Ignored);
        let with = |r: Role| (0..width).filter(|&i| role_at(i) == r).collect::<Vec<_>>();
        let one = |r: Role| -> Result<Option<usize>, String> {
            let found = with(r);
            match found.as_slice() {
                [] => Ok(None),
                [i] => Ok(Some(*i)),
                _ => Err(format!(
                    "only one column can be the {} (columns {})",
                    r.label(),
                    found
                        .iter()
                        .map(|i| (i + 1).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        };
        // Columns named as the inference named them (by header, or by position).
        let by_name = matches!(self.profile.date, Column::Name(_));
        let col = |i: usize| {
            if by_name {
                Column::Name(self.columns[i].header.clone())
            } else {
                Column::Index(i)
            }
        };
        let date = one(Role::Date)?.ok_or("choose the column that holds the date")?;
        let payee = one(Role::Payee)?.ok_or("choose the column that holds the payee")?;
        let (amount, debit, credit, flag) = (
            one(Role::Amount)?,
            one(Role::Debit)?,
            one(Role::Credit)?,
            one(Role::Direction)?,
        );
        let debit_flags: Vec<String> = c
            .debit_flags
            .iter()
            .map(|f| f.trim().chars().take(40).collect::<String>())
            .filter(|f| !f.is_empty())
            .take(20)
            .collect();
        let sign = match (amount, debit, credit, flag) {
            (Some(_), None, None, None) => Sign::Signed,
            (None, Some(_), Some(_), None) => Sign::DebitCredit,
            (Some(_), None, None, Some(_)) if !debit_flags.is_empty() => Sign::Flag,
            (Some(_), None, None, Some(_)) => {
                return Err(
                    "with a direction column, say which of its values mean money out".into(),
                );
            }
            _ => {
                return Err(
                    "choose one amount column, or a debit and a credit column, or an amount and a direction column"
                        .into(),
                );
            }
        };
        let mut profile = self.profile.clone();
        profile.date = col(date);
        profile.date_format = c.date_format.trim().to_string();
        profile.sign = sign;
        profile.amount = amount.map(col);
        profile.debit = debit.map(col);
        profile.credit = credit.map(col);
        profile.flag = flag.map(col);
        profile.debit_flags = if flag.is_some() {
            debit_flags
        } else {
            Vec::new()
        };
        profile.payee = col(payee);
        profile.memo = one(Role::Memo)?.map(col);
        profile.external_id = one(Role::BankId)?.map(col);
        profile.check_number = one(Role::CheckNumber)?.map(col);
        profile.currency = one(Role::Currency)?.map(col);
        profile.decimal = c.decimal.trim().to_string();
        profile.thousands = match c.thousands.as_str() {
            "space" => " ".into(),
            t => t.to_string(),
        };
        profile.invert = c.invert;
        profile.validate()?;
        let balance = one(Role::Balance)?;
        // The balance is the account's own record: the corrected amounts must move it.
        let mut ambiguities = Vec::new();
        let mut evidence = vec!["the columns and conventions were set by you".to_string()];
        if let Some(b) = balance {
            let header = ledgerflow_core::error::shown(&self.columns[b].header);
            match balance_check(bytes, &profile, b) {
                Some((n, checked, true)) => evidence.push(format!(
                    "balance \"{header}\" reconciles with these amounts on {n}/{checked} rows"
                )),
                Some((n, checked, false)) => ambiguities.push(format!(
                    "the column marked as the running balance (\"{header}\") does not move with these amounts ({n} of {checked} rows): correct the amount columns or signs, or set that column to \"not imported\" to read the amounts your way"
                )),
                None => ambiguities.push(format!(
                    "the column marked as the running balance (\"{header}\") holds no balances to check these amounts against: set it to \"not imported\""
                )),
            }
        }
        let columns = self
            .columns
            .iter()
            .map(|cr| {
                let kind = if balance == Some(cr.index) {
                    Role::Balance
                } else {
                    role_of(&profile, &col(cr.index))
                };
                ColumnRole {
                    role: describe_role(&profile, kind),
                    kind,
                    ..cr.clone()
                }
            })
            .collect();
        Ok(Inferred {
            profile,
            confidence: if ambiguities.is_empty() { 100 } else { 50 },
            balance_proved: ambiguities.is_empty() && balance.is_some(),
            // The person chose the signs.
            positives: (0, 0),
            columns,
            evidence,
            ambiguities,
            decimal_unsure: false,
            decimal_seen: self.decimal_seen,
        })
    }

    /// The mapping in one line per column, for a terminal or an error message.
    pub fn describe(&self) -> String {
        let p = &self.profile;
        let mut out = vec![format!(
            "delimiter {:?}, {}header{}, dates {}, decimal \"{}\"{}",
            p.delimiter,
            if p.has_header { "" } else { "no " },
            if p.skip_lines > 0 {
                format!(" after {} preamble lines", p.skip_lines)
            } else {
                String::new()
            },
            p.date_format,
            p.decimal,
            if p.skip_footer > 0 {
                format!(", {} footer lines skipped", p.skip_footer)
            } else {
                String::new()
            }
        )];
        for c in self.columns.iter().filter(|c| c.role != "ignored") {
            out.push(format!(
                "  column {} \"{}\": {}",
                c.index + 1,
                ledgerflow_core::error::shown(&c.header),
                ledgerflow_core::error::shown_whole(&c.role)
            ));
        }
        out.push(format!("confidence {}%", self.confidence));
        let plain = ledgerflow_core::error::shown_whole;
        out.extend(
            self.evidence
                .iter()
                .map(|e| format!("  evidence: {}", plain(e))),
        );
        out.extend(
            self.ambiguities
                .iter()
                .map(|a| format!("  ambiguous: {}", plain(a))),
        );
        out.join("\n")
    }
}

/// A date format candidate: the chrono format and how to read a cell with it.
const DATE_FORMATS: [&str; 19] = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y.%m.%d.",
    "%d %b %y",
    "%Y%m%d",
    "%d.%m.%Y",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d.%m.%y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d-%m-%y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%d %B %Y",
    "%b %d, %Y",
];

fn parse_date(cell: &str, fmt: &str) -> Option<NaiveDate> {
    let read = |t: &str| {
        NaiveDate::parse_from_str(t, fmt)
            .ok()
            // Two-digit years read as 1970–2069; anything else is not a bank date.
            .filter(|d| (1950..=2100).contains(&d.year()))
    };
    let c = cell.trim();
    read(c).or_else(|| {
        let head = super::record::date_head(c);
        (head.len() < c.len()).then(|| read(head)).flatten()
    })
}

/// Words in header names (lower case, several languages) that say what a column holds.
const DATE_WORDS: [&str; 14] = [
    "date",
    "datum",
    "buchung",
    "fecha",
    "data",
    "posted",
    "booking",
    "transaction date",
    "valuta",
    "value",
    "dátum",
    "päivä",
    "dato",
    "day",
];
const AMOUNT_WORDS: [&str; 12] = [
    "amount", "betrag", "bedrag", "montant", "importe", "importo", "kwota", "belopp", "beløb",
    "summa", "umsatz", "value",
];
const DEBIT_WORDS: [&str; 12] = [
    "debit",
    "withdrawal",
    "paid out",
    "money out",
    "out",
    "soll",
    "ausgang",
    "uitgaven",
    "débit",
    "charge",
    "spent",
    "outflow",
];
const CREDIT_WORDS: [&str; 11] = [
    "credit",
    "deposit",
    "paid in",
    "money in",
    "in",
    "haben",
    "eingang",
    "inkomsten",
    "crédit",
    "received",
    "inflow",
];
const BALANCE_WORDS: [&str; 6] = ["balance", "saldo", "solde", "kontostand", "running", "bal"];
const PAYEE_WORDS: [&str; 17] = [
    "payee",
    "name",
    "merchant",
    "beguenstigter",
    "begünstigter",
    "empfänger",
    "empfaenger",
    "naam",
    "tegenpartij",
    "counterparty",
    "beneficiary",
    "auftraggeber",
    "zahlungspflichtig",
    "description",
    "libellé",
    "omschrijving",
    "bezeichnung",
];
const MEMO_WORDS: [&str; 11] = [
    "memo",
    "verwendungszweck",
    "mededelingen",
    "reference",
    "details",
    "notes",
    "purpose",
    "narrative",
    "remittance",
    "buchungstext",
    "text",
];
/// Words naming an amount in another currency than the booked one, or a rate.
const OTHER_CURRENCY_WORDS: [&str; 15] = [
    "foreign",
    "intl",
    "international",
    "umrechnungskurs",
    "fremdwährung",
    "fremd",
    "original",
    "orig",
    "ursprung",
    "local",
    "fx",
    "rate",
    "kurs",
    "exchange",
    "wechsel",
];
const ID_WORDS: [&str; 6] = [
    "transaction id",
    "fitid",
    "transaktions-id",
    "reference number",
    "trans id",
    "id",
];
/// Values of a direction column, as (money out, money in).
const DIRECTIONS: [(&str, &str); 7] = [
    ("dr", "cr"),
    ("d", "c"),
    ("af", "bij"),
    ("s", "h"),
    ("debit", "credit"),
    ("db", "cr"),
    ("-", "+"),
];

/// A header names one of `words`: the whole header, one of its words (for words of four
/// letters or more, so "in" is not found in "Betrag in EUR"), or containing a long word.
fn words_match(header: &str, words: &[&str]) -> bool {
    let h = header.trim().to_lowercase();
    words.iter().any(|w| {
        h == *w
            || (w.len() >= 4
                && h.split(|c: char| !c.is_alphanumeric() && c != '-')
                    .any(|part| part == *w))
            || (w.len() > 4 && h.contains(w))
            || (w.contains(' ') && h.contains(w))
    })
}

/// Words naming a column of currency codes.
const CURRENCY_WORDS: [&str; 9] = [
    "currency", "munt", "währung", "waehrung", "devise", "moneda", "valuta", "ccy", "curr",
];

/// A currency code written in a header or a preamble cell ("Amount (EUR)", "Betrag in EUR",
/// "Betrag (€)"): a known code in capitals, standing as a word.
fn code_in(text: &str) -> Option<String> {
    if text.contains('€') {
        return Some("EUR".into());
    }
    text.split(|c: char| !c.is_ascii_alphabetic())
        .find(|w| {
            w.len() == 3
                && w.bytes().all(|b| b.is_ascii_uppercase())
                && ledgerflow_core::Currency::from_code(w).is_ok()
        })
        .map(str::to_string)
}

/// Columns by their headers for a message: the first six, then how many more.
fn listed(cols: &[usize], headers: &[String]) -> String {
    let mut out: Vec<String> = cols
        .iter()
        .take(6)
        .map(|c| format!("\"{}\"", ledgerflow_core::error::shown(&headers[*c])))
        .collect();
    if cols.len() > 6 {
        out.push(format!("and {} more", cols.len() - 6));
    }
    out.join(", ")
}

/// The most columns a bank export is read with: wider rows are no statement (and would cost
/// every column's survey).
const MAX_COLUMNS: usize = 256;

/// One record and the line it starts on.
struct Rec {
    line: usize,
    cells: Vec<String>,
}

fn records(text: &str, delimiter: u8) -> Vec<Rec> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut rec = ::csv::StringRecord::new();
    // The line a record starts on, counted from its first byte: the reader's own line count
    // lags by one after a CRLF line ending, which would make the header a preamble line.
    let bytes = text.as_bytes();
    let (mut counted_to, mut newlines) = (0usize, 0usize);
    while out.len() < SAMPLE_RECORDS {
        match rdr.read_record(&mut rec) {
            Ok(true) => {
                let mut start = rec
                    .position()
                    .map_or(counted_to, |p| p.byte() as usize)
                    .clamp(counted_to, bytes.len());
                while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
                    start += 1;
                }
                newlines += bytes[counted_to..start]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                counted_to = start;
                out.push(Rec {
                    line: newlines + 1,
                    // One cell past the limit marks a record as too wide.
                    cells: rec
                        .iter()
                        .take(MAX_COLUMNS + 1)
                        .map(|c| c.trim().to_string())
                        .collect(),
                });
            }
            Ok(false) => break,
            // A broken quote in the sample: what was read so far decides.
            Err(_) => break,
        }
    }
    out
}

/// The delimiter whose records agree most on a field count (more than one field).
fn pick_delimiter(text: &str) -> Option<(u8, Vec<Rec>, usize)> {
    let mut best: Option<(usize, u8, Vec<Rec>, usize)> = None;
    for d in [b',', b';', b'\t', b'|'] {
        let recs = records(text, d);
        let mut counts: std::collections::HashMap<usize, usize> = Default::default();
        for r in &recs {
            *counts.entry(r.cells.len()).or_default() += 1;
        }
        let Some((&width, &n)) = counts
            .iter()
            .filter(|(w, _)| **w > 1)
            .max_by_key(|(w, n)| (**n, **w))
        else {
            continue;
        };
        let score = n * width.min(12);
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, d, recs, width));
        }
    }
    best.map(|(_, d, recs, w)| (d, recs, w))
}

/// What a column's cells look like.
#[derive(Default)]
struct ColumnSurvey {
    filled: usize,
    /// Date formats that read at least 80% of the filled cells (pending rows aside).
    date_formats: Vec<&'static str>,
    /// Per format: cells read, cells not read, cells not read since the last one read.
    date_hits: Vec<(usize, usize, usize)>,
    numeric: usize,
    negative: usize,
    comma_decimal: usize,
    dot_decimal: usize,
    /// Numbers with one separator and three digits after it ("1.200"): a thousands separator
    /// or a decimal mark, the file does not say.
    three_after: usize,
    /// Numbers grouped with apostrophes (Swiss "1'200.50").
    apostrophes: usize,
    distinct: HashSet<String>,
    letters: usize,
    total_len: usize,
}

fn has_letters(s: &str) -> bool {
    s.chars().any(char::is_alphabetic)
}

/// A cell as a number, with the separators `decimal` decides (currency symbols and codes,
/// spaces and apostrophes dropped).
fn number(cell: &str, decimal: char) -> Option<Decimal> {
    let mut t: String = cell
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\''))
        .collect();
    if t.is_empty() {
        return None;
    }
    let thousands = if decimal == ',' { '.' } else { ',' };
    t = t.replace(thousands, "");
    if decimal == ',' {
        t = t.replace(',', ".");
    }
    parse_amount(&t)
}

/// What a number's separators say.
enum Mark {
    /// This separator ends it as its decimal point (`1.234,56` → `,`).
    Decimal(char),
    /// One separator with three digits after it ("1.200"): thousands or decimals, it does not say.
    ThreeAfter,
    None,
}

fn decimal_mark(cell: &str) -> Mark {
    let digits: String = cell
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .collect();
    let (comma, dot) = (digits.rfind(','), digits.rfind('.'));
    let (sep, at) = match (comma, dot) {
        (Some(c), Some(d)) if c > d => (',', c),
        (Some(_), Some(d)) => ('.', d),
        (Some(c), None) => (',', c),
        (None, Some(d)) => ('.', d),
        (None, None) => return Mark::None,
    };
    let after = digits.len() - at - 1;
    let both = comma.is_some() && dot.is_some();
    if (1..=2).contains(&after) || (after == 3 && both) {
        Mark::Decimal(sep)
    } else if after == 3 && digits.matches([',', '.']).count() == 1 {
        Mark::ThreeAfter
    } else {
        Mark::None
    }
}

fn survey(rows: &[&Rec], col: usize) -> ColumnSurvey {
    let mut p = ColumnSurvey {
        date_hits: vec![(0, 0, 0); DATE_FORMATS.len()],
        ..Default::default()
    };
    let mut pending = 0;
    for r in rows {
        let c = r.cells.get(col).map(String::as_str).unwrap_or("");
        if c.is_empty() {
            continue;
        }
        p.filled += 1;
        p.total_len += c.chars().count();
        if p.distinct.len() < 1000 {
            p.distinct.insert(c.to_lowercase());
        }
        if c.eq_ignore_ascii_case("pending") {
            pending += 1;
        } else {
            for ((hits, misses, since), f) in p.date_hits.iter_mut().zip(DATE_FORMATS) {
                if parse_date(c, f).is_some() {
                    *hits += 1;
                    *since = 0;
                } else {
                    *misses += 1;
                    *since += 1;
                }
            }
        }
        let bare = c.trim_start_matches(['-', '+', '(']);
        let looks_numeric = number(c, '.').is_some() || number(c, ',').is_some();
        if looks_numeric && !bare.is_empty() {
            p.numeric += 1;
            if c.starts_with('-') || c.starts_with('(') || c.ends_with('-') {
                p.negative += 1;
            }
            match decimal_mark(c) {
                Mark::Decimal(',') => p.comma_decimal += 1,
                Mark::Decimal(_) => p.dot_decimal += 1,
                Mark::ThreeAfter => p.three_after += 1,
                Mark::None => {}
            }
            if c.contains('\'') {
                p.apostrophes += 1;
            }
        } else if has_letters(c) {
            p.letters += 1;
        }
    }
    // A date column: its format reads 80% of the cells, or every cell but the last few (the
    // footer of a short file).
    let dates = p.filled - pending;
    let qualifies = |&(hits, misses, since): &(usize, usize, usize)| {
        hits * 5 >= dates * 4 || (hits >= 2 && misses == since)
    };
    let best = p
        .date_hits
        .iter()
        .filter(|h| qualifies(h))
        .map(|h| h.0)
        .max()
        .unwrap_or(0);
    if dates > 0 && best > 0 {
        p.date_formats = DATE_FORMATS
            .iter()
            .zip(&p.date_hits)
            .filter(|(_, h)| h.0 == best && qualifies(h))
            .map(|(f, _)| *f)
            .collect();
    }
    p
}

/// The role of each column as decided, kept while deciding.
#[derive(Default)]
struct Roles {
    date: Option<usize>,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    flag: Option<(usize, Vec<String>)>,
    balance: Option<usize>,
    payee: Option<usize>,
    memo: Option<usize>,
    id: Option<usize>,
    currency: Option<usize>,
}

/// Infers a profile for `text` (decoded), read with `encoding` (recorded in the profile when it
/// is not UTF-8). `Err` says why no reading was found.
pub fn infer(text: &str, encoding: &str) -> Result<Inferred, String> {
    let mut cut = text.len().min(SAMPLE_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let sample = text[..cut].trim_start_matches('\u{feff}');
    let (delimiter, recs, width) = pick_delimiter(sample)
        .ok_or_else(|| "no delimiter splits its lines into columns".to_string())?;
    if width > MAX_COLUMNS {
        return Err(format!(
            "its rows have more than {MAX_COLUMNS} columns: no bank export is that wide"
        ));
    }
    let mut evidence = Vec::new();
    let mut ambiguities = Vec::new();
    // The table: records of the common width (a record one short, a trailing empty cell
    // dropped by the bank, counts too).
    let fits = |r: &Rec| r.cells.len() == width || r.cells.len() + 1 == width;
    // Where the table starts: the row before the first transaction-like row (a date and a
    // number in it) is the header, whatever preamble lines of the same width come before it
    // (spreadsheets pad them with empty cells); else the first row of the common width.
    let transaction_like = |r: &Rec| {
        let dated = r
            .cells
            .iter()
            .position(|c| c.len() <= 40 && DATE_FORMATS.iter().any(|f| parse_date(c, f).is_some()));
        dated.is_some_and(|d| {
            r.cells.iter().enumerate().any(|(i, c)| {
                i != d && !has_letters(c) && (number(c, '.').is_some() || number(c, ',').is_some())
            })
        })
    };
    let first = match recs.iter().position(|r| fits(r) && transaction_like(r)) {
        Some(body) => recs[..body]
            .iter()
            .rposition(|r| fits(r) && r.cells.iter().any(|c| !c.is_empty()))
            .unwrap_or(body),
        None => recs.iter().position(fits).ok_or("no rows")?,
    };
    let last = recs.iter().rposition(fits).unwrap_or(first);
    let table: Vec<&Rec> = recs[first..=last].iter().filter(|r| fits(r)).collect();
    if table.is_empty() {
        return Err("no rows share a shape".into());
    }
    // The header: a first row with no date or number where the rows below have them.
    let body_probe: Vec<&Rec> = table[1..].to_vec();
    let head = table[0];
    let typed_below = (0..width).filter(|&c| {
        let p = survey(&body_probe, c);
        p.filled > 0 && (!p.date_formats.is_empty() || p.numeric * 10 >= p.filled * 9)
    });
    let mut header_votes = 0;
    let mut typed = 0;
    for c in typed_below {
        typed += 1;
        let cell = head.cells.get(c).map(String::as_str).unwrap_or("");
        let p = survey(&[head], c);
        if cell.is_empty() || (p.date_formats.is_empty() && p.numeric == 0) {
            header_votes += 1;
        }
    }
    let has_header = table.len() > 1 && typed > 0 && header_votes * 2 > typed;
    let mut rows: Vec<&Rec> = if has_header {
        body_probe
    } else {
        table.clone()
    };
    let headers: Vec<String> = (0..width)
        .map(|i| {
            if has_header {
                head.cells.get(i).cloned().unwrap_or_default()
            } else {
                format!("column {}", i + 1)
            }
        })
        .collect();
    let skip_lines = head.line.saturating_sub(1);
    let mut surveys: Vec<ColumnSurvey> = (0..width).map(|c| survey(&rows, c)).collect();
    let named = |c: usize, words: &[&str]| has_header && words_match(&headers[c], words);
    let mut roles = Roles::default();

    // The date: a column every cell of which reads as a date, preferring a header that says so
    // and, among those, the first (the booking date before the value date).
    // Rows with anything in them (a blank row of delimiters is no evidence either way).
    let filled_rows = rows
        .iter()
        .filter(|r| r.cells.iter().any(|c| !c.is_empty()))
        .count();
    let dated: Vec<usize> = (0..width)
        .filter(|&c| {
            surveys[c].filled * 5 >= filled_rows * 4 && !surveys[c].date_formats.is_empty()
        })
        .collect();
    // A date that is the same on every row is the statement's (its period's start or end,
    // the export's day), not the transactions': passed over when another date column varies.
    let varying: Vec<usize> = dated
        .iter()
        .copied()
        .filter(|&c| surveys[c].distinct.len() > 1)
        .collect();
    let candidates = if filled_rows > 1 && !varying.is_empty() {
        &varying
    } else {
        &dated
    };
    let date_col = candidates
        .iter()
        .copied()
        .find(|&c| named(c, &DATE_WORDS))
        .or_else(|| candidates.first().copied())
        .ok_or("no column holds dates in every row")?;
    roles.date = Some(date_col);
    let formats = surveys[date_col].date_formats.clone();
    let date_format = pick_date_format(&formats, &rows, date_col, &mut evidence, &mut ambiguities);
    // The rows after the last dated one are a footer ("Total", "Saldo"): they say nothing of
    // the columns' types.
    if let Some(last_dated) = rows.iter().rposition(|r| {
        r.cells
            .get(date_col)
            .and_then(|c| parse_date(c, date_format))
            .is_some()
    }) && last_dated + 1 < rows.len()
    {
        rows.truncate(last_dated + 1);
        surveys = (0..width).map(|c| survey(&rows, c)).collect();
    }

    // The decimal separator, from every numeric column that is not a date.
    let (commas, dots) = surveys
        .iter()
        .enumerate()
        .filter(|(c, _)| !dated.contains(c))
        .fold((0, 0), |(c, d), (_, s)| {
            (c + s.comma_decimal, d + s.dot_decimal)
        });
    let decimal = if commas > dots { ',' } else { '.' };
    let mut decimal_unsure = commas > 0 && dots > 0;
    if commas > 0 && dots > 0 {
        ambiguities.push(format!(
            "decimal separator: {commas} amounts end in \",dd\" and {dots} in \".dd\"; read with \"{decimal}\""
        ));
    }
    let undated = || {
        surveys
            .iter()
            .enumerate()
            .filter(|(c, _)| !dated.contains(c))
            .map(|(_, s)| s)
    };
    let three_after: usize = undated().map(|s| s.three_after).sum();
    if commas + dots == 0 && three_after > 0 {
        decimal_unsure = true;
        ambiguities.push(format!(
            "{three_after} amounts are written like \"1.200\" or \"1,200\": a thousands separator or three decimals, the file does not say; read with decimal \"{decimal}\""
        ));
    }
    let apostrophes = undated().any(|s| s.apostrophes > 0);
    let numeric: Vec<usize> = (0..width)
        .filter(|&c| {
            !dated.contains(&c)
                && surveys[c].numeric > 0
                && surveys[c].numeric == surveys[c].filled
                && surveys[c].letters == 0
                && !(surveys[c].filled == rows.len()
                    && surveys[c].distinct.len() == rows.len()
                    && surveys[c].negative == 0
                    && surveys[c].comma_decimal + surveys[c].dot_decimal == 0
                    && !named(c, &AMOUNT_WORDS))
        })
        .collect();
    let amounts = |c: usize| -> Vec<Option<Decimal>> {
        rows.iter()
            .map(|r| r.cells.get(c).and_then(|v| number(v, decimal)))
            .collect()
    };

    // The balance: a numeric column named so, else none (proved below, never guessed). One
    // that holds the same value on every row is a statement's opening or closing balance, not
    // a running one.
    let constant = |c: usize| rows.len() > 1 && surveys[c].distinct.len() == 1;
    let balance_named =
        |c: usize| named(c, &BALANCE_WORDS) && !(constant(c) && surveys[c].filled == rows.len());
    roles.balance = numeric.iter().copied().find(|&c| balance_named(c));
    let money: Vec<usize> = numeric
        .iter()
        .copied()
        .filter(|c| Some(*c) != roles.balance)
        .collect();
    let debit = money.iter().copied().find(|&c| named(c, &DEBIT_WORDS));
    let credit = money
        .iter()
        .copied()
        .find(|&c| named(c, &CREDIT_WORDS) && Some(c) != debit);
    // The booked amount before an original-currency one, a local copy or a rate.
    let other_currency = |c: usize| has_header && words_match(&headers[c], &OTHER_CURRENCY_WORDS);
    let booked_named = money
        .iter()
        .copied()
        .find(|&c| named(c, &AMOUNT_WORDS) && !other_currency(c));
    let amount_named = booked_named.or_else(|| {
        // Every column named as an amount is named as another currency's: which one is
        // booked, the names do not say.
        let a = money.iter().copied().find(|&c| named(c, &AMOUNT_WORDS))?;
        let all: Vec<usize> = money
            .iter()
            .copied()
            .filter(|&c| named(c, &AMOUNT_WORDS))
            .collect();
        if all.len() > 1 {
            ambiguities.push(format!(
                "several columns hold amounts ({}), each named as another currency's: read \"{}\" as the amount",
                listed(&all, &headers),
                headers[a]
            ));
        }
        Some(a)
    });
    // The balance is the account's own record: when a named balance is moved row by row by
    // another column and not by the one named as the amount (a gross beside a net), the
    // balance decides.
    let by_balance = amount_with_balance(&money, roles.balance, &amounts, rows.len());
    let amount_named = match (amount_named, by_balance) {
        (Some(a), Some((m, b))) if m != a && roles.balance.is_some() => {
            evidence.push(format!(
                "\"{}\" moves the balance \"{}\" row by row and \"{}\" does not: read \"{}\" as the amount",
                headers[m], headers[b], headers[a], headers[m]
            ));
            Some(m)
        }
        (a, _) => a,
    };
    // Two columns of which each row fills exactly one: a debit/credit pair.
    // Two columns never both holding money, each alone on some row: a debit/credit pair.
    let pair = |a: usize, b: usize| {
        let money_in = |r: &Rec, c: usize| {
            r.cells
                .get(c)
                .and_then(|v| number(v, decimal))
                .is_some_and(|d| !d.is_zero())
        };
        let (mut both, mut only_a, mut only_b) = (0, 0, 0);
        for r in &rows {
            match (money_in(r, a), money_in(r, b)) {
                (true, true) => both += 1,
                (true, false) => only_a += 1,
                (false, true) => only_b += 1,
                _ => {}
            }
        }
        both * 10 <= rows.len() && only_a > 0 && only_b > 0
    };
    let mut sign = Sign::Signed;
    if let (Some(d), Some(c)) = (debit, credit) {
        sign = Sign::DebitCredit;
        roles.debit = Some(d);
        roles.credit = Some(c);
        evidence.push(format!(
            "columns \"{}\" and \"{}\" are named debit and credit",
            headers[d], headers[c]
        ));
    } else if let Some(a) = amount_named
        .or_else(|| {
            // Unnamed columns: the one a balance column reconciles with, when one does.
            by_balance.map(|(a, b)| {
                evidence.push(format!(
                    "\"{}\" moves \"{}\" row by row: amount and balance",
                    headers[a], headers[b]
                ));
                a
            })
        })
        .or_else(|| {
            // An unnamed signed column: the money column with negative values.
            let a = money.iter().copied().find(|&c| surveys[c].negative > 0)?;
            if money.len() > 1 {
                ambiguities.push(format!(
                    "several columns hold amounts ({}): read \"{}\" as the amount",
                    listed(&money, &headers),
                    headers[a]
                ));
            }
            Some(a)
        })
    {
        roles.amount = Some(a);
        // An unsigned amount and a direction column.
        if surveys[a].negative == 0
            && let Some((fc, outs)) = direction_column(&surveys, &rows, date_col)
        {
            sign = Sign::Flag;
            evidence.push(format!(
                "column \"{}\" says the direction ({} mean money out)",
                headers[fc],
                outs.join(", ")
            ));
            roles.flag = Some((fc, outs));
        }
    } else if money.len() >= 2 && pair(money[0], money[1]) {
        sign = Sign::DebitCredit;
        roles.debit = Some(money[0]);
        roles.credit = Some(money[1]);
        ambiguities.push(format!(
            "\"{}\" and \"{}\" are never filled together: read as debit and credit (which is which was guessed unless a balance proves it)",
            headers[money[0]], headers[money[1]]
        ));
    } else if let Some(&a) = money.first() {
        roles.amount = Some(a);
    }
    if roles.amount.is_none() && roles.debit.is_none() {
        return Err("no column holds amounts".into());
    }
    // A balance not named: the last money column that the amounts reconcile against.
    let mut invert = false;
    let flows = |inv: bool, swap: bool| -> Vec<Option<Decimal>> {
        let v: Vec<Option<Decimal>> = match (&sign, roles.amount, roles.debit, roles.credit) {
            (Sign::DebitCredit, _, Some(d), Some(c)) => {
                let (d, c) = if swap { (c, d) } else { (d, c) };
                let (dv, cv) = (amounts(d), amounts(c));
                dv.iter()
                    .zip(&cv)
                    .map(|(d, c)| match (d, c) {
                        (Some(d), Some(c)) => Some(c.abs() - d.abs()),
                        (Some(d), None) => Some(-d.abs()),
                        (None, Some(c)) => Some(c.abs()),
                        (None, None) => None,
                    })
                    .collect()
            }
            (Sign::Flag, Some(a), _, _) => {
                let (fc, outs) = roles.flag.clone().unwrap_or_default();
                amounts(a)
                    .iter()
                    .zip(&rows)
                    .map(|(v, r)| {
                        let out = r
                            .cells
                            .get(fc)
                            .is_some_and(|f| outs.iter().any(|o| o.eq_ignore_ascii_case(f)));
                        let out = out != swap;
                        v.map(|v| if out { -v.abs() } else { v.abs() })
                    })
                    .collect()
            }
            (_, Some(a), _, _) => amounts(a),
            _ => Vec::new(),
        };
        v.into_iter()
            .map(|x| x.map(|x| if inv { -x } else { x }))
            .collect()
    };
    let balance_candidates: Vec<usize> = match roles.balance {
        Some(b) => vec![b],
        None => numeric
            .iter()
            .copied()
            .filter(|c| {
                Some(*c) != roles.amount && Some(*c) != roles.debit && Some(*c) != roles.credit
            })
            .collect(),
    };
    // Which way the dates run, for the opening balance when the balance does not say.
    let newest_first = {
        let d: Vec<NaiveDate> = rows
            .iter()
            .filter_map(|r| {
                r.cells
                    .get(date_col)
                    .and_then(|c| parse_date(c, date_format))
            })
            .collect();
        if d.first() == d.last() {
            None
        } else if d.windows(2).all(|w| w[0] >= w[1]) {
            Some(true)
        } else if d.windows(2).all(|w| w[0] <= w[1]) {
            Some(false)
        } else {
            None
        }
    };
    let named_balance = roles.balance;
    let mut proved = false;
    let mut confirmed = false;
    'search: for b in balance_candidates {
        let bal = amounts(b);
        let mut best: Option<(usize, usize, bool, bool)> = None;
        let mut tried: Vec<usize> = Vec::new();
        // A signed column may have its signs flipped; a pair or a direction column may be
        // the other way round.
        let ways: &[(bool, bool)] = if matches!(sign, Sign::Signed) {
            &[(false, false), (true, false)]
        } else {
            &[(false, false), (false, true)]
        };
        for &(inv, swap) in ways {
            let f = flows(inv, swap);
            let (n, of) = reconciled(&f, &bal);
            tried.push(n);
            if best.is_none_or(|x| n > x.0) {
                best = Some((n, of, inv, swap));
            }
        }
        // A balance named so that the amounts, read as written, move exactly on some rows (a
        // third or more) and the other way on none: rows are missing between the others (an
        // excerpt, a filtered export), the reading is confirmed all the same. Such partial
        // evidence confirms; it never flips signs or swaps columns.
        // No other money column may move it as often (which amount is meant, it would not say).
        let rivals = |n: usize| {
            money.iter().copied().any(|c| {
                Some(c) != roles.amount && Some(c) != roles.debit && Some(c) != roles.credit && {
                    let f = amounts(c);
                    let neg: Vec<Option<Decimal>> = f.iter().map(|x| x.map(|v| -v)).collect();
                    reconciled(&f, &bal).0.max(reconciled(&neg, &bal).0) >= n
                }
            })
        };
        let partly = |n: usize, checked: usize, inv: bool, swap: bool| {
            named_balance == Some(b)
                && !inv
                && !swap
                && n >= 1
                && n * 3 >= checked
                && tried.iter().filter(|t| **t > 0).count() == 1
                && !rivals(n)
        };
        if let Some((n, checked, inv, swap)) = best
            && checked > 0
            && (n * 10 >= checked * 9 || partly(n, checked, inv, swap))
        {
            let open = opening_balance(&flows(inv, swap), &bal, newest_first);
            roles.balance = Some(b);
            invert = inv && matches!(sign, Sign::Signed);
            if swap {
                if let (Some(d), Some(c)) = (roles.debit, roles.credit) {
                    roles.debit = Some(c);
                    roles.credit = Some(d);
                }
                if let Some((fc, outs)) = roles.flag.take() {
                    let ins: Vec<String> = rows
                        .iter()
                        .filter_map(|r| r.cells.get(fc))
                        .filter(|v| !outs.iter().any(|o| o.eq_ignore_ascii_case(v)))
                        .map(|v| v.to_string())
                        .collect::<HashSet<_>>()
                        .into_iter()
                        .collect();
                    roles.flag = Some((fc, ins));
                }
            }
            let how = match sign {
                Sign::Signed if invert => "with the signs flipped (charges positive)",
                Sign::Signed => "with money out negative",
                Sign::DebitCredit => "with debit negative",
                Sign::Flag => "with the direction column's values",
            };
            evidence.push(format!(
                "balance \"{}\" reconciles on {n}/{checked} rows {how}",
                headers[b]
            ));
            if let Some(open) = open {
                evidence.push(format!(
                    "the balance before the file's first transaction is {open}: give the account that opening balance (if this file starts its history) and its balance matches the bank's"
                ));
            }
            if n * 10 < checked * 9 {
                // Confirmed, not proved: the other doubts (mostly positive amounts, several
                // amount columns) still stand.
                evidence.push(format!(
                    "the balance does not move by the amount on {} rows: rows may be missing from the file",
                    checked - n
                ));
                confirmed = true;
            } else {
                proved = true;
            }
            break 'search;
        }
    }
    if !proved {
        // A column named as the balance that does not reconcile: the reading is in doubt.
        if !confirmed {
            if let Some(b) = numeric.iter().copied().find(|&c| balance_named(c)) {
                ambiguities.push(format!(
                    "\"{}\" looks like a running balance but the amounts do not move it row by row",
                    headers[b]
                ));
            }
            roles.balance = None;
        }
        // Other columns that could be the amount (an original-currency amount beside the
        // booked one, a total, a fee): which one is meant, nothing proves. A column holding
        // one value on every row (a bank code, a statement's total) is no row's amount.
        let others: Vec<usize> = money
            .iter()
            .copied()
            .filter(|c| {
                Some(*c) != roles.amount
                    && Some(*c) != roles.debit
                    && Some(*c) != roles.credit
                    && surveys[*c].filled * 2 >= rows.len()
                    && !other_currency(*c)
                    && !constant(*c)
            })
            .collect();
        if matches!(sign, Sign::Signed)
            && let Some(a) = roles.amount
            && !others.is_empty()
            && !ambiguities.iter().any(|x| x.starts_with("several columns"))
        {
            ambiguities.push(format!(
                "several columns hold amounts (\"{}\", {}): read \"{}\" as the amount, and no balance proves it",
                headers[a],
                listed(&others, &headers),
                headers[a]
            ));
        }
        // More than half positive with no balance: perhaps a card export writing charges positive.
        if matches!(sign, Sign::Signed)
            && let Some(a) = roles.amount
            && surveys[a].negative * 2 < surveys[a].numeric
        {
            ambiguities.push(format!(
                "{} of {} amounts in \"{}\" are positive and no balance proves the sign: read positive as money in (a card export may mean charges: flip every sign (invert = true in a profile))",
                surveys[a].numeric - surveys[a].negative,
                surveys[a].numeric,
                headers[a]
            ));
        }
    }

    // Payee and memo: named columns, else the text columns with the most distinct values.
    let taken: HashSet<usize> = [
        Some(date_col),
        roles.amount,
        roles.debit,
        roles.credit,
        roles.balance,
        roles.flag.as_ref().map(|f| f.0),
    ]
    .into_iter()
    .flatten()
    .chain(dated.iter().copied())
    .collect();
    // The currency: a column every row of which holds a known currency code ("EUR"); the
    // import checks it against the account's, so euros never land in a dollar account.
    // A column named so ("Currency", "Munt", "Währung") holds it, whatever its codes; one in
    // another currency ("Original currency") does not. A file with no header: a column every
    // row of which holds a known code. A column not named so is never taken (a branch code
    // "CHF" would refuse every row).
    let cells_of = |c: usize| {
        rows.iter()
            .filter_map(move |r| r.cells.get(c).filter(|v| !v.is_empty()))
    };
    let named_currency =
        |c: usize| named(c, &CURRENCY_WORDS) && !other_currency(c) && !named(c, &AMOUNT_WORDS);
    roles.currency = (0..width).find(|&c| {
        !taken.contains(&c)
            && surveys[c].filled > 0
            && if has_header {
                named_currency(c)
            } else {
                surveys[c].filled * 10 >= rows.len() * 9
                    && cells_of(c)
                        .all(|v| ledgerflow_core::Currency::from_code(v).is_ok() && v.len() == 3)
            }
    });
    if let Some(c) = roles.currency
        && let Some(odd) = cells_of(c).find(|v| super::record::currency_cell(v).is_none())
    {
        ambiguities.push(format!(
            "\"{}\" names the currency, but \"{}\" is no currency code: the rows' currency cannot be checked against the account's",
            headers[c],
            ledgerflow_core::error::shown(odd)
        ));
    }
    // A currency the whole file is in, named where the amounts are ("Amount (EUR)", "Betrag
    // in EUR") or in a preamble line ("Currency;EUR").
    let file_currency = [roles.amount, roles.debit, roles.credit]
        .into_iter()
        .flatten()
        .filter(|_| has_header)
        .find_map(|c| code_in(&headers[c]))
        .or_else(|| {
            recs.iter()
                .take_while(|r| r.line <= skip_lines)
                .filter(|r| r.cells.iter().any(|x| words_match(x, &CURRENCY_WORDS)))
                .find_map(|r| r.cells.iter().find_map(|x| code_in(x)))
        });
    if let Some(code) = &file_currency
        && roles.currency.is_none()
    {
        evidence.push(format!(
            "currency: the file names {code} (checked against the account's)"
        ));
    }
    if let Some(c) = roles.currency {
        let codes: std::collections::BTreeSet<String> = surveys[c]
            .distinct
            .iter()
            .map(|v| v.to_ascii_uppercase())
            .collect();
        evidence.push(format!(
            "currency: \"{}\" holds {} (checked against the account's)",
            headers[c],
            codes.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let texts: Vec<usize> = (0..width)
        .filter(|c| !taken.contains(c) && Some(*c) != roles.currency && surveys[*c].letters > 0)
        .collect();
    roles.id = (0..width).find(|&c| {
        !taken.contains(&c)
            && named(c, &ID_WORDS)
            && surveys[c].filled == rows.len()
            && surveys[c].distinct.len() == rows.len()
    });
    let payee_named = texts
        .iter()
        .copied()
        .find(|&c| named(c, &PAYEE_WORDS) && Some(c) != roles.id);
    let by_variety = |skip: Option<usize>| {
        texts
            .iter()
            .copied()
            .filter(|c| Some(*c) != skip && Some(*c) != roles.id)
            .max_by_key(|&c| {
                let s = &surveys[c];
                let avg = s.total_len / s.filled.max(1);
                (s.distinct.len() * 4 + s.filled) * usize::from((2..=80).contains(&avg))
            })
    };
    roles.payee = payee_named.or_else(|| by_variety(None));
    // The memo: a column named so, else a second one named like a payee (the description
    // beside the counterparty's name), else the next most varied text.
    let memo_named = |words: &[&str]| {
        texts
            .iter()
            .copied()
            .find(|&c| named(c, words) && Some(c) != roles.payee && Some(c) != roles.id)
    };
    roles.memo = memo_named(&MEMO_WORDS)
        .or_else(|| memo_named(&PAYEE_WORDS))
        .or_else(|| by_variety(roles.payee).filter(|_| payee_named.is_none() || !has_header));
    let Some(payee) = roles.payee.or(roles.memo) else {
        return Err("no column holds text for the payee".into());
    };
    if payee_named.is_none() {
        evidence.push(format!(
            "payee: no column is named so; \"{}\" has the most varied text",
            headers[payee]
        ));
    }

    // Direction of the file.
    let dates: Vec<NaiveDate> = rows
        .iter()
        .filter_map(|r| {
            r.cells
                .get(date_col)
                .and_then(|c| parse_date(c, date_format))
        })
        .collect();
    if dates.windows(2).all(|w| w[0] >= w[1]) && dates.first() != dates.last() {
        evidence.push("rows are newest first".into());
    } else if dates.windows(2).all(|w| w[0] <= w[1]) && dates.first() != dates.last() {
        evidence.push("rows are oldest first".into());
    }

    // Columns by header name when the names are plain and unique (a saved profile reads
    // better and survives a bank adding a column), else by position.
    let by_name = has_header && {
        let names: HashSet<String> = headers.iter().map(|h| super::presets::norm(h)).collect();
        names.len() == width && !names.contains("")
    };
    let col = |c: usize| {
        if by_name {
            Column::Name(headers[c].clone())
        } else {
            Column::Index(c)
        }
    };
    let mut profile = Profile {
        name: "auto".into(),
        delimiter: match delimiter {
            b'\t' => "\\t".into(),
            d => (d as char).to_string(),
        },
        encoding: if encoding.eq_ignore_ascii_case("utf-8") {
            String::new()
        } else {
            encoding.to_ascii_lowercase()
        },
        skip_lines,
        skip_footer: 0,
        has_header,
        date: col(date_col),
        date_format: date_format.to_string(),
        sign: sign.clone(),
        amount: roles.amount.map(col),
        debit: roles.debit.map(col),
        credit: roles.credit.map(col),
        flag: roles.flag.as_ref().map(|f| col(f.0)),
        debit_flags: roles.flag.as_ref().map(|f| f.1.clone()).unwrap_or_default(),
        payee: col(payee),
        memo: roles.memo.filter(|m| *m != payee).map(col),
        external_id: roles.id.map(col),
        check_number: None,
        decimal: decimal.to_string(),
        thousands: if decimal == ',' {
            "."
        } else if apostrophes {
            "'"
        } else {
            ","
        }
        .to_string(),
        invert,
        detect_header: Vec::new(),
        currency: roles.currency.map(col),
        file_currency,
    };
    // Footer lines: the records after the last row whose date reads ("Total", "Saldo", a
    // blank row of delimiters), when the whole file was looked at.
    if cut == text.len() && recs.len() < SAMPLE_RECORDS {
        // Any record with a date where the dates are, whatever its width (a row split by a
        // stray delimiter is a bad row to show, not a footer to pass over in silence).
        let dated_row = |r: &Rec| {
            r.cells
                .get(date_col)
                .and_then(|c| parse_date(c, date_format))
                .is_some()
        };
        if let Some(last_good) = recs.iter().rposition(dated_row) {
            // The reader passes over records of empty cells: they are no footer line.
            profile.skip_footer = recs[last_good + 1..]
                .iter()
                .filter(|r| r.cells.iter().any(|c| !c.is_empty()))
                .count();
            if profile.skip_footer > 0 {
                evidence.push(format!(
                    "the last {} records are not transactions (footer)",
                    profile.skip_footer
                ));
            }
        }
    }
    if profile.validate().is_err() {
        return Err("the columns found do not make a readable profile".into());
    }
    // The confidence: start sure, lose for each guess.
    let mut confidence: i32 = 100;
    if !has_header {
        confidence -= 10;
    }
    if !proved {
        confidence -= if matches!(sign, Sign::DebitCredit) && debit.is_none() {
            25
        } else {
            10
        };
    }
    confidence -= 10 * ambiguities.len() as i32;
    let columns = (0..width)
        .map(|c| {
            let kind = if roles.balance == Some(c) {
                Role::Balance
            } else {
                role_of(&profile, &col(c))
            };
            ColumnRole {
                index: c,
                header: headers[c].clone(),
                role: describe_role(&profile, kind),
                kind,
                samples: rows
                    .iter()
                    .filter(|r| r.cells.iter().any(|c| !c.is_empty()))
                    .take(3)
                    .map(|r| {
                        r.cells
                            .get(c)
                            .map(|v| v.chars().take(60).collect())
                            .unwrap_or_default()
                    })
                    .collect(),
            }
        })
        .collect();
    // The amounts as read (a signed column with its flip): how many are money in.
    let positives = match (&profile.sign, roles.amount) {
        (Sign::Signed, Some(a)) => {
            let s = &surveys[a];
            let positive = s.numeric - s.negative;
            if profile.invert {
                (s.negative, s.numeric)
            } else {
                (positive, s.numeric)
            }
        }
        _ => (0, 0),
    };
    Ok(Inferred {
        profile,
        confidence: confidence.clamp(5, 100) as u8,
        columns,
        evidence,
        ambiguities,
        decimal_unsure,
        decimal_seen: commas + dots > 0,
        balance_proved: proved,
        positives,
    })
}

/// The role a profile gives a column (a balance column is not in a profile: the caller knows).
fn role_of(p: &Profile, this: &Column) -> Role {
    let is = |x: &Option<Column>| x.as_ref() == Some(this);
    if p.date == *this {
        Role::Date
    } else if is(&p.amount) {
        Role::Amount
    } else if is(&p.debit) {
        Role::Debit
    } else if is(&p.credit) {
        Role::Credit
    } else if is(&p.flag) {
        Role::Direction
    } else if p.payee == *this {
        Role::Payee
    } else if is(&p.memo) {
        Role::Memo
    } else if is(&p.external_id) {
        Role::BankId
    } else if is(&p.check_number) {
        Role::CheckNumber
    } else if is(&p.currency) {
        Role::Currency
    } else {
        Role::Ignored
    }
}

/// A role said for a person, with what the profile says of it.
fn describe_role(p: &Profile, kind: Role) -> String {
    match kind {
        Role::Date => format!("date ({})", p.date_format),
        Role::Amount => match p.sign {
            Sign::Flag => "amount (unsigned)".into(),
            _ if p.invert => "amount (charges positive: signs flipped)".into(),
            _ => "amount (signed)".into(),
        },
        Role::Direction => format!("direction ({} = money out)", p.debit_flags.join(", ")),
        Role::Balance => "balance (checks the signs)".into(),
        Role::Ignored => "ignored".into(),
        other => other.label().into(),
    }
}

/// Picks among the formats that read every date, deciding day-first vs month-first from the
/// whole column; when every date reads either way, from which order keeps the file sorted.
fn pick_date_format(
    formats: &[&'static str],
    rows: &[&Rec],
    col: usize,
    evidence: &mut Vec<String>,
    ambiguities: &mut Vec<String>,
) -> &'static str {
    if formats.len() == 1 {
        evidence.push(format!("every date reads as {}", formats[0]));
        return formats[0];
    }
    let sorted = |f: &str| {
        let d: Vec<NaiveDate> = rows
            .iter()
            .filter_map(|r| r.cells.get(col).and_then(|c| parse_date(c, f)))
            .collect();
        d.windows(2).all(|w| w[0] <= w[1]) || d.windows(2).all(|w| w[0] >= w[1])
    };
    let in_order: Vec<&'static str> = formats.iter().copied().filter(|f| sorted(f)).collect();
    if in_order.len() == 1 {
        // Twenty rows in order are evidence; a few may be in order by chance.
        let said = format!(
            "dates read either way; only {} keeps the {} rows in date order",
            in_order[0],
            rows.len()
        );
        if rows.len() >= 20 {
            evidence.push(said);
        } else {
            ambiguities.push(format!("{said}: read so, on little evidence"));
        }
        return in_order[0];
    }
    let choice = formats
        .iter()
        .copied()
        .find(|f| f.starts_with("%d"))
        .unwrap_or(formats[0]);
    ambiguities.push(format!(
        "every date reads as {}: read as {choice}",
        formats.join(" or ")
    ));
    choice
}

/// A column of few distinct values that pair up as a direction (`DR`/`CR`, `Af`/`Bij`, `S`/`H`,
/// `Debit`/`Credit`…). Returns it and the values meaning money out.
fn direction_column(
    surveys: &[ColumnSurvey],
    rows: &[&Rec],
    date_col: usize,
) -> Option<(usize, Vec<String>)> {
    for (c, s) in surveys.iter().enumerate() {
        if c == date_col || s.filled == 0 || s.distinct.len() > 2 {
            continue;
        }
        for (out, inn) in DIRECTIONS {
            if s.distinct.iter().all(|v| v == out || v == inn) && s.distinct.contains(out) {
                let outs: HashSet<String> = rows
                    .iter()
                    .filter_map(|r| r.cells.get(c))
                    .filter(|v| v.eq_ignore_ascii_case(out))
                    .cloned()
                    .collect();
                return Some((c, outs.into_iter().collect()));
            }
        }
    }
    None
}

/// Among unnamed money columns, an amount and a balance it moves row by row (in either sign):
/// the balance named so when there is one, else any other money column. When several amounts
/// move it (a gross and a net that differ only on a fee), the one moving it on the most rows.
fn amount_with_balance(
    money: &[usize],
    named_balance: Option<usize>,
    amounts: &dyn Fn(usize) -> Vec<Option<Decimal>>,
    rows: usize,
) -> Option<(usize, usize)> {
    // Every pair of a wide file's columns is no search worth its time: beyond a few dozen
    // money columns only a named balance is tried.
    if named_balance.is_none() && !(2..=MAX_PAIRED).contains(&money.len()) {
        return None;
    }
    let parsed: HashMap<usize, Vec<Option<Decimal>>> = money
        .iter()
        .chain(named_balance.as_ref())
        .map(|&c| (c, amounts(c)))
        .collect();
    let mut best: Option<(usize, usize, usize)> = None;
    for &a in money {
        let flows = &parsed[&a];
        let negated: Vec<Option<Decimal>> = flows.iter().map(|f| f.map(|v| -v)).collect();
        let balances: Vec<usize> = match named_balance {
            Some(b) => vec![b],
            None => money.iter().copied().filter(|b| *b != a).collect(),
        };
        for b in balances {
            let bal = &parsed[&b];
            for f in [flows, &negated] {
                // Every row (but a tenth) compared, and nine in ten moving the balance.
                let (n, of) = reconciled(f, bal);
                if of > 0
                    && of * 10 >= rows.saturating_sub(1) * 9
                    && n * 10 >= of * 9
                    && best.is_none_or(|x| n > x.2)
                {
                    best = Some((a, b, n));
                }
            }
        }
    }
    best.map(|(a, b, _)| (a, b))
}

/// The most unnamed money columns searched pairwise for an amount and its balance.
const MAX_PAIRED: usize = 24;

/// Whether the amounts `profile` reads from `bytes` move the running balance in column
/// `balance` (the file's first megabyte): `(rows moved, rows compared, moved enough)` — nine
/// in ten, or (rows missing between the others) a third with none moved the other way.
/// `None` when no two rows could be compared.
fn balance_check(bytes: &[u8], profile: &Profile, balance: usize) -> Option<(usize, usize, bool)> {
    let mut head = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    if let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_none()
    {
        head = &head[..e.valid_up_to()];
    }
    let text = crate::parsers::decode::decode(head, encoding_for(&profile.encoding)).text;
    let read = crate::csv::parse(text.as_bytes(), "file", Some(profile)).ok()?;
    let cells: HashMap<usize, Rec> = records(&text, profile.delimiter_byte()?)
        .into_iter()
        .map(|r| (r.line, r))
        .collect();
    let (flows, bal): (Vec<Option<Decimal>>, Vec<Option<Decimal>>) = read
        .statements
        .iter()
        .flat_map(|s| &s.transactions)
        .take(SAMPLE_RECORDS)
        .map(|t| {
            let b = cells
                .get(&t.line)
                .and_then(|r| r.cells.get(balance))
                .and_then(|c| profile.amount(c));
            (Some(t.amount), b)
        })
        .unzip();
    let negated: Vec<Option<Decimal>> = flows.iter().map(|f| f.map(|v| -v)).collect();
    let ((n, checked), (contrary, _)) = (reconciled(&flows, &bal), reconciled(&negated, &bal));
    (checked > 0).then_some((
        n,
        checked,
        n * 10 >= checked * 9 || (n >= 1 && n * 3 >= checked && contrary == 0),
    ))
}

/// The balance before the oldest row: the oldest balance less the amounts up to it (rows
/// without a balance counted). Which end is the oldest: the way the balance runs, else the
/// dates (`newest_first`); `None` when neither says, or an amount is missing on the way.
fn opening_balance(
    flows: &[Option<Decimal>],
    bal: &[Option<Decimal>],
    newest_first: Option<bool>,
) -> Option<Decimal> {
    let len = flows.len().min(bal.len());
    let count = |forward: bool| {
        (1..len)
            .filter(|&i| {
                let (p, b) = (bal[i - 1], bal[i]);
                let f = if forward { flows[i] } else { flows[i - 1] };
                match (p, b, f) {
                    (Some(p), Some(b), Some(f)) if forward => p.checked_add(f) == Some(b),
                    (Some(p), Some(b), Some(f)) => b.checked_add(f) == Some(p),
                    _ => false,
                }
            })
            .count()
    };
    let (forward, backward) = (count(true), count(false));
    let newest_first = match forward.cmp(&backward) {
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => newest_first?,
    };
    let (at, range) = if newest_first {
        let j = (0..len).rev().find(|&j| bal[j].is_some())?;
        (j, j..len)
    } else {
        let i = (0..len).find(|&i| bal[i].is_some())?;
        (i, 0..i + 1)
    };
    let mut moved = Decimal::ZERO;
    for f in &flows[range] {
        moved = moved.checked_add((*f)?)?;
    }
    bal[at]?.checked_sub(moved)
}

/// Rows where the balance moved by the row's amount, read oldest first or newest first, and
/// the rows where both could be compared.
fn reconciled(flows: &[Option<Decimal>], bal: &[Option<Decimal>]) -> (usize, usize) {
    let (mut forward, mut backward, mut forward_n, mut backward_n) = (0, 0, 0, 0);
    for i in 1..flows.len().min(bal.len()) {
        if let (Some(p), Some(b)) = (bal[i - 1], bal[i]) {
            if let Some(f) = flows[i] {
                forward_n += 1;
                forward += usize::from(p.checked_add(f) == Some(b));
            }
            if let Some(f) = flows[i - 1] {
                backward_n += 1;
                backward += usize::from(b.checked_add(f) == Some(p));
            }
        }
    }
    if forward >= backward {
        (forward, forward_n)
    } else {
        (backward, backward_n)
    }
}

/// Infers a reading for a file's bytes (decoded as the import would: BOM, UTF-8, else
/// Windows-1252). Only the first megabyte is looked at; `whole_file` says whether `bytes` is
/// the whole file or its beginning (then its footer, if any, is not known).
pub fn infer_bytes(bytes: &[u8], whole_file: bool) -> Result<Inferred, String> {
    let mut head = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    // A UTF-8 file cut inside a character is still UTF-8.
    if let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_none()
    {
        head = &head[..e.valid_up_to()];
    }
    let decoded = crate::parsers::decode::decode(head, None);
    let mut inferred = infer(&decoded.text, decoded.encoding)?;
    if head.len() < bytes.len() || !whole_file {
        inferred.profile.skip_footer = 0;
        inferred.ambiguities.push(
            "only the first megabyte was looked at: footer lines, if any, are not known".into(),
        );
    }
    Ok(inferred)
}

/// The reading inferred for a file no format or preset recognises: `None` when one does (or
/// no reading is found). What an import of an unknown CSV offers, on the CLI and the web.
pub fn infer_unrecognised(bytes: &[u8], whole_file: bool) -> Option<Inferred> {
    crate::detect(bytes)
        .is_none()
        .then(|| infer_bytes(bytes, whole_file).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Inferred, Vec<(String, String)>) {
        let inf = infer(text, "UTF-8").unwrap_or_else(|e| panic!("a reading: {e}"));
        let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert!(f.errors.is_empty(), "{:?}\n{}", f.errors, inf.describe());
        let rows = f.statements[0]
            .transactions
            .iter()
            .map(|t| (t.date.to_string(), t.amount.to_string()))
            .collect();
        (inf, rows)
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(d, a)| (d.to_string(), a.to_string()))
            .collect()
    }

    /// Day-first is decided by the whole column: the first rows read either way, a later one
    /// (13.02.) only day-first. The preamble, a blank row and a "Saldo" footer are passed over,
    /// and the balance proves the signs.
    #[test]
    fn day_first_from_the_whole_column_with_a_preamble_and_a_footer() {
        let text = "Kontoauszug Girokonto\nZeitraum 01.02.2024 - 28.02.2024\n\nBuchungstag;Empfänger;Verwendungszweck;Betrag;Saldo\n01.02.2024;Miete GmbH;Februar;-1.200,00;3.800,00\n05.02.2024;Arbeitgeber AG;Gehalt;2.500,50;6.300,50\n13.02.2024;Bäcker;Brot;-3,20;6.297,30\n;;;;\nSaldo;;;;6.297,30\n";
        let (inf, rows) = read(text);
        assert_eq!(
            rows,
            pairs(&[
                ("2024-02-01", "-1200.00"),
                ("2024-02-05", "2500.50"),
                ("2024-02-13", "-3.20")
            ])
        );
        assert_eq!(inf.profile.date_format, "%d.%m.%Y");
        assert_eq!(inf.profile.delimiter, ";");
        assert_eq!(inf.profile.decimal, ",");
        assert_eq!(inf.profile.skip_footer, 1);
        assert!(
            inf.evidence
                .iter()
                .any(|e| e.contains("reconciles on 2/2 rows")),
            "{}",
            inf.describe()
        );
        // 3.800,00 after the rent of 1.200,00: 5000.00 before it.
        assert!(
            inf.evidence
                .iter()
                .any(|e| e.contains("before the file's first transaction is 5000.00")),
            "{}",
            inf.describe()
        );
        assert_eq!(
            inf.profile.payee,
            Column::Name("Empfänger".into()),
            "Empfänger names the payee"
        );
        assert_eq!(
            inf.profile.memo,
            Some(Column::Name("Verwendungszweck".into()))
        );
    }

    /// Month-first, newest first, debit and credit columns: the balance proves which is which,
    /// whatever the headers say (here none).
    #[test]
    fn a_debit_credit_pair_without_names_is_proved_by_the_balance() {
        let text = "03/15/2024,COFFEE SHOP,,4.50,95.50\n03/10/2024,PAYROLL,100.00,,100.00\n03/01/2024,OPENING FEE,,0.00,0.00\n";
        let (inf, rows) = read(text);
        assert!(!inf.profile.has_header);
        assert_eq!(inf.profile.date_format, "%m/%d/%Y");
        assert_eq!(
            rows[..2],
            pairs(&[("2024-03-15", "-4.50"), ("2024-03-10", "100.00")])[..]
        );
        assert!(
            inf.evidence.iter().any(|e| e.contains("reconciles")),
            "{}",
            inf.describe()
        );
    }

    /// Gross, fee and net beside a balance: the net moves the balance on every row (the gross
    /// does not on the row with a fee), so the net is the amount, and the sign is proved.
    #[test]
    fn the_amount_that_moves_the_named_balance_is_chosen_among_several() {
        let text = "Date,Name,Gross,Fee,Net,Balance\n10/01/2019,Radio,-6.99,0.00,-6.99,-6.99\n10/02/2019,Deposit,6.99,0.00,6.99,0.00\n10/22/2019,Benefactor,10.00,-0.59,9.41,9.41\n10/23/2019,Shop,-2.00,0.00,-2.00,7.41\n";
        let (inf, rows) = read(text);
        assert_eq!(inf.profile.amount, Some(Column::Name("Net".into())));
        assert_eq!(rows[2], ("2019-10-22".to_string(), "9.41".to_string()));
        assert!(inf.settled().is_ok(), "{}", inf.describe());
        assert!(
            inf.evidence.iter().any(|e| e.contains("reconciles on 3/3")),
            "{}",
            inf.describe()
        );
    }

    /// Rows missing between the others (an excerpt): the named balance moves by the amount on
    /// one of two rows, and the other way on none. The sign is proved, the gap is said.
    #[test]
    fn a_balance_with_rows_missing_between_still_proves_the_sign() {
        let text = "Datum,Bedrag,Saldo na trn,Naam tegenpartij\n2018-03-01,\"-337,49\",\"+5257,28\",Rente\n2018-03-14,\"+50,00\",\"+13084,53\",Loterij\n2018-03-16,\"-750,00\",\"+12334,53\",Bunq\n";
        let (inf, rows) = read(text);
        assert_eq!(rows[2], ("2018-03-16".to_string(), "-750.00".to_string()));
        assert!(inf.settled().is_ok(), "{}", inf.describe());
        assert!(
            inf.evidence
                .iter()
                .any(|e| e.contains("rows may be missing")),
            "{}",
            inf.describe()
        );
        // The balance moved the other way: a wrong sign is not proved by a partial match.
        let flipped = "Datum,Bedrag,Saldo na trn,Naam tegenpartij\n2018-03-01,\"-337,49\",\"+5257,28\",Rente\n2018-03-14,\"+50,00\",\"+13084,53\",Loterij\n2018-03-16,\"750,00\",\"+12334,53\",Bunq\n";
        let inf = infer(flipped, "UTF-8").expect("a reading");
        assert!(inf.settled().is_err(), "{}", inf.describe());
    }

    /// A column named as an amount is the amount: the statement's constant opening balance,
    /// bank codes and an amount in another currency ("original amount") do not compete.
    #[test]
    fn a_named_amount_is_not_made_ambiguous_by_codes_or_constant_balances() {
        let text = "bank_code,initial_balance,final_balance,short_name,transaction_date,concept,amount,original amount\n1234,000.00,1000.00,N.S,2019-11-02,Salary,1500.00,1500.00\n1234,000.00,1000.00,N.S,2019-11-10,Rent,-500.00,-500.00\n1234,000.00,1000.00,N.S,2019-11-12,Shop,-20.00,-20.00\n";
        let (inf, rows) = read(text);
        assert_eq!(inf.profile.amount, Some(Column::Name("amount".into())));
        assert_eq!(rows.len(), 3);
        assert!(inf.settled().is_ok(), "{}", inf.describe());
        // Two columns both named as amounts still compete.
        let two = "date,payee,amount,amount due\n2019-11-02,A,1.00,3.00\n2019-11-03,B,-2.00,7.50\n";
        let inf = infer(two, "UTF-8").expect("a reading");
        assert!(
            inf.ambiguities
                .iter()
                .any(|a| a.starts_with("several columns hold amounts")),
            "{}",
            inf.describe()
        );
    }

    /// A card statement's section line (the card number, one cell) between the header and the
    /// rows is passed over and said; a row with an amount and a bad date is still an error.
    #[test]
    fn one_cell_section_lines_are_no_rows() {
        let text = "\"Accountno:\",\"0000000017020131\"\n\"Transaction Details:\"\n\"Date\",\"Sr.No.\",\"Transaction Details\",\"Amount\"\n\"0049XXXXXXXX4939\"\n\"01/03/2023\",\"72600\",\"AMAZON\",\"-165.72\"\n\"14/03/2023\",\"72601\",\"SWIGGY\",\"-449.00\"\n\"0049XXXXXXXX5050\"\n\"20/03/2023\",\"72602\",\"REFUND\",\"12.00\"\n";
        let (_, rows) = read(text);
        assert_eq!(rows.len(), 3);
        let inf = infer(text, "UTF-8").expect("a reading");
        let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert!(
            f.warnings.iter().any(|w| w.contains("passed over 2 rows")),
            "{:?}",
            f.warnings
        );
        let bad = text.replace(
            "\"0049XXXXXXXX5050\"",
            "\"0049XXXXXXXX5050\",\"\",\"\",\"-3.00\"",
        );
        let f = crate::csv::parse(bad.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert_eq!(
            f.errors.len(),
            1,
            "a row with an amount is never passed over"
        );
        // Transactions the delimiter did not split are one cell too: row errors, never passed
        // over (a date or a signed or decimal number in the cell says so).
        let unsplit = "Date,Description,Amount\n2024-04-01,Coffee,-3.50\n\"2024-04-03,Salary,2500.00\"\n2024-04-04;Groceries;-85.20\n2024-04-05\t Fuel\t-60.00\n2024-04-06 Book -12.00\nBook 12.00\nFee -3\n2024-04-07,Lunch,-9.00\n";
        let inf = infer(unsplit, "UTF-8").expect("a reading");
        let f = crate::csv::parse(unsplit.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert_eq!(f.errors.len(), 6, "{:?}", f.errors);
        assert_eq!(f.statements[0].transactions.len(), 2);
        // The same when the date is not the first column, for whole numbers and dates joined
        // to other words; the rows passed over are named by their lines.
        let elsewhere = "Description,Date,Amount\nCoffee,2024-04-01,-3.50\nSalary 2024-04-03 2500.00\n2024-05-03:Rent:1200\nSalary 2500 EUR\nCARD XXXX-XXXX\nBook,2024-04-07,-9.00\n";
        let inf = infer(elsewhere, "UTF-8").expect("a reading");
        let f =
            crate::csv::parse(elsewhere.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert_eq!(f.errors.len(), 3, "{:?}", f.errors);
        assert!(
            f.warnings.iter().any(|w| w.ends_with("passed over 1 rows that hold no transaction (pending, empty, or a section line with no date or amount): line 6")),
            "{:?}",
            f.warnings
        );
        // A payee holding the delimiter unquoted makes one cell too many: an error, never
        // the amount read from the wrong cell.
        let extra = "Date,Payee,Amount\n2024-01-29,Shop,-5.00\n2024-01-30,Gate 4, 12,-99.00\n";
        let inf = infer(extra, "UTF-8").expect("a reading");
        let f = crate::csv::parse(extra.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
        assert_eq!(f.errors[0].line, 3);
    }

    /// The counterparty's name is the payee and the description beside it the memo (Rabobank:
    /// "Naam tegenpartij" and "Omschrijving-1"), so a row with no counterparty keeps its text.
    #[test]
    fn a_description_beside_the_name_is_the_memo() {
        let text = "Datum,Bedrag,Naam tegenpartij,Omschrijving-1\n2018-03-01,\"-337,49\",,RENTE LENING\n2018-03-14,\"+50,00\",Loterij,Gewonnen\n2018-03-16,\"-750,00\",Bunq,Naar Bunq\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert_eq!(inf.profile.payee, Column::Name("Naam tegenpartij".into()));
        assert_eq!(
            inf.profile.memo,
            Some(Column::Name("Omschrijving-1".into()))
        );
    }

    /// A column of currency codes is the rows' currency: each row carries it, for the import
    /// to check against the account's; it is never taken for the payee.
    #[test]
    fn a_currency_column_is_read_for_each_row() {
        let text = "IBAN,Munt,Datum,Bedrag,Naam\nNL77,EUR,2018-03-01,\"-337,49\",Rente\nNL77,EUR,2018-03-14,\"+50,00\",Loterij\nNL77,EUR,2018-03-16,\"-750,00\",Bunq\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert_eq!(inf.profile.currency, Some(Column::Name("Munt".into())));
        let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
        let codes: Vec<Option<&str>> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.currency.as_deref())
            .collect();
        assert_eq!(codes, vec![Some("EUR"); 3]);
        assert!(
            inf.columns
                .iter()
                .any(|c| c.header == "Munt" && c.kind == Role::Currency)
        );
        // Saved in a profile that reads it back.
        let toml = toml::to_string(&inf.profile).expect("toml");
        assert!(toml.contains("currency = \"Munt\""), "{toml}");
    }

    /// What the attack on the balance and amount rules found: each is named ambiguous or read
    /// right, never imported wrong in silence.
    #[test]
    fn amounts_beside_fees_and_chance_balance_matches_are_not_settled_wrong() {
        // The gross is named "Amount"; the balance is moved by the net on every row: the net.
        let b1 = "Date,Name,Amount,Fee,Net,Balance\n2024-02-01,Alice,100.00,-3.20,96.80,596.80\n2024-02-03,Bob,-25.00,0.00,-25.00,571.80\n2024-02-05,Carol,50.00,-1.75,48.25,620.05\n2024-02-07,Shop,-10.00,0.00,-10.00,610.05\n2024-02-09,Dave,200.00,-6.10,193.90,803.95\n2024-02-11,Shop,-12.00,0.00,-12.00,791.95\n";
        let (inf, rows) = read(b1);
        assert_eq!(inf.profile.amount, Some(Column::Name("Net".into())));
        assert_eq!(rows[0].1, "96.80");
        // Charges written positive, a deposit filtered out, one chance match: still ambiguous.
        let a1 = "Date,Description,Amount,Balance\n2024-01-03,Grocer,20.00,1000.00\n2024-01-09,Fuel,30.00,1030.00\n2024-01-15,Cinema,15.00,900.00\n";
        let inf = infer(a1, "UTF-8").expect("a reading");
        assert!(inf.settled().is_err(), "{}", inf.describe());
        // An amount beside a fee and a total, or beside what the card charged: which is booked,
        // nothing proves.
        for text in [
            "Date,Description,Amount,Fee,Total\n2024-03-01,ATM Lisbon,-100.00,-3.50,-103.50\n2024-03-02,Shop,-20.00,-0.60,-20.60\n2024-03-03,Pay,500.00,0.00,500.00\n",
            "Date,Description,Amount,Charged\n2024-03-01,Amazon UK,-100.00,-118.32\n2024-03-02,Tesco,-20.00,-23.66\n2024-03-03,Refund,5.00,5.92\n",
            "Date,Description,Amount,Amount (converted to account currency)\n2024-03-01,Amazon UK,-100.00,-118.32\n2024-03-02,Tesco,-20.00,-23.66\n2024-03-03,Refund,5.00,5.92\n",
        ] {
            let inf = infer(text, "UTF-8").expect("a reading");
            assert!(
                inf.ambiguities
                    .iter()
                    .any(|a| a.starts_with("several columns hold amounts")),
                "{text}\n{}",
                inf.describe()
            );
        }
        // An original (foreign) amount beside the converted one: the converted one is booked.
        let c3 = "Date,Description,Original Amount,Converted Amount\n2024-03-01,Amazon UK,-100.00,-118.32\n2024-03-02,Tesco,-20.00,-23.66\n2024-03-03,Refund,5.00,5.92\n";
        let (inf, _) = read(c3);
        assert_eq!(
            inf.profile.amount,
            Some(Column::Name("Converted Amount".into()))
        );
        // A file too wide for a bank export is refused at once.
        let wide = format!(
            "Date,Payee,{}\n2024-01-01,A,{}\n",
            (0..300)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(","),
            vec!["1.00"; 300].join(",")
        );
        assert!(infer(&wide, "UTF-8").is_err());
    }

    /// A correction that contradicts what the balance proved (flipping the signs of a file
    /// whose balance moves with them as written) is not imported until the balance is set
    /// aside; keeping the reading, or setting the balance to "not imported", settles it.
    #[test]
    fn a_correction_against_the_proving_balance_is_refused_until_the_balance_is_set_aside() {
        let text = "Date,Payee,Amount,Balance\n2024-01-02,Rent,-500.00,1500.00\n2024-01-05,Pay,2000.00,3500.00\n2024-01-09,Shop,-20.50,3479.50\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert!(inf.balance_proved, "{}", inf.describe());
        let mut fix = Correction {
            roles: vec![Role::Date, Role::Payee, Role::Amount, Role::Balance],
            date_format: "%Y-%m-%d".into(),
            decimal: ".".into(),
            thousands: ",".into(),
            invert: true,
            debit_flags: Vec::new(),
        };
        let flipped = inf.corrected(&fix, text.as_bytes()).expect("a reading");
        assert!(flipped.settled().is_err(), "{}", flipped.describe());
        assert!(flipped.ambiguities[0].contains("\"Balance\""));
        // Submitting the same contradiction again does not make it the reading to compare with.
        let again = flipped.corrected(&fix, text.as_bytes()).expect("a reading");
        assert!(again.settled().is_err(), "{}", again.describe());
        fix.roles[3] = Role::Ignored;
        assert!(
            inf.corrected(&fix, text.as_bytes())
                .expect("a reading")
                .settled()
                .is_ok()
        );
        fix.roles[3] = Role::Balance;
        fix.invert = false;
        assert!(
            inf.corrected(&fix, text.as_bytes())
                .expect("a reading")
                .settled()
                .is_ok()
        );
        // Moving the balance role instead of clearing it: the amount read from the balance
        // column does not move the "balance" read from the amount column.
        fix.roles = vec![Role::Date, Role::Payee, Role::Balance, Role::Amount];
        let swapped = inf.corrected(&fix, text.as_bytes()).expect("a reading");
        assert!(swapped.settled().is_err(), "{}", swapped.describe());
    }

    /// Rows are numbered by their line, blank lines counted, whatever ends the lines (a lone
    /// CR in old Mac files, LF, CRLF).
    #[test]
    fn rows_are_numbered_by_their_line_after_blank_lines() {
        for eol in ["\r", "\n", "\r\n"] {
            let text = [
                "Date,Payee,Amount",
                "",
                "2024-01-02,Shop,-1.00",
                "2024-01-03,Pay,2.00",
                "",
                "",
                "2024-01-04,Cafe,-3.50",
                "",
            ]
            .join(eol);
            let inf = infer(&text, "UTF-8").expect("a reading");
            let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
            let lines: Vec<usize> = f.statements[0]
                .transactions
                .iter()
                .map(|t| t.line)
                .collect();
            assert_eq!(lines, vec![3, 4, 7], "{eol:?}");
        }
    }

    /// The balance before the file's first transaction: the oldest balance less the amounts up
    /// to it (an oldest row without a balance counted), the way the balance runs, else the
    /// way the dates run.
    #[test]
    fn the_opening_balance_counts_every_row_before_the_first_balance() {
        let opening = |text: &str| {
            let inf = infer(text, "UTF-8").expect("a reading");
            inf.evidence
                .iter()
                .find_map(|e| {
                    e.strip_prefix("the balance before the file's first transaction is ")
                        .and_then(|r| r.split(':').next())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| panic!("no opening balance: {}", inf.describe()))
        };
        let oldest_first = "Date,Payee,Amount,Balance\n2024-01-01,A,-5.00,\n2024-01-02,B,-10.00,985.00\n2024-01-03,C,20.00,1005.00\n2024-01-04,D,-5.00,1000.00\n";
        assert_eq!(opening(oldest_first), "1000.00");
        let newest_first = "Date,Payee,Amount,Balance\n2024-01-04,D,-5.00,1000.00\n2024-01-03,C,20.00,1005.00\n2024-01-02,B,-10.00,985.00\n2024-01-01,A,-5.00,\n";
        assert_eq!(opening(newest_first), "1000.00");
        let tie =
            "Date,Payee,Amount,Balance\n2024-01-02,B,-20.00,1000.00\n2024-01-01,A,20.00,1020.00\n";
        assert_eq!(opening(tie), "1000.00");
    }

    /// The currency: a column named so (any code, an empty cell allowed; one that holds no
    /// code is named ambiguous), never one named as another currency or not named at all; else
    /// the amount's header or a preamble line naming it for the whole file.
    #[test]
    fn the_files_currency_is_found_where_banks_write_it() {
        let rows_currency = |text: &str| -> Vec<Option<String>> {
            let inf = infer(text, "UTF-8").expect("a reading");
            let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&inf.profile)).expect("reads");
            f.statements[0]
                .transactions
                .iter()
                .map(|t| t.currency.clone())
                .collect()
        };
        let gel = "Date,Payee,Amount,Currency\n2024-01-02,A,-1.00,GEL\n2024-01-03,B,-2.00,\n2024-01-04,C,3.00,GEL\n";
        assert_eq!(
            rows_currency(gel),
            vec![Some("GEL".into()), None, Some("GEL".into())]
        );
        let header = "Date,Payee,Amount (EUR)\n2024-01-02,A,-1.00\n2024-01-03,B,-2.00\n";
        assert_eq!(rows_currency(header), vec![Some("EUR".into()); 2]);
        let preamble = "Account;123\nCurrency;EUR\n\nDate;Payee;Amount\n2024-01-02;A;-1,00\n2024-01-03;B;-2,00\n";
        assert_eq!(rows_currency(preamble), vec![Some("EUR".into()); 2]);
        let branch = "Date,Payee,Amount,Branch\n2024-01-02,A,-1.00,CHF\n2024-01-03,B,-2.00,CHF\n";
        assert_eq!(rows_currency(branch), vec![None, None]);
        let original =
            "Date,Payee,Amount,Original Currency\n2024-01-02,A,-1.00,EUR\n2024-01-03,B,-2.00,GBP\n";
        assert_eq!(rows_currency(original), vec![None, None]);
        let word = "Date,Payee,Amount,Currency\n2024-01-02,A,-1.00,Euro\n2024-01-03,B,-2.00,Euro\n";
        let inf = infer(word, "UTF-8").expect("a reading");
        assert!(inf.settled().is_err(), "{}", inf.describe());
    }

    /// A card's statement balance is what is owed: charges written positive raise it, so the
    /// balance "proves" them as money in. For a card account that reading is named ambiguous.
    #[test]
    fn a_card_account_does_not_take_positive_charges_for_money_in() {
        let text = "Date,Payee,Amount,Balance\n2024-01-02,Grocer,20.00,520.00\n2024-01-03,Fuel,30.00,550.00\n2024-01-05,Payment,-500.00,50.00\n2024-01-06,Cinema,15.00,65.00\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert!(inf.settled().is_ok(), "{}", inf.describe());
        let account = |kind| ledgerflow_core::model::Account {
            id: 1,
            name: "Visa".into(),
            institution: None,
            kind,
            currency: ledgerflow_core::Currency::from_code("USD").expect("usd"),
            opening_balance_minor: 0,
            archived: false,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        use ledgerflow_core::model::AccountKind;
        let card = inf.clone().for_account(&account(AccountKind::CreditCard));
        assert!(card.settled().is_err(), "{}", card.describe());
        let checking = inf.for_account(&account(AccountKind::Checking));
        assert!(checking.settled().is_ok());
    }

    /// An unsigned amount with a direction column (Dutch Af/Bij).
    #[test]
    fn an_amount_with_a_direction_column() {
        let text = "\"Datum\",\"Naam / Omschrijving\",\"Af Bij\",\"Bedrag (EUR)\",\"Mededelingen\"\n\"20240102\",\"Albert Heijn\",\"Af\",\"12,34\",\"pin\"\n\"20240103\",\"Werkgever\",\"Bij\",\"1000,00\",\"salaris\"\n\"20240105\",\"NS\",\"Af\",\"3,10\",\"trein\"\n";
        let (inf, rows) = read(text);
        assert_eq!(
            rows,
            pairs(&[
                ("2024-01-02", "-12.34"),
                ("2024-01-03", "1000.00"),
                ("2024-01-05", "-3.10")
            ])
        );
        assert_eq!(inf.profile.sign, Sign::Flag);
        assert_eq!(inf.profile.date_format, "%Y%m%d");
    }

    /// Charges written positive with a running balance: the signs are flipped, and the
    /// evidence says so. Without the balance the same file is named ambiguous.
    #[test]
    fn positive_charges_are_flipped_only_when_the_balance_proves_it() {
        let with = "Date,Description,Amount,Balance\n2024-01-02,Shop,10.00,90.00\n2024-01-03,Refund,-5.00,95.00\n2024-01-04,Shop,20.00,75.00\n";
        let (inf, rows) = read(with);
        assert!(inf.profile.invert);
        assert_eq!(rows[0].1, "-10.00");
        let without = "Date,Description,Amount\n2024-01-02,Shop,10.00\n2024-01-04,Shop,20.00\n";
        let (inf, rows) = read(without);
        assert!(!inf.profile.invert);
        assert_eq!(rows[0].1, "10.00");
        assert!(
            inf.ambiguities.iter().any(|a| a.contains("positive")),
            "{}",
            inf.describe()
        );
    }

    /// Dates that read either way and keep no order are named ambiguous, with the choices.
    #[test]
    fn dates_that_read_either_way_are_named_ambiguous() {
        let text =
            "Date,Payee,Amount\n01/02/2024,A,-1.00\n03/04/2024,B,-2.00\n02/01/2024,C,-3.00\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert!(
            inf.ambiguities
                .iter()
                .any(|a| a.contains("%d/%m/%Y") && a.contains("%m/%d/%Y")),
            "{}",
            inf.describe()
        );
        assert!(inf.confidence < 90);
    }

    /// Text that is no table gets a reason, not a guess.
    #[test]
    fn no_table_no_reading() {
        for text in [
            "",
            "hello\nworld\n",
            "a,b\nc,d\n",
            "Date,Amount\n2024-01-01,x\n",
        ] {
            assert!(infer(text, "UTF-8").is_err(), "{text:?}");
        }
    }

    /// The traps the attack found: each is named ambiguous (so `csv:auto` refuses it) or read
    /// right, never imported wrong in silence.
    #[test]
    fn traps_are_named_ambiguous_or_read_right() {
        let ambiguous = |text: &str, said: &str| {
            let inf = infer(text, "UTF-8").unwrap_or_else(|e| panic!("a reading: {e}"));
            assert!(
                inf.ambiguities.iter().any(|a| a.contains(said)),
                "{said}: {}",
                inf.describe()
            );
            assert!(inf.settled().is_err());
        };
        // Integers grouped with dots: 1.200 could be 1.2.
        ambiguous(
            "Datum;Name;Betrag\n01.02.2024;A;-1.200\n02.02.2024;B;2.500\n",
            "thousands separator or three decimals",
        );
        // UK dates that happen to be in order read month-first: few rows, little evidence.
        ambiguous(
            "Date,Payee,Amount\n01/02/2024,A,-1.00\n01/05/2024,B,-2.00\n02/03/2024,C,-3.00\n",
            "on little evidence",
        );
        // A card export: charges positive, one payment negative, no balance.
        ambiguous(
            "Date,Payee,Amount\n2024-01-02,Shop,10.00\n2024-01-03,Shop,20.00\n2024-01-04,Shop,5.00\n2024-01-05,Shop,7.00\n2024-01-06,Payment,-500.00\n",
            "are positive",
        );
        // Two amounts in two currencies, neither named the original: which one, nothing proves.
        ambiguous(
            "Date,Payee,Amount (USD),Amount (EUR)\n2024-01-02,Hotel,-120.00,-110.35\n2024-01-03,Cafe,-5.00,-4.60\n2024-01-04,Shop,-20.00,-18.40\n",
            "several columns hold amounts",
        );
        // The booked amount before the original-currency one.
        let (inf, rows) = read(
            "Date,Payee,Original Amount,Amount\n2024-01-02,Hotel,-120.00,-110.35\n2024-01-03,Cafe,-5.00,-4.60\n2024-01-04,Shop,-20.00,-18.40\n",
        );
        assert_eq!(inf.profile.amount, Some(Column::Name("Amount".into())));
        assert_eq!(rows[0].1, "-110.35");
        // Three charges positive, one payment negative: more than half positive.
        ambiguous(
            "Date,Payee,Amount\n2024-01-02,Shop,10.00\n2024-01-03,Shop,20.00\n2024-01-04,Shop,5.00\n2024-01-06,Payment,-35.00\n",
            "are positive",
        );
        // A balance that does not reconcile is said, not dropped.
        ambiguous(
            "Date,Payee,Amount,Balance\n2024-01-02,A,-1.00,9.00\n2024-01-03,B,-2.00,8.00\n2024-01-04,C,-3.00,4.00\n",
            "looks like a running balance",
        );
        // The balance before the amount, headers not known: the balance proves which is which.
        let text = "Wann,Wer,Stand,Wert\n2024-01-02,A,-10.00,-10.00\n2024-01-03,B,-15.00,-5.00\n2024-01-04,C,85.00,100.00\n";
        let (inf, rows) = read(text);
        assert_eq!(
            inf.profile.amount,
            Some(Column::Name("Wert".into())),
            "{}",
            inf.describe()
        );
        assert_eq!(rows[1].1, "-5.00");
        // Swiss apostrophes group thousands.
        let (_, rows) = read(
            "Datum,Text,Betrag,Saldo\n2024-01-02,A,-1'200.50,8'799.50\n2024-01-03,B,200.00,8'999.50\n",
        );
        assert_eq!(rows[0].1, "-1200.50");
        // A settled reading says so.
        let inf = infer(
            "Date,Payee,Amount,Balance\n2024-01-02,A,-1.00,9.00\n2024-01-03,B,-2.00,7.00\n",
            "UTF-8",
        )
        .expect("reading");
        assert!(inf.settled().is_ok(), "{}", inf.describe());
    }

    /// A person corrects a reading: the dates that read either way, the signs of a card
    /// export, the column that is the payee. The corrected reading is settled, reads the file
    /// as told, and a correction that cannot work is refused with its reason.
    #[test]
    fn a_corrected_reading_reads_as_told_and_a_bad_one_is_refused() {
        let text = "Date,Description,Amount,Ref\n01/02/2024,COFFEE SHOP,4.50,A1\n03/04/2024,SALARY,-2500.00,A2\n05/06/2024,GROCER,61.20,A3\n";
        let inf = infer(text, "UTF-8").expect("a reading");
        assert!(inf.settled().is_err(), "{}", inf.describe());
        let kinds: Vec<Role> = inf.columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds[0], Role::Date);
        assert_eq!(inf.columns[1].samples[0], "COFFEE SHOP");
        let fix = Correction {
            roles: vec![Role::Date, Role::Payee, Role::Amount, Role::BankId],
            date_format: "%d/%m/%Y".into(),
            decimal: ".".into(),
            thousands: ",".into(),
            invert: true,
            debit_flags: Vec::new(),
        };
        let fixed = inf.corrected(&fix, text.as_bytes()).expect("corrected");
        assert!(fixed.settled().is_ok());
        assert_eq!(fixed.columns[3].kind, Role::BankId);
        assert!(
            fixed.columns[2].role.contains("flipped"),
            "{}",
            fixed.columns[2].role
        );
        let f = crate::csv::parse(text.as_bytes(), "t.csv", Some(&fixed.profile)).expect("reads");
        let rows: Vec<(String, String, String, Option<String>)> = f.statements[0]
            .transactions
            .iter()
            .map(|t| {
                (
                    t.date.to_string(),
                    t.amount.to_string(),
                    t.payee.clone(),
                    t.external_id.clone(),
                )
            })
            .collect();
        assert_eq!(
            rows[0],
            (
                "2024-02-01".into(),
                "-4.50".into(),
                "COFFEE SHOP".into(),
                Some("A1".into())
            )
        );
        assert_eq!(rows[1].1, "2500.00");
        // An amount with a direction column.
        let flagged = "Datum;Name;Betrag;S/H\n02.01.2024;A;10,00;S\n03.01.2024;B;20,00;H\n";
        let inf = infer(flagged, "UTF-8").expect("a reading");
        let fix = Correction {
            roles: vec![Role::Date, Role::Payee, Role::Amount, Role::Direction],
            date_format: "%d.%m.%Y".into(),
            decimal: ",".into(),
            thousands: ".".into(),
            invert: false,
            debit_flags: vec![" S ".into(), "".into()],
        };
        let fixed = inf.corrected(&fix, text.as_bytes()).expect("corrected");
        let f =
            crate::csv::parse(flagged.as_bytes(), "t.csv", Some(&fixed.profile)).expect("reads");
        let amounts: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(amounts, vec!["-10.00", "20.00"]);
        // What cannot work is refused, saying why.
        let bad = |roles: Vec<Role>, date_format: &str, flags: Vec<String>| {
            inf.corrected(
                &Correction {
                    roles,
                    date_format: date_format.into(),
                    decimal: ",".into(),
                    thousands: ".".into(),
                    invert: false,
                    debit_flags: flags,
                },
                text.as_bytes(),
            )
            .expect_err("refused")
        };
        use Role::*;
        assert!(
            bad(vec![Date, Date, Amount, Ignored], "%d.%m.%Y", vec![]).contains("only one column")
        );
        assert!(bad(vec![Ignored, Payee, Amount, Ignored], "%d.%m.%Y", vec![]).contains("date"));
        assert!(bad(vec![Date, Ignored, Amount, Ignored], "%d.%m.%Y", vec![]).contains("payee"));
        assert!(bad(vec![Date, Payee, Ignored, Ignored], "%d.%m.%Y", vec![]).contains("amount"));
        assert!(
            bad(vec![Date, Payee, Amount, Direction], "%d.%m.%Y", vec![]).contains("money out")
        );
        assert!(bad(vec![Date, Payee, Amount, Ignored], "%H:%M", vec![]).contains("full date"));
        assert!(
            bad(vec![Date, Payee, Amount, Ignored, Memo], "%d.%m.%Y", vec![]).contains("columns")
        );
    }

    /// German exports as banks and spreadsheets write them: CRLF line ends after preamble
    /// lines and a blank line, and preamble lines padded with empty cells to the table's width.
    /// The header is found after them, not taken for a preamble line or a row.
    #[test]
    fn preambles_with_crlf_or_padding_are_passed_over_to_the_header() {
        let body = "Buchungstag;Valuta;Empfaenger;Verwendungszweck;Betrag (EUR);Saldo (EUR)\r\n02.01.2024;02.01.2024;REWE;Karte;-45,67;1.188,89\r\n03.01.2024;03.01.2024;Arbeitgeber AG;Gehalt;2.500,00;3.688,89\r\n";
        let crlf = format!(
            "\"Kontonummer:\";\"DE12 / Giro\";\r\n\"Zeitraum:\";\"01.01.2024 - 31.01.2024\";\r\n\r\n{body}"
        );
        let padded = format!(
            "Kontoauszug;Girokonto DE12 3456;;;;\nZeitraum;01.01.2024 - 31.01.2024;;;;\n\n{}",
            body.replace("\r\n", "\n")
        );
        for text in [crlf, padded] {
            let (inf, rows) = read(&text);
            assert_eq!(inf.profile.skip_lines, 3, "{}", inf.describe());
            assert!(inf.profile.has_header);
            assert_eq!(
                rows,
                pairs(&[("2024-01-02", "-45.67"), ("2024-01-03", "2500.00")]),
                "{}",
                inf.describe()
            );
        }
    }

    /// A statement's own dates repeated on every row (the period's start and end) are not the
    /// transactions' dates, even when they come first and are named "date".
    #[test]
    fn a_date_repeated_on_every_row_is_the_statements_not_the_rows() {
        let text = "initial_date,final_date,description,transaction_date,amount\n2019-11-01,2019-11-30,INCOME,2019-11-02,1500.00\n2019-11-01,2019-11-30,RENT,2019-11-10,-500.00\n2019-11-01,2019-11-30,SHOP,2019-11-12,-20.00\n";
        let (inf, rows) = read(text);
        assert_eq!(
            inf.profile.date,
            Column::Name("transaction_date".into()),
            "{}",
            inf.describe()
        );
        assert_eq!(rows[1], ("2019-11-10".to_string(), "-500.00".to_string()));
    }
}
