//! Computing a release's notes: ranges per component, the history walks through the mirror cache,
//! image reports, and the references found along the way. Blocking (git reads); call it from
//! `spawn_blocking` in async code.
//!
//! **Range of a component** (documented in `docs/decisions.md`): it ends at the component's source
//! revision in the release snapshot and starts, for each *final environment* (one that no other
//! environment of the flow depends on), at the source revision that was live there before the release:
//!
//! 1. *base*: the parent (first parent) of the release's promotion commit in that environment — for
//!    action `pr`, of the merge commit — or, while the release has not landed there (or landed without
//!    a commit), the tip of the final application's branch;
//! 2. *live*: the newest commit of the base's first-parent history that changed the final application's
//!    path (none: first deployment, the range is all history up to the promoted revision);
//! 3. the start: when *live* (or, for a merge, the promotion commit it merged) carries a
//!    `Ferry-Release` trailer, the source revision that earlier release promoted for the component;
//!    otherwise the newest source commit (up to the promoted revision) whose version value equals the
//!    final application's; otherwise unknown (warning; all history up to the promoted revision, capped).
//!
//! With several final environments the ranges are united.
//!
//! **Rollback releases** (flow `rollback`) promote an older revision: their ranges run backwards, from
//! the restored revision to the one that was live, and list what the rollback takes out.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferry_git::{CommitInfo, GitCache, TRAILER_ENVIRONMENT, TRAILER_RELEASE, parse_trailers, redact};
use ferry_model::CommitSha;
use ferry_model::jsonpath::JsonPath;
use ferry_model::release::{ActionStatus, AppSnapshot, EnvSnapshot, ReleaseSnapshot, ReleaseState};
use ferry_model::resources::{Catalog, Product};
use ferry_model::template::resolve_template;

use crate::extract::{Extractor, IssueRef, PrRef, pull_request_annotation};
use crate::image::{PULL_REQUEST_ANNOTATION, query_for_value};
use crate::links::RepoLinks;
use crate::types::*;

/// What the notes need from the store: earlier releases and image reports. Lookups are blocking.
pub trait Lookup {
    /// The snapshot of release `id`, when it exists.
    fn release_snapshot(&self, id: &str) -> Result<Option<ReleaseSnapshot>, String>;
    /// Image reports matching `query`, newest first.
    fn images(&self, query: &ImageQuery) -> Result<Vec<ImageReport>, String>;
}

/// Settings of a computation.
#[derive(Debug, Clone)]
pub struct Options {
    /// Follow only the first parent in application source repositories (`git log --first-parent`).
    pub first_parent: bool,
    /// Most commits listed per range; more are marked `truncated`.
    pub commit_limit: usize,
    /// Fetch every repository once before reading it (off only in tests that prepared the mirrors).
    pub fetch: bool,
    /// Jira server base URL, for `/browse/KEY` links when the product has no Jira `issueUrl`.
    pub jira_browse: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { first_parent: false, commit_limit: 10_000, fetch: true, jira_browse: None }
    }
}

/// How many source commits are scanned to match a version value.
const VERSION_SCAN_LIMIT: usize = 2_000;

/// The environments whose live revisions start the ranges: those no other environment depends on
/// (the trigger environment only when it is the only one).
pub fn final_environments(snapshot: &ReleaseSnapshot) -> Vec<&EnvSnapshot> {
    let depended: BTreeSet<_> = snapshot.environments.iter().flat_map(|e| e.depends_on.iter()).collect();
    let finals: Vec<&EnvSnapshot> =
        snapshot.environments.iter().filter(|e| !e.is_trigger && !depended.contains(&e.name)).collect();
    if finals.is_empty() { snapshot.environments.iter().filter(|e| e.is_trigger).collect() } else { finals }
}

struct Run<'a> {
    state: &'a ReleaseState,
    catalog: &'a Catalog,
    product: Option<&'a Product>,
    git: &'a GitCache,
    lookup: &'a dyn Lookup,
    options: &'a Options,
    extractor: Extractor,
    fetched: HashMap<String, bool>,
    settled: bool,
    warnings: Vec<String>,
}

/// Computes the notes of a release. Never fails: what cannot be read becomes a warning (and the notes
/// are then not `settled`).
pub fn compute(
    state: &ReleaseState,
    catalog: &Catalog,
    git: &GitCache,
    lookup: &dyn Lookup,
    options: &Options,
) -> Notes {
    let snapshot = state.snapshot();
    let product = catalog.products.get(&snapshot.product);
    let mut warnings = Vec::new();
    let extractor = match product.map(|p| Extractor::new(&p.release_notes)) {
        Some(Ok(e)) => e,
        Some(Err(e)) => {
            warnings.push(format!("{e}; the default patterns are used"));
            Extractor::defaults()
        }
        None => {
            warnings.push(format!(
                "product {} is no longer configured; its release-notes settings are unknown and the defaults are used",
                snapshot.product
            ));
            Extractor::defaults()
        }
    };
    let mut run = Run {
        state,
        catalog,
        product,
        git,
        lookup,
        options,
        extractor,
        fetched: HashMap::new(),
        settled: state.status().is_final(),
        warnings,
    };
    let finals = final_environments(snapshot);
    let mut components = Vec::new();
    let mut trigger_apps: Vec<&AppSnapshot> =
        snapshot.trigger_environment().map(|e| e.applications.iter().collect()).unwrap_or_default();
    trigger_apps.sort_by(|a, b| (&a.component, &a.name).cmp(&(&b.component, &b.name)));
    for source in trigger_apps {
        components.push(run.component(source, &finals));
    }
    // A component's lists are merged already: with one component they are the release's.
    let (pull_requests, issues) = match components.as_slice() {
        [one] => (one.pull_requests.clone(), one.issues.clone()),
        _ => (
            merge_prs(components.iter().flat_map(|c| c.pull_requests.iter().cloned())),
            merge_issues(components.iter().flat_map(|c| c.issues.iter().cloned())),
        ),
    };
    Notes {
        release: state.id().to_string(),
        product: snapshot.product.to_string(),
        version: snapshot.version.clone(),
        final_environments: finals.iter().map(|e| e.name.to_string()).collect(),
        components,
        pull_requests,
        issues,
        warnings: run.warnings,
        settled: run.settled,
        rollback: snapshot.rollback.is_some(),
    }
}

/// Collects a component's references while its commits are read, merged as they come — as
/// [`merge_prs`] and [`merge_issues`] would merge the whole list afterwards — so that a reference named
/// by many commits is built once.
#[derive(Default)]
struct Collected {
    prs: Vec<PullRequest>,
    /// Position in `prs` by reference and repository.
    pr_at: HashMap<(String, Option<String>), usize>,
    issues: Vec<Issue>,
    /// Position in `issues` by kind, key and repository.
    issue_at: HashMap<(String, String, Option<String>), usize>,
}

impl Collected {
    /// Pull request `key` (reference, repository) named by commit `by` of `component`; `make` builds
    /// it the first time.
    fn pr(
        &mut self,
        key: (String, Option<String>),
        by: &str,
        component: &str,
        title: Option<&String>,
        make: impl FnOnce() -> PullRequest,
    ) {
        match self.pr_at.entry(key) {
            Entry::Occupied(at) => {
                let Some(existing) = self.prs.get_mut(*at.get()) else { return };
                push_one(&mut existing.commits, by);
                push_one(&mut existing.components, component);
                if existing.title.is_none() {
                    existing.title = title.cloned();
                }
            }
            Entry::Vacant(at) => {
                at.insert(self.prs.len());
                self.prs.push(make());
            }
        }
    }

    /// Issue `key` (kind, key, repository) named by commit `by` of `component`; `make` builds it the
    /// first time, `url` gives its link when the first one found none.
    fn issue(
        &mut self,
        key: (String, String, Option<String>),
        by: &str,
        component: &str,
        closes: bool,
        url: impl FnOnce() -> Option<String>,
        make: impl FnOnce() -> Issue,
    ) {
        match self.issue_at.entry(key) {
            Entry::Occupied(at) => {
                let Some(existing) = self.issues.get_mut(*at.get()) else { return };
                existing.closes |= closes;
                push_one(&mut existing.commits, by);
                push_one(&mut existing.components, component);
                if existing.url.is_none() {
                    existing.url = url();
                }
            }
            Entry::Vacant(at) => {
                at.insert(self.issues.len());
                self.issues.push(make());
            }
        }
    }
}

impl Run<'_> {
    /// The URL to read an application's repository with: the configured one (it may carry
    /// credentials), since snapshots keep only the redacted form.
    fn url_of(&self, app: &AppSnapshot) -> String {
        self.catalog.applications.get(&app.name).map_or_else(|| app.repo_url.clone(), |a| a.source.repo_url.clone())
    }

    /// Fetches `url` once per computation; a failure is a warning (reads then see the mirror as it is).
    fn fetch(&mut self, url: &str) {
        if !self.options.fetch || self.fetched.contains_key(url) {
            return;
        }
        let ok = match self.git.fetch(url) {
            Ok(()) => true,
            Err(e) => {
                self.settled = false;
                self.warnings.push(format!("cannot fetch {}: {}", redact(url), e.message));
                false
            }
        };
        self.fetched.insert(url.to_owned(), ok);
    }

    fn component(&mut self, source: &AppSnapshot, finals: &[&EnvSnapshot]) -> ComponentNotes {
        let url = self.url_of(source);
        self.fetch(&url);
        let mut warnings = Vec::new();
        let mut collected = Collected::default();
        let component = source.component.to_string();
        let mut notes = ComponentNotes {
            component: component.clone(),
            source_application: source.name.to_string(),
            gitops: GitopsRange {
                repository: redact(&url),
                branch: source.branch.clone(),
                path: source.path.clone(),
                from: Vec::new(),
                to: source.source_revision.as_ref().map(ToString::to_string).unwrap_or_default(),
                commits: Vec::new(),
                truncated: false,
            },
            images: ImageChange::default(),
            source_range: "unknown".into(),
            source_range_reason: None,
            source: None,
            pull_requests: Vec::new(),
            issues: Vec::new(),
            warnings: Vec::new(),
        };
        let Some(to) = source.source_revision.clone() else {
            notes.warnings.push(format!("the release snapshot has no source revision for {}", source.name));
            notes.source_range_reason = Some("the promoted revision is unknown".into());
            return notes;
        };
        let value_paths = self.value_paths(source);

        // Where the GitOps range starts, per final environment, and what was live there.
        let mut lives: Vec<(String, String, CommitSha)> = Vec::new(); // (final url, final path, live commit)
        for env in finals {
            for app in env.applications.iter().filter(|a| a.component == source.component) {
                let (start, live) = self.range_start(env, app, source, &url, &to, &value_paths, &mut warnings);
                if let Some(live) = live {
                    lives.push((self.url_of(app), app.path.clone(), live));
                }
                notes.gitops.from.push(start);
            }
        }
        if notes.gitops.from.is_empty() {
            warnings.push(format!(
                "no final environment ({}) has an application of component {component}; listing history up to the promoted revision",
                finals.iter().map(|e| e.name.to_string()).collect::<Vec<_>>().join(", ")
            ));
        }

        // GitOps commits under the source path, united over the distinct starts.
        let mut starts: Vec<Option<CommitSha>> =
            notes.gitops.from.iter().map(|s| s.revision.as_deref().and_then(|r| CommitSha::new(r).ok())).collect();
        if starts.is_empty() {
            starts.push(None);
        }
        starts.sort_by(|a, b| a.as_ref().map(CommitSha::as_str).cmp(&b.as_ref().map(CommitSha::as_str)));
        starts.dedup();
        let mut commits: Vec<CommitInfo> = Vec::new();
        let limit = self.options.commit_limit;
        let rollback = self.state.snapshot().rollback.is_some();
        for start in starts {
            // A rollback's range runs backwards: from the restored revision to the one that was live.
            let (from, until) = match (rollback, start) {
                (false, start) => (start, to.clone()),
                (true, Some(live)) => (Some(to.clone()), live),
                (true, None) => continue,
            };
            match self.git.commits_between(&url, from.as_ref(), &until, Some(&source.path), false, limit + 1) {
                Ok(list) => {
                    notes.gitops.truncated |= list.len() > limit;
                    commits.extend(list);
                }
                Err(e) => {
                    self.settled = false;
                    warnings.push(format!("cannot list the GitOps commits of {component}: {}", e.message));
                }
            }
        }
        // Newest first; a commit listed by several ranges (same date and id) once.
        commits.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.sha.as_str().cmp(b.sha.as_str())));
        commits.dedup_by(|a, b| a.sha == b.sha);
        notes.gitops.truncated |= commits.len() > limit;
        commits.truncate(limit);
        let repo = Repo::of(redact(&url));
        notes.gitops.commits = commits.into_iter().map(|c| self.commit(c, &repo, &component, &mut collected)).collect();

        // Images and the application source range.
        self.images(&mut notes, source, &to, &value_paths, &lives, &mut collected, &mut warnings);
        // What the promoted image's report names itself (after the commits, which name more).
        if let Some(report) = notes.images.to.as_ref().and_then(|s| s.report.as_ref()) {
            let label = format!("image {}", report.image);
            let repo = Repo::of(report.git_repo.clone());
            if let Some(pr) = report.annotations.get(PULL_REQUEST_ANNOTATION).and_then(|v| pull_request_annotation(v)) {
                self.collect_pr(&mut collected, &pr, &repo, &label, &component);
            }
            if let Some(text) = &report.issues {
                for issue in self.extractor.issues(text) {
                    self.collect_issue(&mut collected, &issue, &repo, &label, &component);
                }
            }
        }

        notes.pull_requests = collected.prs;
        notes.issues = collected.issues;
        notes.warnings = warnings;
        notes
    }

    /// (file relative to the application path, JSONPath) pairs whose values may name the image: the
    /// template's version source first, then every promoted path.
    fn value_paths(&self, source: &AppSnapshot) -> Vec<(String, JsonPath)> {
        let (Some(product), Some(app)) = (self.product, self.catalog.applications.get(&source.name)) else {
            return Vec::new();
        };
        let Ok((spec, _)) = resolve_template(product, app, self.catalog.templates.values()) else {
            return Vec::new();
        };
        let mut out: Vec<(String, JsonPath)> = Vec::new();
        if let Some(v) = &spec.version_source {
            out.push((v.file.clone(), v.json_path.clone()));
        }
        for (file, paths) in &spec.promotion {
            for p in paths {
                if !out.iter().any(|(f, q)| f == file && q.to_string() == p.to_string()) {
                    out.push((file.clone(), p.clone()));
                }
            }
        }
        out
    }

    /// The value at `path` of `file` (relative to `dir`) in `commit`.
    fn read_value(&self, url: &str, commit: &CommitSha, dir: &str, file: &str, path: &JsonPath) -> Option<String> {
        let full = join(dir, file);
        let bytes = self.git.read_file(url, commit, &full).ok().flatten()?;
        ferry_git::read_version(&String::from_utf8_lossy(&bytes), path)
    }

    #[allow(clippy::too_many_arguments)]
    fn range_start(
        &mut self,
        env: &EnvSnapshot,
        app: &AppSnapshot,
        source: &AppSnapshot,
        source_url: &str,
        to: &CommitSha,
        value_paths: &[(String, JsonPath)],
        warnings: &mut Vec<String>,
    ) -> (RangeStart, Option<CommitSha>) {
        let url = self.url_of(app);
        self.fetch(&url);
        let mut start = RangeStart {
            environment: env.name.to_string(),
            application: app.name.to_string(),
            live: None,
            revision: None,
            found_by: "unknown".into(),
        };
        let landed = self
            .state
            .environment(&env.name)
            .and_then(|e| e.app(&app.name))
            .and_then(|a| a.action.as_ref())
            .filter(|a| a.status == ActionStatus::Succeeded)
            .and_then(|a| a.commit.clone());
        let base = match &landed {
            Some(commit) => match self.git.commit_info(&url, commit) {
                Ok(info) => info.parents.first().cloned(),
                Err(e) => {
                    self.settled = false;
                    warnings.push(format!("cannot read the promotion commit in {}: {}", env.name, e.message));
                    return (start, None);
                }
            },
            None => {
                // Not landed (yet): what is live is the branch tip, which may still move.
                self.settled = false;
                match self.git.head(&url, &app.branch) {
                    Ok(head) => Some(head),
                    Err(e) => {
                        warnings.push(format!("cannot read {} of {}: {}", app.branch, app.name, e.message));
                        return (start, None);
                    }
                }
            }
        };
        let live = match &base {
            None => None,
            Some(base) => match self.git.commits_between(&url, None, base, Some(&app.path), true, 1) {
                Ok(mut list) => list.pop(),
                Err(e) => {
                    self.settled = false;
                    warnings.push(format!("cannot read the history of {} in {}: {}", app.name, env.name, e.message));
                    return (start, None);
                }
            },
        };
        let Some(live) = live else {
            start.found_by = "first-deployment".into();
            return (start, None);
        };
        start.live = Some(live.sha.to_string());

        // 1. The promotion that made it: its release's source revision for this component.
        if let Some(revision) = self.promoted_revision(&url, &live, env, source, warnings) {
            start.revision = Some(revision.to_string());
            start.found_by = "promotion".into();
            return (start, Some(live.sha));
        }
        // 2. The newest source commit with the same version value.
        if let Some((file, path)) = value_paths.first()
            && let Some(value) = self.read_value(&url, &live.sha, &app.path, file, path)
        {
            match self.git.commits_between(source_url, None, to, Some(&source.path), false, VERSION_SCAN_LIMIT) {
                Ok(history) => {
                    let found = history.iter().find(|c| {
                        self.read_value(source_url, &c.sha, &source.path, file, path).as_deref() == Some(&value)
                    });
                    if let Some(c) = found {
                        start.revision = Some(c.sha.to_string());
                        start.found_by = "version".into();
                        return (start, Some(live.sha));
                    }
                }
                Err(e) => warnings.push(format!("cannot read the history of {}: {}", source.name, e.message)),
            }
        }
        warnings.push(format!(
            "cannot tell which revision of {} was live in {} before this release (commit {} was not made by a Ferry \
             promotion and no version value matches); the GitOps commits listed are all commits up to the promoted \
             revision",
            source.name, env.name, live.short_sha
        ));
        (start, Some(live.sha))
    }

    /// The source revision an earlier release promoted, named by the `Ferry-Release` trailer of `live`
    /// (or, for a pull-request merge, of the promotion commit it merged).
    fn promoted_revision(
        &mut self,
        url: &str,
        live: &CommitInfo,
        env: &EnvSnapshot,
        source: &AppSnapshot,
        warnings: &mut Vec<String>,
    ) -> Option<CommitSha> {
        let mut messages = vec![live.message.clone()];
        if live.parents.len() > 1
            && let Some(second) = live.parents.get(1)
            && let Ok(merged) = self.git.commit_info(url, second)
        {
            messages.push(merged.message);
        }
        let release = messages.iter().find_map(|m| {
            let trailers = parse_trailers(m);
            let get = |k: &str| trailers.iter().find(|(tk, _)| tk.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
            let release = get(TRAILER_RELEASE)?;
            let env_ok = get(TRAILER_ENVIRONMENT).is_none_or(|e| e == env.name.as_str());
            env_ok.then_some(release)
        })?;
        if release == self.state.id().to_string() {
            return None;
        }
        let snapshot = match self.lookup.release_snapshot(&release) {
            Ok(Some(s)) => s,
            Ok(None) => {
                warnings.push(format!("commit {} names release {release}, which Ferry does not know", live.short_sha));
                return None;
            }
            Err(e) => {
                self.settled = false;
                warnings.push(format!("cannot read release {release}: {e}"));
                return None;
            }
        };
        snapshot
            .trigger_environment()?
            .applications
            .iter()
            .find(|a| a.component == source.component)
            .and_then(|a| a.source_revision.clone())
    }

    /// Image values before and after, their reports, and the source range between them.
    #[allow(clippy::too_many_arguments)]
    fn images(
        &mut self,
        notes: &mut ComponentNotes,
        source: &AppSnapshot,
        to: &CommitSha,
        value_paths: &[(String, JsonPath)],
        lives: &[(String, String, CommitSha)],
        collected: &mut Collected,
        warnings: &mut Vec<String>,
    ) {
        let url = self.url_of(source);
        if value_paths.is_empty() {
            notes.source_range_reason =
                Some("the promotion template names no version or promoted value that could be an image".into());
            return;
        }
        let new_values: Vec<Option<String>> =
            value_paths.iter().map(|(f, p)| self.read_value(&url, to, &source.path, f, p)).collect();
        // The first path whose promoted value has a report; else the first that has a value.
        let mut chosen: Option<(usize, Option<ImageReport>)> = None;
        for (i, value) in new_values.iter().enumerate() {
            let Some(value) = value else { continue };
            let report = self.report_for(value, &new_values, warnings);
            if report.is_some() {
                chosen = Some((i, report));
                break;
            }
            if chosen.is_none() {
                chosen = Some((i, None));
            }
        }
        let Some((index, to_report)) = chosen else {
            notes.source_range_reason = Some("the promoted files have no version or image value".into());
            return;
        };
        let (file, path) = &value_paths[index];
        let to_value = new_values[index].clone().unwrap_or_default();
        // The same path in the final environment's files, as they were live before.
        let old = lives.iter().find_map(|(u, dir, live)| self.read_value(u, live, dir, file, path));
        let from_report = old.as_ref().and_then(|v| {
            let olds: Vec<Option<String>> = value_paths
                .iter()
                .map(|(f, p)| lives.first().and_then(|(u, d, l)| self.read_value(u, l, d, f, p)))
                .collect();
            self.report_for(v, &olds, warnings)
        });
        notes.images = ImageChange {
            from: old.clone().map(|value| ImageSide { value, report: from_report.as_ref().map(show_image) }),
            to: Some(ImageSide { value: to_value.clone(), report: to_report.as_ref().map(show_image) }),
        };
        if old.as_deref() == Some(to_value.as_str()) {
            // The same image as before: nothing of the source repository comes with this release.
            notes.source_range = "unchanged".into();
            return;
        }
        let (from, to_img) = match (&from_report, &to_report) {
            (_, None) => {
                notes.source_range_reason = Some(format!("no image report carries {to_value}"));
                return;
            }
            (None, Some(_)) => {
                notes.source_range_reason = Some(match &old {
                    Some(v) => format!("no image report carries {v}, the value live before"),
                    None => "nothing was live before this release".into(),
                });
                return;
            }
            (Some(a), Some(b)) => (a.clone(), b.clone()),
        };
        if same_repo(&from.git_repo, &to_img.git_repo) {
            if from.git_revision == to_img.git_revision {
                notes.source_range = "unchanged".into();
                notes.source = Some(SourceRange {
                    repository: redact(&to_img.git_repo),
                    from: from.git_revision.clone(),
                    to: to_img.git_revision.clone(),
                    first_parent: self.options.first_parent,
                    commits: Vec::new(),
                    truncated: false,
                });
                return;
            }
        } else {
            notes.source_range_reason = Some(format!(
                "the images come from different repositories ({} and {})",
                redact(&from.git_repo),
                redact(&to_img.git_repo)
            ));
            return;
        }
        let (Ok(a), Ok(b)) = (CommitSha::new(&from.git_revision), CommitSha::new(&to_img.git_revision)) else {
            notes.source_range_reason = Some("an image report's revision is not a full commit id".into());
            return;
        };
        let source_url = to_img.git_repo.clone();
        self.fetch(&source_url);
        let limit = self.options.commit_limit;
        // A rollback takes out the source commits between the restored image and the live one.
        let (first, last) = if self.state.snapshot().rollback.is_some() { (&b, &a) } else { (&a, &b) };
        match self.git.commits_between(&source_url, Some(first), last, None, self.options.first_parent, limit + 1) {
            Ok(mut list) => {
                let truncated = list.len() > limit;
                list.truncate(limit);
                let repo = Repo::of(redact(&source_url));
                let commits = list.into_iter().map(|c| self.commit(c, &repo, &notes.component, collected)).collect();
                notes.source_range = "known".into();
                notes.source = Some(SourceRange {
                    repository: repo.url,
                    from: a.to_string(),
                    to: b.to_string(),
                    first_parent: self.options.first_parent,
                    commits,
                    truncated,
                });
            }
            Err(e) => {
                self.settled = false;
                notes.source_range_reason = Some(format!("cannot read {}: {}", redact(&source_url), e.message));
            }
        }
    }

    /// The newest report for a value. A bare tag reported for several image repositories is resolved
    /// with the other values of the same files (e.g. an `image.repository` next to `image.tag`).
    fn report_for(
        &mut self,
        value: &str,
        siblings: &[Option<String>],
        warnings: &mut Vec<String>,
    ) -> Option<ImageReport> {
        let query = query_for_value(value)?;
        let reports = match self.lookup.images(&query) {
            Ok(r) => r,
            Err(e) => {
                self.settled = false;
                warnings.push(format!("cannot read image reports: {e}"));
                return None;
            }
        };
        let repositories: BTreeSet<&str> = reports.iter().map(|r| r.repository.as_str()).collect();
        if repositories.len() <= 1 {
            return reports.into_iter().next();
        }
        let named = |repo: &str| {
            siblings
                .iter()
                .flatten()
                .any(|v| v == repo || repo.ends_with(&format!("/{v}")) || v.ends_with(&format!("/{repo}")))
        };
        let picked: Vec<&str> = repositories.iter().copied().filter(|r| named(r)).collect();
        if let [one] = picked.as_slice() {
            let one = (*one).to_owned();
            return reports.into_iter().find(|r| r.repository == one);
        }
        warnings.push(format!(
            "{value} was reported for several images ({}); promote a value that names the repository or a digest",
            repositories.into_iter().collect::<Vec<_>>().join(", ")
        ));
        None
    }

    /// A commit as listed, its references collected.
    fn commit(&self, c: CommitInfo, repo: &Repo, component: &str, collected: &mut Collected) -> Commit {
        let refs = self.extractor.commit(&c.message);
        for pr in &refs.pull_requests {
            self.collect_pr(collected, pr, repo, &c.short_sha, component);
        }
        for issue in &refs.issues {
            self.collect_issue(collected, issue, repo, &c.short_sha, component);
        }
        let mut pull_requests: Vec<String> = refs.pull_requests.into_iter().map(|p| p.reference).collect();
        pull_requests.dedup();
        Commit {
            url: repo.links.commit_url(c.sha.as_str()),
            subject: c.subject().to_owned(),
            merge: c.parents.len() > 1,
            sha: c.sha.into(),
            short_sha: c.short_sha,
            author: c.author_name,
            date: c.date,
            pull_requests,
            issues: refs.issues.into_iter().map(|i| i.key).collect(),
        }
    }

    fn collect_pr(&self, collected: &mut Collected, pr: &PrRef, repo: &Repo, by: &str, component: &str) {
        let key = (pr.reference.clone(), Some(repo.url.clone()));
        collected.pr(key, by, component, pr.title.as_ref(), || self.pull_request(pr, repo, by, component));
    }

    fn collect_issue(&self, collected: &mut Collected, issue: &IssueRef, repo: &Repo, by: &str, component: &str) {
        // `#N` belongs to the repository of the text that names it; other keys are global.
        let repository = match (&issue.project, issue.kind.as_str()) {
            (Some(p), _) => Some(p.clone()),
            (None, crate::extract::GITHUB) => Some(repo.url.clone()),
            _ => None,
        };
        let key = (issue.kind.clone(), issue.key.clone(), repository.clone());
        collected.issue(
            key,
            by,
            component,
            issue.closes,
            || self.issue_url(issue, repo),
            || self.issue(issue, repository, repo, by, component),
        );
    }

    fn pull_request(&self, pr: &PrRef, repo: &Repo, by: &str, component: &str) -> PullRequest {
        PullRequest {
            reference: pr.reference.clone(),
            number: pr.number,
            repository: Some(repo.url.clone()),
            title: pr.title.clone(),
            url: repo.links.pull_request_url(&pr.reference, pr.number),
            found_in: pr.source.as_str().into(),
            commits: vec![by.to_owned()],
            components: vec![component.to_owned()],
        }
    }

    fn issue_url(&self, issue: &IssueRef, repo: &Repo) -> Option<String> {
        static NO_TEMPLATES: BTreeMap<String, String> = BTreeMap::new();
        let templates = self.product.map_or(&NO_TEMPLATES, |p| &p.release_notes.issue_url);
        repo.links.issue_url(templates, issue, self.options.jira_browse.as_deref())
    }

    fn issue(&self, issue: &IssueRef, repository: Option<String>, repo: &Repo, by: &str, component: &str) -> Issue {
        Issue {
            kind: issue.kind.clone(),
            key: issue.key.clone(),
            repository,
            url: self.issue_url(issue, repo),
            closes: issue.closes,
            commits: vec![by.to_owned()],
            components: vec![component.to_owned()],
            summary: None,
            status: None,
            assignee: None,
        }
    }
}

/// A repository as the notes name it (URL, credentials redacted) and its links, parsed once.
struct Repo {
    url: String,
    links: RepoLinks,
}

impl Repo {
    fn of(url: String) -> Repo {
        Repo { links: RepoLinks::of(&url), url }
    }
}

fn show_image(r: &ImageReport) -> Image {
    Image {
        image: r.image.clone(),
        digest: r.digest.clone(),
        git_repo: redact(&r.git_repo),
        git_revision: r.git_revision.clone(),
        git_branch: r.git_branch.clone(),
        annotations: r.annotations.clone(),
        issues: r.issues.clone(),
        reported_at: r.reported_at,
    }
}

/// Whether two repository URLs name the same repository ([`ferry_git::RepoUrl`]: scheme, credentials,
/// `.git`, a trailing `/` and case do not matter).
fn same_repo(a: &str, b: &str) -> bool {
    ferry_git::RepoUrl::same_repository(a, b)
}

fn join(dir: &str, file: &str) -> String {
    let dir = dir.trim_matches('/');
    let file = file.trim_start_matches('/');
    if dir.is_empty() { file.to_owned() } else { format!("{dir}/{file}") }
}

fn push_one(into: &mut Vec<String>, item: &str) {
    if !into.iter().any(|i| i == item) {
        into.push(item.to_owned());
    }
}

fn push_unique(into: &mut Vec<String>, items: &[String]) {
    for item in items {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

/// Pull requests de-duplicated by repository and reference, in order of first appearance.
pub fn merge_prs(items: impl IntoIterator<Item = PullRequest>) -> Vec<PullRequest> {
    let mut out: Vec<PullRequest> = Vec::new();
    // Position of each pull request in `out`: ranges of thousands of commits stay linear.
    let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
    for pr in items {
        match index.entry((pr.reference.clone(), pr.repository.clone())) {
            Entry::Occupied(at) => {
                let Some(existing) = out.get_mut(*at.get()) else { continue };
                push_unique(&mut existing.commits, &pr.commits);
                push_unique(&mut existing.components, &pr.components);
                if existing.title.is_none() {
                    existing.title = pr.title;
                }
            }
            Entry::Vacant(at) => {
                at.insert(out.len());
                out.push(pr);
            }
        }
    }
    out
}

/// Issues de-duplicated by kind, key and (for `#N`) repository, in order of first appearance.
pub fn merge_issues(items: impl IntoIterator<Item = Issue>) -> Vec<Issue> {
    let mut out: Vec<Issue> = Vec::new();
    let mut index: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for issue in items {
        match index.entry((issue.kind.clone(), issue.key.clone(), issue.repository.clone())) {
            Entry::Occupied(at) => {
                let Some(existing) = out.get_mut(*at.get()) else { continue };
                existing.closes |= issue.closes;
                push_unique(&mut existing.commits, &issue.commits);
                push_unique(&mut existing.components, &issue.components);
                if existing.url.is_none() {
                    existing.url = issue.url;
                }
            }
            Entry::Vacant(at) => {
                at.insert(out.len());
                out.push(issue);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(reference: &str, repo: &str, by: &str, component: &str, title: Option<&str>) -> PullRequest {
        PullRequest {
            reference: reference.into(),
            number: 1,
            repository: Some(repo.into()),
            title: title.map(Into::into),
            url: None,
            found_in: "squash".into(),
            commits: vec![by.into()],
            components: vec![component.into()],
        }
    }

    fn issue(key: &str, repo: Option<&str>, by: &str, closes: bool, url: Option<&str>) -> Issue {
        Issue {
            kind: "JIRA".into(),
            key: key.into(),
            repository: repo.map(Into::into),
            url: url.map(Into::into),
            closes,
            commits: vec![by.into()],
            components: vec!["api".into()],
            summary: None,
            status: None,
            assignee: None,
        }
    }

    #[test]
    fn references_merged_while_collected_equal_the_lists_merged_afterwards() {
        let prs = vec![
            pr("#1", "r", "a1", "api", None),
            pr("#2", "r", "a2", "api", Some("two")),
            pr("#1", "r", "a3", "web", Some("one")),
            pr("#1", "other", "a4", "api", None),
            pr("#1", "r", "a1", "api", Some("later")),
        ];
        let issues = vec![
            issue("A-1", None, "a1", false, None),
            issue("A-2", Some("r"), "a2", true, Some("u2")),
            issue("A-1", None, "a3", true, Some("u1")),
            issue("A-1", Some("r"), "a4", false, None),
            issue("A-1", None, "a1", false, Some("other")),
        ];
        let mut collected = Collected::default();
        for p in &prs {
            let key = (p.reference.clone(), p.repository.clone());
            collected.pr(key, &p.commits[0], &p.components[0], p.title.as_ref(), || p.clone());
        }
        for i in &issues {
            let key = (i.kind.clone(), i.key.clone(), i.repository.clone());
            collected.issue(key, &i.commits[0], &i.components[0], i.closes, || i.url.clone(), || i.clone());
        }
        let merged = merge_prs(prs);
        assert_eq!(collected.prs, merged);
        assert_eq!(merged[0].commits, ["a1", "a3"]);
        assert_eq!(merged[0].title.as_deref(), Some("one"));
        let merged_issues = merge_issues(issues);
        assert_eq!(collected.issues, merged_issues);
        assert!(merged_issues[0].closes);
        assert_eq!(merged_issues[0].url.as_deref(), Some("u1"));
        // A merged list merges into itself: the release's lists of a single component are its lists.
        assert_eq!(merge_prs(merged.clone()), merged);
        assert_eq!(merge_issues(merged_issues.clone()), merged_issues);
    }
}
