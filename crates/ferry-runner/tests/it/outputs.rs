//! Outputs, parameters and variables, resume after a failure.

use std::collections::BTreeMap;

use ferry_model::status::StepStatus;
use ferry_runner::{CompletedStep, Outputs};

use crate::support::*;

fn outputs(pairs: &[(&str, &str)]) -> Outputs {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_reach_later_steps_and_the_outcome() {
    let fx = Fixture::new();
    let wf = workflow(vec![
        step("a", r#"echo "X=1" >> "$FERRY_OUTPUT"; printf 'NOTES<<EOF\nline 1\nline 2\nEOF\n' >> "$FERRY_OUTPUT""#),
        step("b", r#"echo "Y=$X-2" >> "$FERRY_OUTPUT"; printf '%s' "$NOTES" > notes"#),
        step_after("c", &["b"], r#"printf '%s' "$X/$Y" > c-saw"#),
        // Not a descendant of `a`: never sees its outputs, whatever the timing.
        step_after("d", &[], r#"printf '%s' "${X-unset}" > d-saw"#),
    ]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(done.step("a").outputs, outputs(&[("X", "1"), ("NOTES", "line 1\nline 2")]));
    assert_eq!(done.step("b").outputs, outputs(&[("Y", "1-2")]));
    assert_eq!(fx.read("notes"), "line 1\nline 2");
    assert_eq!(fx.read("c-saw"), "1/1-2");
    assert_eq!(fx.read("d-saw"), "unset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_output_name_is_an_error() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", r#"echo "9BAD=secret" >> "$FERRY_OUTPUT""#), step("b", "true")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Error);
    let a = done.step("a");
    assert_eq!((a.status, a.exit_code), (StepStatus::Error, Some(0)));
    let error = a.error.clone().unwrap_or_default();
    assert!(error.contains("names output \"9BAD\"") && !error.contains("secret"), "{error}");
    assert_eq!(done.status("b"), StepStatus::Pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_arrive_as_variables_and_are_never_evaluated() {
    let fx = Fixture::new();
    let tricky = "$(touch pwned) `touch pwned2` \"double\" 'single' ;touch pwned3\nsecond line $HOME";
    let mut wf = workflow(vec![step(
        "a",
        r#"printf '%s' "$P" > got-p; printf '%s' "$D" > got-d; printf '%s' "$O" > got-o
echo $P
printf '%s|%s|%s' "$FERRY_RUN_ID" "$FERRY_STEP" "$FERRY_STEP_ATTEMPT" > got-ferry
[ -n "$PATH" ]"#,
    )]);
    wf.params = vec![param("P", None), param("D", Some("dflt")), param("O", Some("orig"))];
    let mut spec = fx.spec(wf);
    spec.env = BTreeMap::from([("P".to_owned(), tricky.to_owned()), ("O".to_owned(), "given".to_owned())]);
    let done = run_to_end(&fx.runner(), spec).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(fx.read("got-p"), tricky);
    assert_eq!(fx.read("got-d"), "dflt");
    assert_eq!(fx.read("got-o"), "given");
    assert_eq!(fx.read("got-ferry"), "run-1|a|1");
    for marker in ["pwned", "pwned2", "pwned3"] {
        assert!(!fx.exists(marker), "{marker} exists: the shell evaluated a parameter");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_skips_completed_steps_and_keeps_their_outputs() {
    let fx = Fixture::new();
    let wf = workflow(vec![
        step("a", r#"touch a-ran; echo "X=fresh" >> "$FERRY_OUTPUT""#),
        step("b", r#"printf '%s' "$X" > b-saw; echo "Y=ok" >> "$FERRY_OUTPUT""#),
    ]);
    let mut spec = fx.spec(wf);
    spec.completed = BTreeMap::from([(name("a"), CompletedStep { outputs: outputs(&[("X", "recorded")]) })]);
    let done = run_to_end(&fx.runner(), spec).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert!(!fx.exists("a-ran"), "a completed step ran again");
    assert_eq!(fx.read("b-saw"), "recorded");
    let a = done.step("a");
    assert_eq!((a.status, a.attempts, &a.outputs), (StepStatus::Success, 0, &outputs(&[("X", "recorded")])));
    assert_eq!(done.step("b").attempts, 1);
    assert_eq!(done.step("b").outputs, outputs(&[("Y", "ok")]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_outputs_file_is_an_error() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", r#"{ printf 'A='; head -c 1100000 /dev/zero | tr '\0' a; } > "$FERRY_OUTPUT""#)]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    let a = done.step("a");
    assert_eq!(a.status, StepStatus::Error);
    let error = a.error.clone().unwrap_or_default();
    assert!(error.contains("$FERRY_OUTPUT holds 1100002 bytes, more than the limit"), "{error}");
}
