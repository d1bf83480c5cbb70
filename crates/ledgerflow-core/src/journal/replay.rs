//! Checking a journal: the hash chain entry by entry ([`ChainCheck`]), and the replay that
//! rebuilds what every row must be and compares the store's rows with it ([`Replay`]).

use std::collections::HashMap;

use super::*;

/// The first problem `journal verify` finds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalProblem {
    #[error(
        "journal entry {seq}: expected sequence number {expected} (an entry is missing or was inserted)"
    )]
    Gap { seq: i64, expected: i64 },
    #[error(
        "journal entry {seq}: its link to the previous entry is broken (an entry before it was removed or altered)"
    )]
    BrokenLink { seq: i64 },
    #[error("journal entry {seq}: its hash does not match its contents (the entry was altered)")]
    BadHash { seq: i64 },
    #[error("journal entry {seq}: {reason}")]
    Unreadable { seq: i64, reason: String },
    #[error(
        "journal entry {seq}: the {entity} {id} it changes is not what the journal built before it (the row was changed outside LedgerFlow before this entry)"
    )]
    BeforeMismatch { seq: i64, entity: Entity, id: i64 },
    #[error("{entity} {id}: the row differs from the journal (changed outside LedgerFlow)")]
    RowChanged { entity: Entity, id: i64 },
    #[error(
        "{entity} {id}: the row exists but the journal never created it (inserted outside LedgerFlow)"
    )]
    RowUnknown { entity: Entity, id: i64 },
    #[error(
        "{entity} {id}: the journal says the row exists but it is missing (deleted outside LedgerFlow)"
    )]
    RowMissing { entity: Entity, id: i64 },
    #[error(
        "journal entry {seq}: the rows digest it records is not the one its changes lead to (the entry or an earlier row was altered)"
    )]
    DigestMismatch { seq: i64 },
    #[error(
        "the rows differ from what journal entry {seq} records (a row was changed, added or removed outside LedgerFlow)"
    )]
    RowsDiffer { seq: i64 },
}

/// Checks the chain entry by entry, in sequence order.
#[derive(Debug)]
pub struct ChainCheck {
    prev: [u8; 32],
    next_seq: i64,
}

impl Default for ChainCheck {
    fn default() -> Self {
        ChainCheck {
            prev: GENESIS_HASH,
            next_seq: 1,
        }
    }
}

impl ChainCheck {
    pub fn check(&mut self, e: &JournalEntry) -> Result<(), JournalProblem> {
        if e.seq != self.next_seq {
            return Err(JournalProblem::Gap {
                seq: e.seq,
                expected: self.next_seq,
            });
        }
        if e.prev_hash != self.prev {
            return Err(JournalProblem::BrokenLink { seq: e.seq });
        }
        if e.computed_hash() != e.hash {
            return Err(JournalProblem::BadHash { seq: e.seq });
        }
        self.prev = e.hash;
        self.next_seq += 1;
        Ok(())
    }

    pub fn head(&self) -> JournalHead {
        JournalHead {
            head_seq: self.next_seq - 1,
            head_hash: self.prev,
        }
    }
}

/// Rebuilds, from the journal, a digest of what every row must be; then compares the rows
/// the database holds against it. It also keeps the rows digest ([`RowsDigest`]) and checks the
/// one every entry records.
#[derive(Debug, Default)]
pub struct Replay {
    rows: HashMap<(Entity, i64), u128>,
    sum: RowsDigest,
}

impl Replay {
    fn put(&mut self, seq: i64, entity: Entity, id: i64, h: u128) -> Result<(), JournalProblem> {
        if self.rows.insert((entity, id), h).is_some() {
            return Err(JournalProblem::BeforeMismatch { seq, entity, id });
        }
        self.sum = self.sum.plus(RowsDigest(h));
        Ok(())
    }

    pub fn apply(&mut self, e: &JournalEntry) -> Result<(), JournalProblem> {
        let seq = e.seq;
        match e.op {
            Op::Insert | Op::Update | Op::Delete | Op::Init | Op::Meta => {
                let id = e.entity_id.ok_or_else(|| JournalProblem::Unreadable {
                    seq,
                    reason: "a row change without a row id".into(),
                })?;
                let key = (e.entity, id);
                let current = self.rows.get(&key).copied();
                let before = e
                    .before
                    .as_deref()
                    .map(|b| row_hash(e.entity, b.as_bytes()));
                if current != before {
                    return Err(JournalProblem::BeforeMismatch {
                        seq,
                        entity: e.entity,
                        id,
                    });
                }
                if let Some(b) = before {
                    self.rows.remove(&key);
                    self.sum = self.sum.minus(RowsDigest(b));
                }
                if let Some(a) = e.after.as_deref() {
                    self.put(seq, e.entity, id, row_hash(e.entity, a.as_bytes()))?;
                }
                let tomb = tombstone_of(e.entity, e.op, e.before.as_deref())
                    .map_err(|reason| JournalProblem::Unreadable { seq, reason })?;
                if let Some(t) = tomb {
                    self.put(
                        seq,
                        Entity::Tombstone,
                        id,
                        row_hash(Entity::Tombstone, t.as_bytes()),
                    )?;
                }
            }
            Op::BulkInsert | Op::BulkDelete => {
                let payload = e
                    .payload
                    .as_deref()
                    .ok_or_else(|| JournalProblem::Unreadable {
                        seq,
                        reason: "a bulk change without rows".into(),
                    })?;
                let insert = e.op == Op::BulkInsert;
                for_each_row(seq, payload, |line| {
                    let id = row_id(seq, line)?;
                    let h = row_hash(e.entity, line);
                    if insert {
                        self.put(seq, e.entity, id, h)
                    } else if self.rows.remove(&(e.entity, id)) == Some(h) {
                        self.sum = self.sum.minus(RowsDigest(h));
                        Ok(())
                    } else {
                        Err(JournalProblem::BeforeMismatch {
                            seq,
                            entity: e.entity,
                            id,
                        })
                    }
                })?;
            }
        }
        match e.rows_digest {
            Some(d) if d != self.sum => Err(JournalProblem::DigestMismatch { seq }),
            _ => Ok(()),
        }
    }

    /// The rows digest of what the journal built so far.
    pub fn digest(&self) -> RowsDigest {
        self.sum
    }

    /// Compares one row as the database holds it (canonical JSON) with the journal's view.
    pub fn check_row(
        &mut self,
        entity: Entity,
        id: i64,
        canonical: &[u8],
    ) -> Result<(), JournalProblem> {
        match self.rows.remove(&(entity, id)) {
            None => Err(JournalProblem::RowUnknown { entity, id }),
            Some(d) if d != row_hash(entity, canonical) => {
                Err(JournalProblem::RowChanged { entity, id })
            }
            Some(_) => Ok(()),
        }
    }

    /// After every row of `entity` was checked: any row the journal expects that the database
    /// did not show is missing.
    pub fn finish_entity(&self, entity: Entity) -> Result<(), JournalProblem> {
        match self
            .rows
            .keys()
            .filter(|(e, _)| *e == entity)
            .map(|(_, id)| *id)
            .min()
        {
            Some(id) => Err(JournalProblem::RowMissing { entity, id }),
            None => Ok(()),
        }
    }

    /// Number of rows the journal says exist.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}
