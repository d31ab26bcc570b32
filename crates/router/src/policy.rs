//! Routing policy: the knobs and the ordered query rules, as plain data.
//!
//! Owns [`Policy`] and [`Rule`]. Reading them from a file is the server's job; here they are
//! typed values (serde derives are provided so the server can embed them in its config). Rules are
//! ProxySQL-style: the first rule whose every given matcher matches decides. A rule can send a
//! statement to the primary, allow it on a replica, or reject it with a message; a replica rule
//! never overrides a safety reason (a write, a transaction, a locking read …).

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A regular expression matched against the digest text, kept with its source for display.
#[derive(Debug, Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// Compiles `re` (Rust `regex` syntax; `(?i)` for case-insensitive).
    pub fn new(re: &str) -> Result<Self, regex::Error> {
        regex::Regex::new(re).map(Pattern)
    }

    /// True when the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }

    /// The source of the pattern.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a rule sends the statements it matches.
///
/// In configuration: `action: primary`, `action: replica`, or `action: { reject: "message" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ActionText", into = "ActionText")]
pub enum RuleAction {
    /// Always the primary.
    Primary,
    /// A replica, when the statement is safe to run there; otherwise routing goes on as usual.
    Replica,
    /// Refuse the statement; the client gets this message.
    Reject {
        /// Error message for the client.
        message: String,
    },
}

/// How a [`RuleAction`] is written in configuration.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ActionText {
    Word(String),
    Reject { reject: String },
}

impl TryFrom<ActionText> for RuleAction {
    type Error = String;

    fn try_from(t: ActionText) -> Result<Self, String> {
        match t {
            ActionText::Word(w) if w == "primary" => Ok(RuleAction::Primary),
            ActionText::Word(w) if w == "replica" => Ok(RuleAction::Replica),
            ActionText::Word(w) => Err(format!(
                "{w:?}: expected primary, replica or {{ reject: \"message\" }}"
            )),
            ActionText::Reject { reject } => Ok(RuleAction::Reject { message: reject }),
        }
    }
}

impl From<RuleAction> for ActionText {
    fn from(a: RuleAction) -> Self {
        match a {
            RuleAction::Primary => ActionText::Word("primary".into()),
            RuleAction::Replica => ActionText::Word("replica".into()),
            RuleAction::Reject { message } => ActionText::Reject { reject: message },
        }
    }
}

/// One query rule. Matchers left `None` match everything; a rule with no matcher matches all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The session's user, exactly.
    #[serde(default)]
    pub user: Option<String>,
    /// The session's current schema, exactly.
    #[serde(default)]
    pub schema: Option<String>,
    /// The digest hash ([`crate::Digest::hash`]), as the server reports it in statistics.
    #[serde(default)]
    pub digest: Option<u64>,
    /// A regular expression over the digest text (literals already replaced by `?`).
    #[serde(default)]
    pub pattern: Option<Pattern>,
    /// What to do on a match.
    pub action: RuleAction,
}

impl Rule {
    /// A rule matching everything, with `action`; narrow it with the builder methods.
    pub fn new(action: RuleAction) -> Self {
        Rule {
            user: None,
            schema: None,
            digest: None,
            pattern: None,
            action,
        }
    }

    /// Restricts the rule to `user`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Restricts the rule to `schema`.
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Restricts the rule to one digest hash.
    pub fn digest(mut self, hash: u64) -> Self {
        self.digest = Some(hash);
        self
    }

    /// Restricts the rule to digest texts matching `pattern`.
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// True when every matcher given matches.
    pub fn matches(
        &self,
        user: &str,
        schema: Option<&str>,
        digest_hash: u64,
        digest_text: &str,
    ) -> bool {
        self.user.as_deref().is_none_or(|u| u == user)
            && self.schema.as_deref().is_none_or(|s| Some(s) == schema)
            && self.digest.is_none_or(|d| d == digest_hash)
            && self
                .pattern
                .as_ref()
                .is_none_or(|p| p.is_match(digest_text))
    }
}

/// Where plain reads go when nothing else decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadTarget {
    /// Replicas (the point of a read/write split).
    Replica,
    /// The primary (replicas only for statements a rule or hint sends there).
    Primary,
}

/// Everything `route` needs from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Where plain reads go.
    pub reads: ReadTarget,
    /// `START TRANSACTION READ ONLY` may run, whole, on one replica.
    pub read_only_transactions_on_replica: bool,
    /// Obey routing hints in comments (`splitrail:…`, `maxscale route to …`).
    pub honor_hints: bool,
    /// Stored functions only read, so a SELECT calling one may use a replica. Off by default:
    /// a stored function can write, and on a replica that write would diverge or fail.
    pub stored_functions_read_only: bool,
    /// Largest replica lag for reads when no hint says otherwise (`None`: the server's default).
    /// Written as `"500ms"`, `"2s"` in configuration.
    #[serde(with = "duration_text")]
    pub max_lag: Option<Duration>,
    /// Ordered query rules; the first match decides.
    pub rules: Vec<Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            reads: ReadTarget::Replica,
            read_only_transactions_on_replica: true,
            honor_hints: true,
            stored_functions_read_only: false,
            max_lag: None,
            rules: Vec::new(),
        }
    }
}

/// `Option<Duration>` as `"500ms"` / `"2s"` text, the way configuration writes durations.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => crate::hints::parse_duration(&text)
                .map(Some)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{text:?}: expected a duration like \"500ms\" or \"2s\""
                    ))
                }),
        }
    }
}
