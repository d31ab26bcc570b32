//! Loader for the corpus files under `tests/corpus/*.txt` (shared by the corpus test and the
//! benchmark).
//!
//! Each file is a session script. A line is `<target> <reason> <sql>`; lines that start with
//! whitespace continue the previous statement on a new line; `#` starts a comment line; `@reset`
//! starts a fresh session (it comes back as a case whose `sql` is `@reset`).
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use splitrail_router::{Reason, Target};

/// One expected routing: file, line, target, reason, statement.
pub struct Case {
    pub file: String,
    pub line: usize,
    pub target: Target,
    pub reason: Reason,
    pub sql: String,
}

/// The cases of every corpus file, one vector per file, files in name order.
pub fn load() -> Vec<Vec<Case>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            parse_file(
                &p.file_name().unwrap().to_string_lossy(),
                &fs::read_to_string(p).unwrap(),
            )
        })
        .collect()
}

fn parse_file(file: &str, text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            let last = cases
                .last_mut()
                .unwrap_or_else(|| panic!("{file}:{}: continuation first", i + 1));
            last.sql.push('\n');
            last.sql.push_str(line.trim_start());
            continue;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if line.trim() == "@reset" {
            cases.push(Case {
                file: file.into(),
                line: i + 1,
                target: Target::Primary,
                reason: Reason::Empty,
                sql: "@reset".into(),
            });
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let (t, r, sql) = (
            parts.next().unwrap(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let target = match t {
            "primary" => Target::Primary,
            "replica" => Target::Replica,
            "pinned" => Target::Pinned,
            _ => panic!("{file}:{}: bad target {t:?}", i + 1),
        };
        // Rules are configuration, not corpus material: `rule` is not a corpus reason.
        let reason = *Reason::ALL
            .iter()
            .filter(|x| !matches!(x, Reason::Rule(_)))
            .find(|x| x.as_str() == r)
            .unwrap_or_else(|| panic!("{file}:{}: bad reason {r:?}", i + 1));
        cases.push(Case {
            file: file.into(),
            line: i + 1,
            target,
            reason,
            sql: sql.into(),
        });
    }
    cases
}

/// Every corpus statement, in file order, without the `@reset` markers.
pub fn statements() -> Vec<String> {
    load()
        .into_iter()
        .flatten()
        .map(|c| c.sql)
        .filter(|s| s != "@reset")
        .collect()
}
