//! Importing a bank file through the page: upload, preview, confirm, undo.

use super::*;
use ledgerflow_import::csv::{Correction, Inferred, Profile, Role as ColumnKind};
use ledgerflow_import::service::{ImportOptions, Quiet, Source};

/// Uploaded files waiting for the user to confirm the preview (kept in memory for 30 minutes).
pub struct Uploads {
    pending: Mutex<HashMap<String, Upload>>,
    /// A preview reads the whole file and keeps every row's decision: two are made at once.
    previewing: tokio::sync::Semaphore,
}

impl Default for Uploads {
    fn default() -> Self {
        Uploads {
            pending: Mutex::default(),
            previewing: tokio::sync::Semaphore::new(2),
        }
    }
}

/// About what a preview holds in memory: every row's decision, its payee included.
fn preview_memory(summary: &ImportSummary) -> usize {
    summary
        .decisions
        .iter()
        .map(|d| std::mem::size_of::<ledgerflow_import::service::RowDecision>() + d.payee.len())
        .sum()
}

pub(super) struct Upload {
    user_id: i64,
    account_id: i64,
    file_name: String,
    /// The file, spooled to disk as it arrived.
    file: Arc<Spooled>,
    at: Instant,
    /// The dry run's outcome, shown page by page until the user confirms.
    summary: Arc<ImportSummary>,
    /// About what `summary` holds in memory.
    memory: usize,
    /// The reading inferred for a CSV no preset recognises (or as the user corrected it):
    /// shown as a form, and used on confirming.
    inferred: Option<Arc<Inferred>>,
    /// The saved profile remembered for the account that read this CSV, by name.
    remembered: Option<Profile>,
    /// Counts the readings: the confirm form names the one its page showed.
    version: u32,
    /// The user chose to skip unreadable rows (listed in the preview) and import the rest.
    skip_invalid: bool,
}

/// What the preview of a waiting upload shows.
#[derive(Clone)]
pub(super) struct Waiting {
    account_id: i64,
    file_name: String,
    file: Arc<Spooled>,
    summary: Arc<ImportSummary>,
    inferred: Option<Arc<Inferred>>,
    remembered: Option<Profile>,
    version: u32,
    skip_invalid: bool,
}

pub(super) const UPLOAD_TTL: Duration = Duration::from_secs(30 * 60);
pub(super) const MAX_PENDING_UPLOADS: usize = 16;
/// All waiting uploads' previews together hold at most this much memory (a preview keeps every
/// row's decision), and their files at most this much disk.
pub(super) const MAX_PENDING_MEMORY: usize = 512 * 1024 * 1024;
/// One preview holds at most this much (about 1.7 million rows).
pub(super) const MAX_PREVIEW_MEMORY: usize = 256 * 1024 * 1024;
pub(super) const MAX_PENDING_DISK: usize = 1024 * 1024 * 1024;

impl Upload {
    /// About what the upload's preview holds in memory: every row's decision.
    fn memory(&self) -> usize {
        self.memory
    }
}

impl Uploads {
    fn put(&self, u: Upload) -> String {
        let key = auth::new_secret("up_");
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, u| u.at.elapsed() < UPLOAD_TTL);
        let over = |map: &HashMap<String, Upload>| {
            let memory: usize = map.values().map(Upload::memory).sum();
            let disk: usize = map.values().map(|w| w.file.len).sum();
            map.len() >= MAX_PENDING_UPLOADS
                || memory + u.memory() > MAX_PENDING_MEMORY
                || disk + u.file.len > MAX_PENDING_DISK
        };
        while !map.is_empty() && over(&map) {
            // Room is made from the uploader's own older previews first, else from whoever
            // keeps the most.
            let mut held: HashMap<i64, usize> = HashMap::new();
            for w in map.values() {
                *held.entry(w.user_id).or_default() += 1;
            }
            let from = if held.contains_key(&u.user_id) {
                Some(u.user_id)
            } else {
                held.iter().max_by_key(|(_, n)| **n).map(|(user, _)| *user)
            };
            let oldest = map
                .iter()
                .filter(|(_, w)| Some(w.user_id) == from)
                .min_by_key(|(_, w)| w.at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(key.clone(), u);
        key
    }

    /// The preview of a waiting upload of this user's.
    fn waiting(&self, key: &str, user_id: i64) -> Option<Waiting> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        // Expired previews go (their files with them) whenever one is looked at.
        map.retain(|_, u| u.at.elapsed() < UPLOAD_TTL);
        match map.get(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => Some(Waiting {
                account_id: u.account_id,
                file_name: u.file_name.clone(),
                file: Arc::clone(&u.file),
                summary: Arc::clone(&u.summary),
                inferred: u.inferred.clone(),
                remembered: u.remembered.clone(),
                version: u.version,
                skip_invalid: u.skip_invalid,
            }),
            _ => None,
        }
    }

    /// Replaces a waiting upload's reading and preview (the user corrected the reading).
    fn reread(
        &self,
        key: &str,
        user_id: i64,
        summary: Arc<ImportSummary>,
        inferred: Arc<Inferred>,
    ) -> Option<u32> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => {
                u.memory = preview_memory(&summary);
                u.summary = summary;
                u.inferred = Some(inferred);
                u.version += 1;
                Some(u.version)
            }
            _ => None,
        }
    }

    /// Takes a waiting upload of this user's to import it, if its reading is still `version`
    /// (checked under the same lock as the taking: a reread cannot slip in between).
    fn take(&self, key: &str, user_id: i64, version: u32) -> Option<Upload> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(u)
                if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL && u.version == version =>
            {
                map.remove(key)
            }
            _ => None,
        }
    }
}

pub(super) struct BatchLine {
    b: ImportBatch,
    account: String,
    when: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
pub(super) struct ImportsPage {
    nav: Nav,
    accounts: Vec<Opt>,
    batches: Vec<BatchLine>,
    /// This user's imports still running, with their pages.
    running: Vec<RunningJob>,
    /// What the last action did (an undo).
    notice: String,
    error: String,
}

pub(super) async fn imports_page(st: &AppState, who: &CurrentUser, error: String) -> Page {
    let s = st.store.as_ref();
    let accounts = s.list_accounts(false).await?;
    let names: HashMap<i64, String> = s
        .list_accounts(true)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut batches = s.list_imports().await?;
    batches.sort_by_key(|b| std::cmp::Reverse(b.id));
    render_form(
        ImportsPage {
            nav: nav(st, who, "imports").await?,
            accounts: options(
                accounts.iter().map(|a| (a.id.to_string(), a.name.clone())),
                "",
            ),
            batches: batches
                .into_iter()
                .map(|b| BatchLine {
                    account: names.get(&b.account_id).cloned().unwrap_or_default(),
                    when: b.created_at.format("%Y-%m-%d %H:%M").to_string(),
                    b,
                })
                .collect(),
            running: st.web.import_jobs.running(who.user.id),
            notice: st.web.take_flash(who.credential_id),
            error: error.clone(),
        },
        &error,
    )
}

pub(super) async fn imports(Viewer(who): Viewer, State(st): Shared) -> Page {
    imports_page(&st, &who, String::new()).await
}

pub(super) struct DecisionLine {
    /// The line, and the page in a PDF.
    place: String,
    date: String,
    amount: String,
    payee: String,
    decision: &'static str,
}

/// One column of the reading form: what it holds now, the first cells, the roles to choose.
pub(super) struct MappingColumn {
    index: usize,
    header: String,
    samples: String,
    roles: Vec<Opt>,
}

/// The reading of a CSV no preset recognises, as a form the user corrects.
pub(super) struct MappingForm {
    columns: Vec<MappingColumn>,
    date_formats: Vec<Opt>,
    decimals: Vec<Opt>,
    thousands: Vec<Opt>,
    invert: bool,
    debit_flags: String,
}

impl MappingForm {
    fn of(i: &Inferred) -> MappingForm {
        let p = &i.profile;
        let mut formats = ledgerflow_import::csv::date_format_choices();
        if !formats.iter().any(|(f, _)| *f == p.date_format) {
            // A saved profile's own format stays choosable.
            formats.insert(0, ("", p.date_format.clone()));
        }
        MappingForm {
            columns: i
                .columns
                .iter()
                .map(|c| MappingColumn {
                    index: c.index,
                    header: c.header.clone(),
                    samples: c.samples.join(" · "),
                    roles: options(
                        ColumnKind::ALL
                            .iter()
                            .map(|r| (r.key().to_string(), r.label().to_string())),
                        c.kind.key(),
                    ),
                })
                .collect(),
            date_formats: options(
                formats.into_iter().map(|(f, example)| {
                    let f = if f.is_empty() {
                        p.date_format.clone()
                    } else {
                        f.to_string()
                    };
                    (f.clone(), format!("{example}  ({f})"))
                }),
                &p.date_format,
            ),
            decimals: options(
                [(".", "1234.56 (point)"), (",", "1234,56 (comma)")]
                    .map(|(v, l)| (v.to_string(), l.to_string())),
                &p.decimal,
            ),
            thousands: options(
                [
                    ("", "none"),
                    (",", "1,234"),
                    (".", "1.234"),
                    ("'", "1'234"),
                    ("space", "1 234"),
                ]
                .map(|(v, l)| (v.to_string(), l.to_string())),
                if p.thousands == " " {
                    "space"
                } else {
                    &p.thousands
                },
            ),
            invert: p.invert,
            debit_flags: p.debit_flags.join(", "),
        }
    }
}

#[derive(Template)]
#[template(path = "import_preview.html")]
pub(super) struct PreviewPage {
    nav: Nav,
    key: String,
    account: String,
    summary: Arc<ImportSummary>,
    /// A CSV no preset recognises: how it is read.
    inferred: Option<Arc<Inferred>>,
    /// That reading, as a form to correct it.
    mapping: Option<MappingForm>,
    /// Why the last correction was not taken.
    reading_error: String,
    /// That reading is ambiguous: shown, not importable until the user settles it.
    ambiguous: bool,
    /// The saved profile remembered for the account that read this CSV.
    remembered: String,
    /// The reading can be saved as a profile, remembered for the account, under this name.
    save_name: Option<String>,
    /// Read from a PDF statement's layout.
    pdf: bool,
    /// Which reading this page shows (the confirm form sends it back).
    version: u32,
    lines: Vec<DecisionLine>,
    /// Rows `first..=last` of `total` are on this page (1-based).
    first: usize,
    last: usize,
    total: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Rows per preview page.
pub(super) const PREVIEW_ROWS: usize = 500;

/// Where a decision sorts in the preview: what will be written (flagged, then new) first.
pub(super) fn decision_rank(d: Decision) -> u8 {
    match d {
        Decision::Flagged => 0,
        Decision::New => 1,
        Decision::Duplicate => 2,
        Decision::Deleted => 3,
    }
}

/// A text field of the upload form.
/// A text field of the upload form (a token, an account, a checkbox): a few KiB at most.
async fn field_text(mut field: axum::extract::multipart::Field<'_>) -> Result<String, Problem> {
    const MAX: usize = 4096;
    let mut text = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| upload_problem(e, "the upload is not valid"))?
    {
        if text.len() + chunk.len() > MAX {
            return Err(Problem::bad_request(
                "the upload is not valid: a form field is too long",
            ));
        }
        text.extend_from_slice(&chunk);
    }
    String::from_utf8(text)
        .map_err(|_| Problem::bad_request("the upload is not valid: a form field is not UTF-8"))
}

/// The dry run of an upload read with `profile` (`None`: as detected), every row in the order
/// the preview shows them: what will be written first, then in file order.
async fn dry_run(
    st: &AppState,
    who: &CurrentUser,
    account: &Account,
    file_name: &str,
    file: &Spooled,
    profile: Option<Profile>,
    skip_invalid: bool,
) -> Result<ImportSummary, Problem> {
    let opts = ImportOptions {
        dry_run: true,
        skip_invalid,
        profile,
        pdf_templates: st.web.pdf_templates.clone(),
        ..Default::default()
    };
    let _turn = st.web.uploads.previewing.acquire().await;
    let mut summary = import_upload(
        st.store.as_ref(),
        who,
        account,
        file_name,
        file.source(),
        &opts,
        Arc::new(Quiet),
    )
    .await?;
    if preview_memory(&summary) > MAX_PREVIEW_MEMORY {
        return Err(Problem::bad_request(format!(
            "{file_name} has {} rows: more than a preview on the web can hold (it keeps every row's decision until you confirm). Split the file by date, or import it on the command line (`ledgerflow import FILE --account NAME`), which takes files of any size.",
            summary.rows_read
        )));
    }
    summary
        .decisions
        .sort_by_key(|d| (decision_rank(d.decision), d.page, d.line));
    Ok(summary)
}

/// An uploaded file, written to a private temporary file as it arrives (created afresh, mode
/// 0600, removed when the last holder lets it go): however large, it is never held in memory,
/// and the import streams it from there like a file given to the CLI.
pub(super) struct Spooled {
    path: tempfile::TempPath,
    len: usize,
}

/// How much of an unrecognised CSV is read to infer its layout (the CLI's `csv:auto` reads as
/// much).
const LAYOUT_HEAD: usize = 1 << 20;

impl Spooled {
    /// The file's first megabyte, and whether that is the whole file.
    fn head(&self) -> Result<(Vec<u8>, bool), Problem> {
        use std::io::Read;
        let mut head = Vec::with_capacity(self.len.min(LAYOUT_HEAD));
        std::fs::File::open(&self.path)
            .and_then(|f| f.take(LAYOUT_HEAD as u64).read_to_end(&mut head))
            .map_err(|e| {
                Problem::internal(format!("the uploaded file cannot be read back: {e}"))
            })?;
        Ok((head, self.len <= LAYOUT_HEAD))
    }

    fn source(&self) -> Source {
        Source::Path(self.path.to_path_buf())
    }
}

/// Why an upload could not be read: a file over the limit says so, in the page's words.
fn upload_problem(e: axum::extract::multipart::MultipartError, what: &str) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is larger than {} MiB, the most the import page takes: export a shorter period from the bank, or import it on the command line (`ledgerflow import FILE`), which takes files of any size.",
                MAX_PAGE_UPLOAD >> 20
            ),
        )
    } else {
        Problem::bad_request(format!("{what}: {e}"))
    }
}

/// Spools the upload's file field to disk as it arrives.
async fn spool(mut field: axum::extract::multipart::Field<'_>) -> Result<Spooled, Problem> {
    use tokio::io::AsyncWriteExt;
    let here = |e: std::io::Error| {
        Problem::internal(format!("the upload cannot be kept on this machine: {e}"))
    };
    let (file, path) = tempfile::Builder::new()
        .prefix("ledgerflow-upload-")
        .tempfile()
        .map_err(here)?
        .into_parts();
    let mut out = tokio::io::BufWriter::with_capacity(1 << 16, tokio::fs::File::from_std(file));
    let mut len = 0usize;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| upload_problem(e, "the upload did not arrive whole"))?
    {
        len += chunk.len();
        out.write_all(&chunk).await.map_err(here)?;
    }
    out.flush().await.map_err(here)?;
    Ok(Spooled { path, len })
}

pub(super) async fn upload(State(st): Shared, headers: HeaderMap, mut form: Multipart) -> Page {
    let who = auth::authenticate(&st, &headers)
        .await?
        .ok_or_else(|| Problem::unauthorized("sign in first"))?;
    // Who may upload, and the form's token (sent before the file), are checked before a byte
    // of the file is kept.
    who.require(Role::Editor)?;
    let (mut csrf, mut account, mut file_name, mut file) = (None, None, String::new(), None);
    let mut skip_invalid = false;
    let read = async {
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| upload_problem(e, "the upload is not valid"))?
        {
            match field.name().unwrap_or_default() {
                "csrf" => csrf = Some(field_text(field).await?),
                "account" => account = Some(field_text(field).await?),
                "skip_invalid" => skip_invalid = field_text(field).await? == "on",
                "file" => {
                    who.check_csrf(csrf.as_deref())?;
                    // A label only: bounded, whatever the browser sends.
                    file_name = field
                        .file_name()
                        .unwrap_or("upload")
                        .chars()
                        .take(255)
                        .collect();
                    file = Some(spool(field).await?);
                }
                _ => {}
            }
        }
        Ok::<(), Problem>(())
    };
    match read.await {
        // Shown on the import page (it changes nothing, so before the CSRF check).
        Err(e) if e.status.is_client_error() => {
            return imports_page(&st, &who, e.message).await;
        }
        other => other?,
    }
    who.check_csrf(csrf.as_deref())?;
    let s = st.store.as_ref();
    let Some(account) = account.filter(|a| !a.is_empty()) else {
        return imports_page(&st, &who, "Choose the account the file belongs to.".into()).await;
    };
    let Some(file) = file.filter(|f| f.len > 0).map(Arc::new) else {
        return imports_page(&st, &who, "Choose a file to upload (it was empty).".into()).await;
    };
    let (head, whole) = file.head()?;
    let account = service::account_by_id_or_name(s, &account).await?;
    // A CSV nothing recognises: read with the profile remembered for the account when it
    // reads the file cleanly, else previewed as LedgerFlow infers it, for the user to check.
    let (remembered, misfit) = match st.web.csv_profiles.as_ref() {
        Some(saved) => match saved.remembered_reading(account.id, &head, whole) {
            Ok(p) => (p, String::new()),
            Err(why) => (None, format!("Note: {why}, so it is read afresh below.")),
        },
        None => (None, String::new()),
    };
    let inferred = match remembered {
        Some(_) => None,
        None => ledgerflow_import::csv::infer_unrecognised(&head, whole)
            .map(|i| Arc::new(i.for_account(&account))),
    };
    let profile = remembered
        .clone()
        .or_else(|| inferred.as_ref().map(|i| i.profile.clone()));
    let summary = match dry_run(
        &st,
        &who,
        &account,
        &file_name,
        &file,
        profile,
        skip_invalid,
    )
    .await
    {
        Ok(summary) => Arc::new(summary),
        Err(e) if e.status.is_client_error() => {
            return imports_page(&st, &who, e.message).await;
        }
        Err(e) => return Err(e),
    };
    let key = st.web.uploads.put(Upload {
        user_id: who.user.id,
        account_id: account.id,
        file_name: file_name.clone(),
        file: Arc::clone(&file),
        at: Instant::now(),
        memory: preview_memory(&summary),
        summary: Arc::clone(&summary),
        inferred: inferred.clone(),
        remembered: remembered.clone(),
        version: 0,
        skip_invalid,
    });
    let w = Waiting {
        account_id: account.id,
        file_name,
        file,
        summary,
        inferred,
        remembered,
        version: 0,
        skip_invalid,
    };
    preview(&st, &who, key, &account, w, 1, misfit).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct PageParam {
    page: String,
}

const EXPIRED: &str = "That preview is no longer kept (it expired after 30 minutes, its file was imported already, or it made room for newer uploads): upload the file again.";

/// Another page of a waiting upload's preview.
pub(super) async fn preview_page(
    Editor(who): Editor,
    State(st): Shared,
    Path(key): Path<String>,
    Query(p): Query<PageParam>,
) -> Page {
    let page = p.page.trim().parse::<usize>().unwrap_or(1).max(1);
    let Some(w) = st.web.uploads.waiting(&key, who.user.id) else {
        return imports_page(&st, &who, EXPIRED.into()).await;
    };
    let account = st.store.get_account(w.account_id).await?;
    preview(&st, &who, key, &account, w, page, String::new()).await
}

/// The reading as the form sent it.
fn correction(p: &Posted, columns: usize) -> Correction {
    Correction {
        roles: (0..columns)
            .map(|i| {
                ColumnKind::from_key(&p.text(&format!("col{i}"))).unwrap_or(ColumnKind::Ignored)
            })
            .collect(),
        date_format: p.text("date_format").chars().take(40).collect(),
        decimal: p.text("decimal"),
        thousands: p.get("thousands").unwrap_or_default().to_string(),
        invert: p.get("invert").is_some(),
        debit_flags: p
            .text("debit_flags")
            .chars()
            .take(400)
            .collect::<String>()
            .split(',')
            .map(str::to_string)
            .collect(),
    }
}

/// The user corrected the inferred reading: the preview is read again with it.
pub(super) async fn correct_reading(State(st): Shared, Path(key): Path<String>, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let Some(mut w) = st.web.uploads.waiting(&key, p.user.user.id) else {
        return imports_page(&st, &p.user, EXPIRED.into()).await;
    };
    let account = st.store.get_account(w.account_id).await?;
    let Some(inferred) = w.inferred.clone() else {
        return preview(&st, &p.user, key, &account, w, 1, String::new()).await;
    };
    let (head, whole) = w.file.head()?;
    let head = if whole {
        &head[..]
    } else {
        // A line cut at the end of the head is not held against the reading.
        &head[..head.iter().rposition(|b| *b == b'\n').unwrap_or(0)]
    };
    let corrected = match inferred.corrected(&correction(&p, inferred.columns.len()), head) {
        Ok(c) => Arc::new(c),
        Err(why) => {
            let why = format!("That reading was not taken: {why}.");
            return preview(&st, &p.user, key, &account, w, 1, why).await;
        }
    };
    let summary = match dry_run(
        &st,
        &p.user,
        &account,
        &w.file_name,
        &w.file,
        Some(corrected.profile.clone()),
        w.skip_invalid,
    )
    .await
    {
        Ok(summary) => Arc::new(summary),
        Err(e) if e.status.is_client_error() => {
            let why = format!("That reading was not taken: {}", e.message);
            return preview(&st, &p.user, key, &account, w, 1, why).await;
        }
        Err(e) => return Err(e),
    };
    let Some(version) = st.web.uploads.reread(
        &key,
        p.user.user.id,
        Arc::clone(&summary),
        Arc::clone(&corrected),
    ) else {
        return imports_page(&st, &p.user, EXPIRED.into()).await;
    };
    w.version = version;
    tracing::info!(user = %p.user.user.name, file = %w.file_name, "CSV reading corrected in the web preview");
    w.summary = summary;
    w.inferred = Some(corrected);
    preview(&st, &p.user, key, &account, w, 1, String::new()).await
}

pub(super) async fn preview(
    st: &AppState,
    who: &CurrentUser,
    key: String,
    account: &Account,
    w: Waiting,
    page: usize,
    reading_error: String,
) -> Page {
    let summary = w.summary;
    let total = summary.decisions.len();
    let pages = total.div_ceil(PREVIEW_ROWS).max(1);
    let page = page.min(pages);
    let start = (page - 1) * PREVIEW_ROWS;
    let lines: Vec<DecisionLine> = summary
        .decisions
        .iter()
        .skip(start)
        .take(PREVIEW_ROWS)
        .map(|d| DecisionLine {
            place: match d.page {
                Some(p) => format!("p. {p}, l. {}", d.line),
                None => d.line.to_string(),
            },
            date: d.date.to_string(),
            amount: account.currency.format_minor(d.amount_minor),
            payee: d.payee.clone(),
            decision: match d.decision {
                Decision::New => "new",
                Decision::Flagged => "new (looks like a stored row: review)",
                Decision::Duplicate => "duplicate (skipped)",
                Decision::Deleted => "deleted before (skipped)",
            },
        })
        .collect();
    let pdf = summary.format == Some(ledgerflow_import::Format::Pdf);
    let inferred = w.inferred;
    // A new name: a saved profile is never replaced from here (another file may need it).
    let save_name = match (&inferred, &st.web.csv_profiles) {
        (Some(_), Some(saved)) => Some(saved.free_name(&account.name)),
        _ => None,
    };
    render(PreviewPage {
        nav: nav(st, who, "imports").await?,
        key,
        account: account.name.clone(),
        first: if total == 0 { 0 } else { start + 1 },
        last: start + lines.len(),
        total,
        prev: (page > 1).then(|| page - 1),
        next: (page < pages).then(|| page + 1),
        summary,
        ambiguous: inferred.as_ref().is_some_and(|i| i.settled().is_err()),
        mapping: inferred.as_deref().map(MappingForm::of),
        reading_error,
        remembered: w.remembered.map(|p| p.name).unwrap_or_default(),
        save_name,
        pdf,
        version: w.version,
        inferred,
        lines,
    })
}

pub(super) async fn confirm_import(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let key = p.text("upload");
    // Pressed twice: the second press shows the first one's import.
    if st.web.import_jobs.exists(&key, p.user.user.id) {
        return show_running_job(&st, &p.user, &key).await;
    }
    let Some(w) = st.web.uploads.waiting(&key, p.user.user.id) else {
        return imports_page(&st, &p.user, EXPIRED.into()).await;
    };
    if let Some(Err(why)) = w.inferred.as_ref().map(|i| i.settled()) {
        return imports_page(&st, &p.user, format!("{}: {why}", w.file_name)).await;
    }
    let s = st.store.as_ref();
    let account = s.get_account(w.account_id).await?;
    // The rows imported are the rows this page showed: a reading changed since (in another
    // tab) is shown again first. (A form without the field predates readings: the first.)
    let shown_version = p.get("reading").unwrap_or("0").trim().parse::<u32>().ok();
    const CHANGED: &str = "The reading changed after this page was shown (in another tab?): check the rows below, then import.";
    if shown_version != Some(w.version) {
        return preview(&st, &p.user, key, &account, w, 1, CHANGED.into()).await;
    }
    // The reading is saved as a profile, remembered for the account, when the user asks: the
    // name is checked before anything is imported.
    let save = match (&w.inferred, &st.web.csv_profiles, p.get("save")) {
        (Some(i), Some(saved), Some(_)) => {
            let name = p.text("save_as");
            let mut profile = i.profile.clone();
            profile.name = name.clone();
            if let Err(why) = ledgerflow_import::csv::check_profile_name(&name) {
                return preview(&st, &p.user, key, &account, w, 1, why).await;
            }
            if saved.exists(&name) {
                let why = format!(
                    "A profile \"{name}\" is already saved (other files may be read with it): choose another name."
                );
                return preview(&st, &p.user, key, &account, w, 1, why).await;
            }
            Some(profile)
        }
        _ => None,
    };
    // A few imports at a time: past that the preview stays, and says why.
    if let Some(why) = st.web.import_jobs.refuse(p.user.user.id) {
        return preview(&st, &p.user, key, &account, w, 1, why).await;
    }
    let Some(u) = st.web.uploads.take(&key, p.user.user.id, w.version) else {
        // Reread in the meantime, or gone.
        return match st.web.uploads.waiting(&key, p.user.user.id) {
            Some(now) => preview(&st, &p.user, key, &account, now, 1, CHANGED.into()).await,
            None if st.web.import_jobs.exists(&key, p.user.user.id) => {
                show_running_job(&st, &p.user, &key).await
            }
            None => imports_page(&st, &p.user, EXPIRED.into()).await,
        };
    };
    let opts = ImportOptions {
        profile: u
            .inferred
            .as_ref()
            .map(|i| i.profile.clone())
            .or(u.remembered),
        pdf_templates: st.web.pdf_templates.clone(),
        skip_invalid: u.skip_invalid,
        ..Default::default()
    };
    // The preview's rows (a large file's take much memory) are let go before the import runs:
    // only the bytes go on.
    let Upload {
        file: spooled,
        file_name,
        ..
    } = u;
    drop(w);
    let (state, who, into) = (st.clone(), p.user.clone(), account.clone());
    let label = file_name.clone();
    run_import_job(&st, &p.user, key, &account, label, move |progress| async move {
        let summary = import_upload(
            state.store.as_ref(),
            &who,
            &into,
            &file_name,
            spooled.source(),
            &opts,
            progress,
        )
        .await?;
        tracing::info!(user = %who.user.name, file = %file_name, new = summary.new, "imported from the web");
        let mut notice = imported_notice(&summary);
        if let (Some(profile), Some(saved)) = (save, &state.web.csv_profiles) {
            let note = format!(
                "Saved from the web import of {} into \"{}\"",
                ledgerflow_core::error::shown(&file_name),
                into.name
            );
            let kept = saved
                .save(&profile, &note, false)
                .and_then(|_| saved.remember(into.id, &profile.name));
            notice.push_str(&match kept {
                Ok(()) => format!(
                    " The reading is saved as profile \"{}\" and used for this account's next CSV like it.",
                    profile.name
                ),
                Err(e) => {
                    tracing::warn!(profile = %profile.name, "profile not saved: {e}");
                    format!(" The reading could not be saved as a profile: {e}")
                }
            });
        }
        let to = match summary.batch_id.or(summary.already_imported) {
            Some(b) => format!("/transactions?batch={b}"),
            None => "/imports".to_string(),
        };
        Ok(Finished { to, notice })
    })
    .await
}

/// "1 row", "2 rows".
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// What the page says once an import is done.
fn imported_notice(summary: &ImportSummary) -> String {
    match (summary.batch_id, summary.already_imported) {
        (Some(b), _) => format!(
            "Imported {} ({} flagged for review, {} skipped{}) as batch {b}; the Imports page can undo it.",
            counted(summary.new, "new row"),
            summary.flagged,
            counted(summary.duplicates, "duplicate"),
            if summary.skipped > 0 {
                format!(", {} skipped", counted(summary.skipped, "unreadable row"))
            } else {
                String::new()
            }
        ),
        (None, Some(b)) => {
            format!("Nothing new: this very file was already imported as batch {b}.")
        }
        (None, None) => "Nothing was imported.".to_string(),
    }
}

pub(super) async fn undo_import(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let removed = undo_batch(&st, &p.user, id).await?;
    st.web.set_flash(
        p.user.credential_id,
        format!(
            "Import {id} undone: {removed} transaction{} removed (the journal keeps them).",
            if removed == 1 { "" } else { "s" }
        ),
    );
    Ok(Redirect::to("/imports").into_response())
}
