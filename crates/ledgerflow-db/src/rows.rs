//! Row structs shared by both engines (sqlx's `FromRow` is generic over the database) and their
//! conversions into the domain model. Only the SQL differs between engines; the row shapes do not.

use chrono::{DateTime, NaiveDate, Utc};
use ledgerflow_core::journal::{Entity, JournalEntry, Op, RowsDigest};
use ledgerflow_core::model::*;
use ledgerflow_core::{Currency, StoreError};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("stored {what} is not valid: {detail}"))
}

fn currency(code: &str) -> Result<Currency, StoreError> {
    Currency::from_code(code).map_err(|e| corrupt("currency", e))
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

#[derive(sqlx::FromRow)]
pub struct AccountRow {
    id: i64,
    name: String,
    institution: Option<String>,
    kind: String,
    currency: String,
    opening_balance_minor: i64,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Account {
            id: r.id,
            name: r.name,
            institution: r.institution,
            kind: parse("account kind", &r.kind)?,
            currency: currency(&r.currency)?,
            opening_balance_minor: r.opening_balance_minor,
            archived: r.archived,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct CategoryRow {
    id: i64,
    name: String,
    parent_id: Option<i64>,
    kind: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CategoryRow> for Category {
    type Error = StoreError;
    fn try_from(r: CategoryRow) -> Result<Self, StoreError> {
        Ok(Category {
            id: r.id,
            name: r.name,
            parent_id: r.parent_id,
            kind: parse("category kind", &r.kind)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct TxRow {
    id: i64,
    account_id: i64,
    posted_date: NaiveDate,
    amount_minor: i64,
    currency: String,
    payee: String,
    description: String,
    memo: String,
    category_id: Option<i64>,
    status: String,
    source: String,
    import_batch_id: Option<i64>,
    external_id: Option<String>,
    fingerprint: Vec<u8>,
    transfer_id: Option<i64>,
    needs_review: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    bank_date: Option<NaiveDate>,
    bank_amount_minor: Option<i64>,
}

impl TryFrom<TxRow> for Transaction {
    type Error = StoreError;
    fn try_from(r: TxRow) -> Result<Self, StoreError> {
        Ok(Transaction {
            id: r.id,
            account_id: r.account_id,
            posted_date: r.posted_date,
            amount_minor: r.amount_minor,
            currency: currency(&r.currency)?,
            payee: r.payee,
            description: r.description,
            memo: r.memo,
            category_id: r.category_id,
            status: parse("transaction status", &r.status)?,
            source: r.source,
            import_batch_id: r.import_batch_id,
            external_id: r.external_id,
            fingerprint: hex_encode(&r.fingerprint),
            transfer_id: r.transfer_id,
            needs_review: r.needs_review,
            created_at: r.created_at,
            updated_at: r.updated_at,
            bank_date: r.bank_date,
            bank_amount_minor: r.bank_amount_minor,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    id: i64,
    name: String,
    role: String,
    password_hash: Option<String>,
    disabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: r.id,
            name: r.name,
            role: parse("role", &r.role)?,
            password_hash: r.password_hash,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct CredentialRow {
    id: i64,
    kind: String,
    user_id: i64,
    name: String,
    secret_sha256: Vec<u8>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;
    fn try_from(r: CredentialRow) -> Result<Self, StoreError> {
        Ok(Credential {
            id: r.id,
            kind: parse("credential kind", &r.kind)?,
            user_id: r.user_id,
            name: r.name,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

impl TryFrom<&CredentialRow> for CredentialRecord {
    type Error = StoreError;
    fn try_from(r: &CredentialRow) -> Result<Self, StoreError> {
        Ok(CredentialRecord {
            id: r.id,
            kind: parse("credential kind", &r.kind)?,
            user_id: r.user_id,
            name: r.name.clone(),
            secret_sha256: hex_encode(&r.secret_sha256),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// The journal's record of a credential just created.
pub fn new_credential_record(id: i64, new: &NewCredential, at: DateTime<Utc>) -> CredentialRecord {
    CredentialRecord {
        id,
        kind: new.kind,
        user_id: new.user_id,
        name: new.name.clone(),
        secret_sha256: hex_encode(&new.secret_sha256),
        created_at: at,
        expires_at: new.expires_at,
        revoked_at: None,
    }
}

/// A tombstone as stored (`deleted_transactions`).
#[derive(sqlx::FromRow)]
pub struct TombstoneRow {
    transaction_id: i64,
    account_id: i64,
    posted_date: NaiveDate,
    fingerprint: Vec<u8>,
    external_id: Option<String>,
}

impl From<TombstoneRow> for Tombstone {
    fn from(r: TombstoneRow) -> Self {
        Tombstone {
            id: r.transaction_id,
            account_id: r.account_id,
            posted_date: r.posted_date,
            fingerprint: hex_encode(&r.fingerprint),
            external_id: r.external_id,
        }
    }
}

pub fn new_credential(id: i64, new: &NewCredential, at: DateTime<Utc>) -> Credential {
    Credential {
        id,
        kind: new.kind,
        user_id: new.user_id,
        name: new.name.clone(),
        created_at: at,
        expires_at: new.expires_at,
        last_used_at: None,
        revoked_at: None,
    }
}

/// Revokes one credential (`id`) or every live one of a user and kind; returns the rows as
/// revoked.
pub fn revoke_credentials_query<DB>(
    id: Option<i64>,
    user_id: Option<i64>,
    kind: Option<CredentialKind>,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> DateTime<Utc>: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'static str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new("UPDATE credentials SET revoked_at = ");
    q.push_bind(ledgerflow_core::model::now())
        .push(" WHERE revoked_at IS NULL");
    if let Some(id) = id {
        q.push(" AND id = ").push_bind(id);
    }
    if let Some(u) = user_id {
        q.push(" AND user_id = ").push_bind(u);
    }
    if let Some(k) = kind {
        q.push(" AND kind = ").push_bind(k.as_str());
    }
    q.push(" RETURNING *");
    q
}

/// Credentials of a kind, newest first, optionally of one user.
pub fn list_credentials_query<DB>(
    kind: CredentialKind,
    user_id: Option<i64>,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'static str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::new("SELECT * FROM credentials WHERE kind = ");
    q.push_bind(kind.as_str());
    if let Some(u) = user_id {
        q.push(" AND user_id = ").push_bind(u);
    }
    q.push(" ORDER BY id DESC");
    q
}

/// Appends the filter's conditions on `t` (the transactions table). The text search is the
/// engine's own and is not added here.
pub fn push_tx_conditions<DB>(q: &mut sqlx::QueryBuilder<DB>, f: &TxFilter)
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> chrono::NaiveDate: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'static str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if let Some(a) = f.account_id {
        q.push(" AND t.account_id = ").push_bind(a);
    }
    if let Some(d) = f.from {
        q.push(" AND t.posted_date >= ").push_bind(d);
    }
    if let Some(d) = f.to {
        q.push(" AND t.posted_date <= ").push_bind(d);
    }
    if !f.category_ids.is_empty() {
        q.push(" AND t.category_id IN (");
        let mut ids = q.separated(", ");
        for c in &f.category_ids {
            ids.push_bind(*c);
        }
        q.push(")");
    }
    if f.uncategorized {
        q.push(" AND t.category_id IS NULL");
    }
    if let Some(m) = f.min_amount_minor {
        q.push(" AND t.amount_minor >= ").push_bind(m);
    }
    if let Some(m) = f.max_amount_minor {
        q.push(" AND t.amount_minor <= ").push_bind(m);
    }
    if let Some(s) = f.status {
        q.push(" AND t.status = ").push_bind(s.as_str());
    }
    if let Some(b) = f.import_batch_id {
        q.push(" AND t.import_batch_id = ").push_bind(b);
    }
}

/// Appends the filter's conditions, the keyset condition after its cursor, the order and the
/// limit (one more row than a page, to know whether another page follows).
pub fn push_tx_filters<DB>(q: &mut sqlx::QueryBuilder<DB>, f: &TxFilter, limit: i64)
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> chrono::NaiveDate: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'static str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    push_tx_conditions(q, f);
    if let Some(c) = f.after {
        let after = match f.sort {
            TxSort::DateDesc | TxSort::AmountDesc => "<",
            TxSort::DateAsc | TxSort::AmountAsc => ">",
        };
        match f.sort {
            TxSort::DateDesc | TxSort::DateAsc => q
                .push(format!(" AND (t.posted_date, t.id) {after} ("))
                .push_bind(c.posted_date),
            TxSort::AmountDesc | TxSort::AmountAsc => q
                .push(format!(" AND (t.amount_minor, t.id) {after} ("))
                .push_bind(c.amount_minor),
        };
        q.push(", ").push_bind(c.id).push(")");
    }
    q.push(match f.sort {
        TxSort::DateDesc => " ORDER BY t.posted_date DESC, t.id DESC",
        TxSort::DateAsc => " ORDER BY t.posted_date, t.id",
        TxSort::AmountDesc => " ORDER BY t.amount_minor DESC, t.id DESC",
        TxSort::AmountAsc => " ORDER BY t.amount_minor, t.id",
    });
    q.push(" LIMIT ").push_bind(limit + 1);
}

#[derive(sqlx::FromRow)]
pub struct BatchRow {
    id: i64,
    account_id: i64,
    file_name: String,
    file_sha256: String,
    format: String,
    actor: String,
    rows_read: i64,
    rows_new: i64,
    rows_duplicate: i64,
    rows_flagged: i64,
    rows_skipped: i64,
    created_at: DateTime<Utc>,
}

impl From<BatchRow> for ImportBatch {
    fn from(r: BatchRow) -> Self {
        ImportBatch {
            id: r.id,
            account_id: r.account_id,
            file_name: r.file_name,
            file_sha256: r.file_sha256,
            format: r.format,
            actor: r.actor,
            rows_read: r.rows_read,
            rows_new: r.rows_new,
            rows_duplicate: r.rows_duplicate,
            rows_flagged: r.rows_flagged,
            rows_skipped: r.rows_skipped,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct JournalRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    entity: String,
    entity_id: Option<i64>,
    op: String,
    before: Option<String>,
    after: Option<String>,
    payload: Option<Vec<u8>>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
    rows_digest: Option<Vec<u8>>,
}

fn hash32(what: &str, seq: i64, v: &[u8]) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| corrupt(what, format!("journal entry {seq}: not 32 bytes")))
}

impl TryFrom<JournalRow> for JournalEntry {
    type Error = StoreError;
    fn try_from(r: JournalRow) -> Result<Self, StoreError> {
        Ok(JournalEntry {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            entity: Entity::parse(&r.entity).ok_or_else(|| {
                corrupt("journal entity", format!("entry {}: {}", r.seq, r.entity))
            })?,
            entity_id: r.entity_id,
            op: Op::parse(&r.op)
                .ok_or_else(|| corrupt("journal op", format!("entry {}: {}", r.seq, r.op)))?,
            before: r.before,
            after: r.after,
            payload: r.payload,
            rows_digest: r
                .rows_digest
                .as_deref()
                .map(|d| {
                    RowsDigest::from_bytes(d).ok_or_else(|| {
                        corrupt(
                            "rows digest",
                            format!("journal entry {}: not 16 bytes", r.seq),
                        )
                    })
                })
                .transpose()?,
            prev_hash: hash32("journal link", r.seq, &r.prev_hash)?,
            hash: hash32("journal hash", r.seq, &r.hash)?,
        })
    }
}

/// A row of the dedup-key scan.
#[derive(sqlx::FromRow)]
pub struct DedupRow {
    id: i64,
    posted_date: NaiveDate,
    amount_minor: i64,
    fingerprint: Vec<u8>,
    external_id: Option<String>,
    deleted: i32,
}

impl TryFrom<DedupRow> for DedupKey {
    type Error = StoreError;
    fn try_from(r: DedupRow) -> Result<Self, StoreError> {
        Ok(DedupKey {
            id: r.id,
            posted_date: r.posted_date,
            amount_minor: r.amount_minor,
            fingerprint: fingerprint_array(&r.fingerprint)?,
            external_id: r.external_id,
            deleted: r.deleted != 0,
        })
    }
}

/// A stored fingerprint, which must be 16 bytes.
pub fn fingerprint_array(b: &[u8]) -> Result<[u8; 16], StoreError> {
    b.try_into()
        .map_err(|_| corrupt("fingerprint", hex_encode(b)))
}

/// Turns a list of stored rows into model values.
/// Credential rows as the journal records them.
pub fn credential_records(rows: Vec<CredentialRow>) -> Result<Vec<CredentialRecord>, StoreError> {
    rows.iter().map(CredentialRecord::try_from).collect()
}

pub fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

pub fn hex_encode(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// The 16 fingerprint bytes from their hex form.
pub fn fingerprint_bytes(hex: &str) -> Result<Vec<u8>, StoreError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 32 {
        return Err(corrupt("fingerprint", hex));
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(corrupt("fingerprint", hex)),
    };
    bytes
        .chunks(2)
        .map(|p| Ok(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

/// Canonical JSON bytes of rows, for `scan_rows`.
pub fn canonical<T: serde::Serialize>(
    rows: Vec<T>,
    id: impl Fn(&T) -> i64,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    rows.into_iter()
        .map(|r| {
            serde_json::to_vec(&r)
                .map(|b| (id(&r), b))
                .map_err(|e| StoreError::Database(e.to_string()))
        })
        .collect()
}

/// Maps a driver error, turning uniqueness and reference violations into a `Conflict` with the
/// caller's sentence.
pub fn db_err(e: sqlx::Error, conflict: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
            StoreError::Conflict(conflict())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("the row".into()),
        _ => dberr(e),
    }
}

/// Plain driver error, no conflict wording; a full disk or a read-only store said in words.
pub fn dberr(e: sqlx::Error) -> StoreError {
    let code = match &e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    };
    // SQLite's primary result codes: 13 SQLITE_FULL, 8 SQLITE_READONLY (and extended codes);
    // PostgreSQL's 53100 disk_full.
    let primary = code
        .as_deref()
        .and_then(|c| c.parse::<i64>().ok())
        .map(|c| c & 0xff);
    match (primary, code.as_deref()) {
        (Some(13), _) | (_, Some("53100")) => StoreError::Database(format!(
            "the data disk is full: free some space, then try again ({e})"
        )),
        (Some(10), _) => StoreError::Database(format!(
            "the store could not be written or read (is the data disk full?): {e}"
        )),
        (Some(8), _) => StoreError::Database(format!(
            "the store cannot be written: it is open read-only (the data disk is full, or the file is not writable): {e}"
        )),
        _ => StoreError::Database(e.to_string()),
    }
}

/// Upper bound on a page of transactions.
pub const MAX_PAGE: u32 = 1_000;

pub fn page_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_PAGE))
}

/// Splits the fetched rows (limit + 1) into a page and the cursor of the next page.
pub fn into_page(mut items: Vec<Transaction>, limit: i64) -> TxPage {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(TxCursor::of)
    } else {
        None
    };
    TxPage { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_hex_round_trips() {
        let b: Vec<u8> = (0u8..16).map(|i| i * 17).collect();
        assert_eq!(fingerprint_bytes(&hex_encode(&b)).expect("hex"), b);
        assert!(fingerprint_bytes("zz").is_err());
    }
}
