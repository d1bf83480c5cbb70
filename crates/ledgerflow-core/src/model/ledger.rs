//! The ledger itself: accounts, categories and transactions (with their new-row and patch
//! forms), and the tombstone a deleted transaction leaves.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::*;
use crate::money::Currency;

text_enum!(
    /// What kind of account this is.
    AccountKind, "account kind" {
        Checking => "checking",
        Savings => "savings",
        CreditCard => "credit_card",
        Cash => "cash",
        Loan => "loan",
        Other => "other",
    }
);

text_enum!(
    /// Whether a category collects income, expenses or transfers.
    CategoryKind, "category kind" {
        Income => "income",
        Expense => "expense",
        Transfer => "transfer",
    }
);

text_enum!(
    /// Where a transaction stands with the bank.
    TxStatus, "transaction status" {
        Pending => "pending",
        Cleared => "cleared",
        Reconciled => "reconciled",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub institution: Option<String>,
    pub kind: AccountKind,
    pub currency: Currency,
    pub opening_balance_minor: i64,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub institution: Option<String>,
    pub kind: AccountKind,
    pub currency: Currency,
    pub opening_balance_minor: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub institution: Option<Option<String>>,
    pub kind: Option<AccountKind>,
    pub opening_balance_minor: Option<i64>,
    pub archived: Option<bool>,
}

impl AccountPatch {
    pub fn apply(&self, before: &Account) -> Account {
        let mut a = before.clone();
        set(&mut a.name, &self.name);
        set(&mut a.institution, &self.institution);
        set(&mut a.kind, &self.kind);
        set(&mut a.opening_balance_minor, &self.opening_balance_minor);
        set(&mut a.archived, &self.archived);
        a.updated_at = now();
        a
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub kind: CategoryKind,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCategory {
    pub name: String,
    pub parent_id: Option<i64>,
    pub kind: CategoryKind,
}

#[derive(Debug, Clone, Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    /// `Some(None)` moves the category to the top level.
    pub parent_id: Option<Option<i64>>,
    pub kind: Option<CategoryKind>,
}

impl CategoryPatch {
    pub fn apply(&self, before: &Category) -> Category {
        let mut c = before.clone();
        set(&mut c.name, &self.name);
        set(&mut c.parent_id, &self.parent_id);
        set(&mut c.kind, &self.kind);
        c.updated_at = now();
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: i64,
    pub account_id: i64,
    pub posted_date: NaiveDate,
    pub amount_minor: i64,
    pub currency: Currency,
    pub payee: String,
    pub description: String,
    pub memo: String,
    pub category_id: Option<i64>,
    pub status: TxStatus,
    pub source: String,
    pub import_batch_id: Option<i64>,
    pub external_id: Option<String>,
    /// Hex of the 16-byte duplicate-detection fingerprint (see [`crate::fingerprint`]).
    pub fingerprint: String,
    pub transfer_id: Option<i64>,
    /// Imported beside a near match (same amount, close date): for the user to look at.
    pub needs_review: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The date the bank sent, kept when the user moved an imported row to another date
    /// (duplicate detection matches on what the bank sent, not on the edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_date: Option<NaiveDate>,
    /// The amount the bank sent, kept when the user changed an imported row's amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_amount_minor: Option<i64>,
}

impl Transaction {
    /// Whether the row came from a bank file (its fingerprint then stands for the bank's row).
    pub fn is_imported(&self) -> bool {
        self.import_batch_id.is_some()
    }
}

/// What the user deleted, so a re-import does not bring it back: the deleted transaction's id,
/// account, the date the bank sent, fingerprint and bank id. Its canonical JSON is what the
/// journal derives from the transaction's `delete` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tombstone {
    /// The id the transaction had.
    pub id: i64,
    pub account_id: i64,
    pub posted_date: NaiveDate,
    pub fingerprint: String,
    pub external_id: Option<String>,
}

impl Tombstone {
    pub fn of(t: &Transaction) -> Tombstone {
        Tombstone {
            id: t.id,
            account_id: t.account_id,
            posted_date: t.bank_date.unwrap_or(t.posted_date),
            fingerprint: t.fingerprint.clone(),
            external_id: t.external_id.clone(),
        }
    }
}

/// A transaction to insert. The store assigns the id and timestamps; the fingerprint is computed
/// by [`NewTransaction::fingerprint`] from the account, date, amount and description.
#[derive(Debug, Clone)]
pub struct NewTransaction {
    pub account_id: i64,
    pub posted_date: NaiveDate,
    pub amount_minor: i64,
    pub currency: Currency,
    pub payee: String,
    pub description: String,
    pub memo: String,
    pub category_id: Option<i64>,
    pub status: TxStatus,
    pub source: String,
    pub import_batch_id: Option<i64>,
    pub external_id: Option<String>,
    pub transfer_id: Option<i64>,
    pub needs_review: bool,
}

impl NewTransaction {
    /// Turns this into a full row with the given id and timestamp.
    pub fn into_row(self, id: i64, at: DateTime<Utc>) -> Transaction {
        let fingerprint = crate::fingerprint::fingerprint_hex(
            self.account_id,
            self.posted_date,
            self.amount_minor,
            &self.payee,
            &self.description,
        );
        Transaction {
            id,
            account_id: self.account_id,
            posted_date: self.posted_date,
            amount_minor: self.amount_minor,
            currency: self.currency,
            payee: self.payee,
            description: self.description,
            memo: self.memo,
            category_id: self.category_id,
            status: self.status,
            source: self.source,
            import_batch_id: self.import_batch_id,
            external_id: self.external_id,
            fingerprint,
            transfer_id: self.transfer_id,
            needs_review: self.needs_review,
            created_at: at,
            updated_at: at,
            bank_date: None,
            bank_amount_minor: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TransactionPatch {
    pub posted_date: Option<NaiveDate>,
    pub amount_minor: Option<i64>,
    pub payee: Option<String>,
    pub description: Option<String>,
    pub memo: Option<String>,
    pub category_id: Option<Option<i64>>,
    pub status: Option<TxStatus>,
    pub transfer_id: Option<Option<i64>>,
    pub needs_review: Option<bool>,
}

impl TransactionPatch {
    pub fn apply(&self, before: &Transaction) -> Transaction {
        let mut t = before.clone();
        set(&mut t.posted_date, &self.posted_date);
        set(&mut t.amount_minor, &self.amount_minor);
        set(&mut t.payee, &self.payee);
        set(&mut t.description, &self.description);
        set(&mut t.memo, &self.memo);
        set(&mut t.category_id, &self.category_id);
        set(&mut t.status, &self.status);
        set(&mut t.transfer_id, &self.transfer_id);
        set(&mut t.needs_review, &self.needs_review);
        // The fingerprint identifies the bank's row for duplicate detection. An imported row
        // keeps it whatever the user edits, and keeps the date and amount the bank sent, so
        // the next overlapping import still recognises it. A row typed by hand has no bank
        // row: its fingerprint follows its date and amount.
        if before.is_imported() {
            if t.posted_date != before.posted_date && t.bank_date.is_none() {
                t.bank_date = Some(before.posted_date);
            }
            if t.bank_date == Some(t.posted_date) {
                t.bank_date = None;
            }
            if t.amount_minor != before.amount_minor && t.bank_amount_minor.is_none() {
                t.bank_amount_minor = Some(before.amount_minor);
            }
            if t.bank_amount_minor == Some(t.amount_minor) {
                t.bank_amount_minor = None;
            }
        } else if t.posted_date != before.posted_date || t.amount_minor != before.amount_minor {
            t.fingerprint = crate::fingerprint::fingerprint_hex(
                t.account_id,
                t.posted_date,
                t.amount_minor,
                &t.payee,
                &t.description,
            );
        }
        t.updated_at = now();
        t
    }
}
