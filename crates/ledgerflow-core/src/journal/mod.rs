//! The change journal: every write to ledger data appends entries, in the same database
//! transaction, chained by SHA-256. Replaying the journal rebuilds what every row must be, which
//! is how `journal verify` finds rows edited outside LedgerFlow.
//!
//! Entry bytes: each field is written length-prefixed (u64 little-endian, `u64::MAX` for an
//! absent field) so no two different entries can share bytes. The hash of entry N is
//! `SHA-256(hash(N-1) || bytes(N))`; the entry before the first has a hash of 32 zero bytes.
//!
//! Single-row changes carry the row before and after as canonical JSON (the model struct
//! serialised with `serde_json`). A bulk change (an import) carries its rows in `payload`:
//! zstd-compressed JSON lines, one canonical row per line.
//!
//! **Rows digest.** Every entry written since schema 4 also carries the digest of every row the
//! store holds after it ([`RowsDigest`]: the sum, modulo 2^128, of a 16-byte hash of each row's
//! entity and canonical JSON). An entry moves it by what it changed (minus the rows before,
//! plus the rows after), so it costs nothing to keep, and it is part of the entry's hash. A
//! snapshot is then checked against its journal by reading every row once and comparing the sum
//! with its head entry's digest ([`crate::service::check_rows_digest`]), without replaying the
//! journal: how every backup proves its rows are the journal's. Tombstones (what the user
//! deleted) are rows of their own, derived from the deletes: deleting one behind LedgerFlow's
//! back is seen like any other change.
//!
//! This module holds the entries, their bytes and hashes, and the rows digest; `replay` holds the
//! checks that walk a journal.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod replay;

pub use replay::*;

/// Hash that precedes the first entry.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// The kinds of rows the journal tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Account,
    Category,
    Transaction,
    User,
    ImportBatch,
    /// The store's own facts (lineage, environment, creation, protection): one row, id 1.
    Store,
    /// Sign-in sessions and API tokens (the SHA-256 of their secret, never the secret).
    Credential,
    /// What the user deleted (keyed by the transaction's id), so a re-import does not bring it
    /// back: derived from a transaction's `delete` entry, never journaled on its own.
    Tombstone,
}

impl Entity {
    /// Row-bearing entities in the order `journal verify` checks them.
    pub const ROWS: &'static [Entity] = &[
        Entity::Store,
        Entity::Account,
        Entity::Category,
        Entity::User,
        Entity::Credential,
        Entity::ImportBatch,
        Entity::Transaction,
        Entity::Tombstone,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Entity::Account => "account",
            Entity::Category => "category",
            Entity::Transaction => "transaction",
            Entity::User => "user",
            Entity::ImportBatch => "import_batch",
            Entity::Store => "store",
            Entity::Credential => "credential",
            Entity::Tombstone => "tombstone",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        [
            Entity::Account,
            Entity::Category,
            Entity::Transaction,
            Entity::User,
            Entity::ImportBatch,
            Entity::Store,
            Entity::Credential,
            Entity::Tombstone,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a journal entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Insert,
    Update,
    Delete,
    /// Many rows inserted at once; the rows are in the payload.
    BulkInsert,
    /// Many rows deleted at once; the rows as they were are in the payload.
    BulkDelete,
    /// The store was created.
    Init,
    /// A fact about the store changed (protection, environment).
    Meta,
}

impl Op {
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Insert => "insert",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::BulkInsert => "bulk_insert",
            Op::BulkDelete => "bulk_delete",
            Op::Init => "init",
            Op::Meta => "meta",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        [
            Op::Insert,
            Op::Update,
            Op::Delete,
            Op::BulkInsert,
            Op::BulkDelete,
            Op::Init,
            Op::Meta,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// An entry before it has a place in the chain.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub entity: Entity,
    pub entity_id: Option<i64>,
    pub op: Op,
    pub before: Option<String>,
    pub after: Option<String>,
    pub payload: Option<Vec<u8>>,
    /// How this entry moves the rows digest.
    pub delta: RowsDigest,
}

impl PendingEntry {
    /// A single-row change with its canonical before and after images.
    pub fn row<T: Serialize>(
        actor: &crate::model::Actor,
        entity: Entity,
        id: i64,
        op: Op,
        before: Option<&T>,
        after: Option<&T>,
    ) -> Result<Self, JournalError> {
        let before = before.map(canonical_json).transpose()?;
        let after = after.map(canonical_json).transpose()?;
        let delta = row_delta(entity, op, before.as_deref(), after.as_deref())
            .map_err(JournalError::Encode)?;
        Ok(PendingEntry {
            at: crate::model::now(),
            actor: actor.as_str().to_string(),
            entity,
            entity_id: Some(id),
            op,
            before,
            after,
            payload: None,
            delta,
        })
    }

    /// A bulk change carrying `rows` compactly.
    pub fn bulk<T: Serialize>(
        actor: &crate::model::Actor,
        entity: Entity,
        op: Op,
        summary: serde_json::Value,
        rows: &[T],
    ) -> Result<Self, JournalError> {
        let (payload, sum) = encode_rows_digest(entity, rows)?;
        Ok(PendingEntry {
            at: crate::model::now(),
            actor: actor.as_str().to_string(),
            entity,
            entity_id: None,
            op,
            before: None,
            after: Some(summary.to_string()),
            payload: Some(payload),
            delta: if op == Op::BulkDelete {
                RowsDigest::default().minus(sum)
            } else {
                sum
            },
        })
    }

    /// Gives the entry its sequence number, chains it to the previous hash and records the
    /// rows digest after it (`prev_digest` moved by this entry's delta; none while the store's
    /// digest is unknown).
    pub fn seal(
        self,
        seq: i64,
        prev_hash: [u8; 32],
        prev_digest: Option<RowsDigest>,
    ) -> JournalEntry {
        let rows_digest = prev_digest.map(|d| d.plus(self.delta));
        let hash = entry_hash(
            &prev_hash,
            seq,
            &self.at,
            &self.actor,
            self.entity,
            self.entity_id,
            self.op,
            self.before.as_deref(),
            self.after.as_deref(),
            self.payload.as_deref(),
            rows_digest,
        );
        JournalEntry {
            seq,
            at: self.at,
            actor: self.actor,
            entity: self.entity,
            entity_id: self.entity_id,
            op: self.op,
            before: self.before,
            after: self.after,
            payload: self.payload,
            rows_digest,
            prev_hash,
            hash,
        }
    }
}

/// The sum (modulo 2^128) of a 16-byte hash of every row a store holds, each hashed with its
/// entity: equal sums mean equal sets of rows, whatever the order they are read in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RowsDigest(pub u128);

impl RowsDigest {
    pub fn plus(self, other: RowsDigest) -> RowsDigest {
        RowsDigest(self.0.wrapping_add(other.0))
    }
    pub fn minus(self, other: RowsDigest) -> RowsDigest {
        RowsDigest(self.0.wrapping_sub(other.0))
    }
    /// Adds one row.
    pub fn add_row(&mut self, entity: Entity, canonical: &[u8]) {
        self.0 = self.0.wrapping_add(row_hash(entity, canonical));
    }
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
    pub fn from_bytes(b: &[u8]) -> Option<RowsDigest> {
        Some(RowsDigest(u128::from_le_bytes(b.try_into().ok()?)))
    }
    pub fn hex(self) -> String {
        hex::encode(self.to_bytes())
    }
}

/// One row's share of the digest: the first 16 bytes of SHA-256(entity, 0, canonical JSON).
pub fn row_hash(entity: Entity, canonical: &[u8]) -> u128 {
    let mut h = Sha256::new();
    h.update(entity.as_str().as_bytes());
    h.update([0u8]);
    h.update(canonical);
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

/// How a single-row change moves the digest; a transaction's delete also adds its tombstone.
fn row_delta(
    entity: Entity,
    op: Op,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<RowsDigest, String> {
    let mut d = RowsDigest::default();
    if let Some(b) = before {
        d = d.minus(RowsDigest(row_hash(entity, b.as_bytes())));
    }
    if let Some(a) = after {
        d.add_row(entity, a.as_bytes());
    }
    if let Some(t) = tombstone_of(entity, op, before).map_err(|e| e.to_string())? {
        d.add_row(Entity::Tombstone, t.as_bytes());
    }
    Ok(d)
}

/// The canonical tombstone a transaction's delete leaves (`before` is the deleted row).
fn tombstone_of(entity: Entity, op: Op, before: Option<&str>) -> Result<Option<String>, String> {
    if entity != Entity::Transaction || op != Op::Delete {
        return Ok(None);
    }
    let Some(before) = before else {
        return Ok(None);
    };
    let t: crate::model::Transaction =
        serde_json::from_str(before).map_err(|e| format!("a deleted row cannot be read: {e}"))?;
    serde_json::to_string(&crate::model::Tombstone::of(&t))
        .map(Some)
        .map_err(|e| e.to_string())
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub entity: Entity,
    pub entity_id: Option<i64>,
    pub op: Op,
    pub before: Option<String>,
    pub after: Option<String>,
    pub payload: Option<Vec<u8>>,
    /// The rows digest after this entry (entries written before schema 4 have none).
    pub rows_digest: Option<RowsDigest>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl JournalEntry {
    /// Recomputes this entry's hash from its stored fields.
    pub fn computed_hash(&self) -> [u8; 32] {
        entry_hash(
            &self.prev_hash,
            self.seq,
            &self.at,
            &self.actor,
            self.entity,
            self.entity_id,
            self.op,
            self.before.as_deref(),
            self.after.as_deref(),
            self.payload.as_deref(),
            self.rows_digest,
        )
    }
}

/// Where the journal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JournalHead {
    pub head_seq: i64,
    #[serde(serialize_with = "hex_ser")]
    pub head_hash: [u8; 32],
}

/// The journal head with the rows digest the store keeps beside it (`None` only for a store
/// whose digest was never computed: a schema older than 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadState {
    pub head: JournalHead,
    pub rows_digest: Option<RowsDigest>,
}

fn hex_ser<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("could not encode a journal entry: {0}")]
    Encode(String),
    #[error("journal entry {seq}: payload cannot be read: {reason}")]
    Payload { seq: i64, reason: String },
}

/// Canonical JSON of a row: its model struct serialised by serde_json (fields in declaration
/// order, no whitespace).
pub fn canonical_json<T: Serialize>(row: &T) -> Result<String, JournalError> {
    serde_json::to_string(row).map_err(|e| JournalError::Encode(e.to_string()))
}

fn put(h: &mut Sha256, field: Option<&[u8]>) {
    match field {
        Some(b) => {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
        None => h.update(u64::MAX.to_le_bytes()),
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    prev: &[u8; 32],
    seq: i64,
    at: &DateTime<Utc>,
    actor: &str,
    entity: Entity,
    entity_id: Option<i64>,
    op: Op,
    before: Option<&str>,
    after: Option<&str>,
    payload: Option<&[u8]>,
    rows_digest: Option<RowsDigest>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_le_bytes());
    put(&mut h, Some(at.timestamp_micros().to_le_bytes().as_slice()));
    put(&mut h, Some(actor.as_bytes()));
    put(&mut h, Some(entity.as_str().as_bytes()));
    let id_bytes = entity_id.map(|i| i.to_le_bytes());
    put(&mut h, id_bytes.as_ref().map(|b| b.as_slice()));
    put(&mut h, Some(op.as_str().as_bytes()));
    put(&mut h, before.map(str::as_bytes));
    put(&mut h, after.map(str::as_bytes));
    put(&mut h, payload);
    // Entries from before the digest existed hash as they always did.
    if let Some(d) = rows_digest {
        put(&mut h, Some(d.to_bytes().as_slice()));
    }
    h.finalize().into()
}

/// zstd-compressed JSON lines, one canonical row per line. The rows are serialised into one
/// buffer first and compressed in one call: feeding serde's many small writes to a streaming
/// compressor costs more than the compression itself.
pub fn encode_rows<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, JournalError> {
    let mut buf = Vec::with_capacity(rows.len() * 320);
    for row in rows {
        serde_json::to_writer(&mut buf, row).map_err(|e| JournalError::Encode(e.to_string()))?;
        buf.push(b'\n');
    }
    zstd::bulk::compress(&buf, 1).map_err(|e| JournalError::Encode(e.to_string()))
}

/// [`encode_rows`], and the digest of those rows (as rows of `entity`).
pub fn encode_rows_digest<T: Serialize>(
    entity: Entity,
    rows: &[T],
) -> Result<(Vec<u8>, RowsDigest), JournalError> {
    let mut buf = Vec::with_capacity(rows.len() * 320);
    let mut sum = RowsDigest::default();
    for row in rows {
        let start = buf.len();
        serde_json::to_writer(&mut buf, row).map_err(|e| JournalError::Encode(e.to_string()))?;
        sum.add_row(entity, &buf[start..]);
        buf.push(b'\n');
    }
    let payload = zstd::bulk::compress(&buf, 1).map_err(|e| JournalError::Encode(e.to_string()))?;
    Ok((payload, sum))
}

/// Calls `f` with each canonical row line of a bulk payload.
pub fn for_each_row(
    seq: i64,
    payload: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<(), JournalProblem>,
) -> Result<(), JournalProblem> {
    let bad = |reason: String| JournalProblem::Unreadable { seq, reason };
    let mut raw = Vec::new();
    zstd::stream::copy_decode(payload, &mut raw).map_err(|e| bad(e.to_string()))?;
    for line in raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        f(line)?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

fn row_id(seq: i64, row: &[u8]) -> Result<i64, JournalProblem> {
    // Canonical rows begin with their id field; parse it directly when so.
    if let Some(rest) = row.strip_prefix(b"{\"id\":") {
        let end = rest
            .iter()
            .position(|b| !b.is_ascii_digit() && *b != b'-')
            .unwrap_or(0);
        if let Some(id) = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| s.parse().ok())
        {
            return Ok(id);
        }
    }
    serde_json::from_slice::<IdOnly>(row)
        .map(|r| r.id)
        .map_err(|e| JournalProblem::Unreadable {
            seq,
            reason: format!("a row has no id: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Actor;

    #[derive(Serialize)]
    struct Row {
        id: i64,
        v: i64,
    }

    fn chain(entries: Vec<PendingEntry>) -> Vec<JournalEntry> {
        let mut prev = GENESIS_HASH;
        let mut digest = Some(RowsDigest::default());
        entries
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let e = p.seal(i as i64 + 1, prev, digest);
                prev = e.hash;
                digest = e.rows_digest;
                e
            })
            .collect()
    }

    /// A single-row entry whose rows are `Row { id, v }` before and after.
    fn row_entry(
        a: &Actor,
        entity: Entity,
        id: i64,
        op: Op,
        before: Option<i64>,
        after: Option<i64>,
    ) -> PendingEntry {
        let row = |v: Option<i64>| v.map(|v| Row { id, v });
        PendingEntry::row(a, entity, id, op, row(before).as_ref(), row(after).as_ref())
            .expect("entry")
    }

    fn sample() -> Vec<JournalEntry> {
        let a = Actor::system("test");
        chain(vec![
            row_entry(&a, Entity::Account, 1, Op::Insert, None, Some(1)),
            PendingEntry::bulk(
                &a,
                Entity::Transaction,
                Op::BulkInsert,
                serde_json::json!({"rows": 2}),
                &[Row { id: 10, v: 5 }, Row { id: 11, v: 6 }],
            )
            .expect("entry"),
            row_entry(&a, Entity::Transaction, 10, Op::Update, Some(5), Some(7)),
        ])
    }

    #[test]
    fn intact_chain_verifies_and_tampering_is_found() {
        let entries = sample();
        let mut c = ChainCheck::default();
        for e in &entries {
            c.check(e).expect("intact");
        }
        assert_eq!(c.head().head_seq, 3);

        let mut altered = entries.clone();
        altered[1].after = Some("{\"rows\":3}".into());
        let mut c = ChainCheck::default();
        c.check(&altered[0]).expect("first is fine");
        assert_eq!(
            c.check(&altered[1]),
            Err(JournalProblem::BadHash { seq: 2 })
        );

        let mut c = ChainCheck::default();
        c.check(&entries[0]).expect("first is fine");
        assert_eq!(
            c.check(&entries[2]),
            Err(JournalProblem::Gap {
                seq: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn replay_detects_changed_unknown_and_missing_rows() {
        let build = || {
            let mut r = Replay::default();
            for e in sample() {
                r.apply(&e).expect("replays");
            }
            r
        };
        let row = |id, v| serde_json::to_vec(&Row { id, v }).expect("json");

        let mut r = build();
        assert_eq!(r.len(), 3);
        r.check_row(Entity::Transaction, 10, &row(10, 7))
            .expect("matches");
        r.check_row(Entity::Transaction, 11, &row(11, 6))
            .expect("matches");
        r.finish_entity(Entity::Transaction).expect("complete");

        let mut r = build();
        assert_eq!(
            r.check_row(Entity::Transaction, 10, &row(10, 8)),
            Err(JournalProblem::RowChanged {
                entity: Entity::Transaction,
                id: 10
            })
        );
        assert_eq!(
            r.check_row(Entity::Transaction, 12, &row(12, 1)),
            Err(JournalProblem::RowUnknown {
                entity: Entity::Transaction,
                id: 12
            })
        );
        assert_eq!(
            r.finish_entity(Entity::Transaction),
            Err(JournalProblem::RowMissing {
                entity: Entity::Transaction,
                id: 11
            })
        );
    }

    #[test]
    fn an_update_whose_before_image_disagrees_is_reported() {
        let a = Actor::system("test");
        let entries = chain(vec![
            row_entry(&a, Entity::Account, 1, Op::Insert, None, Some(1)),
            row_entry(&a, Entity::Account, 1, Op::Update, Some(2), Some(3)),
        ]);
        let mut r = Replay::default();
        r.apply(&entries[0]).expect("insert");
        assert_eq!(
            r.apply(&entries[1]),
            Err(JournalProblem::BeforeMismatch {
                seq: 2,
                entity: Entity::Account,
                id: 1
            })
        );
    }
}
