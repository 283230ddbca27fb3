//! The auth-related command-line flags (`clap`, each also read from a `RESOCKET_*` environment
//! variable) and their assembly into the pieces the server runs with ([`AuthSetup`]).
//!
//! The server's parser flattens [`AuthArgs`] (`#[command(flatten)] auth: AuthArgs`) and calls
//! [`AuthArgs::build`] once at start; any error stops the server with its message.
//!
//! Secrets are never taken as flag values (they would show in `ps` and shell history): files,
//! or environment variables (`RESOCKET_JWT_SECRET`, `RESOCKET_API_KEY`, `RESOCKET_RPC_SECRET`).
//! The one exception is `--control-secret`, for test setups that must know it in advance.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::FalseyValueParser;
use tracing::info;

use super::jwt::{JwtConfig, JwtKey, KeyError, TokenSigner, TokenVerifier, DEFAULT_LEEWAY_SECS};
use super::namespaces::{Namespaces, NamespacesError};
use super::origin::{OriginConfigError, OriginPolicy};
use super::policy::AuthPolicy;
use super::secret::{new_secret, SecretError, SharedSecret};

/// Environment variable read for the HS256 secret when no other key source is given.
pub const JWT_SECRET_ENV: &str = "RESOCKET_JWT_SECRET";
/// Environment variable read for the API key when `--api-key-file` is not given.
pub const API_KEY_ENV: &str = "RESOCKET_API_KEY";
/// Environment variable read for the RPC secret when `--rpc-secret-file` is not given.
pub const RPC_SECRET_ENV: &str = "RESOCKET_RPC_SECRET";
/// Default `--rpc-timeout-ms`.
pub const DEFAULT_RPC_TIMEOUT_MS: u64 = 5_000;
/// Largest `--rpc-timeout-ms`: a client request should not hang longer than this.
pub const MAX_RPC_TIMEOUT_MS: u64 = 60_000;

/// `--jwt-algorithm` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithmArg {
    /// HMAC-SHA256 with a shared secret.
    Hs256,
    /// RSA PKCS#1 v1.5 with SHA-256, public key in PEM.
    Rs256,
    /// ECDSA P-256 with SHA-256, public key in PEM.
    Es256,
}

/// Authentication, permission and backend-interface flags. `Default` is what an empty command
/// line parses to.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// HS256: file holding the JWT secret (at least 32 bytes; surrounding whitespace ignored)
    #[arg(long, value_name = "FILE", env = "RESOCKET_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// HS256: name of an environment variable holding the JWT secret [default: RESOCKET_JWT_SECRET when set]
    #[arg(long, value_name = "NAME", env = "RESOCKET_JWT_SECRET_ENV")]
    pub jwt_secret_env: Option<String>,

    /// RS256/ES256: PEM file with the public key that verifies tokens (needs --jwt-algorithm)
    #[arg(long, value_name = "FILE", env = "RESOCKET_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// Token algorithm: hs256 with a secret (the default), rs256 or es256 with --jwt-public-key
    #[arg(long, value_enum, value_name = "ALG", env = "RESOCKET_JWT_ALGORITHM")]
    pub jwt_algorithm: Option<JwtAlgorithmArg>,

    /// Required `iss` claim
    #[arg(long, value_name = "ISSUER", env = "RESOCKET_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim (the token's aud must contain it)
    #[arg(long, value_name = "AUDIENCE", env = "RESOCKET_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Clock-skew tolerance on exp/nbf, in seconds (at most 300)
    #[arg(long, value_name = "SECS", env = "RESOCKET_JWT_LEEWAY_SECS", default_value_t = DEFAULT_LEEWAY_SECS)]
    pub jwt_leeway_secs: u64,

    /// Accept connections without a token, as anonymous (no user id)
    #[arg(long, env = "RESOCKET_ALLOW_ANONYMOUS", value_parser = FalseyValueParser::new())]
    pub allow_anonymous: bool,

    /// INSECURE, demos and tests only: take hello.user as the identity, unverified
    #[arg(long, env = "RESOCKET_INSECURE_TRUST_CLIENT_USER", value_parser = FalseyValueParser::new())]
    pub insecure_trust_client_user: bool,

    /// Origin allowed to open /ws, e.g. https://app.example.com (repeatable; * for any) [default: same host or loopback]
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        env = "RESOCKET_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Namespace and permission config file (TOML, see resocket.example.toml)
    #[arg(long, value_name = "FILE", env = "RESOCKET_CONFIG")]
    pub config: Option<PathBuf>,

    /// File holding the server API key (Authorization: Bearer) [default: $RESOCKET_API_KEY]
    #[arg(long, value_name = "FILE", env = "RESOCKET_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Serve the server API on this separate address instead of the main listener
    #[arg(long, value_name = "ADDR", env = "RESOCKET_API_ADDR")]
    pub api_addr: Option<SocketAddr>,

    /// Forward client requests not handled locally to this http(s) URL
    #[arg(long, value_name = "URL", env = "RESOCKET_RPC_URL")]
    pub rpc_url: Option<String>,

    /// File holding the secret sent to --rpc-url [default: $RESOCKET_RPC_SECRET]
    #[arg(long, value_name = "FILE", env = "RESOCKET_RPC_SECRET_FILE")]
    pub rpc_secret_file: Option<PathBuf>,

    /// Timeout of a forwarded request, in milliseconds (at most 60000)
    #[arg(long, value_name = "MS", env = "RESOCKET_RPC_TIMEOUT_MS", default_value_t = DEFAULT_RPC_TIMEOUT_MS)]
    pub rpc_timeout_ms: u64,

    /// Enable the /control/* test endpoints (each call needs the control secret)
    #[arg(long, env = "RESOCKET_TEST_CONTROLS", value_parser = FalseyValueParser::new())]
    pub test_controls: bool,

    /// Secret for /control/* calls [default: generated and printed at start]
    #[arg(long, value_name = "SECRET", env = "RESOCKET_CONTROL_SECRET")]
    pub control_secret: Option<String>,

    /// Demo mode: demo request methods, the price feed, and dev tokens signed with a generated secret
    #[arg(long, env = "RESOCKET_DEMO", value_parser = FalseyValueParser::new())]
    pub demo: bool,
}

impl Default for AuthArgs {
    fn default() -> Self {
        AuthArgs {
            jwt_secret_file: None,
            jwt_secret_env: None,
            jwt_public_key: None,
            jwt_algorithm: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_leeway_secs: DEFAULT_LEEWAY_SECS,
            allow_anonymous: false,
            insecure_trust_client_user: false,
            allowed_origins: Vec::new(),
            config: None,
            api_key_file: None,
            api_addr: None,
            rpc_url: None,
            rpc_secret_file: None,
            rpc_timeout_ms: DEFAULT_RPC_TIMEOUT_MS,
            test_controls: false,
            control_secret: None,
            demo: false,
        }
    }
}

/// Forwarding of client requests to the app backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcSetup {
    pub url: String,
    /// Sent with every forwarded request so the backend knows it comes from this server.
    pub secret: SharedSecret,
    pub timeout: Duration,
}

/// Everything the auth flags configure, ready to use.
#[derive(Debug, Clone)]
pub struct AuthSetup {
    pub policy: AuthPolicy,
    pub origins: OriginPolicy,
    pub namespaces: Namespaces,
    /// The server API key; `None`: the server API is off.
    pub api_key: Option<SharedSecret>,
    /// Where the server API listens; `None`: on the main listener (when `api_key` is set).
    pub api_addr: Option<SocketAddr>,
    pub rpc: Option<RpcSetup>,
    /// `Some(secret)`: `/control/*` is on and each call must present it.
    pub control_secret: Option<SharedSecret>,
    pub demo: bool,
    /// Demo mode without a configured key: signs the dev tokens the verifier accepts.
    pub demo_signer: Option<TokenSigner>,
}

/// A flag combination or a file that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("no authentication configured: give --jwt-secret-file, --jwt-secret-env, ${JWT_SECRET_ENV} or --jwt-public-key; or --allow-anonymous; or --insecure-trust-client-user (demos and tests only)")]
    NoAuth,
    #[error("give only one of --jwt-secret-file, --jwt-secret-env and --jwt-public-key")]
    SeveralKeys,
    #[error("--jwt-algorithm {0} does not fit the key: hs256 takes a secret, rs256/es256 take --jwt-public-key")]
    AlgorithmMismatch(&'static str),
    #[error("--jwt-public-key needs --jwt-algorithm rs256 or es256")]
    PublicKeyAlgorithm,
    #[error("--insecure-trust-client-user cannot be combined with a JWT key")]
    InsecureWithJwt,
    #[error("--jwt-issuer, --jwt-audience and --jwt-leeway-secs need a JWT key")]
    ClaimChecksWithoutJwt,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Origin(#[from] OriginConfigError),
    #[error(transparent)]
    Namespaces(#[from] NamespacesError),
    #[error("{flag}: {source}")]
    Secret {
        flag: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("--api-addr needs an API key (--api-key-file or ${API_KEY_ENV})")]
    ApiAddrWithoutKey,
    #[error("--rpc-url {0:?} must be an http:// or https:// URL")]
    RpcUrl(String),
    #[error("--rpc-url needs a shared secret (--rpc-secret-file or ${RPC_SECRET_ENV})")]
    RpcWithoutSecret,
    #[error("--rpc-secret-file and --rpc-timeout-ms need --rpc-url")]
    RpcOptionsWithoutUrl,
    #[error("--rpc-timeout-ms must be 1 to {MAX_RPC_TIMEOUT_MS}")]
    RpcTimeout,
    #[error("--control-secret needs --test-controls")]
    ControlSecretWithoutControls,
}

impl AuthArgs {
    /// Builds the setup, reading key files and the process environment.
    pub fn build(&self) -> Result<AuthSetup, AuthConfigError> {
        self.build_with_env(|name| std::env::var(name).ok())
    }

    /// [`build`](AuthArgs::build) with `env` looking up environment variables (for tests).
    pub fn build_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthSetup, AuthConfigError> {
        let mut demo_signer = None;
        let policy = match self.jwt_key(&env)? {
            Some(_) if self.insecure_trust_client_user => {
                return Err(AuthConfigError::InsecureWithJwt)
            }
            Some(key) => AuthPolicy::jwt(self.verifier(key)?, self.allow_anonymous),
            None if self.demo && !self.insecure_trust_client_user => {
                // Dev tokens signed with a secret that lives as long as the process.
                let secret = new_secret();
                let key = JwtKey::hs256(secret.clone().into_bytes(), "generated demo secret")?;
                demo_signer = Some(
                    TokenSigner::hs256(secret.as_bytes())?
                        .with_issuer(self.jwt_issuer.clone())
                        .with_audience(self.jwt_audience.clone()),
                );
                info!("demo mode: dev tokens are signed with a generated secret");
                AuthPolicy::jwt(self.verifier(key)?, self.allow_anonymous)
            }
            None if self.jwt_issuer.is_some()
                || self.jwt_audience.is_some()
                || self.jwt_leeway_secs != DEFAULT_LEEWAY_SECS =>
            {
                return Err(AuthConfigError::ClaimChecksWithoutJwt)
            }
            None if self.insecure_trust_client_user => AuthPolicy::insecure_trust_claimed_user(),
            None if self.allow_anonymous => AuthPolicy::anonymous(),
            None => return Err(AuthConfigError::NoAuth),
        };

        let origins = OriginPolicy::new(&self.allowed_origins)?;
        let namespaces = match &self.config {
            Some(path) => Namespaces::load(path)?,
            None => Namespaces::default(),
        };

        let api_key =
            match &self.api_key_file {
                Some(path) => Some(SharedSecret::from_file(path).map_err(|source| {
                    AuthConfigError::Secret {
                        flag: "--api-key-file",
                        source,
                    }
                })?),
                None => match env(API_KEY_ENV) {
                    Some(key) => Some(SharedSecret::new(&key, API_KEY_ENV).map_err(|source| {
                        AuthConfigError::Secret {
                            flag: API_KEY_ENV,
                            source,
                        }
                    })?),
                    None => None,
                },
            };
        if self.api_addr.is_some() && api_key.is_none() {
            return Err(AuthConfigError::ApiAddrWithoutKey);
        }

        let rpc = self.rpc(&env)?;

        let control_secret = match (&self.control_secret, self.test_controls) {
            (Some(_), false) => return Err(AuthConfigError::ControlSecretWithoutControls),
            (Some(secret), true) => Some(SharedSecret::new(secret, "--control-secret").map_err(
                |source| AuthConfigError::Secret {
                    flag: "--control-secret",
                    source,
                },
            )?),
            (None, true) => {
                let secret = SharedSecret::generate();
                // Printed once so test scripts and people can call the endpoints.
                info!(
                    control_secret = secret.expose(),
                    "test controls: generated control secret (send it as X-Resocket-Control-Secret)"
                );
                Some(secret)
            }
            (None, false) => None,
        };

        Ok(AuthSetup {
            policy,
            origins,
            namespaces,
            api_key,
            api_addr: self.api_addr,
            rpc,
            control_secret,
            demo: self.demo,
            demo_signer,
        })
    }

    /// The configured verification key, if any.
    fn jwt_key(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<JwtKey>, AuthConfigError> {
        let explicit = [
            self.jwt_secret_file.is_some(),
            self.jwt_secret_env.is_some(),
            self.jwt_public_key.is_some(),
        ];
        if explicit.iter().filter(|given| **given).count() > 1 {
            return Err(AuthConfigError::SeveralKeys);
        }
        let secret_algorithm = |key: JwtKey| match self.jwt_algorithm {
            None | Some(JwtAlgorithmArg::Hs256) => Ok(Some(key)),
            Some(JwtAlgorithmArg::Rs256) => Err(AuthConfigError::AlgorithmMismatch("rs256")),
            Some(JwtAlgorithmArg::Es256) => Err(AuthConfigError::AlgorithmMismatch("es256")),
        };
        if let Some(path) = &self.jwt_secret_file {
            return secret_algorithm(JwtKey::hs256_from_file(path)?);
        }
        if let Some(name) = &self.jwt_secret_env {
            let value = env(name).ok_or_else(|| KeyError::MissingEnv { name: name.clone() })?;
            return secret_algorithm(JwtKey::hs256(
                value.trim().as_bytes().to_vec(),
                &format!("${name}"),
            )?);
        }
        if let Some(path) = &self.jwt_public_key {
            let algorithm = match self.jwt_algorithm {
                Some(JwtAlgorithmArg::Rs256) => jsonwebtoken::Algorithm::RS256,
                Some(JwtAlgorithmArg::Es256) => jsonwebtoken::Algorithm::ES256,
                Some(JwtAlgorithmArg::Hs256) => {
                    return Err(AuthConfigError::AlgorithmMismatch("hs256"))
                }
                None => return Err(AuthConfigError::PublicKeyAlgorithm),
            };
            return Ok(Some(JwtKey::public_pem_from_file(path, algorithm)?));
        }
        match env(JWT_SECRET_ENV) {
            Some(value) => secret_algorithm(JwtKey::hs256(
                value.trim().as_bytes().to_vec(),
                &format!("${JWT_SECRET_ENV}"),
            )?),
            None => match self.jwt_algorithm {
                Some(_) => Err(AuthConfigError::NoAuth),
                None => Ok(None),
            },
        }
    }

    fn verifier(&self, key: JwtKey) -> Result<TokenVerifier, AuthConfigError> {
        Ok(TokenVerifier::new(JwtConfig {
            key,
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            leeway_secs: self.jwt_leeway_secs,
        })?)
    }

    fn rpc(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<RpcSetup>, AuthConfigError> {
        let Some(url) = &self.rpc_url else {
            if self.rpc_secret_file.is_some() || self.rpc_timeout_ms != DEFAULT_RPC_TIMEOUT_MS {
                return Err(AuthConfigError::RpcOptionsWithoutUrl);
            }
            return Ok(None);
        };
        let lower = url.to_ascii_lowercase();
        let has_host = |rest: &str| !rest.is_empty() && !rest.starts_with('/');
        let valid = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"))
            .is_some_and(has_host)
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            return Err(AuthConfigError::RpcUrl(url.clone()));
        }
        if self.rpc_timeout_ms == 0 || self.rpc_timeout_ms > MAX_RPC_TIMEOUT_MS {
            return Err(AuthConfigError::RpcTimeout);
        }
        let secret = match &self.rpc_secret_file {
            Some(path) => {
                SharedSecret::from_file(path).map_err(|source| AuthConfigError::Secret {
                    flag: "--rpc-secret-file",
                    source,
                })?
            }
            None => match env(RPC_SECRET_ENV) {
                Some(secret) => SharedSecret::new(&secret, RPC_SECRET_ENV).map_err(|source| {
                    AuthConfigError::Secret {
                        flag: RPC_SECRET_ENV,
                        source,
                    }
                })?,
                None => return Err(AuthConfigError::RpcWithoutSecret),
            },
        };
        Ok(Some(RpcSetup {
            url: url.clone(),
            secret,
            timeout: Duration::from_millis(self.rpc_timeout_ms),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::tests::{fixture, hs256_token, now, SECRET};
    use crate::auth::policy::AuthMode;
    use crate::auth::AuthError;
    use clap::{CommandFactory, Parser};
    use serde_json::json;
    use std::collections::HashMap;

    #[derive(Debug, Parser)]
    #[command(name = "resocket-server")]
    struct Cli {
        #[command(flatten)]
        auth: AuthArgs,
    }

    fn parse(args: &[&str]) -> AuthArgs {
        let mut argv = vec!["resocket-server"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.auth,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn build(args: &[&str], env: &[(&str, &str)]) -> Result<AuthSetup, AuthConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(args).build_with_env(|name| env.get(name).cloned())
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("resocket-options-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    const SECRET_TEXT: &str = "0123456789abcdef0123456789abcdef-test-secret";

    #[test]
    fn the_parser_is_consistent_and_help_lists_env_vars() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "--jwt-secret-file",
            "RESOCKET_JWT_SECRET_FILE",
            "--allowed-origin",
            "RESOCKET_ALLOWED_ORIGINS",
            "--insecure-trust-client-user",
            "--rpc-timeout-ms",
            "RESOCKET_DEMO",
        ] {
            assert!(help.contains(needle), "{needle} missing from help");
        }
    }

    #[test]
    fn parses_every_flag() {
        let args = parse(&[
            "--jwt-public-key",
            "k.pem",
            "--jwt-algorithm",
            "es256",
            "--jwt-issuer",
            "https://app",
            "--jwt-audience",
            "resocket",
            "--jwt-leeway-secs",
            "2",
            "--allow-anonymous",
            "--allowed-origin",
            "https://a.example",
            "--allowed-origin",
            "https://b.example",
            "--config",
            "r.toml",
            "--api-key-file",
            "api.key",
            "--api-addr",
            "127.0.0.1:9000",
            "--rpc-url",
            "http://127.0.0.1:7000/rpc",
            "--rpc-secret-file",
            "rpc.key",
            "--rpc-timeout-ms",
            "1500",
            "--test-controls",
            "--control-secret",
            "s3cr3t-s3cr3t-s3cr3t",
            "--demo",
        ]);
        assert_eq!(args.jwt_algorithm, Some(JwtAlgorithmArg::Es256));
        assert_eq!(args.jwt_public_key, Some(PathBuf::from("k.pem")));
        assert_eq!(args.jwt_leeway_secs, 2);
        assert!(args.allow_anonymous && args.test_controls && args.demo);
        assert!(!args.insecure_trust_client_user);
        assert_eq!(
            args.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(args.api_addr, Some("127.0.0.1:9000".parse().expect("addr")));
        assert_eq!(args.rpc_timeout_ms, 1500);

        let defaults = parse(&[]);
        assert_eq!(
            format!("{defaults:?}"),
            format!("{:?}", AuthArgs::default())
        );
        assert_eq!(defaults.jwt_leeway_secs, DEFAULT_LEEWAY_SECS);
        assert_eq!(defaults.rpc_timeout_ms, DEFAULT_RPC_TIMEOUT_MS);
        assert!(defaults.allowed_origins.is_empty());
        assert!(!defaults.demo);

        let mut argv = vec!["resocket-server", "--jwt-algorithm", "none"];
        assert!(Cli::try_parse_from(&argv).is_err());
        argv = vec!["resocket-server", "--api-addr", "nowhere"];
        assert!(Cli::try_parse_from(&argv).is_err());
    }

    #[test]
    fn builds_hs256_from_a_file_or_the_environment() {
        let path = temp_file("jwt-secret", &format!("{SECRET_TEXT}\n"));
        let token = hs256_token(&json!({"sub": "alice", "exp": now() + 60}));
        for setup in [
            build(&["--jwt-secret-file", path.to_str().expect("utf8")], &[]),
            build(
                &["--jwt-secret-env", "MY_SECRET"],
                &[("MY_SECRET", SECRET_TEXT)],
            ),
            build(&[], &[(JWT_SECRET_ENV, SECRET_TEXT)]),
            build(
                &["--jwt-algorithm", "hs256"],
                &[(JWT_SECRET_ENV, SECRET_TEXT)],
            ),
        ] {
            let setup = setup.expect("setup");
            assert!(matches!(setup.policy.mode(), AuthMode::Jwt(_)));
            assert!(!setup.policy.allows_anonymous());
            let identity = setup.policy.authenticate(Some(&token), None).expect("ok");
            assert_eq!(identity.user_id(), Some("alice"));
            assert!(setup.api_key.is_none() && setup.rpc.is_none());
            assert!(setup.control_secret.is_none() && setup.demo_signer.is_none());
        }
        assert_eq!(SECRET, SECRET_TEXT.as_bytes());
        assert!(matches!(
            build(&["--jwt-secret-env", "UNSET"], &[]),
            Err(AuthConfigError::Key(KeyError::MissingEnv { .. }))
        ));
        assert!(matches!(
            build(&[], &[(JWT_SECRET_ENV, "short")]),
            Err(AuthConfigError::Key(KeyError::ShortSecret { .. }))
        ));
    }

    #[test]
    fn builds_public_key_verifiers() {
        let rsa = fixture("rsa_public.pem");
        let ec = fixture("ec_public.pem");
        let rsa = rsa.to_str().expect("utf8");
        let ec = ec.to_str().expect("utf8");
        let setup = build(
            &[
                "--jwt-public-key",
                rsa,
                "--jwt-algorithm",
                "rs256",
                "--allow-anonymous",
            ],
            &[],
        )
        .expect("rs256");
        assert!(setup.policy.allows_anonymous());
        assert!(build(&["--jwt-public-key", ec, "--jwt-algorithm", "es256"], &[]).is_ok());
        assert!(matches!(
            build(&["--jwt-public-key", ec], &[]),
            Err(AuthConfigError::PublicKeyAlgorithm)
        ));
        assert!(matches!(
            build(&["--jwt-public-key", ec, "--jwt-algorithm", "rs256"], &[]),
            Err(AuthConfigError::Key(KeyError::BadPublicKey { .. }))
        ));
        assert!(matches!(
            build(&["--jwt-public-key", ec, "--jwt-algorithm", "hs256"], &[]),
            Err(AuthConfigError::AlgorithmMismatch("hs256"))
        ));
    }

    #[test]
    fn refuses_ambiguous_or_missing_auth() {
        assert!(matches!(build(&[], &[]), Err(AuthConfigError::NoAuth)));
        assert!(matches!(
            build(&["--jwt-algorithm", "rs256"], &[]),
            Err(AuthConfigError::NoAuth)
        ));
        assert!(matches!(
            build(
                &["--jwt-secret-env", "A", "--jwt-public-key", "k.pem"],
                &[("A", SECRET_TEXT)]
            ),
            Err(AuthConfigError::SeveralKeys)
        ));
        assert!(matches!(
            build(
                &["--insecure-trust-client-user"],
                &[(JWT_SECRET_ENV, SECRET_TEXT)]
            ),
            Err(AuthConfigError::InsecureWithJwt)
        ));
        assert!(matches!(
            build(
                &["--jwt-secret-env", "A", "--jwt-algorithm", "es256"],
                &[("A", SECRET_TEXT)]
            ),
            Err(AuthConfigError::AlgorithmMismatch("es256"))
        ));
        assert!(matches!(
            build(&["--allow-anonymous", "--jwt-issuer", "x"], &[]),
            Err(AuthConfigError::ClaimChecksWithoutJwt)
        ));
    }

    #[test]
    fn anonymous_insecure_and_demo_modes() {
        let anonymous = build(&["--allow-anonymous"], &[]).expect("anonymous");
        assert!(matches!(anonymous.policy.mode(), AuthMode::Anonymous));
        let insecure = build(&["--insecure-trust-client-user"], &[]).expect("insecure");
        assert!(matches!(
            insecure.policy.mode(),
            AuthMode::InsecureTrustClaimedUser
        ));

        let demo = build(&["--demo"], &[]).expect("demo");
        assert!(demo.demo);
        let signer = demo.demo_signer.as_ref().expect("signer");
        let token = signer.sign("alice", 60, &[]).expect("token");
        let identity = demo.policy.authenticate(Some(&token), None).expect("ok");
        assert_eq!(identity.user_id(), Some("alice"));
        // Another run, another secret.
        let other = build(&["--demo"], &[]).expect("demo");
        assert_eq!(
            other.policy.authenticate(Some(&token), None),
            Err(AuthError::BadSignature)
        );
        // Claim checks apply to the dev tokens too.
        let checked = build(
            &[
                "--demo",
                "--jwt-issuer",
                "demo",
                "--jwt-audience",
                "app",
                "--jwt-leeway-secs",
                "0",
            ],
            &[],
        )
        .expect("demo");
        let signer = checked.demo_signer.as_ref().expect("signer");
        let token = signer.sign("bob", 60, &[]).expect("token");
        assert!(checked.policy.authenticate(Some(&token), None).is_ok());
        assert_eq!(checked.policy.leeway_secs(), 0);
        // Insecure demo: no tokens at all.
        let insecure = build(&["--demo", "--insecure-trust-client-user"], &[]).expect("demo");
        assert!(insecure.demo_signer.is_none());
        // A configured key wins over the generated one.
        let keyed = build(&["--demo"], &[(JWT_SECRET_ENV, SECRET_TEXT)]).expect("demo");
        assert!(keyed.demo_signer.is_none());
    }

    #[test]
    fn origins_namespaces_and_api_key() {
        let config = temp_file("resocket.toml", "[namespaces.chat]\npublish = true\n");
        let key = temp_file("api.key", "0123456789abcdef0123456789abcdef\n");
        let setup = build(
            &[
                "--allow-anonymous",
                "--allowed-origin",
                "https://app.example.com",
                "--config",
                config.to_str().expect("utf8"),
                "--api-key-file",
                key.to_str().expect("utf8"),
                "--api-addr",
                "127.0.0.1:9000",
            ],
            &[],
        )
        .expect("setup");
        assert!(setup
            .origins
            .check(Some("https://app.example.com"), None)
            .is_ok());
        assert!(setup
            .origins
            .check(Some("http://localhost:1"), None)
            .is_err());
        let api_key = setup.api_key.expect("key");
        assert!(api_key.authorizes(Some("Bearer 0123456789abcdef0123456789abcdef")));
        let alice = crate::auth::Identity {
            user: Some("alice".into()),
            expires_at: None,
            claims: serde_json::Value::Null,
        };
        assert!(setup.namespaces.can_publish(&alice, "chat:1").is_ok());

        let from_env =
            build(&["--allow-anonymous"], &[(API_KEY_ENV, "0123456789abcdef")]).expect("env key");
        assert!(from_env.api_key.expect("key").matches("0123456789abcdef"));

        assert!(matches!(
            build(&["--allow-anonymous", "--allowed-origin", "evil"], &[]),
            Err(AuthConfigError::Origin(_))
        ));
        let bad = temp_file("bad.toml", "[default]\nfoo = 1\n");
        let error = build(
            &["--allow-anonymous", "--config", bad.to_str().expect("utf8")],
            &[],
        )
        .expect_err("bad config")
        .to_string();
        assert!(
            error.contains("foo") && error.contains("bad.toml"),
            "{error}"
        );
        assert!(matches!(
            build(&["--allow-anonymous", "--api-addr", "127.0.0.1:9000"], &[]),
            Err(AuthConfigError::ApiAddrWithoutKey)
        ));
        assert!(matches!(
            build(&["--allow-anonymous"], &[(API_KEY_ENV, "short")]),
            Err(AuthConfigError::Secret { .. })
        ));
    }

    #[test]
    fn rpc_and_controls() {
        let env = [(RPC_SECRET_ENV, "rpc-secret-rpc-secret")];
        let setup = build(
            &[
                "--allow-anonymous",
                "--rpc-url",
                "https://backend.internal/resocket",
                "--rpc-timeout-ms",
                "250",
            ],
            &env,
        )
        .expect("rpc");
        let rpc = setup.rpc.expect("rpc");
        assert_eq!(rpc.timeout, Duration::from_millis(250));
        assert_eq!(rpc.secret.expose(), "rpc-secret-rpc-secret");
        for url in [
            "ftp://x",
            "http://",
            "backend",
            "http:///path",
            "http://a b",
        ] {
            assert!(
                matches!(
                    build(&["--allow-anonymous", "--rpc-url", url], &env),
                    Err(AuthConfigError::RpcUrl(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            build(&["--allow-anonymous", "--rpc-url", "http://b"], &[]),
            Err(AuthConfigError::RpcWithoutSecret)
        ));
        assert!(matches!(
            build(
                &[
                    "--allow-anonymous",
                    "--rpc-url",
                    "http://b",
                    "--rpc-timeout-ms",
                    "0"
                ],
                &env
            ),
            Err(AuthConfigError::RpcTimeout)
        ));
        assert!(matches!(
            build(&["--allow-anonymous", "--rpc-timeout-ms", "10"], &env),
            Err(AuthConfigError::RpcOptionsWithoutUrl)
        ));

        let controls = build(&["--allow-anonymous", "--test-controls"], &[]).expect("controls");
        assert_eq!(
            controls.control_secret.expect("generated").expose().len(),
            64
        );
        let given = build(
            &[
                "--allow-anonymous",
                "--test-controls",
                "--control-secret",
                "control-secret-1234",
            ],
            &[],
        )
        .expect("controls");
        assert!(given
            .control_secret
            .expect("given")
            .matches("control-secret-1234"));
        assert!(matches!(
            build(
                &[
                    "--allow-anonymous",
                    "--control-secret",
                    "control-secret-1234"
                ],
                &[]
            ),
            Err(AuthConfigError::ControlSecretWithoutControls)
        ));
    }
}
