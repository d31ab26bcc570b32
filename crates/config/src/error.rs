//! Config errors: one [`ConfigError`] per problem, all of them in one [`ConfigErrors`].

use std::fmt;

/// What kind of problem a [`ConfigError`] is, for tools that want more than the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file is not valid YAML, or could not be read.
    Syntax,
    /// A key that no section has (typo, or a key from another version).
    UnknownKey,
    /// A value of the wrong type or outside its range (`weight: 0`, `role: master`, `"5 parsecs"`).
    InvalidValue,
    /// A required key, list entry or section is missing.
    Missing,
    /// Two entries that must differ are equal (server addresses, server names, user names).
    Duplicate,
    /// Keys that contradict each other (`password` and `password_env`, two primaries, ...).
    Conflict,
    /// A `*_env` key names an environment variable that is not set.
    Environment,
    /// A file the config names (TLS certificate, key, CA) does not exist or is not a file.
    File,
}

/// One problem in a config, named by its key path and, when known, its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{message}", location(*.line, *.column), path_prefix(.path))]
pub struct ConfigError {
    /// What kind of problem this is.
    pub kind: ErrorKind,
    /// The key path, e.g. `servers[2].weight`; empty for the whole file.
    pub path: String,
    /// 1-based line of the key (or of its nearest parent present in the file), when known.
    pub line: Option<usize>,
    /// 1-based column, on `line`.
    pub column: Option<usize>,
    /// What is wrong and, where it helps, how to fix it. Never contains a secret's value.
    pub message: String,
}

impl ConfigError {
    /// A problem at `path` (no position yet: the loader fills it in from the YAML text).
    pub fn new(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            kind,
            path: path.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// The same error, placed at `line`:`column` (both 1-based).
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("{line}:{column}: "),
        (Some(line), None) => format!("{line}: "),
        _ => String::new(),
    }
}

/// Every problem found in one config, in file order. Displays one problem per line as
/// `proxy.yaml:12:5: servers[2].weight: must be > 0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(self))]
pub struct ConfigErrors {
    /// Where the config came from, as shown at the start of each line: the file path given to
    /// `load`, or `<config>` for a string.
    pub origin: String,
    /// The problems; never empty.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Whether some problem sits at exactly `path`.
    pub fn has(&self, path: &str) -> bool {
        self.errors.iter().any(|e| e.path == path)
    }

    /// The problems at exactly `path`.
    pub fn at_path<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a ConfigError> + 'a {
        self.errors.iter().filter(move |e| e.path == path)
    }
}

struct Lines<'a>(&'a ConfigErrors);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let origin = &self.0.origin;
            match (error.line, error.column) {
                (Some(_), _) => write!(f, "{origin}:{error}")?,
                _ => write!(f, "{origin}: {error}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_one_problem_per_line_with_origin_and_position() {
        let errors = ConfigErrors {
            origin: "proxy.yaml".into(),
            errors: vec![
                ConfigError::new(ErrorKind::InvalidValue, "servers[2].weight", "must be > 0")
                    .at(12, 5),
                ConfigError::new(
                    ErrorKind::Missing,
                    "servers",
                    "at least one server is required",
                ),
                ConfigError::new(ErrorKind::Syntax, "", "cannot read: no such file"),
            ],
        };
        assert_eq!(
            errors.to_string(),
            "proxy.yaml:12:5: servers[2].weight: must be > 0\n\
             proxy.yaml: servers: at least one server is required\n\
             proxy.yaml: cannot read: no such file"
        );
        assert!(errors.has("servers"));
        assert_eq!(errors.at_path("servers[2].weight").count(), 1);
    }
}
