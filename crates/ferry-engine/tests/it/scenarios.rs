//! Release scenarios of SPEC §3.

use ferry_store::Store;

use crate::fixture::*;

const ENVS: [&str; 4] = ["dev", "qa", "staging", "prod"];

fn gitops_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for comp in ["api", "web"] {
        for env in ENVS {
            let (tag, ver) = if env == "dev" { ("1.4.2", "1.4.2") } else { ("1.3.0", "1.3.0") };
            files.push((format!("apps/{comp}/{env}/values.yaml"), values(tag, env)));
            files.push((format!("apps/{comp}/{env}/Chart.yaml"), chart(ver)));
        }
    }
    files
}

fn config(url: &str, qa_post: &str, health: &str) -> String {
    let mut out = String::new();
    for (i, env) in ENVS.iter().enumerate() {
        let ty = if *env == "prod" { "production" } else { "non-production" };
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty}, order: {i} }}\n---\n"
        ));
        for comp in ["api", "web"] {
            let health_cmd = if *env == "staging" && comp == "web" { health } else { "true" };
            out.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{url}\", path: apps/{comp}/{env}, targetRevision: main }}\n  status:\n    exec: {{ sync: \"test -f values.yaml\", health: \"{health_cmd}\", healthTimeout: 2s }}\n---\n"
            ));
        }
    }
    out.push_str(&format!(
        r#"{SHOP_PRODUCT}apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard, annotations: {{ version: "3.0" }} }}
spec:
  triggerEnvironment: dev
  steps:
    - {{ environment: qa, dependsOn: [dev], policy: {{ postAction: qa-checks }} }}
    - {{ environment: staging, dependsOn: [dev] }}
    - {{ environment: prod, dependsOn: [qa, staging] }}
---
apiVersion: ferry/v1
kind: PromotionPolicy
metadata: {{ name: all }}
spec:
  priority: 100
  policy: {{ action: commit, preAction: pre-checks }}
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: pre-checks }}
spec:
  steps:
    - name: announce
      run: echo "pre $APP_NAME $ENVIRONMENT $VERSION"; echo "PRE_SEEN=$APP_NAME" >> "$FERRY_OUTPUT"
---
apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: qa-checks }}
spec:
  steps:
    - name: smoke
      run: echo "post $APP_NAME at $COMMIT_SHA after $PRE_SEEN"
    - name: verdict
      run: {qa_post}
"#
    ));
    out
}

async fn setup(qa_post: &str, health: &str) -> (Harness, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let files = gitops_files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let h = Harness::start(dir).await;
    h.apply(&config(&repo.url(), qa_post, health)).await;
    (h, repo)
}

fn promotion_commits(repo: &Repo, env: &str) -> Vec<(String, String)> {
    repo.log().into_iter().filter(|(_, m)| m.contains(&format!("Ferry-Environment: {env}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_branches_and_join_succeed_with_one_commit_per_environment() {
    let (h, repo) = setup("echo all good", "true").await;
    let id = h.promote(Some("standard"), None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["flow"], "standard");
    assert_eq!(view["flowVersion"], "3.0");
    assert_eq!(view["version"], "1.4.2");
    assert_eq!(view["counters"], serde_json::json!({"successful": 4, "running": 0, "failed": 0, "pending": 0}));
    for env in ["qa", "staging", "prod"] {
        let commits = promotion_commits(&repo, env);
        assert_eq!(commits.len(), 1, "one promotion commit for {env}: {commits:?}");
        let (sha, message) = &commits[0];
        assert!(message.starts_with("promote shop 1.4.2: "), "{message}");
        assert!(message.contains(&format!("Ferry-Release: {id}")), "{message}");
        assert!(message.contains("Ferry-Product: shop"), "{message}");
        // Only the promoted values changed: tag and appVersion lines, for both components.
        let diff = repo.diff(sha);
        let changed: Vec<&str> = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
        assert_eq!(changed.len(), 4, "{diff}");
        assert!(changed.iter().all(|l| l.contains("1.4.2")), "{diff}");
        for comp in ["api", "web"] {
            let text = repo.show("main", &format!("apps/{comp}/{env}/values.yaml"));
            assert_eq!(text, values("1.4.2", env).trim_end(), "bytes kept in {comp}/{env}");
        }
        let e = env_of(&view, env);
        assert_eq!(e["status"], "Successful");
        for app in e["applications"].as_array().unwrap() {
            assert_eq!(app["version"], "1.4.2");
            assert_eq!(app["action"]["commit"], serde_json::json!(sha));
            assert_eq!(app["app"]["sync"], "Synced");
            assert_eq!(app["app"]["health"], "Healthy");
        }
    }
    // The join started only after both branches.
    // Compared as times: RFC 3339 text with fewer fractional digits does not sort as an earlier time.
    let at = |env: &str, key: &str| env_of(&view, env)[key].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let qa_done = at("qa", "finishedAt");
    let staging_done = at("staging", "finishedAt");
    let prod_started = at("prod", "startedAt");
    assert!(prod_started >= qa_done && prod_started >= staging_done);
    // Live state projection.
    let live = h.store.app_states(&ferry_model::ProductName::new("shop").unwrap()).await.unwrap();
    assert_eq!(live.iter().filter(|a| a.version.as_deref() == Some("1.4.2")).count(), 8, "dev and the three targets");
    // Logs of the post-action carry the pre-action output and the promotion commit.
    let logs = h
        .store
        .logs(ferry_store::LogQuery {
            step: Some("smoke".into()),
            ..ferry_store::LogQuery::release(id.parse().unwrap(), 100)
        })
        .await
        .unwrap();
    let qa_sha = &promotion_commits(&repo, "qa")[0].0;
    assert!(logs.iter().any(|l| l.line.text == format!("post shop-api-qa at {qa_sha} after shop-api-qa")), "{logs:?}");
    // The runs projection holds every run as the event log has it at the end.
    let (state, _) = ferry_engine::replay(&h.store, &id.parse().unwrap()).await.unwrap();
    let mut logged: Vec<_> = state
        .environments()
        .iter()
        .flat_map(|e| e.apps.iter().flat_map(|a| a.runs.iter()).chain(e.hook_runs.iter()))
        .chain(state.hook_runs().iter())
        .cloned()
        .collect();
    let stored = h.store.runs(&id.parse().unwrap()).await.unwrap();
    assert!(stored.iter().all(|r| r.detailed && r.release_id == id));
    let mut projected: Vec<_> = stored.into_iter().map(|r| r.run).collect();
    logged.sort_by_key(|r| r.id.0);
    projected.sort_by_key(|r| r.id.0);
    assert!(logged.len() >= 4, "trigger, pre- and post-actions ran: {logged:?}");
    assert_eq!(projected, logged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_post_action_fails_qa_keeps_prod_pending_and_lets_staging_finish() {
    let (h, repo) = setup("echo checking; echo broken >&2; exit 3", "true").await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(env_of(&view, "qa")["status"], "Failed");
    assert_eq!(env_of(&view, "staging")["status"], "Successful");
    assert_eq!(env_of(&view, "prod")["status"], "Pending");
    assert!(promotion_commits(&repo, "prod").is_empty());
    let issues = env_of(&view, "qa")["issues"].as_array().unwrap();
    assert!(!issues.is_empty());
    let full = view["issues"].as_array().unwrap().iter().find(|i| i["env"] == "qa").unwrap();
    assert_eq!(full["detail"]["kind"], "workflow");
    assert_eq!(full["detail"]["step"], "verdict");
    assert_eq!(full["detail"]["exitCode"], 3);
    let tail: Vec<&str> = full["detail"]["logTail"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(tail.contains(&"broken"), "{tail:?}");
    assert!(full["summary"].as_str().unwrap().contains("verdict"), "{full}");
    assert_eq!(view["reason"], full["summary"]);
    let qa = env_of(&view, "qa");
    let post = qa["workflows"].as_array().unwrap().iter().find(|w| w["stage"] == "postAction").unwrap();
    assert_eq!(post["status"], "Failed");
    assert_eq!(post["steps"][0]["status"], "Success");
    assert_eq!(post["steps"][1]["status"], "Failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_never_becomes_healthy_fails_its_environment() {
    let (h, _repo) = setup("true", "echo not ready; exit 1").await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    let staging = env_of(&view, "staging");
    assert_eq!(staging["status"], "Failed");
    let web = staging["applications"].as_array().unwrap().iter().find(|a| a["name"] == "shop-web-staging").unwrap();
    assert_eq!(web["app"]["health"], "Degraded");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "application").unwrap();
    assert_eq!(issue["app"], "shop-web-staging");
    assert!(issue["summary"].as_str().unwrap().contains("not healthy after 2s"), "{issue}");
    assert_eq!(env_of(&view, "prod")["status"], "Pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_environment_manual_promotion() {
    let (h, repo) = setup("true", "true").await;
    let id = h.promote(None, Some("dev"), Some("staging")).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["flow"], "manual");
    let names: Vec<&str> =
        view["environments"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev", "staging"]);
    assert_eq!(promotion_commits(&repo, "staging").len(), 1);
    assert!(promotion_commits(&repo, "qa").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_push_is_a_git_issue() {
    let (h, repo) = setup("true", "true").await;
    let hook = repo.bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'protected branch: pushes need review' >&2\nexit 1\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&hook).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "git").unwrap();
    assert_eq!(issue["detail"]["operation"], "push");
    assert!(issue["detail"]["error"].as_str().unwrap().contains("protected branch"), "{issue}");
}

/// Waits for the first event committed after this call that matches `pred` (subscribes at once).
fn next_event<F: Fn(&ferry_store::StoredEvent) -> bool>(
    h: &Harness,
    pred: F,
) -> impl std::future::Future<Output = ferry_store::StoredEvent> + use<F> {
    let mut events = h.store.subscribe();
    async move {
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(e) if pred(&e) => return (*e).clone(),
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), wait).await.expect("the expected event never came")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_trigger_creates_a_release_only_for_a_matching_commit() {
    let (h, repo) = setup("true", "true").await;
    let selectors = "  promotionFlows: [ { name: standard } ]";
    let with_selectors = r#"  promotionFlows:
    - name: standard
      gitTriggerSelectors:
        - { key: commitMessage, operator: NotIn, values: ["*[no-release]*"] }"#;
    h.apply(&config(&repo.url(), "true", "true").replace(selectors, with_selectors)).await;
    let push =
        |_: ()| ferry_engine::GitPush { repo_urls: vec![repo.url()], branch: "main".into(), after: String::new() };

    // A commit that no flow accepts: recorded, no release.
    repo.commit(&[("apps/api/dev/values.yaml", &values("1.5.0-rc1", "dev"))], "try something [no-release]");
    repo.push();
    let waiting = next_event(&h, |e| e.body["type"] == "ProductEvent" && e.body["kind"] == "no-flow-matched");
    let (accepted, event) = tokio::join!(h.engine.git_push(push(())), waiting);
    let accepted = accepted.unwrap();
    assert!(accepted.applications.iter().any(|a| a.as_str() == "shop-api-dev"), "{accepted:?}");
    assert_eq!(event.product, "shop");
    assert!(event.body["message"].as_str().unwrap().contains("matches no promotion flow"), "{event:?}");
    assert!(
        h.store
            .list_releases(ferry_store::ReleaseFilter { limit: 10, ..Default::default() })
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // A matching commit: the dev app is deployed, then the release starts from that commit.
    let sha = repo.commit(
        &[("apps/api/dev/values.yaml", &values("1.5.0", "dev")), ("apps/api/dev/Chart.yaml", &chart("1.5.0"))],
        "feat: checkout v2",
    );
    repo.push();
    let created = next_event(&h, |e| e.body["type"] == "Created");
    let (_, created) = tokio::join!(h.engine.git_push(push(())), created);
    let view = h.wait_final(&created.release_id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["flow"], "standard");
    assert_eq!(view["initiator"], "Alice Dev · ferry (auto)");
    assert_eq!(view["trigger"]["sha"], sha);
    assert_eq!(view["trigger"]["message"], "feat: checkout v2");
    assert_eq!(view["version"], "1.5.0");
    let prod_values = repo.show("main", "apps/api/prod/values.yaml");
    assert!(prod_values.contains("tag: \"1.5.0\""), "{prod_values}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_status_reports_gate_an_application() {
    let (h, repo) = setup("true", "true").await;
    // shop-web-staging reports its status through the API instead of running commands.

    let mut yaml = config(&repo.url(), "true", "true");
    let web_staging = yaml.find("metadata: { name: shop-web-staging }").unwrap();
    let status_at = web_staging + yaml[web_staging..].find("    exec:").unwrap();
    let status_end = status_at + yaml[status_at..].find('\n').unwrap();
    yaml.replace_range(status_at..status_end, "    push: { healthTimeout: 60s }");

    h.apply(&yaml).await;
    let id = h.promote(None, None, None).await;
    // Wait until staging's promotion commit lands, then report as an agent would.
    let committed =
        next_event(&h, |e| e.release_id == id && e.body["type"] == "ActionCommitted" && e.body["env"] == "staging")
            .await;
    let commit = committed.body["commit"].as_str().unwrap().to_owned();
    let report = |sync: &str, revision: &str, health: &str| ferry_engine::PushedStatus {
        sync: sync.parse().unwrap(),
        revision: Some(revision.into()),
        health: health.parse().unwrap(),
        message: Some("reported by the agent".into()),
    };
    // An old revision does not count as synced: it is observed as OutOfSync and the gate stays shut.
    let old = repo.log().last().unwrap().0.clone();
    let observed = next_event(&h, |e| {
        e.body["type"] == "AppObserved" && e.body["app"] == "shop-web-staging" && e.body["health"] == "Healthy"
    });
    h.engine
        .push_status(ferry_model::AppName::new("shop-web-staging").unwrap(), report("Synced", &old, "Healthy"))
        .await
        .unwrap();
    let observed = observed.await;
    assert_eq!(observed.body["revision"], old.as_str(), "{:?}", observed.body);
    assert_eq!(observed.body["sync"], "OutOfSync", "{:?}", observed.body);
    let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let passed =
        |e: &&ferry_store::StoredEvent| e.body["type"] == "AppGatePassed" && e.body["app"] == "shop-web-staging";
    assert!(!events.iter().any(|e| passed(&e)), "the gate opened on an old revision");
    assert_eq!(env_of(&h.view(&id).await, "staging")["status"], "Running");
    h.engine
        .push_status(ferry_model::AppName::new("shop-web-staging").unwrap(), report("Synced", &commit, "Healthy"))
        .await
        .unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let staging = env_of(&view, "staging");
    let web = staging["applications"].as_array().unwrap().iter().find(|a| a["name"] == "shop-web-staging").unwrap();
    assert_eq!(web["app"]["revision"], commit.as_str());
    assert_eq!(web["app"]["message"], "reported by the agent");
    // Reports for an exec application are refused.
    let refused = h
        .engine
        .push_status(ferry_model::AppName::new("shop-api-qa").unwrap(), report("Synced", &commit, "Healthy"))
        .await
        .unwrap_err();
    assert!(matches!(refused, ferry_engine::EngineError::Conflict(_)), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_errors_never_show_credentials() {
    let (h, repo) = setup("true", "true").await;
    let url = repo.url();
    let secret_url = "http://ferry-bot:s3cr3t-t0ken@127.0.0.1:9/gitops.git";
    // prod's applications live in an unreachable repository whose URL carries credentials.
    let yaml = config(&url, "true", "true").replace(
        &format!("source: {{ repoURL: \"{url}\", path: apps/api/prod"),
        &format!("source: {{ repoURL: \"{secret_url}\", path: apps/api/prod"),
    );
    let yaml = yaml.replace(
        &format!("source: {{ repoURL: \"{url}\", path: apps/web/prod"),
        &format!("source: {{ repoURL: \"{secret_url}\", path: apps/web/prod"),
    );
    assert!(yaml.contains(secret_url));
    h.apply(&yaml).await;
    let id = h.promote(None, None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(env_of(&view, "prod")["status"], "Failed");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "git").unwrap();
    let text = view.to_string();
    assert!(!text.contains("s3cr3t-t0ken"), "credentials leaked: {issue:#}");
    assert!(issue["detail"]["remote"].as_str().unwrap().contains("127.0.0.1:9/gitops.git"), "{issue:#}");
    let events: String = h
        .store
        .release_events(&id.parse().unwrap())
        .await
        .unwrap()
        .iter()
        .map(|e| e.body.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!events.contains("s3cr3t-t0ken"), "credentials in the event log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_applications_without_commands_are_healthy_once_committed_without_a_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let files = gitops_files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let data = dir.path().join("data");
    let h = Harness::start(dir).await;
    let mut yaml = String::new();
    for (i, env) in ["dev", "qa", "prod"].iter().enumerate() {
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: non-production, order: {i} }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-api-{env} }}\nspec:\n  product: shop\n  \
             environment: {env}\n  component: api\n  source: {{ repoURL: \"{}\", path: apps/api/{env}, targetRevision: main }}\n---\n",
            repo.url()
        ));
    }
    yaml.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec:\n  promotionTemplate:\n    \
         versionSource: { file: Chart.yaml, jsonPath: $.appVersion }\n    promotion:\n      \
         values.yaml: { jsonPaths: [\"$.image.tag\"] }\n  promotionFlows: [ { name: quiet } ]\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: quiet }\nspec:\n  triggerEnvironment: dev\n  steps:\n    \
         - { environment: qa, dependsOn: [dev], policy: { action: commit } }\n    \
         - { environment: prod, dependsOn: [qa], policy: { action: none } }\n",
    );
    h.apply(&yaml).await;
    let id = h.promote(Some("quiet"), None, None).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let qa_commit = promotion_commits(&repo, "qa");
    assert_eq!(qa_commit.len(), 1, "{qa_commit:?}");
    assert!(promotion_commits(&repo, "prod").is_empty());
    // Synced and Healthy at the promotion commit (qa), at the branch tip (prod: nothing committed).
    let tip = git(&repo.bare, &["rev-parse", "main"]);
    for (env, revision) in [("qa", &qa_commit[0].0), ("prod", &tip)] {
        let app = &env_of(&view, env)["applications"][0];
        assert_eq!(app["app"]["sync"], "Synced", "{env}: {app:#}");
        assert_eq!(app["app"]["health"], "Healthy", "{env}: {app:#}");
        assert_eq!(app["app"]["revision"], serde_json::json!(revision), "{env}: {app:#}");
    }
    // Nothing to run, so nothing was checked out.
    let deployed: Vec<_> = std::fs::read_dir(data.join("deploy")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(deployed.is_empty(), "checked out: {deployed:?}");
}

/// Another server sharing the database (a replica) claimed the commit first: this one creates nothing
/// and names the other's release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_claimed_elsewhere_creates_no_release_here() {
    let (h, repo) = setup("true", "true").await;
    let sha = repo.commit(
        &[("apps/api/dev/values.yaml", &values("1.7.0", "dev")), ("apps/api/dev/Chart.yaml", &chart("1.7.0"))],
        "feat: claimed by another replica",
    );
    repo.push();
    let claim = ferry_store::Write::KvClaim {
        key: format!("trigger-released:shop:standard:{sha}"),
        value: "release-of-another-replica".into(),
    };
    h.store.write(vec![claim]).await.unwrap().remove(0).unwrap();
    let push = ferry_engine::GitPush { repo_urls: vec![repo.url()], branch: "main".into(), after: String::new() };
    let skipped = next_event(&h, |e| e.body["type"] == "ProductEvent" && e.body["kind"] == "trigger-already-released");
    let (accepted, skipped) = tokio::join!(h.engine.git_push(push), skipped);
    accepted.unwrap();
    let message = skipped.body["message"].as_str().unwrap();
    assert!(message.contains("release-of-another-replica") && message.contains(&sha[..7]), "{message}");
    let releases =
        h.store.list_releases(ferry_store::ReleaseFilter { limit: 10, ..Default::default() }).await.unwrap().items;
    assert!(releases.is_empty(), "{releases:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_changing_two_trigger_applications_creates_one_release() {
    let (h, repo) = setup("true", "true").await;
    let push = || ferry_engine::GitPush { repo_urls: vec![repo.url()], branch: "main".into(), after: String::new() };
    // One commit moves both components in the trigger environment: both applications see it.
    let sha = repo.commit(
        &[
            ("apps/api/dev/values.yaml", &values("1.6.0", "dev")),
            ("apps/api/dev/Chart.yaml", &chart("1.6.0")),
            ("apps/web/dev/values.yaml", &values("1.6.0", "dev")),
            ("apps/web/dev/Chart.yaml", &chart("1.6.0")),
        ],
        "feat: both components",
    );
    repo.push();
    let created = next_event(&h, |e| e.body["type"] == "Created");
    let second = next_event(&h, |e| e.body["type"] == "ProductEvent" && e.body["kind"] == "trigger-already-released");
    let (accepted, created, second) = tokio::join!(h.engine.git_push(push()), created, second);
    let accepted = accepted.unwrap();
    for app in ["shop-api-dev", "shop-web-dev"] {
        assert!(accepted.applications.iter().any(|a| a.as_str() == app), "{app}: {accepted:?}");
    }
    let message = second.body["message"].as_str().unwrap();
    assert!(message.contains(&created.release_id) && message.contains(&sha[..7]), "{message}");
    let view = h.wait_final(&created.release_id).await;
    assert_eq!(view["trigger"]["sha"], sha);
    let releases =
        h.store.list_releases(ferry_store::ReleaseFilter { limit: 10, ..Default::default() }).await.unwrap().items;
    assert_eq!(releases.len(), 1, "{releases:?}");
    // The trigger environment's live state is what the trigger checks observed, not Unknown.
    let live = h.store.app_states(&ferry_model::ProductName::new("shop").unwrap()).await.unwrap();
    for app in ["shop-api-dev", "shop-web-dev"] {
        let row = live.iter().find(|r| r.application == app).unwrap_or_else(|| panic!("{app}: {live:?}"));
        assert_eq!((row.sync.as_str(), row.health.as_str()), ("Synced", "Healthy"), "{row:?}");
        assert_eq!(row.revision.as_deref(), Some(sha.as_str()), "{row:?}");
    }
}
