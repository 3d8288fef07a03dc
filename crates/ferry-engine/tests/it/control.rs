//! Release control (SPEC §3.5–§3.9): terminate, retry, flow timeout, concurrency, supersession,
//! hooks and promotion context, approvals. Scripts signal the test through files they create; the
//! test waits on committed events, never on time.

use std::path::{Path, PathBuf};

use ferry_model::freeze::{Freeze, FreezeSource, Window};
use ferry_model::names::FreezeName;
use ferry_store::Store;
use serde_json::Value;

use crate::fixture::*;

const ENVS: [&str; 3] = ["dev", "qa", "prod"];

/// A product with two components in dev → qa → prod, and workflows given as YAML.
struct Setup {
    h: Harness,
    repo: Repo,
    scratch: PathBuf,
}

fn files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for comp in ["api", "web"] {
        for env in ENVS {
            let tag = if env == "dev" { "2.0.0" } else { "1.0.0" };
            files.push((format!("apps/{comp}/{env}/values.yaml"), values(tag, env)));
        }
    }
    files
}

/// `product_extra` goes into the Product spec, `flow_extra` into the flow spec, `qa` and `prod` are the
/// steps' inline policies, `workflows` are extra YAML documents; `{S}` stands for the scratch directory
/// and `health_qa` is the qa applications' health command.
struct Spec<'a> {
    product_extra: &'a str,
    flow_extra: &'a str,
    qa: &'a str,
    prod: &'a str,
    workflows: &'a str,
    health_qa: &'a str,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec { product_extra: "", flow_extra: "", qa: "{}", prod: "{}", workflows: "", health_qa: "true" }
    }
}

/// Workflow `gate`: one step `wait` that runs `record` (shell, `{S}` the scratch directory), then waits
/// for the file `{S}/go`.
fn gate_workflow(record: &str) -> String {
    format!(
        "apiVersion: ferry/v1\nkind: Workflow\nmetadata: {{ name: gate }}\nspec:\n  steps:\n    - name: wait\n      run: {record}{}\n",
        wait_file(Path::new("{S}/go"))
    )
}

/// A product of concurrency `mode` whose qa runs [`gate_workflow`]`(record)` before its action.
async fn gated(mode: &str, record: &str) -> Setup {
    let product_extra = format!("  concurrency: {mode}");
    let workflows = gate_workflow(record);
    setup(Spec { product_extra: &product_extra, qa: "{ preAction: gate }", workflows: &workflows, ..Spec::default() })
        .await
}

async fn setup(spec: Spec<'_>) -> Setup {
    setup_with(spec, |_| {}).await
}

async fn setup_with(spec: Spec<'_>, tune: impl FnOnce(&mut ferry_engine::EngineConfig)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let files = files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let h = Harness::start_tuned(dir, tune).await;
    let url = repo.url();
    let mut yaml = String::new();
    for env in ENVS {
        let ty = if env == "prod" { "production" } else { "non-production" };
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: {ty} }}\n---\n"
        ));
        for comp in ["api", "web"] {
            let health = if env == "qa" { spec.health_qa } else { "true" };
            yaml.push_str(&format!(
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-{comp}-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: {comp}\n  source: {{ repoURL: \"{url}\", path: apps/{comp}/{env}, targetRevision: main }}\n  status:\n    exec: {{ health: \"{health}\", healthTimeout: 1s }}\n---\n"
            ));
        }
    }
    yaml.push_str(&format!(
        r#"apiVersion: ferry/v1
kind: Product
metadata: {{ name: shop }}
spec:
  promotionTemplate:
    versionSource: {{ file: values.yaml, jsonPath: $.image.tag }}
    promotion:
      values.yaml: {{ jsonPaths: ["$.image.tag"] }}
  promotionFlows: [ {{ name: standard }} ]
{product_extra}
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: {{ name: standard }}
spec:
  triggerEnvironment: dev
  steps:
    - {{ environment: qa, dependsOn: [dev], policy: {qa} }}
    - {{ environment: prod, dependsOn: [qa], policy: {prod} }}
{flow_extra}
---
{workflows}
"#,
        product_extra = spec.product_extra,
        flow_extra = spec.flow_extra,
        qa = spec.qa,
        prod = spec.prod,
        workflows = spec.workflows,
    ));
    let yaml = yaml.replace("{S}", &scratch.display().to_string());
    h.apply(&yaml).await;
    Setup { h, repo, scratch }
}

impl Setup {
    fn file(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }

    /// Waits for the first event committed after this call that matches (subscribes at once).
    fn event<F: Fn(&ferry_store::StoredEvent) -> bool>(
        &self,
        pred: F,
    ) -> impl std::future::Future<Output = ferry_store::StoredEvent> + use<F> {
        let wait = self.events(1, pred);
        async move { wait.await.remove(0) }
    }

    /// Waits for the first `n` events committed after this call that match (subscribes at once).
    fn events<F: Fn(&ferry_store::StoredEvent) -> bool>(
        &self,
        n: usize,
        pred: F,
    ) -> impl std::future::Future<Output = Vec<ferry_store::StoredEvent>> + use<F> {
        let mut events = self.h.store.subscribe();
        async move {
            let wait = async {
                let mut found = Vec::new();
                loop {
                    match events.recv().await {
                        Ok(e) if pred(&e) => {
                            found.push((*e).clone());
                            if found.len() == n {
                                return found;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => panic!("event stream: {e}"),
                    }
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(60), wait)
                .await
                .expect("the expected events never came")
        }
    }

    /// Creates a named pipe: a script that writes to it blocks until the test reads it.
    fn fifo(&self, name: &str) -> PathBuf {
        let path = self.file(name);
        let status = std::process::Command::new("mkfifo").arg(&path).status().unwrap();
        assert!(status.success());
        path
    }

    /// Reads a named pipe: returns once a script wrote to it.
    async fn signal(&self, path: PathBuf) -> String {
        let fifo = path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap());
        match tokio::time::timeout(std::time::Duration::from_secs(60), read).await {
            Ok(text) => text.unwrap(),
            Err(_) => {
                // Release the blocked reader (a thread the runtime would wait for on exit, hanging the
                // test binary) by opening the pipe for writing once, then fail.
                use std::os::unix::fs::OpenOptionsExt;
                let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc_nonblock()).open(&path);
                panic!("no signal from the script through {}", path.display());
            }
        }
    }

    async fn view(&self, id: &str) -> Value {
        self.h.view(id).await
    }
}

fn step_started(id: &str, step: &'static str) -> impl Fn(&ferry_store::StoredEvent) -> bool {
    let id = id.to_owned();
    move |e| e.release_id == id && e.body["type"] == "StepStarted" && e.body["step"] == step
}

fn pid_alive(pid: i32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// `O_NONBLOCK` (Linux): opening a pipe for writing without waiting for a reader.
fn libc_nonblock() -> i32 {
    0o4000
}

fn wait_file(path: &Path) -> String {
    // Gives up once the test's directory is gone, so a step left running never outlives the test.
    let dir = path.parent().unwrap_or(Path::new("/"));
    format!("while [ ! -f '{}' ]; do [ -d '{}' ] || exit 1; sleep 0.05; done", path.display(), dir.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_stops_the_whole_process_tree_and_runs_on_fail_hooks() {
    let workflows = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: long-check }
spec:
  steps:
    - name: check
      run: |
        sleep 1000 &
        echo $! > "{S}/child-$APP_NAME"
        echo $$ > "{S}/shell-$APP_NAME"
        echo ready > "{S}/ready-$APP_NAME"
        wait
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: on-fail }
spec:
  steps:
    - name: record
      run: printf '%s' "$ERROR_MESSAGE" > "{S}/on-fail-$ENVIRONMENT"
"#;
    let s = setup(Spec {
        qa: "{ preAction: long-check }",
        flow_extra: "  hooks: { onFail: on-fail }",
        workflows,
        ..Spec::default()
    })
    .await;
    let (api, web) = (s.fifo("ready-shop-api-qa"), s.fifo("ready-shop-web-qa"));
    let id = s.h.promote(None, None, None).await;
    // Both applications' check steps run and have written their pids.
    s.signal(api).await;
    s.signal(web).await;
    let pids: Vec<i32> = ["child-shop-api-qa", "child-shop-web-qa", "shell-shop-api-qa", "shell-shop-web-qa"]
        .iter()
        .map(|f| s.read(f).trim().parse().unwrap())
        .collect();
    assert!(pids.iter().all(|p| pid_alive(*p)));
    s.h.engine.terminate(id.parse().unwrap(), "bad build".into(), "alice".into()).await.unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    assert_eq!(view["reason"], "bad build");
    assert_eq!(view["terminate"]["actor"], "alice");
    assert_eq!(env_of(&view, "qa")["status"], "Terminated");
    assert_eq!(env_of(&view, "prod")["status"], "Pending");
    assert_eq!(env_of(&view, "dev")["status"], "Successful");
    for pid in pids {
        assert!(!pid_alive(pid), "process {pid} of the terminated step is still alive");
    }
    assert_eq!(s.read("on-fail-"), "bad build", "the release onFail hook got the reason");
    let pre = env_of(&view, "qa")["workflows"][0].clone();
    assert_eq!(pre["steps"][0]["status"], "Terminated");
    // A finished release cannot be terminated.
    let again = s.h.engine.terminate(id.parse().unwrap(), "again".into(), "alice".into()).await.unwrap_err();
    let ferry_engine::EngineError::Conflict(message) = again else { panic!("{again:?}") };
    assert!(
        message.ends_with("is Terminated; only Queued, Running or Suspended releases can be terminated"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_again_while_the_steps_are_stopping_is_a_conflict() {
    // The check step takes its time to stop: on SIGTERM it tells the test, then waits for the file `go`.
    let workflows = format!(
        r#"apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: slow-stop }}
spec:
  steps:
    - name: check
      run: |
        trap 'echo stopping > "{{S}}/term-$APP_NAME"; {wait}; exit 1' TERM
        echo ready > "{{S}}/ready-$APP_NAME"
        while [ -d "{{S}}" ]; do sleep 0.05; done
"#,
        wait = wait_file(Path::new("{S}/go"))
    );
    // A kill grace far longer than the test: only the step itself ends its stopping.
    let s = setup_with(Spec { qa: "{ preAction: slow-stop }", workflows: &workflows, ..Spec::default() }, |c| {
        c.kill_grace = std::time::Duration::from_secs(600)
    })
    .await;
    let ready = [s.fifo("ready-shop-api-qa"), s.fifo("ready-shop-web-qa")];
    let stopping = [s.fifo("term-shop-api-qa"), s.fifo("term-shop-web-qa")];
    let id = s.h.promote(None, None, None).await;
    for fifo in ready {
        s.signal(fifo).await;
    }
    s.h.engine.terminate(id.parse().unwrap(), "bad build".into(), "alice".into()).await.unwrap();
    for fifo in stopping {
        s.signal(fifo).await;
    }
    // Both steps got SIGTERM and are still stopping: the release is Terminating.
    assert_eq!(s.view(&id).await["status"], "Terminating");
    let again = s.h.engine.terminate(id.parse().unwrap(), "again".into(), "bob".into()).await.unwrap_err();
    let ferry_engine::EngineError::Conflict(message) = again else { panic!("{again:?}") };
    assert_eq!(message, format!("release {id} is already being terminated"));
    std::fs::write(s.file("go"), "").unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    assert_eq!((&view["reason"], &view["terminate"]["actor"]), (&Value::from("bad build"), &Value::from("alice")));
    let requests = s.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    assert_eq!(requests.iter().filter(|e| e.body["type"] == "TerminateRequested").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_during_a_retry_wait_stops_the_step_without_another_attempt() {
    // Fails every time; the runner waits 1 s, 2 s, 4 s, … between attempts.
    let workflows = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: flaky }
spec:
  steps:
    - name: check
      retries: 5
      run: echo "attempt" >> "{S}/attempts-$APP_NAME"; exit 1
"#;
    let s = setup(Spec { qa: "{ preAction: flaky }", workflows, ..Spec::default() }).await;
    let id = s.h.promote(None, None, None).await;
    // Wait until both applications' steps wait 4 s before their fourth attempt.
    let waiting = "; retrying in 4s]";
    let mut seen = false;
    for _ in 0..1200 {
        let logs = s.h.store.logs(ferry_store::LogQuery::release(id.parse().unwrap(), 1000)).await.unwrap();
        if logs.iter().filter(|l| l.line.text.ends_with(waiting)).count() == 2 {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(seen, "the steps never waited for a fourth attempt");
    s.h.engine.terminate(id.parse().unwrap(), "stop retrying".into(), "alice".into()).await.unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    assert_eq!(env_of(&view, "qa")["status"], "Terminated");
    for app in ["shop-api-qa", "shop-web-qa"] {
        assert_eq!(s.read(&format!("attempts-{app}")).lines().count(), 3, "{app}: no attempt after terminate");
    }
    assert_eq!(env_of(&view, "qa")["workflows"][0]["steps"][0]["status"], "Terminated");
    let events = s.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let started = events.iter().filter(|e| e.body["type"] == "StepStarted" && e.body["step"] == "check").count();
    assert_eq!(started, 6, "three attempts per application");
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e.body["type"] == "StepFinished" && e.body["step"] == "check")
        .map(|e| &e.body["status"])
        .collect();
    assert_eq!(finished, [&Value::from("Terminated"), &Value::from("Terminated")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_is_refused_while_work_of_the_failed_release_still_runs() {
    // In qa, web's post-action starts and runs until the file `go` exists; api's fails once web's has
    // started (so web's is running whatever order the engine starts them in).
    let workflows = format!(
        r#"apiVersion: ferry/v1
kind: Workflow
metadata: {{ name: checks }}
spec:
  steps:
    - name: verify
      run: |
        if [ "$APP_NAME" = shop-api-qa ]; then {web_started}; exit 1; fi
        touch "{{S}}/web-started"
        echo running > "{{S}}/running"
        {wait}
"#,
        web_started = wait_file(Path::new("{S}/web-started")),
        wait = wait_file(Path::new("{S}/go"))
    );
    let s = setup(Spec { qa: "{ postAction: checks }", workflows: &workflows, ..Spec::default() }).await;
    let running = s.fifo("running");
    let failed = s.event(|e| e.body["type"] == "StepFinished" && e.body["status"] == "Failed");
    let id = s.h.promote(None, None, None).await;
    s.signal(running).await;
    failed.await;
    let view = s.view(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let busy = s.h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap_err();
    let ferry_engine::EngineError::Conflict(message) = busy else { panic!("{busy:?}") };
    assert_eq!(message, format!("release {id} still has work running; retry once everything in it has stopped"));
    std::fs::write(s.file("go"), "").unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(view["retries"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_releases_start_one_after_another_in_the_order_they_were_created() {
    let s = gated("queue", r#"echo "$RELEASE_ID" >> "{S}/order-$APP_NAME"; "#).await;
    let first = s.h.promote(None, None, None).await;
    let second = s.h.promote(None, None, None).await;
    let third = s.h.promote(None, None, None).await;
    assert_eq!(s.view(&first).await["status"], "Running");
    assert_eq!(s.view(&second).await["status"], "Queued");
    assert_eq!(s.view(&third).await["status"], "Queued");
    std::fs::write(s.file("go"), "").unwrap();
    let views = [s.h.wait_final(&first).await, s.h.wait_final(&second).await, s.h.wait_final(&third).await];
    for view in &views {
        assert_eq!(view["status"], "Succeeded", "{view:#}");
    }
    // Each started after the one before it finished, and the steps ran in that order.
    for pair in views.windows(2) {
        // Compared as instants: their texts drop trailing zeros of the fraction.
        let instant = |v: &serde_json::Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        let (before, after) = (instant(&pair[0]["finishedAt"]), instant(&pair[1]["startedAt"]));
        assert!(before <= after, "{} started at {after}, before {} finished at {before}", pair[1]["id"], pair[0]["id"]);
    }
    for app in ["shop-api-qa", "shop-web-qa"] {
        assert_eq!(s.read(&format!("order-{app}")).lines().collect::<Vec<_>>(), [&first, &second, &third], "{app}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_resumes_at_the_failed_step_with_the_same_release() {
    let workflows = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: checks }
spec:
  steps:
    - name: prepare
      run: echo "prepared $APP_NAME" >> "{S}/prepare-$APP_NAME"; echo "TOKEN=t-$APP_NAME" >> "$FERRY_OUTPUT"
    - name: verify
      run: |
        echo "verify $APP_NAME with $TOKEN" >> "{S}/verify-$APP_NAME"
        test -f "{S}/fixed"
    - name: report
      run: echo "report $APP_NAME" >> "{S}/report-$APP_NAME"
"#;
    let s = setup(Spec { qa: "{ postAction: checks }", workflows, ..Spec::default() }).await;
    let id = s.h.promote(None, None, None).await;
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(env_of(&view, "prod")["status"], "Pending");
    // The applications whose verify step failed; another one may not have started its post-action
    // (nothing new starts in a Failed environment).
    let failed_apps: Vec<String> =
        view["issues"].as_array().unwrap().iter().map(|i| i["app"].as_str().unwrap().to_owned()).collect();
    assert!(!failed_apps.is_empty());
    let commits_before = s.repo.log().len();
    std::fs::write(s.file("fixed"), "").unwrap();
    let retried = s.event(|e| e.body["type"] == "RetryRequested");
    s.h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap();
    retried.await;
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["retries"], 1);
    assert_eq!(view["lastRetry"]["actor"], "bob");
    for app in ["shop-api-qa", "shop-web-qa"] {
        assert_eq!(s.read(&format!("prepare-{app}")).lines().count(), 1, "prepare of {app} ran once");
        let verify = s.read(&format!("verify-{app}"));
        let runs = if failed_apps.iter().any(|a| a == app) { 2 } else { 1 };
        assert_eq!(verify.lines().count(), runs, "verify of {app}");
        assert!(verify.lines().all(|l| l.ends_with(&format!("with t-{app}"))), "outputs kept: {verify}");
        assert_eq!(s.read(&format!("report-{app}")).lines().count(), 1);
    }
    // qa was not promoted again; prod was promoted once.
    assert_eq!(s.repo.log().len(), commits_before + 1);
    let events = s.h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let retry = events.iter().find(|e| e.body["type"] == "RetryRequested").unwrap();
    assert_eq!(retry.body["actor"], "bob");
    // A Succeeded release cannot be retried.
    let again = s.h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap_err();
    assert!(matches!(again, ferry_engine::EngineError::Conflict(_)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_a_degraded_application_is_fixed_needs_no_new_commit() {
    let s = setup(Spec { health_qa: "test -f {S}/healthy", ..Spec::default() }).await;
    let id = s.h.promote(None, None, None).await;
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(env_of(&view, "qa")["status"], "Failed");
    let qa_commits: Vec<_> = s.repo.log().into_iter().filter(|(_, m)| m.contains("Ferry-Environment: qa")).collect();
    assert_eq!(qa_commits.len(), 1);
    std::fs::write(s.file("healthy"), "").unwrap();
    s.h.engine.retry(id.parse().unwrap(), "bob".into()).await.unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let qa_after: Vec<_> = s.repo.log().into_iter().filter(|(_, m)| m.contains("Ferry-Environment: qa")).collect();
    assert_eq!(qa_after, qa_commits, "no new commit for qa");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_runs_one_release_at_a_time_in_order_and_terminates_on_overflow() {
    let workflows = gate_workflow("");
    let s =
        setup_with(Spec { qa: "{ preAction: gate }", workflows: &workflows, ..Spec::default() }, |c| c.queue_limit = 1)
            .await;
    let first = s.h.promote(None, None, None).await;
    let second = s.h.promote(None, None, None).await;
    assert_eq!(s.view(&first).await["status"], "Running");
    assert_eq!(s.view(&second).await["status"], "Queued");
    // A third release overflows the queue (limit 1): the oldest queued one is terminated.
    let overflow = s.event(|e| e.body["type"] == "Terminated");
    let third = s.h.promote(None, None, None).await;
    let terminated = overflow.await;
    assert_eq!(terminated.release_id, second);
    let view = s.view(&second).await;
    assert_eq!(view["status"], "Terminated");
    assert_eq!(view["reason"], "queue overflow");
    assert_eq!(s.view(&third).await["status"], "Queued");
    std::fs::write(s.file("go"), "").unwrap();
    assert_eq!(s.h.wait_final(&first).await["status"], "Succeeded");
    let third_view = s.h.wait_final(&third).await;
    assert_eq!(third_view["status"], "Succeeded");
    let first_view = s.view(&first).await;
    assert!(
        third_view["startedAt"].as_str().unwrap() >= first_view["finishedAt"].as_str().unwrap(),
        "the queued release started after the first finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_mode_supersedes_older_releases_and_their_runs() {
    let s = gated("terminate", r#"echo started >> "{S}/started-$APP_NAME"; "#).await;
    let first = s.h.promote(None, None, None).await;
    s.event(step_started(&first, "wait")).await;
    let second = s.h.promote(None, None, None).await;
    let view = s.h.wait_final(&first).await;
    assert_eq!(view["status"], "Terminated");
    assert_eq!(view["reason"], format!("superseded by release {second}"));
    assert_eq!(env_of(&view, "qa")["workflows"][0]["steps"][0]["status"], "Terminated");
    std::fs::write(s.file("go"), "").unwrap();
    assert_eq!(s.h.wait_final(&second).await["status"], "Succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_get_failed_environments_and_the_promotion_context() {
    let workflows = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: start-hook }
spec:
  steps:
    - name: context
      run: echo 'PROMOTION_CONTEXT={"TICKET":"CHG-42","OWNER":"payments"}' >> "$FERRY_OUTPUT"
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: post }
spec:
  steps:
    - name: show
      run: |
        echo "$TICKET/$OWNER" >> "{S}/context-$APP_NAME"
        test "$ENVIRONMENT" != prod
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: fail-hook }
spec:
  steps:
    - name: record
      run: printf '%s' "$FAILED_ENVIRONMENTS" > "{S}/failed"; printf '%s' "$ERROR_MESSAGE" > "{S}/error"
"#;
    let s = setup(Spec {
        qa: "{ postAction: post }",
        prod: "{ postAction: post }",
        flow_extra: "  hooks: { onStart: start-hook, onFail: fail-hook }",
        workflows,
        ..Spec::default()
    })
    .await;
    let id = s.h.promote(None, None, None).await;
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(view["context"]["TICKET"], "CHG-42");
    // The context reached the post-actions of qa and, later, prod.
    assert_eq!(s.read("context-shop-api-qa").trim(), "CHG-42/payments", "{view:#}");
    // In prod the first failing post-action stops the other application's from starting (SPEC §3.4),
    // so at least one of them ran.
    let prod: Vec<String> = ["context-shop-api-prod", "context-shop-web-prod"].iter().map(|f| s.read(f)).collect();
    assert!(prod.iter().any(|c| c.trim() == "CHG-42/payments"), "{prod:?}");
    let failed: Value = serde_json::from_str(&s.read("failed")).expect("FAILED_ENVIRONMENTS is JSON");
    let list = failed.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "prod");
    assert_eq!(list[0]["status"], "Failed");
    assert!(list[0]["errorMessage"].as_str().unwrap().contains("show"), "{failed}");
    assert_eq!(s.read("error"), view["reason"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_step_suspends_until_approved() {
    let workflows = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: sign-off }
spec:
  steps:
    - name: approve
      approval: { message: "Release manager sign-off for prod" }
    - name: after
      dependsOn: [approve]
      run: echo "approved by $APPROVED_BY" >> "{S}/after-$APP_NAME"
"#;
    let s = setup(Spec { prod: "{ preAction: sign-off }", workflows, ..Spec::default() }).await;
    let waiting = s.events(2, |e| e.body["type"] == "StepAwaitingApproval");
    let id = s.h.promote(None, None, None).await;
    waiting.await;
    let view = s.view(&id).await;
    assert_eq!(env_of(&view, "prod")["status"], "Suspended", "{view:#}");
    assert_eq!(view["status"], "Suspended");
    let nothing =
        s.h.engine
            .approve(id.parse().unwrap(), ferry_model::EnvName::new("qa").unwrap(), "carol".into())
            .await
            .unwrap_err();
    assert!(matches!(nothing, ferry_engine::EngineError::Conflict(_)), "{nothing:?}");
    let approver = ferry_engine::Approver {
        actor: "carol".into(),
        role: Some("promoter".into()),
        comment: Some("dashboards are green".into()),
    };
    let approved = s.h.engine.approve_as(id.parse().unwrap(), ferry_model::EnvName::new("prod").unwrap(), approver);
    assert_eq!(approved.await.unwrap().len(), 2);
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded");
    assert_eq!(s.read("after-shop-api-prod").trim(), "approved by carol");
    // Who approved, their role and why are recorded with the step and shown on its line.
    let line = &env_of(&view, "prod")["workflows"][0];
    let step = line["steps"].as_array().unwrap().iter().find(|st| st["name"] == "approve").unwrap();
    assert_eq!(step["approved"]["actor"], "carol", "{line:#}");
    assert_eq!(step["approved"]["role"], "promoter");
    assert_eq!(step["approved"]["comment"], "dashboards are green");
    let after = line["steps"].as_array().unwrap().iter().find(|st| st["name"] == "after").unwrap();
    assert!(after.get("approved").is_none(), "{after}");
}

const PR_WORKFLOWS: &str = r#"apiVersion: ferry/v1
kind: Workflow
metadata: { name: after-merge }
spec:
  steps:
    - name: record
      run: echo "$COMMIT_SHA" >> "{S}/merged-$APP_NAME"
"#;

async fn suspended_on_pr(s: &Setup) -> (String, ferry_engine::PullRequestInfo) {
    let opened = s.event(|e| e.body["type"] == "PullRequestOpened");
    let id = s.h.promote(None, None, None).await;
    opened.await;
    let view = s.view(&id).await;
    assert_eq!(env_of(&view, "prod")["status"], "Suspended", "{view:#}");
    assert_eq!(view["status"], "Suspended");
    let prs = s.h.engine.pull_requests().await.unwrap();
    assert_eq!(prs.len(), 1, "{prs:?}");
    let pr = prs[0].clone();
    assert_eq!(pr.state, "open");
    assert_eq!(pr.branch, format!("ferry/shop/prod/{id}"));
    assert_eq!(pr.target, "main");
    (id, pr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_promotion_waits_for_the_merge() {
    let s = setup(Spec { prod: "{ action: pr, postAction: after-merge }", workflows: PR_WORKFLOWS, ..Spec::default() })
        .await;
    let main_before = git(&s.repo.bare, &["rev-parse", "main"]);
    let (id, pr) = suspended_on_pr(&s).await;
    // The target branch is untouched until the merge; the branch carries the promotion.
    let tip_before_merge = git(&s.repo.bare, &["rev-parse", "main"]);
    assert_ne!(tip_before_merge, main_before, "qa's commit landed");
    assert!(
        git(&s.repo.bare, &["show", &format!("{}:apps/api/prod/values.yaml", pr.branch)]).contains("tag: \"2.0.0\"")
    );
    assert!(!git(&s.repo.bare, &["show", "main:apps/api/prod/values.yaml"]).contains("2.0.0"));
    let merged = s.h.engine.merge_pull_request(pr.number, "dave".into()).await.unwrap();
    assert_eq!(merged.state, "merged");
    let merge_commit = merged.merge_commit.clone().unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(git(&s.repo.bare, &["rev-parse", "main"]), merge_commit);
    let parents = git(&s.repo.bare, &["rev-list", "--parents", "-n", "1", &merge_commit]);
    assert_eq!(parents.split_whitespace().count(), 3, "a merge commit has two parents: {parents}");
    assert!(git(&s.repo.bare, &["show", "main:apps/api/prod/values.yaml"]).contains("tag: \"2.0.0\""));
    assert_eq!(s.read("merged-shop-api-prod").trim(), merge_commit, "the post-action got the merge commit");
    let prod = env_of(&view, "prod");
    assert_eq!(prod["applications"][0]["action"]["commit"], merge_commit.as_str());
    assert_eq!(prod["applications"][0]["action"]["pullRequest"]["number"], pr.number);
    let again = s.h.engine.merge_pull_request(pr.number, "dave".into()).await.unwrap_err();
    assert!(matches!(again, ferry_engine::EngineError::Conflict(_)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_while_suspended_on_a_pull_request_closes_it_and_keeps_the_branch() {
    let s = setup(Spec { prod: "{ action: pr }", ..Spec::default() }).await;
    let (id, pr) = suspended_on_pr(&s).await;
    s.h.engine.terminate(id.parse().unwrap(), "wrong version".into(), "erin".into()).await.unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated");
    assert_eq!(env_of(&view, "prod")["status"], "Terminated");
    let prs = s.h.engine.pull_requests().await.unwrap();
    assert_eq!(prs[0].state, "closed");
    assert!(prs[0].comment.as_deref().unwrap().contains("wrong version"), "{:?}", prs[0]);
    // The branch is left for inspection.
    assert_eq!(git(&s.repo.bare, &["rev-parse", &pr.branch]), pr.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_closed_without_merge_fails_the_environment() {
    let s = setup(Spec { prod: "{ action: pr }", ..Spec::default() }).await;
    let (id, pr) = suspended_on_pr(&s).await;
    let closed = s.h.engine.close_pull_request(pr.number, "frank".into(), "not this week".into()).await.unwrap();
    assert_eq!(closed.state, "closed");
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed");
    assert_eq!(env_of(&view, "prod")["status"], "Failed");
    assert!(view["reason"].as_str().unwrap().contains("closed without merge: not this week"), "{view:#}");
}

/// A queue-mode product whose releases need no outside work (action none, applications without status
/// commands): every environment passes in the engine step that reaches it, so a release runs entirely
/// in the write that starts it.
fn queue_without_outside_work(url: &str) -> String {
    let mut yaml = String::new();
    for env in ENVS {
        yaml.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: {env} }}\nspec: {{ type: non-production }}\n---\n\
             apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: shop-api-{env} }}\nspec:\n  product: shop\n  environment: {env}\n  component: api\n  source: {{ repoURL: \"{url}\", path: apps/api/{env}, targetRevision: main }}\n---\n"
        ));
    }
    yaml.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec:\n  promotionFlows: [ { name: standard } ]\n  concurrency: queue\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: standard }\nspec:\n  triggerEnvironment: dev\n  steps:\n    \
         - { environment: qa, dependsOn: [dev], policy: { action: none } }\n    \
         - { environment: prod, dependsOn: [qa], policy: { action: none } }\n",
    );
    yaml
}

/// In the store's global order, one at a time in the order of `ids`: each release started after the one
/// before it finished.
async fn assert_one_at_a_time(h: &Harness, ids: &[String], sort_by_start: bool) {
    let mut spans = Vec::new();
    for id in ids {
        let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
        let gid = |ty: &str| events.iter().find(|e| e.body["type"] == ty).map(|e| e.gid).unwrap();
        spans.push((gid("Started"), gid("Finished"), id.clone()));
    }
    if sort_by_start {
        spans.sort();
    }
    for pair in spans.windows(2) {
        assert!(pair[1].0 > pair[0].1, "{} started before {} finished: {spans:?}", pair[1].2, pair[0].2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_releases_needing_no_outside_work_runs_one_release_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let files = files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let h = Harness::start(dir).await;
    h.apply(&queue_without_outside_work(&repo.url())).await;
    let p = || h.promote(None, None, None);
    let (a, b, c, d, e, f) = tokio::join!(p(), p(), p(), p(), p(), p());
    let mut ids = vec![a, b, c, d, e, f];
    ids.sort();
    for id in &ids {
        assert_eq!(h.wait_final(id).await["status"], "Succeeded");
    }
    // A release whose snapshot took longer may start after a newer one, as it was created later.
    assert_one_at_a_time(&h, &ids, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_needing_no_outside_work_drains_in_the_write_where_its_head_ends() {
    let dir = tempfile::tempdir().unwrap();
    let files = files();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = Repo::new(dir.path(), "gitops", &refs);
    let (h, store) = Harness::start_counting(dir).await;
    h.apply(&queue_without_outside_work(&repo.url())).await;
    // A runtime freeze on qa holds the head of the queue, Suspended after dev.
    let now = jiff::Timestamp::now();
    let freeze = Freeze {
        name: FreezeName::new("incident").unwrap(),
        environments: vec!["qa".into()],
        products: vec!["shop".into()],
        window: Window::once(now - jiff::SignedDuration::from_hours(1), now + jiff::SignedDuration::from_hours(24))
            .unwrap(),
        reason: Some("incident INC-7".into()),
        source: FreezeSource::Runtime,
    };
    h.engine.create_freeze(freeze, "root".into()).await.unwrap();
    let frozen = h.next_event(|e| e.body["type"] == "EnvironmentFrozen" && e.body["env"] == "qa");
    let head = h.promote(None, None, None).await;
    frozen.await;
    assert_eq!(h.view(&head).await["status"], "Suspended");
    // Three more queue behind it (each promote answers once the release is created).
    let mut ids = vec![head.clone()];
    for _ in 0..3 {
        ids.push(h.promote(None, None, None).await);
    }
    for id in &ids[1..] {
        assert_eq!(h.view(id).await["status"], "Queued", "{id}");
    }
    let before = store.release_writes().len();
    h.engine.delete_freeze(FreezeName::new("incident").unwrap()).await.unwrap();
    for id in &ids {
        assert_eq!(h.wait_final(id).await["status"], "Succeeded", "{id}");
    }
    // One write carries the end of the head and the whole run of each queued release, in queue order.
    let writes = store.release_writes();
    let finishing: Vec<&ReleaseWrites> =
        writes[before..].iter().filter(|w| w.iter().any(|(_, types)| types.iter().any(|t| t == "Finished"))).collect();
    assert_eq!(finishing.len(), 1, "every release should end in one write: {finishing:#?}");
    let released: Vec<&String> = finishing[0].iter().map(|(id, _)| id).collect();
    assert_eq!(released, ids.iter().collect::<Vec<_>>(), "{finishing:#?}");
    let (_, head_types) = &finishing[0][0];
    assert_eq!(head_types.last().map(String::as_str), Some("Finished"), "{head_types:?}");
    for (id, types) in &finishing[0][1..] {
        assert_eq!(types.first().map(String::as_str), Some("Started"), "{id}: {types:?}");
        assert_eq!(types.last().map(String::as_str), Some("Finished"), "{id}: {types:?}");
    }
    // In creation order, one at a time.
    assert_one_at_a_time(&h, &ids, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_health_command_failing_inside_the_soak_time_fails_the_environment() {
    // qa soaks for an hour; its health command passes until the file `sick` appears.
    let s = setup(Spec { qa: "{ soakTime: 1h }", health_qa: "test ! -f {S}/sick", ..Spec::default() }).await;
    let soaking = s.h.next_event(|e| e.body["type"] == "SoakStarted" && e.body["env"] == "qa");
    let id = s.h.promote(None, None, None).await;
    soaking.await;
    let view = s.view(&id).await;
    assert_eq!(env_of(&view, "qa")["status"], "Running", "soaking: {view:#}");
    std::fs::write(s.file("sick"), "").unwrap();
    let view = s.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let qa = env_of(&view, "qa");
    assert_eq!(qa["status"], "Failed", "{qa:#}");
    assert!(qa["soak"]["relapse"].as_str().is_some_and(|r| r.contains("health command failed")), "{qa:#}");
    assert!(qa["soak"]["passedAt"].is_null(), "{qa:#}");
    assert_eq!(env_of(&view, "prod")["status"], "Pending", "prod never started");
}
