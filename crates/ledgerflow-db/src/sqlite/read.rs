//! SQLite's bulk reads, with rusqlite on a read-only connection off the async threads: the
//! page-by-page snapshot a backup takes, every account's sum in one pass, and the rows digest of
//! the large tables (transactions and tombstones) that checks every backup, with a canonical
//! JSON writer that skips building the model struct.

use ledgerflow_core::journal::RowsDigest;
use ledgerflow_core::model::Transaction;
use ledgerflow_core::store::{StoreError, StoreResult};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

#[cfg(test)]
use super::bulk::ts;
use super::bulk::{date, err, iso_date, stamp};

/// The sum of the amounts of every account's transactions, by account id (ascending), in one
/// pass over the table. Blocking.
pub(crate) fn account_sums(
    path: &std::path::Path,
    immutable: bool,
) -> StoreResult<Vec<(i64, i64)>> {
    let c = read_only(path, immutable)?;
    let tx = c.unchecked_transaction().map_err(err)?;
    // Summed wide, in whatever order the rows come: only the total must fit (as in SQL).
    let mut sums: std::collections::BTreeMap<i64, i128> = std::collections::BTreeMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT account_id, amount_minor FROM transactions")
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let (account, amount): (i64, i64) = (r.get(0).map_err(err)?, r.get(1).map_err(err)?);
            *sums.entry(account).or_insert(0) += i128::from(amount);
        }
    }
    sums.into_iter()
        .map(|(account, sum)| {
            i64::try_from(sum).map(|s| (account, s)).map_err(|_| {
                StoreError::Database(format!("the sum of account {account}'s amounts overflows"))
            })
        })
        .collect()
}

/// A read-only rusqlite connection to the store at `path` (one read transaction per use);
/// `immutable`: a snapshot nothing writes to, read without locks or files beside it.
fn read_only(path: &std::path::Path, immutable: bool) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = if immutable {
        Connection::open_with_flags(
            format!("file:{}?immutable=1", uri_path(path)),
            flags | OpenFlags::SQLITE_OPEN_URI,
        )
    } else {
        Connection::open_with_flags(path, flags)
    }
    .map_err(err)?;
    c.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    Ok(c)
}

/// Copies the SQLite store at `src` into the new file `out` page by page (SQLite's online
/// backup, as `sqlite3 .backup` does): one consistent moment under a read transaction, while
/// writers go on (WAL). A store with more than a tenth of its pages free is copied compact by
/// `VACUUM INTO` instead. `immutable`: the source is read without locks or a shared-memory index
/// beside it (a full data disk with an empty write-ahead log, where nobody can write). Blocking.
pub fn snapshot(src: &std::path::Path, out: &std::path::Path, immutable: bool) -> StoreResult<()> {
    let from = read_only(src, immutable)?;
    // Many free pages (rows deleted, an import undone): a compact copy, rebuilt by VACUUM INTO
    // (slower, but the backup neither carries the free pages nor looks bigger than it is).
    let pages = |pragma: &str| -> StoreResult<i64> {
        from.query_row(pragma, [], |r| r.get(0)).map_err(err)
    };
    let (free, total) = (pages("PRAGMA freelist_count")?, pages("PRAGMA page_count")?);
    if free.saturating_mul(10) > total {
        from.execute("VACUUM INTO ?1", params![out.display().to_string()])
            .map_err(err)?;
        return Ok(());
    }
    let mut to = Connection::open_with_flags(
        out,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to).map_err(err)?;
        // All pages in one step: one read transaction, one moment. A writer holding the lock
        // only delays it.
        let mut waited = 0;
        loop {
            match backup.step(-1).map_err(err)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => {}
                _ if waited < 400 => {
                    waited += 1;
                    std::thread::sleep(Duration::from_millis(25));
                }
                _ => {
                    return Err(StoreError::Unavailable {
                        location: src.display().to_string(),
                        reason: "the store stayed locked for ten seconds".into(),
                    });
                }
            }
        }
    }
    to.close().map_err(|(_, e)| err(e))
}

/// A path for a `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(p: &std::path::Path) -> String {
    let mut out = String::new();
    for c in p.display().to_string().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a transaction row's canonical JSON (exactly what `serde_json` writes for the model
/// [`Transaction`], columns in the order of [`large_tables_digest`]'s query) straight from the
/// stored values, without building the struct: the hot loop of every backup's check. `false`
/// (with `buf` left to be cleared) when a value is not in the form LedgerFlow stores; the caller
/// then takes the model struct's way, which decides.
fn transaction_json(r: &rusqlite::Row<'_>, buf: &mut Vec<u8>) -> bool {
    use rusqlite::types::ValueRef;
    let text = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Text(t)) => std::str::from_utf8(t).ok(),
        _ => None,
    };
    let int = |i: usize| match r.get_ref(i) {
        Ok(ValueRef::Integer(n)) => Some(Some(n)),
        Ok(ValueRef::Null) => Some(None),
        _ => None,
    };
    let str_json = |buf: &mut Vec<u8>, s: &str| serde_json::to_writer(buf, s).is_ok();
    let int_json = |buf: &mut Vec<u8>, v: Option<i64>| match v {
        Some(n) => {
            let _ = serde_json::to_writer(buf, &n);
        }
        None => buf.extend_from_slice(b"null"),
    };
    // Ten characters, zero-padded, a real day: written back the same by the model's way.
    let date_ok = |s: &str| iso_date(s).is_some();
    let (Some(Some(id)), Some(Some(account)), Some(posted), Some(Some(amount))) =
        (int(0), int(1), text(2), int(3))
    else {
        return false;
    };
    let (Some(currency), Some(status)) = (text(4), text(9)) else {
        return false;
    };
    if !date_ok(posted)
        || !ledgerflow_core::Currency::from_code(currency).is_ok_and(|c| c.code() == currency)
        || !matches!(status, "pending" | "cleared" | "reconciled")
    {
        return false;
    }
    let (Some(payee), Some(description), Some(memo), Some(source)) =
        (text(5), text(6), text(7), text(10))
    else {
        return false;
    };
    let (Some(category), Some(batch), Some(transfer), Some(Some(review))) =
        (int(8), int(11), int(14), int(15))
    else {
        return false;
    };
    let external = match r.get_ref(12) {
        Ok(ValueRef::Null) => None,
        Ok(ValueRef::Text(t)) => match std::str::from_utf8(t) {
            Ok(t) => Some(t),
            Err(_) => return false,
        },
        _ => return false,
    };
    let Ok(ValueRef::Blob(fp)) = r.get_ref(13) else {
        return false;
    };
    let (Some(created), Some(updated)) = (text(16).and_then(utc_z), text(17).and_then(utc_z))
    else {
        return false;
    };
    let bank_date = match r.get_ref(18) {
        Ok(ValueRef::Null) => None,
        Ok(ValueRef::Text(t)) => match std::str::from_utf8(t) {
            Ok(t) if date_ok(t) => Some(t),
            _ => return false,
        },
        _ => return false,
    };
    let Some(bank_amount) = int(19) else {
        return false;
    };
    if !matches!(review, 0 | 1) {
        return false;
    }
    buf.extend_from_slice(b"{\"id\":");
    int_json(buf, Some(id));
    buf.extend_from_slice(b",\"account_id\":");
    int_json(buf, Some(account));
    buf.extend_from_slice(b",\"posted_date\":\"");
    buf.extend_from_slice(posted.as_bytes());
    buf.extend_from_slice(b"\",\"amount_minor\":");
    int_json(buf, Some(amount));
    buf.extend_from_slice(b",\"currency\":\"");
    buf.extend_from_slice(currency.as_bytes());
    buf.extend_from_slice(b"\",\"payee\":");
    let mut ok = str_json(buf, payee);
    buf.extend_from_slice(b",\"description\":");
    ok &= str_json(buf, description);
    buf.extend_from_slice(b",\"memo\":");
    ok &= str_json(buf, memo);
    buf.extend_from_slice(b",\"category_id\":");
    int_json(buf, category);
    buf.extend_from_slice(b",\"status\":\"");
    buf.extend_from_slice(status.as_bytes());
    buf.extend_from_slice(b"\",\"source\":");
    ok &= str_json(buf, source);
    buf.extend_from_slice(b",\"import_batch_id\":");
    int_json(buf, batch);
    buf.extend_from_slice(b",\"external_id\":");
    match external {
        Some(e) => ok &= str_json(buf, e),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"fingerprint\":\"");
    buf.extend_from_slice(crate::rows::hex_encode(fp).as_bytes());
    buf.extend_from_slice(b"\",\"transfer_id\":");
    int_json(buf, transfer);
    buf.extend_from_slice(if review == 1 {
        b",\"needs_review\":true".as_slice()
    } else {
        b",\"needs_review\":false".as_slice()
    });
    buf.extend_from_slice(b",\"created_at\":\"");
    buf.extend_from_slice(created.as_bytes());
    buf.extend_from_slice(b"Z\",\"updated_at\":\"");
    buf.extend_from_slice(updated.as_bytes());
    buf.extend_from_slice(b"Z\"");
    if let Some(d) = bank_date {
        buf.extend_from_slice(b",\"bank_date\":\"");
        buf.extend_from_slice(d.as_bytes());
        buf.push(b'"');
    }
    if let Some(a) = bank_amount {
        buf.extend_from_slice(b",\"bank_amount_minor\":");
        int_json(buf, Some(a));
    }
    buf.push(b'}');
    ok
}

/// A stored UTC time (`2026-11-27T02:00:00.123456+00:00`, as sqlx writes it) without its
/// offset, when it is in the exact form chrono's serde writes back with `Z` (a fraction of 3,
/// 6 or 9 digits that does not end in a group of zeros, or none); anything else is `None`.
fn utc_z(s: &str) -> Option<&str> {
    let t = s.strip_suffix("+00:00")?;
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let base = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !base {
        return None;
    }
    let frac = &t[19..];
    let ok = match frac.len() {
        0 => true,
        4 | 7 | 10 => {
            frac.starts_with('.')
                && frac[1..].bytes().all(|c| c.is_ascii_digit())
                && !frac.ends_with("000")
        }
        _ => false,
    };
    // The date and time must also be real (the model's way would refuse them otherwise).
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(99);
    let real =
        iso_date(&t[..10]).is_some() && num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60;
    (ok && real).then_some(t)
}

/// Transactions at least this many apart in id are hashed in two halves, on two threads.
const SPLIT_DIGEST_AT: i64 = 100_000;

/// The transactions and tombstones of the SQLite file at `path`, each rebuilt as its model
/// row and hashed into a rows digest (the large tables of [`Store::compute_rows_digest`],
/// read with rusqlite on read-only connections). The digest is a sum, so a large table is
/// hashed in two id ranges on two threads; each range's read transaction also reads the journal
/// head, and the two must agree (a store written to in between is read again, whole, on one).
/// Blocking.
pub(crate) fn large_tables_digest(
    path: &std::path::Path,
    immutable: bool,
) -> StoreResult<RowsDigest> {
    digest_split_at(path, immutable, SPLIT_DIGEST_AT)
}

/// [`large_tables_digest`], split when the ids span at least `split_at`.
fn digest_split_at(
    path: &std::path::Path,
    immutable: bool,
    split_at: i64,
) -> StoreResult<RowsDigest> {
    let (lo, hi): (Option<i64>, Option<i64>) = read_only(path, immutable)?
        .query_row("SELECT min(id), max(id) FROM transactions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(err)?;
    let mid = match (lo, hi) {
        (Some(lo), Some(hi)) if hi - lo >= split_at => lo + (hi - lo) / 2,
        _ => return Ok(digest_range(path, immutable, i64::MIN, i64::MAX, true)?.0),
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| digest_range(path, immutable, i64::MIN, mid, false));
        let second = digest_range(path, immutable, mid + 1, i64::MAX, true);
        let first = first
            .join()
            .unwrap_or_else(|_| Err(StoreError::Database("rows digest thread failed".into())));
        (first, second)
    });
    let ((a, head_a), (b, head_b)) = (first?, second?);
    if head_a != head_b {
        return Ok(digest_range(path, immutable, i64::MIN, i64::MAX, true)?.0);
    }
    Ok(a.plus(b))
}

/// The digest of the transactions with ids in `from..=to` (and with `tombstones`, of every
/// tombstone), and the journal head seen by the same read transaction.
fn digest_range(
    path: &std::path::Path,
    immutable: bool,
    from: i64,
    to: i64,
    tombstones: bool,
) -> StoreResult<(RowsDigest, i64)> {
    use ledgerflow_core::journal::Entity;
    use std::str::FromStr;
    let c = read_only(path, immutable)?;
    let tx = c.unchecked_transaction().map_err(err)?;
    let head: i64 = tx
        .query_row("SELECT seq FROM journal_head WHERE id = 1", [], |r| {
            r.get(0)
        })
        .map_err(err)?;
    let mut sum = RowsDigest::default();
    let mut buf = Vec::with_capacity(1024);
    let bad =
        |what: &str, v: &str| StoreError::Database(format!("stored {what} \"{v}\" is not valid"));
    {
        let mut stmt = tx
            .prepare(
                "SELECT id, account_id, posted_date, amount_minor, currency, payee, description, memo, \
                 category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, \
                 needs_review, created_at, updated_at, bank_date, bank_amount_minor FROM transactions \
                 WHERE id BETWEEN ?1 AND ?2",
            )
            .map_err(err)?;
        let mut rows = stmt.query([from, to]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            buf.clear();
            if transaction_json(r, &mut buf) {
                sum.add_row(Entity::Transaction, &buf);
                continue;
            }
            let text = |i: usize| -> StoreResult<String> { r.get::<_, String>(i).map_err(err) };
            let currency: String = text(4)?;
            let status: String = text(9)?;
            let fp: Vec<u8> = r.get(13).map_err(err)?;
            let bank_date: Option<String> = r.get(18).map_err(err)?;
            let t = Transaction {
                id: r.get(0).map_err(err)?,
                account_id: r.get(1).map_err(err)?,
                posted_date: date(&text(2)?)?,
                amount_minor: r.get(3).map_err(err)?,
                currency: ledgerflow_core::Currency::from_code(&currency)
                    .map_err(|_| bad("currency", &currency))?,
                payee: text(5)?,
                description: text(6)?,
                memo: text(7)?,
                category_id: r.get(8).map_err(err)?,
                status: ledgerflow_core::model::TxStatus::from_str(&status)
                    .map_err(|_| bad("transaction status", &status))?,
                source: text(10)?,
                import_batch_id: r.get(11).map_err(err)?,
                external_id: r.get(12).map_err(err)?,
                fingerprint: crate::rows::hex_encode(&fp),
                transfer_id: r.get(14).map_err(err)?,
                needs_review: r.get::<_, i64>(15).map_err(err)? != 0,
                created_at: stamp(&text(16)?)?,
                updated_at: stamp(&text(17)?)?,
                bank_date: bank_date.as_deref().map(date).transpose()?,
                bank_amount_minor: r.get(19).map_err(err)?,
            };
            buf.clear();
            serde_json::to_writer(&mut buf, &t).map_err(|e| StoreError::Database(e.to_string()))?;
            sum.add_row(Entity::Transaction, &buf);
        }
    }
    if tombstones {
        let mut stmt = tx
            .prepare(
                "SELECT transaction_id, account_id, posted_date, fingerprint, external_id FROM deleted_transactions",
            )
            .map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let fp: Vec<u8> = r.get(3).map_err(err)?;
            let t = ledgerflow_core::model::Tombstone {
                id: r.get(0).map_err(err)?,
                account_id: r.get(1).map_err(err)?,
                posted_date: date(&r.get::<_, String>(2).map_err(err)?)?,
                fingerprint: crate::rows::hex_encode(&fp),
                external_id: r.get(4).map_err(err)?,
            };
            buf.clear();
            serde_json::to_writer(&mut buf, &t).map_err(|e| StoreError::Database(e.to_string()))?;
            sum.add_row(Entity::Tombstone, &buf);
        }
    }
    Ok((sum, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashed in two id ranges on two threads or in one, a store's rows digest is the same, it
    /// is the sum of its model rows' hashes, and a row changed in either half changes it.
    #[test]
    fn the_rows_digest_is_the_same_split_in_two_or_whole() {
        use ledgerflow_core::journal::Entity;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let c = Connection::open(&path).expect("db");
        c.execute_batch(
            "CREATE TABLE transactions (id INTEGER PRIMARY KEY, account_id, posted_date, amount_minor, currency, payee, description, memo, \
             category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, \
             needs_review, created_at, updated_at, bank_date, bank_amount_minor);
             CREATE TABLE deleted_transactions (transaction_id, account_id, posted_date, fingerprint, external_id);
             CREATE TABLE journal_head (id INTEGER PRIMARY KEY, seq, hash);
             INSERT INTO journal_head VALUES (1, 5, zeroblob(32));
             INSERT INTO deleted_transactions VALUES (99, 1, '2024-01-05', zeroblob(16), NULL);",
        )
        .expect("tables");
        let mut want = RowsDigest::default();
        for id in 1..=40i64 {
            let at = chrono::DateTime::parse_from_rfc3339("2026-11-27T02:00:00Z")
                .expect("t")
                .with_timezone(&chrono::Utc);
            let t = Transaction {
                id,
                account_id: 1 + id % 2,
                posted_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("d")
                    + chrono::Days::new(id as u64),
                amount_minor: -100 * id,
                currency: ledgerflow_core::Currency::from_code("EUR").expect("cur"),
                payee: format!("payee {id}"),
                description: String::new(),
                memo: String::new(),
                category_id: None,
                status: ledgerflow_core::model::TxStatus::ALL[0],
                source: "import".into(),
                import_batch_id: Some(1),
                external_id: None,
                fingerprint: "00".repeat(16),
                transfer_id: None,
                needs_review: false,
                created_at: at,
                updated_at: at,
                bank_date: None,
                bank_amount_minor: None,
            };
            want.add_row(Entity::Transaction, &serde_json::to_vec(&t).expect("json"));
            c.execute(
                "INSERT INTO transactions VALUES (?1, ?2, ?3, ?4, 'EUR', ?5, '', '', NULL, ?6, 'import', 1, NULL, zeroblob(16), NULL, 0, ?7, ?7, NULL, NULL)",
                params![
                    t.id,
                    t.account_id,
                    t.posted_date.format("%Y-%m-%d").to_string(),
                    t.amount_minor,
                    t.payee,
                    t.status.as_str(),
                    at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                ],
            )
            .expect("row");
        }
        let tomb = ledgerflow_core::model::Tombstone {
            id: 99,
            account_id: 1,
            posted_date: chrono::NaiveDate::from_ymd_opt(2024, 1, 5).expect("d"),
            fingerprint: "00".repeat(16),
            external_id: None,
        };
        want.add_row(Entity::Tombstone, &serde_json::to_vec(&tomb).expect("json"));
        let whole = digest_split_at(&path, false, i64::MAX).expect("whole");
        let split = digest_split_at(&path, false, 2).expect("split");
        assert_eq!(whole, want);
        assert_eq!(split, want);
        for id in [3, 38] {
            c.execute(
                "UPDATE transactions SET payee = payee || '!' WHERE id = ?1",
                [id],
            )
            .expect("change");
            assert_ne!(digest_split_at(&path, false, 2).expect("split"), want);
            c.execute(
                "UPDATE transactions SET payee = rtrim(payee, '!') WHERE id = ?1",
                [id],
            )
            .expect("back");
            assert_eq!(digest_split_at(&path, false, 2).expect("split"), want);
        }
    }

    /// The fast canonical JSON of a stored transaction is byte for byte what serde writes for
    /// the model struct (which the journal hashes), for every shape of row LedgerFlow stores.
    #[test]
    fn a_stored_transactions_fast_json_is_exactly_the_models() {
        let c = Connection::open_in_memory().expect("db");
        c.execute_batch(
            "CREATE TABLE t (id, account_id, posted_date, amount_minor, currency, payee, description, memo, \
             category_id, status, source, import_batch_id, external_id, fingerprint, transfer_id, \
             needs_review, created_at, updated_at, bank_date, bank_amount_minor)",
        )
        .expect("table");
        let base = chrono::DateTime::parse_from_rfc3339("2026-11-27T02:00:00Z")
            .expect("t")
            .with_timezone(&chrono::Utc);
        let mut rows = Vec::new();
        for (i, (payee, nanos)) in [
            ("PLAIN", 0u32),
            ("Caf\u{e9} \"quoted\" \\ back\tslash \u{1F600}", 123_000_000),
            ("line\u{2028}sep <b>&amp;</b>", 123_456_000),
            ("", 123_456_789),
            ("x", 120_000_000),
            ("y", 100_000),
        ]
        .into_iter()
        .enumerate()
        {
            let at = base
                + chrono::Duration::nanoseconds(i64::from(nanos))
                + chrono::Duration::days(i as i64);
            let i = i as i64;
            rows.push(Transaction {
                id: i + 1,
                account_id: 7,
                posted_date: chrono::NaiveDate::from_ymd_opt(2024, 2, 29).expect("d"),
                amount_minor: -1234 * i + 5,
                currency: ledgerflow_core::Currency::from_code(if i % 2 == 0 {
                    "USD"
                } else {
                    "JPY"
                })
                .expect("cur"),
                payee: payee.into(),
                description: format!("desc {i}"),
                memo: if i == 3 {
                    "m\u{0}emo".into()
                } else {
                    String::new()
                },
                category_id: (i % 2 == 1).then_some(i),
                status: ledgerflow_core::model::TxStatus::ALL[(i % 3) as usize],
                source: "import".into(),
                import_batch_id: (i > 1).then_some(3),
                external_id: (i == 2).then(|| "FIT\"ID".to_string()),
                fingerprint: "00ff10a0b1c2d3e4f5061728394a5b6c".into(),
                transfer_id: (i == 4).then_some(9),
                needs_review: i == 5,
                created_at: at,
                updated_at: at + chrono::Duration::seconds(1),
                bank_date: (i == 1)
                    .then(|| chrono::NaiveDate::from_ymd_opt(2024, 3, 1).expect("d")),
                bank_amount_minor: (i == 1).then_some(-999),
            });
        }
        for t in &rows {
            let fp: Vec<u8> = (0..16)
                .map(|k| u8::from_str_radix(&t.fingerprint[2 * k..2 * k + 2], 16).expect("hex"))
                .collect();
            c.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                params![
                    t.id,
                    t.account_id,
                    t.posted_date.format("%Y-%m-%d").to_string(),
                    t.amount_minor,
                    t.currency.code(),
                    t.payee,
                    t.description,
                    t.memo,
                    t.category_id,
                    t.status.as_str(),
                    t.source,
                    t.import_batch_id,
                    t.external_id,
                    fp,
                    t.transfer_id,
                    i64::from(t.needs_review),
                    ts(&t.created_at),
                    ts(&t.updated_at),
                    t.bank_date.map(|d| d.format("%Y-%m-%d").to_string()),
                    t.bank_amount_minor,
                ],
            )
            .expect("insert");
        }
        let mut stmt = c.prepare("SELECT * FROM t ORDER BY id").expect("select");
        let mut q = stmt.query([]).expect("query");
        let mut k = 0;
        while let Some(r) = q.next().expect("row") {
            let mut fast = Vec::new();
            assert!(transaction_json(r, &mut fast), "row {k} took the slow way");
            let model = serde_json::to_vec(&rows[k]).expect("json");
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&model),
                "row {k}"
            );
            k += 1;
        }
        assert_eq!(k, rows.len());
        // A time not in the stored form goes the model's way.
        assert_eq!(utc_z("2026-11-27T02:00:00.120000+00:00"), None);
        assert_eq!(utc_z("2026-02-30T02:00:00+00:00"), None);
        assert_eq!(utc_z("2026-11-27 02:00:00"), None);
    }
}
