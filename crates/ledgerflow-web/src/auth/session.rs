//! Sessions: starting one for a user, and the cookies that carry it.

use axum::http::HeaderMap;

use super::*;

/// Starts a session for a user; returns the cookie's secret.
pub async fn create_session(
    store: &dyn ledgerflow_core::Store,
    user: &User,
) -> Result<String, ledgerflow_core::StoreError> {
    let secret = new_secret("lfs_");
    store
        .create_credential(
            &Actor::user(&user.name),
            &NewCredential {
                kind: CredentialKind::Session,
                user_id: user.id,
                name: String::new(),
                secret_sha256: secret_hash(&secret),
                expires_at: Some(
                    ledgerflow_core::model::now() + chrono::Duration::hours(SESSION_HOURS),
                ),
            },
        )
        .await?;
    Ok(secret)
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, and Secure when served over HTTPS.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}
