//! Scheduling: order, parallelism, the concurrency limit, validation and failure.

use ferry_model::status::StepStatus;
use ferry_runner::{RunEvent, Runner, RunnerConfig};

use crate::support::*;

/// Waits (in the script, at most ~20 s) for a file another step creates.
fn wait_for(file: &str) -> String {
    format!("i=0; while [ ! -e {file} ]; do i=$((i+1)); [ $i -lt 2000 ] || exit 7; sleep 0.01; done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_dependency_is_the_previous_step() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", "echo a >> order"), step("b", "echo b >> order"), step("c", "echo c >> order")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(fx.read("order"), "a\nb\nc\n");
    assert!(done.finished("a") < done.started("b", 1));
    assert!(done.finished("b") < done.started("c", 1));
    assert!(matches!(done.events.last(), Some(RunEvent::Finished { status: StepStatus::Success, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_steps_run_in_parallel_and_join() {
    let fx = Fixture::new();
    // Each step only finishes once the other has started: they must run at the same time.
    let wf = workflow(vec![
        step_after("a", &[], &format!("touch a.started; {}", wait_for("b.started"))),
        step_after("b", &[], &format!("touch b.started; {}", wait_for("a.started"))),
        step_after("c", &["a", "b"], "echo joined"),
    ]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert!(done.finished("a") < done.started("c", 1));
    assert!(done.finished("b") < done.started("c", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_one_serialises_independent_steps() {
    let fx = Fixture::new();
    let runner = Runner::new(RunnerConfig { max_concurrent_steps: 1, ..fx.config() });
    // `mkdir` fails (and `sh -e` exits) if the other step holds the lock.
    let script = "mkdir lock; sleep 0.2; rmdir lock";
    let wf = workflow(vec![step_after("a", &[], script), step_after("b", &[], script)]);
    let done = run_to_end(&runner, fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    let (first, second) = if done.started("a", 1) < done.started("b", 1) { ("a", "b") } else { ("b", "a") };
    assert!(done.finished(first) < done.started(second, 1), "{:#?}", done.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_step_fails_the_run_and_dependents_stay_pending() {
    let fx = Fixture::new();
    let wf = workflow(vec![
        step("a", "echo oops >&2; exit 3"),
        step("b", "touch b-ran"),
        step_after("c", &["b"], "touch c-ran"),
    ]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Failed);
    let a = done.step("a");
    assert_eq!((a.status, a.exit_code, a.error.as_deref()), (StepStatus::Failed, Some(3), Some("exited with code 3")));
    assert_eq!(done.outcome.error.as_deref(), Some("step a: exited with code 3"));
    assert_eq!(done.status("b"), StepStatus::Pending);
    assert_eq!(done.status("c"), StepStatus::Pending);
    assert_eq!(done.step("b").attempts, 0);
    assert!(!fx.exists("b-ran") && !fx.exists("c-ran"));
    assert_eq!(done.log_text("a"), ["oops"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_dependency_is_an_error_before_anything_runs() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", "touch a-ran"), step_after("b", &["nope"], "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    assert_eq!(done.status("a"), StepStatus::Pending);
    assert_eq!(done.status("b"), StepStatus::Error);
    let error = done.step("b").error.clone().unwrap_or_default();
    assert!(error.contains("depends on \"nope\", which is not a step"), "{error}");
    assert!(!fx.exists("a-ran"));
    assert!(!done.events.iter().any(|e| matches!(e, RunEvent::StepStarted { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycle_and_duplicate_names_are_errors() {
    let fx = Fixture::new();
    let wf = workflow(vec![step_after("a", &["b"], "true"), step_after("b", &["a"], "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    assert!(done.outcome.error.as_deref().unwrap_or_default().contains("cycle (a → b → a)"), "{:?}", done.outcome);

    let wf = workflow(vec![step("a", "true"), step("a", "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    assert!(done.step("a").error.as_deref().unwrap_or_default().contains("defined more than once"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_required_param_is_an_error() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![step("a", "touch a-ran"), step("b", "true")]);
    wf.params = vec![param("SUITE", Some("smoke")), param("APP_NAME", None)];
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    assert_eq!(done.status("a"), StepStatus::Error);
    assert_eq!(done.status("b"), StepStatus::Pending);
    let error = done.step("a").error.clone().unwrap_or_default();
    assert!(error.contains("parameter APP_NAME is required"), "{error}");
    assert!(!fx.exists("a-ran"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_working_directory_is_an_error() {
    let fx = Fixture::new();
    let mut spec = fx.spec(workflow(vec![step("a", "true")]));
    spec.cwd = fx.dir.path().join("does-not-exist");
    let done = run_to_end(&fx.runner(), spec).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    let a = done.step("a");
    assert_eq!((a.status, a.attempts), (StepStatus::Error, 1));
    assert!(a.error.as_deref().unwrap_or_default().contains("cannot start `sh`"), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_workflow_succeeds() {
    let fx = Fixture::new();
    let done = run_to_end(&fx.runner(), fx.spec(workflow(vec![]))).await;
    assert_eq!(done.outcome.status, StepStatus::Success);
    assert!(done.outcome.steps.is_empty());
}
