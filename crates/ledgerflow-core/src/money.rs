//! Exact money: ISO 4217 currencies with their exponents, and amounts as integer minor units.
//!
//! Amounts are parsed from decimal text exactly (never through a float) and a value with more
//! fractional digits than the currency allows is refused, not rounded.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Exponents (number of minor-unit digits) of the ISO 4217 currencies LedgerFlow knows.
/// Currencies not listed here are refused, so a typo never becomes a new currency.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

/// The largest amount LedgerFlow accepts, in minor units (10^15: ten trillion dollars, a
/// quadrillion yen). Sums of many such amounts still fit in 64 bits.
pub const MAX_ABS_MINOR: i64 = 1_000_000_000_000_000;

/// Errors from parsing currencies and amounts. Each message names the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency \"{0}\" (use an ISO 4217 code such as USD, EUR or JPY)")]
    UnknownCurrency(String),
    #[error("amount \"{text}\" is not a decimal number")]
    NotANumber { text: String },
    #[error("amount \"{text}\" has more decimals than {currency} allows ({exponent})")]
    TooManyDecimals {
        text: String,
        currency: String,
        exponent: u32,
    },
    #[error(
        "amount \"{text}\" is too large (at most {} in minor units)",
        MAX_ABS_MINOR
    )]
    Overflow { text: String },
}

/// An ISO 4217 currency code known to LedgerFlow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

impl Currency {
    pub const USD: Currency = Currency {
        code: *b"USD",
        exponent: 2,
    };

    /// Looks a code up in the table (case-insensitive).
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == upper)
            .map(|(c, e)| {
                let b = c.as_bytes();
                Currency {
                    code: [b[0], b[1], b[2]],
                    exponent: *e,
                }
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.trim().to_string()))
    }

    pub fn code(&self) -> &str {
        // The table holds ASCII codes only.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of minor-unit digits (USD 2, JPY 0, BHD 3).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Parses decimal text ("-12.34", "+5", "1234.5") into minor units, exactly.
    /// Thousands separators and locale formats are the importers' business, not this function's.
    pub fn parse_amount(&self, text: &str) -> Result<i64, MoneyError> {
        let trimmed = text.trim();
        let not_a_number = || MoneyError::NotANumber {
            text: text.to_string(),
        };
        if trimmed.is_empty()
            || !trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
        {
            return Err(not_a_number());
        }
        let digits = trimmed.trim_start_matches(['-', '+']);
        if digits.is_empty() || digits.starts_with('.') && digits.len() == 1 {
            return Err(not_a_number());
        }
        let value = Decimal::from_str(trimmed).map_err(|_| not_a_number())?;
        self.decimal_to_minor(value, text)
    }

    /// Converts an exact decimal into minor units, refusing extra digits.
    pub fn decimal_to_minor(&self, value: Decimal, text: &str) -> Result<i64, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > self.exponent {
            return Err(MoneyError::TooManyDecimals {
                text: text.to_string(),
                currency: self.code().to_string(),
                exponent: self.exponent,
            });
        }
        let factor = Decimal::from(10_i64.pow(self.exponent));
        let scaled = normalized
            .checked_mul(factor)
            .ok_or_else(|| MoneyError::Overflow {
                text: text.to_string(),
            })?;
        i64::try_from(scaled)
            .ok()
            // unsigned_abs: i64::MIN has no i64 absolute value (abs() wrapped it past the cap).
            .filter(|m| m.unsigned_abs() <= MAX_ABS_MINOR.unsigned_abs())
            .ok_or_else(|| MoneyError::Overflow {
                text: text.to_string(),
            })
    }

    /// Formats minor units as plain decimal text with exactly `exponent` decimals ("-12.34").
    pub fn format_minor(&self, minor: i64) -> String {
        let mut d = Decimal::from(minor);
        // set_scale only fails above 28, and our exponents are at most 3.
        if d.set_scale(self.exponent).is_err() {
            return minor.to_string();
        }
        d.to_string()
    }

    /// The exact decimal value of an amount in minor units.
    pub fn to_decimal(&self, minor: i64) -> Decimal {
        Decimal::new(minor, self.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::from_code(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(c: &str) -> Currency {
        Currency::from_code(c).expect("known currency")
    }

    #[test]
    fn parses_exactly_per_exponent() {
        assert_eq!(cur("USD").parse_amount("-12.34"), Ok(-1234));
        assert_eq!(cur("USD").parse_amount("12.3"), Ok(1230));
        assert_eq!(cur("USD").parse_amount("+5"), Ok(500));
        assert_eq!(cur("USD").parse_amount("0.10"), Ok(10));
        assert_eq!(cur("JPY").parse_amount("1500"), Ok(1500));
        assert_eq!(cur("BHD").parse_amount("1.234"), Ok(1234));
        // trailing zeros beyond the exponent carry no extra precision
        assert_eq!(cur("USD").parse_amount("1.500"), Ok(150));
    }

    /// The cap holds at the very bottom of i64: its absolute value does not wrap past it.
    #[test]
    fn the_size_cap_holds_at_i64_min() {
        for text in [
            "-92233720368547758.08",
            "-92233720368547758.07",
            "-10000000000000.01",
        ] {
            assert!(
                matches!(
                    cur("USD").parse_amount(text),
                    Err(MoneyError::Overflow { .. })
                ),
                "{text}"
            );
        }
        assert_eq!(
            cur("USD").parse_amount("-10000000000000.00"),
            Ok(-MAX_ABS_MINOR)
        );
    }

    #[test]
    fn refuses_extra_decimals_and_garbage() {
        let err = cur("USD").parse_amount("12.345").unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount \"12.345\" has more decimals than USD allows (2)"
        );
        assert!(matches!(
            cur("JPY").parse_amount("1.5"),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        for bad in ["", "abc", "1,5", "1e5", "--1", "-", ".", "1.2.3", "NaN"] {
            assert!(
                cur("USD").parse_amount(bad).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(matches!(
            cur("USD").parse_amount("99999999999999999999"),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(matches!(
            cur("USD").parse_amount("92233720368547758.07"),
            Err(MoneyError::Overflow { .. })
        ));
        assert_eq!(
            cur("USD").parse_amount("10000000000000.00"),
            Ok(MAX_ABS_MINOR)
        );
    }

    #[test]
    fn unknown_currency_is_named() {
        assert_eq!(
            Currency::from_code("XYZ").unwrap_err().to_string(),
            "unknown currency \"XYZ\" (use an ISO 4217 code such as USD, EUR or JPY)"
        );
        assert_eq!(cur("usd").code(), "USD");
    }

    #[test]
    fn formats_with_fixed_decimals() {
        assert_eq!(cur("USD").format_minor(-1234), "-12.34");
        assert_eq!(cur("USD").format_minor(5), "0.05");
        assert_eq!(cur("JPY").format_minor(1500), "1500");
        assert_eq!(cur("BHD").format_minor(-1), "-0.001");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in -MAX_ABS_MINOR..=MAX_ABS_MINOR, code in prop::sample::select(vec!["USD", "JPY", "BHD", "EUR"])) {
            let c = cur(code);
            prop_assert_eq!(c.parse_amount(&c.format_minor(minor)), Ok(minor));
        }
    }
}
