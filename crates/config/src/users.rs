//! `users:` — who may connect, and the secrets (passwords, admin token) the config holds.
//!
//! The proxy needs each user's password in clear: it checks the client's scramble with it and
//! logs into the backends as the same user with the same password.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret string (password, token). Its `Debug` and `Serialize` never show the value, so a
/// config can be logged or dumped safely; call [`Secret::expose`] where the value is needed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for authentication only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;

        impl serde::de::Visitor<'_> for SecretVisitor {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                // YAML reads `password: 0123` as a number; quoting keeps it as written.
                f.write_str("a string (put quotes around a secret that looks like a number)")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret::new(value))
            }
        }

        deserializer.deserialize_str(SecretVisitor)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("<redacted>")
    }
}

/// A client user. The loader resolves `password_env`, so `password` is always the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UserEntry", into = "UserEntry")]
pub struct User {
    /// The MySQL user name, as the client sends it and as the proxy logs into backends.
    pub user: String,
    /// The password in effect: as written, or read from `password_env` at load time.
    pub password: Secret,
    /// The environment variable the password came from, if it came from one.
    pub password_env: Option<String>,
}

/// A `users:` entry as written: exactly one of `password` and `password_env`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    user: String,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    password_env: Option<String>,
}

impl TryFrom<UserEntry> for User {
    type Error = String;

    fn try_from(entry: UserEntry) -> Result<Self, String> {
        match (entry.password, entry.password_env) {
            (Some(password), None) => Ok(User {
                user: entry.user,
                password,
                password_env: None,
            }),
            // Filled from the environment by the loader.
            (None, Some(var)) => Ok(User {
                user: entry.user,
                password: Secret::default(),
                password_env: Some(var),
            }),
            _ => Err("set exactly one of password or password_env".into()),
        }
    }
}

impl From<User> for UserEntry {
    fn from(user: User) -> Self {
        let inline = user.password_env.is_none();
        UserEntry {
            user: user.user,
            password: inline.then_some(user.password),
            password_env: user.password_env,
        }
    }
}
