//! Sans-IO MySQL client/server protocol codec for Splitrail.
//!
//! This crate never performs I/O and never looks at SQL text.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
