//! Permissions per namespace, from the `--config` TOML file (see `server/resocket.example.toml`).
//!
//! A room or document name's namespace is the part before the first `:` (`chat:42` is in
//! `chat`); a name without `:` is in the default namespace, configured by `[default]`. Each
//! namespace says who may join (or sync), whether clients may publish, presence, history
//! bounds and who may write documents. Keys a namespace leaves out take the built-in defaults,
//! which are the safe ones: join needs a user id, publish is off, `doc_write = "members"`.
//! `[names."<name>"]` sets one room or document (such as `prices`) apart from its namespace.
//!
//! Without a config file: the default namespace as above, `private` owner-only, client
//! `broadcast` off. `private` stays owner-only in every config unless redefined.
//!
//! The checks are pure functions of an [`Identity`] and a name.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::jwt::Identity;

/// The token claim listing the names a user may join in `join = "claims"` namespaces: a string
/// or an array of strings; each is an exact name or a prefix ending in `*` (`"chat:*"`).
pub const CHANNELS_CLAIM: &str = "channels";
/// The namespace of `private:<user>` rooms, owner-only unless configured otherwise.
pub const PRIVATE_NAMESPACE: &str = "private";
/// Largest `history_size`, so a typo cannot make every room hold millions of messages.
pub const MAX_HISTORY_SIZE: usize = 100_000;
/// Largest `history_ttl_secs` (30 days).
pub const MAX_HISTORY_TTL_SECS: u64 = 30 * 24 * 3600;
/// Longest namespace name in the config.
pub const MAX_NAMESPACE_BYTES: usize = 64;
/// Longest `[names]` entry (the longest room or document name, 256 bytes).
pub const MAX_EXACT_NAME_BYTES: usize = 256;

/// Who may join a room or sync a document of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinRule {
    /// Anyone, anonymous connections included.
    Anyone,
    /// Any connection with a user id.
    Authenticated,
    /// Users whose token's [`CHANNELS_CLAIM`] grants the name.
    Claims,
    /// Only the user whose id is the part after the `:` (`private:alice` is alice's).
    Owner,
}

/// Who may change a document of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocWrite {
    /// Whoever may join (sync) it.
    Members,
    /// Only the owner (the part after the `:` is the user id).
    Owner,
    /// Nobody through the WebSocket (server-side ops only).
    None,
}

/// What happens to names in namespaces the config does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownNamespaces {
    /// They follow `[default]`.
    Default,
    /// They are refused.
    Deny,
}

/// One namespace's settings, as written in the file (everything optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamespaceToml {
    join: Option<JoinRule>,
    publish: Option<bool>,
    presence: Option<bool>,
    history_size: Option<usize>,
    history_ttl_secs: Option<u64>,
    history_bytes: Option<usize>,
    doc_write: Option<DocWrite>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    client_broadcast: Option<bool>,
    unknown_namespaces: Option<UnknownNamespaces>,
    default: Option<NamespaceToml>,
    #[serde(default)]
    namespaces: HashMap<String, NamespaceToml>,
    #[serde(default)]
    names: HashMap<String, NamespaceToml>,
}

/// One namespace's effective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceConfig {
    pub join: JoinRule,
    pub publish: bool,
    pub presence: bool,
    pub history: HistoryLimits,
    pub doc_write: DocWrite,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig {
            join: JoinRule::Authenticated,
            publish: false,
            presence: true,
            history: HistoryLimits {
                size: None,
                ttl: None,
                bytes: None,
            },
            doc_write: DocWrite::Members,
        }
    }
}

impl NamespaceConfig {
    fn private() -> NamespaceConfig {
        NamespaceConfig {
            join: JoinRule::Owner,
            doc_write: DocWrite::Owner,
            ..NamespaceConfig::default()
        }
    }

    fn from_toml(name: &str, t: NamespaceToml) -> Result<NamespaceConfig, NamespacesError> {
        let base = NamespaceConfig::default();
        let size = t.history_size;
        if let Some(size) = size.filter(|&size| size > MAX_HISTORY_SIZE) {
            return Err(NamespacesError::Invalid(format!(
                "namespace {name:?}: history_size {size} is above the maximum {MAX_HISTORY_SIZE}"
            )));
        }
        let ttl = match t.history_ttl_secs {
            None => None,
            Some(0) => {
                return Err(NamespacesError::Invalid(format!(
                    "namespace {name:?}: history_ttl_secs must be at least 1 \
                     (leave it out for no time limit)"
                )))
            }
            Some(secs) if secs > MAX_HISTORY_TTL_SECS => {
                return Err(NamespacesError::Invalid(format!(
                    "namespace {name:?}: history_ttl_secs {secs} is above the maximum \
                     {MAX_HISTORY_TTL_SECS}"
                )))
            }
            Some(secs) => Some(Duration::from_secs(secs)),
        };
        if t.history_bytes == Some(0) {
            return Err(NamespacesError::Invalid(format!(
                "namespace {name:?}: history_bytes must be at least 1 \
                 (history_size = 0 keeps no history)"
            )));
        }
        Ok(NamespaceConfig {
            join: t.join.unwrap_or(base.join),
            publish: t.publish.unwrap_or(base.publish),
            presence: t.presence.unwrap_or(base.presence),
            history: HistoryLimits {
                size,
                ttl,
                bytes: t.history_bytes,
            },
            doc_write: t.doc_write.unwrap_or(base.doc_write),
        })
    }
}

/// How much history a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Most messages kept (0: none); `None`: the server's `--history`.
    pub size: Option<usize>,
    /// Messages older than this are dropped; `None`: the server's `--history-ttl-ms`.
    pub ttl: Option<Duration>,
    /// Most bytes of messages kept (oldest evicted; a larger message is refused `too_large`);
    /// `None`: the server's `--history-bytes`.
    pub bytes: Option<usize>,
}

/// Why an action was refused; [`Denied::reason`] is a short message for the client (the
/// protocol's `forbidden` error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("sign in to join this room")]
    NotAuthenticated,
    #[error("your token does not grant this name")]
    NotGranted,
    #[error("only its owner may use this name")]
    NotOwner,
    #[error("clients may not publish in this namespace")]
    PublishDisabled,
    #[error("documents in this namespace are read-only for you")]
    DocReadOnly,
    #[error("client broadcast is disabled")]
    BroadcastDisabled,
    #[error("unknown namespace")]
    UnknownNamespace,
}

impl Denied {
    /// Short, stable snake_case reason (for logs, metrics and error messages).
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::NotAuthenticated => "not_authenticated",
            Denied::NotGranted => "not_granted",
            Denied::NotOwner => "not_owner",
            Denied::PublishDisabled => "publish_disabled",
            Denied::DocReadOnly => "doc_read_only",
            Denied::BroadcastDisabled => "broadcast_disabled",
            Denied::UnknownNamespace => "unknown_namespace",
        }
    }
}

/// A config file that cannot be used; the message says where and why.
#[derive(Debug, thiserror::Error)]
pub enum NamespacesError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// The permission rules of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    default: NamespaceConfig,
    named: HashMap<String, NamespaceConfig>,
    /// Settings of single names (`[names."prices"]`), which take precedence over their namespace.
    exact: HashMap<String, NamespaceConfig>,
    unknown: UnknownNamespaces,
    client_broadcast: bool,
}

impl Default for Namespaces {
    /// The rules without a config file: see the module docs.
    fn default() -> Self {
        let mut named = HashMap::new();
        named.insert(PRIVATE_NAMESPACE.to_owned(), NamespaceConfig::private());
        Namespaces {
            default: NamespaceConfig::default(),
            named,
            exact: HashMap::new(),
            unknown: UnknownNamespaces::Default,
            client_broadcast: false,
        }
    }
}

impl Namespaces {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Namespaces, NamespacesError> {
        let text = std::fs::read_to_string(path).map_err(|source| NamespacesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Namespaces::from_toml_str(&text).map_err(|e| match e {
            NamespacesError::Parse { message, .. } => NamespacesError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates config text; unknown keys and out-of-range values are errors.
    pub fn from_toml_str(text: &str) -> Result<Namespaces, NamespacesError> {
        let config: ConfigToml = toml::from_str(text).map_err(|e| NamespacesError::Parse {
            path: "<text>".to_owned(),
            message: e.to_string(),
        })?;
        let mut namespaces = Namespaces::default();
        if let Some(default) = config.default {
            namespaces.default = NamespaceConfig::from_toml("", default)?;
        }
        for (name, settings) in config.namespaces {
            let valid = !name.is_empty()
                && name.len() <= MAX_NAMESPACE_BYTES
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b':' && b != b'*');
            if !valid {
                return Err(NamespacesError::Invalid(format!(
                    "namespace name {name:?} must be 1 to {MAX_NAMESPACE_BYTES} printable ASCII \
                     characters without ':' or '*' (configure names without ':' in [default])"
                )));
            }
            let config = NamespaceConfig::from_toml(&name, settings)?;
            namespaces.named.insert(name, config);
        }
        for (name, settings) in config.names {
            if name.is_empty() || name.len() > MAX_EXACT_NAME_BYTES {
                return Err(NamespacesError::Invalid(format!(
                    "[names] entry {name:?} must be 1 to {MAX_EXACT_NAME_BYTES} bytes"
                )));
            }
            let config = NamespaceConfig::from_toml(&name, settings)?;
            namespaces.exact.insert(name, config);
        }
        namespaces.client_broadcast = config.client_broadcast.unwrap_or(false);
        namespaces.unknown = config
            .unknown_namespaces
            .unwrap_or(UnknownNamespaces::Default);
        Ok(namespaces)
    }

    /// The namespace part of a name (`""` without `:`).
    pub fn namespace_of(name: &str) -> &str {
        name.split_once(':').map_or("", |(ns, _)| ns)
    }

    /// The settings that apply to `name`, or why none do.
    pub fn config_for(&self, name: &str) -> Result<&NamespaceConfig, Denied> {
        if let Some(config) = self.exact.get(name) {
            return Ok(config);
        }
        match Namespaces::namespace_of(name) {
            "" => Ok(&self.default),
            ns => match self.named.get(ns) {
                Some(config) => Ok(config),
                None if self.unknown == UnknownNamespaces::Default => Ok(&self.default),
                None => Err(Denied::UnknownNamespace),
            },
        }
    }

    /// Whether `identity` may join the room (or sync the document) `name`.
    pub fn can_join(&self, identity: &Identity, name: &str) -> Result<(), Denied> {
        let config = self.config_for(name)?;
        match config.join {
            JoinRule::Anyone => Ok(()),
            JoinRule::Authenticated if identity.is_anonymous() => Err(Denied::NotAuthenticated),
            JoinRule::Authenticated => Ok(()),
            JoinRule::Claims if identity.is_anonymous() => Err(Denied::NotAuthenticated),
            JoinRule::Claims if claims_grant(&identity.claims, name) => Ok(()),
            JoinRule::Claims => Err(Denied::NotGranted),
            JoinRule::Owner => owner_check(identity, name),
        }
    }

    /// Whether `identity` may publish to the room `name` (it must also be allowed to join it).
    pub fn can_publish(&self, identity: &Identity, name: &str) -> Result<(), Denied> {
        self.can_join(identity, name)?;
        if self.config_for(name)?.publish {
            Ok(())
        } else {
            Err(Denied::PublishDisabled)
        }
    }

    /// Whether `identity` may change the document `name` (it must also be allowed to sync it).
    pub fn can_write_doc(&self, identity: &Identity, name: &str) -> Result<(), Denied> {
        self.can_join(identity, name)?;
        match self.config_for(name)?.doc_write {
            DocWrite::Members => Ok(()),
            DocWrite::Owner => owner_check(identity, name),
            DocWrite::None => Err(Denied::DocReadOnly),
        }
    }

    /// Whether presence is kept and sent for the room `name` (false for unknown namespaces
    /// under `unknown_namespaces = "deny"`).
    pub fn presence_enabled(&self, name: &str) -> bool {
        self.config_for(name).is_ok_and(|c| c.presence)
    }

    /// History bounds of the room `name` (none kept for refused names).
    pub fn history_limits(&self, name: &str) -> HistoryLimits {
        self.config_for(name)
            .map(|c| c.history)
            .unwrap_or(HistoryLimits {
                size: Some(0),
                ttl: None,
                bytes: None,
            })
    }

    /// Whether clients may send `broadcast` (to every connection on the server).
    pub fn can_broadcast(&self, _identity: &Identity) -> Result<(), Denied> {
        if self.client_broadcast {
            Ok(())
        } else {
            Err(Denied::BroadcastDisabled)
        }
    }
}

/// The owner rule: the part after the first `:` is exactly the user id.
fn owner_check(identity: &Identity, name: &str) -> Result<(), Denied> {
    let Some(user) = identity.user_id() else {
        return Err(Denied::NotAuthenticated);
    };
    match name.split_once(':') {
        Some((_, owner)) if owner == user => Ok(()),
        _ => Err(Denied::NotOwner),
    }
}

/// Whether the [`CHANNELS_CLAIM`] grants `name`: an entry equal to it, or an entry ending in
/// `*` whose prefix starts it. Entries that are not strings are ignored.
fn claims_grant(claims: &Value, name: &str) -> bool {
    let grants = |pattern: &str| match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    };
    match claims.get(CHANNELS_CLAIM) {
        Some(Value::String(pattern)) => grants(pattern),
        Some(Value::Array(patterns)) => patterns.iter().filter_map(Value::as_str).any(grants),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(name: &str, claims: Value) -> Identity {
        Identity {
            user: Some(name.to_owned()),
            expires_at: Some(u64::MAX),
            claims,
        }
    }

    fn alice() -> Identity {
        user("alice", json!({"sub": "alice"}))
    }

    #[test]
    fn defaults_are_safe() {
        let ns = Namespaces::default();
        let anon = Identity::anonymous();
        let bob = user("bob", Value::Null);
        assert_eq!(ns.can_join(&anon, "lobby"), Err(Denied::NotAuthenticated));
        assert_eq!(ns.can_join(&alice(), "lobby"), Ok(()));
        assert_eq!(ns.can_join(&alice(), "chat:1"), Ok(()));
        assert_eq!(ns.can_join(&alice(), "private:alice"), Ok(()));
        assert_eq!(ns.can_join(&bob, "private:alice"), Err(Denied::NotOwner));
        assert_eq!(
            ns.can_join(&anon, "private:alice"),
            Err(Denied::NotAuthenticated)
        );
        assert_eq!(ns.can_join(&alice(), "private:"), Err(Denied::NotOwner));
        assert_eq!(
            ns.can_join(&alice(), "private:alice2"),
            Err(Denied::NotOwner)
        );
        assert_eq!(
            ns.can_publish(&alice(), "prices"),
            Err(Denied::PublishDisabled)
        );
        assert_eq!(
            ns.can_publish(&alice(), "chat:1"),
            Err(Denied::PublishDisabled)
        );
        assert_eq!(ns.can_broadcast(&alice()), Err(Denied::BroadcastDisabled));
        assert_eq!(ns.can_write_doc(&alice(), "doc:1"), Ok(()));
        assert_eq!(
            ns.can_write_doc(&anon, "doc:1"),
            Err(Denied::NotAuthenticated)
        );
        assert_eq!(ns.can_write_doc(&alice(), "private:alice"), Ok(()));
        assert_eq!(
            ns.can_write_doc(&bob, "private:alice"),
            Err(Denied::NotOwner)
        );
        assert!(ns.presence_enabled("lobby"));
        assert_eq!(
            ns.history_limits("lobby"),
            HistoryLimits {
                size: None,
                ttl: None,
                bytes: None
            }
        );
        assert_eq!(Namespaces::from_toml_str("").expect("empty"), ns);
    }

    const EXAMPLE: &str = r#"
        client_broadcast = true

        [default]
        join = "anyone"
        presence = false
        history_size = 10

        [namespaces.chat]
        join = "claims"
        publish = true
        history_size = 500
        history_ttl_secs = 3600

        [namespaces.notes]
        join = "owner"
        doc_write = "owner"

        [namespaces.board]
        doc_write = "none"
    "#;

    #[test]
    fn a_config_sets_each_namespace() {
        let ns = Namespaces::from_toml_str(EXAMPLE).expect("valid");
        let anon = Identity::anonymous();
        assert_eq!(ns.can_join(&anon, "lobby"), Ok(()));
        assert!(!ns.presence_enabled("lobby"));
        assert_eq!(ns.history_limits("lobby").size, Some(10));
        assert_eq!(ns.can_broadcast(&anon), Ok(()));

        let granted = user("carol", json!({"channels": ["chat:team-*", "chat:42"]}));
        assert_eq!(ns.can_join(&granted, "chat:42"), Ok(()));
        assert_eq!(ns.can_join(&granted, "chat:team-red"), Ok(()));
        assert_eq!(ns.can_publish(&granted, "chat:team-red"), Ok(()));
        assert_eq!(ns.can_join(&granted, "chat:421"), Err(Denied::NotGranted));
        assert_eq!(ns.can_publish(&granted, "chat:7"), Err(Denied::NotGranted));
        assert_eq!(ns.can_join(&alice(), "chat:42"), Err(Denied::NotGranted));
        assert_eq!(ns.can_join(&anon, "chat:42"), Err(Denied::NotAuthenticated));
        let single = user("dan", json!({"channels": "chat:*"}));
        assert_eq!(ns.can_join(&single, "chat:anything"), Ok(()));
        let odd = user("eve", json!({"channels": [1, null, {"a": "chat:*"}]}));
        assert_eq!(ns.can_join(&odd, "chat:1"), Err(Denied::NotGranted));
        assert_eq!(
            ns.history_limits("chat:1"),
            HistoryLimits {
                size: Some(500),
                ttl: Some(Duration::from_secs(3600)),
                bytes: None
            }
        );
        assert!(ns.presence_enabled("chat:1"));

        assert_eq!(ns.can_join(&alice(), "notes:alice"), Ok(()));
        assert_eq!(ns.can_write_doc(&alice(), "notes:alice"), Ok(()));
        assert_eq!(ns.can_join(&alice(), "notes:bob"), Err(Denied::NotOwner));
        assert_eq!(
            ns.can_write_doc(&alice(), "board:1"),
            Err(Denied::DocReadOnly)
        );
        assert_eq!(ns.can_join(&alice(), "board:1"), Ok(()));
        // `private` stays owner-only although the file does not mention it.
        assert_eq!(
            ns.can_join(&user("bob", Value::Null), "private:alice"),
            Err(Denied::NotOwner)
        );
        // Unknown namespaces follow [default].
        assert_eq!(ns.can_join(&anon, "misc:1"), Ok(()));
    }

    #[test]
    fn single_names_take_precedence_over_their_namespace() {
        let ns = Namespaces::from_toml_str(
            "[default]\njoin = \"anyone\"\npublish = true\n\
             [names.prices]\njoin = \"anyone\"\n\
             [names.\"chat:news\"]\npresence = false\n",
        )
        .expect("valid");
        let anon = Identity::anonymous();
        assert_eq!(ns.can_publish(&anon, "lobby"), Ok(()));
        assert_eq!(ns.can_join(&anon, "prices"), Ok(()));
        assert_eq!(
            ns.can_publish(&anon, "prices"),
            Err(Denied::PublishDisabled)
        );
        assert!(!ns.presence_enabled("chat:news"));
        assert_eq!(
            ns.can_join(&anon, "chat:news"),
            Err(Denied::NotAuthenticated)
        );
        assert!(ns.presence_enabled("chat:1"));
        assert!(Namespaces::from_toml_str("[names.\"\"]\n").is_err());
    }

    #[test]
    fn unknown_namespaces_can_be_denied() {
        let ns = Namespaces::from_toml_str(
            "unknown_namespaces = \"deny\"\n[namespaces.chat]\npublish = true\n",
        )
        .expect("valid");
        assert_eq!(
            ns.can_join(&alice(), "misc:1"),
            Err(Denied::UnknownNamespace)
        );
        assert_eq!(ns.can_join(&alice(), "chat:1"), Ok(()));
        assert_eq!(ns.can_join(&alice(), "lobby"), Ok(()));
        assert!(!ns.presence_enabled("misc:1"));
        assert_eq!(ns.history_limits("misc:1").size, Some(0));
    }

    #[test]
    fn bad_configs_are_readable_errors() {
        for (text, needle) in [
            ("[default]\njoin = \"everyone\"\n", "unknown variant"),
            ("[default]\npublsh = true\n", "publsh"),
            ("broadcast = true\n", "broadcast"),
            (
                "[namespaces.chat]\nhistory_size = 1000000\n",
                "history_size",
            ),
            ("[namespaces.chat]\nhistory_size = -1\n", "history_size"),
            (
                "[namespaces.chat]\nhistory_ttl_secs = 0\n",
                "history_ttl_secs",
            ),
            (
                "[namespaces.chat]\nhistory_ttl_secs = 99999999\n",
                "history_ttl_secs",
            ),
            ("[namespaces.\"a:b\"]\n", "a:b"),
            ("[namespaces.\"\"]\n", "namespace name"),
            ("[namespaces.chat]\ndoc_write = \"everyone\"\n", "doc_write"),
            ("client_broadcast = \"yes\"\n", "client_broadcast"),
            ("[default\n", "TOML"),
        ] {
            let error = Namespaces::from_toml_str(text).expect_err(text).to_string();
            assert!(
                error.contains(needle) || needle == "TOML",
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("resocket.example.toml");
        let ns = Namespaces::load(&path).expect("example config");
        assert_eq!(
            ns.can_join(&user("bob", Value::Null), "private:alice"),
            Err(Denied::NotOwner)
        );
        assert_eq!(
            ns.can_publish(&alice(), "prices"),
            Err(Denied::PublishDisabled)
        );
        assert_eq!(
            ns.can_join(&Identity::anonymous(), "prices"),
            Err(Denied::NotAuthenticated)
        );
        let missing = Namespaces::load(Path::new("/nonexistent/resocket.toml"));
        assert!(matches!(missing, Err(NamespacesError::Read { .. })));
    }

    #[test]
    fn the_demo_file_allows_what_the_demo_does_except_publishing_prices() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("resocket.demo.toml");
        let ns = Namespaces::load(&path).expect("demo config");
        let anon = Identity::anonymous();
        for name in ["lobby", "chat:lobby", "ts:chat", "board-1"] {
            assert_eq!(ns.can_publish(&anon, name), Ok(()), "{name}");
            assert_eq!(ns.can_write_doc(&anon, name), Ok(()), "{name}");
        }
        assert_eq!(ns.can_join(&anon, "prices"), Ok(()));
        assert_eq!(
            ns.can_publish(&anon, "prices"),
            Err(Denied::PublishDisabled)
        );
        assert_eq!(
            ns.can_join(&user("bob", Value::Null), "private:alice"),
            Err(Denied::NotOwner)
        );
        assert_eq!(ns.can_join(&alice(), "private:alice"), Ok(()));
        assert_eq!(ns.can_broadcast(&anon), Err(Denied::BroadcastDisabled));
    }

    #[test]
    fn parse_errors_say_where() {
        let error = Namespaces::from_toml_str("[default]\njoin = \"owner\"\npublsh = true\n")
            .expect_err("unknown key")
            .to_string();
        assert!(
            error.contains("line 3") && error.contains("publsh"),
            "{error}"
        );
    }

    #[test]
    fn namespace_of() {
        assert_eq!(Namespaces::namespace_of("lobby"), "");
        assert_eq!(Namespaces::namespace_of("chat:1"), "chat");
        assert_eq!(Namespaces::namespace_of("a:b:c"), "a");
        assert_eq!(Namespaces::namespace_of(":x"), "");
    }
}
