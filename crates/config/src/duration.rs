//! Durations written as strings with a unit: `"50us"`, `"500ms"`, `"5s"`, `"2m"`, `"1h"`,
//! `"1m30s"`.
//!
//! A bare number is refused on purpose: `timeout: 5` could mean seconds or milliseconds, and
//! pgcat's unit-less integers are the kind of mistake this config format exists to avoid.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// The units a duration may use, in microseconds, smallest first.
const UNITS: [(&str, u64); 5] = [
    ("us", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
];

/// Parses `"500ms"`, `"5s"`, `"2m"`, `"1h"` or a sum such as `"1m30s"`.
///
/// Each part is a whole number followed by `us`, `ms`, `s`, `m` or `h` (a space between the two is
/// allowed). Fractions, negative values and bare numbers are errors; the message says why.
pub fn parse(text: &str) -> Result<Duration, String> {
    let fail = |why: String| Err(format!("invalid duration {text:?}: {why}"));
    let mut rest = text.trim();
    if rest.is_empty() {
        return fail("empty; write e.g. \"5s\" or \"500ms\"".into());
    }
    if rest.starts_with('-') {
        return fail("negative durations are not allowed".into());
    }
    let mut total_us: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return fail(format!("expected a number at {rest:?}"));
        }
        let (number, after) = rest.split_at(digits);
        let after = after.trim_start();
        if after.starts_with(['.', ',']) {
            return fail(
                "fractions are not supported; use a smaller unit (1500ms, not 1.5s)".into(),
            );
        }
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = after.split_at(unit_len);
        if unit.is_empty() {
            return fail(format!(
                "{number} has no unit; add us, ms, s, m or h (e.g. \"{number}s\")"
            ));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return fail(format!("unknown unit {unit:?}; use us, ms, s, m or h"));
        };
        let part = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .and_then(|us| us.checked_add(total_us));
        total_us = match part {
            Some(us) => us,
            None => return fail("too large".into()),
        };
        rest = tail.trim_start();
    }
    Ok(Duration::from_micros(total_us))
}

/// Writes a duration the way [`parse`] reads it, largest unit first: 90 s is `"1m30s"`,
/// 1.5 s is `"1s500ms"`. Anything below a microsecond is dropped; parsed durations never have it.
pub fn format(duration: Duration) -> String {
    let mut us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    if us == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (name, scale) in UNITS.iter().rev() {
        if us >= *scale {
            out.push_str(&format!("{}{name}", us / scale));
            us %= scale;
        }
    }
    out
}

/// `#[serde(with = "duration")]` support: deserialize.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// `#[serde(with = "duration")]` support: serialize as the string [`format()`] gives.
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*duration))
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"500ms\", \"5s\" or \"2m\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{n} has no unit; write e.g. \"{n}s\" or \"{n}ms\""
        )))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{n}: negative durations are not allowed"
        )))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{n} has no unit and fractions are not supported; write e.g. \"1500ms\""
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_each_unit_and_sums() {
        assert_eq!(parse("50us"), Ok(Duration::from_micros(50)));
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("5s"), Ok(ms(5_000)));
        assert_eq!(parse("2m"), Ok(ms(120_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1s 500ms"), Ok(ms(1_500)));
        assert_eq!(parse(" 5 s "), Ok(ms(5_000)));
        assert_eq!(parse("0s"), Ok(ms(0)));
    }

    #[test]
    fn refuses_bad_input_with_a_reason() {
        let cases = [
            ("5", "has no unit"),
            ("5 parsecs", "unknown unit \"parsecs\""),
            ("-1s", "negative"),
            ("", "empty"),
            ("1.5s", "fractions"),
            ("s", "expected a number"),
            ("5sec", "unknown unit \"sec\""),
            ("99999999999999999999s", "too large"),
        ];
        for (text, why) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(why), "{text:?} gave {err:?}, wanted {why:?}");
            assert!(err.starts_with("invalid duration"), "{err}");
        }
    }

    #[test]
    fn format_round_trips() {
        for text in [
            "50us", "1ms250us", "500ms", "5s", "2m", "1h", "1m30s", "1s500ms", "0s", "25h",
        ] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
