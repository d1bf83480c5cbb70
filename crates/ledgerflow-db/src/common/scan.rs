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
    // `$models` turns the page of rows into the models the journal encodes.
    macro_rules! scan {
        ($row:ty, $table:literal, $models:expr) => {{
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
            canonical($models(rows)?, |m| m.id)
        }};
    }
    let batches = |rows: Vec<BatchRow>| -> StoreResult<Vec<ImportBatch>> {
        Ok(rows.into_iter().map(ImportBatch::from).collect())
    };
    match entity {
        Entity::Account => scan!(AccountRow, "accounts", convert::<_, Account>),
        Entity::Category => scan!(CategoryRow, "categories", convert::<_, Category>),
        Entity::Transaction => scan!(TxRow, "transactions", convert::<_, Transaction>),
        Entity::User => scan!(UserRow, "users", convert::<_, User>),
        Entity::ImportBatch => scan!(BatchRow, "import_batches", batches),
        Entity::Store => crate::store_facts_rows(store.meta().await?, after_id),
        Entity::Credential => scan!(CredentialRow, "credentials", credential_records),
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
