//! Signing in and out, the one-time setup of the first admin, and a user's own account page
//! (changing one's password).

use super::*;

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    csrf: String,
    next: String,
    error: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct NextParam {
    next: String,
}

/// Where to go after signing in: only a local path — one `/` followed by something other than
/// `/` or `\\`, and no control or whitespace-like character anywhere (browsers drop tabs and
/// newlines, so `/\t/host` would be read as `//host`). Anything else goes to `/`.
pub(crate) fn safe_next(next: &str) -> String {
    let mut chars = next.chars();
    let local = chars.next() == Some('/')
        && chars.next().is_none_or(|c| c != '/' && c != '\\')
        && !next
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
        && next.len() <= 2048;
    if local {
        next.to_string()
    } else {
        "/".to_string()
    }
}

pub(super) fn login_form(
    csrf: String,
    next: &str,
    error: &str,
    name: &str,
    secure: bool,
) -> Response {
    let page = LoginPage {
        csrf: csrf.clone(),
        next: safe_next(next),
        error: error.to_string(),
        name: name.to_string(),
    };
    match page.render() {
        Ok(html) => (
            if error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            },
            [(
                header::SET_COOKIE,
                auth::set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, secure),
            )],
            Html(html),
        )
            .into_response(),
        Err(e) => Problem::internal(e).into_response(),
    }
}

pub(super) async fn login_page(
    State(st): Shared,
    headers: HeaderMap,
    Query(p): Query<NextParam>,
    req: Request,
) -> Page {
    if st.store.list_users().await?.is_empty() {
        return render(NoUsersPage {});
    }
    let (_, secure) = auth::client(&headers, auth::peer_of(&req), &st.web);
    Ok(login_form(auth::new_secret(""), &p.next, "", "", secure))
}

#[derive(Template)]
#[template(path = "no_users.html")]
pub(super) struct NoUsersPage {}

/// A form posted before anyone is signed in (sign-in, first-run setup): no session, so no
/// [`Posted`].
struct SignedOutForm {
    headers: HeaderMap,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    ip: Option<std::net::IpAddr>,
    /// Whether the client came over HTTPS.
    secure: bool,
    fields: Vec<(String, String)>,
}

impl SignedOutForm {
    async fn read(st: &AppState, req: Request) -> Result<Self, Problem> {
        let headers = req.headers().clone();
        let (ip, secure) = auth::client(&headers, auth::peer_of(&req), &st.web);
        let body = Bytes::from_request(req, st)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        Ok(SignedOutForm {
            headers,
            ip,
            secure,
            fields: parse_form(&body),
        })
    }

    /// The field's first value, or empty.
    fn field(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

pub(super) async fn login(State(st): Shared, req: Request) -> Page {
    let form = SignedOutForm::read(&st, req).await?;
    let (headers, ip, secure) = (&form.headers, form.ip, form.secure);
    let field = |k: &str| form.field(k);
    let (name, password, next) = (field("name"), field("password"), field("next"));
    // Double-submit check: the form's token must match the cookie set with the form.
    let cookie = auth::cookie(headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !auth::same(&cookie, &field("csrf")) {
        return Ok(login_form(
            auth::new_secret(""),
            &next,
            "The sign-in form expired or came from another site: try again.",
            &name,
            secure,
        ));
    }
    if let Err(wait) = st.web.throttle.check(&name, ip) {
        tracing::warn!(user = %name, ip = ?ip, "sign-in throttled");
        let mins = wait.as_secs().div_ceil(60).max(1);
        let mut resp = login_form(
            auth::new_secret(""),
            &next,
            &format!(
                "Too many failed sign-ins: try again in {mins} minute{}.",
                if mins == 1 { "" } else { "s" }
            ),
            &name,
            secure,
        );
        *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        return Ok(resp);
    }
    let user = st.store.find_user(name.trim()).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.disabled)
        .and_then(|u| u.password_hash.clone());
    // Argon2 runs off the async threads, and for unknown users too (no timing hint).
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, dummy_hash());
            false
        }
    })
    .await
    .map_err(Problem::internal)?;
    let Some(user) = user.filter(|_| ok) else {
        st.web.throttle.failed(&name, ip);
        tracing::warn!(user = %name, ip = ?ip, "sign-in failed");
        return Ok(login_form(
            auth::new_secret(""),
            &next,
            "Wrong name or password.",
            &name,
            secure,
        ));
    };
    st.web.throttle.succeeded(&name, ip);
    tracing::info!(user = %user.name, ip = ?ip, "signed in");
    let secret = auth::create_session(st.store.as_ref(), &user).await?;
    Ok(signed_in(&secret, &safe_next(&next), secure))
}

/// An Argon2id hash of a random password, verified against when the user does not exist (so
/// an unknown name takes as long as a wrong password).
pub(super) fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&auth::new_secret("")).unwrap_or_default())
}

pub(super) fn signed_in(secret: &str, to: &str, secure: bool) -> Response {
    let mut resp = Redirect::to(to).into_response();
    let h = resp.headers_mut();
    if let Ok(v) =
        auth::set_cookie(SESSION_COOKIE, secret, auth::SESSION_HOURS * 3600, secure).parse()
    {
        h.append(header::SET_COOKIE, v);
    }
    if let Ok(v) = auth::set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure).parse() {
        h.append(header::SET_COOKIE, v);
    }
    resp
}

pub(super) async fn logout(State(st): Shared, p: Posted) -> Page {
    st.store
        .revoke_credentials(&p.user.actor(), Some(p.user.credential_id), None, None)
        .await?;
    tracing::info!(user = %p.user.user.name, "signed out");
    let mut resp = Redirect::to("/login").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, "", 0, false).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[derive(Template)]
#[template(path = "setup.html")]
pub(super) struct SetupPage {
    token: String,
    error: String,
    name: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct TokenParam {
    token: String,
}

pub(super) fn setup_valid(st: &AppState, token: &str) -> bool {
    let expected = *st.web.setup.lock().unwrap_or_else(|e| e.into_inner());
    expected.is_some_and(|h| auth::same(&hex::encode(h), &hex::encode(auth::secret_hash(token))))
}

pub(super) async fn setup_page(State(st): Shared, Query(p): Query<TokenParam>) -> Page {
    if !st.store.list_users().await?.is_empty() || !setup_valid(&st, &p.token) {
        return Err(Problem::forbidden(
            "this setup link is not valid: it works once, while no user exists (ask the admin, or run `ledgerflow user add NAME --role admin --password-stdin`)",
        ));
    }
    render(SetupPage {
        token: p.token,
        error: String::new(),
        name: String::new(),
    })
}

pub(super) async fn setup(State(st): Shared, req: Request) -> Page {
    let form = SignedOutForm::read(&st, req).await?;
    let secure = form.secure;
    // A field given twice counts with its last value here (sign-in takes the first).
    let f: HashMap<String, String> = form.fields.into_iter().collect();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let token = get("token");
    // The setup secret in the form is the proof (it came from the server's own output).
    if !st.store.list_users().await?.is_empty() || !setup_valid(&st, &token) {
        return Err(Problem::forbidden("this setup link is not valid any more"));
    }
    let name = get("name");
    let made = async {
        let name = ledgerflow_core::service::check_user_name(&name)?;
        if get("password") != get("password2") {
            return Err(Problem::bad_request("the two passwords differ"));
        }
        let password = get("password");
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(Problem::internal)??;
        Ok(st
            .store
            .create_user(
                &Actor::system("setup"),
                &NewUser {
                    name,
                    role: Role::Admin,
                    password_hash: Some(hash),
                },
            )
            .await?)
    }
    .await;
    match made {
        Ok(user) => {
            *st.web.setup.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(user = %user.name, "first admin created through the setup link");
            let secret = auth::create_session(st.store.as_ref(), &user).await?;
            Ok(signed_in(&secret, "/", secure))
        }
        Err(e) => render_form(
            SetupPage {
                token,
                error: e.message.clone(),
                name,
            },
            &e.message,
        ),
    }
}

#[derive(Template)]
#[template(path = "account.html")]
pub(super) struct MyAccountPage {
    nav: Nav,
    tokens: Vec<Credential>,
    message: String,
    error: String,
}

pub(super) async fn my_account_page(
    st: &AppState,
    who: &CurrentUser,
    message: String,
    error: String,
) -> Page {
    let tokens = st
        .store
        .list_credentials(CredentialKind::Token, Some(who.user.id))
        .await?
        .into_iter()
        .filter(|t| t.revoked_at.is_none())
        .collect();
    render_form(
        MyAccountPage {
            nav: nav(st, who, "account").await?,
            tokens,
            message,
            error: error.clone(),
        },
        &error,
    )
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct ChangedParam {
    changed: String,
}

pub(super) async fn my_account(
    Viewer(who): Viewer,
    State(st): Shared,
    Query(c): Query<ChangedParam>,
) -> Page {
    let message = if c.changed == "1" {
        "Password changed; your other sessions were signed out.".to_string()
    } else {
        String::new()
    };
    my_account_page(&st, &who, message, String::new()).await
}

/// A user changes their own password: the current one is checked, every session of theirs
/// ends, and this browser gets a new one.
pub(super) async fn change_password(State(st): Shared, headers: HeaderMap, p: Posted) -> Page {
    if !matches!(p.user.via, auth::Via::Session { .. }) {
        return Err(Problem::forbidden(
            "change a password from a signed-in browser",
        ));
    }
    let refuse = async |why: String| my_account_page(&st, &p.user, String::new(), why).await;
    let current = p.get("current").unwrap_or_default().to_string();
    let new = p.get("password").unwrap_or_default().to_string();
    if new != p.get("password2").unwrap_or_default() {
        return refuse("The two new passwords differ.".into()).await;
    }
    if let Err(wait) = st.web.throttle.check_password_change(p.user.user.id) {
        let secs = wait.as_secs().max(1);
        return refuse(format!(
            "Too many wrong current passwords: try again in {secs} seconds."
        ))
        .await;
    }
    let stored = p.user.user.password_hash.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let ok = stored.is_some_and(|h| verify_password(&current, &h));
        (ok, ok.then(|| hash_password(&new)))
    })
    .await
    .map_err(Problem::internal)?;
    let hash = match checked {
        (false, _) => {
            st.web.throttle.password_change_failed(p.user.user.id);
            return refuse("The current password is wrong.".into()).await;
        }
        (true, Some(Err(e))) => return refuse(e.0).await,
        (true, Some(Ok(h))) => h,
        (true, None) => return Err(Problem::internal("no hash")),
    };
    let s = st.store.as_ref();
    s.update_user(
        &p.user.actor(),
        p.user.user.id,
        &UserPatch {
            password_hash: Some(Some(hash)),
            ..Default::default()
        },
    )
    .await?;
    s.revoke_credentials(
        &p.user.actor(),
        None,
        Some(p.user.user.id),
        Some(CredentialKind::Session),
    )
    .await?;
    tracing::info!(user = %p.user.user.name, "password changed; sessions ended");
    let (_, secure) = auth::client(&headers, p.peer, &st.web);
    let secret = auth::create_session(s, &p.user.user).await?;
    Ok(signed_in(&secret, "/account?changed=1", secure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/transactions?q=a"), "/transactions?q=a");
        assert_eq!(safe_next("//evil.example/"), "/");
        assert_eq!(safe_next("https://evil.example/"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
    }
}
