//! The server's `hello`: the first-frame reader (`connection::check_hello`) on any text and on
//! every hello the client's codec writes, then the auth policy (anonymous, insecure, JWT) on
//! fuzzed tokens and claimed user ids. A JWT is let in exactly when it is signed with the
//! server's key, names a valid user id in `sub`, is within its validity window and agrees with
//! the claimed user; the identity it yields is that `sub` and that `exp`.

use crate::{JsonInput, MAX_FRAME};
use resocket::protocol::codec::{encode_client_frame, ClientFrame};
use resocket::protocol::{close_code, Hello, Resume, PROTOCOL_VERSION};
use resocket_server::auth::{
    valid_user_id, AuthError, AuthPolicy, Identity, JwtConfig, JwtKey, TokenVerifier,
};
use resocket_server::protocol::{check_hello, ProtocolError};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The server's HS256 secret in these runs, and another one.
const SECRET: &[u8] = b"fuzz-secret-fuzz-secret-fuzz-secret!";
const OTHER_SECRET: &[u8] = b"another-secret-another-secret-another";
/// The verifier's leeway; token times are kept well away from the edges.
const LEEWAY_SECS: u64 = 5;
/// The longest token the server reads (`auth::jwt::MAX_TOKEN_BYTES`).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(arbitrary::Arbitrary, Debug)]
pub struct HelloInput {
    /// Any first frame.
    pub text: String,
    /// A hello the client's codec writes.
    pub hello: HelloFields,
    pub claimed: UserInput,
    pub token: TokenInput,
    pub allow_anonymous: bool,
}

#[derive(arbitrary::Arbitrary, Debug)]
pub struct HelloFields {
    pub user: Option<String>,
    pub resume: Option<(String, String)>,
    pub token: Option<String>,
}

#[derive(arbitrary::Arbitrary, Debug, Clone)]
pub enum UserInput {
    None,
    Empty,
    Alice,
    Bob,
    Any(String),
}

impl UserInput {
    fn name(&self) -> Option<String> {
        match self {
            UserInput::None => None,
            UserInput::Empty => Some(String::new()),
            UserInput::Alice => Some("alice".into()),
            UserInput::Bob => Some("bob".into()),
            UserInput::Any(s) => Some(s.clone()),
        }
    }
}

#[derive(arbitrary::Arbitrary, Debug)]
pub enum TokenInput {
    None,
    /// Any text.
    Raw(String),
    /// A token with these claims, signed as `signing` says.
    Signed {
        signing: Signing,
        sub: SubInput,
        exp: TimeInput,
        nbf: TimeInput,
        extra: Option<JsonInput>,
        /// Change one character of the signed token (never the last of a part, whose spare
        /// bits may not count).
        tamper: Option<(u16, u8)>,
    },
}

#[derive(arbitrary::Arbitrary, Debug, Clone, Copy, PartialEq)]
pub enum Signing {
    ServerKey,
    OtherKey,
    /// `alg: none`, no signature.
    Unsigned,
    /// HS384 with the server's secret: the server accepts HS256 only.
    OtherAlgorithm,
}

#[derive(arbitrary::Arbitrary, Debug, Clone)]
pub enum SubInput {
    Missing,
    Number,
    User(UserInput),
}

/// A claim time: absent, a non-number, or this far from now.
#[derive(arbitrary::Arbitrary, Debug, Clone, Copy)]
pub enum TimeInput {
    Missing,
    NotANumber,
    HourAgo,
    MinuteAgo,
    InAMinute,
    InAnHour,
}

impl TimeInput {
    fn claim(self, now: u64) -> Option<Value> {
        match self {
            TimeInput::Missing => None,
            TimeInput::NotANumber => Some(json!("soon")),
            TimeInput::HourAgo => Some(json!(now - 3600)),
            TimeInput::MinuteAgo => Some(json!(now - 60)),
            TimeInput::InAMinute => Some(json!(now + 60)),
            TimeInput::InAnHour => Some(json!(now + 3600)),
        }
    }

    fn past(self) -> bool {
        matches!(self, TimeInput::HourAgo | TimeInput::MinuteAgo)
    }
}

fn verifier() -> &'static TokenVerifier {
    static VERIFIER: OnceLock<TokenVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let key = JwtKey::hs256(SECRET.to_vec(), "fuzz").expect("a valid secret");
        let mut config = JwtConfig::new(key);
        config.leeway_secs = LEEWAY_SECS;
        TokenVerifier::new(config).expect("a verifier")
    })
}

fn insecure() -> &'static AuthPolicy {
    static POLICY: OnceLock<AuthPolicy> = OnceLock::new();
    POLICY.get_or_init(AuthPolicy::insecure_trust_claimed_user)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The first-frame reader: what it accepts re-encodes to itself, what it refuses closes with
/// 4000 (4001 for another version only), and a refusal never quotes the hello's token.
fn first_frame(text: &str) {
    match check_hello(text, MAX_FRAME) {
        Ok(hello) => {
            assert_eq!(hello.version, PROTOCOL_VERSION);
            let again = encode_client_frame::<Value>(ClientFrame::Hello(&hello)).to_string();
            assert_eq!(check_hello(&again, MAX_FRAME), Ok(hello), "{again}");
        }
        Err(error) => {
            match &error {
                ProtocolError::UnsupportedVersion(version) => {
                    assert_ne!(*version, PROTOCOL_VERSION);
                    assert_eq!(error.close_code(), close_code::UNSUPPORTED_VERSION);
                }
                ProtocolError::BadHello(_) => {
                    assert_eq!(error.close_code(), close_code::PROTOCOL_ERROR)
                }
                other => panic!("a hello refused as {other:?}"),
            }
            let token = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.pointer("/payload/token")?.as_str().map(str::to_owned));
            if let Some(token) = token.filter(|t| t.len() >= 8) {
                assert!(
                    !error.to_string().contains(&token),
                    "the close reason quotes the token"
                );
            }
        }
    }
}

/// The token the input describes, and whether the server must accept it (given no claimed
/// user): `Some((sub, exp))` for a valid one.
fn token(input: &TokenInput) -> (Option<String>, Option<(String, u64)>) {
    let TokenInput::Signed {
        signing,
        sub,
        exp,
        nbf,
        extra,
        tamper,
    } = input
    else {
        return match input {
            TokenInput::Raw(text) => (Some(text.clone()), None),
            _ => (None, None),
        };
    };
    // Makes sure the verifier (and its crypto provider) is ready before signing.
    let _ = verifier();
    let now = now();
    let mut claims = match extra.as_ref().map(JsonInput::to_value) {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    for name in ["sub", "exp", "nbf", "iss", "aud", "iat"] {
        claims.remove(name);
    }
    let sub_value = match sub {
        SubInput::Missing => None,
        SubInput::Number => Some(json!(7)),
        SubInput::User(user) => user.name().map(Value::from),
    };
    if let Some(value) = &sub_value {
        claims.insert("sub".into(), value.clone());
    }
    if let Some(value) = exp.claim(now) {
        claims.insert("exp".into(), value);
    }
    if let Some(value) = nbf.claim(now) {
        claims.insert("nbf".into(), value);
    }
    let claims = Value::Object(claims);
    let sign = |alg, secret: &[u8]| {
        let header = jsonwebtoken::Header::new(alg);
        let key = jsonwebtoken::EncodingKey::from_secret(secret).expect("an HMAC key");
        jsonwebtoken::encode(&header, &claims, &key).expect("signing")
    };
    let mut text = match signing {
        Signing::ServerKey => sign(jsonwebtoken::Algorithm::HS256, SECRET),
        Signing::OtherKey => sign(jsonwebtoken::Algorithm::HS256, OTHER_SECRET),
        Signing::OtherAlgorithm => sign(jsonwebtoken::Algorithm::HS384, SECRET),
        Signing::Unsigned => {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let body = b64.encode(claims.to_string());
            format!("{header}.{body}.")
        }
    };
    let mut tampered = false;
    if let Some((at, with)) = tamper {
        // Positions that are not a dot nor the last character of a part.
        let bytes = text.as_bytes();
        let inner: Vec<usize> = (0..bytes.len())
            .filter(|&i| bytes[i] != b'.' && bytes.get(i + 1).is_some_and(|&b| b != b'.'))
            .collect();
        if !inner.is_empty() {
            let at = inner[usize::from(*at) % inner.len()];
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut replacement = ALPHABET[usize::from(*with) % ALPHABET.len()];
            if replacement == bytes[at] {
                replacement = if bytes[at] == b'A' { b'B' } else { b'A' };
            }
            let mut bytes = text.into_bytes();
            bytes[at] = replacement;
            text = String::from_utf8(bytes).expect("ASCII");
            tampered = true;
        }
    }
    let sub = sub_value.as_ref().and_then(Value::as_str);
    let exp_secs = exp.claim(now).and_then(|v| v.as_u64());
    let valid = *signing == Signing::ServerKey
        && !tampered
        && text.len() <= MAX_TOKEN_BYTES
        && sub.is_some_and(valid_user_id)
        && exp_secs.is_some()
        && !exp.past()
        && !matches!(
            nbf,
            TimeInput::NotANumber | TimeInput::InAMinute | TimeInput::InAnHour
        );
    let expected = match (valid, sub, exp_secs) {
        (true, Some(sub), Some(exp)) => Some((sub.to_owned(), exp)),
        _ => None,
    };
    (Some(text), expected)
}

/// Each policy on a token and a claimed user.
fn authenticate(input: &HelloInput) {
    let claimed = input.claimed.name();
    let claimed_ref = claimed.as_deref().filter(|c| !c.is_empty());
    let (token, valid) = token(&input.token);
    let token_ref = token.as_deref().filter(|t| !t.is_empty());

    let anonymous = AuthPolicy::anonymous().authenticate(token.as_deref(), claimed.as_deref());
    match (token_ref, claimed_ref) {
        (None, None) => assert_eq!(anonymous, Ok(Identity::anonymous())),
        _ => assert_eq!(anonymous, Err(AuthError::AnonymousOnly)),
    }

    let trusted = insecure().authenticate(token.as_deref(), claimed.as_deref());
    match claimed_ref {
        None => assert_eq!(trusted, Ok(Identity::anonymous())),
        Some(user) if valid_user_id(user) => {
            let identity = trusted.expect("a valid claimed user");
            assert_eq!(identity.user.as_deref(), Some(user));
            assert_eq!(identity.expires_at, None);
        }
        Some(_) => assert_eq!(trusted, Err(AuthError::BadUser)),
    }

    let policy = AuthPolicy::jwt(verifier().clone(), input.allow_anonymous);
    let result = policy.authenticate(token.as_deref(), claimed.as_deref());
    match (token_ref, &valid) {
        (None, _) => {
            if input.allow_anonymous && claimed_ref.is_none() {
                assert_eq!(result, Ok(Identity::anonymous()));
            } else {
                assert_eq!(result, Err(AuthError::Missing));
            }
        }
        (Some(_), None) => {
            assert!(
                result.is_err(),
                "an invalid token let in: {:?} {result:?}",
                input.token
            )
        }
        (Some(_), Some((sub, exp))) => match claimed_ref {
            Some(user) if user != sub => assert_eq!(result, Err(AuthError::UserMismatch)),
            _ => {
                let identity = result.clone().expect("a valid token");
                assert_eq!(identity.user.as_deref(), Some(sub.as_str()));
                assert_eq!(identity.expires_at, Some(*exp));
                // A refresh keeps the user: the same token refreshes it, none other does.
                let refreshed = policy.refresh(&identity, token.as_deref().unwrap_or(""));
                assert_eq!(refreshed.map(|i| i.user), Ok(identity.user.clone()));
            }
        },
    }
    if let Ok(identity) = &result {
        assert!(identity.user.as_deref().is_none_or(valid_user_id));
    }
}

/// The hello target: any first frame, the client's hellos, and the auth policies.
pub fn hello(input: HelloInput) {
    first_frame(&input.text);
    let fields = &input.hello;
    let hello = Hello {
        version: PROTOCOL_VERSION,
        user: fields.user.clone(),
        resume: fields
            .resume
            .clone()
            .map(|(session, token)| Resume { session, token }),
        token: fields.token.clone(),
    };
    let text = encode_client_frame::<Value>(ClientFrame::Hello(&hello)).to_string();
    if text.len() <= MAX_FRAME {
        assert_eq!(
            check_hello(&text, MAX_FRAME),
            Ok(hello),
            "the client's hello: {text}"
        );
    }
    first_frame(&text);
    authenticate(&input);
}
