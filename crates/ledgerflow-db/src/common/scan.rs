//! Every row of a table in id order, a page at a time, as the journal encodes it: what the
//! journal's row check and the rows digest read (compiled once per engine, like `store.rs`).

use ledgerflow_core::journal::Entity;
use ledgerflow_core::model::*;
use ledgerflow_core::store::{Store, StoreResult};

use super::This;
use crate::rows::*;

/// The rows of `entity` with an id above `after_id`, at most `limit`, each with its canonical
/// bytes.
pub(super) async fn scan_rows(
    store: &This,
    entity: Entity,
    after_id: i64,
    limit: u32,
) -> StoreResult<Vec<(i64, Vec<u8>)>> {
    let limit = i64::from(limit.max(1));
    macro_rules! scan {
        ($row:ty, $model:ty, $table:literal) => {{
            let rows = sqlx::query_as::<_, $row>(concat!(
                "SELECT * FROM ",
                $table,
                " WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .bind(after_id)
            .bind(limit)
            .fetch_all(&store.pool)
            .await
            .map_err(dberr)?;
            let models: Vec<$model> = convert(rows)?;
            canonical(models, |m| m.id)
        }};
    }
    match entity {
        Entity::Account => scan!(AccountRow, Account, "accounts"),
        Entity::Category => scan!(CategoryRow, Category, "categories"),
        Entity::Transaction => scan!(TxRow, Transaction, "transactions"),
        Entity::User => scan!(UserRow, User, "users"),
        Entity::ImportBatch => {
            let rows = sqlx::query_as::<_, BatchRow>(
                "SELECT * FROM import_batches WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(&store.pool)
            .await
            .map_err(dberr)?;
            canonical(
                rows.into_iter().map(ImportBatch::from).collect(),
                |m: &ImportBatch| m.id,
            )
        }
        Entity::Store => crate::store_facts_rows(store.meta().await?, after_id),
        Entity::Credential => {
            let rows = sqlx::query_as::<_, CredentialRow>(
                "SELECT * FROM credentials WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(&store.pool)
            .await
            .map_err(dberr)?;
            let records: Vec<CredentialRecord> = rows
                .iter()
                .map(CredentialRecord::try_from)
                .collect::<StoreResult<_>>()?;
            canonical(records, |m| m.id)
        }
        Entity::Tombstone => {
            let rows = sqlx::query_as::<_, TombstoneRow>(
                "SELECT transaction_id, account_id, posted_date, fingerprint, external_id \
                 FROM deleted_transactions WHERE transaction_id > $1 ORDER BY transaction_id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(&store.pool)
            .await
            .map_err(dberr)?;
            canonical(rows.into_iter().map(Tombstone::from).collect(), |m| m.id)
        }
    }
}
