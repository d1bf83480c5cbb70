//! The import service: a bank file becomes one import batch, with duplicates decided right in
//! both directions. The CLI's `ledgerflow import` and the web upload (preview = dry run) call
//! [`import_file`].
//!
//! Rules:
//! - The very same file (same SHA-256) into the same account again is a no-op that says so.
//! - A bank id (OFX FITID, CAMT reference) that is present and unique within the file decides:
//!   a stored row with that id is a duplicate.
//! - Otherwise rows are counted per fingerprint (account, date, amount, normalised text): the
//!   file adds, per fingerprint, only the occurrences beyond those already stored. Two identical
//!   $4.50 coffees on one day in one statement are both kept; an overlapping export adds nothing
//!   twice.
//! - A near match (same amount, date within three days, similar text, different fingerprint) is
//!   imported and flagged for review, never merged or dropped. An import never modifies an
//!   existing row.
//! - A transaction the user deleted does not come back unless `include_deleted`.
//! - Bad rows refuse the whole file (nothing is written) unless `skip_invalid`. A payee or memo
//!   over the limits of manual entry (`ledgerflow_core::service::check_text`) is a bad row: never
//!   cut short. The file's name is cut to a label of [`MAX_FILE_NAME`] characters.
//!
//! How (bounded memory whatever the file's size):
//! 1. Hash the file (SHA-256) and stop if this account already imported it.
//! 2. Scan: read the rows once, keeping 32 bytes per row (fingerprint, date, amount, bank-id
//!    reference). CSV files are streamed; OFX, QIF and CAMT files (small by nature) and CSV files
//!    that are not UTF-8 are parsed in memory.
//! 3. Decide: stream the stored keys of the account over the file's dates (plus a week either
//!    side) from the store, and settle every row by merging the two lists sorted by fingerprint;
//!    near matches are found by a sweep over (amount, date), and only their stored texts are
//!    fetched.
//! 4. Write: read the rows again and stream the new ones to the store in chunks, all in one
//!    database transaction that commits only if the file still has the hash of step 1.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Datelike, Days, NaiveDate};
use ledgerflow_core::fingerprint::{fingerprint, normalize_text};
use ledgerflow_core::model::{
    Account, Actor, DedupKey, ImportChunk, ImportCounts, NewImportBatch, NewTransaction, TxStatus,
};
use ledgerflow_core::service::check_text;
use ledgerflow_core::{Store, StoreError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{debug, instrument};

use crate::csv::{CsvItem, Profile, StreamError};
use crate::model::{Format, ParseError, ParsedTxn, RowError};
use crate::qif::DateOrder;

/// How far apart (days) two rows may be and still be a near match.
const NEAR_DAYS: i32 = 3;
/// New rows per chunk sent to the store (one journal entry each).
const CHUNK_ROWS: usize = 16_384;
/// Row errors kept word for word (all are counted).
const MAX_REPORTED: usize = 1000;
/// Stored rows compared with one new row for a near match, at most.
const MAX_NEAR_PER_ROW: usize = 16;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// `None` detects the format from the content.
    pub format: Option<Format>,
    pub dry_run: bool,
    pub skip_invalid: bool,
    pub include_deleted: bool,
    /// Which statement of a multi-statement file (its account id in the file).
    pub statement: Option<String>,
    /// For QIF files whose dates are all ambiguous.
    pub date_order: DateOrder,
    /// The CSV preset or profile to read a CSV file with (`None` detects a preset).
    pub profile: Option<crate::csv::Profile>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            format: None,
            dry_run: false,
            skip_invalid: false,
            include_deleted: false,
            statement: None,
            date_order: DateOrder::MonthFirst,
            profile: None,
        }
    }
}

/// Where the file's bytes are.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk, read as a stream (twice: to decide, then to write).
    Path(PathBuf),
    /// Bytes already in memory (a web upload, a test).
    Bytes(Arc<[u8]>),
}

impl Source {
    pub fn bytes(b: &[u8]) -> Self {
        Source::Bytes(Arc::from(b))
    }

    fn len(&self) -> std::io::Result<u64> {
        match self {
            Source::Path(p) => Ok(std::fs::metadata(p)?.len()),
            Source::Bytes(b) => Ok(b.len() as u64),
        }
    }

    fn reader(&self) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            Source::Path(p) => Ok(Box::new(std::fs::File::open(p)?)),
            Source::Bytes(b) => Ok(Box::new(std::io::Cursor::new(b.clone()))),
        }
    }

    fn read_all(&self) -> std::io::Result<Arc<[u8]>> {
        match self {
            Source::Path(p) => Ok(Arc::from(std::fs::read(p)?)),
            Source::Bytes(b) => Ok(b.clone()),
        }
    }
}

/// What a long import reports while it works (the CLI draws a progress bar with it).
pub trait Progress: Send + Sync {
    /// A new phase begins: `total` bytes (or rows, for in-memory files) to go.
    fn phase(&self, _label: &'static str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What happened to one row of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    New,
    /// New, but flagged for review: it resembles a stored row.
    Flagged,
    Duplicate,
    /// The user deleted this transaction before; not brought back.
    Deleted,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowDecision {
    pub line: usize,
    pub date: NaiveDate,
    pub amount_minor: i64,
    pub payee: String,
    pub decision: Decision,
}

/// The outcome of importing one file. `flagged` rows are part of `new`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub file: String,
    pub format: Option<Format>,
    pub account: String,
    pub rows_read: usize,
    pub new: usize,
    pub duplicates: usize,
    pub flagged: usize,
    pub skipped: usize,
    /// Rows not brought back because the user deleted them.
    pub deleted: usize,
    pub skipped_rows: Vec<String>,
    pub warnings: Vec<String>,
    pub batch_id: Option<i64>,
    /// The batch that already imported this very file, when it is a no-op.
    pub already_imported: Option<i64>,
    pub dry_run: bool,
    pub duration_ms: u128,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<RowDecision>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a whole.
    #[error(transparent)]
    Parse(#[from] crate::model::ParseError),
    /// Rows that cannot be imported, and no `skip_invalid`: nothing was written.
    #[error("{file}: {first}{more} (nothing was imported; --skip-invalid imports the good rows)")]
    BadRows {
        file: String,
        first: String,
        more: String,
    },
    /// A question only the user can answer (which statement, which account).
    #[error("{0}")]
    Ambiguous(String),
    #[error("{file}: {reason}")]
    Io { file: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Word overlap of two payees, 0..=1, after normalisation.
fn similarity(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> HashSet<String> {
        normalize_text(s)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 1)
            .map(str::to_string)
            .collect()
    };
    let (wa, wb) = (words(a), words(b));
    if wa.is_empty() || wb.is_empty() {
        return 0.0;
    }
    let common = wa.intersection(&wb).count() as f64;
    common / wa.len().min(wb.len()) as f64
}

/// Reads through, hashing every byte, checking that the whole is UTF-8, and reporting
/// progress.
struct Hashing<'p, R> {
    inner: R,
    hasher: Sha256,
    progress: &'p dyn Progress,
    unreported: u64,
    utf8: bool,
    /// The start of a character cut by the end of the last read.
    carry: Vec<u8>,
}

impl<'p, R: Read> Hashing<'p, R> {
    fn new(inner: R, progress: &'p dyn Progress) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            progress,
            unreported: 0,
            utf8: true,
            carry: Vec::new(),
        }
    }

    /// Reads what is left and returns the hash of everything and whether it is all UTF-8.
    fn finish(mut self) -> std::io::Result<(String, bool)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        self.progress.advance(self.unreported);
        let utf8 = self.utf8 && self.carry.is_empty();
        Ok((hex(&self.hasher.finalize()), utf8))
    }

    fn check_utf8(&mut self, data: &[u8]) {
        if !self.utf8 {
            return;
        }
        let joined;
        let data = if self.carry.is_empty() {
            data
        } else {
            joined = [self.carry.as_slice(), data].concat();
            &joined
        };
        match std::str::from_utf8(data) {
            Ok(_) => self.carry.clear(),
            // Cut at the end of this read: the rest comes with the next one.
            Err(e) if e.error_len().is_none() => {
                self.carry = data[e.valid_up_to()..].to_vec();
            }
            Err(_) => self.utf8 = false,
        }
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.check_utf8(&buf[..n]);
        self.unreported += n as u64;
        if self.unreported >= 1 << 20 {
            self.progress.advance(self.unreported);
            self.unreported = 0;
        }
        Ok(n)
    }
}

/// One row as the passes see it.
enum Item<'a> {
    Txn(&'a ParsedTxn, Option<&'a str>),
    Bad(String),
}

/// How the rows are read: streamed from the source, or from a file parsed in memory.
enum Rows {
    Stream {
        source: Source,
        profile: Box<Profile>,
        total: u64,
    },
    Parsed {
        /// The chosen statements' rows, each with its statement's currency.
        txns: Vec<(ParsedTxn, Option<String>)>,
        errors: Vec<RowError>,
    },
}

impl Rows {
    /// Calls `f` with every row in file order; returns the SHA-256 of the bytes read (streamed
    /// files only). `f` returns `false` to stop early.
    fn each(
        &self,
        file: &str,
        label: &'static str,
        progress: &dyn Progress,
        f: &mut dyn FnMut(Item<'_>) -> bool,
    ) -> Result<Option<String>, RowsError> {
        match self {
            Rows::Parsed { txns, errors } => {
                progress.phase(label, (txns.len() + errors.len()) as u64);
                for e in errors {
                    if !f(Item::Bad(e.to_string())) {
                        return Ok(None);
                    }
                }
                for (i, (t, cur)) in txns.iter().enumerate() {
                    if i % 4096 == 0 {
                        progress.advance(4096.min((txns.len() - i) as u64));
                    }
                    if !f(Item::Txn(t, cur.as_deref())) {
                        return Ok(None);
                    }
                }
                Ok(None)
            }
            Rows::Stream {
                source,
                profile,
                total,
            } => {
                progress.phase(label, *total);
                let io = |e: std::io::Error| RowsError::Io(e.to_string());
                let mut hashing = Hashing::new(source.reader().map_err(io)?, progress);
                {
                    let mut buf = BufReader::with_capacity(1 << 16, &mut hashing);
                    // A UTF-8 byte-order mark is not part of the first field.
                    if buf.fill_buf().map_err(io)?.starts_with(b"\xEF\xBB\xBF") {
                        buf.consume(3);
                    }
                    let result = crate::csv::stream(buf, profile, &mut |item| match item {
                        CsvItem::Txn(t) => f(Item::Txn(&t, None)),
                        CsvItem::Error(e) => f(Item::Bad(e.to_string())),
                    });
                    match result {
                        Ok(_) | Err(StreamError::Stopped) => {}
                        Err(StreamError::NotUtf8) => return Err(RowsError::NotUtf8),
                        Err(StreamError::Parse(reason)) => {
                            return Err(RowsError::Parse(ParseError {
                                file: file.to_string(),
                                reason,
                            }));
                        }
                        Err(StreamError::Io(e)) => return Err(io(e)),
                    }
                }
                hashing.finish().map(|(sha, _)| Some(sha)).map_err(io)
            }
        }
    }
}

enum RowsError {
    NotUtf8,
    Parse(ParseError),
    Io(String),
}

/// A row reduced to what deciding needs: 32 bytes.
#[derive(Clone, Copy)]
struct Scanned {
    fingerprint: [u8; 16],
    amount_minor: i64,
    /// Days since 0001-01-01.
    day: i32,
    /// Index into the scan's bank-id hashes, or `NO_ID`.
    ext: u32,
}

const NO_ID: u32 = u32::MAX;

/// The first pass over the file.
struct Scan {
    rows: Vec<Scanned>,
    ext_ids: Vec<[u8; 16]>,
    bad: Vec<String>,
    bad_count: usize,
    rows_read: usize,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
    sha: Option<String>,
}

fn id_hash(id: &str) -> [u8; 16] {
    let d = Sha256::digest(id.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// A row ready to be a transaction, or the reason it cannot be one.
struct Prepared<'a> {
    amount_minor: i64,
    payee: Cow<'a, str>,
    memo: Cow<'a, str>,
}

/// Control characters (a NUL from `&#0;`, say) are dropped: PostgreSQL refuses NUL in text.
fn clean(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    if t.chars().any(|c| c.is_control() && c != '\t') {
        Cow::Owned(
            t.chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect::<String>()
                .trim()
                .to_string(),
        )
    } else {
        Cow::Borrowed(t)
    }
}

fn prepare<'a>(
    account: &Account,
    statement_currency: Option<&str>,
    t: &'a ParsedTxn,
) -> Result<Prepared<'a>, String> {
    if let Some(code) = t.currency.as_deref().or(statement_currency) {
        let code = code.trim();
        if !code.is_empty()
            && !code.eq_ignore_ascii_case("XXX")
            && !code.eq_ignore_ascii_case(account.currency.code())
        {
            return Err(format!(
                "the amount is in {} but account \"{}\" is in {}",
                code.to_ascii_uppercase(),
                account.name,
                account.currency
            ));
        }
    }
    let amount_minor = account
        .currency
        .decimal_to_minor(t.amount, "")
        .map_err(|_| {
            account
                .currency
                .decimal_to_minor(t.amount, &t.amount.to_string())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        })?;
    // The limits of text typed by hand hold for imported text too: a row over them is a bad
    // row (the file is refused unless `skip_invalid`), never cut short.
    let payee = clean(&t.payee);
    check_text("payee", &payee).map_err(|e| e.to_string())?;
    let memo = clean(&t.memo);
    check_text("memo", &memo).map_err(|e| e.to_string())?;
    Ok(Prepared {
        amount_minor,
        payee,
        memo,
    })
}

/// Longest file name kept, in characters: the batch's label, the summary and messages use it.
pub const MAX_FILE_NAME: usize = 255;

/// A file name as a label: control characters replaced, cut to [`MAX_FILE_NAME`] characters
/// (the last one an ellipsis when it was longer).
pub fn file_label(name: &str) -> Cow<'_, str> {
    let long = name.char_indices().nth(MAX_FILE_NAME).is_some();
    if !long && !name.chars().any(char::is_control) {
        return Cow::Borrowed(name);
    }
    let mut out: String = name
        .chars()
        .take(if long {
            MAX_FILE_NAME - 1
        } else {
            MAX_FILE_NAME
        })
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if long {
        out.push('…');
    }
    Cow::Owned(out)
}

/// Imports one file into `account`. A `file_name` longer than [`MAX_FILE_NAME`] characters is
/// cut ([`file_label`]).
#[instrument(skip_all, fields(file = tracing::field::Empty, account = %account.name))]
pub async fn import_file(
    store: &dyn Store,
    actor: &Actor,
    account: &Account,
    file_name: &str,
    source: Source,
    opts: &ImportOptions,
    progress: Arc<dyn Progress>,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let label = file_label(file_name);
    let file_name: &str = &label;
    tracing::Span::current().record("file", file_name);
    let mut summary = ImportSummary {
        file: file_name.to_string(),
        format: None,
        account: account.name.clone(),
        rows_read: 0,
        new: 0,
        duplicates: 0,
        flagged: 0,
        skipped: 0,
        deleted: 0,
        skipped_rows: Vec::new(),
        warnings: Vec::new(),
        batch_id: None,
        already_imported: None,
        dry_run: opts.dry_run,
        duration_ms: 0,
        decisions: Vec::new(),
    };
    let io = |e: std::io::Error| ImportError::Io {
        file: file_name.to_string(),
        reason: e.to_string(),
    };
    let blocking = |e: tokio::task::JoinError| ImportError::Io {
        file: file_name.to_string(),
        reason: format!("the import task failed: {e}"),
    };

    // 1. The file's identity.
    let total = source.len().map_err(io)?;
    let (sha, utf8, head) = {
        let (source, progress) = (source.clone(), progress.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<(String, bool, Vec<u8>)> {
            progress.phase("checking", total);
            let mut r = Hashing::new(source.reader()?, progress.as_ref());
            let mut head = Vec::with_capacity(1 << 16);
            (&mut r).take(1 << 16).read_to_end(&mut head)?;
            let (sha, utf8) = r.finish()?;
            Ok((sha, utf8, head))
        })
        .await
        .map_err(blocking)?
        .map_err(io)?
    };
    if let Some(b) = store.find_import(account.id, &sha).await? {
        summary.already_imported = Some(b.id);
        summary.format = crate::detect(&head);
        summary.warnings.push(format!(
            "this very file (SHA-256 {}) was already imported into \"{}\" as batch {}: nothing to do",
            &sha[..12],
            account.name,
            b.id
        ));
        summary.duration_ms = started.elapsed().as_millis();
        progress.finish();
        return Ok(summary);
    }

    // 2. How to read it.
    // Every format is recognised from its first kilobytes.
    let detect_on = &head;
    let format = match opts
        .format
        .or_else(|| opts.profile.as_ref().map(|_| Format::Csv))
        .or_else(|| crate::detect(detect_on))
    {
        Some(f) => f,
        None => {
            return Err(crate::parse(detect_on, file_name, None).err().map_or_else(
                || ImportError::Ambiguous(format!("{file_name}: the format is not recognised")),
                ImportError::Parse,
            ));
        }
    };
    summary.format = Some(format);
    // A UTF-8 CSV is streamed (valid UTF-8 is read as UTF-8 whatever a profile declares, as
    // the whole-file decoder does); anything else is parsed in memory.
    let streamable = format == Format::Csv && utf8;
    let mut source_label = None;
    let rows = if streamable {
        let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
        let profile =
            crate::csv::settle_profile(body, opts.profile.as_ref()).map_err(|reason| {
                ParseError {
                    file: file_name.to_string(),
                    reason,
                }
            })?;
        source_label = Some(profile.name.clone());
        Rows::Stream {
            source: source.clone(),
            profile: Box::new(profile),
            total,
        }
    } else {
        let bytes = source.read_all().map_err(io)?;
        let (rows, label) = parsed_rows(&bytes, file_name, format, opts, &mut summary)?;
        source_label = label.or(source_label);
        rows
    };

    // 3. Scan and 4. decide, unless the account has no history: then every good row is new and
    // the file is read once, bad rows found on the way.
    let source_label = match &source_label {
        Some(p) => format!("{}_csv", p.replace('-', "_")),
        None => format.as_str().to_string(),
    };
    let fresh = !store.account_has_history(account.id).await?;
    let mut plan = WritePlan {
        rows,
        decisions: None,
        near: Vec::new(),
        texts: HashMap::new(),
        account: account.clone(),
        source: source_label.clone(),
        file: file_name.to_string(),
        dry_run: opts.dry_run,
        skip_invalid: opts.skip_invalid,
        expect_sha: sha.clone(),
        expect_rows: 0,
        rows_read: 0,
        skipped: 0,
    };
    if !fresh {
        let account = Arc::new(account.clone());
        let (scan, rows_back) = run_scan(plan.rows, file_name, &account, &progress)
            .await
            .map_err(blocking)?;
        plan.rows = rows_back;
        let scan = scan.map_err(|e| rows_error(e, file_name))?;
        if scan.sha.as_ref().is_some_and(|s| *s != sha) {
            return Err(changed(file_name));
        }
        if scan.bad_count > 0 && !opts.skip_invalid {
            return Err(bad_rows(file_name, &scan.bad, scan.bad_count));
        }
        let mut stored = Stored::default();
        if let (Some(first), Some(last)) = (scan.first, scan.last) {
            progress.phase("matching", 0);
            store
                .scan_dedup_keys(
                    account.id,
                    first.checked_sub_days(Days::new(7)).unwrap_or(first),
                    last.checked_add_days(Days::new(7)).unwrap_or(last),
                    &mut |k| stored.add(k),
                )
                .await?;
        }
        let include_deleted = opts.include_deleted;
        let (scan, decided) = tokio::task::spawn_blocking(move || {
            let d = decide(&scan, stored, include_deleted);
            (scan, d)
        })
        .await
        .map_err(blocking)?;
        let mut near_ids: Vec<i64> = decided.near.iter().map(|(_, id)| *id).collect();
        near_ids.sort_unstable();
        near_ids.dedup();
        if !near_ids.is_empty() {
            plan.texts = store.payee_texts(&near_ids).await?.into_iter().collect();
        }
        debug!(
            rows = scan.rows.len(),
            near = decided.near.len(),
            "duplicates decided"
        );
        plan.decisions = Some(decided.decisions);
        plan.near = decided.near;
        plan.expect_rows = scan.rows.len();
        plan.rows_read = scan.rows_read;
        plan.skipped = scan.bad_count;
        summary.skipped_rows = scan.bad;
    }

    // 5. Write (or, for a dry run, only report).
    let plan = Arc::new(plan);
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let producer = {
        let (plan, progress) = (plan.clone(), progress.clone());
        tokio::task::spawn_blocking(move || write_pass(&plan, progress.as_ref(), tx))
    };
    let written = if opts.dry_run {
        drop(rx);
        None
    } else {
        let batch = NewImportBatch {
            account_id: account.id,
            file_name: file_name.to_string(),
            file_sha256: sha,
            format: source_label,
            rows_read: 0,
            rows_new: 0,
            rows_duplicate: 0,
            rows_flagged: 0,
            rows_skipped: 0,
        };
        Some(store.import_rows(actor, batch, rx).await)
    };
    let outcome = producer.await.map_err(blocking)??;
    let batch = written.transpose()?;
    summary.rows_read = outcome.rows_read;
    summary.skipped = outcome.skipped;
    if plan.decisions.is_none() {
        summary.skipped_rows = outcome.bad;
    }
    if summary.skipped > summary.skipped_rows.len() {
        summary.skipped_rows.push(format!(
            "... and {} more",
            summary.skipped - summary.skipped_rows.len()
        ));
    }
    summary.new = outcome.new;
    summary.flagged = outcome.flagged;
    summary.duplicates = outcome.duplicates;
    summary.deleted = outcome.deleted;
    summary.decisions = outcome.decisions;
    summary.batch_id = batch.map(|b| b.id);
    if summary.deleted > 0 {
        summary.warnings.push(format!(
            "{} rows match transactions you deleted and were not brought back (--include-deleted brings them back)",
            summary.deleted
        ));
    }
    progress.finish();
    summary.duration_ms = started.elapsed().as_millis();
    Ok(summary)
}

/// The first pass, on a blocking thread; the rows come back for the second.
async fn run_scan(
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

fn bad_rows(file: &str, bad: &[String], count: usize) -> ImportError {
    let more = if count > 1 {
        format!(" (and {} more bad rows)", count - 1)
    } else {
        String::new()
    };
    ImportError::BadRows {
        file: file.to_string(),
        first: bad.first().cloned().unwrap_or_default(),
        more,
    }
}

fn changed(file: &str) -> ImportError {
    ImportError::Io {
        file: file.to_string(),
        reason: "the file changed while it was being imported: nothing was written".into(),
    }
}

fn rows_error(e: RowsError, file: &str) -> ImportError {
    match e {
        RowsError::Parse(p) => ImportError::Parse(p),
        RowsError::Io(reason) => ImportError::Io {
            file: file.to_string(),
            reason,
        },
        RowsError::NotUtf8 => ImportError::Io {
            file: file.to_string(),
            reason: "the file could not be decoded".into(),
        },
    }
}

/// Parses a whole file in memory and picks its statement: the rows and the CSV profile used.
fn parsed_rows(
    bytes: &[u8],
    file_name: &str,
    format: Format,
    opts: &ImportOptions,
    summary: &mut ImportSummary,
) -> Result<(Rows, Option<String>), ImportError> {
    let parsed = match format {
        Format::Qif => crate::qif::parse(bytes, file_name, opts.date_order)?,
        Format::Csv => crate::csv::parse(bytes, file_name, opts.profile.as_ref())?,
        f => crate::parse(bytes, file_name, Some(f))?,
    };
    summary.format = Some(parsed.format);
    summary.warnings.extend(parsed.warnings.iter().cloned());
    let with_rows = parsed
        .statements
        .iter()
        .filter(|s| !s.transactions.is_empty())
        .count();
    let chosen: Vec<usize> = match &opts.statement {
        Some(id) => {
            let picked: Vec<usize> = parsed
                .statements
                .iter()
                .enumerate()
                .filter(|(_, s)| s.account.as_deref() == Some(id.as_str()))
                .map(|(i, _)| i)
                .collect();
            if picked.is_empty() {
                return Err(ImportError::Ambiguous(format!(
                    "{file_name}: no statement for account \"{id}\" in the file"
                )));
            }
            picked
        }
        None if with_rows > 1 => {
            let ids: Vec<String> = parsed
                .statements
                .iter()
                .filter(|s| !s.transactions.is_empty())
                .map(|s| s.account.clone().unwrap_or_else(|| "?".into()))
                .collect();
            return Err(ImportError::Ambiguous(format!(
                "{file_name} holds {with_rows} statements (accounts {}): import one with --statement ACCOUNT_ID",
                ids.join(", ")
            )));
        }
        None => (0..parsed.statements.len()).collect(),
    };
    let profile = parsed.profile.clone();
    let mut statements = parsed.statements;
    let mut txns = Vec::new();
    for i in chosen {
        let st = std::mem::take(&mut statements[i]);
        let currency = st.currency;
        txns.extend(st.transactions.into_iter().map(|t| (t, currency.clone())));
    }
    Ok((
        Rows::Parsed {
            txns,
            errors: parsed.errors,
        },
        profile,
    ))
}

/// The first pass: every row reduced to its [`Scanned`] form; bad rows counted.
fn scan_rows(
    rows: &Rows,
    file: &str,
    account: &Account,
    progress: &dyn Progress,
) -> Result<Scan, RowsError> {
    let mut s = Scan {
        rows: Vec::new(),
        ext_ids: Vec::new(),
        bad: Vec::new(),
        bad_count: 0,
        rows_read: 0,
        first: None,
        last: None,
        sha: None,
    };
    let bad = |s: &mut Scan, reason: String| {
        s.bad_count += 1;
        if s.bad.len() < MAX_REPORTED {
            s.bad.push(reason);
        }
    };
    let sha = rows.each(file, "reading", progress, &mut |item| {
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
    s.sha = sha;
    Ok(s)
}

/// Which stored occurrences a fingerprint has.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pool {
    /// Live rows that carry a bank id.
    LiveWithId,
    /// Live rows without one (typed by hand, or from a format without ids).
    LiveNoId,
    /// Tombstones of rows the user deleted.
    Dead,
}

/// The stored side, compact.
#[derive(Default)]
struct Stored {
    fingerprints: Vec<([u8; 16], Pool)>,
    live_ids: HashSet<[u8; 16]>,
    dead_ids: HashSet<[u8; 16]>,
    /// Live rows for near matches: (amount, day, id, first 8 bytes of the fingerprint).
    near: Vec<(i64, i32, i64, u64)>,
}

fn fp_prefix(fp: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&fp[..8]);
    u64::from_le_bytes(b)
}

impl Stored {
    fn add(&mut self, k: DedupKey) {
        let ext = k
            .external_id
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(id_hash);
        let pool = match (k.deleted, ext.is_some()) {
            (true, _) => Pool::Dead,
            (false, true) => Pool::LiveWithId,
            (false, false) => Pool::LiveNoId,
        };
        if let Some(e) = ext {
            if k.deleted {
                self.dead_ids.insert(e);
            } else {
                self.live_ids.insert(e);
            }
        }
        if !k.deleted {
            self.near.push((
                k.amount_minor,
                k.posted_date.num_days_from_ce(),
                k.id,
                fp_prefix(&k.fingerprint),
            ));
        }
        self.fingerprints.push((k.fingerprint, pool));
    }
}

struct Decided {
    /// Per scanned row, in file order.
    decisions: Vec<Decision>,
    /// (scanned row, stored id) pairs to compare texts for, sorted by row.
    near: Vec<(u32, i64)>,
}

/// Settles every scanned row against the stored keys. Rows are grouped by fingerprint (both
/// lists sorted, then merged): within a group, rows whose unique bank id is stored (or deleted)
/// are settled first, then the others in file order, each taking one stored occurrence if one is
/// left. Rows left `New` are then swept against stored rows of the same amount a few days apart.
fn decide(scan: &Scan, mut stored: Stored, include_deleted: bool) -> Decided {
    let rows = &scan.rows;
    // Bank ids that occur exactly once in the file decide by themselves.
    let mut id_counts: HashMap<[u8; 16], u32> = HashMap::new();
    for e in &scan.ext_ids {
        *id_counts.entry(*e).or_default() += 1;
    }
    let unique_id = |r: &Scanned| -> Option<[u8; 16]> {
        (r.ext != NO_ID)
            .then(|| scan.ext_ids[r.ext as usize])
            .filter(|e| id_counts.get(e) == Some(&1))
    };
    // (fingerprint, row) pairs, sorted: each fingerprint's rows together, in file order.
    let mut order: Vec<([u8; 16], u32)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.fingerprint, i as u32))
        .collect();
    order.sort_unstable();
    stored.fingerprints.sort_unstable();
    let mut decisions = vec![Decision::New; rows.len()];
    let mut settled = vec![false; rows.len()];
    let mut si = 0;
    let mut gi = 0;
    while gi < order.len() {
        let fp = order[gi].0;
        let mut ge = gi;
        while ge < order.len() && order[ge].0 == fp {
            ge += 1;
        }
        while si < stored.fingerprints.len() && stored.fingerprints[si].0 < fp {
            si += 1;
        }
        let (mut with_id, mut no_id, mut dead) = (0usize, 0usize, 0usize);
        while si < stored.fingerprints.len() && stored.fingerprints[si].0 == fp {
            match stored.fingerprints[si].1 {
                Pool::LiveWithId => with_id += 1,
                Pool::LiveNoId => no_id += 1,
                Pool::Dead => dead += 1,
            }
            si += 1;
        }
        let take = |n: &mut usize| {
            if *n > 0 {
                *n -= 1;
                true
            } else {
                false
            }
        };
        let group = &order[gi..ge];
        // First the rows whose bank id is already stored: each is that stored row, which then
        // cannot match another row of the file, whatever their order.
        for &(_, i) in group {
            let i = i as usize;
            let Some(id) = unique_id(&rows[i]) else {
                continue;
            };
            if stored.live_ids.contains(&id) {
                take(&mut with_id);
                decisions[i] = Decision::Duplicate;
                settled[i] = true;
            } else if stored.dead_ids.contains(&id) && !include_deleted {
                take(&mut dead);
                decisions[i] = Decision::Deleted;
                settled[i] = true;
            }
        }
        for &(_, i) in group {
            let i = i as usize;
            if settled[i] {
                continue;
            }
            decisions[i] = if unique_id(&rows[i]).is_some() {
                // A stored row without a bank id (typed by hand) with the same fingerprint is
                // this row; a stored row with another bank id is a different transaction.
                if !include_deleted && take(&mut dead) {
                    Decision::Deleted
                } else if take(&mut no_id) {
                    Decision::Duplicate
                } else {
                    Decision::New
                }
            } else if take(&mut no_id) || take(&mut with_id) {
                Decision::Duplicate
            } else if !include_deleted && take(&mut dead) {
                Decision::Deleted
            } else {
                Decision::New
            };
        }
        gi = ge;
    }
    drop(settled);
    drop(order);

    // Near matches: new rows and live stored rows, both in (amount, day) order, swept together.
    let mut fresh: Vec<u32> = (0..rows.len() as u32)
        .filter(|i| decisions[*i as usize] == Decision::New)
        .collect();
    let mut near = Vec::new();
    if !stored.near.is_empty() && !fresh.is_empty() {
        let key = |i: &u32| {
            let r = &rows[*i as usize];
            (r.amount_minor, r.day)
        };
        fresh.sort_unstable_by_key(key);
        stored.near.sort_unstable();
        let mut lo = 0;
        for i in fresh {
            let r = &rows[i as usize];
            let from = (r.amount_minor, r.day - NEAR_DAYS);
            while lo < stored.near.len() && (stored.near[lo].0, stored.near[lo].1) < from {
                lo += 1;
            }
            let prefix = fp_prefix(&r.fingerprint);
            let mut found = 0;
            for &(amount, day, id, fp) in &stored.near[lo..] {
                if amount != r.amount_minor || day > r.day + NEAR_DAYS {
                    break;
                }
                if fp != prefix {
                    near.push((i, id));
                    found += 1;
                    if found == MAX_NEAR_PER_ROW {
                        break;
                    }
                }
            }
        }
        near.sort_unstable();
    }
    Decided { decisions, near }
}

/// Everything the second pass needs.
struct WritePlan {
    rows: Rows,
    /// Per good row, from the first pass; `None` when the account has no history (every good
    /// row is new, and bad rows are found by this pass).
    decisions: Option<Vec<Decision>>,
    near: Vec<(u32, i64)>,
    texts: HashMap<i64, String>,
    account: Account,
    source: String,
    file: String,
    dry_run: bool,
    skip_invalid: bool,
    expect_sha: String,
    expect_rows: usize,
    rows_read: usize,
    skipped: usize,
}

#[derive(Default)]
struct Written {
    rows_read: usize,
    skipped: usize,
    bad: Vec<String>,
    new: usize,
    flagged: usize,
    duplicates: usize,
    deleted: usize,
    decisions: Vec<RowDecision>,
}

/// The second pass (the only one for an account without history): reads the rows again and
/// sends the new ones to the store in chunks; sends `Done` (the store then commits) only when
/// the file read is the file that was decided on and no bad row stops it.
fn write_pass(
    plan: &WritePlan,
    progress: &dyn Progress,
    tx: tokio::sync::mpsc::Sender<ImportChunk>,
) -> Result<Written, ImportError> {
    let mut out = Written::default();
    let send = |chunk: ImportChunk| tx.blocking_send(chunk).is_ok();
    if let Some(decisions) = &plan.decisions
        && !plan.dry_run
        && !decisions.contains(&Decision::New)
    {
        // Nothing to add: the batch is recorded with its counts without reading the file again.
        out.rows_read = plan.rows_read;
        out.skipped = plan.skipped;
        out.duplicates = decisions
            .iter()
            .filter(|d| **d == Decision::Duplicate)
            .count();
        out.deleted = decisions.len() - out.duplicates;
        send(ImportChunk::Done(counts(&out)));
        return Ok(out);
    }
    let mut chunk: Vec<NewTransaction> = Vec::new();
    let mut k = 0usize; // index of the next good row
    let mut near_at = 0usize;
    let mut receiver_gone = false;
    let mut refused = false;
    let account = &plan.account;
    let bad = |out: &mut Written, reason: String| {
        out.skipped += 1;
        if out.bad.len() < MAX_REPORTED {
            out.bad.push(reason);
        }
    };
    let sha = plan
        .rows
        .each(&plan.file, "importing", progress, &mut |item| {
            out.rows_read += 1;
            let (t, p) = match item {
                Item::Bad(reason) => {
                    if plan.decisions.is_none() {
                        bad(&mut out, reason);
                        refused |= !plan.skip_invalid;
                    }
                    return true;
                }
                Item::Txn(t, currency) => match prepare(account, currency, t) {
                    Ok(p) => (t, p),
                    Err(e) => {
                        if plan.decisions.is_none() {
                            bad(&mut out, format!("line {}: {e}", t.line));
                            refused |= !plan.skip_invalid;
                        }
                        return true;
                    }
                },
            };
            let mut decision = match &plan.decisions {
                None => Decision::New,
                Some(d) => match d.get(k) {
                    Some(d) => *d,
                    // More rows than the first pass saw: the file changed; caught below.
                    None => {
                        k += 1;
                        return false;
                    }
                },
            };
            if decision == Decision::New {
                while near_at < plan.near.len() && (plan.near[near_at].0 as usize) < k {
                    near_at += 1;
                }
                while near_at < plan.near.len() && plan.near[near_at].0 as usize == k {
                    let id = plan.near[near_at].1;
                    if plan
                        .texts
                        .get(&id)
                        .is_some_and(|text| similarity(text, &p.payee) >= 0.5)
                    {
                        decision = Decision::Flagged;
                    }
                    near_at += 1;
                }
            }
            k += 1;
            match decision {
                Decision::New => out.new += 1,
                Decision::Flagged => {
                    out.new += 1;
                    out.flagged += 1;
                }
                Decision::Duplicate => out.duplicates += 1,
                Decision::Deleted => out.deleted += 1,
            }
            if plan.dry_run {
                out.decisions.push(RowDecision {
                    line: t.line,
                    date: t.date,
                    amount_minor: p.amount_minor,
                    payee: p.payee.to_string(),
                    decision,
                });
                return true;
            }
            // After a refused row the rest is only read, to count the bad rows.
            if refused || !matches!(decision, Decision::New | Decision::Flagged) {
                return true;
            }
            chunk.push(NewTransaction {
                account_id: account.id,
                posted_date: t.date,
                amount_minor: p.amount_minor,
                currency: account.currency,
                payee: p.payee.into_owned(),
                description: String::new(),
                memo: p.memo.into_owned(),
                category_id: None,
                status: TxStatus::Cleared,
                source: plan.source.clone(),
                import_batch_id: None,
                external_id: t
                    .external_id
                    .as_deref()
                    .map(clean)
                    .filter(|e| !e.is_empty())
                    .map(Cow::into_owned),
                transfer_id: None,
                needs_review: decision == Decision::Flagged,
            });
            if chunk.len() == CHUNK_ROWS {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
                if !send(ImportChunk::Rows(full)) {
                    receiver_gone = true;
                    return false;
                }
            }
            true
        })
        .map_err(|e| rows_error(e, &plan.file))?;
    if receiver_gone {
        // The store stopped (and says why); nothing was committed.
        return Ok(out);
    }
    if sha.is_some_and(|s| s != plan.expect_sha)
        || plan
            .decisions
            .as_ref()
            .is_some_and(|_| k != plan.expect_rows)
    {
        return Err(changed(&plan.file));
    }
    if refused {
        // Dropping the sender without `Done` rolls the store's transaction back.
        return Err(bad_rows(&plan.file, &out.bad, out.skipped));
    }
    if plan.decisions.is_some() {
        out.rows_read = plan.rows_read;
        out.skipped = plan.skipped;
    }
    if !plan.dry_run {
        if !chunk.is_empty() && !send(ImportChunk::Rows(chunk)) {
            return Ok(out);
        }
        send(ImportChunk::Done(counts(&out)));
    }
    Ok(out)
}

fn counts(out: &Written) -> ImportCounts {
    ImportCounts {
        rows_read: out.rows_read as i64,
        rows_new: out.new as i64,
        rows_duplicate: out.duplicates as i64,
        rows_flagged: out.flagged as i64,
        rows_skipped: (out.skipped + out.deleted) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_of(rows: &[(u8, Option<&str>)]) -> Scan {
        let mut s = Scan {
            rows: Vec::new(),
            ext_ids: Vec::new(),
            bad: Vec::new(),
            bad_count: 0,
            rows_read: rows.len(),
            first: None,
            last: None,
            sha: None,
        };
        for (fp, id) in rows {
            let ext = match id {
                Some(id) => {
                    s.ext_ids.push(id_hash(id));
                    (s.ext_ids.len() - 1) as u32
                }
                None => NO_ID,
            };
            s.rows.push(Scanned {
                fingerprint: [*fp; 16],
                amount_minor: -450,
                day: 738_000,
                ext,
            });
        }
        s
    }

    fn stored_of(keys: &[(u8, Option<&str>, bool)]) -> Stored {
        let mut s = Stored::default();
        for (i, (fp, id, deleted)) in keys.iter().enumerate() {
            s.add(DedupKey {
                id: i as i64 + 1,
                posted_date: NaiveDate::from_num_days_from_ce_opt(738_000).expect("d"),
                amount_minor: -450,
                fingerprint: [*fp; 16],
                external_id: id.map(str::to_string),
                deleted: *deleted,
            });
        }
        s
    }

    #[test]
    fn a_bank_id_match_is_not_also_used_by_an_identical_row() {
        let d = decide(
            &scan_of(&[(1, Some("X")), (1, None)]),
            stored_of(&[(1, Some("X"), false)]),
            false,
        );
        assert_eq!(d.decisions, vec![Decision::Duplicate, Decision::New]);
        let d = decide(
            &scan_of(&[(1, None), (1, Some("X"))]),
            stored_of(&[(1, Some("X"), false)]),
            false,
        );
        assert_eq!(
            d.decisions,
            vec![Decision::New, Decision::Duplicate],
            "the id decides, whatever the order"
        );
    }

    #[test]
    fn a_deleted_row_stays_deleted_even_when_the_file_has_bank_ids() {
        let d = decide(
            &scan_of(&[(1, Some("Y"))]),
            stored_of(&[(1, None, true)]),
            false,
        );
        assert_eq!(d.decisions, vec![Decision::Deleted]);
        let d = decide(
            &scan_of(&[(1, Some("Y"))]),
            stored_of(&[(1, None, true)]),
            true,
        );
        assert_eq!(d.decisions, vec![Decision::New]);
    }

    #[test]
    fn occurrences_beyond_the_stored_ones_are_new() {
        // Three identical coffees in the file, two stored: one is new, whatever the order of
        // the other fingerprints around them.
        let d = decide(
            &scan_of(&[(5, None), (1, None), (5, None), (9, None), (5, None)]),
            stored_of(&[(5, None, false), (9, None, false), (5, None, false)]),
            false,
        );
        assert_eq!(
            d.decisions,
            vec![
                Decision::Duplicate,
                Decision::New,
                Decision::Duplicate,
                Decision::Duplicate,
                Decision::New
            ]
        );
        // The new rows are near the stored ones (same amount and day, other fingerprint).
        let rows: Vec<u32> = d.near.iter().map(|(r, _)| *r).collect();
        assert!(rows.contains(&1) && rows.contains(&4), "{:?}", d.near);
        assert!(
            !d.near
                .iter()
                .any(|(r, id)| *r == 4 && (*id == 1 || *id == 3)),
            "the same fingerprint is not a near match of itself"
        );
    }

    #[test]
    fn similarity_is_word_overlap() {
        assert!(similarity("BLUE BOTTLE COFFEE #12", "Blue Bottle Coffee") >= 0.99);
        assert!(similarity("AMAZON MKTPLACE", "SAFEWAY") < 0.5);
        assert_eq!(similarity("", "x"), 0.0);
    }
}
