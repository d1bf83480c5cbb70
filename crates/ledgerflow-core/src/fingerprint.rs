//! Duplicate-detection fingerprints: a 16-byte digest of (account, date, amount, normalised text).
//!
//! Normalisation makes cosmetic differences between two exports of the same row disappear:
//! case, runs of whitespace and surrounding spaces.

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};

/// Upper-cases and collapses whitespace.
pub fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    normalize_into(s, &mut out);
    out
}

/// [`normalize_text`] into a buffer the caller reuses.
pub fn normalize_into(s: &str, out: &mut String) {
    out.clear();
    if s.is_ascii() {
        // The common case, byte by byte: ASCII whitespace is exactly what `split_whitespace`
        // splits ASCII text on.
        let mut bytes = std::mem::take(out).into_bytes();
        for word in s
            .as_bytes()
            .split(|b| b.is_ascii_whitespace() || *b == 0x0b)
        {
            if word.is_empty() {
                continue;
            }
            if !bytes.is_empty() {
                bytes.push(b' ');
            }
            bytes.extend(word.iter().map(u8::to_ascii_uppercase));
        }
        // Only ASCII bytes were copied.
        *out = String::from_utf8(bytes).unwrap_or_default();
        return;
    }
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_uppercase());
    }
}

/// The text a fingerprint covers: the description when the bank gave one, else the payee.
fn fingerprint_text<'a>(payee: &'a str, description: &'a str) -> &'a str {
    if description.trim().is_empty() {
        payee
    } else {
        description
    }
}

pub fn fingerprint(
    account_id: i64,
    date: NaiveDate,
    amount_minor: i64,
    payee: &str,
    description: &str,
) -> [u8; 16] {
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let mut h = Sha256::new();
    h.update(account_id.to_le_bytes());
    let (y, m, d) = (date.year(), date.month(), date.day());
    if (0..=9999).contains(&y) {
        // `date.to_string()` without the allocation: YYYY-MM-DD.
        let y = y as u32;
        let digit = |v: u32| b'0' + (v % 10) as u8;
        h.update([
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]);
    } else {
        h.update(date.to_string().as_bytes());
    }
    h.update(amount_minor.to_le_bytes());
    BUF.with_borrow_mut(|buf| {
        normalize_into(fingerprint_text(payee, description), buf);
        h.update(buf.as_bytes());
    });
    let digest = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

pub fn fingerprint_hex(
    account_id: i64,
    date: NaiveDate,
    amount_minor: i64,
    payee: &str,
    description: &str,
) -> String {
    hex::encode(fingerprint(
        account_id,
        date,
        amount_minor,
        payee,
        description,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 2).expect("date")
    }

    #[test]
    fn the_date_is_hashed_as_its_iso_text() {
        for (y, m, dd) in [(2024, 1, 2), (999, 12, 31), (10_000, 1, 1), (-5, 3, 4)] {
            let date = NaiveDate::from_ymd_opt(y, m, dd).expect("date");
            let mut h = Sha256::new();
            h.update(7_i64.to_le_bytes());
            h.update(date.to_string().as_bytes());
            h.update((-450_i64).to_le_bytes());
            h.update(b"COFFEE");
            let want: [u8; 16] = h.finalize()[..16].try_into().expect("16");
            assert_eq!(fingerprint(7, date, -450, "coffee", ""), want, "{date}");
        }
    }

    #[test]
    fn ascii_and_unicode_paths_agree() {
        for text in [
            " a\tb\x0bc\x0cd\re\nf  ",
            "Café  au lait\u{a0}x",
            "",
            "   ",
            "blue bottle #12",
        ] {
            let slow: String = text
                .split_whitespace()
                .map(str::to_uppercase)
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(normalize_text(text), slow, "{text:?}");
        }
    }

    #[test]
    fn cosmetic_differences_do_not_change_the_fingerprint() {
        assert_eq!(
            fingerprint(1, d(), -450, "", "Coffee  shop\t#12 "),
            fingerprint(1, d(), -450, "", "COFFEE SHOP #12")
        );
    }

    #[test]
    fn every_component_matters() {
        let base = fingerprint(1, d(), -450, "", "COFFEE");
        assert_ne!(base, fingerprint(2, d(), -450, "", "COFFEE"));
        assert_ne!(
            base,
            fingerprint(1, d().succ_opt().expect("date"), -450, "", "COFFEE")
        );
        assert_ne!(base, fingerprint(1, d(), -451, "", "COFFEE"));
        assert_ne!(base, fingerprint(1, d(), -450, "", "TEA"));
        // the payee stands in when there is no description
        assert_eq!(base, fingerprint(1, d(), -450, "coffee", ""));
    }
}
