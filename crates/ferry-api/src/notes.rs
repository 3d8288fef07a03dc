//! The release notes of `GET /api/v1/releases/{id}/notes` (SPEC §5): what the API answers and what the
//! renderers of `ferry-notes` print. Schema names carry a `Notes` prefix where the plain name is taken.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The release notes of one release (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReleaseNotes)]
pub struct Notes {
    /// Release id.
    pub release: String,
    /// Product.
    pub product: String,
    /// The release version, when known.
    pub version: Option<String>,
    /// The environments whose live revision starts each range (those no other environment depends on).
    pub final_environments: Vec<String>,
    /// One entry per component, ordered by component name.
    pub components: Vec<ComponentNotes>,
    /// Every pull request of every component, de-duplicated.
    pub pull_requests: Vec<PullRequest>,
    /// Every issue of every component, de-duplicated.
    pub issues: Vec<Issue>,
    /// Problems that did not stop the notes (Jira unreachable, a repository that could not be fetched, ...).
    pub warnings: Vec<String>,
    /// Whether these notes can no longer change: the release ended and every range was read without
    /// error. Only such notes are stored.
    pub settled: bool,
    /// For a rollback release (SPEC §10): every range runs backwards, from the restored revision to the
    /// one that was live, so its commits, pull requests and issues are what the rollback takes out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
}

/// The notes of one component: its ranges and what they contain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesComponent)]
pub struct ComponentNotes {
    /// Component name.
    pub component: String,
    /// The trigger environment's application the component is promoted from.
    pub source_application: String,
    /// Commits in the GitOps repository under the source application's path.
    pub gitops: GitopsRange,
    /// The image values before and after, and their reports.
    pub images: ImageChange,
    /// `known`, `unknown` or `unchanged`: whether the application source repository's commits could
    /// be listed (they need image reports for the image live before and the image promoted);
    /// `unchanged` when the image value or its source revision is the same as before.
    pub source_range: String,
    /// Why the source range is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_range_reason: Option<String>,
    /// Commits of the application source repository between the two image revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRange>,
    /// Pull requests of this component.
    pub pull_requests: Vec<PullRequest>,
    /// Issues of this component.
    pub issues: Vec<Issue>,
    /// Problems with this component's ranges.
    pub warnings: Vec<String>,
}

/// The GitOps-repository range of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesGitopsRange)]
pub struct GitopsRange {
    /// Repository (credentials redacted).
    pub repository: String,
    /// Branch of the source application.
    pub branch: String,
    /// Path of the source application.
    pub path: String,
    /// Where the range starts, per final environment.
    pub from: Vec<RangeStart>,
    /// The revision promoted (the component's source revision).
    pub to: String,
    /// Commits under `path`, newest first.
    pub commits: Vec<Commit>,
    /// Whether more commits exist than are listed.
    pub truncated: bool,
}

/// Where a range starts for one final environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesRangeStart)]
pub struct RangeStart {
    /// Final environment.
    pub environment: String,
    /// Its application of this component.
    pub application: String,
    /// The commit that made the application's path what it was before the release (in the final
    /// application's repository), when the path existed.
    pub live: Option<String>,
    /// The source-path revision that state came from: the start of the range. `None` = every commit
    /// up to the promoted revision (first deployment, or unknown).
    pub revision: Option<String>,
    /// How `revision` was found: `promotion` (the live commit's `Ferry-Release` trailer names an
    /// earlier release), `version` (the newest source commit with the same version value),
    /// `first-deployment` (the path did not exist) or `unknown`.
    pub found_by: String,
}

/// The image (version) values of a component before and after the release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesImageChange)]
pub struct ImageChange {
    /// What was live in the final environment(s) before.
    pub from: Option<ImageSide>,
    /// What is promoted.
    pub to: Option<ImageSide>,
}

/// One side of an image change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesImageSide)]
pub struct ImageSide {
    /// The value in the promoted files (a tag, a digest or a whole image reference).
    pub value: String,
    /// The image report that carries it, when one was made.
    pub report: Option<Image>,
}

/// An image report (SPEC §6.5), as the notes show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesImage)]
pub struct Image {
    /// Reference, e.g. `registry.example/shop/api:1.4.2`.
    pub image: String,
    /// Digest.
    pub digest: Option<String>,
    /// Source repository (credentials redacted).
    pub git_repo: String,
    /// Source commit.
    pub git_revision: String,
    /// Source branch.
    pub git_branch: Option<String>,
    /// Annotations (the OCI `org.opencontainers.image.*` keys included).
    pub annotations: BTreeMap<String, String>,
    /// Issues text given with the report.
    pub issues: Option<String>,
    /// When it was reported.
    pub reported_at: Timestamp,
}

/// The application source repository's commits between the two image revisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesSourceRange)]
pub struct SourceRange {
    /// Repository (credentials redacted).
    pub repository: String,
    /// Revision of the image live before.
    pub from: String,
    /// Revision of the image promoted.
    pub to: String,
    /// Whether only the first-parent chain was followed.
    pub first_parent: bool,
    /// Commits, newest first (`git log from..to`, merges included).
    pub commits: Vec<Commit>,
    /// Whether more commits exist than are listed.
    pub truncated: bool,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesCommit)]
pub struct Commit {
    /// Full id.
    pub sha: String,
    /// First 7 digits.
    pub short_sha: String,
    /// First line of the message.
    pub subject: String,
    /// Author name.
    pub author: String,
    /// Author date.
    pub date: Timestamp,
    /// Whether it is a merge.
    pub merge: bool,
    /// Link on its forge, when the host is known.
    pub url: Option<String>,
    /// Pull requests it belongs to (`#12`, `!7`).
    pub pull_requests: Vec<String>,
    /// Issues it names (keys as shown, e.g. `ABC-12`, `#5`).
    pub issues: Vec<String>,
}

/// A pull (or merge) request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesPullRequest)]
pub struct PullRequest {
    /// `#12` (GitHub-style) or `!12` (GitLab); with another project's path when the text named one.
    pub reference: String,
    /// Number.
    pub number: u64,
    /// Repository it belongs to (credentials redacted), when known.
    pub repository: Option<String>,
    /// Title, when the merge or squash commit carries it.
    pub title: Option<String>,
    /// Link, when the host is known.
    pub url: Option<String>,
    /// How it was recognised: `merge`, `squash`, `merge-request` or `image-report`.
    pub found_in: String,
    /// Commits (short ids) that name it.
    pub commits: Vec<String>,
    /// Components it belongs to.
    pub components: Vec<String>,
}

/// An issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NotesIssue)]
pub struct Issue {
    /// Tracker kind: `JIRA`, `GITHUB`, or a kind of the product's `issuePatterns`.
    pub kind: String,
    /// Key as shown: `ABC-12`, `#5`, `acme/api#5`.
    pub key: String,
    /// Repository a `#N` belongs to (credentials redacted), or the `owner/repo` it names.
    pub repository: Option<String>,
    /// Link, from the product's `issueUrl` template or the forge.
    pub url: Option<String>,
    /// Whether a closing keyword (`Fixes`, `Closes`, `Resolves`, ...) precedes it somewhere.
    pub closes: bool,
    /// Commits (short ids) that name it; `image` entries name the image report that did.
    pub commits: Vec<String>,
    /// Components it belongs to.
    pub components: Vec<String>,
    /// Jira summary (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Jira status name (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Jira assignee display name (enrichment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
}
