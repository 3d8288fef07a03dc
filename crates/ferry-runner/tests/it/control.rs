//! Retries, timeouts, terminate and approvals.

use std::time::Duration;

use ferry_model::resources::WorkflowStep;
use ferry_model::status::StepStatus;
use ferry_runner::{RunEvent, Runner, RunnerConfig, RunnerError};

use crate::support::*;

/// Counts its runs in `count`; fails until the third.
const FLAKY: &str =
    r#"n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "attempt $n"; [ $n -ge 3 ]"#;

fn with_retries(step: WorkflowStep, retries: u32) -> WorkflowStep {
    WorkflowStep { retries, ..step }
}

fn with_timeout(step: WorkflowStep, timeout: Duration) -> WorkflowStep {
    WorkflowStep { timeout: Some(timeout), ..step }
}

/// Waits until the step has logged `text`.
async fn logged(run: &mut Run, step: &str, text: &str) {
    run.until(
        &format!("{step} logging {text:?}"),
        |e| matches!(e, RunEvent::Log { step: s, lines } if s.as_str() == step && lines.iter().any(|l| l.text == text)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_rerun_a_failing_step_until_it_succeeds() {
    let fx = Fixture::new();
    let wf = workflow(vec![with_retries(step("flaky", FLAKY), 2), step("after", "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(done.step("flaky").attempts, 3);
    assert!(done.started("flaky", 1) < done.started("flaky", 2));
    assert!(done.started("flaky", 2) < done.started("flaky", 3));
    let log = done.log_text("flaky");
    assert!(log.contains(&"attempt 3".to_owned()), "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("[ferry: attempt 1 of 3 failed (exited with code 1); retrying in 10ms")));
    assert_eq!(done.status("after"), StepStatus::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_bounded() {
    let fx = Fixture::new();
    let wf = workflow(vec![with_retries(step("flaky", FLAKY), 1)]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    let flaky = done.step("flaky");
    assert_eq!((flaky.status, flaky.attempts, flaky.exit_code), (StepStatus::Failed, 2, Some(1)));
    assert_eq!(fx.read("count"), "2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_timeout_fails_the_step() {
    let fx = Fixture::new();
    let wf = workflow(vec![with_timeout(step("slow", "sleep 100"), Duration::from_millis(300)), step("next", "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Failed);
    let slow = done.step("slow");
    assert_eq!((slow.status, slow.error.as_deref()), (StepStatus::Failed, Some("timed out after 300ms")));
    assert_eq!(done.status("next"), StepStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_timeout_fails_running_steps() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![step("slow", "sleep 100"), step("next", "true")]);
    wf.timeout = Some(Duration::from_millis(300));
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Failed);
    assert_eq!(done.outcome.error.as_deref(), Some("workflow timed out after 300ms"));
    assert_eq!(done.step("slow").error.as_deref(), Some("workflow timed out after 300ms"));
    assert_eq!(done.status("slow"), StepStatus::Failed);
    assert_eq!(done.status("next"), StepStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_kills_the_whole_process_group() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", "sleep 1000 & echo $! > pid; echo started; wait"), step("b", "touch b-ran")]);
    let mut run = Run::start(&fx.runner(), fx.spec(wf));
    logged(&mut run, "a", "started").await;
    let pid: u32 = fx.read("pid").trim().parse().expect("pid");
    assert!(!process_gone(pid), "the background process should be running");
    run.handle.terminate("stopped by alice");
    let done = run.finish().await;
    assert_eq!(done.outcome.status, StepStatus::Terminated);
    assert_eq!(done.outcome.error.as_deref(), Some("terminated: stopped by alice"));
    let a = done.step("a");
    assert_eq!((a.status, a.error.as_deref()), (StepStatus::Terminated, Some("terminated: stopped by alice")));
    assert_eq!(done.status("b"), StepStatus::Pending);
    assert!(!fx.exists("b-ran"));
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_escalates_to_sigkill_after_the_grace() {
    let fx = Fixture::new();
    let runner = Runner::new(RunnerConfig { kill_grace: Duration::from_millis(200), ..fx.config() });
    // Both the shell and its child ignore SIGTERM.
    let wf = workflow(vec![step("a", "trap '' TERM; sleep 1000 & echo $! > pid; echo started; wait")]);
    let mut run = Run::start(&runner, fx.spec(wf));
    logged(&mut run, "a", "started").await;
    let pid: u32 = fx.read("pid").trim().parse().expect("pid");
    run.handle.terminate("stop");
    let done = run.finish().await;
    let a = done.step("a");
    assert_eq!((a.status, a.exit_code), (StepStatus::Terminated, None));
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_waits_for_approve() {
    let fx = Fixture::new();
    let wf = workflow(vec![approval("gate", "ship it?"), step("deploy", r#"printf '%s' "$APPROVED_BY" > approved"#)]);
    let mut run = Run::start(&fx.runner(), fx.spec(wf));
    let err = run.handle.approve(&name("deploy"), "alice").expect_err("deploy is not an approval");
    assert!(matches!(err, RunnerError::NotWaiting { .. }), "{err}");
    let waiting = run.until("gate waiting", |e| matches!(e, RunEvent::StepWaiting { .. })).await;
    assert!(matches!(waiting, RunEvent::StepWaiting { ref message, .. } if message == "ship it?"));
    assert!(!fx.exists("approved"));
    run.handle.approve(&name("gate"), "alice").expect("approve");
    let done = run.finish().await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(fx.read("approved"), "alice");
    assert_eq!(done.step("gate").outputs.get("APPROVED_BY").map(String::as_str), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_while_waiting_for_approval() {
    let fx = Fixture::new();
    let wf = workflow(vec![approval("gate", "ok?"), step("deploy", "touch deployed")]);
    let mut run = Run::start(&fx.runner(), fx.spec(wf));
    run.until("gate waiting", |e| matches!(e, RunEvent::StepWaiting { .. })).await;
    let control = run.handle.control();
    control.terminate("superseded by release 42");
    let done = run.finish().await;
    assert_eq!(done.outcome.status, StepStatus::Terminated);
    assert_eq!(done.status("gate"), StepStatus::Terminated);
    assert_eq!(done.status("deploy"), StepStatus::Pending);
    assert!(control.approve(&name("gate"), "bob").is_err());
}
