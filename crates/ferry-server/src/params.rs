//! Query-string parsing with errors that name the parameter.

use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::ApiError;

/// Decoded query parameters, checked against the parameters a route accepts.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `raw`; unknown parameters are rejected so that typos do not go unnoticed.
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = match raw {
            None => Vec::new(),
            Some(raw) => serde_urlencoded::from_str(raw)
                .map_err(|e| ApiError::bad_request(format!("the query string cannot be decoded: {e}")))?,
        };
        for (name, _) in &pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::invalid_field(
                    name,
                    format!("unknown query parameter (this route accepts: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(Params(pairs))
    }

    /// The single value of `name`; empty values count as absent.
    pub(crate) fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid_field(name, "given more than once"));
        }
        Ok(first)
    }

    /// Every value of a repeatable parameter, also split at commas.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// An integer in `min..=max`, or `default`.
    pub(crate) fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.one(name)? {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid_field(name, format!("{v:?} is not a whole number from {min} to {max}"))),
            },
        }
    }

    /// A parsed value.
    pub(crate) fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.one(name)?.map(|v| parse(v).map_err(|e| ApiError::invalid_field(name, e))).transpose()
    }

    /// A time: RFC 3339 (`2026-03-01T12:00:00Z`) or a UTC date (`2026-03-01`). A date means the start of
    /// that day, or with `end_of_day` the start of the next day (so `until=2026-03-01` includes that day).
    pub(crate) fn time(&self, name: &str, end_of_day: bool) -> Result<Option<Timestamp>, ApiError> {
        self.parsed(name, |v| parse_time(v, end_of_day))
    }
}

/// See [`Params::time`].
pub(crate) fn parse_time(value: &str, end_of_day: bool) -> Result<Timestamp, String> {
    if let Ok(t) = Timestamp::from_str(value) {
        return Ok(t);
    }
    // A `+` offset that was not percent-encoded arrives as a space.
    if value.contains(' ')
        && let Ok(t) = Timestamp::from_str(&value.replace(' ', "+"))
    {
        return Ok(t);
    }
    let date = jiff::civil::Date::from_str(value)
        .map_err(|_| format!("{value:?} is not a date (YYYY-MM-DD) or an RFC 3339 time (2026-03-01T12:00:00Z)"))?;
    let date = if end_of_day { date.tomorrow().map_err(|e| e.to_string())? } else { date };
    date.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values() {
        let p = Params::parse(Some("status=Failed,Running&status=Queued&flow="), &["status", "flow"]).unwrap();
        assert_eq!(p.all("status"), ["Failed", "Running", "Queued"]);
        assert_eq!(p.one("flow").unwrap(), None);
        let e = p.one("status").unwrap_err();
        assert_eq!(e.message, "status: given more than once");
    }

    #[test]
    fn unknown_parameters_are_named() {
        let e = Params::parse(Some("prodct=shop"), &["product", "limit"]).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        assert!(e.message.starts_with("prodct: unknown query parameter"), "{}", e.message);
    }

    #[test]
    fn integers_are_range_checked() {
        let p = Params::parse(Some("limit=501&after=-1&n=7"), &["limit", "after", "n"]).unwrap();
        assert!(p.int("limit", 50, 1, 500).unwrap_err().message.starts_with("limit: "));
        assert!(p.int("after", 0, 0, i64::MAX).is_err());
        assert_eq!(p.int("n", 0, 0, 10).unwrap(), 7);
        assert_eq!(p.int("missing", 50, 1, 500).unwrap(), 50);
    }

    #[test]
    fn times_and_dates() {
        let t = |v: &str, end: bool| parse_time(v, end).map(|t| t.to_string());
        assert_eq!(t("2026-03-01", false).unwrap(), "2026-03-01T00:00:00Z");
        assert_eq!(t("2026-03-01", true).unwrap(), "2026-03-02T00:00:00Z");
        assert_eq!(t("2026-03-01T12:30:00Z", true).unwrap(), "2026-03-01T12:30:00Z");
        assert_eq!(t("2026-03-01T12:30:00 02:00", false).unwrap(), "2026-03-01T10:30:00Z");
        assert!(t("yesterday", false).unwrap_err().contains("is not a date"));
        assert!(t("2026-02-30", false).is_err());
    }
}
