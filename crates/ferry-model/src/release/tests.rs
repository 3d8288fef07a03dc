//! Tests of the release state: every event's preconditions and effects, replays, roll-ups.

use super::*;

use EnvStatus as E;
use ReleaseStatus as R;
use StepStatus as S;

fn env(name: &str) -> EnvName {
    EnvName::new(name).unwrap()
}
fn app(name: &str) -> AppName {
    AppName::new(name).unwrap()
}
fn wf(name: &str) -> WorkflowName {
    WorkflowName::new(name).unwrap()
}
fn step(name: &str) -> StepName {
    StepName::new(name).unwrap()
}
fn sha(c: char) -> CommitSha {
    CommitSha::new(c.to_string().repeat(40)).unwrap()
}
fn ts(n: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + n).unwrap()
}
fn release_id() -> ReleaseId {
    ReleaseId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
}

fn app_snap(env_name: &str, component: &str, source: Option<&str>) -> AppSnapshot {
    AppSnapshot {
        name: app(&format!("shop-{component}-{env_name}")),
        component: ComponentName::new(component).unwrap(),
        repo_url: "file:///srv/gitops.git".to_owned(),
        path: format!("apps/shop-{component}/{env_name}"),
        branch: "main".to_owned(),
        source_app: source.map(|s| app(&format!("shop-{component}-{s}"))),
        source_revision: None,
    }
}

fn policy(action: Action, pre: Option<&str>, post: Option<&str>) -> PolicySnapshot {
    let mut sources = BTreeMap::from([("action".to_owned(), "flow".to_owned())]);
    if pre.is_some() {
        sources.insert("preAction".to_owned(), "policy prod-needs-pr".to_owned());
    }
    if post.is_some() {
        sources.insert("postAction".to_owned(), "flow".to_owned());
    }
    PolicySnapshot {
        action,
        pre_action: pre.map(wf),
        post_action: post.map(wf),
        pull_request: None,
        soak_time: None,
        approval: None,
        auto_rollback: false,
        sources,
    }
}

/// dev (trigger, trigger workflow `smoke`) → qa (2 apps, post-action `e2e`) and staging in parallel →
/// prod (join; `pr` with pre-action, onSuccess hook). Release hooks onSuccess and onFail.
fn snapshot() -> ReleaseSnapshot {
    let target =
        |name: &str, deps: &[&str], policy: PolicySnapshot, apps: Vec<AppSnapshot>, hooks: Hooks| EnvSnapshot {
            name: env(name),
            env_type: if name == "prod" { EnvironmentType::Production } else { EnvironmentType::NonProduction },
            depends_on: deps.iter().map(|d| env(d)).collect(),
            is_trigger: false,
            policy: Some(policy),
            hooks,
            applications: apps,
        };
    ReleaseSnapshot {
        product: ProductName::new("shop").unwrap(),
        flow: "standard".to_owned(),
        flow_version: Some("3.0".to_owned()),
        initiator: "alice".to_owned(),
        version: Some("1.4.2".to_owned()),
        trigger: TriggerCommit {
            environment: env("dev"),
            sha: sha('a'),
            message: "feat: faster checkout\n\nRefs: SHOP-12".to_owned(),
            author_name: "Alice".to_owned(),
            author_email: "alice@example.com".to_owned(),
            date: ts(-60),
            repo: "file:///srv/gitops.git".to_owned(),
            branch: "main".to_owned(),
            web_url: None,
        },
        trigger_workflow: Some(wf("smoke")),
        environments: vec![
            EnvSnapshot {
                name: env("dev"),
                env_type: EnvironmentType::NonProduction,
                depends_on: vec![],
                is_trigger: true,
                policy: None,
                hooks: Hooks::default(),
                applications: vec![app_snap("dev", "api", None)],
            },
            target(
                "qa",
                &["dev"],
                policy(Action::Commit, None, Some("e2e")),
                vec![app_snap("qa", "api", Some("dev")), app_snap("qa", "web", Some("dev"))],
                Hooks::default(),
            ),
            target(
                "staging",
                &["dev"],
                policy(Action::Commit, None, None),
                vec![app_snap("staging", "api", Some("dev"))],
                Hooks::default(),
            ),
            target(
                "prod",
                &["qa", "staging"],
                policy(Action::Pr, Some("change-freeze-check"), None),
                vec![app_snap("prod", "api", Some("dev"))],
                Hooks { on_start: None, on_success: Some(wf("announce")), on_fail: None },
            ),
        ],
        release_hooks: Hooks { on_start: None, on_success: Some(wf("notify-done")), on_fail: Some(wf("notify-fail")) },
        timeout: Duration::from_secs(90 * 60),
        rollback: None,
    }
}

/// Drives a release event by event, keeping the log.
struct Sim {
    state: ReleaseState,
    log: Vec<ReleaseEvent>,
    clock: i64,
    runs: u128,
}

impl Sim {
    fn new() -> Sim {
        Sim::with(snapshot())
    }

    fn with(snapshot: ReleaseSnapshot) -> Sim {
        let created = ReleaseEvent::Created { id: release_id(), snapshot: Box::new(snapshot), at: ts(0) };
        let state = ReleaseState::replay([&created]).unwrap();
        Sim { state, log: vec![created], clock: 0, runs: 0 }
    }

    fn at(&mut self) -> Timestamp {
        self.clock += 1;
        ts(self.clock)
    }

    fn ok(&mut self, event: ReleaseEvent) {
        if let Err(err) = self.state.apply(&event) {
            panic!("{} rejected: {err}", event.name());
        }
        self.log.push(event);
    }

    /// Applies an event that must be rejected, and checks the state did not change.
    fn err(&mut self, event: ReleaseEvent) -> ApplyError {
        let before = self.state.clone();
        let err = self.state.apply(&event).expect_err(event.name());
        assert_eq!(self.state, before, "a rejected {} changed the state", event.name());
        err
    }

    fn env_status(&self, name: &str) -> EnvStatus {
        self.state.env_status(&env(name)).unwrap()
    }

    fn statuses(&self) -> Vec<EnvStatus> {
        self.state.env_statuses().into_iter().map(|(_, s)| s).collect()
    }

    fn started(&mut self) {
        let at = self.at();
        self.ok(ReleaseEvent::Started { at });
    }

    fn start_env(&mut self, name: &str) {
        let at = self.at();
        self.ok(ReleaseEvent::EnvironmentStarted { env: env(name), at });
    }

    /// Starts a run whose steps run one after the other.
    fn run(&mut self, target: RunTarget, workflow: &str, steps: &[&str]) -> RunId {
        self.runs += 1;
        let run_id = RunId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0000 + self.runs));
        let steps = steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepSpec {
                name: step(s),
                depends_on: i.checked_sub(1).map(|p| vec![step(steps[p])]).unwrap_or_default(),
                whole_run: false,
            })
            .collect();
        let at = self.at();
        self.ok(ReleaseEvent::WorkflowRunStarted { run_id, target, workflow: wf(workflow), steps, at });
        run_id
    }

    fn step_start(&mut self, run_id: RunId, name: &str) {
        let at = self.at();
        self.ok(ReleaseEvent::StepStarted { run_id, step: step(name), at });
    }

    fn step_end(&mut self, run_id: RunId, name: &str, status: StepStatus, outputs: &[(&str, &str)]) {
        let at = self.at();
        self.ok(ReleaseEvent::StepFinished {
            run_id,
            step: step(name),
            status,
            exit_code: Some(if status == S::Success { 0 } else { 1 }),
            error: None,
            outputs: outputs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            at,
        });
    }

    fn step_ok(&mut self, run_id: RunId, name: &str) {
        self.step_start(run_id, name);
        self.step_end(run_id, name, S::Success, &[]);
    }

    fn run_ok(&mut self, target: RunTarget, workflow: &str, steps: &[&str]) -> RunId {
        let run_id = self.run(target, workflow, steps);
        for s in steps {
            self.step_ok(run_id, s);
        }
        run_id
    }

    fn commit(&mut self, env_name: &str, apps: &[&str], c: char) {
        let apps: Vec<AppName> = apps.iter().map(|a| app(a)).collect();
        let at = self.at();
        self.ok(ReleaseEvent::ActionStarted { env: env(env_name), apps: apps.clone(), action: Action::Commit, at });
        let at = self.at();
        self.ok(ReleaseEvent::ActionCommitted {
            env: env(env_name),
            apps,
            repo: "file:///srv/gitops.git".to_owned(),
            commit: sha(c),
            at,
        });
    }

    fn observe(&mut self, env_name: &str, app_name: &str, health: HealthStatus) {
        let at = self.at();
        self.ok(ReleaseEvent::AppObserved {
            env: env(env_name),
            app: app(app_name),
            sync: SyncStatus::Synced,
            health,
            revision: Some(sha('c')),
            message: None,
            at,
        });
    }

    fn gate(&mut self, env_name: &str, app_name: &str) {
        self.observe(env_name, app_name, HealthStatus::Healthy);
        let at = self.at();
        self.ok(ReleaseEvent::AppGatePassed { env: env(env_name), app: app(app_name), at });
    }

    fn succeed(&mut self, env_name: &str, app_name: &str) {
        let at = self.at();
        self.ok(ReleaseEvent::AppSucceeded { env: env(env_name), app: app(app_name), at });
    }

    fn dev_done(&mut self) {
        self.started();
        self.start_env("dev");
        self.run_ok(RunTarget::Trigger { env: env("dev"), app: app("shop-api-dev") }, "smoke", &["ping"]);
        self.succeed("dev", "shop-api-dev");
    }

    /// qa and staging started; qa committed, both qa apps past their gate, Post-Action runs started.
    fn qa_post_actions(&mut self) -> (RunId, RunId) {
        self.start_env("qa");
        self.start_env("staging");
        self.commit("qa", &["shop-api-qa", "shop-web-qa"], 'c');
        self.gate("qa", "shop-api-qa");
        self.gate("qa", "shop-web-qa");
        let api = self.run(post("qa", "shop-api-qa"), "e2e", &["wait-ready", "tests"]);
        let web = self.run(post("qa", "shop-web-qa"), "e2e", &["wait-ready", "tests"]);
        (api, web)
    }

    fn staging_done(&mut self) {
        self.commit("staging", &["shop-api-staging"], 'd');
        self.observe("staging", "shop-api-staging", HealthStatus::Healthy);
        // No Post-Action in staging: AppSucceeded straight from the health gate.
        self.succeed("staging", "shop-api-staging");
    }
}

fn post(env_name: &str, app_name: &str) -> RunTarget {
    RunTarget::PostAction { env: env(env_name), app: app(app_name) }
}

fn workflow_issue(sim: &mut Sim, run_id: RunId) -> ReleaseEvent {
    let id = sim.state.next_issue_id(Some(&env("qa")), Some(&app("shop-api-qa")), IssueKind::Workflow);
    let at = sim.at();
    let lines: Vec<String> = (1..=250).map(|i| format!("line {i}")).collect();
    ReleaseEvent::IssueRaised {
        issue: Box::new(Issue {
            id,
            env: Some(env("qa")),
            app: Some(app("shop-api-qa")),
            summary: "e2e step tests failed with exit code 1 in qa (shop-api-qa)".to_owned(),
            detail: IssueDetail::Workflow {
                run_id,
                workflow: wf("e2e"),
                stage: Stage::PostAction,
                step: Some(step("tests")),
                exit_code: Some(1),
                error: None,
                log_tail: log_tail(&lines),
                definition: Some("steps: [wait-ready, tests]".to_owned()),
            },
            at,
        }),
    }
}

/// qa's Post-Action fails for one application; staging completes; the release finishes Failed.
fn failed_qa() -> (Sim, RunId) {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, web) = sim.qa_post_actions();
    sim.step_start(api, "wait-ready");
    sim.step_end(api, "wait-ready", S::Success, &[("REPORT_URL", "https://ci.example/r/1")]);
    sim.step_start(web, "wait-ready");
    sim.step_start(api, "tests");
    sim.step_end(api, "tests", S::Failed, &[]);
    let issue = workflow_issue(&mut sim, api);
    sim.ok(issue);

    // Failed at once, while the sibling application keeps running.
    assert_eq!(sim.env_status("qa"), E::Failed);
    assert_eq!(sim.state.status(), R::Failed);
    assert!(sim.state.is_busy());
    let at = sim.at();
    assert!(matches!(
        sim.err(ReleaseEvent::RetryRequested { actor: "bob".into(), at }),
        ApplyError::Rejected { reason, .. } if reason.contains("still running")
    ));
    sim.step_end(web, "wait-ready", S::Success, &[]);
    sim.step_ok(web, "tests");

    // The parallel branch continues to completion; prod stays Pending and cannot start.
    sim.staging_done();
    assert_eq!(sim.env_status("staging"), E::Successful);
    let at = sim.at();
    let err = sim.err(ReleaseEvent::EnvironmentStarted { env: env("prod"), at });
    assert_eq!(err.to_string(), "EnvironmentStarted is not accepted: prod depends on qa, which is Failed");
    sim.run_ok(RunTarget::ReleaseHook { hook: HookKind::OnFail }, "notify-fail", &["send"]);
    (sim, api)
}

#[test]
fn success_path_ends_succeeded() {
    let mut sim = Sim::new();
    assert_eq!(sim.state.status(), R::Queued);
    let at = sim.at();
    sim.ok(ReleaseEvent::Queued { at });
    assert_eq!(sim.state.status(), R::Queued);
    sim.started();
    assert_eq!(sim.state.status(), R::Running, "waiting between environments counts as running");
    assert_eq!(sim.state.counters(), Counters { successful: 0, running: 0, failed: 0, pending: 4 });

    sim.start_env("dev");
    assert_eq!(sim.env_status("dev"), E::Running);
    sim.dev_done_from_started();
    assert_eq!(sim.env_status("dev"), E::Successful);
    assert_eq!(sim.statuses(), [E::Successful, E::Pending, E::Pending, E::Pending]);

    let (api, web) = sim.qa_post_actions();
    assert_eq!(sim.statuses(), [E::Successful, E::Running, E::Running, E::Pending]);
    let qa = env("qa");
    let line = |sim: &Sim, s: &str| sim.state.step_line(&qa, Stage::PostAction, &step(s));
    assert_eq!(line(&sim, "wait-ready"), S::Pending);
    sim.step_ok(api, "wait-ready");
    sim.step_start(web, "wait-ready");
    assert_eq!(line(&sim, "wait-ready"), S::Running, "aggregated across the runs of both applications");
    sim.step_end(web, "wait-ready", S::Success, &[]);
    assert_eq!(line(&sim, "wait-ready"), S::Success);
    sim.step_ok(api, "tests");
    sim.step_ok(web, "tests");
    let lines = sim.state.workflow_lines(&qa);
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].stage, lines[0].name.as_str(), lines[0].status), (Stage::PostAction, "e2e", S::Success));
    assert_eq!(lines[0].runs, vec![api, web]);
    assert_eq!(lines[0].steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["wait-ready", "tests"]);
    assert_eq!(sim.env_status("qa"), E::Running, "applications have not reported success yet");
    sim.succeed("qa", "shop-api-qa");
    sim.succeed("qa", "shop-web-qa");
    assert_eq!(sim.env_status("qa"), E::Successful);
    let at = sim.at();
    sim.err(ReleaseEvent::EnvironmentStarted { env: env("prod"), at });
    sim.staging_done();

    // prod: pre-action with an approval step, then a pull request.
    sim.start_env("prod");
    let pre = sim.run(
        RunTarget::PreAction { env: env("prod"), app: app("shop-api-prod") },
        "change-freeze-check",
        &["check", "approve"],
    );
    sim.step_ok(pre, "check");
    let at = sim.at();
    sim.ok(ReleaseEvent::StepAwaitingApproval {
        run_id: pre,
        step: step("approve"),
        message: "deploy to prod?".into(),
        at,
    });
    assert_eq!(sim.env_status("prod"), E::Suspended, "an approval step waits for a person");
    assert_eq!(sim.state.status(), R::Suspended);
    sim.step_end(pre, "approve", S::Success, &[]);
    assert_eq!(sim.env_status("prod"), E::Running);
    let prod_api = vec![app("shop-api-prod")];
    let at = sim.at();
    sim.ok(ReleaseEvent::ActionStarted { env: env("prod"), apps: prod_api.clone(), action: Action::Pr, at });
    let at = sim.at();
    sim.ok(ReleaseEvent::PullRequestOpened {
        env: env("prod"),
        apps: prod_api.clone(),
        url: "https://git.example/shop/pull/7".into(),
        number: 7,
        branch: "ferry/shop/prod/0190".into(),
        at,
    });
    assert_eq!(sim.env_status("prod"), E::Suspended, "a pull request awaits merge");
    assert_eq!(sim.state.status(), R::Suspended);
    assert_eq!(sim.state.counters(), Counters { successful: 3, running: 1, failed: 0, pending: 0 });
    let at = sim.at();
    sim.ok(ReleaseEvent::PullRequestMerged { env: env("prod"), apps: prod_api, merge_commit: sha('e'), at });
    assert_eq!(sim.env_status("prod"), E::Running);
    sim.gate("prod", "shop-api-prod");
    sim.succeed("prod", "shop-api-prod");
    assert_eq!(sim.env_status("prod"), E::Running, "the onSuccess hook is due");
    sim.run_ok(RunTarget::EnvironmentHook { env: env("prod"), hook: HookKind::OnSuccess }, "announce", &["post"]);
    assert_eq!(sim.env_status("prod"), E::Successful);

    assert_eq!(sim.state.status(), R::Running, "the release onSuccess hook is due");
    let hook = sim.run(RunTarget::ReleaseHook { hook: HookKind::OnSuccess }, "notify-done", &["send"]);
    assert_eq!(sim.state.status(), R::Running);
    sim.step_ok(hook, "send");
    assert_eq!(sim.state.status(), R::Succeeded);
    assert!(!sim.state.is_busy());
    let at = sim.at();
    sim.ok(ReleaseEvent::Finished { status: R::Succeeded, at });

    assert_eq!(sim.state.counters(), Counters { successful: 4, running: 0, failed: 0, pending: 0 });
    assert_eq!(sim.state.finished_at(), Some(at));
    assert!(sim.state.environments().iter().all(|e| e.finished_at.is_some()));
    assert_eq!(sim.state.app_version(&env("prod"), &app("shop-api-prod")), Some("1.4.2"));
    assert_eq!(sim.state.reason(), None);
    assert_eq!(sim.state.event_count(), sim.log.len() as u64);
    let at = sim.at();
    assert_eq!(
        sim.err(ReleaseEvent::ContextMerged { values: BTreeMap::new(), at }),
        ApplyError::ReleaseFinished { event: "ContextMerged", status: R::Succeeded }
    );
    let at = sim.at();
    sim.err(ReleaseEvent::RetryRequested { actor: "bob".into(), at });
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);

    insta::assert_json_snapshot!("success_path_events", sim.log);
}

impl Sim {
    /// The rest of `dev_done` once the release and dev are started.
    fn dev_done_from_started(&mut self) {
        self.run_ok(RunTarget::Trigger { env: env("dev"), app: app("shop-api-dev") }, "smoke", &["ping"]);
        self.succeed("dev", "shop-api-dev");
    }
}

#[test]
fn failed_post_action_fails_qa_and_the_release_and_keeps_prod_pending() {
    let (mut sim, _) = failed_qa();
    assert_eq!(sim.statuses(), [E::Successful, E::Failed, E::Successful, E::Pending]);
    assert_eq!(sim.state.status(), R::Failed);
    assert_eq!(sim.state.counters(), Counters { successful: 2, running: 0, failed: 1, pending: 1 });
    assert_eq!(sim.state.step_line(&env("qa"), Stage::PostAction, &step("tests")), S::Failed);
    assert_eq!(sim.state.step_line(&env("qa"), Stage::PostAction, &step("wait-ready")), S::Success);
    assert_eq!(sim.state.reason().as_deref(), Some("e2e step tests failed with exit code 1 in qa (shop-api-qa)"));
    let failed = sim.state.failed_environments();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].0.as_str(), failed[0].1), ("qa", E::Failed));
    assert_eq!(sim.state.env_issues(&env("qa")).count(), 1);
    assert_eq!(sim.state.issues()[0].id, "qa/shop-api-qa:workflow:1");
    assert_eq!(sim.state.issues()[0].kind(), IssueKind::Workflow);
    match &sim.state.issues()[0].detail {
        IssueDetail::Workflow { log_tail, .. } => {
            assert_eq!(log_tail.len(), LOG_TAIL_LINES);
            assert_eq!(log_tail.first().map(String::as_str), Some("line 51"));
        }
        other => panic!("{other:?}"),
    }
    let at = sim.at();
    sim.err(ReleaseEvent::Finished { status: R::Succeeded, at });
    sim.ok(ReleaseEvent::Finished { status: R::Failed, at });
    assert_eq!(sim.state.finished_at(), Some(at));
    let at = sim.at();
    sim.err(ReleaseEvent::AppObserved {
        env: env("qa"),
        app: app("shop-api-qa"),
        sync: SyncStatus::Synced,
        health: HealthStatus::Healthy,
        revision: None,
        message: None,
        at,
    });
}

#[test]
fn retry_resumes_at_the_point_of_failure() {
    let (mut sim, api) = failed_qa();
    let at = sim.at();
    sim.ok(ReleaseEvent::Finished { status: R::Failed, at });
    let retry_at = sim.at();
    sim.ok(ReleaseEvent::RetryRequested { actor: "bob".into(), at: retry_at });

    assert_eq!(sim.state.retries(), 1);
    assert_eq!(sim.state.last_retry().map(|r| r.actor.as_str()), Some("bob"));
    assert_eq!(sim.state.status(), R::Running);
    assert_eq!(sim.state.finished_at(), None);
    assert_eq!(sim.statuses(), [E::Successful, E::Running, E::Successful, E::Pending]);
    assert!(sim.state.issues().is_empty());
    assert_eq!(sim.state.resolved_issues().len(), 1);
    assert!(sim.state.current_hook_run(HookKind::OnFail).is_none(), "onFail may run again on a new failure");
    assert_eq!(sim.state.deadline(), retry_at.checked_add(Duration::from_secs(5400)).ok());

    let qa = sim.state.environment(&env("qa")).unwrap();
    let run = qa.app(&app("shop-api-qa")).unwrap().current_run(Stage::PostAction).unwrap();
    assert_eq!(run.id, api, "the same run resumes");
    assert_eq!(run.step(&step("wait-ready")).unwrap().status, S::Success);
    assert_eq!(run.outputs().get("REPORT_URL").map(String::as_str), Some("https://ci.example/r/1"));
    assert_eq!(run.step(&step("tests")).unwrap().status, S::Pending);
    assert_eq!(run.ready_steps(), [&step("tests")]);
    assert_eq!(sim.state.step_line(&env("qa"), Stage::PostAction, &step("tests")), S::Pending);

    sim.step_ok(api, "tests");
    assert_eq!(sim.state.environment(&env("qa")).unwrap().apps[0].runs[0].step(&step("tests")).unwrap().attempts, 2);
    sim.succeed("qa", "shop-api-qa");
    sim.succeed("qa", "shop-web-qa");
    assert_eq!(sim.env_status("qa"), E::Successful);
    sim.start_env("prod");
    assert_eq!(sim.env_status("prod"), E::Running);
    assert_eq!(
        sim.state.next_issue_id(Some(&env("qa")), Some(&app("shop-api-qa")), IssueKind::Workflow),
        "qa/shop-api-qa:workflow:2"
    );
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
}

#[test]
fn retry_repeats_a_failed_action_and_a_failed_gate() {
    let mut sim = Sim::new();
    sim.dev_done();
    sim.start_env("qa");
    sim.start_env("staging");
    let qa_apps = vec![app("shop-api-qa"), app("shop-web-qa")];
    let at = sim.at();
    sim.ok(ReleaseEvent::ActionStarted { env: env("qa"), apps: qa_apps.clone(), action: Action::Commit, at });
    let at = sim.at();
    sim.ok(ReleaseEvent::ActionFailed { env: env("qa"), apps: qa_apps.clone(), error: "push rejected".into(), at });
    sim.commit("staging", &["shop-api-staging"], 'd');
    sim.observe("staging", "shop-api-staging", HealthStatus::Degraded);
    let at = sim.at();
    sim.ok(ReleaseEvent::AppGateFailed {
        env: env("staging"),
        app: app("shop-api-staging"),
        reason: GateFailure::Degraded,
        message: Some("CrashLoopBackOff".into()),
        at,
    });
    assert_eq!(sim.statuses(), [E::Successful, E::Failed, E::Failed, E::Pending]);
    let at = sim.at();
    sim.ok(ReleaseEvent::RetryRequested { actor: "bob".into(), at });
    assert_eq!(sim.statuses(), [E::Successful, E::Running, E::Running, E::Pending]);
    let staging = sim.state.environment(&env("staging")).unwrap();
    assert_eq!(staging.apps[0].phase, AppPhase::Health, "the gate is evaluated again");
    assert!(staging.apps[0].action_landed(), "the landed commit is kept");
    assert!(sim.state.environment(&env("qa")).unwrap().apps.iter().all(|a| a.action.is_none()));
    sim.commit("qa", &["shop-api-qa", "shop-web-qa"], 'f');
    sim.gate("staging", "shop-api-staging");
    sim.succeed("staging", "shop-api-staging");
    assert_eq!(sim.env_status("staging"), E::Successful);
}

#[test]
fn terminate_stops_running_environments_and_leaves_pending_ones() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, web) = sim.qa_post_actions();
    sim.step_ok(api, "wait-ready");
    sim.step_start(api, "tests");
    sim.step_start(web, "wait-ready");
    let at = sim.at();
    sim.ok(ReleaseEvent::ActionStarted {
        env: env("staging"),
        apps: vec![app("shop-api-staging")],
        action: Action::Commit,
        at,
    });
    let at = sim.at();
    sim.ok(ReleaseEvent::TerminateRequested { reason: "bad build".into(), actor: "carol".into(), at });
    assert_eq!(sim.state.status(), R::Terminating);
    assert_eq!(sim.statuses(), [E::Successful, E::Terminated, E::Terminated, E::Pending]);
    assert_eq!(sim.state.reason().as_deref(), Some("bad build"));

    // Nothing new starts; results still arrive.
    let at = sim.at();
    sim.err(ReleaseEvent::EnvironmentStarted { env: env("prod"), at });
    let at = sim.at();
    sim.err(ReleaseEvent::StepStarted { run_id: api, step: step("wait-ready"), at });
    let at = sim.at();
    sim.err(ReleaseEvent::TerminateRequested { reason: "again".into(), actor: "carol".into(), at });
    sim.step_end(api, "tests", S::Terminated, &[]);
    sim.run_ok(RunTarget::ReleaseHook { hook: HookKind::OnFail }, "notify-fail", &["send"]);
    assert_eq!(sim.state.status(), R::Terminating);

    let at = sim.at();
    sim.ok(ReleaseEvent::Terminated { at });
    assert_eq!(sim.state.status(), R::Terminated);
    assert_eq!(sim.statuses(), [E::Successful, E::Terminated, E::Terminated, E::Pending]);
    assert_eq!(sim.state.counters(), Counters { successful: 1, running: 0, failed: 2, pending: 1 });
    let qa = sim.state.environment(&env("qa")).unwrap();
    let web_run = qa.app(&app("shop-web-qa")).unwrap().current_run(Stage::PostAction).unwrap();
    assert!(web_run.steps.iter().all(|s| s.status == S::Terminated), "unfinished steps are recorded as stopped");
    let staging = sim.state.environment(&env("staging")).unwrap();
    assert_eq!(staging.apps[0].action.as_ref().map(|a| a.status), Some(ActionStatus::Failed));
    assert_eq!(sim.state.finished_at(), Some(at));
    let at = sim.at();
    assert_eq!(
        sim.err(ReleaseEvent::RetryRequested { actor: "bob".into(), at }),
        ApplyError::ReleaseFinished { event: "RetryRequested", status: R::Terminated }
    );
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
}

#[test]
fn a_queued_release_can_be_terminated() {
    let mut sim = Sim::new();
    let at = sim.at();
    sim.ok(ReleaseEvent::Queued { at });
    let at = sim.at();
    sim.ok(ReleaseEvent::TerminateRequested { reason: "queue overflow".into(), actor: "ferry".into(), at });
    assert_eq!(sim.state.status(), R::Terminating);
    let at = sim.at();
    sim.err(ReleaseEvent::Started { at });
    sim.ok(ReleaseEvent::Terminated { at });
    assert_eq!(sim.state.status(), R::Terminated);
    assert_eq!(sim.state.counters(), Counters { successful: 0, running: 0, failed: 0, pending: 4 });
}

#[test]
fn apply_rejects_nonsense() {
    let mut sim = Sim::new();
    let at = sim.at();
    let err = sim.err(ReleaseEvent::EnvironmentStarted { env: env("dev"), at });
    assert_eq!(err.to_string(), "EnvironmentStarted is not accepted: the release has not started");
    sim.dev_done();
    let (api, _web) = sim.qa_post_actions();
    let at = sim.at();
    let cases: Vec<(&str, ReleaseEvent)> = vec![
        ("second Created", ReleaseEvent::Created { id: release_id(), snapshot: Box::new(snapshot()), at }),
        ("started twice", ReleaseEvent::Started { at }),
        ("queued after start", ReleaseEvent::Queued { at }),
        ("unknown environment", ReleaseEvent::EnvironmentStarted { env: env("qa2"), at }),
        ("environment started twice", ReleaseEvent::EnvironmentStarted { env: env("qa"), at }),
        ("join before its dependencies", ReleaseEvent::EnvironmentStarted { env: env("prod"), at }),
        ("unknown application", ReleaseEvent::AppSucceeded { env: env("qa"), app: app("shop-db-qa"), at }),
        (
            "unknown run",
            ReleaseEvent::StepStarted { run_id: RunId(uuid::Uuid::from_u128(42)), step: step("tests"), at },
        ),
        ("unknown step", ReleaseEvent::StepStarted { run_id: api, step: step("lint"), at }),
        (
            "non-final step status",
            ReleaseEvent::StepFinished {
                run_id: api,
                step: step("tests"),
                status: S::Running,
                exit_code: None,
                error: None,
                outputs: BTreeMap::new(),
                at,
            },
        ),
        (
            "wrong workflow for the stage",
            ReleaseEvent::WorkflowRunStarted {
                run_id: RunId(uuid::Uuid::from_u128(43)),
                target: post("qa", "shop-api-qa"),
                workflow: wf("smoke"),
                steps: vec![],
                at,
            },
        ),
        (
            "duplicate run id",
            ReleaseEvent::WorkflowRunStarted {
                run_id: api,
                target: post("qa", "shop-api-qa"),
                workflow: wf("e2e"),
                steps: vec![],
                at,
            },
        ),
        (
            "pre-action that is not configured",
            ReleaseEvent::WorkflowRunStarted {
                run_id: RunId(uuid::Uuid::from_u128(44)),
                target: RunTarget::PreAction { env: env("qa"), app: app("shop-api-qa") },
                workflow: wf("e2e"),
                steps: vec![],
                at,
            },
        ),
        (
            "release onSuccess hook before success",
            ReleaseEvent::WorkflowRunStarted {
                run_id: RunId(uuid::Uuid::from_u128(45)),
                target: RunTarget::ReleaseHook { hook: HookKind::OnSuccess },
                workflow: wf("notify-done"),
                steps: vec![],
                at,
            },
        ),
        (
            "wrong action",
            ReleaseEvent::ActionStarted {
                env: env("staging"),
                apps: vec![app("shop-api-staging")],
                action: Action::Pr,
                at,
            },
        ),
        (
            "action in the trigger environment",
            ReleaseEvent::ActionStarted {
                env: env("dev"),
                apps: vec![app("shop-api-dev")],
                action: Action::Commit,
                at,
            },
        ),
        (
            "commit without a running action",
            ReleaseEvent::ActionCommitted {
                env: env("staging"),
                apps: vec![app("shop-api-staging")],
                repo: "r".into(),
                commit: sha('b'),
                at,
            },
        ),
        (
            "application named twice",
            ReleaseEvent::ActionStarted {
                env: env("staging"),
                apps: vec![app("shop-api-staging"), app("shop-api-staging")],
                action: Action::Commit,
                at,
            },
        ),
        (
            "gate outside the health phase",
            ReleaseEvent::AppGatePassed { env: env("staging"), app: app("shop-api-staging"), at },
        ),
        ("success before the post-action", ReleaseEvent::AppSucceeded { env: env("qa"), app: app("shop-api-qa"), at }),
        ("terminated without a request", ReleaseEvent::Terminated { at }),
        ("retry of a running release", ReleaseEvent::RetryRequested { actor: "bob".into(), at }),
        ("finished while running", ReleaseEvent::Finished { status: R::Running, at }),
        ("finished with the wrong status", ReleaseEvent::Finished { status: R::Succeeded, at }),
        (
            "multi-line issue summary",
            ReleaseEvent::IssueRaised {
                issue: Box::new(Issue {
                    id: "x".into(),
                    env: Some(env("qa")),
                    app: None,
                    summary: "two\nlines".into(),
                    detail: IssueDetail::Git { operation: GitOperation::Push, remote: "r".into(), error: "e".into() },
                    at,
                }),
            },
        ),
    ];
    for (what, event) in cases {
        let before = sim.state.clone();
        let result = sim.state.apply(&event);
        assert!(result.is_err(), "{what}: {} was accepted", event.name());
        assert_eq!(sim.state, before, "{what}: a rejected event changed the state");
    }
    let err = sim.err(ReleaseEvent::StepStarted { run_id: api, step: step("lint"), at });
    assert_eq!(
        err.to_string(),
        format!("StepStarted: run {api} of workflow e2e has no step \"lint\" (it has: wait-ready, tests)")
    );
    let err = sim.err(ReleaseEvent::EnvironmentStarted { env: env("qa2"), at });
    assert_eq!(
        err.to_string(),
        "EnvironmentStarted: unknown environment \"qa2\" (this release has: dev, qa, staging, prod)"
    );

    // Replay needs Created first.
    assert_eq!(ReleaseState::replay(&sim.log[1..]).unwrap_err(), ApplyError::NotCreated { event: "Started" });
    let mut broken = sim.log.clone();
    broken.insert(2, ReleaseEvent::Started { at });
    assert!(matches!(ReleaseState::replay(&broken), Err(ApplyError::Replay { index: 2, .. })));
}

#[test]
fn step_finished_twice_is_rejected() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, _) = sim.qa_post_actions();
    sim.step_ok(api, "wait-ready");
    let at = sim.at();
    let err = sim.err(ReleaseEvent::StepFinished {
        run_id: api,
        step: step("wait-ready"),
        status: S::Success,
        exit_code: Some(0),
        error: None,
        outputs: BTreeMap::new(),
        at,
    });
    assert_eq!(err.to_string(), "StepFinished is not accepted: step wait-ready already finished (Success)");
}

#[test]
fn a_lost_step_is_pending_again_and_starts_from_its_beginning() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, _) = sim.qa_post_actions();
    sim.step_ok(api, "wait-ready");
    sim.step_start(api, "tests");
    let at = sim.at();
    let lost = |step_name: &str| ReleaseEvent::StepLost {
        run_id: api,
        step: step(step_name),
        reason: "the replica driving the release stopped".into(),
        at,
    };
    sim.ok(lost("tests"));
    let tests = |sim: &Sim| {
        let run = sim.state.environment(&env("qa")).unwrap().app(&app("shop-api-qa")).unwrap().runs[0].clone();
        run.step(&step("tests")).unwrap().clone()
    };
    assert_eq!((tests(&sim).status, tests(&sim).attempts), (S::Pending, 1));
    // Only a running step can be lost: not a pending one, not a finished one.
    let err = sim.err(lost("tests"));
    assert_eq!(err.to_string(), "StepLost is not accepted: step tests is not running (Pending)");
    let err = sim.err(lost("wait-ready"));
    assert_eq!(err.to_string(), "StepLost is not accepted: step wait-ready is not running (Success)");
    sim.step_start(api, "tests");
    assert_eq!((tests(&sim).status, tests(&sim).attempts), (S::Running, 2));
    sim.step_end(api, "tests", S::Success, &[]);
    assert_eq!(tests(&sim).status, S::Success);
    assert_changed_runs_are_exact(&sim.log);
}

#[test]
fn a_newer_run_of_the_same_slot_supersedes_the_earlier_one() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (old, _) = sim.qa_post_actions();
    sim.step_start(old, "wait-ready");
    let new = sim.run(post("qa", "shop-api-qa"), "e2e", &["wait-ready", "tests"]);
    let qa = sim.state.environment(&env("qa")).unwrap();
    let api = qa.app(&app("shop-api-qa")).unwrap();
    assert_eq!(api.current_run(Stage::PostAction).map(|r| r.id), Some(new));
    assert!(api.runs.iter().any(|r| r.id == old && r.retired));
    // The stopped run may still report; it no longer counts, and it cannot start steps.
    sim.step_end(old, "wait-ready", S::Terminated, &[]);
    assert_eq!(sim.env_status("qa"), E::Running);
    let at = sim.at();
    sim.err(ReleaseEvent::StepStarted { run_id: old, step: step("tests"), at });
    assert_eq!(sim.state.step_line(&env("qa"), Stage::PostAction, &step("wait-ready")), S::Pending);
}

#[test]
fn a_failing_environment_hook_fails_the_environment_and_is_retried() {
    let mut snap = snapshot();
    snap.environments[2].hooks = Hooks { on_start: Some(wf("lock")), on_success: None, on_fail: Some(wf("unlock")) };
    let created = ReleaseEvent::Created { id: release_id(), snapshot: Box::new(snap), at: ts(0) };
    let mut sim = Sim { state: ReleaseState::replay([&created]).unwrap(), log: vec![created], clock: 0, runs: 0 };
    sim.dev_done();
    sim.start_env("staging");
    let at = sim.at();
    sim.err(ReleaseEvent::WorkflowRunStarted {
        run_id: RunId(uuid::Uuid::from_u128(99)),
        target: RunTarget::EnvironmentHook { env: env("staging"), hook: HookKind::OnFail },
        workflow: wf("unlock"),
        steps: vec![],
        at,
    });
    let hook = sim.run(RunTarget::EnvironmentHook { env: env("staging"), hook: HookKind::OnStart }, "lock", &["take"]);
    assert_eq!(sim.env_status("staging"), E::Running);
    sim.step_start(hook, "take");
    sim.step_end(hook, "take", S::Error, &[]);
    assert_eq!(sim.env_status("staging"), E::Failed);
    assert_eq!(sim.state.status(), R::Failed);
    let on_fail = RunTarget::EnvironmentHook { env: env("staging"), hook: HookKind::OnFail };
    sim.run_ok(on_fail, "unlock", &["release"]);
    assert_eq!(sim.env_status("staging"), E::Failed);
    sim.run_ok(RunTarget::ReleaseHook { hook: HookKind::OnFail }, "notify-fail", &["send"]);
    let at = sim.at();
    sim.ok(ReleaseEvent::RetryRequested { actor: "bob".into(), at });
    assert_eq!(sim.env_status("staging"), E::Running);
    let staging = sim.state.environment(&env("staging")).unwrap();
    assert_eq!(staging.current_hook_run(HookKind::OnStart).map(|r| r.status()), Some(S::Pending));
    assert!(staging.current_hook_run(HookKind::OnFail).is_none());
    sim.step_ok(hook, "take");
    sim.commit("staging", &["shop-api-staging"], 'd');
    sim.gate("staging", "shop-api-staging");
    sim.succeed("staging", "shop-api-staging");
    assert_eq!(sim.env_status("staging"), E::Successful);
}

#[test]
fn a_run_that_cannot_start_is_error_and_nothing_new_starts_in_its_environment() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, _) = sim.qa_post_actions();
    let at = sim.at();
    sim.ok(ReleaseEvent::WorkflowRunErrored { run_id: api, error: "cycle in dependsOn".into(), at });
    assert_eq!(sim.state.step_line(&env("qa"), Stage::PostAction, &step("tests")), S::Pending);
    assert_eq!(sim.state.workflow_lines(&env("qa"))[0].status, S::Error);
    assert_eq!(sim.env_status("qa"), E::Failed);
    let err = sim.err(ReleaseEvent::WorkflowRunStarted {
        run_id: RunId(uuid::Uuid::from_u128(77)),
        target: post("qa", "shop-api-qa"),
        workflow: wf("e2e"),
        steps: vec![],
        at,
    });
    assert!(err.to_string().contains("nothing new starts"), "{err}");
}

#[test]
fn snapshot_checks() {
    let mut bad = snapshot();
    bad.environments[3].depends_on.push(env("qa2"));
    assert_eq!(bad.check().unwrap_err(), "environment prod depends on unknown environment qa2");
    let mut bad = snapshot();
    bad.environments[1].is_trigger = true;
    assert_eq!(bad.check().unwrap_err(), "several trigger environments: dev, qa");
    let mut bad = snapshot();
    bad.environments[2].policy = None;
    assert!(ReleaseState::new(release_id(), bad, ts(0)).is_err());
    let snap = snapshot();
    assert_eq!(snap.trigger.short_sha(), "aaaaaaa");
    assert_eq!(snap.trigger.subject(), "feat: faster checkout");
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["timeout"], "1h30m");
    assert_eq!(json["environments"][1]["type"], "non-production");
    assert_eq!(serde_json::from_value::<ReleaseSnapshot>(json).unwrap(), snap);
}

#[test]
fn policy_snapshot_from_resolved_policy() {
    use crate::policy::{FieldSource, Resolved};
    let resolved = ResolvedPolicy {
        action: Resolved {
            value: Action::Pr,
            source: FieldSource::Policy(crate::names::PolicyName::new("p").unwrap()),
        },
        pre_action: None,
        post_action: Some(Resolved { value: wf("e2e"), source: FieldSource::Flow }),
        pull_request: None,
        soak_time: Some(Resolved { value: Duration::from_secs(1800), source: FieldSource::Flow }),
        approval: None,
        auto_rollback: None,
        matched: vec![],
    };
    let snap = PolicySnapshot::from(&resolved);
    assert_eq!(snap.action, Action::Pr);
    assert_eq!(snap.post_action, Some(wf("e2e")));
    assert_eq!(
        snap.sources,
        BTreeMap::from([
            ("action".into(), "policy p".into()),
            ("postAction".into(), "flow".into()),
            ("soakTime".into(), "flow".into())
        ])
    );
    assert_eq!(snap.soak_time, Some(Duration::from_secs(1800)));
    let json = serde_json::to_value(&snap).unwrap();
    assert_eq!(json["soakTime"], "30m", "written as a duration text: {json}");
    assert_eq!(serde_json::from_value::<PolicySnapshot>(json).unwrap(), snap);
}

/// One of each variant, in declaration order.
fn every_event() -> Vec<ReleaseEvent> {
    let at = ts(5);
    let run_id = RunId(uuid::Uuid::from_u128(9));
    let apps = vec![app("shop-api-qa")];
    vec![
        ReleaseEvent::Created { id: release_id(), snapshot: Box::new(snapshot()), at },
        ReleaseEvent::Queued { at },
        ReleaseEvent::Started { at },
        ReleaseEvent::EnvironmentStarted { env: env("qa"), at },
        ReleaseEvent::WorkflowRunStarted {
            run_id,
            target: RunTarget::EnvironmentHook { env: env("prod"), hook: HookKind::OnSuccess },
            workflow: wf("announce"),
            steps: vec![StepSpec { name: step("post"), depends_on: vec![step("prep")], whole_run: false }],
            at,
        },
        ReleaseEvent::StepStarted { run_id, step: step("post"), at },
        ReleaseEvent::StepAdded { run_id, step: step("node"), at },
        ReleaseEvent::StepAwaitingApproval { run_id, step: step("post"), message: "ok?".into(), at },
        ReleaseEvent::StepFinished {
            run_id,
            step: step("post"),
            status: S::Failed,
            exit_code: Some(2),
            error: Some("timed out after 2m".into()),
            outputs: BTreeMap::from([("A".into(), "1".into())]),
            at,
        },
        ReleaseEvent::WorkflowRunErrored { run_id, error: "unknown step".into(), at },
        ReleaseEvent::ActionStarted { env: env("qa"), apps: apps.clone(), action: Action::None, at },
        ReleaseEvent::ActionCommitted { env: env("qa"), apps: apps.clone(), repo: "r".into(), commit: sha('1'), at },
        ReleaseEvent::ActionUnchanged { env: env("qa"), apps: apps.clone(), at },
        ReleaseEvent::PullRequestOpened {
            env: env("qa"),
            apps: apps.clone(),
            url: "u".into(),
            number: 3,
            branch: "b".into(),
            at,
        },
        ReleaseEvent::PullRequestMerged { env: env("qa"), apps: apps.clone(), merge_commit: sha('2'), at },
        ReleaseEvent::ActionFailed { env: env("qa"), apps, error: "closed without merge".into(), at },
        ReleaseEvent::AppObserved {
            env: env("qa"),
            app: app("shop-api-qa"),
            sync: SyncStatus::OutOfSync,
            health: HealthStatus::Progressing,
            revision: Some(sha('3')),
            message: Some("waiting".into()),
            at,
        },
        ReleaseEvent::AppGatePassed { env: env("qa"), app: app("shop-api-qa"), at },
        ReleaseEvent::AppGateFailed {
            env: env("qa"),
            app: app("shop-api-qa"),
            reason: GateFailure::Timeout,
            message: None,
            at,
        },
        ReleaseEvent::AppSucceeded { env: env("qa"), app: app("shop-api-qa"), at },
        ReleaseEvent::IssueRaised {
            issue: Box::new(Issue {
                id: Issue::make_id(Some(&env("qa")), Some(&app("shop-api-qa")), IssueKind::Application, 1),
                env: Some(env("qa")),
                app: Some(app("shop-api-qa")),
                summary: "shop-api-qa Degraded in qa".into(),
                detail: IssueDetail::Application {
                    sync: Some(SyncStatus::Synced),
                    health: Some(HealthStatus::Degraded),
                    reason: "CrashLoopBackOff".into(),
                    observed_at: Some(at),
                    url: None,
                },
                at,
            }),
        },
        ReleaseEvent::ContextMerged { values: BTreeMap::from([("TICKET".into(), "OPS-1".into())]), at },
        ReleaseEvent::TerminateRequested { reason: "timed out after 1h30m".into(), actor: "ferry".into(), at },
        ReleaseEvent::Terminated { at },
        ReleaseEvent::RetryRequested { actor: "bob".into(), at },
        ReleaseEvent::Finished { status: R::Failed, at },
        ReleaseEvent::StepLost { run_id, step: step("post"), reason: "the replica stopped".into(), at },
        ReleaseEvent::EnvironmentFrozen { env: env("prod"), until: ts(900), freezes: vec![freeze("weekend")], at },
        ReleaseEvent::FreezeOverridden { env: env("prod"), actor: "root".into(), reason: "hotfix".into(), at },
        ReleaseEvent::SoakStarted { env: env("qa"), until: ts(1805), at },
        ReleaseEvent::SoakPassed { env: env("qa"), at },
        ReleaseEvent::SoakRelapsed { env: env("qa"), app: app("shop-api-qa"), message: "Degraded".into(), at },
        ReleaseEvent::ApprovalGiven {
            env: env("prod"),
            actor: "carol".into(),
            role: Some("admin".into()),
            comment: Some("looks good".into()),
            at,
        },
        ReleaseEvent::RollbackStarted { env: env("prod"), release: ReleaseId(uuid::Uuid::from_u128(11)), at },
        ReleaseEvent::StepApproved {
            run_id,
            step: step("approve"),
            actor: "carol".into(),
            role: Some("promoter".into()),
            comment: Some("checked the dashboards".into()),
            at,
        },
    ]
}

fn variant_index(event: &ReleaseEvent) -> usize {
    match event {
        ReleaseEvent::Created { .. } => 0,
        ReleaseEvent::Queued { .. } => 1,
        ReleaseEvent::Started { .. } => 2,
        ReleaseEvent::EnvironmentStarted { .. } => 3,
        ReleaseEvent::WorkflowRunStarted { .. } => 4,
        ReleaseEvent::StepStarted { .. } => 5,
        ReleaseEvent::StepAdded { .. } => 6,
        ReleaseEvent::StepAwaitingApproval { .. } => 7,
        ReleaseEvent::StepFinished { .. } => 8,
        ReleaseEvent::WorkflowRunErrored { .. } => 9,
        ReleaseEvent::ActionStarted { .. } => 10,
        ReleaseEvent::ActionCommitted { .. } => 11,
        ReleaseEvent::ActionUnchanged { .. } => 12,
        ReleaseEvent::PullRequestOpened { .. } => 13,
        ReleaseEvent::PullRequestMerged { .. } => 14,
        ReleaseEvent::ActionFailed { .. } => 15,
        ReleaseEvent::AppObserved { .. } => 16,
        ReleaseEvent::AppGatePassed { .. } => 17,
        ReleaseEvent::AppGateFailed { .. } => 18,
        ReleaseEvent::AppSucceeded { .. } => 19,
        ReleaseEvent::IssueRaised { .. } => 20,
        ReleaseEvent::ContextMerged { .. } => 21,
        ReleaseEvent::TerminateRequested { .. } => 22,
        ReleaseEvent::Terminated { .. } => 23,
        ReleaseEvent::RetryRequested { .. } => 24,
        ReleaseEvent::Finished { .. } => 25,
        ReleaseEvent::StepLost { .. } => 26,
        ReleaseEvent::EnvironmentFrozen { .. } => 27,
        ReleaseEvent::FreezeOverridden { .. } => 28,
        ReleaseEvent::SoakStarted { .. } => 29,
        ReleaseEvent::SoakPassed { .. } => 30,
        ReleaseEvent::SoakRelapsed { .. } => 31,
        ReleaseEvent::ApprovalGiven { .. } => 32,
        ReleaseEvent::RollbackStarted { .. } => 33,
        ReleaseEvent::StepApproved { .. } => 34,
    }
}

#[test]
fn every_event_variant_round_trips_through_json() {
    let events = every_event();
    let covered: Vec<usize> = events.iter().map(variant_index).collect();
    assert_eq!(covered, (0..35).collect::<Vec<_>>(), "one of each variant, in order");
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(json["type"], event.name(), "the tag is the event name");
        assert_eq!(serde_json::from_value::<ReleaseEvent>(json.clone()).unwrap(), *event, "{json}");
        assert_eq!(event.at(), ts(5));
        let text = json.to_string();
        assert!(!text.contains("run_id") && !text.contains("exit_code"), "camelCase fields: {text}");
    }
    let state = {
        let (sim, _) = failed_qa();
        sim.state
    };
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<ReleaseState>(&json).unwrap(), state);
}

#[test]
fn issue_ids_and_log_tails() {
    assert_eq!(Issue::make_id(None, None, IssueKind::Workflow, 3), "release:workflow:3");
    assert_eq!(Issue::make_id(Some(&env("qa")), None, IssueKind::Git, 1), "qa:git:1");
    assert_eq!(log_tail(&["a", "b"]), ["a", "b"]);
    let many: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert_eq!(log_tail(&many).len(), LOG_TAIL_LINES);
    assert_eq!(log_tail(&many)[0], "800");
}

/// Every run of a state (applications' runs, environment hooks, release hooks).
fn every_run(state: &ReleaseState) -> Vec<&WorkflowRun> {
    let mut runs: Vec<&WorkflowRun> = Vec::new();
    for env in state.environments() {
        runs.extend(env.apps.iter().flat_map(|a| a.runs.iter()));
        runs.extend(env.hook_runs.iter());
    }
    runs.extend(state.hook_runs().iter());
    runs
}

/// For each event of `log`, `changed_runs` names exactly the runs that differ from before the event.
fn assert_changed_runs_are_exact(log: &[ReleaseEvent]) {
    let mut state = ReleaseState::replay(&log[..1]).unwrap();
    for event in &log[1..] {
        let before = state.clone();
        state.apply(event).unwrap();
        let mut expected: Vec<RunId> =
            every_run(&state).into_iter().filter(|run| !every_run(&before).contains(run)).map(|run| run.id).collect();
        let mut reported: Vec<RunId> =
            state.changed_runs(&before, std::slice::from_ref(event)).iter().map(|r| r.id).collect();
        expected.sort_by_key(|id| id.0);
        reported.sort_by_key(|id| id.0);
        assert_eq!(reported, expected, "after {}", event.name());
    }
}

#[test]
fn changed_runs_are_exactly_the_runs_an_event_changed() {
    // Failure, retry at the point of failure (steps reset, onFail retired), and the resumed run.
    let (mut sim, api) = failed_qa();
    let at = sim.at();
    sim.ok(ReleaseEvent::Finished { status: R::Failed, at });
    let at = sim.at();
    sim.ok(ReleaseEvent::RetryRequested { actor: "bob".into(), at });
    sim.step_ok(api, "tests");
    assert_changed_runs_are_exact(&sim.log);

    // A newer run of a slot retires the earlier one.
    let mut sim = Sim::new();
    sim.dev_done();
    let (old, _) = sim.qa_post_actions();
    sim.step_start(old, "wait-ready");
    sim.run(post("qa", "shop-api-qa"), "e2e", &["wait-ready", "tests"]);
    sim.step_end(old, "wait-ready", S::Terminated, &[]);
    assert_changed_runs_are_exact(&sim.log);

    // Terminate records unfinished steps as stopped.
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, web) = sim.qa_post_actions();
    sim.step_start(api, "wait-ready");
    sim.step_start(web, "wait-ready");
    let at = sim.at();
    sim.ok(ReleaseEvent::TerminateRequested { reason: "bad build".into(), actor: "carol".into(), at });
    sim.step_end(api, "wait-ready", S::Terminated, &[]);
    let at = sim.at();
    sim.ok(ReleaseEvent::Terminated { at });
    assert_changed_runs_are_exact(&sim.log);
}

#[test]
fn steps_learned_while_running_join_the_run_and_roll_up() {
    let mut sim = Sim::new();
    sim.dev_done();
    let (api, _web) = sim.qa_post_actions();
    let at = sim.at();
    sim.ok(ReleaseEvent::StepAdded { run_id: api, step: step("node-a"), at });
    let at = sim.at();
    assert!(matches!(
        sim.err(ReleaseEvent::StepAdded { run_id: api, step: step("node-a"), at }),
        ApplyError::Rejected { .. }
    ));
    let at = sim.at();
    assert!(matches!(
        sim.err(ReleaseEvent::StepAdded { run_id: RunId(uuid::Uuid::from_u128(7)), step: step("x"), at }),
        ApplyError::UnknownRun { .. }
    ));
    sim.step_start(api, "node-a");
    sim.step_end(api, "node-a", S::Failed, &[]);
    let qa = sim.state.environment(&env("qa")).unwrap();
    let run = qa.app(&app("shop-api-qa")).unwrap().current_run(Stage::PostAction).unwrap();
    assert_eq!(run.steps.last().map(|s| (s.name.as_str(), s.status)), Some(("node-a", S::Failed)));
    assert_eq!(run.status(), S::Failed, "an added step counts in the run's roll-up");
    // A finished run takes no new steps.
    let at = sim.at();
    assert!(matches!(
        sim.err(ReleaseEvent::StepAdded { run_id: api, step: step("node-b"), at }),
        ApplyError::Rejected { .. }
    ));
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
    assert_changed_runs_are_exact(&sim.log);
}

#[test]
fn a_workflow_suspended_at_a_node_suspends_its_environment_and_the_release() {
    let mut sim = Sim::new();
    sim.dev_done();
    sim.start_env("qa");
    sim.commit("qa", &["shop-api-qa", "shop-web-qa"], 'c');
    sim.gate("qa", "shop-api-qa");
    sim.gate("qa", "shop-web-qa");
    sim.run_ok(post("qa", "shop-web-qa"), "e2e", &["tests"]);
    sim.succeed("qa", "shop-web-qa");
    // An Argo post-action: one step standing for the whole workflow, its nodes added as Argo reports them.
    let at = sim.at();
    let run_id = RunId(uuid::Uuid::from_u128(0x0190_0000_0000_7000_9000_0000_0000_0fff));
    let steps = vec![StepSpec { name: step("e2e"), depends_on: vec![], whole_run: true }];
    sim.ok(ReleaseEvent::WorkflowRunStarted {
        run_id,
        target: post("qa", "shop-api-qa"),
        workflow: wf("e2e"),
        steps,
        at,
    });
    sim.step_start(run_id, "e2e");
    for node in ["deploy-check", "approve"] {
        let at = sim.at();
        sim.ok(ReleaseEvent::StepAdded { run_id, step: step(node), at });
    }
    sim.step_start(run_id, "deploy-check");
    assert_eq!(sim.env_status("qa"), E::Running, "a node runs");
    sim.step_ok(run_id, "deploy-check");
    let at = sim.at();
    let message = "the Argo workflow ci/x is suspended at node approve".to_owned();
    sim.ok(ReleaseEvent::StepAwaitingApproval { run_id, step: step("approve"), message, at });
    let qa = sim.state.environment(&env("qa")).unwrap();
    let run = qa.app(&app("shop-api-qa")).unwrap().current_run(Stage::PostAction).unwrap();
    assert_eq!(run.step(&step("e2e")).map(|s| (s.status, s.whole_run)), Some((S::Running, true)));
    assert!(run.is_waiting_for_approval(), "the workflow's own step does no work of its own");
    assert_eq!(sim.env_status("qa"), E::Suspended, "SPEC §4: a workflow waiting on a manual approval step");
    assert_eq!(sim.state.status(), R::Suspended, "nothing else runs");
    assert_eq!(sim.state.counters().running, 1, "Suspended counts with Running");
    // Who approved, their role and why are kept on the step and on the card's step line.
    let at = sim.at();
    let approved = |step_name: &str| ReleaseEvent::StepApproved {
        run_id,
        step: step(step_name),
        actor: "carol".into(),
        role: Some("promoter".into()),
        comment: Some("dashboards are green".into()),
        at,
    };
    let err = sim.err(approved("deploy-check"));
    assert_eq!(err.to_string(), "StepApproved is not accepted: step deploy-check does not wait for approval (Success)");
    sim.ok(approved("approve"));
    let lines = sim.state.workflow_lines(&env("qa"));
    let line = lines.iter().flat_map(|l| &l.steps).find(|s| s.name == step("approve")).unwrap();
    let given = line.approved.as_ref().unwrap();
    assert_eq!((given.actor.as_str(), given.comment.as_deref()), ("carol", Some("dashboards are green")));
    sim.step_ok(run_id, "approve");
    assert_eq!(sim.env_status("qa"), E::Running, "resumed: the workflow runs again");
    // The flag is kept in the log (and left out of the JSON when false).
    let started =
        sim.log.iter().find(|e| matches!(e, ReleaseEvent::WorkflowRunStarted { run_id: r, .. } if *r == run_id));
    let json = serde_json::to_value(started.unwrap()).unwrap();
    assert_eq!(json["steps"][0]["wholeRun"], true);
    let plain = serde_json::to_value(StepSpec { name: step("x"), depends_on: vec![], whole_run: false }).unwrap();
    assert!(plain.get("wholeRun").is_none(), "{plain}");
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
}
// ------------------------------------------------------------------------------ freeze windows

fn freeze(name: &str) -> crate::names::FreezeName {
    crate::names::FreezeName::new(name).unwrap()
}

#[test]
fn a_frozen_environment_is_suspended_until_it_starts_and_its_wait_extends_the_timeout() {
    let mut sim = Sim::new();
    sim.dev_done();
    let deadline = sim.state.deadline().unwrap();
    let at = sim.at();
    let held_since = at;
    let frozen = |until: i64, at| ReleaseEvent::EnvironmentFrozen {
        env: env("qa"),
        until: ts(until),
        freezes: vec![freeze("weekend")],
        at,
    };
    sim.ok(frozen(1_000, at));
    assert_eq!(sim.env_status("qa"), E::Suspended);
    assert_eq!(sim.state.status(), R::Suspended, "nothing else runs: the release waits");
    assert_eq!(sim.state.deadline(), None, "no timeout while a freeze holds an environment");
    assert_eq!(sim.state.wake_at(), Some(ts(1_000)));
    let reason = sim.state.reason().unwrap();
    assert!(reason.starts_with("frozen until ") && reason.ends_with("(qa: weekend)"), "{reason}");
    // The same hold again is refused (the planner must not loop); a longer one is recorded.
    let at = sim.at();
    sim.err(frozen(1_000, at));
    sim.ok(frozen(2_000, at));
    // An environment that started cannot be frozen; one ready to start after the window starts.
    sim.clock = 2_000;
    sim.start_env("qa");
    assert_eq!(sim.state.environment(&env("qa")).unwrap().frozen, None);
    assert_eq!(sim.state.wake_at(), None);
    let waited = ts(2_001).duration_since(held_since);
    assert_eq!(sim.state.deadline(), deadline.checked_add(waited).ok(), "the wait does not count against the timeout");
    let at = sim.at();
    sim.err(frozen(5_000, at));
}

#[test]
fn an_override_needs_a_frozen_environment_and_a_reason_and_holds_for_good() {
    let mut sim = Sim::new();
    sim.dev_done();
    let at = sim.at();
    let overridden = |reason: &str, at| ReleaseEvent::FreezeOverridden {
        env: env("qa"),
        actor: "root".into(),
        reason: reason.into(),
        at,
    };
    let err = sim.err(overridden("hotfix", at));
    assert!(err.to_string().contains("environment qa is not frozen"), "{err}");
    sim.ok(ReleaseEvent::EnvironmentFrozen { env: env("qa"), until: ts(900), freezes: vec![freeze("xmas")], at });
    let at = sim.at();
    sim.err(overridden("  ", at));
    sim.ok(overridden("hotfix for INC-7", at));
    assert_eq!(sim.env_status("qa"), E::Pending);
    let state = sim.state.environment(&env("qa")).unwrap();
    assert_eq!(state.freeze_override.as_ref().map(|o| o.actor.as_str()), Some("root"));
    let at = sim.at();
    let err =
        sim.err(ReleaseEvent::EnvironmentFrozen { env: env("qa"), until: ts(900), freezes: vec![freeze("xmas")], at });
    assert!(err.to_string().contains("were overridden"), "{err}");
    // Replaying the log gives the same state.
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
}

#[test]
fn a_hold_waits_for_the_dependencies() {
    let mut sim = Sim::new();
    sim.started();
    let at = sim.at();
    let err =
        sim.err(ReleaseEvent::EnvironmentFrozen { env: env("qa"), until: ts(900), freezes: vec![freeze("x")], at });
    assert!(err.to_string().contains("qa depends on dev"), "{err}");
}

// ------------------------------------------------------------------------------------- soak time and approvals

/// The standard snapshot with `edit` applied to staging's policy.
fn staging_with(edit: impl FnOnce(&mut PolicySnapshot)) -> ReleaseSnapshot {
    let mut snap = snapshot();
    let staging = snap.environments.iter_mut().find(|e| e.name == env("staging")).unwrap();
    edit(staging.policy.as_mut().unwrap());
    snap
}

fn soak_sim() -> Sim {
    let mut sim = Sim::with(staging_with(|p| p.soak_time = Some(Duration::from_secs(1800))));
    sim.dev_done();
    sim.start_env("staging");
    sim.staging_done();
    sim
}

#[test]
fn staging_soaks_after_its_applications_succeed_and_only_then_is_successful() {
    let mut sim = soak_sim();
    assert_eq!(sim.env_status("staging"), E::Running, "the soak time has not run yet");
    assert_eq!(sim.state.wake_at(), None, "nothing to wake for before the soak is recorded");
    let at = sim.at();
    let wrong = sim.err(ReleaseEvent::SoakStarted { env: env("staging"), until: ts(sim.clock + 60), at });
    assert!(wrong.to_string().contains("ends 30m after it starts"), "{wrong}");
    sim.ok(ReleaseEvent::SoakStarted { env: env("staging"), until: ts(sim.clock + 1800), at });
    let until = ts(sim.clock + 1800);
    assert_eq!(sim.state.wake_at(), Some(until), "the soak's end wakes the release");
    assert_eq!(sim.env_status("staging"), E::Running);
    let early = sim.err(ReleaseEvent::SoakPassed { env: env("staging"), at: ts(sim.clock + 1799) });
    assert!(early.to_string().contains("runs until"), "{early}");
    let again = sim.err(ReleaseEvent::SoakStarted { env: env("staging"), until, at });
    assert!(again.to_string().contains("already started"), "{again}");
    sim.ok(ReleaseEvent::SoakPassed { env: env("staging"), at: until });
    assert_eq!(sim.env_status("staging"), E::Successful);
    assert_eq!(sim.state.environment(&env("staging")).unwrap().finished_at, Some(until));
    assert_eq!(sim.state.wake_at(), None);
    let late = sim.err(ReleaseEvent::SoakRelapsed {
        env: env("staging"),
        app: app("shop-api-staging"),
        message: "x".into(),
        at: until,
    });
    assert!(late.to_string().contains("passed"), "{late}");
    // An environment without a soak time has none to record.
    let at = sim.at();
    let none = sim.err(ReleaseEvent::SoakStarted { env: env("dev"), until: at, at });
    assert!(none.to_string().contains("no soak time"), "{none}");
}

#[test]
fn a_relapse_inside_the_soak_fails_the_environment_and_a_retry_soaks_again() {
    let mut sim = soak_sim();
    let at = sim.at();
    sim.ok(ReleaseEvent::SoakStarted { env: env("staging"), until: ts(sim.clock + 1800), at });
    let at = sim.at();
    let unknown =
        sim.err(ReleaseEvent::SoakRelapsed { env: env("staging"), app: app("nope"), message: "x".into(), at });
    assert!(matches!(unknown, ApplyError::UnknownApplication { .. }), "{unknown}");
    sim.ok(ReleaseEvent::SoakRelapsed {
        env: env("staging"),
        app: app("shop-api-staging"),
        message: "Synced, Degraded: CrashLoopBackOff".into(),
        at,
    });
    assert_eq!(sim.env_status("staging"), E::Failed);
    assert_eq!(sim.state.status(), R::Failed);
    assert_eq!(sim.state.wake_at(), None, "a failed soak wakes nothing");
    let passed = sim.err(ReleaseEvent::SoakPassed { env: env("staging"), at: ts(sim.clock + 1800) });
    assert!(passed.to_string().contains("failed"), "{passed}");
    let at = sim.at();
    sim.ok(ReleaseEvent::RetryRequested { actor: "bob".into(), at });
    assert_eq!(sim.state.environment(&env("staging")).unwrap().soak, None, "the soak starts over");
    assert_eq!(sim.env_status("staging"), E::Running);
    let at = sim.at();
    sim.ok(ReleaseEvent::SoakStarted { env: env("staging"), until: ts(sim.clock + 1800), at });
    let replayed = ReleaseState::replay(&sim.log).unwrap();
    assert_eq!(replayed, sim.state, "the soak is in the log: a restart keeps its deadline");
    assert_eq!(replayed.wake_at(), Some(ts(sim.clock + 1800)));
}

#[test]
fn the_on_success_hook_waits_for_the_soak() {
    let mut snap = snapshot();
    let prod = snap.environments.iter_mut().find(|e| e.name == env("prod")).unwrap();
    prod.policy.as_mut().unwrap().soak_time = Some(Duration::from_secs(60));
    let mut sim = Sim::with(snap);
    sim.dev_done();
    let (api, web) = sim.qa_post_actions();
    for run in [api, web] {
        sim.step_ok(run, "wait-ready");
        sim.step_ok(run, "tests");
    }
    sim.succeed("qa", "shop-api-qa");
    sim.succeed("qa", "shop-web-qa");
    sim.staging_done();
    sim.start_env("prod");
    sim.run_ok(RunTarget::PreAction { env: env("prod"), app: app("shop-api-prod") }, "change-freeze-check", &["check"]);
    let apps = vec![app("shop-api-prod")];
    let at = sim.at();
    sim.ok(ReleaseEvent::ActionStarted { env: env("prod"), apps: apps.clone(), action: Action::Pr, at });
    let at = sim.at();
    sim.ok(ReleaseEvent::PullRequestOpened {
        env: env("prod"),
        apps: apps.clone(),
        url: "u".into(),
        number: 1,
        branch: "b".into(),
        at,
    });
    let at = sim.at();
    sim.ok(ReleaseEvent::PullRequestMerged { env: env("prod"), apps, merge_commit: sha('e'), at });
    sim.observe("prod", "shop-api-prod", HealthStatus::Healthy);
    sim.succeed("prod", "shop-api-prod");
    let at = sim.at();
    let hook = RunTarget::EnvironmentHook { env: env("prod"), hook: HookKind::OnSuccess };
    let early = sim.err(ReleaseEvent::WorkflowRunStarted {
        run_id: RunId(uuid::Uuid::from_u128(77)),
        target: hook.clone(),
        workflow: wf("announce"),
        steps: vec![],
        at,
    });
    assert!(early.to_string().contains("onSuccess hook cannot run"), "{early}");
    sim.ok(ReleaseEvent::SoakStarted { env: env("prod"), until: ts(sim.clock + 60), at });
    sim.ok(ReleaseEvent::SoakPassed { env: env("prod"), at: ts(sim.clock + 60) });
    assert_eq!(sim.env_status("prod"), E::Running, "its onSuccess hook is due");
    sim.run_ok(hook, "announce", &["post"]);
    assert_eq!(sim.env_status("prod"), E::Successful);
}

fn approval_sim(required: u32, allow_self: bool) -> Sim {
    let mut sim = Sim::with(staging_with(|p| {
        p.approval = Some(crate::resources::ApprovalPolicy {
            required,
            roles: vec!["admin".into()],
            tokens: vec!["carol".into()],
            allow_self_approval: allow_self,
        })
    }));
    sim.dev_done();
    sim.start_env("staging");
    sim
}

fn approve(sim: &mut Sim, actor: &str, role: &str) -> Result<(), ApplyError> {
    let at = sim.at();
    let event = ReleaseEvent::ApprovalGiven {
        env: env("staging"),
        actor: actor.into(),
        role: Some(role.into()),
        comment: Some(format!("ok from {actor}")),
        at,
    };
    let before = sim.state.clone();
    match sim.state.apply(&event) {
        Ok(()) => {
            sim.log.push(event);
            Ok(())
        }
        Err(e) => {
            assert_eq!(sim.state, before, "a rejected approval changed the state");
            Err(e)
        }
    }
}

#[test]
fn an_environment_waits_suspended_for_distinct_eligible_approvers_before_its_action() {
    let mut sim = approval_sim(2, false);
    assert_eq!(sim.env_status("staging"), E::Suspended);
    assert_eq!(sim.state.status(), R::Suspended);
    assert_eq!(sim.state.reason().as_deref(), Some("awaiting approval in staging (0 of 2)"));
    let at = sim.at();
    let early = sim.err(ReleaseEvent::ActionStarted {
        env: env("staging"),
        apps: vec![app("shop-api-staging")],
        action: Action::Commit,
        at,
    });
    assert!(early.to_string().contains("2 more approval"), "{early}");
    // The initiator (alice) may not approve, even as an admin; a promoter that is not named neither.
    let own = approve(&mut sim, "alice", "admin").unwrap_err();
    assert!(own.to_string().contains("initiated this release"), "{own}");
    let stranger = approve(&mut sim, "bob", "promoter").unwrap_err();
    assert!(stranger.to_string().contains("role admin or be token carol"), "{stranger}");
    // A named token whatever its role; the same actor twice counts once.
    approve(&mut sim, "carol", "promoter").unwrap();
    let twice = approve(&mut sim, "carol", "promoter").unwrap_err();
    assert!(twice.to_string().contains("already approved"), "{twice}");
    assert_eq!(sim.state.approvals_missing_at(2), 1);
    assert_eq!(sim.state.reason().as_deref(), Some("awaiting approval in staging (1 of 2)"));
    assert_eq!(sim.env_status("staging"), E::Suspended);
    approve(&mut sim, "dave", "admin").unwrap();
    assert_eq!(sim.env_status("staging"), E::Running, "the action may start");
    let approvals = &sim.state.environment(&env("staging")).unwrap().approvals;
    let who: Vec<(&str, Option<&str>)> = approvals.iter().map(|a| (a.actor.as_str(), a.comment.as_deref())).collect();
    assert_eq!(who, [("carol", Some("ok from carol")), ("dave", Some("ok from dave"))]);
    let more = approve(&mut sim, "erin", "admin").unwrap_err();
    assert!(more.to_string().contains("waits for no approval"), "{more}");
    sim.staging_done();
    assert_eq!(sim.env_status("staging"), E::Successful);
    assert_eq!(ReleaseState::replay(&sim.log).unwrap(), sim.state);
}

#[test]
fn self_approval_when_allowed_and_approvals_where_none_are_asked() {
    let mut sim = approval_sim(1, true);
    approve(&mut sim, "alice", "admin").unwrap();
    assert_eq!(sim.env_status("staging"), E::Running);
    let at = sim.at();
    let qa =
        sim.err(ReleaseEvent::ApprovalGiven { env: env("qa"), actor: "carol".into(), role: None, comment: None, at });
    assert!(qa.to_string().contains("has not started") || qa.to_string().contains("asks for no approvals"), "{qa}");
    // An automatic release's initiator is its commit author.
    assert!(crate::resources::is_initiator("Alice", "Alice · ferry (auto)"));
    assert!(!crate::resources::is_initiator("ferry", "Alice · ferry (auto)"));
}

// ------------------------------------------------------------------------------------- automatic rollback

/// Staging (soak time, `autoRollback` as given, flow `flow`) soaking after its action landed.
fn rollback_sim(auto_rollback: bool, flow: &str) -> Sim {
    let mut snap = staging_with(|p| {
        p.soak_time = Some(Duration::from_secs(1800));
        p.auto_rollback = auto_rollback;
    });
    snap.flow = flow.to_owned();
    let mut sim = Sim::with(snap);
    sim.dev_done();
    sim.start_env("staging");
    sim.staging_done();
    let at = sim.at();
    sim.ok(ReleaseEvent::SoakStarted { env: env("staging"), until: ts(sim.clock + 1800), at });
    sim
}

fn relapse(sim: &mut Sim) {
    let at = sim.at();
    sim.ok(ReleaseEvent::SoakRelapsed { env: env("staging"), app: app("shop-api-staging"), message: "x".into(), at });
}

#[test]
fn a_rollback_is_recorded_once_for_an_environment_that_failed_after_its_action() {
    let rollback = ReleaseId(uuid::Uuid::from_u128(77));
    let started = |sim: &mut Sim| {
        let at = sim.at();
        ReleaseEvent::RollbackStarted { env: env("staging"), release: rollback, at }
    };
    let mut sim = rollback_sim(true, "standard");
    let early = started(&mut sim);
    let early = sim.err(early);
    assert!(early.to_string().contains("not due for an automatic rollback"), "{early}");
    relapse(&mut sim);
    let staging = sim.state.snapshot().environments.iter().position(|e| e.name == env("staging")).unwrap();
    assert!(sim.state.rollback_due_at(staging), "staging failed after its action");
    let event = started(&mut sim);
    sim.ok(event);
    assert_eq!(sim.state.rollbacks().collect::<Vec<_>>(), [(&env("staging"), rollback)]);
    let again = started(&mut sim);
    let again = sim.err(again);
    assert!(again.to_string().contains("not due"), "once per release and environment: {again}");

    // Without autoRollback, or in a rollback release, nothing is due.
    for (auto, flow) in [(false, "standard"), (true, crate::dora::ROLLBACK_FLOW)] {
        let mut sim = rollback_sim(auto, flow);
        relapse(&mut sim);
        let event = started(&mut sim);
        let refused = sim.err(event);
        assert!(refused.to_string().contains("not due"), "{auto} {flow}: {refused}");
    }
}
