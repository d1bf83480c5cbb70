//! Users: looking one up by name and checking a new user's name.

use crate::error::{CoreError, ValidationError};
use crate::model::User;
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
