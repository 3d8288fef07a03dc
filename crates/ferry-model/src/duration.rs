//! Durations as written in configuration: `90s`, `5m`, `1h30m`, `2d`, or a bare number of a default unit.

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. \"90s\", \"5m\", \"1h30m\")")]
pub struct DurationError {
    /// The rejected text.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses `1h30m`, `20m`, `45s`, `500ms`, `2d` (units may be combined, largest first).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError { input: input.to_owned(), reason };
    let text = input.trim();
    if text.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total: u128 = 0;
    let mut rest = text;
    let mut last_rank: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(err("expected a number before each unit"));
        }
        let number: u128 = rest[..digits].parse().map_err(|_| err("the number is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let (unit, rank) = match &rest[..unit_len] {
            "d" => (86_400_000u128, 0),
            "h" => (3_600_000, 1),
            "m" => (60_000, 2),
            "s" => (1_000, 3),
            "ms" => (1, 4),
            "" => return Err(err("a unit is missing (use d, h, m, s or ms)")),
            _ => return Err(err("unknown unit (use d, h, m, s or ms)")),
        };
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(err("units must go from largest to smallest, each once"));
        }
        last_rank = Some(rank);
        total = total
            .checked_add(number.checked_mul(unit).ok_or_else(|| err("it is too long"))?)
            .ok_or_else(|| err("it is too long"))?;
        rest = &rest[unit_len..];
    }
    let millis = u64::try_from(total).map_err(|_| err("it is too long"))?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration compactly, largest units first: `1h30m`, `45s`, `250ms`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400_000u128, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")] {
        let n = millis / unit;
        if n > 0 {
            out.push_str(&format!("{n}{name}"));
            millis -= n * unit;
        }
    }
    out
}

/// Serde for an optional duration written as text (`30m`), for `with = "crate::duration::option_text"`.
pub(crate) mod option_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{format_duration, parse_duration};

    /// Writes `Some(d)` as its text, `None` as null.
    pub fn serialize<S: Serializer>(value: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&format_duration(*d)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads text or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            Some(text) => parse_duration(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let cases = [
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("500ms", 500),
            ("1h0m5s", 3_605_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in ["", "5", "m", "5x", "30m1h", "1h1h", "-5m", "1.5h", "99999999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let msg = parse_duration("5x").unwrap_err().to_string();
        assert!(msg.contains("unknown unit"), "{msg}");
    }

    #[test]
    fn formats_round_trip() {
        for text in ["1h30m", "45s", "250ms", "2d3h", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
