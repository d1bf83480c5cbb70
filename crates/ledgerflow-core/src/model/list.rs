//! Listing transactions: the sort, the keyset cursor, search words and the filter.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::*;

text_enum!(
    /// The order of the transaction list. Newest first unless asked otherwise.
    TxSort, "sort" {
        DateDesc => "date_desc",
        DateAsc => "date_asc",
        AmountDesc => "amount_desc",
        AmountAsc => "amount_asc",
    }
);

// The enum comes from `text_enum!`, which cannot mark a `#[default]` variant.
#[allow(clippy::derivable_impls)]
impl Default for TxSort {
    fn default() -> Self {
        TxSort::DateDesc
    }
}

/// Keyset position in the transaction list: the last row of a page, by the sort's key and
/// then id (so ties never repeat or skip a row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxCursor {
    pub posted_date: NaiveDate,
    pub amount_minor: i64,
    pub id: i64,
}

impl TxCursor {
    pub fn of(t: &Transaction) -> Self {
        TxCursor {
            posted_date: t.posted_date,
            amount_minor: t.amount_minor,
            id: t.id,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}_{}_{}",
            self.posted_date.format("%Y%m%d"),
            self.amount_minor,
            self.id
        )
    }

    pub fn decode(s: &str) -> Result<Self, crate::error::ValidationError> {
        let bad = || crate::error::ValidationError::new(format!("cursor \"{s}\" is not valid"));
        let mut parts = s.split('_');
        let (Some(d), Some(a), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(TxCursor {
            posted_date: NaiveDate::parse_from_str(d, "%Y%m%d").map_err(|_| bad())?,
            amount_minor: a.parse().map_err(|_| bad())?,
            id: id.parse().map_err(|_| bad())?,
        })
    }
}

/// The words of a search text, lower-cased: runs of letters and digits. Both engines index
/// the same words of payee, description and memo.
pub fn search_words(text: &str) -> Vec<String> {
    search_terms(text).into_iter().map(|t| t.word).collect()
}

/// One word of a search: a transaction matches when one of its words is this word, or, with
/// `prefix` (the word was typed with a trailing `*`), begins with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm {
    pub word: String,
    pub prefix: bool,
}

/// The terms of a search text (at most 16): `coffee amaz*` is the word "coffee" and any word
/// beginning with "amaz".
pub fn search_terms(text: &str) -> Vec<SearchTerm> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            if chars.peek().is_some_and(|n| n.is_alphanumeric()) {
                continue;
            }
            let prefix = chars.peek() == Some(&'*');
            out.push(SearchTerm {
                word: std::mem::take(&mut word),
                prefix,
            });
            if out.len() == 16 {
                break;
            }
        }
    }
    out
}

/// Filters for listing transactions. Every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct TxFilter {
    pub account_id: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Words that must each be a word of payee, description or memo, whatever their case
    /// and accents; `word*` matches words beginning with it (see [`search_terms`]).
    pub text: Option<String>,
    /// Any of these categories (a category and its subcategories: see
    /// [`crate::service::with_descendants`]).
    pub category_ids: Vec<i64>,
    pub uncategorized: bool,
    pub min_amount_minor: Option<i64>,
    pub max_amount_minor: Option<i64>,
    pub status: Option<TxStatus>,
    pub import_batch_id: Option<i64>,
    pub sort: TxSort,
    pub after: Option<TxCursor>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct TxPage {
    pub items: Vec<Transaction>,
    pub next_cursor: Option<TxCursor>,
}
