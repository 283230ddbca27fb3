//! How a `hello` becomes an [`Identity`]: the server's one authentication decision.
//!
//! - [`AuthMode::Jwt`]: the token decides; a `hello.user` that disagrees with `sub` is refused.
//!   Connections without a token are refused unless anonymous connections are allowed too.
//! - [`AuthMode::Anonymous`]: no tokens at all; every connection is anonymous (no user id).
//! - [`AuthMode::InsecureTrustClaimedUser`]: the old behaviour, `hello.user` taken as is. For
//!   demos and tests only: anyone can claim anyone, so building it logs a warning.

use std::fmt;

use tracing::{debug, warn};

use super::jwt::{valid_user_id, Identity, TokenVerifier};
use super::AuthError;

/// Where identities come from.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Verified JWTs.
    Jwt(TokenVerifier),
    /// Nobody has a user id.
    Anonymous,
    /// Whatever the client claims. Insecure.
    InsecureTrustClaimedUser,
}

/// The authentication policy of a server; build once at start, share read-only.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    mode: AuthMode,
    allow_anonymous: bool,
}

impl AuthPolicy {
    /// JWT authentication; with `allow_anonymous`, a `hello` without token (and without a
    /// claimed user) is let in as anonymous instead of refused.
    pub fn jwt(verifier: TokenVerifier, allow_anonymous: bool) -> AuthPolicy {
        AuthPolicy {
            mode: AuthMode::Jwt(verifier),
            allow_anonymous,
        }
    }

    /// Anonymous connections only.
    pub fn anonymous() -> AuthPolicy {
        AuthPolicy {
            mode: AuthMode::Anonymous,
            allow_anonymous: true,
        }
    }

    /// Trust `hello.user` as is. Logs a warning: call it once, at start.
    pub fn insecure_trust_claimed_user() -> AuthPolicy {
        warn!(
            "INSECURE: identities are whatever clients claim (--insecure-trust-client-user); \
             anyone can impersonate any user. For demos and tests only."
        );
        AuthPolicy {
            mode: AuthMode::InsecureTrustClaimedUser,
            allow_anonymous: true,
        }
    }

    /// Where identities come from.
    pub fn mode(&self) -> &AuthMode {
        &self.mode
    }

    /// Whether connections without a user id are accepted.
    pub fn allows_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    /// The verifier's leeway (0 without JWT), for the connection's expiry timer.
    pub fn leeway_secs(&self) -> u64 {
        match &self.mode {
            AuthMode::Jwt(verifier) => verifier.leeway_secs(),
            _ => 0,
        }
    }

    /// Decides a `hello`'s identity from its token and claimed user (empty strings count as
    /// absent, as `hello.user` always has).
    pub fn authenticate(
        &self,
        token: Option<&str>,
        claimed_user: Option<&str>,
    ) -> Result<Identity, AuthError> {
        let token = token.filter(|t| !t.is_empty());
        let claimed = claimed_user.filter(|u| !u.is_empty());
        match &self.mode {
            AuthMode::Jwt(verifier) => match token {
                Some(token) => {
                    let identity = verifier.verify(token)?;
                    match claimed {
                        Some(claimed) if Some(claimed) != identity.user_id() => {
                            debug!("hello refused: claimed user differs from the token's sub");
                            Err(AuthError::UserMismatch)
                        }
                        _ => Ok(identity),
                    }
                }
                // Claiming a user without proving it is refused even when anonymous is allowed:
                // the client expects to be that user and would silently not be.
                None if self.allow_anonymous && claimed.is_none() => Ok(Identity::anonymous()),
                None => Err(AuthError::Missing),
            },
            AuthMode::Anonymous => {
                if token.is_some() || claimed.is_some() {
                    Err(AuthError::AnonymousOnly)
                } else {
                    Ok(Identity::anonymous())
                }
            }
            AuthMode::InsecureTrustClaimedUser => match claimed {
                Some(user) if valid_user_id(user) => Ok(Identity {
                    user: Some(user.to_owned()),
                    expires_at: None,
                    claims: serde_json::Value::Null,
                }),
                Some(_) => Err(AuthError::BadUser),
                None => Ok(Identity::anonymous()),
            },
        }
    }

    /// Checks an in-band `refresh` token for a connection that is `current`. The new token
    /// must name the same user; the result replaces the connection's identity (new expiry and
    /// claims).
    pub fn refresh(&self, current: &Identity, token: &str) -> Result<Identity, AuthError> {
        let AuthMode::Jwt(verifier) = &self.mode else {
            return Err(AuthError::RefreshUnsupported);
        };
        if current.is_anonymous() {
            // An anonymous connection becomes someone only by reconnecting with a token.
            return Err(AuthError::SubjectChanged);
        }
        let identity = verifier.verify(token)?;
        if identity.user != current.user {
            debug!("refresh refused: token is for another user");
            return Err(AuthError::SubjectChanged);
        }
        Ok(identity)
    }
}

impl fmt::Display for AuthPolicy {
    /// One line for the start-up log, e.g. `JWT RS256, anonymous allowed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            AuthMode::Jwt(verifier) => {
                write!(f, "JWT {:?}", verifier.algorithm())?;
                if self.allow_anonymous {
                    f.write_str(", anonymous allowed")?;
                }
                Ok(())
            }
            AuthMode::Anonymous => f.write_str("anonymous only"),
            AuthMode::InsecureTrustClaimedUser => f.write_str("INSECURE: trusts claimed users"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::tests::{hs256_token, hs256_verifier, now};
    use serde_json::json;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    fn token(sub: &str) -> String {
        hs256_token(&json!({"sub": sub, "exp": now() + 60}))
    }

    #[test]
    fn jwt_mode_uses_the_token_and_refuses_a_disagreeing_claim() {
        let policy = AuthPolicy::jwt(hs256_verifier(), false);
        let alice = token("alice");
        let identity = policy.authenticate(Some(&alice), None).expect("ok");
        assert_eq!(identity.user_id(), Some("alice"));
        assert!(policy.authenticate(Some(&alice), Some("alice")).is_ok());
        assert!(policy.authenticate(Some(&alice), Some("")).is_ok());
        assert_eq!(
            policy.authenticate(Some(&alice), Some("bob")),
            Err(AuthError::UserMismatch)
        );
        assert_eq!(policy.authenticate(None, None), Err(AuthError::Missing));
        assert_eq!(policy.authenticate(Some(""), None), Err(AuthError::Missing));
        assert_eq!(
            policy.authenticate(None, Some("alice")),
            Err(AuthError::Missing)
        );
        assert_eq!(
            policy.authenticate(Some("garbage"), None),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn jwt_mode_with_anonymous_lets_tokenless_hellos_in_without_user() {
        let policy = AuthPolicy::jwt(hs256_verifier(), true);
        assert!(policy.allows_anonymous());
        let identity = policy.authenticate(None, None).expect("anonymous");
        assert!(identity.is_anonymous());
        assert_eq!(identity.expires_at, None);
        // A claimed user still needs a token, and a bad token is not downgraded.
        assert_eq!(
            policy.authenticate(None, Some("alice")),
            Err(AuthError::Missing)
        );
        let expired = hs256_token(&json!({"sub": "alice", "exp": now() - 10}));
        assert_eq!(
            policy.authenticate(Some(&expired), None),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn anonymous_mode_refuses_identities() {
        let policy = AuthPolicy::anonymous();
        assert!(policy.authenticate(None, None).expect("ok").is_anonymous());
        assert!(policy.authenticate(Some(""), Some("")).is_ok());
        assert_eq!(
            policy.authenticate(None, Some("alice")),
            Err(AuthError::AnonymousOnly)
        );
        assert_eq!(
            policy.authenticate(Some(&token("alice")), None),
            Err(AuthError::AnonymousOnly)
        );
        assert_eq!(policy.leeway_secs(), 0);
        assert_eq!(policy.to_string(), "anonymous only");
        assert_eq!(
            AuthPolicy::jwt(hs256_verifier(), true).to_string(),
            "JWT HS256, anonymous allowed"
        );
    }

    #[test]
    fn insecure_mode_trusts_valid_claims_and_warns() {
        let policy = with_captured_logs(AuthPolicy::insecure_trust_claimed_user);
        assert!(policy.1.contains("INSECURE"), "{}", policy.1);
        let policy = policy.0;
        let identity = policy.authenticate(None, Some("alice")).expect("ok");
        assert_eq!(identity.user_id(), Some("alice"));
        assert!(policy.authenticate(None, None).expect("ok").is_anonymous());
        assert_eq!(
            policy.authenticate(None, Some("a\nb")),
            Err(AuthError::BadUser)
        );
        assert_eq!(
            policy.refresh(&identity, &token("alice")),
            Err(AuthError::RefreshUnsupported)
        );
    }

    #[test]
    fn refresh_keeps_the_subject() {
        let policy = AuthPolicy::jwt(hs256_verifier(), true);
        let current = policy
            .authenticate(Some(&token("alice")), None)
            .expect("ok");
        let exp = now() + 120;
        let fresh = hs256_token(&json!({"sub": "alice", "exp": exp}));
        let refreshed = policy.refresh(&current, &fresh).expect("refreshed");
        assert_eq!(refreshed.expires_at, Some(exp));
        assert_eq!(
            policy.refresh(&current, &token("bob")),
            Err(AuthError::SubjectChanged)
        );
        let expired = hs256_token(&json!({"sub": "alice", "exp": now() - 10}));
        assert_eq!(policy.refresh(&current, &expired), Err(AuthError::Expired));
        assert_eq!(
            policy.refresh(&Identity::anonymous(), &token("alice")),
            Err(AuthError::SubjectChanged)
        );
    }

    /// Runs `f` with a subscriber writing into a buffer; returns its result and the output.
    fn with_captured_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut buffer) = self.0.lock() {
                    buffer.extend_from_slice(bytes);
                }
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let result = tracing::subscriber::with_default(subscriber, f);
        let output = buffer
            .0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        (result, output)
    }
}
