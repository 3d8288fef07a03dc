//! "Did you mean" suggestions.

/// The candidate closest to `input`, if one is close enough to be a likely typo.
///
/// A candidate qualifies when it differs only in case, when its optimal-string-alignment distance is
/// at most a third of the input's length (at least 1), or when its Jaro-Winkler similarity is at least
/// 0.85, or when it starts with the input (three characters or more). The smallest distance wins; ties go to the higher similarity, then to the earlier candidate.
pub(crate) fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_lowercase();
    let mut best: Option<(usize, f64, &'a str)> = None;
    for candidate in candidates {
        if candidate == input {
            continue;
        }
        let cand_lower = candidate.to_lowercase();
        let distance = if cand_lower == lower { 0 } else { strsim::osa_distance(&lower, &cand_lower) };
        let similarity = strsim::jaro_winkler(&lower, &cand_lower);
        let max_distance = (input.chars().count() / 3).max(1);
        let is_prefix = input.chars().count() >= 3 && cand_lower.starts_with(&lower);
        if distance > max_distance && similarity < 0.85 && !is_prefix {
            continue;
        }
        let better = match best {
            None => true,
            Some((d, s, _)) => distance < d || (distance == d && similarity > s),
        };
        if better {
            best = Some((distance, similarity, candidate));
        }
    }
    best.map(|(_, _, c)| c)
}

/// `did you mean "x"?` for the closest candidate.
pub(crate) fn hint<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(input, candidates).map(|c| format!("did you mean {c:?}?"))
}

/// A hint that suggests the closest candidate, or else lists them all (`expected one of: a, b`).
pub(crate) fn hint_or_list<'a, I>(input: &str, candidates: I, what: &str) -> Option<String>
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    hint(input, candidates.clone()).or_else(|| list(candidates, what))
}

/// `WHAT: a, b, c` (or `None` when there are no candidates).
pub(crate) fn list<'a, I>(candidates: I, what: &str) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let all: Vec<&str> = candidates.into_iter().collect();
    if all.is_empty() { None } else { Some(format!("{what}: {}", all.join(", "))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let envs = ["dev", "qa", "staging", "prod"];
        assert_eq!(did_you_mean("qa2", envs), Some("qa"));
        assert_eq!(did_you_mean("stagin", envs), Some("staging"));
        assert_eq!(did_you_mean("Prod", envs), Some("prod"));
        assert_eq!(did_you_mean("production", envs), Some("prod"));
        assert_eq!(did_you_mean("europe", envs), None);
    }

    #[test]
    fn suggests_field_names() {
        let fields = ["environment", "dependsOn", "policy", "hooks"];
        assert_eq!(did_you_mean("dependOn", fields), Some("dependsOn"));
        assert_eq!(did_you_mean("depends_on", fields), Some("dependsOn"));
        assert_eq!(did_you_mean("env", fields), Some("environment"));
        assert_eq!(did_you_mean("timeout", fields), None);
        let spec = ["triggerEnvironment", "triggerWorkflow", "steps", "hooks", "promotionTimeoutLimit"];
        assert_eq!(did_you_mean("promotionTimeout", spec), Some("promotionTimeoutLimit"));
        assert_eq!(did_you_mean("triggerEnv", spec), Some("triggerEnvironment"));
    }

    #[test]
    fn enum_values() {
        assert_eq!(did_you_mean("prod", ["production", "non-production"]), Some("production"));
        assert_eq!(did_you_mean("merge", ["commit", "pr", "none"]), None);
        assert_eq!(did_you_mean("parallel", ["queue", "terminate"]), None);
        assert_eq!(did_you_mean("in", ["In", "NotIn"]), Some("In"));
        assert_eq!(did_you_mean("Like", ["In", "NotIn"]), None);
    }

    #[test]
    fn exact_match_is_not_a_suggestion() {
        assert_eq!(did_you_mean("qa", ["qa"]), None);
        assert_eq!(did_you_mean("x", std::iter::empty()), None);
    }

    #[test]
    fn hints_are_worded() {
        assert_eq!(hint("qa2", ["qa"]), Some("did you mean \"qa\"?".into()));
        assert_eq!(hint_or_list("zzz", ["a", "b"], "expected one of"), Some("expected one of: a, b".into()));
    }
}
