//! SWIFT MT940 statements (and MT942 interim reports, whose entries read the same).
//!
//! A file is one or more messages, each optionally wrapped in `{1:…}{2:…}{3:…}{4:` … `-}{5:…}`
//! blocks, of fields that start a line with a tag (`:20:`, `:25:`, `:28C:`, `:60F:`, `:61:`,
//! `:86:`, `:62F:` …); a line without a tag continues the field before it. `:20:` starts a
//! statement. Each `:61:` is a transaction (value date, optional entry date, `C`/`D`/`RC`/`RD`,
//! amount with a decimal comma, type, references, supplementary details on the next line);
//! the `:86:` after it is its text, read as German structured subfields (`166?00…?20…?32…`),
//! SEPA/Dutch slash tags (`/NAME/…/REMI/…`) or free text.
//!
//! A statement that states both balances must add up: opening + entries = closing, else the
//! file is refused (a cut-short or misread statement is never imported).

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::model::{
    Balance, Format, MAX_LINE, ParseError, ParsedFile, ParsedTxn, RowError, Statement, shown,
    too_long,
};
use crate::parsers::decode::decode;

/// The tags of MT940/MT942 fields. A line shaped like a tag (`:9401:`) that is not one of
/// these makes the file "not MT940", rather than being read as text.
const TAGS: [&str; 19] = [
    "20", "21", "25", "25P", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64", "65", "13",
    "13D", "34F", "90D", "90C",
];

/// Header lines some banks put before the first field (Rabobank's `:940:`).
const HEADER_TAGS: [&str; 2] = ["940", "942"];

/// The width SWIFT wraps a field's lines at: a line this long continues without a break.
const SWIFT_WIDTH: usize = 65;

/// The width of a German structured subfield (`?20`…).
const SUBFIELD_WIDTH: usize = 27;

/// The longest payee taken from free text; the rest of the text goes to the memo.
const MAX_PAYEE: usize = 100;

/// A tag at the start of `line`: (`"61"`, the rest), when the line starts with one.
fn tag_of(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix(':')?;
    let end = rest.find(':')?;
    let tag = &rest[..end];
    let shaped = (2..=5).contains(&tag.len())
        && tag.bytes().take(2).all(|b| b.is_ascii_digit())
        && tag.bytes().all(|b| b.is_ascii_alphanumeric());
    shaped.then(|| (tag, &rest[end + 1..]))
}

/// MT940 is recognised by its fields: a `:20:` reference and an opening balance or an entry
/// near the start (no other format has lines that start with them).
pub fn sniff(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let mut reference = false;
    let mut body = false;
    for line in head.lines().map(|l| l.trim_start_matches('\u{feff}')) {
        let line = line.rsplit("{4:").next().unwrap_or(line);
        match tag_of(line).map(|(t, _)| t) {
            Some("20") => reference = true,
            Some("25" | "60F" | "60M" | "61" | "34F" | "13D") if reference => body = true,
            _ => {}
        }
        if reference && body {
            return true;
        }
    }
    false
}

/// One field: its tag, its text (continuation lines joined) and the line it starts on.
struct Field {
    tag: String,
    text: String,
    line: usize,
}

/// Splits the text into fields. Block headers and trailers are dropped; lines before the first
/// field are a preamble, unless shaped like an unknown tag.
fn fields(text: &str, file: &str) -> Result<Vec<Field>, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let mut out: Vec<Field> = Vec::new();
    // The previous line's width, to tell a SWIFT-wrapped line from a new one.
    let mut last_width = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let mut line = raw.trim_end_matches('\r').trim_start_matches('\u{feff}');
        if line.len() > MAX_LINE {
            return Err(fail(too_long(line_no)));
        }
        if line.starts_with('{') {
            // `{1:…}{2:…}{3:…}{4:` then perhaps the first field on the same line.
            match line.find("{4:") {
                Some(at) => line = &line[at + 3..],
                None => continue,
            }
            if line.trim().is_empty() {
                continue;
            }
        }
        if line.starts_with("-}") || line.trim() == "}" {
            last_width = 0;
            continue;
        }
        match tag_of(line) {
            Some((tag, rest)) if TAGS.contains(&tag) => {
                out.push(Field {
                    tag: tag.to_string(),
                    text: rest.to_string(),
                    line: line_no,
                });
                last_width = line.chars().count();
            }
            Some((tag, _)) if out.is_empty() && HEADER_TAGS.contains(&tag) => {}
            Some((tag, _)) if out.is_empty() || !matches!(out.last(), Some(f) if f.tag == "86") => {
                return Err(fail(format!(
                    "line {line_no}: \":{}:\" is not an MT940 field",
                    shown(tag)
                )));
            }
            _ => {
                let Some(f) = out.last_mut() else {
                    // A preamble line (`940 00`, a bank's own header).
                    continue;
                };
                if f.text.len() + line.len() > MAX_LINE {
                    return Err(fail(format!(
                        "line {line_no}: the field that starts at line {} is longer than {MAX_LINE} bytes",
                        f.line
                    )));
                }
                if last_width < SWIFT_WIDTH {
                    f.text.push('\n');
                }
                f.text.push_str(line);
                last_width = line.chars().count();
            }
        }
    }
    // Some banks end each message with a line "-": it belongs to no field.
    for f in &mut out {
        while let Some(t) = f.text.strip_suffix("\n-") {
            f.text.truncate(t.len());
        }
    }
    Ok(out)
}

/// A two-digit SWIFT year: 1980–2079.
fn full_year(yy: u32) -> i32 {
    if yy < 80 {
        2000 + yy as i32
    } else {
        1900 + yy as i32
    }
}

/// `YYMMDD` at the start of `s`.
fn yymmdd(s: &str) -> Option<NaiveDate> {
    let d = s.get(..6)?;
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<u32>().ok();
    NaiveDate::from_ymd_opt(full_year(n(0..2)?), n(2..4)?, n(4..6)?)
}

/// An MT940 amount: digits, a decimal comma, perhaps no decimals (`6800,`). Exact.
fn amount(s: &str) -> Option<Decimal> {
    let (int, frac) = s.split_once(',').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let text = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Decimal::from_str_exact(&text).ok()
}

/// `:60F:`/`:62F:`: `C` or `D`, `YYMMDD`, currency, amount. Returns the balance and currency.
fn balance(text: &str) -> Option<(Balance, String)> {
    let first = text.lines().next()?.trim();
    let (sign, rest) = match first.as_bytes().first()? {
        b'C' => (Decimal::ONE, &first[1..]),
        b'D' => (Decimal::NEGATIVE_ONE, &first[1..]),
        _ => return None,
    };
    let date = yymmdd(rest)?;
    let currency = rest.get(6..9)?;
    if !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let value = amount(rest.get(9..)?.trim())?;
    Some((
        Balance {
            date,
            amount: sign * value,
        },
        currency.to_ascii_uppercase(),
    ))
}

/// What a `:61:` line says.
struct Entry {
    value_date: NaiveDate,
    entry_date: Option<NaiveDate>,
    amount: Decimal,
    bank_ref: Option<String>,
    supplementary: String,
}

fn entry(text: &str) -> Result<Entry, String> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    let value_date = yymmdd(first)
        .ok_or_else(|| format!(":61: \"{}\" has no value date (YYMMDD)", shown(first)))?;
    let mut rest = &first[6..];
    // An optional entry date, MMDD, in the value date's year (or the one next to it).
    let mut entry_date = None;
    if rest.len() >= 4 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        let m: u32 = rest[..2].parse().unwrap_or(0);
        let d: u32 = rest[2..4].parse().unwrap_or(0);
        let month_gap = m as i32 - value_date.month() as i32;
        let year = value_date.year()
            + if month_gap > 6 {
                -1
            } else {
                i32::from(month_gap < -6)
            };
        entry_date = Some(
            NaiveDate::from_ymd_opt(year, m, d)
                .ok_or_else(|| format!(":61: entry date \"{}\" is not a date", &rest[..4]))?,
        );
        rest = &rest[4..];
    }
    // C, D, and the reversals: RC (reversal of a credit: money out), RD (money in).
    let (sign, after) = if let Some(r) = rest.strip_prefix("RC") {
        (Decimal::NEGATIVE_ONE, r)
    } else if let Some(r) = rest.strip_prefix("RD") {
        (Decimal::ONE, r)
    } else if let Some(r) = rest.strip_prefix('C') {
        (Decimal::ONE, r)
    } else if let Some(r) = rest.strip_prefix('D') {
        (Decimal::NEGATIVE_ONE, r)
    } else {
        return Err(format!(
            ":61: \"{}\" has no debit/credit mark (C, D, RC or RD)",
            shown(first)
        ));
    };
    // An optional funds code: the third letter of a currency code.
    let after = match after.as_bytes() {
        [l, d, ..] if l.is_ascii_alphabetic() && (d.is_ascii_digit() || *d == b',') => &after[1..],
        _ => after,
    };
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == ','))
        .unwrap_or(after.len());
    let value =
        amount(&after[..end]).ok_or_else(|| format!(":61: \"{}\" has no amount", shown(first)))?;
    // The amount ends where the transaction type (N, F or S) starts: anything else is an amount
    // misread ("1.000,00", "12 345,67").
    if !matches!(after.as_bytes().get(end), Some(b'N' | b'F' | b'S')) {
        return Err(format!(
            ":61: \"{}\": the amount is not followed by a transaction type (N, F or S)",
            shown(first)
        ));
    }
    // Then N/F/S and a three-character type, the customer's reference and `//` the bank's.
    let refs = after[end..].get(4..).unwrap_or("");
    let bank_ref = refs
        .split_once("//")
        .map(|(_, b)| b.trim())
        .filter(|b| !b.is_empty() && !b.eq_ignore_ascii_case("NONREF"))
        .map(str::to_string);
    let supplementary = lines.map(str::trim).collect::<Vec<_>>().join(" ");
    Ok(Entry {
        value_date,
        entry_date,
        amount: sign * value,
        bank_ref,
        supplementary: supplementary.trim().to_string(),
    })
}

/// Whitespace runs collapsed to one space, ends trimmed.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Payee and memo from a `:86:` text.
fn details(text: &str, supplementary: &str) -> (String, String) {
    if let Some(pm) = german(text) {
        return pm;
    }
    if let Some(pm) = slashed(text) {
        return pm;
    }
    free_text(text, supplementary)
}

/// German structured details: a three-digit code, then subfields `?NN` (the separator is the
/// fourth character, usually `?`). Payee: `?32`+`?33`; memo: `?20`–`?29`, `?60`–`?63`; `?00`
/// (the posting text, "SEPA ÜBERWEISUNG") when there is no name.
fn german(text: &str) -> Option<(String, String)> {
    let flat: String = text.lines().collect();
    let mut chars = flat.char_indices();
    for _ in 0..3 {
        if !chars.next()?.1.is_ascii_digit() {
            return None;
        }
    }
    let (at, sep) = chars.next()?;
    if sep.is_alphanumeric() || sep.is_whitespace() {
        return None;
    }
    let body = &flat[at..];
    let mut parts: Vec<(u32, &str)> = Vec::new();
    for piece in body.split(sep).skip(1) {
        let code = piece.get(..2).and_then(|c| c.parse::<u32>().ok())?;
        parts.push((code, &piece[2..]));
    }
    if parts.is_empty() {
        return None;
    }
    // A subfield holds 27 characters: a full one was cut mid-word, a shorter one ended a word.
    let join = |range: &dyn Fn(u32) -> bool| {
        let mut out = String::new();
        let mut full = true;
        for (_, t) in parts.iter().filter(|(c, _)| range(*c)) {
            if !full {
                out.push(' ');
            }
            out.push_str(t);
            full = t.chars().count() >= SUBFIELD_WIDTH;
        }
        squeeze(&out)
    };
    let payee = join(&|c| c == 32 || c == 33);
    let memo = join(&|c| (20..=29).contains(&c) || (60..=63).contains(&c));
    let posting = join(&|c| c == 0);
    Some(if payee.is_empty() {
        (posting, memo)
    } else {
        (payee, memo)
    })
}

/// The slash tags of SEPA and Dutch banks' details.
const SLASH_TAGS: [&str; 22] = [
    "TRTP", "IBAN", "BIC", "NAME", "REMI", "EREF", "CNTP", "ORDP", "BENM", "ADDR", "ISDT", "PREF",
    "RTRN", "MARF", "CSID", "SUM", "TRCD", "ULTC", "ULTD", "ULTB", "PURP", "KREF",
];

/// Slash-tagged details (`/TRTP/…/NAME/…/REMI/…`, `/EREF/…//CNTP/IBAN/BIC/NAME/CITY/…`).
fn slashed(text: &str) -> Option<(String, String)> {
    let flat: String = text.lines().collect();
    if !flat.trim_start().starts_with('/') {
        return None;
    }
    // Where each known tag starts: "/TAG/".
    let mut marks: Vec<(usize, &str)> = Vec::new();
    for tag in SLASH_TAGS {
        let needle = format!("/{tag}/");
        let mut from = 0;
        while let Some(i) = flat[from..].find(&needle) {
            marks.push((from + i, tag));
            from += i + needle.len();
        }
    }
    if marks.is_empty() {
        return None;
    }
    marks.sort_unstable();
    let value = |want: &str| -> Option<String> {
        marks.iter().enumerate().find_map(|(k, (at, tag))| {
            (*tag == want).then(|| {
                let start = at + tag.len() + 2;
                let end = marks.get(k + 1).map_or(flat.len(), |m| m.0).max(start);
                flat[start..end].to_string()
            })
        })
    };
    let payee = value("NAME")
        .map(|n| squeeze(n.trim_matches('/')))
        .filter(|n| !n.is_empty())
        .or_else(|| {
            // CNTP: account / BIC / name / city.
            value("CNTP")
                .and_then(|c| c.split('/').nth(2).map(squeeze))
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_default();
    let memo = value("REMI")
        .map(|r| {
            let r = r
                .strip_prefix("USTD//")
                .or_else(|| r.strip_prefix("STRD/CUR/"))
                .unwrap_or(&r);
            squeeze(r.trim_matches('/'))
        })
        .unwrap_or_default();
    Some((payee, memo))
}

/// Free text: the payee is its first part (up to a line break or a run of spaces, without a
/// leading IBAN), the memo the rest.
fn free_text(text: &str, supplementary: &str) -> (String, String) {
    let text = text.trim();
    let text = text
        .strip_prefix("999")
        .map(strip_primanota)
        .unwrap_or(text);
    // A bank's three-character code before a `?` ("A44?Librairie …").
    let text = match text.as_bytes() {
        [a, b, c, b'?', ..] if [a, b, c].iter().all(|x| x.is_ascii_alphanumeric()) => &text[4..],
        _ => text,
    };
    let cut = text
        .char_indices()
        .find(|&(i, c)| c == '\n' || (c == ' ' && text[i..].starts_with("  ")))
        .map_or(text.len(), |(i, _)| i);
    let (head, rest) = text.split_at(cut);
    let mut payee = squeeze(head);
    let words: Vec<&str> = payee.split(' ').collect();
    if words.len() > 1 && looks_like_iban(words[0]) {
        payee = words[1..].join(" ");
    }
    let mut memo = squeeze(rest);
    if payee.is_empty() && !supplementary.is_empty() && !supplementary.starts_with('/') {
        payee = squeeze(supplementary);
    }
    if payee.chars().count() > MAX_PAYEE {
        let keep: String = payee.chars().take(MAX_PAYEE).collect();
        let cut = keep.rfind(' ').unwrap_or(keep.len());
        memo = squeeze(&format!("{} {memo}", &payee[cut..]));
        payee = keep[..cut].to_string();
    }
    (payee, memo)
}

/// `PN1234` (a posting number) after the `999` code of unstructured German details.
fn strip_primanota(t: &str) -> &str {
    match t.as_bytes() {
        [b'P', b'N', a, b, c, d, ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => &t[6..],
        _ => t,
    }
}

fn looks_like_iban(w: &str) -> bool {
    let b = w.as_bytes();
    b.len() >= 12
        && b.len() <= 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b.iter().all(u8::is_ascii_alphanumeric)
}

/// One statement being read.
struct Open {
    st: Statement,
    reference: String,
    line: usize,
    /// Row errors inside it: then its balances cannot be checked.
    bad_rows: usize,
}

pub fn parse(bytes: &[u8], file: &str) -> Result<ParsedFile, ParseError> {
    let fail = |reason: String| ParseError {
        file: file.to_string(),
        reason,
    };
    let decoded = decode(bytes, None);
    let mut warnings: Vec<String> = decoded.warning.into_iter().collect();
    let fields = fields(&decoded.text, file)?;
    if !fields.iter().any(|f| f.tag == "20") {
        return Err(fail(
            "not an MT940 file: no :20: field starts a statement".into(),
        ));
    }
    let mut done: Vec<Open> = Vec::new();
    let mut open: Option<Open> = None;
    let mut errors = Vec::new();
    // The entry a `:86:` belongs to, while it is the last field read.
    let mut last_entry: Option<(usize, String)> = None;
    for f in &fields {
        let is_details = f.tag == "86";
        if f.tag == "20" {
            done.extend(open.take());
            open = Some(Open {
                st: Statement::default(),
                reference: f.text.trim().to_string(),
                line: f.line,
                bad_rows: 0,
            });
        }
        let Some(o) = open.as_mut() else {
            return Err(fail(format!(
                "line {}: :{}: comes before any :20: field",
                f.line, f.tag
            )));
        };
        let row_error = |reason: String| RowError {
            line: f.line,
            reason,
        };
        match f.tag.as_str() {
            "25" | "25P" => o.st.account = Some(f.text.trim().to_string()),
            // MT942: the floor limit names the currency when no balance does.
            "34F" => {
                let code: String = f.text.trim().chars().take(3).collect();
                if o.st.currency.is_none()
                    && code.len() == 3
                    && code.chars().all(|c| c.is_ascii_alphabetic())
                {
                    o.st.currency = Some(code.to_ascii_uppercase());
                }
            }
            "60F" | "60M" | "62F" | "62M" | "64" => {
                let Some((b, currency)) = balance(&f.text) else {
                    return Err(fail(format!(
                        "line {}: :{}: \"{}\" is not a balance (C or D, YYMMDD, currency, amount)",
                        f.line,
                        f.tag,
                        shown(f.text.trim())
                    )));
                };
                if f.tag == "64" {
                    continue;
                }
                match &o.st.currency {
                    Some(c) if *c != currency => {
                        return Err(fail(format!(
                            "line {}: the statement's balances are in {c} and {currency}",
                            f.line
                        )));
                    }
                    _ => o.st.currency = Some(currency),
                }
                if f.tag.starts_with("60") {
                    o.st.opening = Some(b);
                } else {
                    o.st.closing = Some(b);
                }
            }
            "61" => match entry(&f.text) {
                Ok(e) => {
                    let date = e.entry_date.unwrap_or(e.value_date);
                    // Until a :86: says more, the supplementary details name the payee.
                    let payee = if e.supplementary.starts_with('/') {
                        String::new()
                    } else {
                        squeeze(&e.supplementary)
                    };
                    o.st.transactions.push(ParsedTxn {
                        date,
                        value_date: Some(e.value_date),
                        amount: e.amount,
                        currency: None,
                        payee,
                        memo: String::new(),
                        external_id: e.bank_ref,
                        check_number: None,
                        category: None,
                        line: f.line,
                        page: None,
                    });
                    last_entry = Some((o.st.transactions.len() - 1, e.supplementary));
                }
                Err(reason) => {
                    last_entry = None;
                    o.bad_rows += 1;
                    errors.push(row_error(reason));
                }
            },
            "86" => {
                if let Some((i, supplementary)) = &last_entry {
                    let (payee, memo) = details(&f.text, supplementary);
                    if let Some(t) = o.st.transactions.get_mut(*i) {
                        t.payee = payee;
                        t.memo = memo;
                    }
                }
            }
            _ => {}
        }
        if !is_details && f.tag != "61" {
            last_entry = None;
        }
    }
    done.extend(open);
    let mut statements = Vec::new();
    // The same statement twice in one file (two downloads joined) would import twice.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Same account, balances and entries: the same statement, whatever its reference says.
    for o in done.iter().filter(|o| !o.st.transactions.is_empty()) {
        let entries: Vec<_> =
            o.st.transactions
                .iter()
                .map(|t| (t.date, t.amount, t.external_id.as_deref()))
                .collect();
        let key = format!(
            "{:?}|{:?}|{:?}|{entries:?}",
            o.st.account, o.st.opening, o.st.closing
        );
        if let Some(first) = seen.insert(key, o.line) {
            return Err(fail(format!(
                "the statement at line {} repeats the one at line {first} (same account, balances and entries): two copies of one statement would import twice; nothing was imported",
                o.line
            )));
        }
    }
    for o in done {
        let mut st = o.st;
        let currency = st.currency.clone();
        for t in &mut st.transactions {
            t.currency = currency.clone();
        }
        if let Some(c) = &currency {
            let trimmed = st
                .account
                .as_deref()
                .and_then(|a| a.trim_end().strip_suffix(c.as_str()))
                .map(|a| a.trim_end().to_string());
            if let Some(a) = trimmed.filter(|a| !a.is_empty()) {
                st.account = Some(a);
            }
        }
        let label = if o.reference.is_empty() {
            format!("the statement at line {}", o.line)
        } else {
            format!("statement {} (line {})", shown(&o.reference), o.line)
        };
        match (st.opening, st.closing) {
            (Some(open), Some(close)) if o.bad_rows == 0 => {
                let mut sum = open.amount;
                for t in &st.transactions {
                    sum = sum.checked_add(t.amount).ok_or_else(|| {
                        fail(format!("{label}: its amounts add up past what can be held"))
                    })?;
                }
                if sum != close.amount {
                    let c = currency.as_deref().unwrap_or("");
                    return Err(fail(format!(
                        "{label}: the opening balance {} {c} and its {} entries make {sum} {c}, but the closing balance says {} {c}; the statement is incomplete or misread, nothing was imported",
                        open.amount,
                        st.transactions.len(),
                        close.amount
                    )));
                }
            }
            (Some(_), Some(_)) => {}
            (Some(_), None) => {
                return Err(fail(format!(
                    "{label} has an opening balance but no closing balance (:62F:): the file is cut short; nothing was imported"
                )));
            }
            _ => warnings.push(format!(
                "{label} does not give both an opening and a closing balance: its entries could not be checked against them"
            )),
        }
        st.start = st
            .opening
            .map(|b| b.date)
            .or_else(|| st.transactions.iter().map(|t| t.date).min());
        st.end = st
            .closing
            .map(|b| b.date)
            .or_else(|| st.transactions.iter().map(|t| t.date).max());
        statements.push(st);
    }
    Ok(ParsedFile {
        format: Format::Mt940,
        profile: None,
        statements,
        evidence: Vec::new(),
        warnings,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    const GERMAN: &str = "{1:F01BANKDEFFAXXX0000000000}{2:I940BANKDEFFXXXXN}{4:\r
:20:STARTUMS\r
:25:10020030/1234567\r
:28C:5/1\r
:60F:C240131EUR1000,00\r
:61:2402010201DR150,00NTRFNONREF//B1\r
:86:166?00SEPA-UEBERWEISUNG?20Miete Februar?21Wohnung 3?32Hausverwaltung Schmidt Müll\r
?33er GmbH\r
:61:2402020202CR2500,5NTRFNONREF//B2\r
:86:/TRTP/SEPA CREDIT/NAME/Acme AG/REMI/Gehalt/\r
:61:2402030203RC10,00NMSCNONREF\r
Storno\r
:61:2402040204RD5,,NMSCNONREF\r
:62F:C240204EUR3340,50\r
-}";

    #[test]
    fn a_statement_reads_and_reconciles() {
        let text = GERMAN.replace("RD5,,", "RD0,00");
        let f = parse(text.as_bytes(), "s.sta").expect("parses");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let st = &f.statements[0];
        assert_eq!(st.account.as_deref(), Some("10020030/1234567"));
        assert_eq!(st.currency.as_deref(), Some("EUR"));
        let t = &st.transactions;
        let amounts: Vec<Decimal> = t.iter().map(|t| t.amount).collect();
        assert_eq!(
            amounts,
            vec![d("-150.00"), d("2500.5"), d("-10.00"), d("0.00")]
        );
        assert_eq!(t[0].payee, "Hausverwaltung Schmidt Müller GmbH");
        assert_eq!(t[0].memo, "Miete Februar Wohnung 3");
        assert_eq!(t[0].external_id.as_deref(), Some("B1"));
        assert_eq!(t[1].payee, "Acme AG");
        assert_eq!(t[1].memo, "Gehalt");
        assert_eq!(
            t[2].payee, "Storno",
            "no :86: for it: its supplementary details"
        );
        assert_eq!(t[2].external_id, None, "NONREF is no id");
        assert_eq!(t[0].date, NaiveDate::from_ymd_opt(2024, 2, 1).expect("d"));
        assert_eq!(st.closing.map(|b| b.amount), Some(d("3340.50")));
    }

    #[test]
    fn a_statement_that_does_not_add_up_is_refused() {
        let text = GERMAN
            .replace("RD5,,", "RD0,00")
            .replace("C240204EUR3340,50", "C240204EUR3340,51");
        let err = parse(text.as_bytes(), "s.sta").expect_err("refused");
        assert!(err.reason.contains("closing balance says 3340.51"), "{err}");
        assert!(err.reason.contains("STARTUMS"), "{err}");
    }

    #[test]
    fn a_bad_entry_is_a_row_error_naming_its_line() {
        let f = parse(GERMAN.as_bytes(), "s.sta").expect("parses");
        assert_eq!(f.errors.len(), 1, "{:?}", f.errors);
        assert_eq!(f.errors[0].line, 13);
    }

    /// A file cut inside an entry, an amount written with separators, a statement repeated:
    /// refused, never imported wrong.
    #[test]
    fn cut_short_misread_or_repeated_statements_are_refused() {
        let good = GERMAN.replace("RD5,,", "RD0,00");
        let cut = &good[..good.find(":61:2402020202CR2500").expect("entry") + 20];
        let err = parse(cut.as_bytes(), "cut.sta").expect_err("cut short");
        assert!(err.reason.contains("no closing balance"), "{err}");
        let f = parse(
            b":20:X\n:60F:C240101EUR0,00\n:61:240102C1.000,00NTRFNONREF\n:62F:C240102EUR1000,00\n",
            "sep.sta",
        )
        .expect("parses");
        assert!(
            f.errors[0]
                .reason
                .contains("not followed by a transaction type"),
            "{:?}",
            f.errors
        );
        let twice = format!("{good}\n{good}");
        let err = parse(twice.as_bytes(), "twice.sta").expect_err("repeated");
        assert!(err.reason.contains("repeats the one at line"), "{err}");
        // Another reference and number on the copy change nothing.
        let renamed = good
            .replace(":20:STARTUMS", ":20:OTHER")
            .replace(":28C:5/1", ":28C:6/1");
        let twice = format!("{good}\n{renamed}");
        let err = parse(twice.as_bytes(), "twice.sta").expect_err("repeated");
        assert!(err.reason.contains("repeats the one at line"), "{err}");
        // MT942: the currency from the floor limit.
        let f = parse(
            b":20:X\n:25:DE1\n:34F:EURD0,\n:13D:2401021200+0100\n:61:240102D5,00NTRFNONREF\n:86:/NAME/Shop\n",
            "i.942",
        )
        .expect("parses");
        assert_eq!(f.statements[0].currency.as_deref(), Some("EUR"));
        assert_eq!(
            f.statements[0].transactions[0].currency.as_deref(),
            Some("EUR")
        );
    }

    #[test]
    fn entry_dates_cross_new_year() {
        let e = entry("2312290102D1,00NTRFNONREF").expect("reads");
        assert_eq!(e.entry_date, NaiveDate::from_ymd_opt(2024, 1, 2));
        let e = entry("2401021229C1,00NTRFNONREF").expect("reads");
        assert_eq!(e.entry_date, NaiveDate::from_ymd_opt(2023, 12, 29));
        // A funds code after the mark.
        let e = entry("240102DR12,5NTRF").expect("reads");
        assert_eq!(e.amount, d("-12.5"));
    }

    #[test]
    fn unknown_tags_and_headless_text_are_refused() {
        assert!(parse(b":9401:\n:20:X\n:60F:C240101EUR1,00\n", "w.940").is_err());
        assert!(parse(b"hello\nworld\n", "w.940").is_err());
        assert!(sniff(
            b":940:\r\n:20:940S140102\r\n:25:NL34RABO0142623393 EUR\r\n"
        ));
        assert!(!sniff(b"Date,Amount\n2024-01-01,1.00\n"));
    }
}
