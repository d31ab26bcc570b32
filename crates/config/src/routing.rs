//! `routing:` — read balancing, consistency, lag limits, failover wait, and routing rules.

use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::duration;

/// How reads are spread and how fresh they must be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// How a read picks among the qualifying servers.
    pub balance: Balance,
    /// What `balance: hash` hashes. Ignored by the other balancers.
    pub hash_key: HashKey,
    /// Which earlier writes a read must see.
    pub consistency: Consistency,
    /// A replica further behind than this gets no reads until it catches up.
    #[serde(with = "duration")]
    pub max_replication_lag: Duration,
    /// How long a read waits on a replica for a required GTID before going to the primary.
    /// 0: never wait, go to the primary at once.
    #[serde(with = "duration")]
    pub causal_read_timeout: Duration,
    /// Without GTIDs: reads go to the primary for this long after a write.
    #[serde(with = "duration")]
    pub read_after_write_window: Duration,
    /// How long a write waits for a primary to (re)appear before the client gets an error.
    /// 0: fail at once.
    #[serde(with = "duration")]
    pub failover_timeout: Duration,
    /// Checked in order before the router's own decision; the first match wins.
    pub rules: Vec<Rule>,
    /// Whether binlog clients (`COM_REGISTER_SLAVE`, `COM_BINLOG_DUMP[_GTID]`) are served.
    pub replication_clients: ReplicationClients,
}

/// What becomes of a client that asks for the binlog stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationClients {
    /// Served by the writable primary, on a connection of the session's own for its life.
    #[default]
    Pass,
    /// Refused with error 1047 (connect binlog clients to a server directly).
    Refuse,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            balance: Balance::RoundRobin,
            hash_key: HashKey::ClientAddr,
            consistency: Consistency::Global,
            max_replication_lag: Duration::from_secs(10),
            causal_read_timeout: Duration::from_secs(1),
            read_after_write_window: Duration::from_secs(1),
            failover_timeout: Duration::from_secs(10),
            rules: Vec::new(),
            replication_clients: ReplicationClients::Pass,
        }
    }
}

/// Read balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Weighted round-robin over `weight` / `read_weight`.
    #[default]
    RoundRobin,
    /// The server with the fewest statements in flight (weights break ties).
    LeastOutstanding,
    /// Weighted random.
    Random,
    /// Consistent hash of `hash_key`: the same key keeps landing on the same server.
    Hash,
}

/// The key `balance: hash` hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// The client's IP address (the nginx `ip_hash` analogue).
    #[default]
    ClientAddr,
    /// The MySQL user name.
    User,
    /// A key the statement carries in a hint comment (the hint syntax is the router's);
    /// statements without one fall back to the client address.
    Hint,
}

/// Read-your-writes consistency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Reads go to any qualifying replica; a read may miss recent writes.
    Eventual,
    /// A read sees every write its own client session made before it.
    Session,
    /// A read sees every write acknowledged through this proxy before the read started.
    #[default]
    Global,
    /// A read sees every write committed on the primary before the read started, whoever made
    /// it (another proxy, a direct client): the proxy asks the primary for its position, one
    /// query per batch of reads.
    Cluster,
}

/// A routing rule: statements that match go to `target`, or are refused with `reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// What the statement must match; every key given must match.
    #[serde(rename = "match")]
    pub matches: RuleMatch,
    /// Where matching statements go. Exactly one of `target` and `reject`.
    #[serde(default)]
    pub target: Option<RuleTarget>,
    /// Refuse matching statements with this error message.
    #[serde(default)]
    pub reject: Option<String>,
}

impl Rule {
    /// What the rule does (validation guarantees exactly one of `target` and `reject`).
    pub fn action(&self) -> RuleAction<'_> {
        match (&self.reject, self.target) {
            (Some(message), _) => RuleAction::Reject(message),
            (None, Some(target)) => RuleAction::Route(target),
            (None, None) => RuleAction::Route(RuleTarget::Primary),
        }
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction<'a> {
    /// Send the statement to this target.
    Route(RuleTarget),
    /// Answer with an error carrying this message.
    Reject(&'a str),
}

/// The conditions of a rule. At least one must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleMatch {
    /// The session's user name, exactly.
    pub user: Option<String>,
    /// The session's current schema, exactly.
    pub schema: Option<String>,
    /// The statement's digest, as shown by the admin API's `/digests`.
    pub digest: Option<String>,
    /// A regular expression searched in the statement text (unanchored; `(?i)` for any case).
    pub regex: Option<Pattern>,
}

impl RuleMatch {
    /// Whether no condition is set (a validation error: the rule would match everything).
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.schema.is_none()
            && self.digest.is_none()
            && self.regex.is_none()
    }
}

/// A digest as written in rules and shown by the admin API: the 64-bit statement hash in
/// hexadecimal.
pub fn parse_digest(text: &str) -> Option<u64> {
    let hex = text.trim();
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Where a rule sends statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleTarget {
    /// The primary.
    Primary,
    /// A replica chosen by the balancer (the primary when none qualifies).
    Replica,
}

/// A regular expression compiled at load time, so a bad pattern is a config error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pattern(Regex);

impl Pattern {
    /// The compiled expression.
    pub fn regex(&self) -> &Regex {
        &self.0
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Pattern {}

impl TryFrom<String> for Pattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Regex::new(&text).map(Pattern).map_err(|err| {
            // regex's message is several lines with a caret diagram; keep its last line.
            let why = err.to_string();
            let why = why.lines().last().unwrap_or_default().trim();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            format!("invalid regex {text:?}: {why}")
        })
    }
}

impl From<Pattern> for String {
    fn from(pattern: Pattern) -> String {
        pattern.0.as_str().to_string()
    }
}
