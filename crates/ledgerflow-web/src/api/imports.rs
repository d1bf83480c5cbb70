//! `/api/v1/imports`: list imports, import a file's bytes, undo an import.

use super::*;
use ledgerflow_import::service::{ImportOptions, Quiet, Source};

pub(super) async fn list_imports(Viewer(_): Viewer, State(st): Shared) -> Answer<Vec<ImportBatch>> {
    Ok(Json(st.store.list_imports().await?))
}

#[derive(Deserialize)]
pub(super) struct ImportParams {
    /// The account id or name.
    account: String,
    /// The file's name (its extension helps detect the format).
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    skip_invalid: bool,
    /// `csv:auto`: read a CSV no preset recognises as LedgerFlow infers it (see the dry run's
    /// `inferred`); otherwise the format is detected.
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn create_import(
    Editor(who): Editor,
    State(st): Shared,
    Params(p): Params<ImportParams>,
    body: Bytes,
) -> Created<ImportSummary> {
    let s = st.store.as_ref();
    let account = service::account_by_id_or_name(s, &p.account).await?;
    // A label only: bounded and printable, whatever the client sends.
    let name: String = p
        .file_name
        .unwrap_or_else(|| "upload".into())
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect();
    let profile = match p.format.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(f) if f.eq_ignore_ascii_case("csv:auto") => Some({
            let inferred = ledgerflow_import::csv::infer_bytes(&body, true)
                .map_err(|why| {
                    Problem::bad_request(format!("{name}: no reading could be inferred ({why})"))
                })?
                .for_account(&account);
            inferred
                .settled()
                .map_err(|why| Problem::bad_request(format!("{name}: {why}")))?;
            inferred.profile
        }),
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "format \"{}\" is not known here: leave it out to detect the format, or csv:auto",
                ledgerflow_core::error::shown(other)
            )));
        }
    };
    let opts = ImportOptions {
        dry_run: p.dry_run,
        skip_invalid: p.skip_invalid,
        profile,
        pdf_templates: st.web.pdf_templates.clone(),
        ..Default::default()
    };
    let summary = import_upload(
        s,
        &who,
        &account,
        &name,
        Source::shared(body),
        &opts,
        std::sync::Arc::new(Quiet),
    )
    .await?;
    let code = if summary.batch_id.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(summary)))
}

pub(super) async fn undo_import(
    Editor(who): Editor,
    State(st): Shared,
    Path(id): Path<i64>,
) -> Answer<serde_json::Value> {
    let removed = undo(&st, &who, id).await?;
    Ok(Json(serde_json::json!({ "batch": id, "removed": removed })))
}
