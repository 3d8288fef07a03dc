//! Small text helpers of the pages: escaping, times, durations, commits, query strings.

use jiff::{Timestamp, Unit};

/// HTML-escapes text (for the few fragments built in Rust; templates escape by themselves).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2026-03-01 12:30:05 UTC`, or `—`.
pub(crate) fn time(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => format!("{} UTC", t.strftime("%Y-%m-%d %H:%M:%S")),
        None => "—".to_owned(),
    }
}

/// `2026-03-01 12:30`, or `—`.
pub(crate) fn short_time(t: Option<Timestamp>) -> String {
    match t {
        Some(t) => t.strftime("%Y-%m-%d %H:%M").to_string(),
        None => "—".to_owned(),
    }
}

/// RFC 3339 for `<time datetime>`, or empty.
pub(crate) fn iso(t: Option<Timestamp>) -> String {
    t.map(|t| t.round(Unit::Second).unwrap_or(t).to_string()).unwrap_or_default()
}

/// A duration between two times: `850 ms`, `42 s`, `3 min 05 s`, `2 h 03 min`; `—` without a start.
pub(crate) fn duration(start: Option<Timestamp>, end: Option<Timestamp>, now: Timestamp) -> String {
    let Some(start) = start else { return "—".to_owned() };
    let end = end.unwrap_or(now);
    let ms = end.as_millisecond().saturating_sub(start.as_millisecond()).max(0);
    human_ms(ms)
}

/// See [`duration`].
pub(crate) fn human_ms(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    if s < 60 {
        return format!("{s} s");
    }
    let (m, s) = (s / 60, s % 60);
    if m < 60 {
        return format!("{m} min {s:02} s");
    }
    let (h, m) = (m / 60, m % 60);
    format!("{h} h {m:02} min")
}

/// The first 7 characters of a commit id.
pub(crate) fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// The subject (first line) of a commit message.
pub(crate) fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim_end()
}

/// The rest of a commit message after the subject, trimmed (empty when there is none).
pub(crate) fn body(message: &str) -> &str {
    match message.split_once('\n') {
        Some((_, rest)) => rest.trim(),
        None => "",
    }
}

/// `?a=1&b=2` from pairs (values percent-encoded); empty values are left out; `""` when none remain.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let kept: Vec<(&str, &str)> = pairs.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
    if kept.is_empty() {
        return String::new();
    }
    match serde_urlencoded::to_string(&kept) {
        Ok(q) => format!("?{q}"),
        Err(_) => String::new(),
    }
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
    ferry_api::path::encode(s)
}

/// A stage as people read it.
pub(crate) fn stage(stage: &str, hook: Option<&str>) -> String {
    match (stage, hook) {
        ("trigger", _) => "Trigger".to_owned(),
        ("preAction", _) => "Pre-action".to_owned(),
        ("postAction", _) => "Post-action".to_owned(),
        (_, Some(hook)) => format!("Hook {hook}"),
        ("hook", None) => "Hook".to_owned(),
        (other, None) => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn durations_read_well() {
        for (ms, text) in [(850, "850 ms"), (42_000, "42 s"), (185_000, "3 min 05 s"), (7_380_000, "2 h 03 min")] {
            assert_eq!(human_ms(ms), text);
        }
        let t = |s: &str| Timestamp::from_str(s).ok();
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(duration(t("2026-01-01T00:00:00Z"), t("2026-01-01T00:01:01Z"), now), "1 min 01 s");
        assert_eq!(duration(None, None, now), "—");
    }

    #[test]
    fn messages_split_into_subject_and_body() {
        assert_eq!(subject("fix: x\n\nlonger text\n"), "fix: x");
        assert_eq!(body("fix: x\n\nlonger text\n"), "longer text");
        assert_eq!(body("fix: x"), "");
    }

    #[test]
    fn queries_and_segments_are_encoded() {
        assert_eq!(query(&[("a", "x y"), ("b", ""), ("c", "&")]), "?a=x+y&c=%26");
        assert_eq!(query(&[("a", "")]), "");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(esc(r#"<a href="x">'&"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
