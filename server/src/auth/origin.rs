//! The `Origin` check on WebSocket upgrades, against cross-site WebSocket hijacking: browsers
//! send cookies and reach loopback servers from any page, but always say which page (`Origin`).
//!
//! - No `--allowed-origin`: same-host origins (the `Origin`'s host and port equal the request's
//!   `Host`) and loopback origins (`localhost`, `127.0.0.0/8`, `[::1]`, any port) are accepted.
//! - `--allowed-origin https://app.example.com` (repeatable): exactly those origins (scheme, host
//!   and port; default ports may be written or not), nothing implicit.
//! - `--allowed-origin '*'`: any origin; the check is off.
//!
//! A request without `Origin` is accepted in every mode: it does not come from a browser page,
//! so there is no victim browser whose cookies or network position it could use.

use std::fmt;
use std::net::IpAddr;

use tracing::debug;

/// Longest `Origin` text kept in a refusal (for logs).
const MAX_LOGGED_ORIGIN: usize = 100;

/// A parsed `scheme://host[:port]` origin, lowercased, with its effective port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses a serialized origin. Only `http` and `https`; no userinfo, path, query or fragment
    /// (one trailing `/` is tolerated in configured values).
    fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let (host, port) = split_host_port(rest)?;
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        let ip = self.host.trim_start_matches('[').trim_end_matches(']');
        ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// Splits `host[:port]` (IPv6 in brackets), lowercasing the host. `None` for anything else,
/// such as userinfo (`a@b`), paths, empty hosts or bad ports.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let (host, rest) = text.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let valid_host = !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
        })
        && (host.starts_with('[') || !host.contains([':', '[', ']']));
    if !valid_host {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host.to_ascii_lowercase(), port))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    SameHostOrLoopback,
    Any,
    List(Vec<Origin>),
}

/// Which `Origin`s may open a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Allowed,
}

/// A configured `--allowed-origin` that is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--allowed-origin {0:?} is not an origin: use scheme://host[:port] (http or https, no path), \
     or * for any"
)]
pub struct OriginConfigError(pub String);

/// An upgrade refused because of its `Origin` (answer 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("origin {origin:?} is not allowed")]
pub struct OriginRefused {
    /// The refused `Origin`, truncated for logs.
    pub origin: String,
}

impl Default for OriginPolicy {
    fn default() -> Self {
        OriginPolicy {
            allowed: Allowed::SameHostOrLoopback,
        }
    }
}

impl OriginPolicy {
    /// From the `--allowed-origin` values: empty gives the default (same host or loopback), a
    /// `*` anywhere allows any origin, otherwise exactly the listed origins.
    pub fn new<S: AsRef<str>>(allowed: &[S]) -> Result<OriginPolicy, OriginConfigError> {
        if allowed.is_empty() {
            return Ok(OriginPolicy::default());
        }
        if allowed.iter().any(|a| a.as_ref().trim() == "*") {
            return Ok(OriginPolicy {
                allowed: Allowed::Any,
            });
        }
        let origins = allowed
            .iter()
            .map(|a| {
                let text = a.as_ref().trim();
                let trimmed = text.strip_suffix('/').unwrap_or(text);
                Origin::parse(trimmed).ok_or_else(|| OriginConfigError(text.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OriginPolicy {
            allowed: Allowed::List(origins),
        })
    }

    /// Whether any origin is accepted (`*`).
    pub fn allows_any(&self) -> bool {
        self.allowed == Allowed::Any
    }

    /// Checks an upgrade's `Origin` header against the policy; `host` is its `Host` header.
    pub fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), OriginRefused> {
        let Some(text) = origin else {
            return Ok(());
        };
        if self.allowed == Allowed::Any {
            return Ok(());
        }
        let accepted = match (&self.allowed, Origin::parse(text)) {
            (_, None) => false,
            (Allowed::Any, Some(_)) => true,
            (Allowed::List(list), Some(parsed)) => list.contains(&parsed),
            (Allowed::SameHostOrLoopback, Some(parsed)) => {
                parsed.is_loopback() || host.is_some_and(|h| same_host(&parsed, h))
            }
        };
        if accepted {
            Ok(())
        } else {
            let origin: String = text.chars().take(MAX_LOGGED_ORIGIN).collect();
            debug!(origin = %origin.escape_debug(), "WebSocket origin refused");
            Err(OriginRefused { origin })
        }
    }
}

/// Whether a `Host` header names a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), any
/// port. A page reached through DNS rebinding sends its own name instead.
pub fn is_loopback_host(host_header: &str) -> bool {
    split_host_port(host_header.trim()).is_some_and(|(host, _)| {
        Origin {
            scheme: "http".into(),
            host,
            port: 0,
        }
        .is_loopback()
    })
}

/// Whether `origin` is the very origin `host_header` names (same host and port).
pub fn is_same_host(origin: &str, host_header: &str) -> bool {
    Origin::parse(origin).is_some_and(|origin| same_host(&origin, host_header))
}

/// Whether the origin names the host (and port) the request was sent to. A `Host` without port
/// means the default port of the origin's scheme (as it does for the browser that sent both).
fn same_host(origin: &Origin, host_header: &str) -> bool {
    match split_host_port(host_header.trim()) {
        Some((host, port)) => {
            let default_port = if origin.scheme == "https" { 443 } else { 80 };
            host == origin.host && port.unwrap_or(default_port) == origin.port
        }
        None => false,
    }
}

impl fmt::Display for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.allowed {
            Allowed::SameHostOrLoopback => f.write_str("same host or loopback"),
            Allowed::Any => f.write_str("any origin"),
            Allowed::List(list) => {
                for (i, o) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}://{}:{}", o.scheme, o.host, o.port)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> OriginPolicy {
        OriginPolicy::new::<&str>(&[]).expect("default")
    }

    #[test]
    fn missing_origin_is_accepted_everywhere() {
        assert!(default().check(None, Some("example.com")).is_ok());
        assert!(default().check(None, None).is_ok());
        let list = OriginPolicy::new(&["https://app.example.com"]).expect("list");
        assert!(list.check(None, None).is_ok());
    }

    #[test]
    fn default_accepts_loopback_and_same_host() {
        let p = default();
        for origin in [
            "http://localhost:5173",
            "http://localhost",
            "http://127.0.0.1:8080",
            "https://127.0.0.1",
            "http://[::1]:3000",
            "HTTP://LOCALHOST:1",
        ] {
            assert!(
                p.check(Some(origin), Some("127.0.0.1:8080")).is_ok(),
                "{origin}"
            );
            assert!(p.check(Some(origin), None).is_ok(), "{origin}");
        }
        assert!(p
            .check(Some("https://app.example.com"), Some("app.example.com"))
            .is_ok());
        assert!(p
            .check(Some("https://app.example.com"), Some("APP.example.com:443"))
            .is_ok());
        assert!(p
            .check(
                Some("http://app.example.com:8080"),
                Some("app.example.com:8080")
            )
            .is_ok());
        assert!(p
            .check(
                Some("http://[2001:db8::1]:8080"),
                Some("[2001:db8::1]:8080")
            )
            .is_ok());
    }

    #[test]
    fn default_refuses_cross_site_hijacks() {
        let p = default();
        for (origin, host) in [
            ("https://evil.example", Some("127.0.0.1:8080")),
            ("https://evil.example", Some("localhost:8080")),
            ("https://evil.example", None),
            ("http://localhost.evil.com", Some("127.0.0.1:8080")),
            ("http://localhost@evil.com", Some("127.0.0.1:8080")),
            ("http://127.0.0.1.evil.com", Some("127.0.0.1:8080")),
            ("null", Some("127.0.0.1:8080")),
            ("", Some("127.0.0.1:8080")),
            ("file://", Some("127.0.0.1:8080")),
            ("chrome-extension://abc", Some("127.0.0.1:8080")),
            ("https://app.example.com", Some("app.example.com:8443")),
            ("http://app.example.com", Some("app.example.com:443")),
            ("https://app.example.com.evil", Some("app.example.com")),
            ("https://app.example.com/path", Some("app.example.com")),
            ("https://app.example.com:99999", Some("app.example.com")),
        ] {
            let refused = p.check(Some(origin), host);
            assert!(refused.is_err(), "{origin} -> {host:?}");
        }
    }

    #[test]
    fn lists_accept_exactly_their_origins() {
        let p = OriginPolicy::new(&["https://app.example.com/", "http://localhost:5173"])
            .expect("list");
        assert!(p.check(Some("https://app.example.com"), None).is_ok());
        assert!(p.check(Some("https://app.example.com:443"), None).is_ok());
        assert!(p.check(Some("http://localhost:5173"), None).is_ok());
        // Not listed, even though loopback or same-host.
        assert!(p.check(Some("http://localhost:5174"), None).is_err());
        assert!(p
            .check(Some("https://other.example.com"), Some("other.example.com"))
            .is_err());
        assert!(p.check(Some("http://app.example.com"), None).is_err());
        assert!(p.check(Some("null"), None).is_err());
        assert_eq!(
            p.to_string(),
            "https://app.example.com:443, http://localhost:5173"
        );
    }

    #[test]
    fn star_allows_anything() {
        let p = OriginPolicy::new(&["https://a.example", "*"]).expect("any");
        assert!(p.allows_any());
        assert!(p.check(Some("null"), None).is_ok());
        assert!(p.check(Some("https://evil.example"), None).is_ok());
    }

    #[test]
    fn bad_configured_origins_are_errors() {
        for bad in [
            "app.example.com",
            "https://",
            "ftp://x",
            "https://a/b",
            "null",
            "",
        ] {
            assert!(OriginPolicy::new(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_and_same_host_helpers() {
        for host in [
            "localhost:8080",
            "127.0.0.1",
            "127.9.9.9:1",
            "[::1]:80",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "localhost.evil.com",
            "10.0.0.1:80",
            "",
            "a@b",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
        assert!(is_same_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!is_same_host("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!is_same_host("http://localhost:8080", "127.0.0.1:8080"));
        assert!(!is_same_host("null", "127.0.0.1:8080"));
    }

    #[test]
    fn refusals_truncate_the_origin() {
        let long = format!("https://{}.example", "a".repeat(500));
        let refused = default().check(Some(&long), None).expect_err("refused");
        assert_eq!(refused.origin.chars().count(), MAX_LOGGED_ORIGIN);
    }
}
