//! Bank CSV exports: built-in presets for the common US banks, detected from the header (or the
//! headerless shape of Wells Fargo), and generic profiles for everything else (delimiter,
//! encoding, preamble and footer lines, column mapping, date format, decimal and thousands
//! separators, sign convention, inverted signs).
//!
//! A date that does not parse is an error on that row, never "today". A line (or a quoted record
//! spanning lines) over [`MAX_LINE`] bytes refuses the file, and is never read whole into memory.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{
    Format, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement, shown, too_long,
};
use crate::parsers::decode::{decode, encoding_for};

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

fn name(s: &str) -> Column {
    Column::Name(s.into())
}

fn new_preset(
    id: &str,
    header: &[&str],
    date: &str,
    date_format: &str,
    amount: Option<&str>,
    payee: &str,
) -> Profile {
    Profile {
        name: id.into(),
        delimiter: ",".into(),
        encoding: String::new(),
        skip_lines: 0,
        skip_footer: 0,
        has_header: true,
        date: name(date),
        date_format: date_format.into(),
        sign: Sign::Signed,
        amount: amount.map(name),
        debit: None,
        credit: None,
        flag: None,
        debit_flags: Vec::new(),
        payee: name(payee),
        memo: None,
        external_id: None,
        check_number: None,
        decimal: ".".into(),
        thousands: ",".into(),
        invert: false,
        detect_header: header.iter().map(|h| h.to_string()).collect(),
    }
}

/// The built-in presets, by name (`--format csv:NAME`).
pub fn presets() -> Vec<Profile> {
    let mut wf = new_preset("wellsfargo", &[], "", "%m/%d/%Y", None, "");
    wf.has_header = false;
    wf.date = Column::Index(0);
    wf.amount = Some(Column::Index(1));
    wf.check_number = Some(Column::Index(3));
    wf.payee = Column::Index(4);

    let mut chase_checking = new_preset(
        "chase-checking",
        &[
            "Details",
            "Posting Date",
            "Description",
            "Amount",
            "Type",
            "Balance",
            "Check or Slip #",
        ],
        "Posting Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    chase_checking.check_number = Some(name("Check or Slip #"));
    let mut chase_card = new_preset(
        "chase-card",
        &[
            "Transaction Date",
            "Post Date",
            "Description",
            "Category",
            "Type",
            "Amount",
        ],
        "Transaction Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    chase_card.memo = Some(name("Memo"));
    let bofa_checking = new_preset(
        "bofa-checking",
        &["Date", "Description", "Amount", "Running Bal."],
        "Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    let mut bofa_card = new_preset(
        "bofa-card",
        &[
            "Posted Date",
            "Reference Number",
            "Payee",
            "Address",
            "Amount",
        ],
        "Posted Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Payee",
    );
    bofa_card.external_id = Some(name("Reference Number"));
    let mut amex = new_preset(
        "amex",
        &["Date", "Description", "Amount"],
        "Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    amex.invert = true;
    amex.external_id = Some(name("Reference"));
    let mut capitalone = new_preset(
        "capitalone",
        &[
            "Transaction Date",
            "Posted Date",
            "Card No.",
            "Description",
            "Category",
            "Debit",
            "Credit",
        ],
        "Transaction Date",
        "%Y-%m-%d",
        None,
        "Description",
    );
    capitalone.sign = Sign::DebitCredit;
    capitalone.debit = Some(name("Debit"));
    capitalone.credit = Some(name("Credit"));
    let mut citi = new_preset(
        "citi",
        &["Status", "Date", "Description", "Debit", "Credit"],
        "Date",
        "%m/%d/%Y",
        None,
        "Description",
    );
    citi.sign = Sign::DebitCredit;
    citi.debit = Some(name("Debit"));
    citi.credit = Some(name("Credit"));
    let mut discover = new_preset(
        "discover",
        &[
            "Trans. Date",
            "Post Date",
            "Description",
            "Amount",
            "Category",
        ],
        "Trans. Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    discover.invert = true;
    vec![
        wf,
        chase_checking,
        chase_card,
        bofa_checking,
        bofa_card,
        amex,
        capitalone,
        citi,
        discover,
    ]
}

/// A built-in preset by name.
pub fn preset(name_: &str) -> Option<Profile> {
    presets().into_iter().find(|p| p.name == name_)
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
        let text = probe.format(&self.date_format).to_string();
        if NaiveDate::parse_from_str(&text, &self.date_format).ok() != Some(probe) {
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

    fn delimiter_byte(&self) -> Option<u8> {
        match self.delimiter.as_str() {
            "\\t" | "tab" => Some(b'\t'),
            d if d.len() == 1 => d.bytes().next(),
            _ => None,
        }
    }

    /// Parses an amount with this profile's separators. Exact.
    fn amount(&self, text: &str) -> Option<Decimal> {
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
            t = t.replace(&self.thousands, "");
        }
        t = t.replace(' ', "");
        if self.decimal == "," {
            t = t.replace(',', ".");
        }
        crate::model::parse_amount(&t)
    }
}

fn sniff_delimiter(line: &str) -> u8 {
    let candidates = [b',', b';', b'\t', b'|'];
    *candidates
        .iter()
        .max_by_key(|c| line.bytes().filter(|b| b == *c).count())
        .unwrap_or(&b',')
}

fn norm(h: &str) -> String {
    h.trim().trim_matches('\u{feff}').to_ascii_lowercase()
}

fn records(text: &str, delimiter: u8) -> Vec<(usize, Vec<String>)> {
    let mut r = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in r.records().flatten() {
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let fields: Vec<String> = rec.iter().map(str::to_string).collect();
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        out.push((line, fields));
    }
    out
}

/// Finds the preset whose header appears in the first lines, or Wells Fargo's headerless shape.
pub fn detect_preset(text: &str) -> Option<Profile> {
    let delimiter = sniff_delimiter(text.lines().next().unwrap_or(""));
    let mut cut = text.len().min(8192);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let rows = records(&text[..cut], delimiter);
    let mut best: Option<(usize, Profile)> = None;
    for p in presets() {
        if p.detect_header.is_empty() {
            continue;
        }
        for (line, fields) in rows.iter().take(12) {
            let have: Vec<String> = fields.iter().map(|f| norm(f)).collect();
            let columns = have.iter().filter(|h| !h.is_empty()).count();
            if columns <= p.detect_header.len() + 3
                && p.detect_header.iter().all(|h| have.contains(&norm(h)))
            {
                let mut found = p.clone();
                // lines before the header (the record's own line number counts blank lines)
                found.skip_lines = line.saturating_sub(1);
                let score = p.detect_header.len();
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, found));
                }
            }
        }
    }
    if let Some((_, p)) = best {
        return Some(p);
    }
    // Wells Fargo: no header; "MM/DD/YYYY","-12.07","*","","DESCRIPTION"
    let wf = rows.first().is_some_and(|(_, f)| {
        f.len() == 5
            && NaiveDate::parse_from_str(f[0].trim(), "%m/%d/%Y").is_ok()
            && crate::model::parse_amount(&f[1]).is_some()
            && f[2].trim() == "*"
    });
    wf.then(|| preset("wellsfargo")).flatten()
}

pub fn sniff(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]);
    detect_preset(&text).is_some()
}

fn index_of(col: &Column, header: Option<&[String]>) -> Result<usize, String> {
    match col {
        Column::Index(i) => Ok(*i),
        Column::Name(n) => header
            .and_then(|h| h.iter().position(|x| norm(x) == norm(n)))
            .ok_or_else(|| format!("the file has no column \"{n}\"")),
    }
}

/// The columns of a profile, resolved against the header.
struct Columns {
    date: usize,
    payee: usize,
    amount: Option<usize>,
    debit: Option<usize>,
    credit: Option<usize>,
    flag: Option<usize>,
    memo: Option<usize>,
    external_id: Option<usize>,
    check_number: Option<usize>,
}

impl Columns {
    fn resolve(profile: &Profile, header: Option<&[String]>) -> Result<Self, String> {
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
        })
    }
}

/// A date format compiled once: the common all-numeric shapes (`%m/%d/%Y`, `%d.%m.%Y`,
/// `%Y-%m-%d`, ...) are read directly (a year must have four digits: `24` is not the year 24);
/// anything else goes through chrono.
enum DateFormat {
    Numeric(Vec<DatePart>),
    Chrono(String),
}

#[derive(Clone, Copy)]
enum DatePart {
    Day,
    Month,
    Year,
    Lit(u8),
}

impl DateFormat {
    fn new(fmt: &str) -> Self {
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

    fn parse(&self, text: &str) -> Option<NaiveDate> {
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

/// One item read from a CSV file.
pub enum CsvItem {
    Txn(ParsedTxn),
    Error(RowError),
}

/// What a CSV stream found besides its rows.
pub struct CsvSummary {
    pub pending: usize,
}

/// Why a CSV stream stopped.
pub enum StreamError {
    /// The file cannot be read with this profile (no header, missing column...).
    Parse(String),
    /// A field is not UTF-8: the caller decodes the whole file and parses the text instead.
    NotUtf8,
    /// The callback stopped the stream.
    Stopped,
    Io(std::io::Error),
}

/// Settles the profile for a CSV file from its first bytes: the given one, or the preset its
/// header (or headerless shape) identifies.
pub fn settle_profile(head: &[u8], profile: Option<&Profile>) -> Result<Profile, String> {
    let profile = match profile {
        Some(p) => p.clone(),
        None => {
            let text = String::from_utf8_lossy(&head[..head.len().min(8192)]);
            detect_preset(&text).ok_or_else(|| {
                "this CSV does not match a known bank export: name a preset or profile with --format csv:NAME".to_string()
            })?
        }
    };
    profile
        .validate()
        .map_err(|e| format!("profile {}: {e}", profile.name))?;
    Ok(profile)
}

/// The CSV reader's buffer: how far it may read beyond the record it is reading.
const READ_AHEAD: usize = 8 * 1024;

/// Reads one line (with its `\n`) onto `buf`, refusing one of more than [`MAX_LINE`] bytes
/// (its line ending not counted) before it is read whole. Returns the bytes read.
fn read_line<R: std::io::BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line_no: usize,
) -> Result<usize, StreamError> {
    let start = buf.len();
    loop {
        let avail = reader.fill_buf().map_err(StreamError::Io)?;
        if avail.is_empty() {
            break;
        }
        let (take, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        // Room for the text, a `\r` and the `\n`.
        if buf.len() - start + take > MAX_LINE + 2 {
            return Err(StreamError::Parse(too_long(line_no)));
        }
        buf.extend_from_slice(&avail[..take]);
        reader.consume(take);
        if done {
            break;
        }
    }
    let text = &buf[start..];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.len() > MAX_LINE {
        return Err(StreamError::Parse(too_long(line_no)));
    }
    Ok(buf.len() - start)
}

/// Hands the CSV reader its bytes, but never more than a record's limit (plus the reader's
/// read-ahead) past the start of the record being read: an over-long record is refused before
/// it is in memory. The CSV reader moves `record_start` before each record.
struct Capped<R> {
    inner: R,
    /// Bytes handed out so far.
    given: u64,
    /// Where the record being read starts.
    record_start: u64,
    /// The limit stopped the reader.
    tripped: bool,
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let allowed = (MAX_LINE + 2 + READ_AHEAD) as u64;
        let room = allowed.saturating_sub(self.given - self.record_start);
        if room == 0 && !buf.is_empty() {
            self.tripped = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a CSV record is too long",
            ));
        }
        let cap = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        self.given += n as u64;
        Ok(n)
    }
}

/// Reads CSV rows from `reader` (UTF-8, BOM already skipped) with `profile`, calling `f` with
/// each transaction or row error in file order, holding only the footer lines in memory. `f`
/// returns `false` to stop. A line or record over [`MAX_LINE`] bytes stops it with an error.
pub fn stream<R: std::io::BufRead>(
    mut reader: R,
    profile: &Profile,
    f: &mut dyn FnMut(CsvItem) -> bool,
) -> Result<CsvSummary, StreamError> {
    let mut line = Vec::new();
    for i in 0..profile.skip_lines {
        line.clear();
        if read_line(&mut reader, &mut line, i + 1)? == 0 {
            break;
        }
    }
    // The first line of the body decides the delimiter when the profile does not.
    line.clear();
    let mut first = Vec::new();
    let mut line_no = profile.skip_lines;
    loop {
        first.clear();
        line_no += 1;
        if read_line(&mut reader, &mut first, line_no)? == 0 {
            break;
        }
        line.extend_from_slice(&first);
        if !first.iter().all(|b| b.is_ascii_whitespace()) {
            break;
        }
    }
    let delimiter = profile.delimiter_byte().unwrap_or_else(|| {
        sniff_delimiter(
            std::str::from_utf8(&line)
                .unwrap_or("")
                .lines()
                .last()
                .unwrap_or(""),
        )
    });
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(READ_AHEAD)
        .from_reader(Capped {
            inner: std::io::Read::chain(std::io::Cursor::new(line), reader),
            given: 0,
            record_start: 0,
            tripped: false,
        });
    let mut rec = ::csv::StringRecord::new();
    // The next non-blank record, as (line, fields).
    let mut next = |rec: &mut ::csv::StringRecord| -> Result<Option<usize>, StreamError> {
        loop {
            let (start, start_line) = (rdr.position().byte(), rdr.position().line());
            rdr.get_mut().record_start = start;
            // The record's first line (blank lines before it are counted with it).
            let refuse = || StreamError::Parse(too_long(start_line as usize + profile.skip_lines));
            match rdr.read_record(rec) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(_) if rdr.get_ref().tripped => return Err(refuse()),
                Err(e) if matches!(e.kind(), ::csv::ErrorKind::Utf8 { .. }) => {
                    return Err(StreamError::NotUtf8);
                }
                Err(e) if e.is_io_error() => {
                    return Err(StreamError::Parse(e.to_string()));
                }
                // A malformed record is skipped, as the whole-file reader always did.
                Err(_) => continue,
            }
            // The record and its line ending.
            if rdr.position().byte() - start > (MAX_LINE + 2) as u64 {
                return Err(refuse());
            }
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
            return Ok(Some(line + profile.skip_lines));
        }
    };
    let header: Option<Vec<String>> = if profile.has_header {
        match next(&mut rec)? {
            Some(_) => Some(rec.iter().map(str::to_string).collect()),
            None => return Err(StreamError::Parse("the file has no header row".into())),
        }
    } else {
        None
    };
    let cols = Columns::resolve(profile, header.as_deref()).map_err(StreamError::Parse)?;
    let dates = DateFormat::new(&profile.date_format);
    let mut summary = CsvSummary { pending: 0 };
    let mut held: std::collections::VecDeque<(usize, ::csv::StringRecord)> =
        std::collections::VecDeque::new();
    while let Some(line) = next(&mut rec)? {
        let item = if profile.skip_footer > 0 {
            held.push_back((line, rec.clone()));
            if held.len() <= profile.skip_footer {
                continue;
            }
            match held.pop_front() {
                Some((line, r)) => row(profile, &cols, &dates, line, &r),
                None => continue,
            }
        } else {
            row(profile, &cols, &dates, line, &rec)
        };
        let Some(item) = item else {
            summary.pending += 1;
            continue;
        };
        if !f(item) {
            return Err(StreamError::Stopped);
        }
    }
    Ok(summary)
}

/// One record as a transaction, a row error, or `None` for a pending row.
fn row(
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
    let err = |reason: String| Some(CsvItem::Error(RowError { line, reason }));
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
    Some(CsvItem::Txn(ParsedTxn {
        date,
        value_date: None,
        amount,
        currency: None,
        payee: get(cols.payee).to_string(),
        memo: cols.memo.map(get).unwrap_or("").to_string(),
        external_id: some(cols.external_id),
        check_number: some(cols.check_number),
        category: None,
        line,
    }))
}

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
    if summary.pending > 0 {
        warnings.push(format!("skipped {} pending rows", summary.pending));
    }
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
        }],
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

    #[test]
    fn presets_are_found_by_header_even_after_a_preamble() {
        let bofa = "Description,,Summary Amt.\nBeginning balance,,100.00\n\nDate,Description,Amount,Running Bal.\n01/02/2024,COFFEE,-4.50,95.50\n";
        let f = parse(bofa.as_bytes(), "bofa.csv", None).expect("parses");
        assert_eq!(f.profile.as_deref(), Some("bofa-checking"));
        assert_eq!(f.statements[0].transactions[0].amount.to_string(), "-4.50");
        let cap = "Transaction Date,Posted Date,Card No.,Description,Category,Debit,Credit\n2024-01-03,2024-01-04,1234,STORE,Shopping,25.10,\n2024-01-05,2024-01-05,1234,PAYMENT,Payment,,100.00\n";
        let f = parse(cap.as_bytes(), "c1.csv", None).expect("parses");
        let a: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(a, vec!["-25.10", "100.00"]);
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
        let a: Vec<String> = f.statements[0]
            .transactions
            .iter()
            .map(|t| t.amount.to_string())
            .collect();
        assert_eq!(a, vec!["-1234.56", "2500.00"]);
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
}
