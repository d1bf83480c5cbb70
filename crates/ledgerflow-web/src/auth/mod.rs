//! Who is asking: a session cookie (browsers) or a personal API token (`Authorization: Bearer`),
//! the user's role, CSRF tokens for session-authenticated writes, sign-in throttling, and the
//! client address behind trusted proxies.
//!
//! Secrets are 32 random bytes, hex-encoded with a prefix (`lfs_` sessions, `lft_` tokens); the
//! store keeps only their SHA-256. A session's CSRF token is derived from its secret, so it
//! needs no storage and changes with every sign-in.
//!
//! Here: who is asking (sessions and tokens resolved to a [`CurrentUser`]) and the role
//! extractors; `session` (sessions and cookies), `csrf`, `proxy` (the client behind trusted
//! proxies), `throttle` (sign-in throttling).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::Utc;
use ledgerflow_core::model::{Actor, CredentialKind, NewCredential, Role, User};

use crate::error::Problem;
use crate::{AppState, WebState};

pub const SESSION_COOKIE: &str = "lf_session";
/// The double-submit cookie that protects the sign-in form (there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "lf_login";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SESSION_HOURS: i64 = 12;
// Secrets are made in core's service, which makes API tokens for every face; re-exported for
// the benchmark and the tests.
pub use ledgerflow_core::service::{TOKEN_PREFIX, new_secret, secret_hash};

mod csrf;
mod proxy;
mod session;
mod throttle;

pub use self::csrf::*;
pub use self::proxy::*;
pub use self::session::*;
pub use self::throttle::*;

/// How the request was authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session; writes must carry this CSRF token.
    Session {
        csrf: String,
    },
    Token {
        name: String,
    },
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub credential_id: i64,
    pub via: Via,
}

/// Role order: each role may do what the ones below it may.
pub fn rank(r: Role) -> u8 {
    match r {
        Role::Viewer => 0,
        Role::Editor => 1,
        Role::Admin => 2,
    }
}

impl CurrentUser {
    pub fn can(&self, needed: Role) -> bool {
        rank(self.user.role) >= rank(needed)
    }

    pub fn require(&self, needed: Role) -> Result<(), Problem> {
        if self.can(needed) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "{} is a{} {}; this needs the {needed} role",
                self.user.name,
                if self.user.role == Role::Admin {
                    "n"
                } else {
                    ""
                },
                self.user.role
            )))
        }
    }

    /// Who the journal records for changes made by this request.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Via::Session { .. } => Actor::user(&self.user.name),
            Via::Token { name } => Actor::token(&format!("{}/{name}", self.user.name)),
        }
    }

    pub fn csrf(&self) -> String {
        match &self.via {
            Via::Session { csrf } => csrf.clone(),
            Via::Token { .. } => String::new(),
        }
    }

    /// Session-authenticated writes carry the session's CSRF token (header or form field);
    /// token-authenticated ones need none (a browser never sends a bearer token by itself).
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), Problem> {
        match &self.via {
            Via::Token { .. } => Ok(()),
            Via::Session { csrf } if given.is_some_and(|g| same(g, csrf)) => Ok(()),
            Via::Session { .. } => Err(Problem::forbidden(
                "the form is out of date or came from another site (CSRF check failed): reload the page and try again",
            )),
        }
    }
}

/// Resolves the request's credentials. `Ok(None)` when it carries none.
pub async fn authenticate(
    st: &AppState,
    headers: &HeaderMap,
) -> Result<Option<CurrentUser>, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim());
    let (secret, kind) = match bearer {
        Some(b) => match b
            .strip_prefix("Bearer ")
            .or_else(|| b.strip_prefix("bearer "))
        {
            Some(t) => (t.trim().to_string(), CredentialKind::Token),
            None => return Err(Problem::unauthorized("use Authorization: Bearer TOKEN")),
        },
        None => match cookie(headers, SESSION_COOKIE) {
            Some(s) if !s.is_empty() => (s, CredentialKind::Session),
            _ => return Ok(None),
        },
    };
    let found = st.store.find_credential(&secret_hash(&secret)).await?;
    let Some((cred, user)) = found.filter(|(c, u)| c.kind == kind && !u.disabled) else {
        return Err(invalid(kind));
    };
    let now = Utc::now();
    if !cred.is_live(now) {
        return Err(invalid(kind));
    }
    let via = match kind {
        CredentialKind::Session => Via::Session {
            csrf: csrf_for(&secret),
        },
        CredentialKind::Token => {
            if cred
                .last_used_at
                .is_none_or(|t| now - t > chrono::Duration::minutes(5))
            {
                st.store.touch_credential(cred.id).await?;
            }
            Via::Token {
                name: cred.name.clone(),
            }
        }
    };
    Ok(Some(CurrentUser {
        user,
        credential_id: cred.id,
        via,
    }))
}

fn invalid(kind: CredentialKind) -> Problem {
    match kind {
        CredentialKind::Token => {
            Problem::unauthorized("the API token is not valid (revoked, or mistyped)")
        }
        CredentialKind::Session => Problem::unauthorized("your session has ended: sign in again"),
    }
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, $role:expr) => {
        $(#[$m])*
        pub struct $name(pub CurrentUser);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Problem;
            async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Problem> {
                let user = require_user(parts, st).await?;
                user.require($role)?;
                Ok($name(user))
            }
        }
    };
}

/// The signed-in user, for any role. A session-authenticated API write must carry the CSRF
/// header (forms are checked by [`crate::pages::Posted`]).
async fn require_user(parts: &Parts, st: &AppState) -> Result<CurrentUser, Problem> {
    let user = authenticate(st, &parts.headers)
        .await?
        .ok_or_else(|| Problem::unauthorized("sign in, or send Authorization: Bearer TOKEN"))?;
    if parts.uri.path().starts_with("/api/") && !safe_method(&parts.method) {
        user.check_csrf(parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))?;
    }
    Ok(user)
}

role_extractor!(
    /// Any signed-in user (viewers read).
    Viewer,
    Role::Viewer
);
role_extractor!(
    /// An editor or admin (edit, categorize, import).
    Editor,
    Role::Editor
);
role_extractor!(
    /// An admin (users, tokens, backups).
    Admin,
    Role::Admin
);
