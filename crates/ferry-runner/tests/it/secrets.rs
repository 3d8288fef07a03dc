//! Secret parameters: their values are masked in everything a run reports as text.

use std::collections::BTreeMap;

use ferry_model::status::StepStatus;
use ferry_runner::{LogStream, MAX_LINE_BYTES, RunEvent};

use crate::support::*;

const TOKEN: &str = "tok-3f9a-c0ffee";
const PASSWORD: &str = "pässwört-from-context";

/// Every text of a finished run that ends up in logs or messages: log lines and errors.
fn texts(done: &Finished) -> Vec<String> {
    let mut out = Vec::new();
    for event in &done.events {
        match event {
            RunEvent::Log { lines, .. } => out.extend(lines.iter().map(|l| l.text.clone())),
            RunEvent::StepFinished { error, .. } | RunEvent::Finished { error, .. } => out.extend(error.clone()),
            RunEvent::StepStarted { .. }
            | RunEvent::StepWaiting { .. }
            | RunEvent::StepAdded { .. }
            | RunEvent::Together { .. } => {}
        }
    }
    out.extend(done.outcome.error.clone());
    out.extend(done.outcome.steps.values().filter_map(|s| s.error.clone()));
    out
}

fn assert_never_shown(done: &Finished, secret: &str) {
    // No whole value, and no piece long enough to be recognised either (a cut must not leave a prefix).
    let piece: String = secret.chars().take(4).collect();
    for text in texts(done) {
        assert!(!text.contains(&piece), "{piece:?} (of a secret) in {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_are_masked_on_stdout_and_stderr_of_every_step() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![
        step("a", r#"echo "token=$TOKEN"; echo "password=$DB_PASSWORD" >&2; echo "$TOKEN$TOKEN"; echo "suite=$SUITE""#),
        step("b", r#"printf 'twice: %s and %s\n' "$DB_PASSWORD" "$TOKEN" >&2"#),
        // An error message that quotes output: the bad output name is the secret.
        step("c", r#"printf '%s<<\n' "$TOKEN" > "$FERRY_OUTPUT""#),
    ]);
    wf.params = vec![
        secret_param("TOKEN", Some(TOKEN)),
        secret_param("DB_PASSWORD", Some("default-is-replaced")),
        param("SUITE", Some("smoke")),
    ];
    let mut spec = fx.spec(wf);
    spec.env = BTreeMap::from([("DB_PASSWORD".to_owned(), PASSWORD.to_owned())]);
    let done = run_to_end(&fx.runner(), spec).await;

    let lines: Vec<(LogStream, String)> = done.log("a").into_iter().map(|l| (l.stream, l.text)).collect();
    let expect = [
        (LogStream::Stdout, "token=***"),
        (LogStream::Stdout, "******"),
        (LogStream::Stdout, "suite=smoke"),
        (LogStream::Stderr, "password=***"),
    ];
    for line in expect {
        assert!(lines.contains(&(line.0, line.1.to_owned())), "{line:?} not in {lines:?}");
    }
    assert_eq!(lines.len(), expect.len(), "{lines:?}");
    assert_eq!(done.log_text("b"), ["twice: *** and ***"]);
    assert_eq!(done.status("c"), StepStatus::Error);
    let error = done.step("c").error.clone().unwrap_or_default();
    assert!(error.contains("names output \"***\""), "{error}");
    assert!(done.outcome.error.as_deref().is_some_and(|e| e.contains("\"***\"")), "{:?}", done.outcome.error);
    assert_never_shown(&done, TOKEN);
    assert_never_shown(&done, PASSWORD);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_across_the_line_cut_is_masked_whole() {
    let fx = Fixture::new();
    // The secret starts 4 bytes before the cut; in the second line something follows it.
    let fill = MAX_LINE_BYTES - 4;
    let script = format!(
        r#"head -c {fill} /dev/zero | tr '\0' x; echo "$TOKEN"
           head -c {fill} /dev/zero | tr '\0' y; echo "$TOKEN and more""#
    );
    let mut wf = workflow(vec![step("a", &script)]);
    wf.params = vec![secret_param("TOKEN", Some(TOKEN))];
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    let log = done.log_text("a");
    assert_eq!(log.len(), 2);
    // Compared after the filler, so that a failure shows the end of the line.
    let after = |line: &str, filler: char| {
        assert_eq!(line.len() - line.trim_start_matches(filler).len(), fill, "{filler} filler");
        line.trim_start_matches(filler).to_owned()
    };
    assert_eq!(after(&log[0], 'x'), "***");
    assert_eq!(after(&log[1], 'y'), "*** [line truncated: 9 bytes dropped]");
    assert_never_shown(&done, TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_keep_secret_values_and_their_logs_mask_them() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![
        step("a", r#"echo "COPY=$TOKEN" >> "$FERRY_OUTPUT"; echo "SIGNING_KEY=replaced-by-output" >> "$FERRY_OUTPUT""#),
        // A copy of a secret, and the value an ancestor's output gave a secret parameter.
        step("b", r#"echo "copy=$COPY key=$SIGNING_KEY""#),
    ]);
    wf.params = vec![secret_param("TOKEN", Some(TOKEN)), secret_param("SIGNING_KEY", Some("the-original-key"))];
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.outcome.status, StepStatus::Success, "{:#?}", done.outcome);
    assert_eq!(done.step("a").outputs.get("COPY").map(String::as_str), Some(TOKEN), "outputs are data, kept as is");
    assert_eq!(done.log_text("b"), ["copy=*** key=***"]);
    assert_never_shown(&done, TOKEN);
    assert_never_shown(&done, "replaced-by-output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_secrets_are_not_masked_and_the_log_says_so_in_parameter_order() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![step("a", r#"echo "pin=$PIN empty=[$EMPTY] token=$TOKEN""#)]);
    wf.params = vec![
        secret_param("PIN", Some("42")),
        secret_param("EMPTY", Some("")),
        secret_param("TOKEN", Some(TOKEN)),
        secret_param("KEY", Some("line-one\nok\n")),
    ];
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(
        done.log_text("a"),
        [
            "[ferry: secret parameter PIN is not masked in this log: its value is shorter than 4 characters]",
            "[ferry: secret parameter KEY is not masked in this log: a line of its value is shorter than 4 characters]",
            "pin=42 empty=[] token=***",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_without_secrets_logs_values_as_they_are() {
    let fx = Fixture::new();
    let mut wf = workflow(vec![step("a", r#"echo "token=$TOKEN""#)]);
    wf.params = vec![param("TOKEN", Some(TOKEN))];
    let done = run_to_end(&fx.runner(), fx.spec(wf)).await;
    assert_eq!(done.log_text("a"), [format!("token={TOKEN}")]);
}
