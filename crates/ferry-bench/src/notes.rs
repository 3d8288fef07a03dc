//! Scenario 7: release notes over a 10,000-commit range against `git log` on the same range.
//!
//! The GitOps repository holds a product `shop` with component `api` in environments dev and prod:
//! release 1 promoted the root commit's `envs/dev/api` to prod (a Ferry promotion commit with a
//! `Ferry-Release` trailer), then `N - 1` dev commits followed — most change `envs/dev/api` and name a
//! pull request (`(#N)`) and a Jira issue, every tenth changes another component. Release 2 promotes
//! the tip, so its notes cover the `N` commits `root..tip`, listing those under `envs/dev/api`.
//!
//! Ferry's figure is `ferry_notes::compute` on release 2 (range start found through the promotion
//! trailer, history walk through the `GitCache` mirror, PR and issue extraction, links, merging); the
//! limit is `git log` with the same output fields over the same range and path, in the same mirror
//! (same packs, same commit-graph with changed-path Bloom filters). The parts are timed alone too.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferry_git::{CommitInfo, GitCache};
use ferry_model::release::{ReleaseSnapshot, ReleaseState};
use ferry_model::resources::Catalog;
use ferry_model::{CommitSha, ReleaseId};
use ferry_notes::extract::Extractor;
use ferry_notes::{ImageQuery, ImageReport, Issue, Lookup, Notes, Options, PullRequest};
use serde_json::json;

use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::load_catalog;
use crate::stats::{Stat, ms};
use crate::util::{FastCommit, GIT_ENV, fast_import, git};

/// Release 1: promoted the root commit to prod.
const RELEASE_1: &str = "01900000-0000-7000-8000-000000000001";
/// Release 2: the one whose notes are computed.
const RELEASE_2: &str = "01900000-0000-7000-8000-000000000002";
/// The path of the component in the trigger environment (the notes' path filter).
const DEV_PATH: &str = "envs/dev/api";
/// The path of the component in the final environment (the range start's first-parent walk).
const PROD_PATH: &str = "envs/prod/api";
/// The fields the notes read from each commit: id, parents, author, date, full message.
const LOG_FORMAT: &str = "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%at%x1f%B%x1e";

fn values(tag: &str) -> String {
    format!("replicas: 2\nimage:\n  repository: registry.example/shop/api\n  tag: \"{tag}\"\n")
}

/// Commit `i` of the repository (0 = root, 1 = release 1's promotion, then dev commits).
fn commit(i: usize) -> FastCommit {
    match i {
        0 => FastCommit {
            message: "Initial layout\n".into(),
            files: vec![
                (format!("{DEV_PATH}/values.yaml"), values("1.0.0")),
                ("envs/prod/api/values.yaml".into(), values("0.9.0")),
                ("envs/dev/web/values.yaml".into(), values("2.0.0")),
                ("envs/prod/web/values.yaml".into(), values("2.0.0")),
                ("README.md".into(), "GitOps repository of shop\n".into()),
            ],
        },
        1 => FastCommit {
            message: format!(
                "promote shop 1.0.0: dev -> prod\n\nFerry-Release: {RELEASE_1}\nFerry-Product: shop\nFerry-Environment: prod\n"
            ),
            files: vec![("envs/prod/api/values.yaml".into(), values("1.0.0"))],
        },
        i if i % 10 == 0 => FastCommit {
            message: format!("web: tune replicas ({i})\n\nRefs: OPS-{i}\n"),
            files: vec![("envs/dev/web/values.yaml".into(), values(&format!("2.0.{i}")))],
        },
        i => FastCommit {
            message: format!(
                "Bump api to 1.1.{i} (#{})\n\nBuilt from the main branch; see the changelog.\n\nFixes SHOP-{}\n",
                1000 + i,
                i / 4
            ),
            files: vec![(format!("{DEV_PATH}/values.yaml"), values(&format!("1.1.{i}")))],
        },
    }
}

fn catalog(url: &str) -> Result<Catalog> {
    let mut yaml = String::new();
    for (i, env) in ["dev", "prod"].iter().enumerate() {
        let ty = if *env == "prod" { "production" } else { "non-production" };
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-api-{env} }}\nspec:\n  product: shop\n  \
             environment: {env}\n  component: api\n  source: {{ repoURL: \"{url}\", path: envs/{env}/api, targetRevision: main }}\n---\n"
        ));
    }
    yaml.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec:\n  promotionTemplate:\n\
         \x20   versionSource: { file: values.yaml, jsonPath: $.image.tag }\n\
         \x20   promotion:\n      values.yaml: { jsonPaths: [\"$.image.tag\"] }\n\
         \x20 promotionFlows: [ { name: standard } ]\n  releaseNotes:\n    jiraProjects: [SHOP, OPS]\n\
         \x20   issueUrl: { JIRA: \"https://jira.example/browse/{id}\" }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n\
         \x20 steps:\n    - { environment: prod, dependsOn: [dev], policy: { action: commit } }\n",
    );
    load_catalog(yaml)
}

/// A dev → prod snapshot promoting source revision `rev`.
fn snapshot(url: &str, version: &str, rev: &str) -> Result<ReleaseSnapshot> {
    let app = |env: &str, source: Option<&str>| {
        json!({
            "name": format!("shop-api-{env}"), "component": "api", "repoUrl": url, "path": format!("envs/{env}/api"),
            "branch": "main", "sourceApp": source, "sourceRevision": rev,
        })
    };
    Ok(serde_json::from_value(json!({
        "product": "shop", "flow": "standard", "flowVersion": null, "initiator": "bench", "version": version,
        "trigger": {
            "environment": "dev", "sha": rev, "message": "m", "authorName": "Bench",
            "authorEmail": "bench@example.com", "date": "2026-01-01T00:00:00Z", "repo": url,
            "branch": "main", "webUrl": null,
        },
        "triggerWorkflow": null,
        "environments": [
            {
                "name": "dev", "type": "non-production", "dependsOn": [], "isTrigger": true, "policy": null,
                "hooks": {}, "applications": [app("dev", None)],
            },
            {
                "name": "prod", "type": "production", "dependsOn": ["dev"], "isTrigger": false,
                "policy": {"action": "commit", "preAction": null, "postAction": null, "sources": {}},
                "hooks": {}, "applications": [app("prod", Some("shop-api-dev"))],
            },
        ],
        "releaseHooks": {},
        "timeout": "1h",
    }))?)
}

/// The store as the notes see it: release 1, no image reports.
struct Releases {
    release_1: ReleaseSnapshot,
}

impl Lookup for Releases {
    fn release_snapshot(&self, id: &str) -> Result<Option<ReleaseSnapshot>, String> {
        Ok((id == RELEASE_1).then(|| self.release_1.clone()))
    }

    fn images(&self, _query: &ImageQuery) -> Result<Vec<ImageReport>, String> {
        Ok(Vec::new())
    }
}

/// `git log` in `dir` with the notes' fields; the commit ids listed, newest first.
async fn git_log(dir: &Path, range: &str, path: Option<&str>) -> Result<Vec<String>> {
    let mut args = vec!["log", "--full-history", LOG_FORMAT, range];
    if let Some(p) = path {
        args.extend(["--", p]);
    }
    let out = tokio::process::Command::new("git")
        .args(&args)
        .current_dir(dir)
        .envs(GIT_ENV)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running git log")?;
    if !out.status.success() {
        bail!("git log failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out
        .stdout
        .split(|b| *b == 0x1e)
        .filter_map(|record| {
            let record = record.strip_prefix(b"\n").unwrap_or(record);
            let sha = record.split(|b| *b == 0x1f).next()?;
            (!sha.is_empty()).then(|| String::from_utf8_lossy(sha).into_owned())
        })
        .collect())
}

fn shas(list: &[CommitInfo]) -> Vec<String> {
    list.iter().map(|c| c.sha.to_string()).collect()
}

/// Runs `f` on the blocking pool; its result and how long it took, ms.
async fn timed_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<(T, f64)> {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let out = f();
        (out, ms(t.elapsed()))
    })
    .await
    .context("blocking task")
}

/// Scenario 7.
pub async fn notes(dir: &Path, commits: usize, runs: usize) -> Result<Vec<Row>> {
    let bare = dir.join("gitops.git");
    std::fs::create_dir_all(&bare)?;
    git(&bare, &["init", "--bare", "-q", "-b", "main"])?;
    fast_import(&bare, commits + 1, commit)?;
    let url = format!("file://{}", bare.display());
    let cache = Arc::new(GitCache::new(dir.join("mirrors")));
    {
        let (cache, url) = (cache.clone(), url.clone());
        tokio::task::spawn_blocking(move || cache.fetch(&url)).await.context("fetch task")??;
    }
    let mirror = cache.mirror_dir(&url);
    let first = git(&mirror, &["rev-list", "--max-parents=0", "main"])?;
    let tip = git(&mirror, &["rev-parse", "main"])?;
    let range = format!("{first}..{tip}");
    let count: usize = git(&mirror, &["rev-list", "--count", &range])?.parse()?;
    if count != commits {
        bail!("expected {commits} commits in the range, found {count}");
    }

    let catalog = Arc::new(catalog(&url)?);
    let lookup = Arc::new(Releases { release_1: snapshot(&url, "1.0.0", &first)? });
    let state = Arc::new(ReleaseState::new(
        ReleaseId::from_str(RELEASE_2).map_err(|e| anyhow::anyhow!("{e}"))?,
        snapshot(&url, "1.1.0", &tip)?,
        jiff::Timestamp::now(),
    )?);
    // The mirror was fetched above; the figure is the computation, not a network round trip.
    let options = Arc::new(Options { fetch: false, ..Options::default() });
    let (from, to) = (CommitSha::new(&first)?, CommitSha::new(&tip)?);

    // The same mirror, its walks on the calling thread only (the default uses the machine's cores).
    let one_thread = Arc::new(GitCache::new(dir.join("mirrors")).with_walk_threads(1));
    let compute_with = |cache: &Arc<GitCache>| {
        let (state, catalog, cache, lookup, options) =
            (state.clone(), catalog.clone(), cache.clone(), lookup.clone(), options.clone());
        timed_blocking(move || ferry_notes::compute(&state, &catalog, &cache, lookup.as_ref(), &options))
    };
    let compute = || compute_with(&cache);
    let walk = |path: Option<&'static str>| {
        let (cache, url, from, to) = (cache.clone(), url.clone(), from.clone(), to.clone());
        timed_blocking(move || cache.commits_between(&url, Some(&from), &to, path, false, commits + 1))
    };
    let timed_log = |path: Option<&'static str>| {
        let (mirror, range) = (mirror.clone(), range.clone());
        async move {
            let t = Instant::now();
            let listed = git_log(&mirror, &range, path).await?;
            Ok::<_, anyhow::Error>((listed, ms(t.elapsed())))
        }
    };

    // Same answers first (untimed warm-up of every path).
    let (log_path, _) = timed_log(Some(DEV_PATH)).await?;
    let (log_all, _) = timed_log(None).await?;
    let (listed, _) = walk(Some(DEV_PATH)).await?;
    let listed = listed?;
    if shas(&listed) != log_path {
        bail!("commits_between listed {} commits under {DEV_PATH}, git log {}", listed.len(), log_path.len());
    }
    let (all, _) = walk(None).await?;
    if shas(&all?) != log_all {
        bail!("commits_between without a path differs from git log over {range}");
    }
    let (notes, _) = compute().await?;
    check(&notes, &log_path)?;
    check(&compute_with(&one_thread).await?.0, &log_path)?;
    let messages: Arc<Vec<String>> = Arc::new(listed.iter().map(|c| c.message.clone()).collect());
    let extractor = Arc::new(
        Extractor::new(&catalog.products.values().next().context("no product")?.release_notes)
            .map_err(|e| anyhow::anyhow!(e))?,
    );

    let (mut t_compute, mut t_walk, mut t_walk_all, mut t_extract) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut t_start, mut t_values, mut t_merge) = (Vec::new(), Vec::new(), Vec::new());
    let per_commit = Arc::new(per_commit_refs(&notes));
    let mut t_compute_one = Vec::new();
    let (mut t_log, mut t_log_all) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        t_log.push(timed_log(Some(DEV_PATH)).await?.1);
        t_compute.push(compute().await?.1);
        t_compute_one.push(compute_with(&one_thread).await?.1);
        t_walk.push(walk(Some(DEV_PATH)).await?.1);
        t_log_all.push(timed_log(None).await?.1);
        t_walk_all.push(walk(None).await?.1);
        let (messages, extractor) = (messages.clone(), extractor.clone());
        let refs = move || {
            messages.iter().map(|m| extractor.commit(m)).map(|r| r.pull_requests.len() + r.issues.len()).sum::<usize>()
        };
        t_extract.push(timed_blocking(refs).await?.1);
        t_start.push(range_start(&cache, &url, &to).await?.1);
        let (cache, url, to) = (cache.clone(), url.clone(), to.clone());
        let live = CommitSha::new(&first)?;
        let values = move || {
            let new = cache.read_file(&url, &to, &format!("{DEV_PATH}/values.yaml"));
            let old = cache.read_file(&url, &live, &format!("{PROD_PATH}/values.yaml"));
            new.is_ok() && old.is_ok()
        };
        t_values.push(timed_blocking(values).await?.1);
        // The input is copied before the clock starts.
        let (prs, issues) = per_commit.as_ref().clone();
        let merge =
            move || ferry_notes::compute::merge_prs(prs).len() + ferry_notes::compute::merge_issues(issues).len();
        t_merge.push(timed_blocking(merge).await?.1);
    }
    let log = Stat::of_latencies(&t_log);
    let log_limit = || Limit {
        primitive: format!("git log over the same range and path ({} commits listed)", log_path.len()),
        stat: log,
    };
    let component = &notes.components[0];
    Ok(vec![
        Row::new(
            "7 release notes",
            &format!(
                "notes (ferry_notes::compute), {commits}-commit range, {} listed under {DEV_PATH}",
                log_path.len()
            ),
            Unit::Ms,
            Stat::of_latencies(&t_compute),
            Some(log_limit()),
        )
        .target("≤ 1.0× git log", Goal::RatioAtMost(1.0))
        .note(&format!(
            "{} pull requests, {} issues; mirror already fetched; git log runs in the same mirror (commit-graph with \
             changed-path Bloom filters), same fields (%H %P %an %ae %at %B); Ferry's walk reads trees and commits on {} \
             threads (git log on one)",
            component.pull_requests.len(),
            component.issues.len(),
            cache.walk_threads()
        )),
        Row::new(
            "7 release notes",
            "… the same notes with the history walk on one thread (GitCache::with_walk_threads(1))",
            Unit::Ms,
            Stat::of_latencies(&t_compute_one),
            Some(log_limit()),
        ),
        Row::new(
            "7 release notes",
            "… its history walk alone (GitCache::commits_between, same range and path)",
            Unit::Ms,
            Stat::of_latencies(&t_walk),
            Some(log_limit()),
        ),
        Row::new(
            "7 release notes",
            "… its PR/issue extraction alone (Extractor::commit on each listed message)",
            Unit::Ms,
            Stat::of_latencies(&t_extract),
            None,
        ),
        Row::new(
            "7 release notes",
            &format!("… its range start alone (first-parent walk of {PROD_PATH} from the branch tip, limit 1)"),
            Unit::Ms,
            Stat::of_latencies(&t_start),
            None,
        ),
        Row::new(
            "7 release notes",
            "… its image values alone (the promoted and the live values.yaml read)",
            Unit::Ms,
            Stat::of_latencies(&t_values),
            None,
        ),
        Row::new(
            "7 release notes",
            "… its merging alone (merge_prs, merge_issues over one entry per commit reference)",
            Unit::Ms,
            Stat::of_latencies(&t_merge),
            None,
        ),
        Row::new(
            "7 release notes",
            &format!("history walk without a path (a source range), {commits} commits"),
            Unit::Ms,
            Stat::of_latencies(&t_walk_all),
            Some(Limit {
                primitive: format!("git log over the same {commits}-commit range, no path"),
                stat: Stat::of_latencies(&t_log_all),
            }),
        )
        .target("≤ 1.0× git log", Goal::RatioAtMost(1.0)),
    ])
}

/// The range start's walk as the notes make it for a release not landed in prod: the newest commit of the
/// branch tip's first-parent history that changed the prod path.
async fn range_start(cache: &Arc<GitCache>, url: &str, tip: &CommitSha) -> Result<(usize, f64)> {
    let (cache, url, tip) = (cache.clone(), url.to_owned(), tip.clone());
    let (found, t) = timed_blocking(move || cache.commits_between(&url, None, &tip, Some(PROD_PATH), true, 1)).await?;
    Ok((found?.len(), t))
}

/// The references of the notes as their computation collects them, one entry per commit that names one.
fn per_commit_refs(notes: &Notes) -> (Vec<PullRequest>, Vec<Issue>) {
    let (mut prs, mut issues) = (Vec::new(), Vec::new());
    for component in &notes.components {
        let pr_of: HashMap<&str, &PullRequest> =
            component.pull_requests.iter().map(|p| (p.reference.as_str(), p)).collect();
        let issue_of: HashMap<&str, &Issue> = component.issues.iter().map(|i| (i.key.as_str(), i)).collect();
        for commit in &component.gitops.commits {
            for pr in commit.pull_requests.iter().filter_map(|r| pr_of.get(r.as_str())) {
                prs.push(PullRequest { commits: vec![commit.short_sha.clone()], ..(*pr).clone() });
            }
            for issue in commit.issues.iter().filter_map(|k| issue_of.get(k.as_str())) {
                issues.push(Issue { commits: vec![commit.short_sha.clone()], ..(*issue).clone() });
            }
        }
    }
    (prs, issues)
}

/// The notes list exactly what `git log` lists, and every pull request of the messages.
fn check(notes: &Notes, log: &[String]) -> Result<()> {
    let [component] = notes.components.as_slice() else {
        bail!("expected one component in the notes, found {}", notes.components.len());
    };
    if let Some(w) = notes.warnings.iter().chain(&component.warnings).next() {
        bail!("the notes warn: {w}");
    }
    let found_by = component.gitops.from.first().map(|s| s.found_by.as_str());
    if found_by != Some("promotion") {
        bail!("the range start was found by {found_by:?}, not by release 1's promotion");
    }
    let listed: Vec<&str> = component.gitops.commits.iter().map(|c| c.sha.as_str()).collect();
    if listed != log || component.gitops.truncated {
        bail!("the notes list {} commits, git log {}", listed.len(), log.len());
    }
    if component.pull_requests.len() != log.len() {
        bail!("{} pull requests found in {} commits naming one each", component.pull_requests.len(), log.len());
    }
    Ok(())
}
