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
        run_command(r#"echo "v=$V"; echo err >&2"#, &fx.cwd(), &env, Duration::from_secs(20), DEFAULT_LOG_CAP_BYTES)
            .await
            .expect("run");
    assert!(result.success());
    assert_eq!(result.exit_code, Some(0));
    assert_eq!(result.output_text(), "v=$(touch pwned)\nerr");
    assert!(!fx.exists("pwned"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_failure_and_keeps_the_tail() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    let result = run_command("seq 1 500; exit 4", &fx.cwd(), &BTreeMap::new(), Duration::from_secs(20), 1 << 20)
        .await
        .expect("run");
    assert_eq!((result.exit_code, result.timed_out, result.success()), (Some(4), false, false));
    assert_eq!(result.output_tail.len(), ferry_runner::exec::OUTPUT_TAIL_LINES);
    assert_eq!(result.output_tail.first().map(|l| l.text.as_str()), Some("301"));
    assert_eq!(result.output_tail.last().map(|l| l.text.as_str()), Some("500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_out() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.cwd()).expect("cwd");
    let result = run_command(
        "echo started; sleep 100",
        &fx.cwd(),
        &BTreeMap::new(),
        Duration::from_millis(200),
        DEFAULT_LOG_CAP_BYTES,
    )
    .await
    .expect("run");
    assert!(result.timed_out);
    assert_eq!(result.exit_code, None);
    assert_eq!(result.output_text(), "started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_directory_is_an_error() {
    let fx = Fixture::new();
    let err = run_command("true", &fx.dir.path().join("nope"), &BTreeMap::new(), Duration::from_secs(5), 1024)
        .await
        .expect_err("no cwd");
    assert!(matches!(err, RunnerError::Spawn { .. }), "{err}");
}
