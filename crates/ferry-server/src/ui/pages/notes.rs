//! The release-notes panel.

use super::*;

/// A promotion commit.
#[derive(Debug, Clone)]
pub(crate) struct NoteCommit {
    pub(crate) environment: String,
    pub(crate) sha: String,
    pub(crate) short: String,
    pub(crate) repo: String,
    pub(crate) applications: String,
    pub(crate) pull_request: Option<(String, String)>,
    pub(crate) badge: Badge,
}

/// Release notes data.
#[derive(Debug, Clone)]
pub(crate) struct NotesData {
    pub(crate) release_href: String,
    pub(crate) version: String,
    pub(crate) trigger: TriggerItem,
    pub(crate) commits: Vec<NoteCommit>,
    pub(crate) versions: Vec<(String, String)>,
    /// The notes of SPEC §5, or why they could not be computed.
    pub(crate) notes: Result<NotesView, String>,
    /// Whether the history walks followed first parents only.
    pub(crate) first_parent: bool,
    /// Link that flips `first_parent`.
    pub(crate) first_parent_href: String,
}

/// A link that may be missing.
#[derive(Debug, Clone)]
pub(crate) struct Linked {
    pub(crate) text: String,
    pub(crate) url: String,
}

impl Linked {
    pub(super) fn new(text: impl Into<String>, url: Option<&str>) -> Linked {
        Linked { text: text.into(), url: url.unwrap_or_default().to_owned() }
    }
}

/// A pull request in the notes.
#[derive(Debug, Clone)]
pub(crate) struct NotePr {
    pub(crate) link: Linked,
    pub(crate) title: String,
    pub(crate) components: String,
    pub(crate) found_in: String,
}

/// An issue in the notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteIssue {
    pub(crate) link: Linked,
    pub(crate) kind: String,
    pub(crate) summary: String,
    pub(crate) status: String,
    pub(crate) assignee: String,
    pub(crate) closes: bool,
    pub(crate) components: String,
}

/// A commit of a range.
#[derive(Debug, Clone)]
pub(crate) struct RangeCommit {
    pub(crate) link: Linked,
    pub(crate) sha: String,
    pub(crate) subject: String,
    pub(crate) author: String,
    pub(crate) date: String,
    pub(crate) merge: bool,
    pub(crate) refs: String,
}

/// One component of the notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteComponent {
    pub(crate) name: String,
    pub(crate) image_from: String,
    pub(crate) image_to: String,
    pub(crate) gitops_where: String,
    pub(crate) gitops_from: String,
    pub(crate) gitops: Vec<RangeCommit>,
    pub(crate) gitops_truncated: bool,
    /// `known`, `unknown` or `unchanged`.
    pub(crate) source_range: String,
    pub(crate) source_reason: String,
    pub(crate) source_where: String,
    pub(crate) source: Vec<RangeCommit>,
    pub(crate) source_truncated: bool,
    pub(crate) warnings: Vec<String>,
    /// The image reports of the image live before and the image promoted.
    pub(crate) reports: Vec<NoteImage>,
}

/// An image report shown with a component's notes.
#[derive(Debug, Clone)]
pub(crate) struct NoteImage {
    /// `before` or `promoted`.
    pub(crate) side: &'static str,
    pub(crate) image: String,
    pub(crate) digest: String,
    pub(crate) annotations: Vec<(String, String)>,
}

/// The notes of SPEC §5, ready for the template.
#[derive(Debug, Clone)]
pub(crate) struct NotesView {
    pub(crate) final_environments: String,
    pub(crate) pull_requests: Vec<NotePr>,
    pub(crate) issues: Vec<NoteIssue>,
    pub(crate) components: Vec<NoteComponent>,
    pub(crate) warnings: Vec<String>,
    pub(crate) settled: bool,
}

/// `/releases/{id}/notes`.
#[derive(Template)]
#[template(path = "notes.html")]
pub(crate) struct NotesPage {
    pub(crate) page: PageMeta,
    pub(crate) d: NotesData,
}

/// `/releases/{id}/notes?fragment=panel`.
#[derive(Template)]
#[template(path = "notes_body.html")]
pub(crate) struct NotesFragment {
    pub(crate) d: NotesData,
}

/// Release notes: the trigger and promotion commits of the release, and the notes of SPEC §5 (the
/// same data as `GET /api/v1/releases/{id}/notes`).
pub(crate) fn notes(v: &ReleaseView, computed: Result<&ferry_notes::Notes, String>, first_parent: bool) -> NotesData {
    let data = release(v, Timestamp::now(), ReleaseOptions::default());
    let mut commits: Vec<NoteCommit> = Vec::new();
    for env in &v.environments {
        let mut by_commit: BTreeMap<String, NoteCommit> = BTreeMap::new();
        for app in &env.applications {
            let Some(a) = &app.action else { continue };
            let Some(commit) = &a.commit else { continue };
            let entry = by_commit.entry(commit.clone()).or_insert_with(|| NoteCommit {
                environment: env.name.clone(),
                sha: commit.clone(),
                short: short_sha(commit),
                repo: a.repo.as_deref().map(redact_url).unwrap_or_default(),
                applications: String::new(),
                pull_request: a.pull_request.as_ref().map(|p| (format!("#{}", p.number), p.url.clone())),
                badge: Badge::sized(a.status.as_str(), Size::Icon),
            });
            if !entry.applications.is_empty() {
                entry.applications.push_str(", ");
            }
            entry.applications.push_str(&app.name);
        }
        commits.extend(by_commit.into_values());
    }
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for env in &v.environments {
        for app in &env.applications {
            if let Some(version) = &app.version {
                versions.entry(app.component.clone()).or_insert_with(|| version.clone());
            }
        }
    }
    let flip = if first_parent { String::new() } else { format::query(&[("firstParent", "true")]) };
    NotesData {
        first_parent_href: format!("{}/notes{flip}", data.href),
        release_href: data.href,
        version: data.version,
        trigger: data.trigger,
        commits,
        versions: versions.into_iter().collect(),
        notes: computed.map(notes_view),
        first_parent,
    }
}

pub(super) fn range_commits(commits: &[ferry_notes::Commit]) -> Vec<RangeCommit> {
    commits
        .iter()
        .map(|c| RangeCommit {
            link: Linked::new(c.short_sha.clone(), c.url.as_deref()),
            sha: c.sha.clone(),
            subject: c.subject.clone(),
            author: c.author.clone(),
            date: format::time(Some(c.date)),
            merge: c.merge,
            refs: c.pull_requests.iter().chain(&c.issues).cloned().collect::<Vec<_>>().join(" "),
        })
        .collect()
}

pub(super) fn notes_view(n: &ferry_notes::Notes) -> NotesView {
    let pull_requests = n
        .pull_requests
        .iter()
        .map(|p| NotePr {
            link: Linked::new(p.reference.clone(), p.url.as_deref()),
            title: p.title.clone().unwrap_or_default(),
            components: p.components.join(", "),
            found_in: p.found_in.clone(),
        })
        .collect();
    let issues = n
        .issues
        .iter()
        .map(|i| NoteIssue {
            link: Linked::new(i.key.clone(), i.url.as_deref()),
            kind: i.kind.clone(),
            summary: i.summary.clone().unwrap_or_default(),
            status: i.status.clone().unwrap_or_default(),
            assignee: i.assignee.clone().unwrap_or_default(),
            closes: i.closes,
            components: i.components.join(", "),
        })
        .collect();
    let components = n
        .components
        .iter()
        .map(|c| {
            let side = |s: &Option<ferry_notes::ImageSide>| s.as_ref().map(|s| s.value.clone()).unwrap_or_default();
            let starts: Vec<String> = c
                .gitops
                .from
                .iter()
                .map(|s| match &s.revision {
                    Some(r) => format!("{} at {} ({})", s.environment, short_sha(r), s.found_by),
                    None => format!("{} ({})", s.environment, s.found_by),
                })
                .collect();
            let (source_where, source, source_truncated) = match &c.source {
                Some(s) => (
                    format!("{} {}..{}", s.repository, short_sha(&s.from), short_sha(&s.to)),
                    range_commits(&s.commits),
                    s.truncated,
                ),
                None => (String::new(), Vec::new(), false),
            };
            NoteComponent {
                name: c.component.clone(),
                image_from: side(&c.images.from),
                image_to: side(&c.images.to),
                gitops_where: format!("{} · {} · {}", c.gitops.repository, c.gitops.branch, c.gitops.path),
                gitops_from: starts.join(", "),
                gitops: range_commits(&c.gitops.commits),
                gitops_truncated: c.gitops.truncated,
                source_range: c.source_range.clone(),
                source_reason: c.source_range_reason.clone().unwrap_or_default(),
                source_where,
                source,
                source_truncated,
                warnings: c.warnings.clone(),
                reports: [("before", &c.images.from), ("promoted", &c.images.to)]
                    .into_iter()
                    .filter_map(|(side, s)| {
                        let r = s.as_ref()?.report.as_ref()?;
                        Some(NoteImage {
                            side,
                            image: r.image.clone(),
                            digest: r.digest.clone().unwrap_or_default(),
                            annotations: r.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    NotesView {
        final_environments: n.final_environments.join(", "),
        pull_requests,
        issues,
        components,
        warnings: n.warnings.clone(),
        settled: n.settled,
    }
}
