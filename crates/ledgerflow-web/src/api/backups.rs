//! `/api/v1/backups`: the backups' health and list, and "back up now".

use super::*;

pub(super) async fn backups(Admin(_): Admin, State(st): Shared) -> Answer<BackupStatus> {
    Ok(Json(backup_status(&st).await?))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct BackupParams {
    kind: Option<String>,
}

pub(super) async fn backup_now(
    Admin(who): Admin,
    State(st): Shared,
    Params(p): Params<BackupParams>,
) -> Created<ledgerflow_backup::Outcome> {
    let kind = match p.kind.as_deref() {
        None | Some("db") => ledgerflow_backup::Kind::Db,
        Some("full") => ledgerflow_backup::Kind::Full,
        Some(k) => {
            return Err(Problem::bad_request(format!(
                "unknown backup kind \"{k}\" (db or full)"
            )));
        }
    };
    tracing::info!(user = %who.user.name, kind = kind.as_str(), "backup requested from the web");
    let o = take_backup(&st, kind).await?;
    let code = if o.verified {
        StatusCode::CREATED
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    Ok((code, Json(o)))
}
