//! The built-in presets for the common US banks, and their detection from a file's header (or
//! the headerless shape of Wells Fargo's export).

use chrono::NaiveDate;

use super::profile::{Column, Profile, Sign};

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
        currency: None,
        file_currency: None,
    }
}

/// The built-in presets, by name (`--format csv:NAME`).
pub fn presets() -> Vec<Profile> {
    vec![
        wells_fargo(),
        chase_checking(),
        chase_card(),
        bofa_checking(),
        bofa_card(),
        amex(),
        capital_one(),
        citi(),
        discover(),
    ]
}

/// Sets separate debit (money out) and credit (money in) columns of those names.
fn debit_credit(mut p: Profile) -> Profile {
    p.sign = Sign::DebitCredit;
    p.debit = Some(name("Debit"));
    p.credit = Some(name("Credit"));
    p
}

/// Wells Fargo: no header; date, amount, `*`, check number, description.
fn wells_fargo() -> Profile {
    let mut p = new_preset("wellsfargo", &[], "", "%m/%d/%Y", None, "");
    p.has_header = false;
    p.date = Column::Index(0);
    p.amount = Some(Column::Index(1));
    p.check_number = Some(Column::Index(3));
    p.payee = Column::Index(4);
    p
}

/// Chase checking accounts.
fn chase_checking() -> Profile {
    let mut p = new_preset(
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
    p.check_number = Some(name("Check or Slip #"));
    p
}

/// Chase credit cards.
fn chase_card() -> Profile {
    let mut p = new_preset(
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
    p.memo = Some(name("Memo"));
    p
}

/// Bank of America checking accounts (after a summary preamble).
fn bofa_checking() -> Profile {
    new_preset(
        "bofa-checking",
        &["Date", "Description", "Amount", "Running Bal."],
        "Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    )
}

/// Bank of America credit cards.
fn bofa_card() -> Profile {
    let mut p = new_preset(
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
    p.external_id = Some(name("Reference Number"));
    p
}

/// American Express: charges are positive.
fn amex() -> Profile {
    let mut p = new_preset(
        "amex",
        // "Card Member" tells Amex's export from the many "Date,Description,Amount" files, whose
        // signs this preset would flip.
        &["Date", "Description", "Card Member", "Amount"],
        "Date",
        "%m/%d/%Y",
        Some("Amount"),
        "Description",
    );
    p.invert = true;
    p.external_id = Some(name("Reference"));
    p
}

/// Capital One cards: debit and credit columns.
fn capital_one() -> Profile {
    let p = new_preset(
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
    debit_credit(p)
}

/// Citi cards: debit and credit columns.
fn citi() -> Profile {
    let p = new_preset(
        "citi",
        &["Status", "Date", "Description", "Debit", "Credit"],
        "Date",
        "%m/%d/%Y",
        None,
        "Description",
    );
    debit_credit(p)
}

/// Discover cards: charges are positive.
fn discover() -> Profile {
    let mut p = new_preset(
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
    p.invert = true;
    p
}

/// A built-in preset by name.
pub fn preset(name_: &str) -> Option<Profile> {
    presets().into_iter().find(|p| p.name == name_)
}

pub(super) fn sniff_delimiter(line: &str) -> u8 {
    let candidates = [b',', b';', b'\t', b'|'];
    *candidates
        .iter()
        .max_by_key(|c| line.bytes().filter(|b| b == *c).count())
        .unwrap_or(&b',')
}

pub(super) fn norm(h: &str) -> String {
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
