//! The ledger model: accounts, categories, transactions, users, import batches and the store's
//! own facts. These structs are also the journal's canonical row form: serialising one with
//! `serde_json` gives the bytes the journal records and `journal verify` compares.
//!
//! - `ledger`: accounts, categories, transactions, tombstones.
//! - `access`: users, roles, credentials.
//! - `import`: import batches and what a streamed import sends.
//! - `meta`: the store's facts (environment, engine, meta, counts).
//! - `actor`: who made a change.
//! - `list`: sorting, paging, searching and filtering the transaction list.

use chrono::{DateTime, SubsecRound, Utc};

/// Current time truncated to microseconds, the precision both engines keep.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A patch's field: `Some` replaces the value, `None` keeps it.
fn set<T: Clone>(field: &mut T, patch: &Option<T>) {
    if let Some(v) = patch {
        field.clone_from(v);
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::error::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(crate::error::ValidationError::new(format!(
                        "unknown {} \"{}\" (expected one of: {})",
                        $what,
                        s,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

mod access;
mod actor;
mod import;
mod ledger;
mod list;
mod meta;

pub use access::*;
pub use actor::*;
pub use import::*;
pub use ledger::*;
pub use list::*;
pub use meta::*;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn enums_parse_leniently_and_name_choices() {
        assert_eq!(
            "credit-card".parse::<AccountKind>(),
            Ok(AccountKind::CreditCard)
        );
        assert_eq!(" Prod ".parse::<Environment>(), Ok(Environment::Prod));
        let err = "bank".parse::<AccountKind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown account kind \"bank\" (expected one of: checking, savings, credit_card, cash, loan, other)"
        );
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = TxCursor {
            posted_date: NaiveDate::from_ymd_opt(2024, 3, 9).expect("date"),
            amount_minor: -1250,
            id: 42,
        };
        assert_eq!(c.encode(), "20240309_-1250_42");
        assert_eq!(TxCursor::decode(&c.encode()), Ok(c));
        assert!(TxCursor::decode("yesterday").is_err());
        assert!(TxCursor::decode("20241301_0_1").is_err());
        assert!(TxCursor::decode("20240309_1").is_err(), "too few parts");
        assert!(
            TxCursor::decode("20240309_1_2_3").is_err(),
            "too many parts"
        );
    }

    #[test]
    fn search_words_are_lower_case_runs_of_letters_and_digits() {
        assert_eq!(
            search_words("AMAZON.COM*MK12 Café_Crème 50%"),
            vec!["amazon", "com", "mk12", "café", "crème", "50"]
        );
        assert!(search_words("%% -- ").is_empty());
        let t = |w: &str, prefix| SearchTerm {
            word: w.into(),
            prefix,
        };
        assert_eq!(
            search_terms("Coffee AMAZ* * x*y"),
            vec![
                t("coffee", false),
                t("amaz", true),
                t("x", true),
                t("y", false)
            ]
        );
    }
}
