//! `ledgerflow token create|list|revoke`: personal API tokens. A token acts with its user's
//! role (`Authorization: Bearer TOKEN`); only its SHA-256 is stored, so it is shown once.

use ledgerflow_core::Store;
use ledgerflow_core::model::{Actor, CredentialKind};
use ledgerflow_core::service::{self, user_by_name};
use serde::Serialize;

use crate::context::{Ctx, print_list};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Create a token for a user; the token is the last line of the output.
    Create {
        /// The user the token acts as (with that user's role).
        #[arg(long)]
        user: String,
        /// A label to recognise it by ("home-assistant").
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        user: Option<String>,
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke { id: i64 },
}

#[derive(Serialize)]
struct TokenView {
    id: i64,
    user: String,
    name: String,
    created_at: chrono::DateTime<chrono::Utc>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| run_on(s, cmd).await).await
}

async fn run_on(s: &dyn Store, cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Create { user, name } => {
            let u = user_by_name(s, user).await?;
            let (cred, secret) = service::create_token(s, &Actor::cli(), &u, name).await?;
            let label = &cred.name;
            tracing::info!(user = %u.name, token = %label, id = cred.id, "API token created");
            crate::out!(
                "Created token {} \"{label}\" for {} ({}). It is shown only now: keep it in a password manager.",
                cred.id,
                u.name,
                u.role
            );
            crate::out!("{secret}");
        }
        Cmd::List { user, all, json } => {
            let users = s.list_users().await?;
            let only = match user {
                Some(n) => Some(user_by_name(s, n).await?.id),
                None => None,
            };
            let views: Vec<TokenView> = s
                .list_credentials(CredentialKind::Token, only)
                .await?
                .into_iter()
                .filter(|t| *all || t.revoked_at.is_none())
                .map(|t| TokenView {
                    id: t.id,
                    user: users
                        .iter()
                        .find(|u| u.id == t.user_id)
                        .map(|u| u.name.clone())
                        .unwrap_or_default(),
                    name: t.name,
                    created_at: t.created_at,
                    last_used_at: t.last_used_at,
                    revoked_at: t.revoked_at,
                })
                .collect();
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            };
            print_list(
                &views,
                *json,
                "No tokens: `ledgerflow token create --user NAME --name LABEL`.",
                &["ID", "USER", "NAME", "CREATED", "LAST USED", "REVOKED"],
                |t| {
                    vec![
                        t.id.to_string(),
                        t.user.clone(),
                        t.name.clone(),
                        when(Some(t.created_at)),
                        when(t.last_used_at),
                        when(t.revoked_at),
                    ]
                },
            )?;
        }
        Cmd::Revoke { id } => {
            service::revoke_token(s, &Actor::cli(), *id).await?;
            crate::out!("Revoked token {id}");
        }
    }
    Ok(())
}
