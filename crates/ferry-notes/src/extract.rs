//! Pull requests and issues named in commit messages and image reports (SPEC §5). Pure: text in,
//! references out.
//!
//! * Pull requests: `Merge pull request #N from …` (GitHub merge commits), a subject ending in `(#N)`
//!   (squash merges), `See merge request [group/project]!N` (GitLab).
//! * Issues, by default: Jira-style keys `PROJ-123` (exact case; not preceded by a letter, a digit,
//!   `-` or `_`, nor followed by a letter, a digit or `_`; limited to the product's `jiraProjects` when
//!   it lists any, otherwise the project part has no `_` and is not a well-known non-key such as `UTF`
//!   or `SHA`), GitHub/GitLab `#N` and `owner/repo#N`, with or without a closing keyword (`Fixes`,
//!   `Closes`, `Resolves`, ... also as `Fixes:` trailers). The `#N` of a recognised pull request is not
//!   an issue.
//! * With the product's `issuePatterns` (`KIND:regex`), those patterns replace the defaults; a
//!   pattern's first capture group (or the whole match) is the key, matches must stand alone (not glued
//!   to a letter, digit or `_`), and kind `JIRA` keeps the Jira rules above.

use std::sync::LazyLock;

use ferry_model::resources::ReleaseNotesConfig;
use regex::Regex;

/// Project parts that look like Jira keys but name standards, hashes, licences or advisories
/// (`UTF-8`, `SHA-256`, `ISO-8601`, `CVE-2024-…`, `GPL-3`). Ignored unless a product lists them in
/// `jiraProjects`.
pub const NOT_JIRA_PROJECTS: &[&str] = &[
    "AES", "AGPL", "BSD", "CC", "CVE", "CWE", "DES", "ECMA", "EPL", "GHSA", "GPL", "HTTP", "IEC", "IEEE", "IPV", "ISO",
    "LGPL", "MD", "MPL", "PEP", "RFC", "RSA", "SHA", "SSL", "TLS", "UCS", "UTF", "WCAG",
];

/// Words that close an issue when they precede it (GitHub and GitLab), compared case-insensitively.
pub const CLOSING_KEYWORDS: &[&str] = &[
    "close",
    "closes",
    "closed",
    "closing",
    "fix",
    "fixes",
    "fixed",
    "fixing",
    "resolve",
    "resolves",
    "resolved",
    "resolving",
    "implement",
    "implements",
    "implemented",
    "implementing",
];

/// Issue kind of Jira keys.
pub const JIRA: &str = "JIRA";
/// Issue kind of `#N` and `owner/repo#N`.
pub const GITHUB: &str = "GITHUB";

#[allow(clippy::expect_used)] // literal patterns, checked by the tests
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static MERGE_PR: LazyLock<Regex> = LazyLock::new(|| re(r"^Merge pull request (#([0-9]+)) from \S+"));
static SQUASH_PR: LazyLock<Regex> = LazyLock::new(|| re(r"\((#([0-9]+))\)\s*$"));
static GITLAB_MR: LazyLock<Regex> =
    LazyLock::new(|| re(r"See merge request ((?:[A-Za-z0-9][\w.\-]*(?:/[\w.\-]+)*)?!([0-9]+))"));
static JIRA_KEY: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Z][A-Z0-9_]*-[0-9]+"));
static CROSS_REF: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z0-9][\w.\-]*(?:/[\w.\-]+)+#[0-9]+"));
static HASH_REF: LazyLock<Regex> = LazyLock::new(|| re(r"#[0-9]+"));

/// How a pull request was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrSource {
    /// `Merge pull request #N from …`.
    Merge,
    /// A subject ending in `(#N)`.
    Squash,
    /// `See merge request !N`.
    MergeRequest,
    /// An image report's `ferry/pull-request` annotation.
    ImageReport,
}

impl PrSource {
    /// Spelling in the notes: `merge`, `squash`, `merge-request`, `image-report`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrSource::Merge => "merge",
            PrSource::Squash => "squash",
            PrSource::MergeRequest => "merge-request",
            PrSource::ImageReport => "image-report",
        }
    }
}

/// A pull request named in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRef {
    /// `#12`, `!12` or `group/project!12`.
    pub reference: String,
    /// Number.
    pub number: u64,
    /// The project the reference names (`group/project` of `group/project!12`).
    pub project: Option<String>,
    /// Title, when the message carries it (squash subject, or first body line of a merge commit).
    pub title: Option<String>,
    /// How it was recognised.
    pub source: PrSource,
}

/// An issue named in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    /// Kind (`JIRA`, `GITHUB` or a product pattern's kind).
    pub kind: String,
    /// Key as written: `ABC-12`, `#5`, `acme/api#5`.
    pub key: String,
    /// The repository an `owner/repo#N` names.
    pub project: Option<String>,
    /// Whether a closing keyword precedes it.
    pub closes: bool,
}

impl IssueRef {
    /// The key without a leading `#` and without an `owner/repo` part: what `{id}` stands for in link
    /// templates.
    pub fn id(&self) -> &str {
        let key = self.key.rsplit_once('#').map_or(self.key.as_str(), |(_, n)| n);
        key.strip_prefix('#').unwrap_or(key)
    }
}

/// References found in one commit message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    /// Pull requests.
    pub pull_requests: Vec<PrRef>,
    /// Issues, in order of first mention, without duplicates.
    pub issues: Vec<IssueRef>,
}

/// One product pattern.
#[derive(Debug, Clone)]
struct Pattern {
    kind: String,
    regex: Regex,
}

/// Finds references with one product's settings.
#[derive(Debug, Clone)]
pub struct Extractor {
    jira_projects: Vec<String>,
    patterns: Vec<Pattern>,
}

impl Extractor {
    /// An extractor for a product's `releaseNotes` settings; an invalid `issuePatterns` regex is an
    /// error naming it.
    pub fn new(config: &ReleaseNotesConfig) -> Result<Extractor, String> {
        let mut patterns = Vec::with_capacity(config.issue_patterns.len());
        for p in &config.issue_patterns {
            let regex = Regex::new(&p.pattern).map_err(|e| {
                format!("issue pattern {}:{} is not a valid regular expression: {e}", p.kind, p.pattern)
            })?;
            patterns.push(Pattern { kind: p.kind.clone(), regex });
        }
        Ok(Extractor { jira_projects: config.jira_projects.clone(), patterns })
    }

    /// The defaults of SPEC §5 (no product settings).
    pub fn defaults() -> Extractor {
        Extractor { jira_projects: Vec::new(), patterns: Vec::new() }
    }

    /// Pull requests and issues of a commit message (subject, body and trailers).
    pub fn commit(&self, message: &str) -> Refs {
        let (pull_requests, spans) = pull_requests(message);
        let mut masked = message.to_owned();
        for (start, end) in spans {
            masked.replace_range(start..end, &" ".repeat(end - start));
        }
        Refs { pull_requests, issues: self.issues(&masked) }
    }

    /// Issues named in free text (an image report's issues text, a commit message), in order of first
    /// mention, de-duplicated by kind and key (`closes` when any mention closes).
    pub fn issues(&self, text: &str) -> Vec<IssueRef> {
        let mut found: Vec<(usize, IssueRef)> = Vec::new();
        if self.patterns.is_empty() {
            self.jira_keys(text, &JIRA_KEY, JIRA, &mut found);
            let mut taken: Vec<(usize, usize)> = Vec::new();
            for m in CROSS_REF.find_iter(text) {
                if glued_before(text, m.start(), &['/', '.', '-', '_', '#', '&', '@']) || glued_after(text, m.end()) {
                    continue;
                }
                taken.push((m.start(), m.end()));
                let (project, _) = m.as_str().rsplit_once('#').unwrap_or((m.as_str(), ""));
                found.push((
                    m.start(),
                    IssueRef {
                        kind: GITHUB.into(),
                        key: m.as_str().to_owned(),
                        project: Some(project.to_owned()),
                        closes: closes(text, m.start()),
                    },
                ));
            }
            for m in HASH_REF.find_iter(text) {
                if taken.iter().any(|(s, e)| m.start() >= *s && m.start() < *e)
                    || glued_before(text, m.start(), &['/', '#', '&', '-', '_'])
                    || glued_after(text, m.end())
                {
                    continue;
                }
                found.push((
                    m.start(),
                    IssueRef {
                        kind: GITHUB.into(),
                        key: m.as_str().into(),
                        project: None,
                        closes: closes(text, m.start()),
                    },
                ));
            }
        } else {
            for p in &self.patterns {
                if p.kind == JIRA {
                    self.jira_keys(text, &p.regex, &p.kind, &mut found);
                    continue;
                }
                for caps in p.regex.captures_iter(text) {
                    let Some(m) = caps.get(1).or_else(|| caps.get(0)) else { continue };
                    let Some(whole) = caps.get(0) else { continue };
                    if m.as_str().is_empty()
                        || glued_before(text, whole.start(), &['_'])
                        || glued_after(text, whole.end())
                    {
                        continue;
                    }
                    let (project, _) = m.as_str().rsplit_once('#').unzip();
                    found.push((
                        m.start(),
                        IssueRef {
                            kind: p.kind.clone(),
                            key: m.as_str().to_owned(),
                            project: project.filter(|p| !p.is_empty()).map(str::to_owned),
                            closes: closes(text, whole.start()),
                        },
                    ));
                }
            }
        }
        found.sort_by_key(|(pos, _)| *pos);
        let mut out: Vec<IssueRef> = Vec::new();
        for (_, issue) in found {
            match out.iter_mut().find(|i| i.kind == issue.kind && i.key == issue.key) {
                Some(existing) => existing.closes |= issue.closes,
                None => out.push(issue),
            }
        }
        out
    }

    /// Jira keys matched by `regex` (its first group, or the whole match), with the boundary rule and
    /// the project allow-list.
    fn jira_keys(&self, text: &str, regex: &Regex, kind: &str, out: &mut Vec<(usize, IssueRef)>) {
        for caps in regex.captures_iter(text) {
            let Some(m) = caps.get(1).or_else(|| caps.get(0)) else { continue };
            if glued_before(text, m.start(), &['-', '_']) || glued_after(text, m.end()) {
                continue;
            }
            let key = m.as_str();
            let Some((project, number)) = key.rsplit_once('-') else { continue };
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if !self.project_allowed(project) {
                continue;
            }
            out.push((
                m.start(),
                IssueRef { kind: kind.to_owned(), key: key.to_owned(), project: None, closes: closes(text, m.start()) },
            ));
        }
    }

    fn project_allowed(&self, project: &str) -> bool {
        if !self.jira_projects.is_empty() {
            return self.jira_projects.iter().any(|p| p == project);
        }
        let mut chars = project.chars();
        chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && project.len() >= 2
            && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && !NOT_JIRA_PROJECTS.contains(&project)
    }
}

/// Pull requests of a commit message, and the byte ranges of their `#N` / `!N` tokens.
pub fn pull_requests(message: &str) -> (Vec<PrRef>, Vec<(usize, usize)>) {
    let mut out = Vec::new();
    let mut spans = Vec::new();
    let subject = message.lines().next().unwrap_or("");
    let body_title = || {
        message
            .lines()
            .skip(1)
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("See merge request") && !is_trailer(l))
            .map(str::to_owned)
    };
    if let Some(c) = MERGE_PR.captures(subject)
        && let (Some(token), Some(n)) = (c.get(1), c.get(2))
        && let Ok(number) = n.as_str().parse::<u64>()
    {
        spans.push((token.start(), token.end()));
        out.push(PrRef {
            reference: format!("#{number}"),
            number,
            project: None,
            title: body_title(),
            source: PrSource::Merge,
        });
    } else if let Some(c) = SQUASH_PR.captures(subject)
        && let (Some(token), Some(n), Some(whole)) = (c.get(1), c.get(2), c.get(0))
        && let Ok(number) = n.as_str().parse::<u64>()
    {
        spans.push((token.start(), token.end()));
        let title = subject[..whole.start()].trim();
        out.push(PrRef {
            reference: format!("#{number}"),
            number,
            project: None,
            title: (!title.is_empty()).then(|| title.to_owned()),
            source: PrSource::Squash,
        });
    }
    for c in GITLAB_MR.captures_iter(message) {
        let (Some(token), Some(n)) = (c.get(1), c.get(2)) else { continue };
        let Ok(number) = n.as_str().parse::<u64>() else { continue };
        spans.push((token.start(), token.end()));
        let reference = token.as_str().to_owned();
        let project = reference.split_once('!').map(|(p, _)| p).filter(|p| !p.is_empty()).map(str::to_owned);
        if out.iter().any(|p: &PrRef| p.reference == reference) {
            continue;
        }
        out.push(PrRef { reference, number, project, title: body_title(), source: PrSource::MergeRequest });
    }
    (out, spans)
}

/// A pull request named by an image report annotation (`ferry/pull-request`): `12`, `#12`, `!12` or a
/// forge URL ending in `/pull/12`, `/pulls/12` or `/merge_requests/12`.
pub fn pull_request_annotation(value: &str) -> Option<PrRef> {
    let v = value.trim();
    let (bang, digits) = if let Some(rest) = v.strip_prefix('#') {
        (false, rest)
    } else if let Some(rest) = v.strip_prefix('!') {
        (true, rest)
    } else if let Some((before, n)) = v.trim_end_matches('/').rsplit_once('/') {
        (before.ends_with("/merge_requests"), n)
    } else {
        (false, v)
    };
    let number = digits.parse::<u64>().ok()?;
    let reference = if bang { format!("!{number}") } else { format!("#{number}") };
    Some(PrRef { reference, number, project: None, title: None, source: PrSource::ImageReport })
}

/// `Key: value` with a trailer-like key.
fn is_trailer(line: &str) -> bool {
    line.split_once(':').is_some_and(|(k, v)| {
        !k.is_empty() && !v.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// Whether the character before byte `at` is a letter, a digit or one of `also`.
fn glued_before(text: &str, at: usize, also: &[char]) -> bool {
    text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || also.contains(&c))
}

/// Whether the character at byte `at` is a letter, a digit or `_`.
fn glued_after(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether a closing keyword (optionally followed by `:`) directly precedes byte `at`.
fn closes(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end();
    let before = before.strip_suffix(':').unwrap_or(before).trim_end();
    let word: String =
        before.chars().rev().take_while(|c| c.is_ascii_alphabetic()).collect::<Vec<_>>().into_iter().rev().collect();
    !word.is_empty() && CLOSING_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&word))
}

#[cfg(test)]
mod tests {
    use ferry_model::resources::IssuePattern;

    use super::*;

    fn config(projects: &[&str], patterns: &[(&str, &str)]) -> ReleaseNotesConfig {
        ReleaseNotesConfig {
            issue_patterns: patterns
                .iter()
                .map(|(k, p)| IssuePattern { kind: (*k).into(), pattern: (*p).into() })
                .collect(),
            issue_url: Default::default(),
            jira_projects: projects.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// `text` → issues as `KIND key` (`+` marks a closing mention).
    fn check(ex: &Extractor, text: &str, expect: &[&str]) {
        let got: Vec<String> = ex
            .issues(text)
            .iter()
            .map(|i| format!("{}{} {}", if i.closes { "+" } else { "" }, i.kind, i.key))
            .collect();
        assert_eq!(got, expect, "issues of {text:?}");
    }

    #[test]
    fn jira_keys_follow_the_boundary_rule() {
        let ex = Extractor::defaults();
        let cases: &[(&str, &[&str])] = &[
            ("ABC-123 fix login", &["JIRA ABC-123"]),
            ("fix login (ABC-1)", &["JIRA ABC-1"]),
            ("[ABC-1] and ABC-2, ABC-3.", &["JIRA ABC-1", "JIRA ABC-2", "JIRA ABC-3"]),
            ("feature/ABC-12-login", &["JIRA ABC-12"]),
            ("see https://jira.example/browse/OPS-7", &["JIRA OPS-7"]),
            ("A2B-9 digits allowed after the first letter", &["JIRA A2B-9"]),
            ("utf: UTF-8, SHA-256, SHA-1, ISO-8601, RFC-3339", &[]),
            ("CVE-2024-3094 and GPL-3.0", &[]),
            ("FOO_BAR-1 underscores are not keys", &[]),
            ("xABC-1 ABC-1x 1ABC-1 -ABC-1 _ABC-1 ABC-1_", &[]),
            ("abc-1 Abc-1 aBC-1", &[]),
            ("A-1 single letter", &[]),
            ("ABC- ABC-x ABC-", &[]),
            ("ABC-1 ABC-1 ABC-01", &["JIRA ABC-1", "JIRA ABC-01"]),
            ("Fixes ABC-9; refs ABC-10", &["+JIRA ABC-9", "JIRA ABC-10"]),
            ("0193ABCD-1234 in a uuid", &[]),
            ("ÄBC-1 ÜABC-2 ABC-3é", &[]),
        ];
        for (text, expect) in cases {
            check(&ex, text, expect);
        }
    }

    #[test]
    fn jira_project_allow_list() {
        let ex = Extractor::new(&config(&["ABC", "FOO_BAR", "UTF"], &[])).unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("ABC-1 XABC-1 ABCD-1 OPS-1", &["JIRA ABC-1"]),
            ("FOO_BAR-1 BAR-1 XFOO_BAR-2", &["JIRA FOO_BAR-1"]),
            ("UTF-8 is allowed when listed", &["JIRA UTF-8"]),
        ];
        for (text, expect) in cases {
            check(&ex, text, expect);
        }
    }

    #[test]
    fn github_and_gitlab_references() {
        let ex = Extractor::defaults();
        let cases: &[(&str, &[&str])] = &[
            ("see #12", &["GITHUB #12"]),
            ("Fixes #12", &["+GITHUB #12"]),
            ("fixes: #12, closes #13 and #14", &["+GITHUB #12", "+GITHUB #13", "GITHUB #14"]),
            ("Resolves acme/api#7", &["+GITHUB acme/api#7"]),
            ("group/sub/project#3 nested GitLab groups", &["GITHUB group/sub/project#3"]),
            ("(#5) [#6] #7.", &["GITHUB #5", "GITHUB #6", "GITHUB #7"]),
            ("a#1 &#123; #12abc /#4 ##5 https://github.com/acme/api/issues/9#issuecomment-1", &[]),
            ("https://example.com/page#12", &[]),
            ("#1 #1 fixes #1", &["+GITHUB #1"]),
            ("Implements #20", &["+GITHUB #20"]),
            ("prefixes #21", &["GITHUB #21"]),
        ];
        for (text, expect) in cases {
            check(&ex, text, expect);
        }
    }

    #[test]
    fn trailers_are_read_like_the_rest_of_the_message() {
        let ex = Extractor::defaults();
        let message = "Add login\n\nLonger text about ABC-1.\n\nRefs: ABC-2, ABC-3\nFixes: #4\nCloses: OPS-5\nSigned-off-by: Dev <dev@example.com>\n";
        let refs = ex.commit(message);
        let got: Vec<(String, bool)> = refs.issues.iter().map(|i| (i.key.clone(), i.closes)).collect();
        assert_eq!(
            got,
            [
                ("ABC-1".to_owned(), false),
                ("ABC-2".into(), false),
                ("ABC-3".into(), false),
                ("#4".into(), true),
                ("OPS-5".into(), true)
            ]
        );
        assert!(refs.pull_requests.is_empty());
    }

    /// `message` → pull requests as `reference source title`.
    fn check_prs(message: &str, expect: &[&str]) {
        let got: Vec<String> = pull_requests(message)
            .0
            .iter()
            .map(|p| format!("{} {} {}", p.reference, p.source.as_str(), p.title.as_deref().unwrap_or("-")))
            .collect();
        assert_eq!(got, expect, "pull requests of {message:?}");
    }

    #[test]
    fn pull_requests_from_merges_squashes_and_merge_requests() {
        check_prs(
            "Merge pull request #42 from acme/feature-x\n\nAdd the X feature\n",
            &["#42 merge Add the X feature"],
        );
        check_prs("Merge pull request #43 from acme/y", &["#43 merge -"]);
        check_prs("Add login page (#17)", &["#17 squash Add login page"]);
        check_prs("Add login page (#17)\n\n* commit one\n* commit two", &["#17 squash Add login page"]);
        check_prs(
            "Merge branch 'feat' into 'main'\n\nNew dashboard\n\nSee merge request shop/web!8",
            &["shop/web!8 merge-request New dashboard"],
        );
        check_prs("Merge branch 'feat' into 'main'\n\nSee merge request !9", &["!9 merge-request -"]);
        check_prs("Refers to (#17) in the middle", &[]);
        check_prs("Merge branch 'main' into feature", &[]);
        check_prs("(#3)", &["#3 squash -"]);
    }

    #[test]
    fn pull_request_numbers_are_not_issues() {
        let ex = Extractor::defaults();
        let refs = ex.commit("Merge pull request #42 from acme/ABC-7-login\n\nLogin (fixes #40)\n");
        let issues: Vec<&str> = refs.issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(issues, ["ABC-7", "#40"]);
        let refs = ex.commit("Add login (#17)");
        assert!(refs.issues.is_empty());
        assert_eq!(refs.pull_requests[0].number, 17);
        let refs = ex.commit("x\n\nSee merge request shop/web!8 for #9");
        assert_eq!(refs.issues.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["#9"]);
    }

    #[test]
    fn product_patterns_replace_the_defaults() {
        let ex = Extractor::new(&config(&[], &[("JIRA", r"[A-Z][A-Z0-9]+-\d+"), ("LINEAR", r"\bLIN-(\d+)")])).unwrap();
        check(&ex, "ABC-1 UTF-8 LIN-5 #7 xLIN-6", &["JIRA ABC-1", "JIRA LIN-5", "LINEAR 5"]);
        let ex = Extractor::new(&config(&["OPS"], &[("JIRA", r"[A-Z]+-\d+")])).unwrap();
        check(&ex, "ABC-1 OPS-2", &["JIRA OPS-2"]);
        let ex = Extractor::new(&config(&[], &[("GITHUB", r"#\d+")])).unwrap();
        check(&ex, "fixes #3 and x#4", &["+GITHUB #3"]);
        let err = Extractor::new(&config(&[], &[("JIRA", "(")])).unwrap_err();
        assert!(err.contains("JIRA:("), "{err}");
    }

    #[test]
    fn ids_for_link_templates() {
        let issue = |key: &str| IssueRef { kind: GITHUB.into(), key: key.into(), project: None, closes: false };
        assert_eq!(issue("#12").id(), "12");
        assert_eq!(issue("acme/api#12").id(), "12");
        assert_eq!(issue("ABC-3").id(), "ABC-3");
    }

    #[test]
    fn pull_requests_from_annotations() {
        let n = |v: &str| pull_request_annotation(v).map(|p| p.reference);
        assert_eq!(n("12"), Some("#12".into()));
        assert_eq!(n("#12"), Some("#12".into()));
        assert_eq!(n("!12"), Some("!12".into()));
        assert_eq!(n("https://github.com/acme/api/pull/12"), Some("#12".into()));
        assert_eq!(n("https://gitlab.com/acme/api/-/merge_requests/12/"), Some("!12".into()));
        assert_eq!(n("none"), None);
    }
}
