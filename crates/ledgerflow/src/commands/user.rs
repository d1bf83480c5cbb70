//! `ledgerflow user add|list|passwd|role|disable|enable`. Passwords are Argon2id hashes.

use std::io::BufRead;

use ledgerflow_core::model::Role;
use ledgerflow_core::password::hash_password;
use ledgerflow_core::service::{self, UserChanges, check_user_name, user_by_name};
use ledgerflow_core::{Store, ValidationError};
use serde::Serialize;

use crate::context::{Ctx, flag, print_list};

#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Add a user.
    Add {
        name: String,
        /// viewer, editor or admin.
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (read from the first line of standard input).
    Passwd {
        name: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role.
    Role { name: String, role: Role },
    /// Stop a user from signing in.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
}

#[derive(Serialize)]
struct UserView {
    id: i64,
    name: String,
    role: Role,
    has_password: bool,
    disabled: bool,
}

fn read_password() -> Result<String, ValidationError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        ValidationError::new(format!("cannot read the password from standard input: {e}"))
    })?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        return Err(ValidationError::new("no password on standard input"));
    }
    Ok(pw)
}

pub async fn run(ctx: &Ctx, cmd: &Cmd) -> anyhow::Result<()> {
    ctx.with_store(async |s| run_on(ctx, s, cmd).await).await
}

async fn run_on(ctx: &Ctx, s: &dyn Store, cmd: &Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let name = check_user_name(name)?;
            let password_hash = if *password_stdin {
                Some(hash_password(&read_password()?)?)
            } else {
                None
            };
            let has_pw = password_hash.is_some();
            let u = service::create_user(s, &ctx.actor, &name, *role, password_hash).await?;
            crate::out!("Added user \"{}\" (id {}, {})", u.name, u.id, u.role);
            if !has_pw {
                crate::out!(
                    "No password set: run `ledgerflow user passwd {} --password-stdin` before signing in.",
                    u.name
                );
            }
        }
        Cmd::List { json } => list(s, *json).await?,
        Cmd::Passwd {
            name,
            password_stdin,
        } => {
            if !password_stdin {
                return Err(ValidationError::new(
                    "give the new password on standard input with --password-stdin",
                )
                .into());
            }
            let u = user_by_name(s, name).await?;
            // Signed-in browsers must sign in again with the new password.
            let changes = UserChanges::password(hash_password(&read_password()?)?);
            service::change_user(s, &ctx.actor, u.id, &changes).await?;
            crate::out!("Password of \"{}\" changed", u.name);
        }
        Cmd::Role { name, role } => {
            let u = user_by_name(s, name).await?;
            let changes = UserChanges::role(*role);
            service::change_user(s, &ctx.actor, u.id, &changes).await?;
            crate::out!("\"{}\" is now {role}", u.name);
        }
        Cmd::Disable { name } | Cmd::Enable { name } => {
            let disable = matches!(cmd, Cmd::Disable { .. });
            let u = user_by_name(s, name).await?;
            let changes = UserChanges::disabled(disable);
            // Disabling revokes the user's sessions and API tokens.
            let (_, n) = service::change_user(s, &ctx.actor, u.id, &changes).await?;
            if disable && n > 0 {
                crate::out!("Revoked {n} sessions and API tokens of \"{}\"", u.name);
            }
            crate::out!(
                "\"{}\" {}",
                u.name,
                if disable { "disabled" } else { "enabled" }
            );
        }
    }
    Ok(())
}

async fn list(s: &dyn Store, json: bool) -> anyhow::Result<()> {
    let views: Vec<UserView> = s
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserView {
            id: u.id,
            has_password: u.password_hash.is_some(),
            name: u.name,
            role: u.role,
            disabled: u.disabled,
        })
        .collect();
    print_list(
        &views,
        json,
        "No users yet: add one with `ledgerflow user add NAME --role admin --password-stdin`.",
        &["ID", "NAME", "ROLE", "PASSWORD", ""],
        |u| {
            vec![
                u.id.to_string(),
                u.name.clone(),
                u.role.to_string(),
                if u.has_password { "set" } else { "none" }.to_string(),
                flag(u.disabled, "disabled"),
            ]
        },
    )
}
