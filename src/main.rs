//! The `splitrail` binary: CLI → config → server.
fn main() {}
