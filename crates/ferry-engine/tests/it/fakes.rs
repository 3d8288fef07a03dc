//! Release rules on in-memory ports: fake git, a scripted runner and status source, a fake
//! pull-request provider and a pinned clock (the store is a real SQLite store). No process runs.

use std::time::Duration;

use ferry_engine::EngineError;
use ferry_engine::testing::{FakeGitOp, FakeHealth, FakeStep, Fakes};
use ferry_store::Store;

use crate::fixture::*;

pub(crate) const URL: &str = "https://git.example.com/acme/gitops.git";
pub(crate) const PINNED: &str = "2026-03-01T09:00:00Z";

/// dev → qa → prod, one component; qa runs `qa-checks` after its commit, prod takes `prod_action`.
pub(crate) fn config(prod_action: &str, flow_extra: &str) -> String {
    let mut out = String::new();
    for (i, env) in ["dev", "qa", "prod"].iter().enumerate() {
        let ty = if *env == "prod" { "production" } else { "non-production" };
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-api-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: api\n  source: {{ repoURL: \"{URL}\", path: apps/api/{env}, targetRevision: main }}\n  status:\n    exec: {{ health: \"curl -f http://api\", healthTimeout: 1m }}\n---\n"
        ));
    }
    out.push_str(&format!(
        r#"{SHOP_PRODUCT}apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard }}
spec:
  triggerEnvironment: dev
{flow_extra}
  steps:
    - {{ environment: qa, dependsOn: [dev], policy: {{ action: commit, postAction: qa-checks }} }}
    - {{ environment: prod, dependsOn: [qa], policy: {prod_action} }}
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: qa-checks }}
spec:
  steps:
    - name: smoke
      run: ./smoke.sh
    - name: verdict
      run: ./verdict.sh
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: sign-off }}
spec:
  steps:
    - name: approve
      approval: {{ message: "Release manager sign-off" }}
      timeout: 1h
    - name: after
      dependsOn: [approve]
      run: ./after.sh
"#
    ));
    out
}

async fn setup(prod_action: &str, flow_extra: &str) -> (Harness, Fakes) {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let h = Harness::start_faked(tempfile::tempdir().unwrap(), &fakes).await;
    h.apply(&config(prod_action, flow_extra)).await;
    (h, fakes)
}

/// The GitOps repository: dev one version ahead.
pub(crate) fn seed(fakes: &Fakes) {
    let mut files = Vec::new();
    for env in ["dev", "qa", "prod"] {
        let (tag, version) = if env == "dev" { ("2.0.0", "2.0.0") } else { ("1.0.0", "1.0.0") };
        files.push((format!("apps/api/{env}/values.yaml"), values(tag, env)));
        files.push((format!("apps/api/{env}/Chart.yaml"), chart(version)));
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    fakes.git.commit(URL, "main", &refs, "initial layout").unwrap();
}

fn promotion_commits(fakes: &Fakes, env: &str) -> Vec<ferry_git::CommitInfo> {
    let trailer = format!("Ferry-Environment: {env}");
    fakes.git.log(URL, "main").into_iter().filter(|c| c.message.contains(&trailer)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_on_fakes_promotes_values_and_stamps_the_pinned_time() {
    let (h, fakes) = setup("{ action: commit }", "").await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["version"], "2.0.0");
    assert_eq!(view["createdAt"], PINNED, "every time comes from the clock port");
    assert_eq!(view["finishedAt"], PINNED);
    assert_eq!(id, "00000000-0000-0000-0000-000000000001", "ids come from the clock port");
    for env in ["qa", "prod"] {
        let commits = promotion_commits(&fakes, env);
        assert_eq!(commits.len(), 1, "{env}: {commits:?}");
        let values = fakes.git.file(URL, "main", &format!("apps/api/{env}/values.yaml")).unwrap();
        assert_eq!(values, values_with_tag(env, "2.0.0"), "only the tag changed in {env}");
    }
    // The post-action ran against qa's promotion commit; the status source was asked to look at it.
    let qa_commit = promotion_commits(&fakes, "qa")[0].sha.clone();
    let runs = fakes.runner.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].env["ENVIRONMENT"], "qa");
    assert_eq!(runs[0].env["COMMIT_SHA"], qa_commit.as_str());
    assert!(
        fakes
            .status
            .refreshes()
            .iter()
            .any(|(app, rev)| app.as_str() == "shop-api-qa" && rev.as_ref() == Some(&qa_commit))
    );
}

/// values.yaml of `env` with its image tag set to `tag`, every other byte as in [`values`].
fn values_with_tag(env: &str, tag: &str) -> String {
    let original = values("1.0.0", env);
    original.replace("tag: \"1.0.0\"", &format!("tag: \"{tag}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_qa_with_its_exit_code_and_log_and_prod_stays_pending() {
    let (h, fakes) = setup("{ action: commit }", "").await;
    fakes.runner.script("verdict", FakeStep::fail(3, "broken"));
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(env_of(&view, "qa")["status"], "Failed");
    assert_eq!(env_of(&view, "prod")["status"], "Pending");
    assert!(promotion_commits(&fakes, "prod").is_empty());
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["env"] == "qa").unwrap();
    assert_eq!(issue["detail"]["kind"], "workflow");
    assert_eq!(issue["detail"]["step"], "verdict");
    assert_eq!(issue["detail"]["exitCode"], 3);
    assert_eq!(issue["detail"]["logTail"][0], "broken");
    let post = env_of(&view, "qa")["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["stage"] == "postAction")
        .unwrap()
        .clone();
    assert_eq!(post["steps"][0]["status"], "Success");
    assert_eq!(post["steps"][1]["status"], "Failed");
    // The log lines reached the store.
    let query = ferry_store::LogQuery::release(id.parse().unwrap(), 100);
    let logs = h.store.logs(query).await.unwrap();
    assert!(logs.iter().any(|l| l.line.text == "broken" && l.line.stream == "stderr"), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_application_fails_its_environment_with_the_source_message() {
    let (h, fakes) = setup("{ action: commit }", "").await;
    fakes.status.script("shop-api-qa", FakeHealth::Degraded("CrashLoopBackOff".into()));
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let qa = env_of(&view, "qa");
    assert_eq!(qa["status"], "Failed");
    assert_eq!(qa["applications"][0]["app"]["health"], "Degraded");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "application").unwrap();
    assert_eq!(issue["app"], "shop-api-qa");
    assert!(issue["summary"].as_str().unwrap().contains("CrashLoopBackOff"), "{issue}");
    assert!(fakes.runner.runs().is_empty(), "no post-action after a failed gate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_timeout_fires_when_the_pinned_clock_passes_it() {
    let (h, fakes) = setup("{ action: commit }", "  promotionTimeoutLimit: 1h").await;
    fakes.status.script("shop-api-qa", FakeHealth::Hold);
    let progressing = h.next_event(|e| {
        e.body["type"] == "AppObserved" && e.body["app"] == "shop-api-qa" && e.body["health"] == "Progressing"
    });
    let id = h.promote(None, None, None).await;
    progressing.await;
    fakes.clock.advance(Duration::from_secs(59 * 60));
    // A minute before the deadline the release still runs (a request through the engine task first).
    h.engine.pull_requests().await.unwrap();
    let live = h.view(&id).await;
    assert_eq!(live["status"], "Running");
    let health = |v: &serde_json::Value| env_of(v, "qa")["applications"][0]["app"]["health"].clone();
    assert_eq!(health(&live), "Progressing", "{live:#}");
    assert_eq!(live, h.replayed_view(&id).await);
    // An observation changes no release status: the stored view was not rewritten for it.
    let stored = h.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored["status"], "Running");
    assert_ne!(health(&stored), "Progressing", "{stored:#}");
    fakes.clock.advance(Duration::from_secs(60));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    assert_eq!(view["reason"], "timed out after 1h");
    assert_eq!(view["finishedAt"], "2026-03-01T10:00:00Z");
    let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let request = events.iter().find(|e| e.body["type"] == "TerminateRequested").unwrap();
    assert_eq!(request.body["actor"], "ferry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_push_is_a_git_issue_naming_the_remote() {
    let (h, fakes) = setup("{ action: commit }", "").await;
    fakes.git.fail(URL, FakeGitOp::Push, "protected branch: pushes need review");
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "git").unwrap();
    assert_eq!(issue["detail"]["operation"], "push");
    assert!(issue["detail"]["error"].as_str().unwrap().contains("protected branch"), "{issue}");
    // Once pushes go through again, a retry attempts the failed action again (SPEC §3.8).
    fakes.git.heal(URL);
    h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let prod = env_of(&view, "prod");
    let commit = prod["applications"][0]["action"]["commit"].as_str().unwrap();
    assert_eq!(promotion_commits(&fakes, "prod").last().map(|c| c.sha.as_str()), Some(commit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_waits_for_its_merge_and_a_refused_merge_leaves_it_open() {
    let (h, fakes) = setup("{ action: pr }", "").await;
    let opened = h.next_event(|e| e.body["type"] == "PullRequestOpened");
    let id = h.promote(None, None, None).await;
    opened.await;
    let view = h.view(&id).await;
    assert_eq!(env_of(&view, "prod")["status"], "Suspended", "{view:#}");
    let prs = h.engine.pull_requests().await.unwrap();
    assert_eq!(prs.len(), 1);
    let pr = prs[0].clone();
    assert_eq!((pr.state.as_str(), pr.branch.clone()), ("open", format!("ferry/shop/prod/{id}")));
    assert!(fakes.git.file(URL, &pr.branch, "apps/api/prod/values.yaml").unwrap().contains("tag: \"2.0.0\""));
    assert!(!fakes.git.file(URL, "main", "apps/api/prod/values.yaml").unwrap().contains("2.0.0"));

    fakes.pulls.refuse_merges(Some("required review missing"));
    let refused = h.engine.merge_pull_request(pr.number, "dave".into()).await.unwrap_err();
    assert!(matches!(&refused, EngineError::Conflict(m) if m.contains("required review missing")), "{refused:?}");
    assert_eq!(h.engine.pull_requests().await.unwrap()[0].state, "open");

    fakes.pulls.refuse_merges(None);
    let merged = h.engine.merge_pull_request(pr.number, "dave".into()).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let tip = fakes.git.log(URL, "main")[0].clone();
    assert_eq!(Some(tip.sha.to_string()), merged.merge_commit);
    assert_eq!(tip.parents.len(), 2, "a merge commit");
    assert!(fakes.git.file(URL, "main", "apps/api/prod/values.yaml").unwrap().contains("tag: \"2.0.0\""));
    assert_eq!(env_of(&view, "prod")["applications"][0]["action"]["commit"], tip.sha.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_matches_applications_by_repository_identity_whatever_the_url_form() {
    let (h, _fakes) = setup("{ action: commit }", "").await;
    let push = |urls: &[&str], branch: &str| ferry_engine::GitPush {
        repo_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
        branch: branch.to_owned(),
        after: "0123456789abcdef0123456789abcdef01234567".to_owned(),
    };
    let all = ["shop-api-dev", "shop-api-prod", "shop-api-qa"];
    for url in [
        "git@git.example.com:acme/gitops.git",
        "ssh://git@git.example.com/acme/gitops",
        "https://GIT.example.com/acme/gitops/",
        "https://bot:token@git.example.com/acme/gitops",
    ] {
        let accepted = h.engine.git_push(push(&[url], "main")).await.unwrap();
        let names: Vec<&str> = accepted.applications.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, all, "{url}");
    }
    for (url, branch) in [
        ("https://git.example.com/acme/gitops-old.git", "main"),
        ("https://git.example.org/acme/gitops.git", "main"),
        ("https://git.example.com/acme/gitops.git", "develop"),
        ("not a url ::", "main"),
    ] {
        let accepted = h.engine.git_push(push(&[url], branch)).await.unwrap();
        assert!(accepted.applications.is_empty(), "{url} {branch}: {:?}", accepted.applications);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_suspends_prod_until_given_and_its_approver_is_an_output() {
    let (h, fakes) = setup("{ action: commit, preAction: sign-off }", "").await;
    let waiting = h.next_event(|e| e.body["type"] == "StepAwaitingApproval");
    let id = h.promote(None, None, None).await;
    waiting.await;
    let view = h.view(&id).await;
    assert_eq!(env_of(&view, "prod")["status"], "Suspended", "{view:#}");
    // The live view is the committed state: exactly what the event log replays to.
    assert_eq!(view, h.replayed_view(&id).await);
    // The release's status changed (Suspended): the stored view was written with it.
    assert_eq!(h.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap(), view);
    assert!(promotion_commits(&fakes, "prod").is_empty(), "nothing is committed before the pre-action");
    let approved = h
        .engine
        .approve(id.parse().unwrap(), ferry_model::EnvName::new("prod").unwrap(), "carol".into())
        .await
        .unwrap();
    assert_eq!(approved.len(), 1, "{approved:?}");
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(promotion_commits(&fakes, "prod").len(), 1);
    let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let finished = events.iter().find(|e| e.body["type"] == "StepFinished" && e.body["step"] == "approve").unwrap();
    assert_eq!(finished.body["outputs"]["APPROVED_BY"], "carol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_nobody_gives_times_out_when_the_clock_passes_it() {
    let (h, fakes) = setup("{ action: commit, preAction: sign-off }", "").await;
    let waiting = h.next_event(|e| e.body["type"] == "StepAwaitingApproval");
    let id = h.promote(None, None, None).await;
    waiting.await;
    fakes.clock.advance(Duration::from_secs(3600));
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(env_of(&view, "prod")["status"], "Failed");
    assert!(view["reason"].as_str().unwrap().contains("timed out after 1h waiting for approval"), "{view:#}");
    let ran: Vec<Vec<String>> =
        fakes.runner.runs().iter().map(|r| r.workflow.steps.iter().map(|s| s.name.to_string()).collect()).collect();
    assert_eq!(ran.len(), 2, "qa's post-action and prod's pre-action: {ran:?}");
    let steps = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    assert!(
        !steps.iter().any(|e| e.body["type"] == "StepStarted" && e.body["step"] == "after"),
        "the dependent step never starts"
    );
    // Nothing waits any more.
    let late = h
        .engine
        .approve(id.parse().unwrap(), ferry_model::EnvName::new("prod").unwrap(), "carol".into())
        .await
        .unwrap_err();
    assert!(matches!(late, EngineError::Conflict(_)), "{late:?}");
}

/// The configuration with every application's status observed by Argo CD.
fn argocd_config() -> String {
    config("{ action: commit }", "").replace(
        "exec: { health: \"curl -f http://api\", healthTimeout: 1m }",
        "argocd: { server: https://argocd.example, tokenSecret: ARGOCD_TOKEN }",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argocd_status_provider_plugs_in_as_a_port() {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let h = Harness::start_faked(tempfile::tempdir().unwrap(), &fakes).await;
    h.apply(&argocd_config()).await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let waits = fakes.status.waits();
    let waited: Vec<&str> = waits.iter().map(|(app, _)| app.as_str()).collect();
    assert_eq!(waited, ["shop-api-qa", "shop-api-prod"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_argocd_provider_the_gate_fails_and_says_what_to_use() {
    let fakes = Fakes::new(PINNED.parse().unwrap());
    seed(&fakes);
    let mut ports = fakes.ports();
    ports.status.argocd = None;
    let h = Harness::start_with_ports(tempfile::tempdir().unwrap(), ports).await;
    h.apply(&argocd_config()).await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "application").unwrap();
    assert_eq!(issue["app"], "shop-api-qa");
    assert!(issue["summary"].as_str().unwrap().contains("argocd status source is not available"), "{issue}");
    assert!(fakes.status.waits().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_environment_end_is_recorded_once_per_attempt_for_the_dora_figures() {
    let (h, fakes) = setup("{ action: commit }", "").await;
    fakes.runner.script("verdict", FakeStep::fail(3, "broken"));
    let id = h.promote(None, None, None).await;
    let failed = h.wait_final(&id).await;
    assert_eq!(failed["status"], "Failed");
    fakes.runner.script("verdict", FakeStep::ok());
    h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let query = ferry_store::OutcomeQuery { product: Some("shop".into()), ..Default::default() };
    let outcomes = h.store.outcomes(query).await.unwrap();
    let seen: Vec<_> = outcomes
        .iter()
        .map(|o| (o.environment.as_str(), o.status.as_str(), o.attempt, o.after_action, o.flow.as_str()))
        .collect();
    // qa failed after its commit landed (its post-action failed): a change failure; the retry's
    // success in qa and prod are attempt 1; dev's success is not recorded again.
    assert_eq!(
        seen,
        [
            ("dev", "Successful", 0, true, "standard"),
            ("qa", "Failed", 0, true, "standard"),
            ("qa", "Successful", 1, true, "standard"),
            ("prod", "Successful", 1, true, "standard"),
        ]
    );
    let trigger_date: jiff::Timestamp = view["trigger"]["date"].as_str().unwrap().parse().unwrap();
    assert!(outcomes.iter().all(|o| o.release_id == id && o.committed_at == trigger_date));
    assert!(outcomes.iter().all(|o| o.at == PINNED.parse::<jiff::Timestamp>().unwrap()), "{outcomes:?}");
}
