//! Personal API tokens: made here for every face (the CLI's `token create`, the users page).
//! A secret is 32 random bytes, hex-encoded after a prefix; the store keeps only its SHA-256.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::error::CoreError;
use crate::model::{Actor, Credential, CredentialKind, NewCredential, User};
use crate::service::check_name;
use crate::store::Store;

/// The prefix of an API token's secret.
pub const TOKEN_PREFIX: &str = "lft_";

/// A fresh secret: the prefix and 32 random bytes in hex.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The SHA-256 of a secret, as the store keeps it.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Creates a personal API token labelled `name` for a user (not a disabled one) and returns
/// it with its secret, which is shown once.
#[instrument(skip_all, fields(user = %user.name))]
pub async fn create_token(
    store: &dyn Store,
    actor: &Actor,
    user: &User,
    name: &str,
) -> Result<(Credential, String), CoreError> {
    if user.disabled {
        return Err(CoreError::Refused(format!(
            "user \"{}\" is disabled: enable it first",
            user.name
        )));
    }
    let label = check_name("token", name)?;
    let secret = new_secret(TOKEN_PREFIX);
    let cred = store
        .create_credential(
            actor,
            &NewCredential {
                kind: CredentialKind::Token,
                user_id: user.id,
                name: label,
                secret_sha256: secret_hash(&secret),
                expires_at: None,
            },
        )
        .await?;
    Ok((cred, secret))
}

/// Revokes an API token by id; it stops working at once.
#[instrument(skip_all, fields(id = %id))]
pub async fn revoke_token(s: &dyn Store, actor: &Actor, id: i64) -> Result<(), CoreError> {
    let n = s
        .revoke_credentials(actor, Some(id), None, Some(CredentialKind::Token))
        .await?;
    if n == 0 {
        return Err(CoreError::NotFound(format!(
            "token {id} does not exist or is already revoked"
        )));
    }
    Ok(())
}
