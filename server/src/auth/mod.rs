//! The trust boundary: who a connection is, what it may do, and who may connect at all.
//!
//! Self-contained, pure building blocks (no sockets, no server state), each with its tests:
//! - [`jwt`]: verify a JWT into an [`Identity`];
//! - [`policy`]: decide a `hello`'s identity (JWT, anonymous, or the insecure trust-the-client mode);
//! - [`secret`]: CSPRNG secrets (resume tokens, generated keys) and constant-time comparison;
//! - [`origin`]: the `/ws` `Origin` check against cross-site WebSocket hijacking;
//! - [`namespaces`]: per-namespace permissions from the `--config` TOML file;
//! - [`options`]: the command-line flags (`clap`) and their assembly into an [`AuthSetup`].
//!
//! See `docs/AUTH.md`.

pub mod jwt;
pub mod namespaces;
pub mod options;
pub mod origin;
pub mod policy;
pub mod secret;

pub use jwt::{
    valid_user_id, Identity, JwtConfig, JwtKey, KeyError, SignError, TokenSigner, TokenVerifier,
    DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS, MAX_TOKEN_BYTES, MAX_USER_ID_BYTES,
};
pub use namespaces::{
    Denied, DocWrite, HistoryLimits, JoinRule, NamespaceConfig, Namespaces, NamespacesError,
    UnknownNamespaces, CHANNELS_CLAIM,
};
pub use options::{AuthArgs, AuthConfigError, AuthSetup, JwtAlgorithmArg, RpcSetup};
pub use origin::{OriginConfigError, OriginPolicy, OriginRefused};
pub use policy::{AuthMode, AuthPolicy};
pub use secret::{new_secret, secrets_match, try_new_secret, ApiKey, SecretError, SharedSecret};

/// Why a connection's identity was refused. Nothing in it (message or [`reason`]) contains
/// token text, so it can be logged and sent to the client.
///
/// [`reason`]: AuthError::reason
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token, and the server needs one.
    #[error("a token is required")]
    Missing,
    /// Not a JWT, not the expected shape, too long, or without a numeric `exp`.
    #[error("the token is malformed")]
    Malformed,
    /// Not signed by the configured key with the configured algorithm.
    #[error("the token signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` missing or not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` missing or without the configured audience.
    #[error("the token audience is not accepted")]
    WrongAudience,
    /// `sub` missing, empty, too long or with characters outside the user id charset.
    #[error("the token subject is not a valid user id")]
    BadSubject,
    /// `hello.user` disagrees with the token's `sub`.
    #[error("the claimed user does not match the token")]
    UserMismatch,
    /// A refreshed token names another user than the connection's.
    #[error("the refreshed token is for another user")]
    SubjectChanged,
    /// Insecure mode: the claimed user id is not a valid user id.
    #[error("the claimed user id is invalid")]
    BadUser,
    /// A token or a claimed user was sent to a server that only accepts anonymous connections.
    #[error("this server only accepts anonymous connections")]
    AnonymousOnly,
    /// `refresh` on a connection that has no token to refresh (anonymous or insecure mode).
    #[error("this connection has no token to refresh")]
    RefreshUnsupported,
}

impl AuthError {
    /// Short, stable, snake_case reason for the WebSocket close frame or an error reply
    /// (well under the 123-byte close-reason limit, never token text).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Malformed => "token_malformed",
            AuthError::BadSignature => "token_bad_signature",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::WrongIssuer => "token_wrong_issuer",
            AuthError::WrongAudience => "token_wrong_audience",
            AuthError::BadSubject => "token_bad_subject",
            AuthError::UserMismatch => "user_mismatch",
            AuthError::SubjectChanged => "subject_changed",
            AuthError::BadUser => "bad_user",
            AuthError::AnonymousOnly => "anonymous_only",
            AuthError::RefreshUnsupported => "refresh_unsupported",
        }
    }

    /// True for an expired token: the one refusal a client fixes by fetching a fresh token
    /// (close with the `token_expired` code rather than `unauthorized`).
    pub fn is_expired(&self) -> bool {
        matches!(self, AuthError::Expired)
    }

    /// Every variant, for tests and docs.
    pub const ALL: [AuthError; 13] = [
        AuthError::Missing,
        AuthError::Malformed,
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongAudience,
        AuthError::BadSubject,
        AuthError::UserMismatch,
        AuthError::SubjectChanged,
        AuthError::BadUser,
        AuthError::AnonymousOnly,
        AuthError::RefreshUnsupported,
    ];
}

#[cfg(test)]
mod tests {
    use super::AuthError;
    use std::collections::HashSet;

    #[test]
    fn reasons_are_short_distinct_and_plain() {
        let mut seen = HashSet::new();
        for error in AuthError::ALL {
            let reason = error.reason();
            assert!(reason.len() <= 123, "{reason}");
            assert!(reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(seen.insert(reason), "duplicate {reason}");
            assert!(error.to_string().len() <= 123);
        }
        assert!(AuthError::Expired.is_expired());
        assert!(!AuthError::BadSignature.is_expired());
    }
}
