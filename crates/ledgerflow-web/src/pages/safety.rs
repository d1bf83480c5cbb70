//! The safety page: backup health and list, and "back up now".

use super::*;

#[derive(Template)]
#[template(path = "safety.html")]
pub(super) struct SafetyPage {
    nav: Nav,
    meta: Option<StoreMeta>,
    engine: String,
    location: String,
    schema_version: i64,
    journal_seq: i64,
    journal_hash: String,
    status: BackupStatus,
    last_backup_age: String,
    last_verified_age: String,
    message: String,
}

pub(super) fn age(t: Option<chrono::DateTime<Utc>>) -> String {
    let Some(t) = t else {
        return "never".into();
    };
    let d = Utc::now() - t;
    if d.num_minutes() < 1 {
        "just now".into()
    } else if d.num_hours() < 1 {
        format!("{} min ago", d.num_minutes())
    } else if d.num_days() < 2 {
        format!("{} h ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    }
}

pub(super) async fn safety(Admin(who): Admin, State(st): Shared) -> Page {
    let s = st.store.as_ref();
    let head = s.journal_head().await?;
    let status = backup_status(&st).await?;
    let (lb, lv) = status
        .health
        .as_ref()
        .map(|h| (h.last_backup_at, h.last_verified_at))
        .unwrap_or_default();
    render(SafetyPage {
        nav: nav(&st, &who, "safety").await?,
        meta: s.meta().await?,
        engine: s.engine().to_string(),
        location: s.location(),
        schema_version: s.schema_version().await?,
        journal_seq: head.head_seq,
        journal_hash: hex::encode(&head.head_hash[..8]),
        last_backup_age: age(lb),
        last_verified_age: age(lv),
        status,
        // The notice comes from the server (the backup just taken), never from the URL.
        message: st.web.take_flash(who.credential_id),
    })
}

pub(super) async fn backup_now(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Admin)?;
    let kind = if p.text("kind") == "full" {
        ledgerflow_backup::Kind::Full
    } else {
        ledgerflow_backup::Kind::Db
    };
    let message = match take_backup(&st, kind).await {
        Ok(o) if o.verified => format!(
            "Backup {} taken and verified ({}).",
            o.file
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default(),
            o.verification
        ),
        Ok(o) => format!("The backup FAILED verification: {}", o.verification),
        Err(e) => e.message,
    };
    st.web.set_flash(p.user.credential_id, message);
    Ok(Redirect::to("/safety").into_response())
}
