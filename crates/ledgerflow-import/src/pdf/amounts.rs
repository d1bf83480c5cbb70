//! Amounts as statements print them: `1,234.56`, `1.234,56`, `2,42.48`, `$12.00`, `-12.00`,
//! `(12.00)`, `12.00-`, `12.00CR`, or `12.00` followed by a mark word (`CR`, `D`). Always two
//! decimals: a number without them is a reference, a card number or a count, not money.

use rust_decimal::Decimal;

/// A mark printed after an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    Credit,
    Debit,
}

/// An amount read from a word (and maybe the mark word after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Printed {
    /// Unsigned.
    pub(super) value: Decimal,
    /// Printed with a minus or in parentheses.
    pub(super) negative: bool,
    pub(super) mark: Option<Mark>,
    /// The currency a symbol named (`€`, `£`, `₹`).
    pub(super) currency: Option<&'static str>,
}

impl Printed {
    /// As a signed balance: a minus or a debit mark is below zero.
    pub(super) fn signed(&self) -> Decimal {
        if self.negative ^ (self.mark == Some(Mark::Debit)) {
            -self.value
        } else {
            self.value
        }
    }
}

/// The marks a statement uses, from a template or the defaults.
pub(super) struct Marks {
    pub(super) credit: Vec<String>,
    pub(super) debit: Vec<String>,
}

impl Default for Marks {
    fn default() -> Self {
        Marks {
            credit: ["CR", "Cr", "cr", "C"].map(String::from).to_vec(),
            debit: ["DR", "Dr", "dr", "D"].map(String::from).to_vec(),
        }
    }
}

impl Marks {
    pub(super) fn of(&self, word: &str) -> Option<Mark> {
        if self.credit.iter().any(|m| m == word) {
            Some(Mark::Credit)
        } else if self.debit.iter().any(|m| m == word) {
            Some(Mark::Debit)
        } else {
            None
        }
    }
}

const SYMBOLS: [(char, Option<&str>); 6] = [
    ('$', None),
    ('€', Some("EUR")),
    ('£', Some("GBP")),
    ('₹', Some("INR")),
    ('¥', None),
    ('`', None),
];

/// Reads one word as an amount (a mark glued to its end, `12.00CR`, included).
pub(super) fn read(word: &str, marks: &Marks) -> Option<Printed> {
    let mut s = word.trim();
    let mut currency = None;
    let mut negative = false;
    let mut mark = None;
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        s = inner;
    }
    for _ in 0..2 {
        if let Some(r) = s.strip_prefix(['-', '−']) {
            negative = !negative;
            s = r;
        } else if let Some(r) = s.strip_prefix('+') {
            s = r;
        }
        for (sym, code) in SYMBOLS {
            if let Some(r) = s.strip_prefix(sym).or_else(|| s.strip_suffix(sym)) {
                s = r;
                currency = currency.or(code);
            }
        }
    }
    // A mark glued to the number: "12.00CR", "12.00Dr".
    let letters = s.len() - s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
    if letters > 0 {
        mark = Some(marks.of(&s[s.len() - letters..])?);
        s = &s[..s.len() - letters];
    }
    if let Some(r) = s.strip_suffix('-') {
        negative = !negative;
        s = r;
    }
    let (int, dec) = s.split_at(s.rfind(['.', ','])?);
    let dec = &dec[1..];
    if dec.len() != 2 || !dec.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let b = int.as_bytes();
    let sep = |c: u8| matches!(c, b',' | b'.' | b'\'');
    if b.is_empty()
        || !b[0].is_ascii_digit()
        || !b[b.len() - 1].is_ascii_digit()
        || !b.iter().all(|&c| c.is_ascii_digit() || sep(c))
        || b.windows(2).any(|w| sep(w[0]) && sep(w[1]))
    {
        return None;
    }
    let digits: String = int.chars().filter(char::is_ascii_digit).collect();
    if digits.len() > 15 {
        return None;
    }
    let value = Decimal::from_str_exact(&format!("{digits}.{dec}")).ok()?;
    Some(Printed {
        value,
        negative,
        mark,
        currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn amounts_as_statements_print_them() {
        let m = Marks::default();
        let cases = [
            ("1,234.56", "1234.56", false, None),
            ("1.234,56", "1234.56", false, None),
            ("2,42.48", "242.48", false, None),
            ("$12.00", "12.00", false, None),
            ("-12.00", "12.00", true, None),
            ("(12.00)", "12.00", true, None),
            ("12.00-", "12.00", true, None),
            ("12.00CR", "12.00", false, Some(Mark::Credit)),
            ("€1.000,00", "1000.00", false, None),
            ("1'234.50", "1234.50", false, None),
        ];
        for (text, value, negative, mark) in cases {
            let p = read(text, &m).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                (p.value, p.negative, p.mark),
                (v(value), negative, mark),
                "{text}"
            );
        }
        assert_eq!(read("€5,00", &m).and_then(|p| p.currency), Some("EUR"));
        for bad in [
            "12",
            "12.5",
            "1234",
            "12.345",
            "2023-09-09",
            "12.00XY",
            "1,,234.00",
            ".50",
            "A12.00",
            "9999999999999999.00",
        ] {
            assert_eq!(read(bad, &m), None, "{bad}");
        }
    }
}
