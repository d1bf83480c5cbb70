//! The first pass over a file (step 3): every good row reduced to 32 bytes ([`Scanned`]:
//! fingerprint, amount, day, bank-id reference), bad rows counted and the first ones kept word
//! for word. It runs on a blocking thread and hands the rows back for the write pass.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use ledgerflow_core::fingerprint::fingerprint;
use ledgerflow_core::model::Account;
use sha2::{Digest, Sha256};

use super::rows::{Item, Rows, RowsError, clean, prepare};
use super::{MAX_REPORTED, Progress};

/// A row reduced to what deciding needs: 32 bytes.
#[derive(Clone, Copy)]
pub(super) struct Scanned {
    pub(super) fingerprint: [u8; 16],
    pub(super) amount_minor: i64,
    /// Days since 0001-01-01.
    pub(super) day: i32,
    /// Index into the scan's bank-id hashes, or `NO_ID`.
    pub(super) ext: u32,
}

pub(super) const NO_ID: u32 = u32::MAX;

/// The first pass over the file.
#[derive(Default)]
pub(super) struct Scan {
    pub(super) rows: Vec<Scanned>,
    pub(super) ext_ids: Vec<[u8; 16]>,
    pub(super) bad: Vec<String>,
    pub(super) bad_count: usize,
    pub(super) rows_read: usize,
    pub(super) first: Option<NaiveDate>,
    pub(super) last: Option<NaiveDate>,
    pub(super) sha: Option<String>,
    /// Rows passed over as pending, empty or section lines.
    pub(super) passed: crate::csv::PassedOver,
}

pub(super) fn id_hash(id: &str) -> [u8; 16] {
    let d = Sha256::digest(id.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// The first pass, on a blocking thread; the rows come back for the second.
pub(super) async fn run_scan(
    rows: Rows,
    file: &str,
    account: &Arc<Account>,
    progress: &Arc<dyn Progress>,
) -> Result<(Result<Scan, RowsError>, Rows), tokio::task::JoinError> {
    let (account, progress, file) = (account.clone(), progress.clone(), file.to_string());
    tokio::task::spawn_blocking(move || {
        let s = scan_rows(&rows, &file, &account, progress.as_ref());
        (s, rows)
    })
    .await
}

/// The first pass: every row reduced to its [`Scanned`] form; bad rows counted.
fn scan_rows(
    rows: &Rows,
    file: &str,
    account: &Account,
    progress: &dyn Progress,
) -> Result<Scan, RowsError> {
    let mut s = Scan::default();
    let bad = |s: &mut Scan, reason: String| {
        s.bad_count += 1;
        if s.bad.len() < MAX_REPORTED {
            s.bad.push(reason);
        }
    };
    let passed = rows.each(file, "reading", progress, &mut |item| {
        s.rows_read += 1;
        match item {
            Item::Bad(reason) => bad(&mut s, reason),
            Item::Txn(t, currency) => match prepare(account, currency, t) {
                Err(e) => bad(&mut s, format!("line {}: {e}", t.line)),
                Ok(p) => {
                    let ext = match t.external_id.as_deref().map(clean) {
                        Some(e) if !e.is_empty() => {
                            s.ext_ids.push(id_hash(&e));
                            (s.ext_ids.len() - 1) as u32
                        }
                        _ => NO_ID,
                    };
                    s.first = Some(s.first.map_or(t.date, |d| d.min(t.date)));
                    s.last = Some(s.last.map_or(t.date, |d| d.max(t.date)));
                    s.rows.push(Scanned {
                        fingerprint: fingerprint(account.id, t.date, p.amount_minor, &p.payee, ""),
                        amount_minor: p.amount_minor,
                        day: t.date.num_days_from_ce(),
                        ext,
                    });
                }
            },
        }
        true
    })?;
    s.sha = passed.sha;
    s.passed = passed.passed;
    Ok(s)
}
