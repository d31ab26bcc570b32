//! The `splitrail` binary: CLI → config → server.
//!
//! The proxy server itself lands with the server issue; until then this binary says so plainly
//! instead of pretending to listen.
use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "splitrail {}: the proxy server is not built yet (see the server issue); \
         the dev cluster from scripts/run.sh is usable directly on 127.0.0.1:13306/13307",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
