//! Pull requests on forges (SPEC §6.2) through the engine's built-in ports, against the test kit's
//! GitHub, GitLab and Gitea stand-ins over a local bare repository: the pull request opened with its
//! title, body, labels and reviewers; a merge made on the forge (reported by webhook or found by
//! polling, once) lets prod continue — the stand-in's merge really moves `main`; a close fails prod
//! naming who closed it; auto-merge; commit statuses on the trigger commit; a rate-limit answer then
//! success; GitHub App installation tokens renewed.

use std::time::Duration;

use ferry_forge::RetryPolicy;
use ferry_store::Store;
use ferry_testkit::forges::{Flavor, ForgeStandIn, app_key, provider_yaml};
use ferry_testkit::shop::ShopYaml;
use serde_json::Value;

use crate::fixture::*;

struct Forge {
    h: Harness,
    repo: Repo,
    standin: ForgeStandIn,
}

/// Prod's policy: by pull request, with `block` as its `pullRequest` block.
fn pr(block: &str) -> String {
    format!("{{ action: pr, pullRequest: {block} }}")
}

/// dev → prod of one application in `acme/gitops`, prod with `policy`, the repository served by a
/// GitProvider of `flavor` on the stand-in. `poll`: how often Ferry polls open pull requests;
/// `provider_extra`: more GitProvider fields.
async fn setup(flavor: Flavor, policy: &str, poll: Duration, provider_extra: &str) -> Forge {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("apps/api/dev/values.yaml".to_owned(), values("2.0.0", "dev")),
        ("apps/api/prod/values.yaml".to_owned(), values("1.0.0", "prod")),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let standin = ForgeStandIn::start(flavor, &[("acme/gitops", repo.bare.clone())]).await;
    let token_file = dir.path().join("forge-token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let h = Harness::start_tuned(dir, |c| {
        c.forges.poll_interval = poll;
        c.forges.retry = RetryPolicy { attempts: 4, base: Duration::from_millis(20), max_wait: Duration::from_secs(3) };
        c.forges.public_forges = false;
    })
    .await;
    let credentials = if provider_extra.contains("app:") {
        String::new()
    } else {
        standin.require_token("s3cret-token");
        format!("  token: {{ file: \"{}\" }}\n", token_file.display())
    };
    let provider =
        provider_yaml("forge", flavor, &standin.url, &repo.url(), "acme/gitops", &(credentials + provider_extra));
    let yaml = ShopYaml::new(&repo.url())
        .environment("dev", false)
        .environment("prod", true)
        .status("exec: { health: \"true\", healthTimeout: 1s }")
        .step("prod", &["dev"], Some(policy))
        .document(&provider)
        .yaml();
    h.apply(&yaml).await;
    Forge { h, repo, standin }
}

impl Forge {
    /// Promotes and waits until prod waits for its pull request; the release id.
    async fn suspended(&self) -> String {
        let opened = self.h.next_event(|e| e.body["type"] == "PullRequestOpened");
        let id = self.h.promote(None, None, None).await;
        let event = opened.await;
        assert!(event.body["url"].as_str().unwrap().starts_with("https://"), "the forge's address: {}", event.body);
        id
    }

    /// Statuses set for `ferry/shop/prod` on commit `sha`, in order.
    fn states_on(&self, sha: &str) -> Vec<String> {
        let statuses = self.standin.statuses().into_iter();
        statuses.filter(|s| s.context == "ferry/shop/prod" && s.sha == sha).map(|s| s.state).collect()
    }
}

fn view_reason(view: &Value) -> String {
    view["reason"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_opened_on_each_forge_and_merged_there_lets_prod_continue() {
    for flavor in [Flavor::Github, Flavor::Gitlab, Flavor::Gitea] {
        let f = setup(
            flavor,
            &pr("{ labels: [promotion], reviewers: [alice], draft: true }"),
            Duration::from_secs(3600),
            "",
        )
        .await;
        let id = f.suspended().await;
        let pulls = f.standin.pulls();
        assert_eq!(pulls.len(), 1, "{flavor:?}: {pulls:?}");
        let pull = &pulls[0];
        assert_eq!((pull.head.as_str(), pull.base.as_str()), (format!("ferry/shop/prod/{id}").as_str(), "main"));
        assert!(pull.title.contains("Promote shop 2.0.0 to prod"), "{flavor:?}: {}", pull.title);
        if flavor != Flavor::Github {
            assert!(pull.title.starts_with("Draft: ") || pull.title.starts_with("WIP: "), "{}", pull.title);
        } else {
            assert!(pull.draft);
        }
        for part in
            ["shop-api-prod", "apps/api/prod/values.yaml", &format!("http://127.0.0.1:7878/releases/{id}"), "2.0.0"]
        {
            assert!(pull.body.contains(part), "{flavor:?}: the body names {part}:\n{}", pull.body);
        }
        assert_eq!(pull.labels, ["promotion"], "{flavor:?}");
        assert_eq!(pull.reviewers.len(), 1, "{flavor:?}");
        assert_eq!(pull.comments.len(), 1, "{flavor:?}: Ferry's progress comment");
        // The forge merges; its webhook tells Ferry.
        let main_before = git(&f.repo.bare, &["rev-parse", "main"]);
        let merge_commit = f.standin.merge(pull.number, "alice");
        assert_ne!(merge_commit, main_before.trim());
        let (headers, body) = f.standin.webhook(pull.number, "hook-secret");
        let (forge, event_name) = match flavor {
            Flavor::Github => ("github", "pull_request"),
            Flavor::Gitea => ("gitea", "pull_request"),
            Flavor::Gitlab => ("gitlab", "Merge Request Hook"),
        };
        assert!(headers.iter().any(|(_, v)| v == event_name));
        let event = ferry_forge::hook::parse(forge, event_name, &body).unwrap().unwrap();
        assert!(f.h.engine.pull_request_hook(event.clone()).await.unwrap(), "{flavor:?}: ours");
        // The same merge seen again (a redelivery, or the poll) changes nothing.
        assert!(!f.h.engine.pull_request_hook(event).await.unwrap());
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Succeeded", "{flavor:?}: {view:#}");
        let prod = env_of(&view, "prod");
        assert_eq!(prod["applications"][0]["action"]["commit"], merge_commit.as_str());
        assert_eq!(git(&f.repo.bare, &["rev-parse", "main"]).trim(), merge_commit);
        assert!(git(&f.repo.bare, &["show", "main:apps/api/prod/values.yaml"]).contains("2.0.0"));
        let merges = f.h.store.release_events(&id.parse().unwrap()).await.unwrap();
        let merged = merges.iter().filter(|e| e.body["type"] == "PullRequestMerged").count();
        assert_eq!(merged, 1, "{flavor:?}: one merge recorded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_statuses_follow_prod_on_the_trigger_commit_the_pull_requests_head_and_its_merge() {
    let f = setup(Flavor::Github, &pr("{}"), Duration::from_millis(50), "").await;
    let id = f.suspended().await;
    let head = git(&f.repo.bare, &["rev-parse", &format!("ferry/shop/prod/{id}")]).trim().to_owned();
    // While prod waits for the merge, the pull request's head shows it pending.
    f.standin.wait_until(|statuses, _| statuses.iter().any(|s| s.sha == head && s.state == "pending")).await;
    let number = f.standin.pulls()[0].number;
    let merge_commit = f.standin.merge(number, "alice");
    let view = f.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let trigger = view["trigger"]["sha"].as_str().unwrap().to_owned();
    // Statuses are posted one after the other without the engine waiting: wait for the last, and for
    // the pull request's comment to follow prod to its end.
    f.standin
        .wait_until(|statuses, pulls| {
            [&trigger, &head, &merge_commit].iter().all(|sha| {
                statuses
                    .iter()
                    .rfind(|s| s.context == "ferry/shop/prod" && &&s.sha == sha)
                    .is_some_and(|s| s.state == "success")
            }) && pulls[0].comments.values().any(|c| c.contains("Successful"))
        })
        .await;
    for sha in [&trigger, &head, &merge_commit] {
        let states = f.states_on(sha);
        assert_eq!(states.first().map(String::as_str), Some("pending"), "{sha}: {states:?}");
        assert!(!states.iter().any(|s| s == "failure" || s == "error"), "{sha}: {states:?}");
    }
    let statuses = f.standin.statuses();
    assert!(statuses.iter().all(|s| s.repo == "acme/gitops"));
    assert!(statuses.iter().all(|s| s.target_url == format!("http://127.0.0.1:7878/releases/{id}")), "{statuses:?}");
    let on = statuses.iter().find(|s| s.context == "ferry/shop/prod").unwrap();
    assert_eq!(on.sha, trigger, "the trigger commit first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_commit_gets_prods_status_on_each_forge() {
    for flavor in [Flavor::Github, Flavor::Gitlab, Flavor::Gitea] {
        let f = setup(flavor, "{ action: commit }", Duration::from_secs(3600), "").await;
        let id = f.h.promote(None, None, None).await;
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Succeeded", "{flavor:?}: {view:#}");
        let commit = env_of(&view, "prod")["applications"][0]["action"]["commit"].as_str().unwrap().to_owned();
        assert_eq!(git(&f.repo.bare, &["rev-parse", "main"]).trim(), commit, "{flavor:?}: the promotion commit");
        f.standin
            .wait_until(|statuses, _| statuses.iter().rfind(|s| s.sha == commit).is_some_and(|s| s.state == "success"))
            .await;
        let pending = if flavor == Flavor::Gitlab { "running" } else { "pending" };
        assert_eq!(f.states_on(&commit), [pending, "success"], "{flavor:?}: marked when it landed, then at the end");
        let on = f.standin.statuses().into_iter().find(|s| s.sha == commit).unwrap();
        assert_eq!((on.context.as_str(), on.repo.as_str()), ("ferry/shop/prod", "acme/gitops"), "{flavor:?}");
        assert_eq!(on.target_url, format!("http://127.0.0.1:7878/releases/{id}"), "{flavor:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_closed_without_merge_fails_the_status_of_its_head() {
    let f = setup(Flavor::Gitea, &pr("{}"), Duration::from_millis(50), "").await;
    let id = f.suspended().await;
    let head = git(&f.repo.bare, &["rev-parse", &format!("ferry/shop/prod/{id}")]).trim().to_owned();
    f.standin.close(f.standin.pulls()[0].number, "bob");
    assert_eq!(f.h.wait_final(&id).await["status"], "Failed");
    f.standin
        .wait_until(|statuses, _| statuses.iter().rfind(|s| s.sha == head).is_some_and(|s| s.state == "failure"))
        .await;
    assert_eq!(f.states_on(&head), ["pending", "failure"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_is_found_by_polling_and_a_close_fails_prod_naming_who_closed_it() {
    for flavor in [Flavor::Github, Flavor::Gitlab, Flavor::Gitea] {
        let f = setup(flavor, &pr("{}"), Duration::from_millis(50), "").await;
        let id = f.suspended().await;
        f.standin.merge(f.standin.pulls()[0].number, "alice");
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Succeeded", "{flavor:?}: polled: {view:#}");

        // A second release: its pull request is closed on the forge.
        let commit = f.repo.commit_and_push(&[("apps/api/dev/values.yaml", values("3.0.0", "dev"))], "three");
        assert!(!commit.is_empty());
        let id = f.suspended().await;
        let open = f.standin.pulls().into_iter().find(|p| p.state == "open").unwrap();
        f.standin.close(open.number, "bob");
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Failed", "{flavor:?}: {view:#}");
        assert_eq!(env_of(&view, "prod")["status"], "Failed");
        let reason = view_reason(&view);
        let closer = if flavor == Flavor::Gitea { "someone on the forge" } else { "bob" };
        assert!(reason.contains("closed without merge") && reason.contains(closer), "{flavor:?}: {reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_merge_asks_the_forge_to_merge_by_itself() {
    for flavor in [Flavor::Github, Flavor::Gitlab, Flavor::Gitea] {
        let f = setup(flavor, &pr("{ autoMerge: true }"), Duration::from_millis(50), "").await;
        let id = f.suspended().await;
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Succeeded", "{flavor:?}: {view:#}");
        let pull = &f.standin.pulls()[0];
        assert!(pull.auto_merge && pull.state == "merged", "{flavor:?}: {pull:?}");
        assert_eq!(git(&f.repo.bare, &["rev-parse", "main"]).trim(), pull.merge_commit.as_deref().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_answer_is_waited_out_then_the_call_succeeds() {
    let f = setup(Flavor::Github, &pr("{}"), Duration::from_secs(3600), "").await;
    let reset = (jiff::Timestamp::now().as_second() + 1).to_string();
    let list = Some("GET /repos/acme/gitops/pulls");
    let limit = [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", reset.as_str())];
    f.standin.fail_next_on(list, 403, &limit, r#"{"message":"API rate limit exceeded"}"#);
    f.standin.fail_next_on(
        list,
        403,
        &[("retry-after", "0")],
        r#"{"message":"You have exceeded a secondary rate limit"}"#,
    );
    let id = f.suspended().await;
    let pulls = f.standin.pulls();
    assert_eq!(pulls.len(), 1, "opened after the limits: {:?}", f.standin.requests());
    let first = f.standin.requests().into_iter().filter(|r| r == "GET /repos/acme/gitops/pulls").count();
    assert_eq!(first, 3, "the listing was tried three times: {:?}", f.standin.requests());
    f.h.engine.terminate(id.parse().unwrap(), "enough".into(), "erin".into()).await.unwrap();
    let view = f.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated");
    let pull = &f.standin.pulls()[0];
    assert_eq!(pull.state, "closed", "terminate closes the forge's pull request");
    assert!(pull.comments.values().any(|c| c.contains("enough")), "{:?}", pull.comments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_app_mints_installation_tokens_and_renews_them_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, public) = app_key();
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, pem).unwrap();
    let extra = format!("  app: {{ id: 4242, privateKeyFile: \"{}\" }}\n", key_file.display());
    let f = setup(Flavor::Github, &pr("{}"), Duration::from_secs(3600), &extra).await;
    // Tokens live a minute: less than the renewal margin, so each call gets a fresh one.
    f.standin.github_app(4242, public, 60);
    let id = f.suspended().await;
    let minted = f.standin.minted();
    assert!(minted.len() >= 2, "renewed: {minted:?}");
    let seen = f.standin.seen_tokens();
    assert!(!seen.is_empty() && seen.iter().all(|t| minted.contains(t)), "{seen:?} {minted:?}");
    assert_eq!(f.standin.pulls().len(), 1);
    f.standin.merge(1, "alice");
    let (_, body) = f.standin.webhook(1, "x");
    let event = ferry_forge::hook::parse("github", "pull_request", &body).unwrap().unwrap();
    assert!(f.h.engine.pull_request_hook(event).await.unwrap());
    assert_eq!(f.h.wait_final(&id).await["status"], "Succeeded");
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_close_reopens_the_pull_request_and_its_merge_lets_prod_continue() {
    for flavor in [Flavor::Github, Flavor::Gitlab, Flavor::Gitea] {
        let f = setup(flavor, &pr("{}"), Duration::from_millis(50), "").await;
        let id = f.suspended().await;
        let first = f.standin.pulls()[0].clone();
        f.standin.close(first.number, "bob");
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Failed", "{flavor:?}: {view:#}");
        assert!(view_reason(&view).contains("closed without merge"), "{flavor:?}: {}", view_reason(&view));

        let reopened = f.h.next_event(|e| e.body["type"] == "PullRequestOpened");
        f.h.engine.retry(id.parse().unwrap(), "carol".into()).await.unwrap();
        let event = reopened.await;
        let pulls = f.standin.pulls();
        assert_eq!(pulls.len(), 1, "{flavor:?}: the closed pull request is reopened, not doubled: {pulls:?}");
        assert_eq!(pulls[0].state, "open", "{flavor:?}");
        assert_eq!(pulls[0].head, format!("ferry/shop/prod/{id}"));
        assert!(event.body["url"].as_str().unwrap().ends_with(&format!("/{}", first.number)), "{}", event.body);
        let view = f.h.store.release_view(&id.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!(view["status"], "Suspended", "{flavor:?}: waits for the merge again: {view:#}");

        let merge_commit = f.standin.merge(first.number, "alice");
        let view = f.h.wait_final(&id).await;
        assert_eq!(view["status"], "Succeeded", "{flavor:?}: {view:#}");
        assert_eq!(env_of(&view, "prod")["applications"][0]["action"]["commit"], merge_commit.as_str());
        assert!(git(&f.repo.bare, &["show", "main:apps/api/prod/values.yaml"]).contains("2.0.0"));
        let events = f.h.store.release_events(&id.parse().unwrap()).await.unwrap();
        let opened = events.iter().filter(|e| e.body["type"] == "PullRequestOpened").count();
        assert_eq!(opened, 2, "{flavor:?}: opened, then reopened by the retry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_opens_a_new_pull_request_when_the_forge_will_not_reopen_the_closed_one() {
    let f = setup(Flavor::Github, &pr("{ labels: [promotion] }"), Duration::from_millis(50), "").await;
    let id = f.suspended().await;
    f.standin.close(1, "bob");
    assert_eq!(f.h.wait_final(&id).await["status"], "Failed");
    let message = r#"{"message":"state cannot be changed. The promotion branch was force-pushed or recreated."}"#;
    f.standin.fail_next_on(Some("PATCH /repos/acme/gitops/pulls/1"), 422, &[], message);
    let reopened = f.h.next_event(|e| e.body["type"] == "PullRequestOpened");
    f.h.engine.retry(id.parse().unwrap(), "carol".into()).await.unwrap();
    reopened.await;
    let pulls = f.standin.pulls();
    assert_eq!(pulls.iter().map(|p| p.state.as_str()).collect::<Vec<_>>(), ["closed", "open"], "{pulls:?}");
    assert_eq!(pulls[1].labels, ["promotion"], "opened like the first");
    f.standin.merge(2, "alice");
    let view = f.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert!(env_of(&view, "prod")["applications"][0]["action"]["pullRequest"]["url"].as_str().unwrap().ends_with("/2"));
}
