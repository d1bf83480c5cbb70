//! Who may act: users, their roles, and the credentials (sessions, API tokens) they hold.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

text_enum!(
    /// What a user may do: read, edit, or administer.
    Role, "role" {
        Viewer => "viewer",
        Editor => "editor",
        Admin => "admin",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string; `None` for a user who cannot sign in with a password yet.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

text_enum!(
    /// A signed-in browser session or a personal API token.
    CredentialKind, "credential kind" {
        Session => "session",
        Token => "token",
    }
);

/// A secret a user holds (a session cookie or an API token). Only the SHA-256 of the secret
/// is stored, so a copy of the database does not let anyone sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: i64,
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Credential {
    /// Not revoked and not expired at `at`.
    pub fn is_live(&self, at: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > at)
    }
}

/// A credential as the journal records it: everything but when it was last used (which
/// changes on every request and is not worth a journal entry), with the SHA-256 of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialRecord {
    pub id: i64,
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    /// Hex of the SHA-256 of the secret.
    pub secret_sha256: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub kind: CredentialKind,
    pub user_id: i64,
    pub name: String,
    pub secret_sha256: [u8; 32],
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub password_hash: Option<Option<String>>,
    pub disabled: Option<bool>,
}

impl UserPatch {
    pub fn apply(&self, before: &User) -> User {
        let mut u = before.clone();
        set(&mut u.role, &self.role);
        set(&mut u.password_hash, &self.password_hash);
        set(&mut u.disabled, &self.disabled);
        u.updated_at = now();
        u
    }
}
