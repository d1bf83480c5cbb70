//! Importing a bank file through the page: upload, preview, confirm, undo.

use super::*;
use ledgerflow_import::csv::Inferred;
use ledgerflow_import::service::ImportOptions;

/// Uploaded files waiting for the user to confirm the preview (kept in memory for 30 minutes).
#[derive(Default)]
pub struct Uploads {
    pending: Mutex<HashMap<String, Upload>>,
}

pub(super) struct Upload {
    user_id: i64,
    account_id: i64,
    file_name: String,
    bytes: Vec<u8>,
    at: Instant,
    /// The dry run's outcome, shown page by page until the user confirms.
    summary: Arc<ImportSummary>,
    /// The reading inferred for a CSV no preset recognises: shown, and used on confirming.
    inferred: Option<Arc<Inferred>>,
}

pub(super) const UPLOAD_TTL: Duration = Duration::from_secs(30 * 60);
pub(super) const MAX_PENDING_UPLOADS: usize = 16;
/// All waiting uploads together hold at most this many bytes (the oldest go first).
pub(super) const MAX_PENDING_BYTES: usize = 256 * 1024 * 1024;

impl Uploads {
    fn put(&self, u: Upload) -> String {
        let key = auth::new_secret("up_");
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, u| u.at.elapsed() < UPLOAD_TTL);
        while map.len() >= MAX_PENDING_UPLOADS
            || (!map.is_empty()
                && map.values().map(|u| u.bytes.len()).sum::<usize>() + u.bytes.len()
                    > MAX_PENDING_BYTES)
        {
            let oldest = map.iter().min_by_key(|(_, u)| u.at).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(key.clone(), u);
        key
    }

    /// The preview of a waiting upload of this user's.
    fn summary(
        &self,
        key: &str,
        user_id: i64,
    ) -> Option<(i64, Arc<ImportSummary>, Option<Arc<Inferred>>)> {
        let map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => {
                Some((u.account_id, Arc::clone(&u.summary), u.inferred.clone()))
            }
            _ => None,
        }
    }

    fn take(&self, key: &str, user_id: i64) -> Option<Upload> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(u) if u.user_id == user_id && u.at.elapsed() < UPLOAD_TTL => map.remove(key),
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

#[derive(Template)]
#[template(path = "import_preview.html")]
pub(super) struct PreviewPage {
    nav: Nav,
    key: String,
    account: String,
    summary: Arc<ImportSummary>,
    /// A CSV no preset recognises: how it is read.
    inferred: Option<Arc<Inferred>>,
    /// That reading is ambiguous: shown, not importable.
    ambiguous: bool,
    /// Read from a PDF statement's layout.
    pdf: bool,
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
async fn field_text(field: axum::extract::multipart::Field<'_>) -> Result<String, Problem> {
    field
        .text()
        .await
        .map_err(|e| Problem::bad_request(e.to_string()))
}

pub(super) async fn upload(State(st): Shared, headers: HeaderMap, mut form: Multipart) -> Page {
    let who = auth::authenticate(&st, &headers)
        .await?
        .ok_or_else(|| Problem::unauthorized("sign in first"))?;
    let (mut csrf, mut account, mut file_name, mut bytes) = (None, None, String::new(), None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| Problem::bad_request(format!("the upload is not valid: {e}")))?
    {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = Some(field_text(field).await?),
            "account" => account = Some(field_text(field).await?),
            "file" => {
                // A label only: bounded, whatever the browser sends.
                file_name = field
                    .file_name()
                    .unwrap_or("upload")
                    .chars()
                    .take(255)
                    .collect();
                bytes = Some(field.bytes().await.map_err(|e| {
                    Problem::bad_request(format!("the upload did not arrive whole: {e}"))
                })?);
            }
            _ => {}
        }
    }
    who.check_csrf(csrf.as_deref())?;
    who.require(Role::Editor)?;
    let s = st.store.as_ref();
    let Some(account) = account.filter(|a| !a.is_empty()) else {
        return imports_page(&st, &who, "Choose the account the file belongs to.".into()).await;
    };
    let bytes = bytes.unwrap_or_default();
    if bytes.is_empty() {
        return imports_page(&st, &who, "Choose a file to upload (it was empty).".into()).await;
    }
    let account = service::account_by_id_or_name(s, &account).await?;
    // A CSV nothing recognises: previewed as LedgerFlow infers it, for the user to check.
    let inferred = ledgerflow_import::csv::infer_unrecognised(&bytes, true).map(Arc::new);
    let profile = inferred.as_ref().map(|i| i.profile.clone());
    let opts = ImportOptions {
        dry_run: true,
        profile,
        pdf_templates: st.web.pdf_templates.clone(),
        ..Default::default()
    };
    let mut summary = match import_bytes(s, &who, &account, &file_name, &bytes, &opts).await {
        Ok(summary) => summary,
        Err(e) if e.status.is_client_error() => {
            return imports_page(&st, &who, e.message).await;
        }
        Err(e) => return Err(e),
    };
    // Every row is shown, page by page: what will be written first, then in file order.
    summary
        .decisions
        .sort_by_key(|d| (decision_rank(d.decision), d.page, d.line));
    let summary = Arc::new(summary);
    let key = st.web.uploads.put(Upload {
        user_id: who.user.id,
        account_id: account.id,
        file_name,
        bytes: bytes.to_vec(),
        at: Instant::now(),
        summary: Arc::clone(&summary),
        inferred: inferred.clone(),
    });
    preview(&st, &who, key, &account, summary, inferred, 1).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct PageParam {
    page: String,
}

/// Another page of a waiting upload's preview.
pub(super) async fn preview_page(
    Editor(who): Editor,
    State(st): Shared,
    Path(key): Path<String>,
    Query(p): Query<PageParam>,
) -> Page {
    let page = p.page.trim().parse::<usize>().unwrap_or(1).max(1);
    let Some((account_id, summary, inferred)) = st.web.uploads.summary(&key, who.user.id) else {
        return imports_page(
            &st,
            &who,
            "That upload has expired (or was already imported): upload the file again.".into(),
        )
        .await;
    };
    let account = st.store.get_account(account_id).await?;
    preview(&st, &who, key, &account, summary, inferred, page).await
}

pub(super) async fn preview(
    st: &AppState,
    who: &CurrentUser,
    key: String,
    account: &Account,
    summary: Arc<ImportSummary>,
    inferred: Option<Arc<Inferred>>,
    page: usize,
) -> Page {
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
        pdf,
        inferred,
        lines,
    })
}

pub(super) async fn confirm_import(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    let Some(u) = st.web.uploads.take(&p.text("upload"), p.user.user.id) else {
        return imports_page(
            &st,
            &p.user,
            "That upload has expired (or was already imported): upload the file again.".into(),
        )
        .await;
    };
    if let Some(Err(why)) = u.inferred.as_ref().map(|i| i.settled()) {
        return imports_page(&st, &p.user, format!("{}: {why}", u.file_name)).await;
    }
    let s = st.store.as_ref();
    let account = s.get_account(u.account_id).await?;
    let opts = ImportOptions {
        profile: u.inferred.as_ref().map(|i| i.profile.clone()),
        pdf_templates: st.web.pdf_templates.clone(),
        ..Default::default()
    };
    let summary = import_bytes(s, &p.user, &account, &u.file_name, &u.bytes, &opts).await?;
    tracing::info!(user = %p.user.user.name, file = %u.file_name, new = summary.new, "imported from the web");
    let to = match summary.batch_id.or(summary.already_imported) {
        Some(b) => format!("/transactions?batch={b}"),
        None => "/imports".to_string(),
    };
    Ok(Redirect::to(&to).into_response())
}

pub(super) async fn undo_import(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Editor)?;
    undo_batch(&st, &p.user, id).await?;
    Ok(Redirect::to("/imports").into_response())
}
