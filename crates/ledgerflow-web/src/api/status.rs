//! `/api/v1/status` and `/api/v1/me`: the store's state and who is asking.

use super::*;

#[derive(Serialize)]
pub(super) struct Me {
    name: String,
    role: Role,
    via: &'static str,
}

pub(super) async fn me(Viewer(who): Viewer) -> Json<Me> {
    Json(Me {
        name: who.user.name.clone(),
        role: who.user.role,
        via: match who.via {
            crate::auth::Via::Session { .. } => "session",
            crate::auth::Via::Token { .. } => "token",
        },
    })
}

#[derive(Serialize)]
pub(super) struct StatusBody {
    version: &'static str,
    engine: String,
    environment: Option<String>,
    protected: bool,
    schema_version: i64,
    lineage_id: Option<String>,
    counts: ledgerflow_core::model::Counts,
    journal: ledgerflow_core::journal::JournalHead,
}

pub(super) async fn status(Viewer(_): Viewer, State(st): Shared) -> Answer<StatusBody> {
    let meta = st.store.meta().await?;
    Ok(Json(StatusBody {
        version: ledgerflow_core::VERSION,
        engine: st.store.engine().to_string(),
        environment: meta.as_ref().map(|m| m.environment.to_string()),
        protected: meta.as_ref().is_some_and(|m| m.protected),
        schema_version: st.store.schema_version().await?,
        lineage_id: meta.map(|m| m.lineage_id.to_string()),
        counts: st.store.counts().await?,
        journal: st.store.journal_head().await?,
    }))
}
