//! Duplicate-detection fingerprints: a 16-byte digest of (account, date, amount, normalised text).
//!
//! Normalisation makes cosmetic differences between two exports of the same row disappear:
//! case, runs of whitespace and surrounding spaces.

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

/// Upper-cases and collapses whitespace.
pub fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if word.is_ascii() {
            out.push_str(word);
            let start = out.len() - word.len();
            out[start..].make_ascii_uppercase();
        } else {
            out.push_str(&word.to_uppercase());
        }
    }
    out
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
    let mut h = Sha256::new();
    h.update(account_id.to_le_bytes());
    h.update(date.to_string().as_bytes());
    h.update(amount_minor.to_le_bytes());
    h.update(normalize_text(fingerprint_text(payee, description)).as_bytes());
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
