//! The server's layer rule (docs/ARCHITECTURE.md, "Layers"): each top-level module of
//! `src/` (a room) may use only the rooms below it. This test reads every source file, takes
//! each `crate::room` path it names outside comments and test modules (on `use` lines and
//! inline alike), and fails on any that points up or names a room the rule does not list.
//! Crates below the server (config, protocol, router) are held down by cargo itself.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rooms, bottom first. A room may use any room listed before it.
const LAYERS: &[&str] = &[
    "config",      // re-export of the splitrail-config crate
    "error",       // the server's Error
    "io",          // a framed packet stream over a socket
    "gtid",        // GTID sets of both flavours
    "metrics",     // counters every layer adds to
    "tls",         // client and backend streams, certificates
    "backend",     // connections, flavour, statement cache, state replay, pools
    "topology",    // the servers, their roles, health and applied positions
    "balance",     // choosing a replica for a read
    "consistency", // the global write position, read requirements
    "client",      // the client side: capabilities, handshake, authentication
    "relay",       // streaming answers; pipelined connections
    "worker",      // per-thread state, the shared snapshot, the session registry
    "session",     // one client session: commands, statements, transactions
    "reload",      // applying a changed proxy.yaml
    "monitor",     // health, role and lag checks; replica discovery
    "admin",       // the admin HTTP API
    "runtime",     // threads, listeners, start and shutdown
    "lib",         // the crate root
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file that counts: before its first `#[cfg(test)]`, without comments. (A file
/// named `tests.rs` is a test module as a whole.)
fn code(path: &Path) -> String {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rooms `code` names: `crate::room…` and each name of `crate::{a, b::c}`.
fn named_rooms(code: &str) -> BTreeSet<String> {
    let mut rooms = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or_default();
            for part in group.split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    rooms.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                rooms.insert(name);
            }
        }
    }
    rooms
}

fn room_of(src: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(src).expect("under src/");
    let first = rel.components().next().expect("a path under src/");
    let first = first.as_os_str().to_string_lossy();
    first.strip_suffix(".rs").unwrap_or(&first).to_string()
}

#[test]
fn every_room_uses_only_the_rooms_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "the sources were not found under {}",
        src.display()
    );
    let rank = |room: &str| LAYERS.iter().position(|r| *r == room);
    let mut faults = Vec::new();
    for file in &files {
        let room = room_of(&src, file);
        let Some(own) = rank(&room) else {
            faults.push(format!(
                "{}: room `{room}` is not in LAYERS",
                file.display()
            ));
            continue;
        };
        for used in named_rooms(&code(file)) {
            if used == room || used == "Error" || used == "Result" {
                continue;
            }
            match rank(&used) {
                None => faults.push(format!(
                    "{}: names `crate::{used}`, which is not in LAYERS",
                    file.display()
                )),
                Some(r) if r > own => faults.push(format!(
                    "{}: `{room}` uses `{used}`, a room above it",
                    file.display()
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        faults.is_empty(),
        "layer rule broken:\n{}",
        faults.join("\n")
    );
}

#[test]
fn the_reader_sees_crate_paths_in_every_form() {
    let text = "use crate::backend::Lease;\nlet x = crate::metrics::Stats::default();\n\
                use crate::{relay::mux, worker};\n";
    let rooms: Vec<String> = named_rooms(text).into_iter().collect();
    assert_eq!(rooms, ["backend", "metrics", "relay", "worker"]);
    // Comments and test modules do not count.
    let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let file = dir.join("x.rs");
    std::fs::write(
        &file,
        "/// See [`crate::admin`].\nuse crate::io;\n#[cfg(test)]\nmod tests { use crate::runtime; }\n",
    )
    .expect("a temporary file");
    let rooms: Vec<String> = named_rooms(&code(&file)).into_iter().collect();
    assert_eq!(rooms, ["io"]);
    let _ = std::fs::remove_dir_all(&dir);
}
