//! Finding the MariaDB programs the test bed runs: the server, the data-directory initialiser and
//! the command-line client. Each can be overridden by an environment variable.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The MariaDB programs the test bed needs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The server, `mariadbd`.
    pub mariadbd: PathBuf,
    /// The data-directory initialiser, `mariadb-install-db`.
    pub install_db: PathBuf,
    /// The command-line client, `mariadb`.
    pub client: PathBuf,
}

impl Binaries {
    /// Finds all three programs on `PATH` (plus `/usr/sbin` and `/usr/bin`, where Debian puts them
    /// but a non-root `PATH` may not reach), or where `SPLITRAIL_MARIADBD`,
    /// `SPLITRAIL_MARIADB_INSTALL_DB` and `SPLITRAIL_MARIADB` point.
    pub fn locate() -> Result<Self> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
        Ok(Binaries {
            mariadbd: find("mariadbd", "SPLITRAIL_MARIADBD", &dirs)?,
            install_db: find("mariadb-install-db", "SPLITRAIL_MARIADB_INSTALL_DB", &dirs)?,
            client: find("mariadb", "SPLITRAIL_MARIADB", &dirs)?,
        })
    }
}

/// Finds `program` in `dirs` unless `env_var` names it explicitly.
pub fn find(program: &'static str, env_var: &'static str, dirs: &[PathBuf]) -> Result<PathBuf> {
    if let Some(explicit) = std::env::var_os(env_var) {
        let explicit = PathBuf::from(explicit);
        return if is_executable(&explicit) {
            Ok(explicit)
        } else {
            Err(Error::MissingBinary { program, env_var })
        };
    }
    dirs.iter()
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or(Error::MissingBinary { program, env_var })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_the_install_command() {
        let err = find(
            "mariadbd-does-not-exist",
            "SPLITRAIL_TEST_UNSET_VAR",
            &[PathBuf::from("/nonexistent")],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("`mariadbd-does-not-exist` not found"),
            "{text}"
        );
        assert!(text.contains("apt-get install -y mariadb-server"), "{text}");
    }

    #[test]
    fn finds_an_executable_in_the_given_dirs() {
        let found = find("sh", "SPLITRAIL_TEST_UNSET_VAR", &[PathBuf::from("/bin")]).unwrap();
        assert_eq!(found, PathBuf::from("/bin/sh"));
    }
}
