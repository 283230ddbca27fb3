//! JWT verification: who a connection is, from a token minted by the app's backend.
//!
//! One [`TokenVerifier`] per server, built once from a [`JwtConfig`] (HS256 shared secret, or
//! RS256 / ES256 public key in PEM). Only the configured algorithm is accepted, so a token signed
//! with another one (`none`, or HS256 with the public key as secret) is refused.
//!
//! Checks: signature, `exp` (required), `nbf` (when present), `iss` and `aud` (required and
//! checked when configured), and `sub`, the user id: non-empty, at most [`MAX_USER_ID_BYTES`],
//! printable ASCII without space ([`valid_user_id`]). `exp` and `nbf` get [`JwtConfig::leeway_secs`]
//! of clock-skew tolerance (default [`DEFAULT_LEEWAY_SECS`]).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tracing::{debug, warn};

use super::AuthError;

/// Longest user id (`sub`, or a claimed user in insecure mode), in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;
/// Longest token looked at; longer ones are refused as malformed before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default tolerance on `exp` / `nbf` for clock skew between the app backend and this server.
/// Small, because a token that lives a few seconds (tests, short-lived tokens) must still expire.
pub const DEFAULT_LEEWAY_SECS: u64 = 5;
/// Largest accepted leeway: more would make expiry meaningless.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// Shortest HS256 secret (RFC 7518 §3.2: a key at least as long as the hash output, 256 bits).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// Whether `user` is an acceptable user id: 1..=[`MAX_USER_ID_BYTES`] bytes of printable ASCII
/// other than space (`'!'..='~'`). No control characters, no Unicode look-alikes, nothing a log
/// line, room name (`private:<user>`) or close reason could be confused by.
pub fn valid_user_id(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= MAX_USER_ID_BYTES
        && user.bytes().all(|b| b.is_ascii_graphic())
}

/// Who a connection is, as decided by the auth policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The user id (`sub` of a verified token, or the claimed user in insecure mode);
    /// `None` for an anonymous connection.
    pub user: Option<String>,
    /// When the token expires, in unix seconds (`exp`); `None` when nothing expires (anonymous
    /// or insecure mode). The connection should be closed with `token_expired` after
    /// `expires_at + leeway` unless refreshed.
    pub expires_at: Option<u64>,
    /// The token's claims as sent, for permission checks (`channels`); `Value::Null` without a
    /// token.
    pub claims: Value,
}

impl Identity {
    /// A connection without a user id.
    pub fn anonymous() -> Identity {
        Identity {
            user: None,
            expires_at: None,
            claims: Value::Null,
        }
    }

    /// The user id, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// True when the connection has no user id.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }
}

/// The key that verifies tokens, with its algorithm.
#[derive(Clone)]
pub enum JwtKey {
    /// HS256 shared secret (raw bytes, at least [`MIN_HS256_SECRET_BYTES`]).
    Hs256Secret(Vec<u8>),
    /// RS256 public key, PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`).
    Rs256PublicPem(Vec<u8>),
    /// ES256 (P-256) public key, PEM (`BEGIN PUBLIC KEY`).
    Es256PublicPem(Vec<u8>),
}

impl fmt::Debug for JwtKey {
    // Never print the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtKey::Hs256Secret(_) => "Hs256Secret(<redacted>)",
            JwtKey::Rs256PublicPem(_) => "Rs256PublicPem(..)",
            JwtKey::Es256PublicPem(_) => "Es256PublicPem(..)",
        })
    }
}

/// What a [`TokenVerifier`] is built from.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub key: JwtKey,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (the token's `aud`, a string or an array, must contain it), when set.
    pub audience: Option<String>,
    /// Clock-skew tolerance on `exp` / `nbf`, at most [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
}

impl JwtConfig {
    /// A config with the default leeway and no issuer or audience check.
    pub fn new(key: JwtKey) -> JwtConfig {
        JwtConfig {
            key,
            issuer: None,
            audience: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// Why a [`TokenVerifier`] could not be built: a configuration problem, reported at start.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("JWT secret {source_name} is empty")]
    EmptySecret { source_name: String },
    #[error(
        "JWT secret {source_name} is {len} bytes; HS256 needs at least {MIN_HS256_SECRET_BYTES} \
         (e.g. `openssl rand -hex 32`)"
    )]
    ShortSecret { source_name: String, len: usize },
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("environment variable {name} is not set (or not UTF-8)")]
    MissingEnv { name: String },
    #[error("{algorithm} public key is not a valid PEM key for that algorithm: {detail}")]
    BadPublicKey {
        algorithm: &'static str,
        detail: String,
    },
    #[error("JWT leeway {0} s is above the maximum of {MAX_LEEWAY_SECS} s")]
    Leeway(u64),
    #[error("JWT {what} must not be empty when given")]
    EmptyClaimCheck { what: &'static str },
}

impl JwtKey {
    /// An HS256 secret from the contents of a file; surrounding whitespace (a trailing newline)
    /// is not part of the secret.
    pub fn hs256_from_file(path: &Path) -> Result<JwtKey, KeyError> {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            what: "JWT secret file",
            path: path.display().to_string(),
            source,
        })?;
        JwtKey::hs256(trim_ascii(&bytes).to_vec(), &path.display().to_string())
    }

    /// An HS256 secret from an environment variable.
    pub fn hs256_from_env(name: &str) -> Result<JwtKey, KeyError> {
        let value = std::env::var(name).map_err(|_| KeyError::MissingEnv {
            name: name.to_owned(),
        })?;
        JwtKey::hs256(value.trim().as_bytes().to_vec(), &format!("${name}"))
    }

    /// An HS256 secret, checked for length. `source_name` only names it in errors.
    pub fn hs256(secret: Vec<u8>, source_name: &str) -> Result<JwtKey, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret {
                source_name: source_name.to_owned(),
            });
        }
        if secret.len() < MIN_HS256_SECRET_BYTES {
            return Err(KeyError::ShortSecret {
                source_name: source_name.to_owned(),
                len: secret.len(),
            });
        }
        Ok(JwtKey::Hs256Secret(secret))
    }

    /// An RS256 or ES256 public key from a PEM file.
    pub fn public_pem_from_file(path: &Path, algorithm: Algorithm) -> Result<JwtKey, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read {
            what: "JWT public key file",
            path: path.display().to_string(),
            source,
        })?;
        match algorithm {
            Algorithm::RS256 => Ok(JwtKey::Rs256PublicPem(pem)),
            Algorithm::ES256 => Ok(JwtKey::Es256PublicPem(pem)),
            other => Err(KeyError::BadPublicKey {
                algorithm: "?",
                detail: format!("unsupported algorithm {other:?} (use RS256 or ES256)"),
            }),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            JwtKey::Hs256Secret(_) => Algorithm::HS256,
            JwtKey::Rs256PublicPem(_) => Algorithm::RS256,
            JwtKey::Es256PublicPem(_) => Algorithm::ES256,
        }
    }
}

/// Makes sure jsonwebtoken has a crypto backend. It picks one from its features, but if another
/// crate in the build also enables `aws_lc_rs` it picks none and every decode would panic; the
/// pure-Rust one is installed then.
fn ensure_crypto_provider() {
    use jsonwebtoken::crypto::{rust_crypto, CryptoProvider};
    if CryptoProvider::try_get_default().is_none() {
        // An error means another thread installed one first, which serves as well.
        let _ = rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Verifies tokens with one key and algorithm; cheap to clone (shared inside) for connections.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    key: DecodingKey,
    validation: Validation,
    algorithm: Algorithm,
    leeway_secs: u64,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("TokenVerifier")
            .field("algorithm", &inner.algorithm)
            .field("issuer", &inner.validation.iss)
            .field("audience", &inner.validation.aud)
            .field("leeway_secs", &inner.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Builds the verifier, parsing the key now so a bad key fails at start, not on every token.
    pub fn new(config: JwtConfig) -> Result<TokenVerifier, KeyError> {
        if config.leeway_secs > MAX_LEEWAY_SECS {
            return Err(KeyError::Leeway(config.leeway_secs));
        }
        ensure_crypto_provider();
        let algorithm = config.key.algorithm();
        let key = match &config.key {
            JwtKey::Hs256Secret(secret) => DecodingKey::from_secret(secret),
            JwtKey::Rs256PublicPem(pem) => DecodingKey::from_rsa_pem(pem),
            JwtKey::Es256PublicPem(pem) => DecodingKey::from_ec_pem(pem),
        }
        .map_err(|e| KeyError::BadPublicKey {
            algorithm: algorithm_name(algorithm),
            detail: e.to_string(),
        })?;
        // Some backends only parse the key when verifying: try once on a dummy signature so a
        // key of the wrong kind is reported now. A valid key just says "no match".
        jsonwebtoken::crypto::verify("AA", b"probe", &key, algorithm).map_err(|e| {
            KeyError::BadPublicKey {
                algorithm: algorithm_name(algorithm),
                detail: e.to_string(),
            }
        })?;

        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match config.issuer.as_deref() {
            Some("") => return Err(KeyError::EmptyClaimCheck { what: "issuer" }),
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => {}
        }
        match config.audience.as_deref() {
            Some("") => return Err(KeyError::EmptyClaimCheck { what: "audience" }),
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Tokens minted for several services carry an `aud`; without a configured
            // audience there is nothing to compare it with.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(TokenVerifier {
            inner: Arc::new(VerifierInner {
                key,
                validation,
                algorithm,
                leeway_secs: config.leeway_secs,
            }),
        })
    }

    /// The accepted algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The tolerance on `exp` / `nbf`; an expiry timer should fire at `expires_at + leeway`.
    pub fn leeway_secs(&self) -> u64 {
        self.inner.leeway_secs
    }

    /// Verifies `token` and returns who it names. Errors never contain token text.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            debug!(len = token.len(), "token refused: too long");
            return Err(AuthError::Malformed);
        }
        let data = jsonwebtoken::decode::<Value>(token, &self.inner.key, &self.inner.validation)
            .map_err(|e| self.map_error(e))?;
        let claims = data.claims;
        let user = match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if valid_user_id(sub) => sub.to_owned(),
            _ => {
                debug!("token refused: bad subject");
                return Err(AuthError::BadSubject);
            }
        };
        // jsonwebtoken has checked that `exp` is a number; a fractional one is truncated.
        let expires_at = match claims.get("exp") {
            Some(exp) => match exp.as_u64() {
                Some(secs) => secs,
                None => match exp.as_f64() {
                    Some(secs) if secs.is_finite() && secs >= 0.0 => secs as u64,
                    _ => return Err(AuthError::Malformed),
                },
            },
            None => return Err(AuthError::Malformed),
        };
        Ok(Identity {
            user: Some(user),
            expires_at: Some(expires_at),
            claims,
        })
    }

    fn map_error(&self, error: jsonwebtoken::errors::Error) -> AuthError {
        let refused = match error.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidSubject => AuthError::BadSubject,
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "iss" => AuthError::WrongIssuer,
                "aud" => AuthError::WrongAudience,
                "sub" => AuthError::BadSubject,
                _ => AuthError::Malformed,
            },
            // Wrong key, or signed with another algorithm than the configured one.
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => AuthError::BadSignature,
            ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::UnsupportedAlgorithm => {
                warn!(algorithm = ?self.inner.algorithm, error = %error, "token refused: key error");
                AuthError::BadSignature
            }
            _ => AuthError::Malformed,
        };
        debug!(reason = refused.reason(), detail = %error, "token refused");
        refused
    }
}

/// Mints HS256 tokens with the server's own secret: for demo mode's dev-token endpoint and for
/// tests. In production the app backend mints tokens; the server only verifies them.
#[derive(Clone)]
pub struct TokenSigner {
    key: jsonwebtoken::EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSigner(<redacted>)")
    }
}

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a valid user id")]
    BadUser,
    #[error("cannot sign: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl TokenSigner {
    /// A signer for an HS256 secret (as accepted by [`JwtKey::hs256`]).
    pub fn hs256(secret: &[u8]) -> Result<TokenSigner, KeyError> {
        ensure_crypto_provider();
        let JwtKey::Hs256Secret(secret) = JwtKey::hs256(secret.to_vec(), "token signer")? else {
            return Err(KeyError::EmptySecret {
                source_name: "token signer".to_owned(),
            });
        };
        let key =
            jsonwebtoken::EncodingKey::from_secret(&secret).map_err(|_| KeyError::EmptySecret {
                source_name: "token signer".to_owned(),
            })?;
        Ok(TokenSigner {
            key,
            issuer: None,
            audience: None,
        })
    }

    /// Sets `iss` in minted tokens (to match a verifier's `--jwt-issuer`).
    pub fn with_issuer(mut self, issuer: Option<String>) -> TokenSigner {
        self.issuer = issuer;
        self
    }

    /// Sets `aud` in minted tokens (to match a verifier's `--jwt-audience`).
    pub fn with_audience(mut self, audience: Option<String>) -> TokenSigner {
        self.audience = audience;
        self
    }

    /// A token for `user` that expires in `ttl_secs`, granting `channels` (the
    /// [`CHANNELS_CLAIM`](super::CHANNELS_CLAIM)) when not empty.
    pub fn sign(
        &self,
        user: &str,
        ttl_secs: u64,
        channels: &[String],
    ) -> Result<String, SignError> {
        if !valid_user_id(user) {
            return Err(SignError::BadUser);
        }
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "sub": user,
            "iat": now,
            "exp": now.saturating_add(ttl_secs),
        });
        if !channels.is_empty() {
            claims[super::CHANNELS_CLAIM] = serde_json::json!(channels);
        }
        if let Some(issuer) = &self.issuer {
            claims["iss"] = serde_json::json!(issuer);
        }
        if let Some(audience) = &self.audience {
            claims["aud"] = serde_json::json!(audience);
        }
        let header = jsonwebtoken::Header::new(Algorithm::HS256);
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        _ => "other",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
    use serde_json::json;
    use std::path::PathBuf;

    pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

    pub fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(fixture(name)).expect("fixture")
    }

    pub fn now() -> u64 {
        get_current_timestamp()
    }

    pub fn hs256_verifier() -> TokenVerifier {
        let mut config = JwtConfig::new(JwtKey::Hs256Secret(SECRET.to_vec()));
        config.leeway_secs = 0;
        TokenVerifier::new(config).expect("verifier")
    }

    pub fn hs256_token(claims: &Value) -> String {
        sign_hs256(claims, SECRET)
    }

    fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
        let key = EncodingKey::from_secret(secret).expect("key");
        encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
    }

    fn sign_pem(claims: &Value, algorithm: Algorithm, private: &str) -> String {
        let pem = read(private);
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            _ => EncodingKey::from_ec_pem(&pem),
        }
        .expect("private key");
        encode(&Header::new(algorithm), claims, &key).expect("sign")
    }

    fn verifier(key: JwtKey) -> TokenVerifier {
        let mut config = JwtConfig::new(key);
        config.leeway_secs = 0;
        TokenVerifier::new(config).expect("verifier")
    }

    fn rs256_verifier() -> TokenVerifier {
        verifier(
            JwtKey::public_pem_from_file(&fixture("rsa_public.pem"), Algorithm::RS256)
                .expect("pem"),
        )
    }

    fn es256_verifier() -> TokenVerifier {
        verifier(
            JwtKey::public_pem_from_file(&fixture("ec_public.pem"), Algorithm::ES256).expect("pem"),
        )
    }

    fn claims(sub: &str) -> Value {
        json!({"sub": sub, "exp": now() + 60, "channels": ["chat:*"]})
    }

    #[test]
    fn hs256_accepts_a_good_token() {
        let exp = now() + 60;
        let token = hs256_token(&json!({"sub": "alice", "exp": exp, "x": 1}));
        let identity = hs256_verifier().verify(&token).expect("valid");
        assert_eq!(identity.user.as_deref(), Some("alice"));
        assert_eq!(identity.expires_at, Some(exp));
        assert_eq!(identity.claims["x"], 1);
    }

    #[test]
    fn rs256_and_es256_accept_good_tokens_and_refuse_other_keys() {
        for (verifier, algorithm, good, other) in [
            (
                rs256_verifier(),
                Algorithm::RS256,
                "rsa_private.pem",
                "rsa_other_private.pem",
            ),
            (
                es256_verifier(),
                Algorithm::ES256,
                "ec_private.pem",
                "ec_other_private.pem",
            ),
        ] {
            let token = sign_pem(&claims("bob"), algorithm, good);
            let identity = verifier.verify(&token).expect("valid");
            assert_eq!(identity.user_id(), Some("bob"));
            let forged = sign_pem(&claims("bob"), algorithm, other);
            assert_eq!(verifier.verify(&forged), Err(AuthError::BadSignature));
        }
    }

    #[test]
    fn refuses_a_wrong_secret_and_other_algorithms() {
        let forged = sign_hs256(&claims("alice"), b"another-secret-another-secret-0123");
        assert_eq!(
            hs256_verifier().verify(&forged),
            Err(AuthError::BadSignature)
        );
        // RS256 token to an HS256 server, and the classic confusion: HS256 signed with the
        // RSA public key as the secret, sent to an RS256 server.
        let rs = sign_pem(&claims("alice"), Algorithm::RS256, "rsa_private.pem");
        assert_eq!(hs256_verifier().verify(&rs), Err(AuthError::BadSignature));
        let confused = sign_hs256(&claims("alice"), &read("rsa_public.pem"));
        assert_eq!(
            rs256_verifier().verify(&confused),
            Err(AuthError::BadSignature)
        );
        let es = sign_pem(&claims("alice"), Algorithm::ES256, "ec_private.pem");
        assert_eq!(rs256_verifier().verify(&es), Err(AuthError::BadSignature));
    }

    #[test]
    fn refuses_unsigned_and_malformed_tokens() {
        // alg "none": header {"alg":"none","typ":"JWT"}, no signature.
        let none =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6OTk5OTk5OTk5OX0.";
        let v = hs256_verifier();
        assert_eq!(v.verify(none), Err(AuthError::Malformed));
        assert_eq!(v.verify(""), Err(AuthError::Missing));
        for bad in ["x", "a.b", "a.b.c", "....", "ü.ü.ü"] {
            assert_eq!(v.verify(bad), Err(AuthError::Malformed), "{bad}");
        }
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(v.verify(&huge), Err(AuthError::Malformed));
        // A signed token whose claims are not an object with a numeric exp.
        let no_exp = hs256_token(&json!({"sub": "alice"}));
        assert_eq!(v.verify(&no_exp), Err(AuthError::Malformed));
        let text_exp = hs256_token(&json!({"sub": "alice", "exp": "tomorrow"}));
        assert_eq!(v.verify(&text_exp), Err(AuthError::Malformed));
    }

    #[test]
    fn checks_expiry_and_not_before_with_leeway() {
        let v = hs256_verifier();
        let expired = hs256_token(&json!({"sub": "alice", "exp": now() - 10}));
        assert_eq!(v.verify(&expired), Err(AuthError::Expired));
        let early = hs256_token(&json!({"sub": "alice", "exp": now() + 60, "nbf": now() + 30}));
        assert_eq!(v.verify(&early), Err(AuthError::NotYetValid));
        let started = hs256_token(&json!({"sub": "alice", "exp": now() + 60, "nbf": now() - 1}));
        assert!(v.verify(&started).is_ok());

        let mut config = JwtConfig::new(JwtKey::Hs256Secret(SECRET.to_vec()));
        config.leeway_secs = 30;
        let lenient = TokenVerifier::new(config).expect("verifier");
        assert!(lenient.verify(&expired).is_ok());
        assert!(lenient.verify(&early).is_ok());
        assert_eq!(lenient.leeway_secs(), 30);
    }

    #[test]
    fn checks_issuer_and_audience_when_configured() {
        let mut config = JwtConfig::new(JwtKey::Hs256Secret(SECRET.to_vec()));
        config.issuer = Some("https://app.example.com".into());
        config.audience = Some("resocket".into());
        let v = TokenVerifier::new(config).expect("verifier");
        let exp = now() + 60;
        let good = hs256_token(
            &json!({"sub": "a", "exp": exp, "iss": "https://app.example.com", "aud": ["x", "resocket"]}),
        );
        assert!(v.verify(&good).is_ok());
        let bad_iss =
            hs256_token(&json!({"sub": "a", "exp": exp, "iss": "https://evil", "aud": "resocket"}));
        assert_eq!(v.verify(&bad_iss), Err(AuthError::WrongIssuer));
        let no_iss = hs256_token(&json!({"sub": "a", "exp": exp, "aud": "resocket"}));
        assert_eq!(v.verify(&no_iss), Err(AuthError::WrongIssuer));
        let bad_aud = hs256_token(
            &json!({"sub": "a", "exp": exp, "iss": "https://app.example.com", "aud": "other"}),
        );
        assert_eq!(v.verify(&bad_aud), Err(AuthError::WrongAudience));
        let no_aud =
            hs256_token(&json!({"sub": "a", "exp": exp, "iss": "https://app.example.com"}));
        assert_eq!(v.verify(&no_aud), Err(AuthError::WrongAudience));

        // Unconfigured: iss and aud are not looked at.
        let any = hs256_token(&json!({"sub": "a", "exp": exp, "iss": "x", "aud": "y"}));
        assert!(hs256_verifier().verify(&any).is_ok());
    }

    #[test]
    fn checks_the_subject() {
        let v = hs256_verifier();
        let exp = now() + 60;
        for sub in [
            json!(null),
            json!(""),
            json!(42),
            json!("has space"),
            json!("tab\there"),
            json!("new\nline"),
            json!("ünïcode"),
            json!("x".repeat(MAX_USER_ID_BYTES + 1)),
        ] {
            let token = hs256_token(&json!({"sub": sub, "exp": exp}));
            assert!(
                matches!(
                    v.verify(&token),
                    Err(AuthError::BadSubject | AuthError::Malformed)
                ),
                "{sub}"
            );
        }
        let no_sub = hs256_token(&json!({"exp": exp}));
        assert_eq!(v.verify(&no_sub), Err(AuthError::BadSubject));
        let longest = "x".repeat(MAX_USER_ID_BYTES);
        let token = hs256_token(&json!({"sub": longest, "exp": exp}));
        assert!(v.verify(&token).is_ok());
        let odd = hs256_token(&json!({"sub": "auth0|a.b@c:d", "exp": exp}));
        assert!(v.verify(&odd).is_ok());
    }

    #[test]
    fn bad_configs_fail_at_build() {
        assert!(matches!(
            JwtKey::hs256(b"short".to_vec(), "test"),
            Err(KeyError::ShortSecret { len: 5, .. })
        ));
        assert!(matches!(
            JwtKey::hs256(Vec::new(), "test"),
            Err(KeyError::EmptySecret { .. })
        ));
        // An EC key given as RS256, an RSA key as ES256, garbage, a private key.
        for (file, algorithm) in [
            ("ec_public.pem", Algorithm::RS256),
            ("rsa_public.pem", Algorithm::ES256),
            ("README.md", Algorithm::RS256),
            ("ec_private.pem", Algorithm::ES256),
        ] {
            let key = JwtKey::public_pem_from_file(&fixture(file), algorithm).expect("read");
            assert!(
                matches!(
                    TokenVerifier::new(JwtConfig::new(key)),
                    Err(KeyError::BadPublicKey { .. })
                ),
                "{file} as {algorithm:?}"
            );
        }
        assert!(matches!(
            JwtKey::public_pem_from_file(&fixture("missing.pem"), Algorithm::RS256),
            Err(KeyError::Read { .. })
        ));
        let mut config = JwtConfig::new(JwtKey::Hs256Secret(SECRET.to_vec()));
        config.leeway_secs = MAX_LEEWAY_SECS + 1;
        assert!(matches!(
            TokenVerifier::new(config),
            Err(KeyError::Leeway(_))
        ));
    }

    #[test]
    fn secret_files_are_trimmed_and_debug_hides_secrets() {
        let dir = std::env::temp_dir().join(format!("resocket-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("secret");
        std::fs::write(&path, [SECRET, b"\n"].concat()).expect("write");
        let key = JwtKey::hs256_from_file(&path).expect("key");
        assert!(matches!(&key, JwtKey::Hs256Secret(s) if s == SECRET));
        assert!(!format!("{key:?}").contains("test-secret"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_signer_mints_tokens_the_verifier_accepts() {
        let signer = TokenSigner::hs256(SECRET).expect("signer");
        let token = signer
            .sign("alice", 60, &["chat:*".to_owned()])
            .expect("token");
        let identity = hs256_verifier().verify(&token).expect("valid");
        assert_eq!(identity.user_id(), Some("alice"));
        assert_eq!(identity.claims["channels"][0], "chat:*");
        assert!(identity.expires_at.is_some_and(|exp| exp >= now() + 59));
        assert!(matches!(
            signer.sign("a b", 60, &[]),
            Err(SignError::BadUser)
        ));
        assert!(TokenSigner::hs256(b"short").is_err());
    }

    #[test]
    fn user_id_charset() {
        assert!(valid_user_id("alice"));
        assert!(valid_user_id("a@b.c"));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("a b"));
        assert!(!valid_user_id("a\u{7f}"));
        assert!(!valid_user_id("é"));
    }
}
