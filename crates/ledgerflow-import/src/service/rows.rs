//! The rows of a file as both passes see them: streamed from the source (a UTF-8 CSV) or taken
//! from a file parsed in memory (its chosen statement), each checked against the account
//! (currency, exact minor units, the limits of manual entry) before it counts as a row.

use std::borrow::Cow;
use std::io::{BufRead, BufReader};

use ledgerflow_core::model::Account;
use ledgerflow_core::service::check_text;

use super::error::{ImportError, ReadError};
use super::report::ImportSummary;
use super::source::{Hashing, Identity, Source};
use super::{ImportOptions, Progress};
use crate::csv::{CsvItem, Profile, StreamError};
use crate::model::{Format, ParseError, ParsedTxn, RowError};

/// One row as the passes see it.
pub(super) enum Item<'a> {
    Txn(&'a ParsedTxn, Option<&'a str>),
    Bad(String),
}

/// What a pass over the rows learned besides the rows.
#[derive(Debug, Default)]
pub(super) struct Passed {
    /// SHA-256 of the bytes read (streamed files only).
    pub(super) sha: Option<String>,
    /// Rows passed over as pending, empty or section lines (streamed CSVs; parsed files warn
    /// themselves).
    pub(super) passed: crate::csv::PassedOver,
}

/// How the rows are read: streamed from the source, or from a file parsed in memory.
pub(super) enum Rows {
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
    /// No rows: what a plan holds while its rows are away on the scan's thread.
    pub(super) fn empty() -> Self {
        Rows::Parsed {
            txns: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Calls `f` with every row in file order; returns the SHA-256 of the bytes read (streamed
    /// files only) and the rows passed over. `f` returns `false` to stop early.
    pub(super) fn each(
        &self,
        file: &str,
        label: &'static str,
        progress: &dyn Progress,
        f: &mut dyn FnMut(Item<'_>) -> bool,
    ) -> Result<Passed, RowsError> {
        match self {
            Rows::Parsed { txns, errors } => {
                progress.phase(label, (txns.len() + errors.len()) as u64);
                for e in errors {
                    if !f(Item::Bad(e.to_string())) {
                        return Ok(Passed::default());
                    }
                }
                for (i, (t, cur)) in txns.iter().enumerate() {
                    if i % 4096 == 0 {
                        progress.advance(4096.min((txns.len() - i) as u64));
                    }
                    if !f(Item::Txn(t, cur.as_deref())) {
                        return Ok(Passed::default());
                    }
                }
                Ok(Passed::default())
            }
            Rows::Stream {
                source,
                profile,
                total,
            } => {
                progress.phase(label, *total);
                let io = RowsError::Io;
                let mut hashing = Hashing::new(source.reader().map_err(io)?, progress);
                let mut passed = crate::csv::PassedOver::default();
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
                        Ok(summary) => passed = summary.passed,
                        Err(StreamError::Stopped) => {}
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
                let (sha, _) = hashing.finish().map_err(io)?;
                Ok(Passed {
                    sha: Some(sha),
                    passed,
                })
            }
        }
    }
}

/// Why a pass over the rows stopped.
pub(super) enum RowsError {
    /// Streamed, a field is not UTF-8 (it all was when it was hashed).
    NotUtf8,
    Parse(ParseError),
    Io(std::io::Error),
}

impl RowsError {
    /// As the import's error: a parse error is the file's fault; the others are reading's.
    pub(super) fn into_import(self, file: &str) -> ImportError {
        match self {
            RowsError::Parse(p) => ImportError::Parse(p),
            RowsError::Io(e) => ImportError::io(file, e),
            RowsError::NotUtf8 => ImportError::read(file, ReadError::Undecodable),
        }
    }
}

/// Step 2: how to read the file. A UTF-8 CSV is streamed (valid UTF-8 is read as UTF-8 whatever
/// a profile declares, as the whole-file decoder does); anything else is parsed in memory.
/// Returns the rows and the batch's source label (`wellsfargo_csv`, `ofx`, ...).
pub(super) async fn choose_reader(
    source: &Source,
    id: &Identity,
    file_name: &str,
    opts: &ImportOptions,
    summary: &mut ImportSummary,
) -> Result<(Rows, String), ImportError> {
    let format = match opts
        .format
        .or_else(|| opts.profile.as_ref().map(|_| Format::Csv))
        .or_else(|| crate::detect(&id.head))
    {
        Some(f) => f,
        None => {
            return Err(crate::parse(&id.head, file_name, None).err().map_or_else(
                || ImportError::Ambiguous(format!("{file_name}: the format is not recognised")),
                ImportError::Parse,
            ));
        }
    };
    summary.format = Some(format);
    let (rows, profile) = if format == Format::Csv && id.utf8 {
        let body = id.head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&id.head);
        let profile =
            crate::csv::settle_profile(body, opts.profile.as_ref()).map_err(|reason| {
                ParseError {
                    file: file_name.to_string(),
                    reason,
                }
            })?;
        let name = profile.name.clone();
        let rows = Rows::Stream {
            source: source.clone(),
            profile: Box::new(profile),
            total: id.total,
        };
        (rows, Some(name))
    } else {
        // Parsed whole, off the async threads: a PDF waits for pdftotext, the others are
        // CPU work.
        let (source, file, opts) = (source.clone(), file_name.to_string(), opts.clone());
        let (rows, profile, format, notes) = tokio::task::spawn_blocking(move || {
            let bytes = source.read_all().map_err(|e| ImportError::io(&file, e))?;
            parsed_rows(&bytes, &file, format, &opts)
        })
        .await
        .map_err(|e| ImportError::task(file_name, e))??;
        summary.format = Some(format);
        summary.evidence.extend(notes.evidence);
        summary.warnings.extend(notes.warnings);
        (rows, profile)
    };
    let label = match &profile {
        Some(p) => format!("{}_{}", p.replace('-', "_"), format.as_str()),
        None => format.as_str().to_string(),
    };
    Ok((rows, label))
}

/// What a parser says beside the rows: how it read the file, and what to look at.
struct Notes {
    evidence: Vec<String>,
    warnings: Vec<String>,
}

/// Parses a whole file in memory and picks its statement: the rows, the CSV profile or PDF
/// template used, the format read and the parser's notes.
fn parsed_rows(
    bytes: &[u8],
    file_name: &str,
    format: Format,
    opts: &ImportOptions,
) -> Result<(Rows, Option<String>, Format, Notes), ImportError> {
    let parsed = match format {
        Format::Qif => crate::qif::parse(bytes, file_name, opts.date_order)?,
        Format::Csv => crate::csv::parse(bytes, file_name, opts.profile.as_ref())?,
        Format::Pdf => crate::pdf::parse(bytes, file_name, &opts.pdf_templates)?,
        f => crate::parse(bytes, file_name, Some(f))?,
    };
    // Several statements of one account (an MT940 file of daily statements) are one import;
    // statements of different accounts need a choice.
    let mut accounts: Vec<Option<&str>> = parsed
        .statements
        .iter()
        .filter(|s| !s.transactions.is_empty())
        .map(|s| s.account.as_deref())
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    let with_rows = accounts.len();
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
            let ids: Vec<&str> = accounts.iter().map(|a| a.unwrap_or("?")).collect();
            return Err(ImportError::Ambiguous(format!(
                "{file_name} holds {with_rows} statements (accounts {}): import one with --statement ACCOUNT_ID",
                ids.join(", ")
            )));
        }
        None => (0..parsed.statements.len()).collect(),
    };
    let (profile, format) = (parsed.profile, parsed.format);
    let notes = Notes {
        evidence: parsed.evidence,
        warnings: parsed.warnings,
    };
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
        format,
        notes,
    ))
}

/// A row ready to be a transaction, or the reason it cannot be one.
pub(super) struct Prepared<'a> {
    pub(super) amount_minor: i64,
    pub(super) payee: Cow<'a, str>,
    pub(super) memo: Cow<'a, str>,
}

/// Control characters (a NUL from `&#0;`, say) are dropped: PostgreSQL refuses NUL in text.
pub(super) fn clean(s: &str) -> Cow<'_, str> {
    ledgerflow_core::error::plain_text(s)
}

pub(super) fn prepare<'a>(
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
