//! The ledger model: accounts, categories, transactions, users, import batches and the store's
//! own facts. These structs are also the journal's canonical row form: serialising one with
//! `serde_json` gives the bytes the journal records and `journal verify` compares.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// Current time truncated to microseconds, the precision both engines keep.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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

text_enum!(
    /// What a user may do: read, edit, or administer.
    Role, "role" {
        Viewer => "viewer",
        Editor => "editor",
        Admin => "admin",
    }
);

text_enum!(
    /// The environment a store belongs to.
    Environment, "environment" {
        Dev => "dev",
        Staging => "staging",
        Prod => "prod",
    }
);

text_enum!(
    /// The storage engine behind a store.
    Engine, "engine" {
        Sqlite => "sqlite",
        Postgres => "postgres",
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
        if let Some(n) = &self.name {
            a.name.clone_from(n);
        }
        if let Some(i) = &self.institution {
            a.institution.clone_from(i);
        }
        if let Some(k) = self.kind {
            a.kind = k;
        }
        if let Some(o) = self.opening_balance_minor {
            a.opening_balance_minor = o;
        }
        if let Some(ar) = self.archived {
            a.archived = ar;
        }
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
        if let Some(n) = &self.name {
            c.name.clone_from(n);
        }
        if let Some(p) = self.parent_id {
            c.parent_id = p;
        }
        if let Some(k) = self.kind {
            c.kind = k;
        }
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
        if let Some(d) = self.posted_date {
            t.posted_date = d;
        }
        if let Some(a) = self.amount_minor {
            t.amount_minor = a;
        }
        if let Some(p) = &self.payee {
            t.payee.clone_from(p);
        }
        if let Some(d) = &self.description {
            t.description.clone_from(d);
        }
        if let Some(m) = &self.memo {
            t.memo.clone_from(m);
        }
        if let Some(c) = self.category_id {
            t.category_id = c;
        }
        if let Some(s) = self.status {
            t.status = s;
        }
        if let Some(x) = self.transfer_id {
            t.transfer_id = x;
        }
        if let Some(r) = self.needs_review {
            t.needs_review = r;
        }
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string; `None` for a user who cannot sign in with a password yet.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

text_enum!(
    /// A signed-in browser session or a personal API token.
    CredentialKind, "credential kind" {
        Session => "session",
        Token => "token",
    }
);

/// A secret a user holds (a session cookie or an API token). Only the SHA-256 of the secret
/// is stored, so a copy of the database does not let anyone sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: i64,
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Credential {
    /// Not revoked and not expired at `at`.
    pub fn is_live(&self, at: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > at)
    }
}

/// A credential as the journal records it: everything but when it was last used (which
/// changes on every request and is not worth a journal entry), with the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialRecord {
    pub id: i64,
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    /// Hex of the SHA-256 of the secret.
    pub secret_sha256: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    pub secret_sha256: [u8; 32],
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub password_hash: Option<Option<String>>,
    pub disabled: Option<bool>,
}

impl UserPatch {
    pub fn apply(&self, before: &User) -> User {
        let mut u = before.clone();
        if let Some(r) = self.role {
            u.role = r;
        }
        if let Some(p) = &self.password_hash {
            u.password_hash.clone_from(p);
        }
        if let Some(d) = self.disabled {
            u.disabled = d;
        }
        u.updated_at = now();
        u
    }
}

/// One import of one file into one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportBatch {
    pub id: i64,
    pub account_id: i64,
    pub file_name: String,
    pub file_sha256: String,
    pub format: String,
    pub actor: String,
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
    pub created_at: DateTime<Utc>,
}

/// An import about to be recorded.
#[derive(Debug, Clone)]
pub struct NewImportBatch {
    pub account_id: i64,
    pub file_name: String,
    pub file_sha256: String,
    pub format: String,
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
}

impl NewImportBatch {
    pub fn counts(&self) -> ImportCounts {
        ImportCounts {
            rows_read: self.rows_read,
            rows_new: self.rows_new,
            rows_duplicate: self.rows_duplicate,
            rows_flagged: self.rows_flagged,
            rows_skipped: self.rows_skipped,
        }
    }

    pub fn set_counts(&mut self, c: ImportCounts) {
        self.rows_read = c.rows_read;
        self.rows_new = c.rows_new;
        self.rows_duplicate = c.rows_duplicate;
        self.rows_flagged = c.rows_flagged;
        self.rows_skipped = c.rows_skipped;
    }

    pub fn into_batch(self, id: i64, actor: &Actor, at: DateTime<Utc>) -> ImportBatch {
        ImportBatch {
            id,
            account_id: self.account_id,
            file_name: self.file_name,
            file_sha256: self.file_sha256,
            format: self.format,
            actor: actor.as_str().to_string(),
            rows_read: self.rows_read,
            rows_new: self.rows_new,
            rows_duplicate: self.rows_duplicate,
            rows_flagged: self.rows_flagged,
            rows_skipped: self.rows_skipped,
            created_at: at,
        }
    }
}

/// What duplicate detection needs to know of a stored (or deleted) transaction: compact, so a
/// million of them fit in a few dozen megabytes. The text for near matches is fetched only for
/// the few rows that need it ([`crate::Store::payee_texts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    /// The transaction's id (for a tombstone, the id it had).
    pub id: i64,
    pub posted_date: NaiveDate,
    pub amount_minor: i64,
    pub fingerprint: [u8; 16],
    pub external_id: Option<String>,
    /// A tombstone: the user deleted this transaction.
    pub deleted: bool,
}

/// The final counts of a streamed import, sent when every row has been sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub rows_read: i64,
    pub rows_new: i64,
    pub rows_duplicate: i64,
    pub rows_flagged: i64,
    pub rows_skipped: i64,
}

/// One message of a streamed import ([`crate::Store::import_rows`]).
#[derive(Debug)]
pub enum ImportChunk {
    /// Rows to insert (the batch id is set by the store).
    Rows(Vec<NewTransaction>),
    /// Every row was sent: record these counts and commit. A stream that ends without `Done`
    /// is rolled back.
    Done(ImportCounts),
}

impl ImportChunk {
    /// A finished stream of `rows`, for callers that have every row at hand.
    pub fn complete(
        rows: Vec<NewTransaction>,
        counts: ImportCounts,
    ) -> tokio::sync::mpsc::Receiver<ImportChunk> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        // Both messages fit the channel's buffer, so nothing waits for a receiver.
        for m in [ImportChunk::Rows(rows), ImportChunk::Done(counts)] {
            if tx.try_send(m).is_err() {
                // Unreachable with a buffer of two; the stream then ends without `Done` and the
                // store refuses it rather than writing half.
                break;
            }
        }
        rx
    }
}

/// The store's own facts, recorded at `init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreMeta {
    pub lineage_id: uuid::Uuid,
    pub environment: Environment,
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    pub protected: bool,
    /// The backup this store was last restored from, and when.
    pub restored: Option<Restoration>,
}

/// A restore that made this store: the backup's file name and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restoration {
    pub from: String,
    pub at: DateTime<Utc>,
}

/// The facts of a store that the journal vouches for (the schema version is not among them: it
/// moves with migrations, which have their own history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFacts {
    pub lineage_id: uuid::Uuid,
    pub environment: Environment,
    pub created_at: DateTime<Utc>,
    pub protected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<Restoration>,
}

impl From<&StoreMeta> for StoreFacts {
    fn from(m: &StoreMeta) -> Self {
        StoreFacts {
            lineage_id: m.lineage_id,
            environment: m.environment,
            created_at: m.created_at,
            protected: m.protected,
            restored: m.restored.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub accounts: i64,
    pub transactions: i64,
    pub categories: i64,
    pub users: i64,
    pub import_batches: i64,
}

/// Who made a change: the CLI (with the OS user), a signed-in user, an API token or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The CLI acting for the operating-system user who runs it.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(os_user_name)
            .unwrap_or_else(|| "unknown".to_string());
        Actor(format!("cli:{user}"))
    }
    pub fn user(name: &str) -> Self {
        Actor(format!("user:{name}"))
    }
    pub fn token(label: &str) -> Self {
        Actor(format!("token:{label}"))
    }
    pub fn system(what: &str) -> Self {
        Actor(format!("system:{what}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of this process's real user, from /proc and /etc/passwd.
fn os_user_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()? == uid).then(|| name.to_string())
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
