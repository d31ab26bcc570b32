//! Keeps `docs/configuration.md` true: its tables document exactly the keys the config structs
//! have, with the defaults the code fills in, and every YAML example on the page loads.
//!
//! A documented key is the first cell of a table row, in backticks: `| `pool.max_size` | … |`.
//! A default cell in backticks must equal what the code writes for that key in a minimal config;
//! any other default cell ("required", "none", "see below") must be a key with no scalar default.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;
use splitrail_config::{Config, Loader};

const MINIMAL: &str = "\
users: [{ user: app, password: app }]
servers: [{ address: db1:3306, role: primary }]
";

/// Keys the minimal config sets itself, so their serialized value is no default.
const SET_BY_MINIMAL: [&str; 4] = [
    "users[].user",
    "users[].password",
    "servers[].address",
    "servers[].role",
];

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Documented key → default cell, from the page's table rows.
fn documented(doc: &str) -> Result<BTreeMap<String, String>, String> {
    let mut keys = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let key = cells[1].trim_matches('`');
        // Rows of the value-format table name formats, not keys.
        if cells.len() < 5
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || "_.[]".contains(c))
        {
            continue;
        }
        if keys.insert(key.to_string(), cells[3].to_string()).is_some() {
            return Err(format!("{key} is documented twice"));
        }
    }
    Ok(keys)
}

/// The value at a key path, list items taken from the first item.
fn value_at<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    let mut value = root;
    for part in path.split('.') {
        let (name, item) = match part.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        value = value.get(name)?;
        if item {
            value = value.get(0)?;
        }
    }
    Some(value)
}

/// Every mismatch between the page and the code, one per line; empty when in sync.
fn mismatches(doc: &str) -> Vec<String> {
    let documented = match documented(doc) {
        Ok(keys) => keys,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let keys = Config::key_paths();
    for key in &keys {
        if !documented.contains_key(key) {
            problems.push(format!("{key}: not documented in docs/configuration.md"));
        }
    }
    let defaults = serde_yaml::to_value(Config::from_yaml_str(MINIMAL).unwrap()).unwrap();
    for (key, default) in &documented {
        if !keys.contains(key) {
            problems.push(format!("{key}: documented, but the config has no such key"));
            continue;
        }
        let code = match value_at(&defaults, key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let written = default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
            .filter(|d| !d.contains('`'));
        match (written, code) {
            (Some(written), Some(code)) if written != code => {
                problems.push(format!(
                    "{key}: documented default `{written}`, code has `{code}`"
                ));
            }
            (Some(written), None) => {
                problems.push(format!(
                    "{key}: documented default `{written}`, code has none"
                ));
            }
            (None, Some(code)) if !SET_BY_MINIMAL.contains(&key.as_str()) => {
                problems.push(format!("{key}: code default `{code}` is not documented"));
            }
            _ => {}
        }
    }
    problems
}

#[test]
fn every_key_is_documented_with_its_default() {
    let problems = mismatches(&doc());
    assert!(
        problems.is_empty(),
        "docs/configuration.md is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_notices_a_missing_key_a_stale_key_and_a_wrong_default() {
    let doc = doc();
    let row = "| `pool.max_size` | integer > 0 | `10` |";
    assert!(doc.contains(row), "the test's sample row moved");
    let edited = doc.replacen(row, "| `pool.max_sizes` | integer > 0 | `12` |", 1);
    let problems = mismatches(&edited);
    assert_eq!(
        problems,
        [
            "pool.max_size: not documented in docs/configuration.md",
            "pool.max_sizes: documented, but the config has no such key",
        ]
    );
    let edited = doc.replacen(row, "| `pool.max_size` | integer > 0 | `12` |", 1);
    assert_eq!(
        mismatches(&edited),
        ["pool.max_size: documented default `12`, code has `10`"]
    );
}

/// The ```yaml blocks of the page.
fn yaml_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim()) {
            (None, "```yaml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_yaml_example_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tls")).unwrap();
    for file in ["tls/proxy.crt", "tls/proxy.key", "tls/ca.pem"] {
        std::fs::write(dir.path().join(file), "pem").unwrap();
    }
    let blocks = yaml_blocks(&doc());
    assert!(
        blocks.len() >= 2,
        "expected the minimal and the full example"
    );
    for (i, block) in blocks.iter().enumerate() {
        Loader::new()
            .origin(format!("docs/configuration.md yaml block {i}"))
            .base_dir(dir.path())
            .with_env(|name| Some(format!("value of {name}")))
            .from_yaml_str(block)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // The minimal example is the repository's proxy.yaml.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proxy.yaml");
    assert_eq!(
        Config::load(repo).unwrap(),
        Config::from_yaml_str(&blocks[0]).unwrap()
    );
}

#[test]
fn the_full_example_sets_every_key() {
    let blocks = yaml_blocks(&doc());
    let full = blocks.last().unwrap();
    let value: Value = serde_yaml::from_str(full).unwrap();
    let missing: Vec<String> = Config::key_paths()
        .into_iter()
        // Keys with an alternative the example shows instead.
        .filter(|key| !matches!(key.as_str(), "admin.token"))
        .filter(|key| !full_example_has(&value, key))
        .collect();
    assert!(missing.is_empty(), "the full example lacks {missing:?}");
}

/// Whether some item of each list on the way has `path`.
fn full_example_has(value: &Value, path: &str) -> bool {
    match path.split_once('.') {
        None => has_part(value, path, |v| v.is_some()),
        Some((part, rest)) => has_part(value, part, |v| {
            v.is_some_and(|v| full_example_has(v, rest))
        }),
    }
}

fn has_part(value: &Value, part: &str, check: impl Fn(Option<&Value>) -> bool) -> bool {
    match part.strip_suffix("[]") {
        None => check(value.get(part)),
        Some(name) => match value.get(name).and_then(Value::as_sequence) {
            Some(items) => items.iter().any(|item| check(Some(item))),
            None => false,
        },
    }
}
