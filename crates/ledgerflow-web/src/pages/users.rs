//! Users and API tokens (admins only).

use ledgerflow_core::service::UserChanges;

use super::*;

pub(super) struct UserLine {
    u: User,
    tokens: Vec<Credential>,
}

#[derive(Template)]
#[template(path = "users.html")]
pub(super) struct UsersPage {
    nav: Nav,
    users: Vec<UserLine>,
    roles: Vec<Opt>,
    new_token: String,
    error: String,
}

pub(super) async fn users_page(
    st: &AppState,
    who: &CurrentUser,
    new_token: String,
    error: String,
) -> Page {
    let s = st.store.as_ref();
    let tokens = s.list_credentials(CredentialKind::Token, None).await?;
    let users = s
        .list_users()
        .await?
        .into_iter()
        .map(|u| UserLine {
            tokens: tokens
                .iter()
                .filter(|t| t.user_id == u.id && t.revoked_at.is_none())
                .cloned()
                .collect(),
            u,
        })
        .collect();
    render_form(
        UsersPage {
            nav: nav(st, who, "users").await?,
            users,
            roles: options(
                Role::ALL.iter().map(|r| (r.to_string(), r.to_string())),
                "viewer",
            ),
            new_token,
            error: error.clone(),
        },
        &error,
    )
}

pub(super) async fn users(Admin(who): Admin, State(st): Shared) -> Page {
    users_page(&st, &who, String::new(), String::new()).await
}

pub(super) async fn add_user(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Admin)?;
    let made = async {
        // The name is checked before the (slow) hash.
        let name = service::check_user_name(&p.text("name"))?;
        let role: Role = p.text("role").parse()?;
        let password = p.get("password").unwrap_or_default().to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(Problem::internal)??;
        service::create_user(st.store.as_ref(), &p.user.actor(), &name, role, Some(hash))
            .await
            .map_err(Problem::from)
    }
    .await;
    redirect_or_again(made, "/users", |m| {
        users_page(&st, &p.user, String::new(), m)
    })
    .await
}

pub(super) async fn change_user(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Admin)?;
    let s = st.store.as_ref();
    let refuse = async |why: String| users_page(&st, &p.user, String::new(), why).await;
    let role: Option<Role> = p.get("role").map(str::parse).transpose()?;
    let disabled = p.get("disabled").map(|d| d == "1");
    // One's own password is changed on the account page, with the current one (and its
    // throttle): not here, where it would need neither.
    if id == p.user.user.id && p.get("password").is_some_and(|pw| !pw.is_empty()) {
        return refuse("Change your own password on your account page (your name at the top; it asks for the current one).".into()).await;
    }
    let password_hash = match p.get("password").filter(|pw| !pw.is_empty()) {
        Some(pw) => {
            let pw = pw.to_string();
            match tokio::task::spawn_blocking(move || hash_password(&pw))
                .await
                .map_err(Problem::internal)?
            {
                Ok(h) => Some(h),
                Err(e) => return refuse(e.0).await,
            }
        }
        None => None,
    };
    if id == p.user.user.id && (disabled == Some(true) || role.is_some_and(|r| r != Role::Admin)) {
        return refuse("You cannot demote or disable yourself: another admin can.".into()).await;
    }
    let changes = UserChanges {
        role,
        disabled,
        password_hash,
    };
    service::change_user(s, &p.user.actor(), id, &changes).await?;
    Ok(Redirect::to("/users").into_response())
}

pub(super) async fn create_token(State(st): Shared, p: Posted) -> Page {
    p.user.require(Role::Admin)?;
    let s = st.store.as_ref();
    let user_id: i64 = p
        .text("user")
        .parse()
        .map_err(|_| Problem::bad_request("choose a user"))?;
    let user = s
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.id == user_id)
        .ok_or_else(|| Problem::not_found(format!("user {user_id} does not exist")))?;
    let (cred, secret) = service::create_token(s, &p.user.actor(), &user, &p.text("name")).await?;
    let label = &cred.name;
    tracing::info!(admin = %p.user.user.name, user = %user.name, token = %label, "API token created");
    users_page(&st, &p.user, secret, String::new()).await
}

pub(super) async fn revoke_token(State(st): Shared, Path(id): Path<i64>, p: Posted) -> Page {
    p.user.require(Role::Admin)?;
    service::revoke_token(st.store.as_ref(), &p.user.actor(), id).await?;
    Ok(Redirect::to("/users").into_response())
}
