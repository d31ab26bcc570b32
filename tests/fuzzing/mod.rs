//! The session fuzzer's parts (tests/session_fuzz.rs): a seeded PRNG ([`rng`]), valid client
//! packet templates ([`streams`]), mutations of them ([`mutate`]) and a raw socket client that
//! logs in, sends bytes and waits for the proxy's answer or close ([`raw`]), and the oracle for
//! valid streams' answers ([`answers`]).
#![allow(dead_code)]

pub mod answers;
pub mod mutate;
pub mod raw;
pub mod rng;
pub mod streams;
