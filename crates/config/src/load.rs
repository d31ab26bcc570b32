//! From YAML text to a checked [`Config`]: parse, deserialize collecting every error,
//! resolve `*_env` secrets, rebase relative paths, validate, and place each error in the text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;
use serde_yaml::Value;

use super::position::{Positions, join};
use super::validate;
use super::{Config, ConfigError, ConfigErrors, ErrorKind, Secret};

/// Looks an environment variable up; `None` when unset (or not UTF-8).
type EnvLookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Loads configs, with the environment lookup and the file name shown in errors chosen by the
/// caller (tests inject a map instead of the process environment).
pub struct Loader<'a> {
    origin: String,
    base_dir: Option<PathBuf>,
    env: EnvLookup<'a>,
}

impl Default for Loader<'_> {
    fn default() -> Self {
        Loader::new()
    }
}

impl<'a> Loader<'a> {
    /// A loader using the process environment, errors shown as `<config>:…`.
    pub fn new() -> Self {
        Loader {
            origin: "<config>".into(),
            base_dir: None,
            env: Box::new(|name| std::env::var(name).ok()),
        }
    }

    /// Looks `*_env` variables up with `env` instead of the process environment.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String> + 'a) -> Self {
        self.env = Box::new(env);
        self
    }

    /// Names the config in error lines (`load` uses the path it is given).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// Takes relative file paths (TLS) from `dir` (`load` uses the file's directory).
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Reads and checks the file at `path`.
    pub fn load(self, path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigErrors {
            origin: path.display().to_string(),
            errors: vec![ConfigError::new(
                ErrorKind::Syntax,
                "",
                format!("cannot read the file: {err}"),
            )],
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        self.origin(path.display().to_string())
            .base_dir(dir)
            .from_yaml_str(&text)
    }

    /// Parses and checks YAML text.
    pub fn from_yaml_str(&self, text: &str) -> Result<Config, ConfigErrors> {
        let fail = |errors| ConfigErrors {
            origin: self.origin.clone(),
            errors,
        };
        let mut value: Value = match serde_yaml::from_str(text) {
            Ok(value) => value,
            Err(err) => return Err(fail(vec![syntax_error(&err, text)])),
        };
        if value.is_null() {
            value = Value::Mapping(Default::default()); // an empty file: validation says what is missing
        }
        let mut errors = Vec::new();
        let (config, dropped) = deserialize_collecting(value, &mut errors);
        if let Some(mut config) = config {
            self.resolve_secrets(&mut config, &dropped, &mut errors);
            self.rebase_paths(&mut config);
            errors.extend(validate::validate(&config, &dropped));
            if errors.is_empty() {
                return Ok(config);
            }
        }
        let positions = Positions::scan(text);
        for error in &mut errors {
            if let (None, Some((line, column))) = (error.line, positions.find(&error.path)) {
                error.line = Some(line);
                error.column = Some(column);
            }
        }
        // File order; problems with no place (whole-file ones) last. The sort is stable.
        errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
        Err(fail(errors))
    }

    fn resolve_secrets(
        &self,
        config: &mut Config,
        dropped: &Dropped,
        errors: &mut Vec<ConfigError>,
    ) {
        let mut lookup = |path: String, var: &str| -> Option<Secret> {
            let found = (self.env)(var).map(Secret::new);
            if found.is_none() {
                errors.push(ConfigError::new(
                    ErrorKind::Environment,
                    path,
                    format!("environment variable {var} is not set"),
                ));
            }
            found
        };
        for (i, user) in config.users.iter_mut().enumerate() {
            if let Some(var) = &user.password_env {
                let path = format!("{}.password_env", dropped.item("users", i));
                user.password = lookup(path, var).unwrap_or_default();
            }
        }
        let admin = &mut config.admin;
        match (&admin.token, &admin.token_env) {
            (None, Some(var)) => admin.token = lookup("admin.token_env".into(), var),
            (Some(_), Some(_)) => errors.push(ConfigError::new(
                ErrorKind::Conflict,
                "admin",
                "set at most one of token or token_env",
            )),
            _ => {}
        }
    }

    fn rebase_paths(&self, config: &mut Config) {
        let Some(dir) = &self.base_dir else { return };
        let rebase = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        };
        if let Some(client) = &mut config.tls.client {
            rebase(&mut client.cert);
            rebase(&mut client.key);
        }
        if let Some(ca) = &mut config.tls.backend.ca {
            rebase(ca);
        }
    }
}

fn syntax_error(err: &serde_yaml::Error, yaml: &str) -> ConfigError {
    let text = err.to_string();
    // serde_yaml places a repeated key at the start of its mapping; name the key and the
    // place it is written again instead.
    if text.contains("duplicate entry with key") {
        let positions = Positions::scan(yaml);
        if let Some((path, (line, column))) = positions.first_repeated() {
            let first = positions.find(path).map_or(0, |(line, _)| line);
            let message = format!("written twice in one mapping (first at line {first})");
            return ConfigError::new(ErrorKind::Duplicate, path, message).at(line, column);
        }
    }
    let Some(at) = err.location() else {
        return ConfigError::new(ErrorKind::Syntax, "", text);
    };
    // serde_yaml writes the position into the message; it goes in its own fields instead.
    let position = format!(" at line {} column {}", at.line(), at.column());
    let message = text.replacen(&position, "", 1);
    ConfigError::new(ErrorKind::Syntax, "", message).at(at.line(), at.column())
}

/// Deserializes `value` into a [`Config`], and on each error records it, removes the node that
/// caused it and tries again, so every bad key and list item is reported in one run. Returns no
/// config when an error cannot be isolated (the document itself has the wrong shape).
fn deserialize_collecting(
    mut value: Value,
    errors: &mut Vec<ConfigError>,
) -> (Option<Config>, Dropped) {
    let mut dropped = Dropped::default();
    loop {
        let err = match serde_path_to_error::deserialize::<_, Config>(&value) {
            Ok(config) => return (Some(config), dropped),
            Err(err) => err,
        };
        let segments: Vec<Segment> = err.path().iter().cloned().collect();
        let mut message = plain_words(&err.into_inner().to_string());
        let mut path = original_path(&segments, &dropped);
        if let Some(Segment::Unknown) = segments.last() {
            path = original_path(&segments[..segments.len() - 1], &dropped);
            let what = message.strip_prefix("invalid type: ").unwrap_or(&message);
            let what = what.split(", expected").next().unwrap_or(what);
            message = format!("unknown field: {what} is not a key name");
        }
        let kind = kind_of(&message);
        // A key removed for a bad value comes back as "missing field `x`" or "set exactly one
        // of …" on its parent: a consequence, already reported through its cause.
        let consequence = matches!(kind, ErrorKind::Missing | ErrorKind::Conflict)
            && dropped.touched(&path)
            && !path.is_empty();
        if !consequence {
            errors.push(ConfigError::new(kind, path.clone(), message));
        }
        let Some((last, parents)) = segments.split_last() else {
            return (None, dropped);
        };
        let Some(parent) = node_mut(&mut value, parents) else {
            return (None, dropped);
        };
        match (last, parent) {
            (Segment::Map { key }, Value::Mapping(map)) if map.contains_key(key.as_str()) => {
                map.shift_remove(key.as_str());
                dropped.keys.insert(path);
            }
            // A key that is not a string (`1: x`, `true: x`): drop every such key there.
            (Segment::Unknown, Value::Mapping(map)) if map.keys().any(|k| !k.is_string()) => {
                map.retain(|k, _| k.is_string());
            }
            (Segment::Seq { index }, Value::Sequence(items)) if *index < items.len() => {
                items.remove(*index);
                let list = original_path(parents, &dropped);
                let original = original_index(*index, dropped.removed.get(&list));
                let indices = dropped.removed.entry(list).or_default();
                indices.push(original);
                indices.sort_unstable();
            }
            _ => return (None, dropped),
        }
    }
}

/// What failed to deserialize and was left out of the config, so that later checks name list
/// items by their place in the file and skip checks that the missing part would mislead.
#[derive(Debug, Default)]
pub(super) struct Dropped {
    /// List path (`servers`, `routing.rules`) → original indices removed, sorted.
    removed: BTreeMap<String, Vec<usize>>,
    /// Paths of mapping keys removed.
    keys: BTreeSet<String>,
}

impl Dropped {
    /// The path of item `index` of the config's `list`, as numbered in the file.
    pub(super) fn item(&self, list: &str, index: usize) -> String {
        format!("{list}[{}]", original_index(index, self.removed.get(list)))
    }

    /// Whether something at or under `path` was left out: a check of `path` as a whole (at
    /// least one server, exactly one of two keys) would report a consequence, not the cause.
    pub(super) fn touched(&self, path: &str) -> bool {
        let under = |p: &String| {
            p.strip_prefix(path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        };
        self.removed.keys().any(under) || self.keys.iter().any(under)
    }
}

/// serde's messages name Rust types (`expected struct PoolConfig`, `expected u32`); say what
/// to write instead.
fn plain_words(message: &str) -> String {
    let mut message = message.replace("expected u32", "expected a whole number >= 0");
    message = message.replace("expected socket address", "expected ip:port");
    message = message.replace("unit value", "an empty value");
    if let Some(at) = message.find("expected struct ") {
        message.replace_range(at.., "expected a mapping");
    }
    message
}

fn kind_of(message: &str) -> ErrorKind {
    if message.starts_with("unknown field") {
        ErrorKind::UnknownKey
    } else if message.starts_with("missing field") {
        ErrorKind::Missing
    } else if message.starts_with("set exactly one") {
        ErrorKind::Conflict
    } else {
        ErrorKind::InvalidValue
    }
}

fn node_mut<'v>(mut value: &'v mut Value, segments: &[Segment]) -> Option<&'v mut Value> {
    for segment in segments {
        value = match segment {
            Segment::Map { key } => value.as_mapping_mut()?.get_mut(key.as_str())?,
            Segment::Seq { index } => value.as_sequence_mut()?.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The error-format path of `segments`, with list indices as they were in the file.
fn original_path(segments: &[Segment], dropped: &Dropped) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            Segment::Map { key } => path = join(&path, key),
            Segment::Seq { index } => {
                let index = original_index(*index, dropped.removed.get(&path));
                path = format!("{path}[{index}]");
            }
            Segment::Enum { variant } => path = join(&path, variant),
            Segment::Unknown => path = join(&path, "?"), // only inside a path, see above
        }
    }
    path
}

/// Index `now` in a list from which the (sorted, original) indices `removed` were taken out.
fn original_index(now: usize, removed: Option<&Vec<usize>>) -> usize {
    let mut index = now;
    for &gone in removed.into_iter().flatten() {
        if gone <= index {
            index += 1;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_index_skips_removed_items() {
        assert_eq!(original_index(0, None), 0);
        assert_eq!(original_index(0, Some(&vec![0])), 1);
        assert_eq!(original_index(1, Some(&vec![0, 2])), 3);
        assert_eq!(original_index(0, Some(&vec![1])), 0);
    }
}
