//! The `exec` helper.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_runner::{DEFAULT_LOG_CAP_BYTES, RunnerError, run_command};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_command_with_variables() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    let env = BTreeMap::from([("V".to_owned(), "$(touch pwned)".to_owned())]);
    let result =
        run_command(r#"echo "v=$V"; echo err >&2"#, &fx.cwd(), &env, LIMIT, DEFAULT_LOG_CAP_BYTES).await.expect("run");
    assert!(result.success());
    assert_eq!(result.exit_code, Some(0));
    assert_eq!(result.output_text(), "v=$(touch pwned)\nerr");
    assert!(!fx.exists("pwned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_failure_and_keeps_the_tail() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    let result = run_command("seq 1 500; exit 4", &fx.cwd(), &BTreeMap::new(), LIMIT, 1 << 20).await.expect("run");
    assert_eq!((result.exit_code, result.timed_out, result.success()), (Some(4), false, false));
    assert_eq!(result.output_tail.len(), ferry_runner::exec::OUTPUT_TAIL_LINES);
    assert_eq!(result.output_tail.first().map(|l| l.text.as_str()), Some("301"));
    assert_eq!(result.output_tail.last().map(|l| l.text.as_str()), Some("500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_the_whole_process_tree() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    // The command never ends by itself; the timeout is the behaviour under test (the shell needs a
    // few milliseconds of it to start its child and print).
    let result = run_command(
        "sleep 1000 & echo $! > pid; echo started; wait",
        &fx.cwd(),
        &BTreeMap::new(),
        Duration::from_secs(2),
        DEFAULT_LOG_CAP_BYTES,
    )
    .await
    .expect("run");
    assert!(result.timed_out);
    assert_eq!(result.exit_code, None);
    assert!(!result.success());
    assert_eq!(result.output_text(), "started");
    // The shell's child went with it.
    let pid: u32 = fx.read("pid").trim().parse().expect("pid");
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_command_kills_its_process_group() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    let cwd = fx.cwd();
    let task = tokio::spawn(async move {
        run_command("sleep 1000 & echo $! > pid; wait", &cwd, &BTreeMap::new(), LIMIT, DEFAULT_LOG_CAP_BYTES).await
    });
    let pid: u32 = read_line_when_written(&fx.path("pid")).await.parse().expect("pid");
    assert!(!process_gone(pid), "the background process should be running");
    // Dropping the future (as when a release's task is aborted) drops the running shell.
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_gone(pid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_directory_is_an_error() {
    let fx = Fixture::new();
    let err =
        run_command("true", &fx.dir.path().join("nope"), &BTreeMap::new(), LIMIT, 1024).await.expect_err("no cwd");
    assert!(matches!(err, RunnerError::Spawn { .. }), "{err}");
}
