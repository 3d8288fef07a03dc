//! The fakes behave like the real ports in what the engine relies on: the same operations on the git
//! mirror cache over a real bare repository and on the fake git give the same outcomes and contents;
//! the local runner (real processes) and the fake runner report the same events for the same
//! workflow; the local pull-request provider and the fake one answer the engine's requests alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_engine::ports::{
    GitPort, LocalPullRequests, MirrorGit, OpenPullRequest, PullRequestOpened, PullRequestProvider, WorkflowRunner,
};
use ferry_engine::testing::{FakeClock, FakeGit, FakePullRequests, FakeRunner, FakeStep};
use ferry_git::{FilePlan, GitCache, PromotionOutcome, PromotionRequest, PromotionSource};
use ferry_model::jsonpath::JsonPath;
use ferry_model::names::{AppName, CommitSha, EnvName, ReleaseId};
use ferry_model::resources::Workflow;
use ferry_runner::{RunEvent, RunSpec};

use crate::fixture::*;

const FAKE_URL: &str = "https://git.example.com/acme/gitops.git";

fn layout() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for env in ["dev", "qa", "prod"] {
        let tag = if env == "dev" { "2.0.0" } else { "1.0.0" };
        files.push((format!("apps/api/{env}/values.yaml"), values(tag, env)));
    }
    files
}

fn request(url: &str, source: &CommitSha, env: &str, release: &str, files: &[&str]) -> PromotionRequest {
    let paths: BTreeMap<String, Vec<JsonPath>> =
        files.iter().map(|f| ((*f).to_owned(), vec![JsonPath::parse("$.image.tag").unwrap()])).collect();
    PromotionRequest {
        repo_url: url.to_owned(),
        branch: "main".into(),
        sources: vec![PromotionSource {
            repo_url: url.to_owned(),
            commit: source.clone(),
            source_path: "apps/api/dev".into(),
            target_path: format!("apps/api/{env}"),
            plan: FilePlan::Paths(paths),
        }],
        message: format!("promote shop: dev -> {env}"),
        trailers: vec![("Ferry-Release".into(), release.into()), ("Ferry-Environment".into(), env.into())],
        author: ("Ferry".into(), "ferry@localhost".into()),
    }
}

/// What a promotion did, without the commit id (which differs between implementations).
fn shape(outcome: &PromotionOutcome) -> String {
    match outcome {
        PromotionOutcome::Committed { files, .. } => format!("committed {files:?}"),
        PromotionOutcome::Unchanged => "unchanged".into(),
        PromotionOutcome::AlreadyDone { .. } => "already done".into(),
    }
}

fn sha(outcome: &PromotionOutcome) -> CommitSha {
    match outcome {
        PromotionOutcome::Committed { sha, .. } | PromotionOutcome::AlreadyDone { sha } => sha.clone(),
        PromotionOutcome::Unchanged => panic!("no commit"),
    }
}

fn text(git: &dyn GitPort, url: &str, rev: &CommitSha, path: &str) -> String {
    String::from_utf8(git.read_file(url, rev, path).unwrap().unwrap()).unwrap()
}

/// Runs the sequence the engine uses on one git port; returns a transcript to compare.
fn transcript(git: &dyn GitPort, url: &str) -> Vec<String> {
    let mut out = Vec::new();
    git.fetch(url).unwrap();
    let initial = git.head(url, "main").unwrap();
    let touching = git.last_commit_touching(url, "main", "apps/api/qa").unwrap().unwrap();
    out.push(format!("last commit touching qa: {:?} by {}", touching.subject(), touching.author_name));
    assert_eq!(touching.sha, initial);
    assert_eq!(git.last_commit_touching(url, "main", "apps/none").unwrap(), None);

    let qa = git.promote(&request(url, &initial, "qa", "r1", &["values.yaml"])).unwrap();
    out.push(format!("promote qa: {}", shape(&qa)));
    let again = git.promote(&request(url, &initial, "qa", "r1", &["values.yaml"])).unwrap();
    out.push(format!("promote qa again: {}", shape(&again)));
    assert_eq!(sha(&again), sha(&qa), "a re-issued promotion finds its commit");
    out.push(format!(
        "same values, other release: {}",
        shape(&git.promote(&request(url, &initial, "qa", "r2", &["values.yaml"])).unwrap())
    ));
    out.push(format!("qa values: {}", text(git, url, &sha(&qa), "apps/api/qa/values.yaml")));
    let info = git.commit_info(url, &sha(&qa)).unwrap();
    out.push(format!("promotion commit: {:?} by {}, {} parent(s)", info.message, info.author_name, info.parents.len()));
    out.push(format!(
        "ancestry: {} {}",
        git.is_ancestor(url, &initial, &sha(&qa)).unwrap(),
        git.is_ancestor(url, &sha(&qa), &initial).unwrap()
    ));
    let missing = git.promote(&request(url, &initial, "qa", "r3", &["missing.yaml"])).unwrap_err();
    out.push(format!(
        "missing file: {} {}",
        missing.operation,
        missing.message.contains("missing.yaml does not exist")
    ));

    let pr = git.push_branch(&request(url, &initial, "prod", "r1", &["values.yaml"]), "ferry/shop/prod/r1").unwrap();
    out.push(format!("push branch: {}", shape(&pr)));
    out.push(format!("main moved: {}", git.head(url, "main").unwrap() != sha(&qa)));
    let author = ("Ferry".to_owned(), "ferry@localhost".to_owned());
    let merged = git.merge_branch(url, "ferry/shop/prod/r1", "main", "Merge pull request #1", &author).unwrap();
    let merge = git.commit_info(url, &merged).unwrap();
    out.push(format!("merge: {} parents, second is the branch: {}", merge.parents.len(), merge.parents[1] == sha(&pr)));
    out.push(format!("prod values: {}", text(git, url, &merged, "apps/api/prod/values.yaml")));
    let twice = git.merge_branch(url, "ferry/shop/prod/r1", "main", "Merge pull request #1", &author).unwrap();
    out.push(format!("merge again is the same merge: {}", twice == merged));

    let dir = tempfile::tempdir().unwrap();
    git.checkout(url, &merged, &dir.path().join("tree")).unwrap();
    let checked = std::fs::read_to_string(dir.path().join("tree/apps/api/prod/values.yaml")).unwrap();
    out.push(format!("checkout: {}", checked == text(git, url, &merged, "apps/api/prod/values.yaml")));
    out
}

#[test]
fn the_fake_git_promotes_merges_and_reads_like_the_mirror_cache() {
    let dir = tempfile::tempdir().unwrap();
    let files = layout();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let real = MirrorGit(Arc::new(GitCache::new(dir.path().join("mirrors"))));
    let fake = FakeGit::new();
    fake.commit(FAKE_URL, "main", &refs, "initial layout").unwrap();
    let real = transcript(&real, &repo.url());
    let fake = transcript(fake.as_ref(), FAKE_URL);
    assert_eq!(fake, real);
}

fn workflow(yaml: &str) -> Workflow {
    let loaded = ferry_config::load_sources(&[ferry_config::Source { name: "w.yaml".into(), text: yaml.into() }])
        .unwrap_or_else(|d| panic!("{d:?}"));
    loaded.catalog.workflows.into_values().next().unwrap()
}

/// The events of a run without timestamps and batching: (kind, step, status, exit code, outputs).
async fn events(runner: &dyn WorkflowRunner, workflow: Workflow, cwd: &std::path::Path) -> Vec<String> {
    let spec = RunSpec {
        run_id: "r".into(),
        workflow,
        env: BTreeMap::new(),
        cwd: cwd.to_owned(),
        completed: BTreeMap::new(),
        labels: BTreeMap::new(),
        attempt: 1,
    };
    let mut started = runner.start(spec);
    let mut out = Vec::new();
    while let Some(event) = started.events.recv().await {
        match event {
            RunEvent::StepStarted { step, attempt, .. } => out.push(format!("started {step} #{attempt}")),
            RunEvent::StepAdded { step, .. } => out.push(format!("added {step}")),
            RunEvent::Together { events } => out.push(format!("together {}", events.len())),
            RunEvent::Log { step, lines } => {
                for line in lines {
                    out.push(format!("log {step} {:?} {}", line.stream, line.text));
                }
            }
            RunEvent::StepWaiting { step, message, .. } => {
                out.push(format!("waiting {step}: {message}"));
                started.control.approve(&step, "carol".into()).unwrap();
            }
            RunEvent::StepFinished { step, status, exit_code, outputs, error, .. } => {
                out.push(format!("finished {step} {status} {exit_code:?} {outputs:?} error: {}", error.is_some()));
            }
            RunEvent::Finished { status, .. } => {
                out.push(format!("run {status}"));
                break;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_runner_reports_like_the_local_runner() {
    let yaml = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: checks }
spec:
  steps:
    - name: build
      run: echo built; echo "IMAGE=api:2" >> "$FERRY_OUTPUT"
    - name: approve
      approval: { message: "ship it?" }
    - name: verdict
      run: echo broken >&2; exit 3
    - name: never
      run: "true"
"#;
    let dir = tempfile::tempdir().unwrap();
    let config = ferry_engine::EngineConfig::new(dir.path().join("data"), "http://127.0.0.1:7878".into());
    let local = ferry_engine::ports::LocalRunner::new(&config);
    let real = events(&local, workflow(yaml), dir.path()).await;

    let fake = FakeRunner::new();
    let outputs = BTreeMap::from([("IMAGE".to_owned(), "api:2".to_owned())]);
    fake.script("build", FakeStep::Succeed { log: vec!["built".into()], outputs });
    fake.script("verdict", FakeStep::fail(3, "broken"));
    let faked = events(fake.as_ref(), workflow(yaml), dir.path()).await;
    assert_eq!(faked, real);
    assert!(real.contains(&"run Failed".to_owned()), "{real:?}");
}

/// The pull-request lifecycle the engine drives, on one provider: a transcript without addresses.
async fn pr_transcript(pulls: &dyn PullRequestProvider, git: &FakeGit) -> Vec<String> {
    let initial = git.head(FAKE_URL, "main").unwrap();
    let release = ReleaseId(uuid::Uuid::from_u128(7));
    let open = |env: &str, release: ReleaseId| OpenPullRequest {
        release,
        product: "shop".into(),
        env: EnvName::new(env).unwrap(),
        apps: vec![AppName::new(format!("shop-api-{env}")).unwrap()],
        repo: FAKE_URL.into(),
        request: request(FAKE_URL, &initial, env, &release.to_string(), &["values.yaml"]),
        branch: format!("ferry/shop/{env}/{release}"),
        version: None,
        release_url: String::new(),
        options: None,
    };
    let number = |opened: PullRequestOpened| match opened {
        PullRequestOpened::Open { number, .. } => number,
        PullRequestOpened::Unchanged => panic!("unchanged"),
    };
    let mut out = Vec::new();
    let first = number(pulls.open(open("prod", release)).await.unwrap());
    let reused = number(pulls.open(open("prod", release)).await.unwrap());
    out.push(format!("reopened is the same: {}", first == reused));
    let qa = number(pulls.open(open("qa", release)).await.unwrap());
    out.push(format!("another environment is another: {}", qa != first));
    let pr = pulls.get(first).await.unwrap().unwrap();
    out.push(format!(
        "{} {} {} -> {} {:?} {:?}",
        pr.state, pr.environment, pr.branch, pr.target, pr.applications, pr.title
    ));
    out.push(format!("head is the branch: {}", pr.head == git.head(FAKE_URL, &pr.branch).unwrap().to_string()));
    out.push(format!("unknown: {:?}", pulls.get(999).await.unwrap().map(|p| p.number)));
    let merged = pulls.merge(first, FAKE_URL.into(), "dave".into()).await.unwrap();
    let tip = git.head(FAKE_URL, "main").unwrap().to_string();
    out.push(format!("merged: {} at the tip: {}", merged.state, merged.merge_commit.as_deref() == Some(tip.as_str())));
    let again = pulls.merge(first, FAKE_URL.into(), "dave".into()).await.unwrap_err();
    out.push(format!("merge again: {again}"));
    let closed = pulls.close(qa, "not now".into()).await.unwrap();
    out.push(format!("closed: {} {:?}", closed.state, closed.comment));
    let other = number(pulls.open(open("qa", ReleaseId(uuid::Uuid::from_u128(8)))).await.unwrap());
    pulls.close_for_release(ReleaseId(uuid::Uuid::from_u128(8)), "wrong version".into()).await.unwrap();
    let terminated = pulls.get(other).await.unwrap().unwrap();
    out.push(format!(
        "terminated: {} {:?}",
        terminated.state,
        terminated.comment.map(|c| c.replace(&ReleaseId(uuid::Uuid::from_u128(8)).to_string(), "R"))
    ));
    out.push(format!("listed: {}", pulls.list().await.unwrap().len()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_pull_requests_behave_like_the_local_provider() {
    let files = layout();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let store = ferry_store::SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
    let local_git = FakeGit::new();
    local_git.commit(FAKE_URL, "main", &refs, "initial layout").unwrap();
    let clock = Arc::new(FakeClock::at("2026-03-01T09:00:00Z".parse().unwrap()));
    let local = LocalPullRequests::new(store, local_git.clone(), clock, "http://127.0.0.1:7878");
    let real = pr_transcript(&local, &local_git).await;

    let fake_git = FakeGit::new();
    fake_git.commit(FAKE_URL, "main", &refs, "initial layout").unwrap();
    let fake = FakePullRequests::new(fake_git.clone());
    let faked = pr_transcript(fake.as_ref(), &fake_git).await;
    assert_eq!(faked, real);
    for expected in ["reopened is the same: true", "merged: merged at the tip: true", "listed: 3"] {
        assert!(real.contains(&expected.to_owned()), "{expected}: {real:#?}");
    }
    assert!(real.iter().any(|l| l.starts_with("merge again:") && l.contains("already merged")), "{real:#?}");
    assert!(real.iter().any(|l| l.contains("terminated: closed") && l.contains("wrong version")), "{real:#?}");
}
