//! Log capture: streams, per-line and per-run caps.

use ferry_model::status::StepStatus;
use ferry_runner::{LogStream, MAX_LINE_BYTES, Runner, RunnerConfig};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_captured_with_their_stream() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", "echo out; echo err >&2; printf 'no newline'")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success);
    let log = done.log("a");
    let by_stream = |stream| log.iter().filter(|l| l.stream == stream).map(|l| l.text.as_str()).collect::<Vec<_>>();
    assert_eq!(by_stream(LogStream::Stdout), ["out", "no newline"]);
    assert_eq!(by_stream(LogStream::Stderr), ["err"]);
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at || w[0].stream != w[1].stream));
    assert!(done.started("a", 1) < done.finished("a"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_log_is_capped_and_the_cut_is_marked() {
    let fx = Fixture::new();
    let runner = Runner::new(RunnerConfig { log_cap_bytes: 100, ..fx.config() });
    // 90 lines of 7 characters and 10 of 8, each + newline: 12 fit in 100 bytes; 78 × 8 + 10 × 9 = 714
    // bytes are dropped.
    let wf = workflow(vec![
        step("a", r#"for i in $(seq 10 109); do echo "line-$i"; done"#),
        step("b", "echo after the cap"),
    ]);
    let done = run_to_end(&runner, fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    let mut expect: Vec<String> = (10..22).map(|i| format!("line-{i}")).collect();
    expect.push("[log truncated: 714 bytes dropped]".to_owned());
    assert_eq!(done.log_text("a"), expect);
    assert_eq!(done.log_text("b"), ["[log truncated: 14 bytes dropped]"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lines_are_cut() {
    let fx = Fixture::new();
    let wf = workflow(vec![step("a", "head -c 20000 /dev/zero | tr '\\0' x; echo; echo short")]);
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    let log = done.log_text("a");
    assert_eq!(log.len(), 2, "{:?}", log.iter().map(String::len).collect::<Vec<_>>());
    let dropped = 20000 - MAX_LINE_BYTES;
    assert_eq!(log[0], format!("{} [line truncated: {dropped} bytes dropped]", "x".repeat(MAX_LINE_BYTES)));
    assert_eq!(log[1], "short");
}
