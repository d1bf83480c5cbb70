//! Users: looking one up by name, checking a new user's name, creating and changing a user
//! (a disabled user loses every session and token; a new password ends the user's sessions).

use tracing::instrument;

use crate::error::{CoreError, ValidationError};
use crate::model::{Actor, CredentialKind, NewUser, Role, User, UserPatch};
use crate::service::check_name;
use crate::store::Store;

/// Looks a user up by name ("unknown user \"X\"" when there is none).
pub async fn user_by_name(store: &dyn Store, name: &str) -> Result<User, CoreError> {
    store
        .find_user(name.trim())
        .await?
        .ok_or_else(|| CoreError::NotFound(format!("unknown user \"{name}\"")))
}

/// Checks a user name: a name, of letters, digits and `. _ - @` only.
pub fn check_user_name(name: &str) -> Result<String, ValidationError> {
    let name = check_name("user", name)?;
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(ValidationError::new(format!(
            "user name \"{name}\" may only hold letters, digits and . _ - @"
        )));
    }
    Ok(name)
}

/// Creates a user. The password arrives as its Argon2id hash
/// ([`crate::password::hash_password`], which the web runs off the async runtime); `None` for a
/// user who cannot sign in with a password yet.
#[instrument(skip_all)]
pub async fn create_user(
    s: &dyn Store,
    actor: &Actor,
    name: &str,
    role: Role,
    password_hash: Option<String>,
) -> Result<User, CoreError> {
    let name = check_user_name(name)?;
    let new = NewUser {
        name,
        role,
        password_hash,
    };
    Ok(s.create_user(actor, &new).await?)
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new password's Argon2id hash.
    pub password_hash: Option<String>,
}

impl UserChanges {
    /// A new role, and nothing else.
    pub fn role(role: Role) -> Self {
        UserChanges {
            role: Some(role),
            ..Default::default()
        }
    }

    /// Disables (`true`) or enables (`false`) the user, and nothing else.
    pub fn disabled(disabled: bool) -> Self {
        UserChanges {
            disabled: Some(disabled),
            ..Default::default()
        }
    }

    /// A new password (its Argon2id hash), and nothing else.
    pub fn password(hash: String) -> Self {
        UserChanges {
            password_hash: Some(hash),
            ..Default::default()
        }
    }
}

/// Changes a user. Disabling one revokes every session and token it holds; a new password
/// revokes its sessions (signed-in browsers sign in again). Returns the user and how many
/// credentials were revoked.
#[instrument(skip_all, fields(id = %id))]
pub async fn change_user(
    s: &dyn Store,
    actor: &Actor,
    id: i64,
    c: &UserChanges,
) -> Result<(User, u64), CoreError> {
    let patch = UserPatch {
        role: c.role,
        disabled: c.disabled,
        password_hash: c.password_hash.clone().map(Some),
    };
    let user = s.update_user(actor, id, &patch).await?;
    let revoked = if c.disabled == Some(true) {
        s.revoke_credentials(actor, None, Some(id), None).await?
    } else if c.password_hash.is_some() {
        s.revoke_credentials(actor, None, Some(id), Some(CredentialKind::Session))
            .await?
    } else {
        0
    };
    Ok((user, revoked))
}
