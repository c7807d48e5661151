//! Signing in to the web UI: a name and password checked against the user's argon2id hash
//! (a missing user costs the same hashing as a wrong password, and both answer the same
//! error; a name with too many wrong ones lately is held, `sign_in_guard`), then a session: a random token for the cookie (only its SHA-256 is stored) and a
//! random CSRF token its forms and the UI's API calls carry. A session ends after `IDLE` unused
//! or `ABSOLUTE` after it began, whichever comes first; signing out ends it at once. Tokens
//! are compared in constant time (`same_secret`), here and wherever a front end compares one.
//!
//! A one-time sign-in link (what `demo` prints) holds a token good for one sign-in within
//! `LINK_LIFETIME`; it is stored like a session's, hashed apart (`link:` before it), so a
//! link's token is never a session's and a session's never a link's.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use base64::Engine as _;
use ghl_client::Secret;
use ghl_store::{NewUiSession, Store, Timestamp};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::sign_in_guard::SignInGuard;
use crate::users::{hash_password, MAX_PASSWORD_LEN};
use crate::ServiceError;

/// A session unused this long has ended.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session has ended this long after it began, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);
/// A session's end is moved on when a use finds it moved less than this long ago (so a busy
/// page does not write to the store on every request).
const EXTEND_EVERY: Duration = Duration::from_secs(300);

/// How long a one-time sign-in link can be used.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The session use cases (`Service::sessions`).
pub struct Sessions<'a> {
    pub(crate) store: &'a Store,
    pub(crate) guard: &'a SignInGuard,
}

/// A session just begun: the token for the cookie (shown nowhere else, stored only hashed).
#[derive(Debug)]
pub struct SignedIn {
    pub token: Secret<String>,
    pub session: Session,
}

/// A live session: whose it is and the CSRF token its requests must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf_token: Secret<String>,
    pub expires_at: Timestamp,
}

impl Session {
    /// Whether `given` is this session's CSRF token (in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        same_secret(self.csrf_token.expose(), given)
    }
}

impl Sessions<'_> {
    /// Begins a session for `name` if `password` is theirs; otherwise `WrongSignIn`, the same
    /// for an unknown name, and nothing is stored.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &Secret<String>,
    ) -> Result<SignedIn, ServiceError> {
        if let Some(wait) = self.guard.wait(name, Instant::now()) {
            return Err(ServiceError::SignInHeld { minutes: wait.as_secs().div_ceil(60).max(1) });
        }
        if password.expose().len() > MAX_PASSWORD_LEN {
            self.guard.failed(name, Instant::now());
            return Err(ServiceError::WrongSignIn);
        }
        let user = self.store.user(name).await?;
        let hash = match &user {
            Some(user) => user.password_hash.clone(),
            None => decoy_hash().await?,
        };
        let given = password.expose().clone();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|hash| {
                Argon2::default().verify_password(given.as_bytes(), &hash).is_ok()
            })
        })
        .await
        .map_err(|err| ServiceError::PasswordHash(err.to_string()))?;
        let Some(user) = user.filter(|_| matches) else {
            self.guard.failed(name, Instant::now());
            return Err(ServiceError::WrongSignIn);
        };
        self.guard.succeeded(name);
        self.begin(&user.id, user.name).await
    }

    /// A session for the user of id `user_id` and name `user`.
    async fn begin(&self, user_id: &str, user: String) -> Result<SignedIn, ServiceError> {
        let (token, csrf_token) = (new_token(), new_token());
        let now = Timestamp::now();
        let expires_at = now + IDLE;
        let token_hash = hash_token(&token);
        self.store
            .put_ui_session(&NewUiSession {
                token_hash: &token_hash,
                user_id,
                csrf_token: &csrf_token,
                created_at: now,
                expires_at,
            })
            .await?;
        // Sessions that ended are forgotten as new ones begin.
        self.store.remove_ended_ui_sessions(now).await?;
        let session = Session { user, csrf_token: csrf_token.into(), expires_at };
        Ok(SignedIn { token: token.into(), session })
    }

    /// A one-time sign-in link's token for the user `name`: good for one sign-in within
    /// `LINK_LIFETIME`.
    pub async fn sign_in_link(&self, name: &str) -> Result<Secret<String>, ServiceError> {
        let user = self.store.user(name).await?.ok_or_else(|| ServiceError::NoUser(name.into()))?;
        let token = new_token();
        let now = Timestamp::now();
        self.store
            .put_ui_session(&NewUiSession {
                token_hash: &link_hash(&token),
                user_id: &user.id,
                csrf_token: &new_token(),
                created_at: now,
                expires_at: now + LINK_LIFETIME,
            })
            .await?;
        Ok(token.into())
    }

    /// Begins a session with a sign-in link's token, which is spent by it: `WrongSignIn` for
    /// a token spent, expired, or of no link.
    pub async fn redeem_link(&self, token: &str) -> Result<SignedIn, ServiceError> {
        let hash = link_hash(token);
        let Some(link) = self.store.ui_session(&hash, Timestamp::now()).await? else {
            return Err(ServiceError::WrongSignIn);
        };
        // Two uses at once: only the one that removes it signs in.
        if !self.store.remove_ui_session(&hash).await? {
            return Err(ServiceError::WrongSignIn);
        }
        self.begin(&link.user_id, link.user_name).await
    }

    /// The live session of `token`, its end moved on by this use (never past `ABSOLUTE`
    /// after it began); `None` for a token of no session or of one that ended.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, ServiceError> {
        let token_hash = hash_token(token);
        let now = Timestamp::now();
        let Some(found) = self.store.ui_session(&token_hash, now).await? else {
            return Ok(None);
        };
        let latest = found.created_at + ABSOLUTE;
        let wanted = std::cmp::min(now + IDLE, latest);
        let mut expires_at = found.expires_at;
        if wanted > found.expires_at && wanted.since(found.expires_at) >= EXTEND_EVERY {
            self.store.extend_ui_session(&token_hash, wanted).await?;
            expires_at = wanted;
        }
        Ok(Some(Session { user: found.user_name, csrf_token: found.csrf_token.into(), expires_at }))
    }

    /// Ends the session of `token` (nothing to do when there is none).
    pub async fn sign_out(&self, token: &str) -> Result<(), ServiceError> {
        self.store.remove_ui_session(&hash_token(token)).await?;
        Ok(())
    }
}

/// How a sign-in link's token is stored.
fn link_hash(token: &str) -> String {
    hash_token(&format!("link:{token}"))
}

/// Whether two secrets (tokens) are equal, in time that depends on their lengths only.
pub fn same_secret(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// A fresh random token: 32 bytes from the OS, base64url without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a session token is kept: the SHA-256 of it, in hex.
fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A hash of no one's password, made once: what an unknown name is checked against, so that
/// it takes as long as a wrong password.
async fn decoy_hash() -> Result<String, ServiceError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DECOY.get() {
        return Ok(hash.clone());
    }
    let hash = hash_password(Secret::new(new_token())).await?;
    Ok(DECOY.get_or_init(|| hash).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("abc", ""));
    }

    #[test]
    fn tokens_are_fresh_and_url_safe() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
    }
}
