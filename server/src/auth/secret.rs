//! Secrets: resume tokens and generated keys from the OS CSPRNG, compared in constant time so
//! response timing says nothing about how much of a guess was right.

use std::fmt;
use std::path::Path;

use subtle::ConstantTimeEq;

/// Random bytes in a secret from [`new_secret`]: 256 bits, written as 64 hex digits.
pub const SECRET_BYTES: usize = 32;
/// Shortest accepted configured secret (API key, RPC or control secret), in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// A fresh secret: [`SECRET_BYTES`] from the OS CSPRNG (`getrandom`), lowercase hex.
/// Fails only if the OS random source does.
pub fn try_new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh secret, as [`try_new_secret`].
///
/// # Panics
/// If the OS random source fails: there is no safe fallback for a secret, and on the platforms
/// the server runs on this does not happen in practice.
pub fn new_secret() -> String {
    match try_new_secret() {
        Ok(secret) => secret,
        Err(e) => panic!("the OS random number generator failed: {e}"),
    }
}

/// Whether two secrets are equal, in time that depends only on their lengths (which are public:
/// every secret of a kind has the same length).
pub fn secrets_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A configured shared secret (API key, RPC secret, control secret): compared in constant time,
/// never printed by `Debug`.
#[derive(Clone)]
pub struct SharedSecret(String);

/// The key app backends present as `Authorization: Bearer <key>` to the server API.
pub type ApiKey = SharedSecret;

/// Constant-time, like [`SharedSecret::matches`].
impl PartialEq for SharedSecret {
    fn eq(&self, other: &SharedSecret) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for SharedSecret {}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// Why a shared secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "secret from {source_name} is too short ({len} bytes, at least {MIN_SECRET_BYTES}; \
         e.g. `openssl rand -hex 32`)"
    )]
    TooShort { source_name: String, len: usize },
    #[error("secret from {source_name} must be printable ASCII without spaces")]
    Charset { source_name: String },
}

impl SharedSecret {
    /// Checks length and charset (it travels in an HTTP header). Surrounding whitespace, such as
    /// a file's trailing newline, is dropped.
    pub fn new(key: &str, source_name: &str) -> Result<SharedSecret, SecretError> {
        let key = key.trim();
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort {
                source_name: source_name.to_owned(),
                len: key.len(),
            });
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SecretError::Charset {
                source_name: source_name.to_owned(),
            });
        }
        Ok(SharedSecret(key.to_owned()))
    }

    /// A fresh random secret ([`new_secret`]).
    pub fn generate() -> SharedSecret {
        SharedSecret(new_secret())
    }

    /// Reads the secret from a file.
    pub fn from_file(path: &Path) -> Result<SharedSecret, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.display().to_string(),
            source,
        })?;
        SharedSecret::new(&text, &path.display().to_string())
    }

    /// The secret itself, to send (RPC header) or print once at start (control secret).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is the secret, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        secrets_match(&self.0, presented)
    }

    /// Whether an `Authorization` header value is `Bearer <this secret>` (scheme case-insensitive).
    pub fn authorizes(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, key)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && self.matches(key.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn secrets_are_long_hex_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..100 {
            let secret = new_secret();
            assert_eq!(secret.len(), SECRET_BYTES * 2);
            assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(secret));
        }
        assert!(try_new_secret().is_ok());
    }

    #[test]
    fn secrets_match_exactly() {
        let a = new_secret();
        assert!(secrets_match(&a, &a.clone()));
        assert!(!secrets_match(&a, &new_secret()));
        assert!(!secrets_match(&a, &a[..a.len() - 1]));
        assert!(!secrets_match(&a, ""));
        assert!(secrets_match("", ""));
        let mut flipped = a.clone().into_bytes();
        flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
        assert!(!secrets_match(
            &a,
            std::str::from_utf8(&flipped).expect("ascii")
        ));
    }

    #[test]
    fn shared_secrets() {
        let generated = SharedSecret::generate();
        assert_eq!(generated.expose().len(), SECRET_BYTES * 2);
        let key = ApiKey::new(" 0123456789abcdef0123\n", "test").expect("key");
        assert!(key.matches("0123456789abcdef0123"));
        assert!(!key.matches("0123456789abcdef012"));
        assert!(key.authorizes(Some("Bearer 0123456789abcdef0123")));
        assert!(key.authorizes(Some("bearer 0123456789abcdef0123")));
        assert!(!key.authorizes(Some("Basic 0123456789abcdef0123")));
        assert!(!key.authorizes(Some("Bearer")));
        assert!(!key.authorizes(Some("0123456789abcdef0123")));
        assert!(!key.authorizes(None));
        assert!(!format!("{key:?}").contains("0123"));
        assert!(matches!(
            ApiKey::new("short", "test"),
            Err(SecretError::TooShort { len: 5, .. })
        ));
        assert!(matches!(
            ApiKey::new("0123456789 abcdef0123", "test"),
            Err(SecretError::Charset { .. })
        ));
        assert!(matches!(
            ApiKey::from_file(Path::new("/nonexistent/resocket-api-key")),
            Err(SecretError::Read { .. })
        ));
    }
}
