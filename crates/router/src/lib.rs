//! Statement classification and routing policy for Splitrail.
//!
//! Pure functions and data: no I/O, no clock, no globals. Unknown statements route to the primary.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
