//! The writes both engines make with the same SQL, compiled once per engine (this file is a
//! module of `sqlite/mod.rs` and of `postgres/mod.rs`, under their `Db`, `Conn` and `This`):
//! the journal append, a change and its entry committed together, rows fetched by id, a
//! transaction patched, and the store's facts changed.

use ledgerflow_core::journal::{Entity, Op, PendingEntry};
use ledgerflow_core::model::*;
use ledgerflow_core::store::{Store, StoreError, StoreResult};

use super::{Conn, Db, HEAD_FOR_WRITE, MIGRATE_WHEN_CURRENT, MIGRATOR, This};
use crate::OpenMode;
use crate::chain::{Chain, INSERT_ENTRY, MOVE_HEAD};
use crate::rows::*;

/// Appends entries after the current head and moves the head (and the rows digest), inside the
/// caller's transaction (on PostgreSQL the head's row lock is taken here if the caller has not
/// taken it: [`HEAD_FOR_WRITE`]).
pub(super) async fn append(conn: &mut Conn, entries: Vec<PendingEntry>) -> StoreResult<()> {
    let (seq, head, digest): (i64, Vec<u8>, Option<Vec<u8>>) = sqlx::query_as(HEAD_FOR_WRITE)
        .fetch_one(&mut *conn)
        .await
        .map_err(dberr)?;
    let mut chain = Chain::after(seq, &head, digest.as_deref())?;
    for p in entries {
        let e = chain.seal(p);
        sqlx::query(INSERT_ENTRY)
            .bind(e.seq)
            .bind(e.at)
            .bind(&e.actor)
            .bind(e.entity.as_str())
            .bind(e.entity_id)
            .bind(e.op.as_str())
            .bind(&e.before)
            .bind(&e.after)
            .bind(&e.payload)
            .bind(&e.prev_hash[..])
            .bind(&e.hash[..])
            .bind(e.rows_digest.map(|d| d.to_bytes().to_vec()))
            .execute(&mut *conn)
            .await
            .map_err(dberr)?;
    }
    let (seq, hash, digest) = chain.head();
    sqlx::query(MOVE_HEAD)
        .bind(seq)
        .bind(hash)
        .bind(digest)
        .execute(&mut *conn)
        .await
        .map_err(dberr)?;
    Ok(())
}

/// Applies one patch inside the caller's transaction: the row after, and its journal entry
/// when anything changed.
pub(super) async fn patch_tx(
    conn: &mut Conn,
    actor: &Actor,
    id: i64,
    patch: &TransactionPatch,
) -> StoreResult<(Transaction, Option<PendingEntry>)> {
    let before = fetch_tx(conn, id).await?;
    let after = patch.apply(&before);
    if crate::unchanged!(before, after) {
        return Ok((before, None));
    }
    sqlx::query(
        "UPDATE transactions SET posted_date = $1, amount_minor = $2, payee = $3, description = $4, memo = $5, \
         category_id = $6, status = $7, fingerprint = $8, transfer_id = $9, needs_review = $10, updated_at = $11, \
         bank_date = $12, bank_amount_minor = $13 WHERE id = $14",
    )
    .bind(after.posted_date)
    .bind(after.amount_minor)
    .bind(&after.payee)
    .bind(&after.description)
    .bind(&after.memo)
    .bind(after.category_id)
    .bind(after.status.as_str())
    .bind(fingerprint_bytes(&after.fingerprint)?)
    .bind(after.transfer_id)
    .bind(after.needs_review)
    .bind(after.updated_at)
    .bind(after.bank_date)
    .bind(after.bank_amount_minor)
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(|e| db_err(e, || "the category or transfer it refers to does not exist".into()))?;
    let entry = PendingEntry::row(
        actor,
        Entity::Transaction,
        id,
        Op::Update,
        Some(&before),
        Some(&after),
    )?;
    Ok((after, Some(entry)))
}

/// Appends one entry and commits: the change and its journal entry land together or not at all.
pub(super) async fn commit_journaled(
    mut tx: sqlx::Transaction<'static, Db>,
    entry: PendingEntry,
) -> StoreResult<()> {
    append(&mut tx, vec![entry]).await?;
    tx.commit().await.map_err(dberr)
}

/// Commits a row's update with its journal entry (the row before and after).
pub(super) async fn commit_update<T: serde::Serialize>(
    tx: sqlx::Transaction<'static, Db>,
    actor: &Actor,
    entity: Entity,
    id: i64,
    before: &T,
    after: &T,
) -> StoreResult<()> {
    let entry = PendingEntry::row(actor, entity, id, Op::Update, Some(before), Some(after))?;
    commit_journaled(tx, entry).await
}

/// One row by id, converted to its model type; `NotFound` names `what` and the id.
pub(super) async fn fetch_by_id<R, T>(
    conn: &mut Conn,
    sql: &'static str,
    id: i64,
    what: &str,
) -> StoreResult<T>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    T: TryFrom<R, Error = StoreError>,
{
    sqlx::query_as::<_, R>(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(dberr)?
        .ok_or_else(|| StoreError::NotFound(format!("{what} {id}")))?
        .try_into()
}

pub(super) async fn fetch_account(conn: &mut Conn, id: i64) -> StoreResult<Account> {
    fetch_by_id::<AccountRow, _>(conn, "SELECT * FROM accounts WHERE id = $1", id, "account").await
}

pub(super) async fn fetch_category(conn: &mut Conn, id: i64) -> StoreResult<Category> {
    fetch_by_id::<CategoryRow, _>(
        conn,
        "SELECT * FROM categories WHERE id = $1",
        id,
        "category",
    )
    .await
}

pub(super) async fn fetch_tx(conn: &mut Conn, id: i64) -> StoreResult<Transaction> {
    fetch_by_id::<TxRow, _>(
        conn,
        "SELECT * FROM transactions WHERE id = $1",
        id,
        "transaction",
    )
    .await
}

pub(super) async fn fetch_user(conn: &mut Conn, id: i64) -> StoreResult<User> {
    fetch_by_id::<UserRow, _>(conn, "SELECT * FROM users WHERE id = $1", id, "user").await
}

impl This {
    /// Brings the schema up to date: a newer one is refused, an empty store is
    /// `NotInitialized` unless it may be created, `AsIs` leaves it as it is.
    pub(super) async fn migrate(&self, mode: OpenMode) -> StoreResult<()> {
        let known = crate::latest_version(&MIGRATOR);
        let applied = self.schema_version().await?;
        if applied > known {
            return Err(StoreError::SchemaTooNew {
                store: applied,
                binary: known,
            });
        }
        if applied == 0 && mode != OpenMode::Create {
            return Err(StoreError::NotInitialized {
                location: self.location(),
            });
        }
        if mode == OpenMode::AsIs || (applied == known && !MIGRATE_WHEN_CURRENT) {
            return Ok(());
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("schema migration failed: {e}")))
    }

    /// Changes the store's facts and journals the change, in one transaction
    /// ([`crate::meta_change`]).
    pub(super) async fn change_meta(
        &self,
        actor: &Actor,
        change: impl FnOnce(StoreMeta) -> StoreMeta,
    ) -> StoreResult<StoreMeta> {
        let mut tx = self.begin().await?;
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM meta")
            .fetch_all(&mut *tx)
            .await
            .map_err(dberr)?;
        let (after, entry) = crate::meta_change(
            actor,
            rows,
            self.schema_version().await?,
            self.location(),
            change,
        )?;
        for (k, v) in crate::meta_pairs(&after) {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(dberr)?;
        }
        append(&mut tx, vec![entry]).await?;
        tx.commit().await.map_err(dberr)?;
        Ok(after)
    }
}
