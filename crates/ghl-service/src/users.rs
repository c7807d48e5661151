//! The web UI's users: added with a name and a password (kept as an argon2id hash with the
//! crate's default parameters, never in clear), listed, removed with their sessions. What a
//! name and a password must be is said here once, for `users add` and anything else.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use ghl_client::Secret;
use ghl_store::{Store, Timestamp};

use crate::ServiceError;

/// The longest user name.
pub const MAX_NAME_LEN: usize = 64;
/// The shortest password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// The longest password (hashing is paid per byte; a sign-in form is bounded anyway).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// The user use cases (`Service::users`).
pub struct Users<'a> {
    pub(crate) store: &'a Store,
}

/// A user as listed: never the password's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub created_at: Timestamp,
}

impl Users<'_> {
    /// Adds a user who signs in with `password`; a taken name, a name that is not one
    /// (letters, digits, `.`, `-`, `_`, `@`; at most `MAX_NAME_LEN`) or a password shorter
    /// than `MIN_PASSWORD_LEN` is refused and changes nothing.
    pub async fn add(&self, name: &str, password: Secret<String>) -> Result<(), ServiceError> {
        check_name(name)?;
        let length = password.expose().chars().count();
        if length < MIN_PASSWORD_LEN {
            return Err(ServiceError::BadUser(format!(
                "the password is too short: give at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        if password.expose().len() > MAX_PASSWORD_LEN {
            return Err(ServiceError::BadUser(format!(
                "the password is too long: at most {MAX_PASSWORD_LEN} bytes"
            )));
        }
        if self.store.user(name).await?.is_some() {
            return Err(ServiceError::UserExists(name.to_owned()));
        }
        let hash = hash_password(password).await?;
        match self.store.add_user(name, &hash).await? {
            true => Ok(()),
            false => Err(ServiceError::UserExists(name.to_owned())),
        }
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>, ServiceError> {
        let users = self.store.users().await?;
        Ok(users
            .into_iter()
            .map(|user| User { name: user.name, created_at: user.created_at })
            .collect())
    }

    /// Removes a user; their sessions end with them.
    pub async fn remove(&self, name: &str) -> Result<(), ServiceError> {
        match self.store.remove_user(name).await? {
            true => Ok(()),
            false => Err(ServiceError::NoUser(name.to_owned())),
        }
    }
}

fn check_name(name: &str) -> Result<(), ServiceError> {
    if name.is_empty() {
        return Err(ServiceError::BadUser("give the user a name".into()));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ServiceError::BadUser(format!("the name is longer than {MAX_NAME_LEN} bytes")));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@');
    if let Some(wrong) = name.chars().find(|c| !allowed(*c)) {
        return Err(ServiceError::BadUser(format!(
            "a name is letters, digits, `.`, `-`, `_` and `@`, not {wrong:?}"
        )));
    }
    Ok(())
}

/// The argon2id hash (default parameters, a fresh salt) of `password`, off the async runtime:
/// it takes tens of milliseconds of CPU by design.
pub(crate) async fn hash_password(password: Secret<String>) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| ServiceError::PasswordHash(err.to_string()))
    })
    .await
    .map_err(|err| ServiceError::PasswordHash(err.to_string()))?
}
