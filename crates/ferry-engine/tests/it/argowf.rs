//! Argo Workflows post-actions against the in-process Argo Server stand-in of the test kit: nodes
//! become steps with their logs, terminate stops the Argo workflow, retry resumes it from the failed
//! node, and a restarted engine re-attaches instead of submitting again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferry_engine::EngineConfig;
use ferry_engine::ports::{ArgoWorkflowRunner, BackendRunner, LocalRunner, Ports};
use ferry_model::status::StepStatus;
use ferry_store::{SqliteStore, Store};
use ferry_testkit::argo_shop::{self, ARGO_TOKEN, ShopConfig};
use ferry_testkit::argowf::{ArgoServerStandIn, Outcome, TemplateStep};
use serde_json::Value;

use crate::fixture::*;

const TOKEN_VAR: &str = "TEST_ARGO_TOKEN";
const TOKEN: &str = ARGO_TOKEN;

/// qa's post-action is the Argo WorkflowTemplate `ci/e2e` on `argo`, with the token in the variable
/// `token_var`.
fn config(url: &str, argo: &str, token_var: &str) -> String {
    let body = format!(
        "template: e2e, namespace: ci, server: \"{argo}\", serviceAccount: ferry-runner, tokenSecret: {token_var}"
    );
    ShopConfig::new().argo_post_action(body).yaml(url)
}

fn steps_with(test: Outcome) -> Vec<TemplateStep> {
    vec![
        TemplateStep { name: "deploy-check".into(), outcome: Outcome::Succeed(vec!["pods ready".into()]) },
        TemplateStep { name: "smoke".into(), outcome: Outcome::Skip },
        TemplateStep { name: "api-tests".into(), outcome: test },
    ]
}

fn failing() -> Outcome {
    Outcome::Fail(2, vec!["GET /health".into(), "expected 200, got 500".into()])
}

/// The engine over `store` in `dir`, with the Argo runner reading the token from a fake environment.
async fn engine(dir: &Path, store: &SqliteStore) -> (ferry_engine::EngineHandle, tokio::task::JoinHandle<()>) {
    let config = EngineConfig::new(dir.join("data"), "http://127.0.0.1:7878".into());
    let mut ports = Ports::default_for(&config, store).unwrap();
    let tokens = Arc::new(|name: &str| (name == TOKEN_VAR).then(|| TOKEN.to_owned()));
    let argo = ArgoWorkflowRunner::new(None, tokens).with_retry(Duration::from_millis(20), Duration::from_millis(200));
    ports.runner = Arc::new(BackendRunner { local: Arc::new(LocalRunner::new(&config)), argo: Arc::new(argo) });
    ferry_engine::start_with(store.clone(), config, ports).await.unwrap()
}

struct Rig {
    h: Harness,
    argo: ArgoServerStandIn,
}

/// Promotes, and holds the Argo workflow once its first node runs; the release's id and the
/// workflow's name.
async fn held_at_first_node(r: &Rig) -> (String, String) {
    r.argo.hold(true);
    let running = r.h.next_event(|e| e.body["type"] == "StepStarted" && e.body["step"] == "e2e");
    let id = r.h.promote(None, None, None).await;
    running.await;
    // Let the stand-in start the first node, then hold it there.
    r.argo.hold(false);
    let name = r.argo.wait_for_node("ci", "deploy-check", "Running").await;
    r.argo.hold(true);
    (id, name)
}

/// Stops the engine of `h` as a crash would (its tasks end where they are); its directory and store.
async fn stop(h: Harness) -> (tempfile::TempDir, SqliteStore) {
    let Harness { _dir: dir, store, engine: old, _task: task } = h;
    task.abort();
    let _ = task.await;
    drop(old);
    // A crashed process writes nothing more; here the store outlives the engine, and a write the
    // engine handed to its writer thread before the abort is committed after it. The writer takes
    // writes in order: once this one is answered, no write of the stopped engine is still to come.
    let barrier = ferry_store::Write::Kv { key: "test/stopped".into(), value: "1".into() };
    store.write(vec![barrier]).await.unwrap().into_iter().for_each(|o| {
        o.unwrap();
    });
    (dir, store)
}

/// A new engine on the store and data directory of a stopped one.
async fn start_again((dir, store): (tempfile::TempDir, SqliteStore)) -> Harness {
    let (engine, task) = engine(dir.path(), &store).await;
    Harness { _dir: dir, store, engine, _task: task }
}

async fn rig(test: Outcome) -> Rig {
    rig_with(test, TOKEN_VAR).await
}

async fn rig_with(test: Outcome, token_var: &str) -> Rig {
    rig_steps(steps_with(test), token_var).await
}

async fn rig_steps(steps: Vec<TemplateStep>, token_var: &str) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let repo = argo_shop::repo(dir.path());
    let outputs = vec![("REPORT_URL".into(), "https://ci.example/r/7".into())];
    let argo = argo_shop::argo_server(steps, outputs, Duration::from_millis(20)).await;
    let store = SqliteStore::open(&dir.path().join("ferry.db")).await.unwrap();
    let (engine, task) = engine(dir.path(), &store).await;
    let h = Harness { _dir: dir, store, engine, _task: task };
    h.apply(&config(&repo.url(), argo.url(), token_var)).await;
    Rig { h, argo }
}

fn post_action(view: &Value) -> &Value {
    env_of(view, "qa")["workflows"].as_array().unwrap().iter().find(|w| w["stage"] == "postAction").unwrap()
}

fn steps(view: &Value) -> Vec<(String, String)> {
    post_action(view)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// The one Argo workflow in `ci` and its JSON.
fn only_workflow(argo: &ArgoServerStandIn) -> (String, Value) {
    let names = argo.workflows("ci");
    assert_eq!(names.len(), 1, "{names:?}");
    let json = argo.workflow("ci", &names[0]).unwrap();
    (names[0].clone(), json)
}

fn parameter<'a>(wf: &'a Value, name: &str) -> Option<&'a str> {
    wf["spec"]["arguments"]["parameters"].as_array()?.iter().find(|p| p["name"] == name)?["value"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_argo_post_action_fails_with_node_steps_and_logs_and_retry_resumes_from_the_failed_node() {
    let r = rig(failing()).await;
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(
        steps(&view),
        pairs(&[("e2e", "Failed"), ("deploy-check", "Success"), ("smoke", "Success"), ("api-tests", "Failed")])
    );
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["step"] == "api-tests").unwrap();
    assert_eq!(issue["detail"]["kind"], "workflow");
    assert_eq!(issue["detail"]["exitCode"], 2);
    let tail: Vec<&str> = issue["detail"]["logTail"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(tail, ["GET /health", "expected 200, got 500"]);
    assert_eq!(issue["detail"]["error"], "Error (exit code 2)");
    let logs =
        r.h.store
            .logs(ferry_store::LogQuery {
                step: Some("smoke".into()),
                ..ferry_store::LogQuery::release(id.parse().unwrap(), 10)
            })
            .await
            .unwrap();
    assert!(logs.iter().any(|l| l.line.text.starts_with("[argo] skipped")), "{logs:?}");

    // What was submitted: the §3.6 parameters, labels, the service account, the attempt.
    assert_eq!(r.argo.submissions(), 1);
    let (name, wf) = only_workflow(&r.argo);
    assert!(name.len() <= 63 && name.starts_with("ferry-"), "{name}");
    assert_eq!(parameter(&wf, "APP_NAME"), Some("shop-api-qa"));
    assert_eq!(parameter(&wf, "ENVIRONMENT"), Some("qa"));
    assert_eq!(parameter(&wf, "RELEASE_ID"), Some(id.as_str()));
    assert_eq!(parameter(&wf, "SUITE"), Some("smoke"), "parameter defaults are passed");
    assert_eq!(parameter(&wf, "COMMIT_SHA").map(str::len), Some(40));
    assert_eq!(parameter(&wf, "FERRY_ATTEMPT"), Some("1"));
    assert_eq!(wf["metadata"]["labels"]["ferry/release"], id.as_str());
    assert_eq!(wf["metadata"]["labels"]["ferry/env"], "qa");
    assert_eq!(wf["metadata"]["labels"]["ferry/app"], "shop-api-qa");
    assert_eq!(wf["metadata"]["labels"]["ferry/stage"], "post-action");
    assert_eq!(wf["spec"]["serviceAccountName"], "ferry-runner");

    // Retry: Argo retries the same workflow from the failed node; the succeeded one is not run again.
    r.argo.set_outcome("ci", "e2e", "api-tests", Outcome::Succeed(vec!["all green".into()]));
    r.h.engine.retry(id.parse().unwrap(), "alice".into()).await.unwrap();
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(
        steps(&view),
        pairs(&[("e2e", "Success"), ("deploy-check", "Success"), ("smoke", "Success"), ("api-tests", "Success")])
    );
    assert_eq!(r.argo.submissions(), 1, "retried in Argo, not submitted again");
    let retries: Vec<String> = r.argo.requests().into_iter().filter(|q| q.contains("/retry")).collect();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        retries[0].contains("\"restartSuccessful\":false") && retries[0].contains("FERRY_ATTEMPT=2"),
        "{retries:?}"
    );
    // The succeeded node kept its one attempt; the workflow's output parameter is the run's output.
    let (state, _) = ferry_engine::replay(&r.h.store, &id.parse().unwrap()).await.unwrap();
    let qa = state.environments().iter().find(|e| e.name.as_str() == "qa").unwrap();
    let run = qa.apps[0].runs.iter().find(|run| !run.retired).unwrap();
    let step = |n: &str| run.steps.iter().find(|s| s.name.as_str() == n).unwrap();
    assert_eq!(step("deploy-check").attempts, 1);
    assert_eq!(step("api-tests").attempts, 2);
    assert_eq!(step("api-tests").status, StepStatus::Success);
    assert_eq!(run.outputs().get("REPORT_URL").map(String::as_str), Some("https://ci.example/r/7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_stops_the_argo_workflow() {
    let r = rig(Outcome::Succeed(vec![])).await;
    let (id, _) = held_at_first_node(&r).await;
    r.h.engine.terminate(id.parse().unwrap(), "stop it".into(), "alice".into()).await.unwrap();
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    let (name, wf) = only_workflow(&r.argo);
    assert_eq!(wf["status"]["phase"], "Failed");
    assert_eq!(wf["status"]["message"], "Stopped with strategy 'Terminate'");
    assert!(r.argo.requests().iter().any(|q| q.starts_with(&format!("PUT /api/v1/workflows/ci/{name}/terminate"))));
    assert_eq!(steps(&view)[0], ("e2e".to_owned(), "Terminated".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_reattaches_without_a_second_submission() {
    let r = rig(Outcome::Succeed(vec!["ok".into()])).await;
    let (id, _) = held_at_first_node(&r).await;
    // Ferry stops mid-workflow and starts again on the same store.
    let Rig { h, argo } = r;
    let h = start_again(stop(h).await).await;
    argo.hold(false);
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(argo.submissions(), 1, "the restarted engine followed the workflow it had submitted");
    assert!(!argo.requests().iter().any(|q| q.contains("/retry")), "a running workflow is not retried");
    assert_eq!(
        steps(&view),
        pairs(&[("e2e", "Success"), ("deploy-check", "Success"), ("smoke", "Success"), ("api-tests", "Success")])
    );
    // Re-attaching is no new attempt: each step started once, in the state and in the event log.
    assert_started_once(&h, &id, &["e2e", "deploy-check", "api-tests"]).await;
}

/// Every step of qa's Argo run started once: its attempts are 1 and the log has one `StepStarted` for
/// each of `started` (skipped nodes never start).
async fn assert_started_once(h: &Harness, id: &str, started: &[&str]) {
    let (state, _) = ferry_engine::replay(&h.store, &id.parse().unwrap()).await.unwrap();
    let run = env_state_run(&state);
    for step in &run.steps {
        assert_eq!(step.attempts, 1, "{}: {run:#?}", step.name);
    }
    let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    for name in started {
        let starts = events.iter().filter(|e| e.body["type"] == "StepStarted" && e.body["step"] == *name).count();
        assert_eq!(starts, 1, "StepStarted events of {name}");
    }
}

/// deploy-check, then a suspend node `approve`, then api-tests.
fn approval_template() -> Vec<TemplateStep> {
    vec![
        TemplateStep { name: "deploy-check".into(), outcome: Outcome::Succeed(vec!["pods ready".into()]) },
        TemplateStep { name: "approve".into(), outcome: Outcome::Suspend },
        TemplateStep { name: "api-tests".into(), outcome: Outcome::Succeed(vec!["all green".into()]) },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_an_argo_node_waits_keeps_qa_suspended_and_counts_no_new_attempt() {
    let r = rig_steps(approval_template(), TOKEN_VAR).await;
    let waiting = r.h.next_event(|e| e.body["type"] == "StepAwaitingApproval");
    let id = r.h.promote(None, None, None).await;
    waiting.await;
    let Rig { h, argo } = r;
    let h = start_again(stop(h).await).await;
    let view = h.replayed_view(&id).await;
    assert_eq!(
        (env_of(&view, "qa")["status"].as_str(), view["status"].as_str()),
        (Some("Suspended"), Some("Suspended"))
    );
    // Resumed in Argo itself: the re-attached run follows the workflow to its end.
    let (name, wf) = only_workflow(&argo);
    let node = wf["status"]["nodes"].as_object().unwrap().values().find(|n| n["displayName"] == "approve").unwrap();
    let client = ferry_argowf::Client::new(argo.url(), Some(TOKEN.to_owned()), "test").unwrap();
    let wf_ref = ferry_argowf::WorkflowRef { namespace: "ci".into(), name };
    client.resume(&wf_ref, &format!("id={}", node["id"].as_str().unwrap())).await.unwrap();
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(argo.submissions(), 1);
    assert_started_once(&h, &id, &["e2e", "deploy-check", "approve", "api-tests"]).await;
    let events = h.store.release_events(&id.parse().unwrap()).await.unwrap();
    let waits = events.iter().filter(|e| e.body["type"] == "StepAwaitingApproval").count();
    assert_eq!(waits, 1, "the wait the re-attached run reported again was already recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_submission_and_a_deleted_workflow_are_workflow_issues() {
    let r = rig(Outcome::Succeed(vec![])).await;
    r.argo.reject_submissions(Some("spec.arguments.TARGET.value is required"));
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "workflow").unwrap();
    assert_eq!(issue["detail"]["step"], "e2e");
    let error = issue["detail"]["error"].as_str().unwrap();
    assert!(
        error.contains("Argo refused to submit") && error.contains("spec.arguments.TARGET.value is required"),
        "{error}"
    );
    assert_eq!(r.argo.submissions(), 0);

    // Retried, it is submitted; deleted behind Ferry's back, the run ends in Error saying so.
    r.argo.reject_submissions(None);
    r.argo.hold(true);
    let started = r.h.next_event(|e| e.body["type"] == "StepStarted" && e.body["step"] == "e2e");
    r.h.engine.retry(id.parse().unwrap(), "alice".into()).await.unwrap();
    started.await;
    r.argo.hold(false);
    let name = r.argo.wait_for_node("ci", "deploy-check", "Running").await;
    r.argo.hold(true);
    assert!(r.argo.delete("ci", &name));
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "workflow").unwrap();
    let error = issue["detail"]["error"].as_str().unwrap();
    assert!(error.contains(&format!("the Argo workflow ci/{name} was deleted outside Ferry")), "{error}");
    assert_eq!(steps(&view)[0], ("e2e".to_owned(), "Error".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_event_streams_fall_back_to_reading_the_workflow() {
    let r = rig(Outcome::Succeed(vec!["ok".into()])).await;
    r.argo.cut_streams(true);
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let (name, _) = only_workflow(&r.argo);
    let requests = r.argo.requests();
    let reads = requests.iter().filter(|q| **q == format!("GET /api/v1/workflows/ci/{name}")).count();
    let watches = requests.iter().filter(|q| q.starts_with("GET /api/v1/workflow-events/ci?")).count();
    assert!(reads >= 2 && watches >= 2, "polled between cut streams: {requests:#?}");
    assert_eq!(r.argo.submissions(), 1);
    assert_eq!(
        steps(&view),
        pairs(&[("e2e", "Success"), ("deploy-check", "Success"), ("smoke", "Success"), ("api-tests", "Success")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_argo_server_refuses_ends_the_run_in_error_naming_the_variable() {
    let r = rig_with(Outcome::Succeed(vec![]), "TEST_ARGO_TOKEN_NOT_SET").await;
    let id = r.h.promote(None, None, None).await;
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Failed", "{view:#}");
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["kind"] == "workflow").unwrap();
    let error = issue["detail"]["error"].as_str().unwrap();
    assert!(error.contains("401") && error.contains("TEST_ARGO_TOKEN_NOT_SET"), "{error}");
    assert_eq!(r.argo.submissions(), 0);
    assert_eq!(steps(&view), pairs(&[("e2e", "Error")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_suspended_argo_node_through_ferry_resumes_it_in_argo() {
    let r = rig_steps(approval_template(), TOKEN_VAR).await;
    let waiting = r.h.next_event(|e| e.body["type"] == "StepAwaitingApproval");
    let id = r.h.promote(None, None, None).await;
    let waiting = waiting.await;
    assert_eq!(waiting.body["step"], "approve", "{:?}", waiting.body);
    // SPEC §4: the environment and the release wait for a person, though the workflow's own step runs.
    let (state, _) = ferry_engine::replay(&r.h.store, &id.parse().unwrap()).await.unwrap();
    let qa_name = ferry_model::EnvName::new("qa").unwrap();
    assert_eq!(state.env_status(&qa_name), Some(ferry_model::status::EnvStatus::Suspended));
    assert_eq!(state.status(), ferry_model::status::ReleaseStatus::Suspended);
    let view = r.h.view(&id).await;
    assert_eq!(
        (env_of(&view, "qa")["status"].as_str(), view["status"].as_str()),
        (Some("Suspended"), Some("Suspended"))
    );
    assert_eq!(steps(&view)[0], ("e2e".to_owned(), "Running".to_owned()));
    assert!(waiting.body["message"].as_str().unwrap().contains("suspended at node approve"), "{:?}", waiting.body);
    // Argo holds the workflow at the node until it is resumed.
    let (name, wf) = only_workflow(&r.argo);
    let node = wf["status"]["nodes"].as_object().unwrap().values().find(|n| n["displayName"] == "approve").unwrap();
    assert_eq!((&node["type"], &node["phase"]), (&"Suspend".into(), &"Running".into()));
    let node_id = node["id"].as_str().unwrap().to_owned();
    assert!(!r.argo.requests().iter().any(|q| q.contains("/resume")));

    let qa = ferry_model::EnvName::new("qa").unwrap();
    let approved = r.h.engine.approve(id.parse().unwrap(), qa.clone(), "alice".into()).await.unwrap();
    assert!(approved.len() == 1 && approved[0].ends_with("/approve"), "{approved:?}");
    let view = r.h.wait_final(&id).await;
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(
        steps(&view),
        pairs(&[("e2e", "Success"), ("deploy-check", "Success"), ("approve", "Success"), ("api-tests", "Success")])
    );
    let resumes: Vec<String> = r.argo.requests().into_iter().filter(|q| q.contains("/resume")).collect();
    assert_eq!(resumes.len(), 1, "{resumes:?}");
    assert!(resumes[0].starts_with(&format!("PUT /api/v1/workflows/ci/{name}/resume ")), "{resumes:?}");
    assert!(resumes[0].contains(&format!("\"nodeFieldSelector\":\"id={node_id}\"")), "{resumes:?}");
    // The approver is the step's output, as for a local approval step.
    let (state, _) = ferry_engine::replay(&r.h.store, &id.parse().unwrap()).await.unwrap();
    let run = env_state_run(&state);
    let step = run.steps.iter().find(|s| s.name.as_str() == "approve").unwrap();
    assert_eq!(step.outputs.get("APPROVED_BY").map(String::as_str), Some("alice"));
    // Nothing waits any more.
    let again = r.h.engine.approve(id.parse().unwrap(), qa, "alice".into()).await;
    assert!(again.is_err(), "{again:?}");
}

fn env_state_run(state: &ferry_model::release::ReleaseState) -> ferry_model::release::WorkflowRun {
    let qa = state.environments().iter().find(|e| e.name.as_str() == "qa").unwrap();
    qa.apps[0].runs.iter().find(|run| !run.retired).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_terminating_stops_the_argo_workflow_the_first_process_could_not() {
    let r = rig(Outcome::Succeed(vec!["ok".into()])).await;
    let (id, name) = held_at_first_node(&r).await;
    // The Argo Server is down when the release is terminated: every terminate attempt fails.
    r.argo.unavailable(true);
    r.h.engine.terminate(id.parse().unwrap(), "stop it".into(), "alice".into()).await.unwrap();
    let terminate = format!("PUT /api/v1/workflows/ci/{name}/terminate");
    // The runner gives up after five tries (none of them reached Argo).
    r.argo.wait_for_unavailable_answers(5).await;
    // Ferry stops while the release is Terminating, and starts again once Argo is back.
    let Rig { h, argo } = r;
    let stopped = stop(h).await;
    let view = stopped.1.release_view(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(view["status"], "Terminating", "{view:#}");
    assert_eq!(argo.workflow("ci", &name).unwrap()["status"]["phase"], "Running");
    argo.unavailable(false);
    let h = start_again(stopped).await;
    let view = h.wait_final(&id).await;
    assert_eq!(view["status"], "Terminated", "{view:#}");
    // The restarted Ferry re-attached to the workflow and stopped it.
    let wf = argo.workflow("ci", &name).unwrap();
    assert_eq!(wf["status"]["phase"], "Failed", "{wf:#}");
    assert_eq!(wf["status"]["message"], "Stopped with strategy 'Terminate'");
    assert_eq!(argo.requests().iter().filter(|q| q.starts_with(&terminate)).count(), 6);
    assert_eq!(argo.submissions(), 1);
    assert_eq!(steps(&view)[0], ("e2e".to_owned(), "Terminated".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_records_no_lost_step_for_a_running_argo_workflow() {
    let r = rig(Outcome::Succeed(vec!["ok".into()])).await;
    r.argo.hold(true);
    let running = r.h.next_event(|e| e.body["type"] == "StepStarted" && e.body["step"] == "deploy-check");
    let id = r.h.promote(None, None, None).await;
    r.argo.hold(false);
    r.argo.wait_for_node("ci", "deploy-check", "Running").await;
    r.argo.hold(true);
    running.await;
    let (state, _) = ferry_engine::replay(&r.h.store, &id.parse().unwrap()).await.unwrap();
    let catalog = r.h.engine.catalog();
    // The Argo workflow goes on without the replica that followed it: nothing is lost, the new
    // owner re-attaches.
    assert_eq!(ferry_engine::plan::lost_at_takeover(&state, &catalog.workflows), vec![]);
    // The same steps of a local run died with their replica.
    let mut local = catalog.workflows.clone();
    for wf in local.values_mut() {
        wf.backend = ferry_model::resources::WorkflowBackend::Local;
    }
    let lost: Vec<String> =
        ferry_engine::plan::lost_at_takeover(&state, &local).into_iter().map(|(_, step)| step.to_string()).collect();
    assert_eq!(lost, ["e2e", "deploy-check"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_argo_run_leaves_the_workflow_running_for_the_next_owner_to_reattach() {
    use ferry_engine::ports::WorkflowRunner;
    let argo =
        argo_shop::argo_server(steps_with(Outcome::Succeed(vec!["ok".into()])), vec![], Duration::from_millis(20))
            .await;
    let tokens = Arc::new(|name: &str| (name == TOKEN_VAR).then(|| TOKEN.to_owned()));
    let runner =
        ArgoWorkflowRunner::new(None, tokens).with_retry(Duration::from_millis(20), Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let spec = || ferry_runner::RunSpec {
        run_id: "0193e5a0-0000-7000-8000-000000000001".into(),
        workflow: ferry_model::resources::Workflow {
            name: ferry_model::names::WorkflowName::new("e2e").unwrap(),
            timeout: None,
            params: vec![],
            steps: vec![],
            backend: ferry_model::resources::WorkflowBackend::Argo {
                template: "e2e".into(),
                namespace: Some("ci".into()),
                server: Some(argo.url().to_owned()),
                service_account: None,
                token_secret: Some(TOKEN_VAR.into()),
            },
        },
        env: Default::default(),
        cwd: dir.path().to_owned(),
        completed: Default::default(),
        labels: [
            ("ferry/release", "0193e5a0-aaaa"),
            ("ferry/env", "qa"),
            ("ferry/app", "shop-api-qa"),
            ("ferry/stage", "post-action"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        attempt: 1,
    };
    argo.hold(true);
    let mut first = runner.start(spec());
    argo.wait_for_workflow("ci").await;
    argo.hold(false);
    let name = argo.wait_for_node("ci", "deploy-check", "Running").await;
    argo.hold(true);
    // Another replica drives the release now: this one stops following, the workflow goes on.
    first.control.detach("this replica no longer drives the release".into());
    while let Some(event) = first.events.recv().await {
        assert!(!matches!(event, ferry_runner::RunEvent::Finished { .. }), "{event:?}");
    }
    assert!(!argo.requests().iter().any(|q| q.contains("/terminate")));
    assert_eq!(argo.workflow("ci", &name).unwrap()["status"]["phase"], "Running");
    // The new owner carries the run out again: it finds the workflow by its name and follows it.
    argo.hold(false);
    let mut second = runner.start(spec());
    let mut end = None;
    while let Some(event) = second.events.recv().await {
        if let ferry_runner::RunEvent::Finished { status, .. } = event {
            end = Some(status);
        }
    }
    assert_eq!(end, Some(StepStatus::Success));
    assert_eq!(argo.submissions(), 1);
    assert_eq!(argo.workflows("ci"), [name]);
}
