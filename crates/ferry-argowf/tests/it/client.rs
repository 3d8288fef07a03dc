//! The client against the test kit's Argo Server stand-in: shapes, the event stream, logs,
//! terminate, retry, and every error the server can answer.

use std::time::Duration;

use ferry_argowf::types::SubmitOpts;
use ferry_argowf::{ArgoWfError, Client, Workflow, WorkflowRef, node_steps, workflow_outputs};
use ferry_model::status::StepStatus;
use ferry_testkit::argowf::{ArgoServerStandIn, Outcome, Template, TemplateStep};

const TOKEN: &str = "argo-token";

fn template() -> Template {
    Template {
        name: "e2e".into(),
        namespace: "ci".into(),
        steps: vec![
            TemplateStep { name: "build".into(), outcome: Outcome::Succeed(vec!["built".into()]) },
            TemplateStep { name: "lint".into(), outcome: Outcome::Skip },
            TemplateStep { name: "test".into(), outcome: Outcome::Fail(3, vec!["1 test failed".into()]) },
        ],
        outputs: vec![("REPORT_URL".into(), "https://ci.example/r/1".into())],
    }
}

async fn stand_in() -> ArgoServerStandIn {
    ArgoServerStandIn::start(vec![template()], Some(TOKEN), Duration::from_millis(10)).await
}

fn client(argo: &ArgoServerStandIn) -> Client {
    Client::new(argo.url(), Some(TOKEN.into()), "the environment variable TEST_TOKEN").unwrap()
}

fn opts(name: &str) -> SubmitOpts {
    SubmitOpts {
        name: name.into(),
        labels: "ferry/env=qa,ferry/app=shop-api".into(),
        annotations: "ferry/run=r1".into(),
        parameters: vec!["APP_NAME=shop-api".into(), "COMMIT_MESSAGE=fix: a, b = c".into()],
        service_account: Some("ferry-runner".into()),
    }
}

fn wf(name: &str) -> WorkflowRef {
    WorkflowRef { namespace: "ci".into(), name: name.into() }
}

/// Follows the event stream until the workflow is final.
async fn until_final(client: &Client, name: &str) -> Vec<Workflow> {
    let mut watch = client.watch(&wf(name)).await.unwrap();
    let mut seen = Vec::new();
    let wait = async {
        while let Some(item) = watch.next().await {
            let w = item.unwrap();
            let done = matches!(w.status.phase.as_deref(), Some("Succeeded" | "Failed" | "Error"));
            seen.push(w);
            if done {
                return;
            }
        }
        panic!("the stream ended before the workflow did");
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.unwrap();
    seen
}

#[tokio::test]
async fn a_submitted_workflow_runs_its_nodes_and_streams_them() {
    let argo = stand_in().await;
    let c = client(&argo);
    let submitted = c.submit("ci", "e2e", opts("ferry-a")).await.unwrap();
    assert_eq!(submitted.metadata.name.as_deref(), Some("ferry-a"));
    assert_eq!(submitted.metadata.labels["ferry/app"], "shop-api");
    assert_eq!(submitted.metadata.annotations["ferry/run"], "r1");
    let params: Vec<(String, Option<String>)> =
        submitted.spec.arguments.parameters.iter().map(|p| (p.name.clone(), p.value.clone())).collect();
    assert!(params.contains(&("COMMIT_MESSAGE".into(), Some("fix: a, b = c".into()))), "{params:?}");
    let seen = until_final(&c, "ferry-a").await;
    assert!(seen.len() > 3, "progress arrives as events, not only the end: {}", seen.len());
    let last = seen.last().unwrap();
    assert_eq!(last.status.phase.as_deref(), Some("Failed"));
    let steps = node_steps(last);
    let summary: Vec<(&str, StepStatus, Option<i32>)> =
        steps.iter().map(|s| (s.display.as_str(), s.status, s.exit_code)).collect();
    assert_eq!(
        summary,
        [
            ("build", StepStatus::Success, Some(0)),
            ("lint", StepStatus::Success, None),
            ("test", StepStatus::Failed, Some(3))
        ]
    );
    assert_eq!(steps[2].message.as_deref(), Some("Error (exit code 3)"));
    assert!(workflow_outputs(last).is_empty(), "a failed workflow has no outputs");
    // The log of the failed node, by the pod name Argo gives it.
    let pod = steps[2].pod.clone().unwrap();
    assert_eq!(c.logs(&wf("ferry-a"), &pod).await.unwrap(), ["1 test failed"]);
    let requests = argo.requests();
    assert!(
        requests.iter().any(|r| r.contains("/log?") && r.contains("logOptions.container=main") && r.contains(&pod)),
        "{requests:?}"
    );
    assert!(requests.iter().any(|r| r.contains("workflow-events/ci?listOptions.fieldSelector=metadata.name=ferry-a")));
}

#[tokio::test]
async fn retry_resumes_from_the_failed_node_and_terminate_stops() {
    let argo = stand_in().await;
    let c = client(&argo);
    c.submit("ci", "e2e", opts("ferry-b")).await.unwrap();
    until_final(&c, "ferry-b").await;
    let before = c.workflow(&wf("ferry-b")).await.unwrap();
    let build_started = node_steps(&before)[0].started_at.clone();
    argo.set_outcome("ci", "e2e", "test", Outcome::Succeed(vec!["all green".into()]));
    let retried = c.retry(&wf("ferry-b"), vec!["FERRY_ATTEMPT=2".into()]).await.unwrap();
    assert_eq!(retried.status.phase.as_deref(), Some("Running"));
    assert_eq!(ferry_argowf::nodes::parameter(&retried, "FERRY_ATTEMPT"), Some("2"));
    let last = until_final(&c, "ferry-b").await.pop().unwrap();
    assert_eq!(last.status.phase.as_deref(), Some("Succeeded"));
    let steps = node_steps(&last);
    assert_eq!(steps[0].started_at, build_started, "the succeeded node was kept, not run again");
    assert!(steps.iter().all(|s| s.status == StepStatus::Success));
    assert_eq!(workflow_outputs(&last)["REPORT_URL"], "https://ci.example/r/1");
    assert!(argo.requests().iter().any(|r| r.contains("/retry") && r.contains("\"restartSuccessful\":false")));

    // Terminate a running one.
    argo.hold(true);
    c.submit("ci", "e2e", opts("ferry-c")).await.unwrap();
    let stopped = c.terminate(&wf("ferry-c")).await.unwrap();
    assert_eq!(stopped.status.phase.as_deref(), Some("Failed"));
    assert_eq!(stopped.status.message.as_deref(), Some("Stopped with strategy 'Terminate'"));
    // A workflow that did not fail cannot be retried: Argo's message comes through.
    argo.hold(false);
    let err = c.retry(&wf("ferry-b"), vec![]).await.unwrap_err();
    assert!(
        matches!(&err, ArgoWfError::Rejected { code: 400, message, .. } if message.contains("Failed/Error")),
        "{err}"
    );
}

#[tokio::test]
async fn errors_name_their_cause() {
    let argo = stand_in().await;
    let c = client(&argo);
    // 401, with the variable to check; never the token.
    let bad = Client::new(argo.url(), Some("wrong".into()), "the environment variable TEST_TOKEN").unwrap();
    let err = bad.workflow(&wf("x")).await.unwrap_err();
    assert!(matches!(err, ArgoWfError::Unauthorized { .. }) && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("TEST_TOKEN") && !err.to_string().contains("wrong"), "{err}");
    let none = Client::new(argo.url(), None, "the environment variable TEST_TOKEN").unwrap();
    assert!(none.workflow(&wf("x")).await.unwrap_err().to_string().contains("no token is set"));
    // 404: no such workflow; no such template.
    let err = c.workflow(&wf("nope")).await.unwrap_err();
    assert!(matches!(&err, ArgoWfError::NotFound { message, .. } if message.contains("not found")), "{err}");
    let err = c.submit("ci", "missing", opts("ferry-d")).await.unwrap_err();
    assert!(err.to_string().contains("workflowtemplates.argoproj.io \"missing\" not found"), "{err}");
    // 409: the name exists.
    c.submit("ci", "e2e", opts("ferry-e")).await.unwrap();
    let err = c.submit("ci", "e2e", opts("ferry-e")).await.unwrap_err();
    assert!(matches!(err, ArgoWfError::AlreadyExists { .. }), "{err}");
    assert_eq!(argo.submissions(), 1);
    // A rejected submission carries Argo's message.
    argo.reject_submissions(Some("spec.arguments.FOO.value is required"));
    let err = c.submit("ci", "e2e", opts("ferry-f")).await.unwrap_err();
    assert!(
        matches!(&err, ArgoWfError::Rejected { code: 400, message, .. } if message == "spec.arguments.FOO.value is required"),
        "{err}"
    );
    assert!(!err.is_transient());
    argo.reject_submissions(None);
    // 403.
    argo.forbid(true);
    let err = c.workflow(&wf("ferry-e")).await.unwrap_err();
    assert!(matches!(&err, ArgoWfError::Forbidden { message, .. } if message.contains("forbidden")), "{err}");
    argo.forbid(false);
    // Malformed JSON is transient (read again later).
    argo.malformed(true);
    let err = c.workflow(&wf("ferry-e")).await.unwrap_err();
    assert!(matches!(err, ArgoWfError::Malformed { .. }) && err.is_transient(), "{err}");
    argo.malformed(false);
    // A stream cut in the middle of an event.
    argo.cut_streams(true);
    let mut watch = c.watch(&wf("ferry-e")).await.unwrap();
    let err = watch.next().await.unwrap().unwrap_err();
    assert!(matches!(err, ArgoWfError::StreamCut { .. }) && err.is_transient(), "{err}");
    argo.cut_streams(false);
    // A workflow deleted while watched.
    argo.hold(true);
    c.submit("ci", "e2e", opts("ferry-g")).await.unwrap();
    let mut watch = c.watch(&wf("ferry-g")).await.unwrap();
    watch.next().await.unwrap().unwrap();
    assert!(argo.delete("ci", "ferry-g"));
    let err = watch.next().await.unwrap().unwrap_err();
    assert!(matches!(&err, ArgoWfError::NotFound { message, .. } if message.contains("deleted")), "{err}");
    // Unreachable.
    drop(argo);
    let err = c.workflow(&wf("ferry-e")).await.unwrap_err();
    assert!(matches!(err, ArgoWfError::Unreachable { .. }) && err.is_transient(), "{err}");
    assert!(matches!(Client::new("argo.example", None, ""), Err(ArgoWfError::InvalidServer(_))));
}

#[tokio::test]
async fn a_step_can_run_a_real_process() {
    let mut t = template();
    t.name = "proc".into();
    t.steps = vec![TemplateStep { name: "sh".into(), outcome: Outcome::Run("echo from-sh; exit 4".into()) }];
    let argo = ArgoServerStandIn::start(vec![t], None, Duration::from_millis(10)).await;
    let c = Client::new(argo.url(), None, "nothing").unwrap();
    c.submit("ci", "proc", opts("ferry-p")).await.unwrap();
    let last = until_final(&c, "ferry-p").await.pop().unwrap();
    let steps = node_steps(&last);
    assert_eq!((steps[0].status, steps[0].exit_code), (StepStatus::Failed, Some(4)));
    assert_eq!(c.logs(&wf("ferry-p"), steps[0].pod.as_deref().unwrap()).await.unwrap(), ["from-sh"]);
}

#[tokio::test]
async fn resume_succeeds_only_the_suspended_node_its_selector_names() {
    let mut t = template();
    t.name = "gate".into();
    t.steps = vec![
        TemplateStep { name: "approve".into(), outcome: Outcome::Suspend },
        TemplateStep { name: "after".into(), outcome: Outcome::Succeed(vec![]) },
    ];
    let argo = ArgoServerStandIn::start(vec![t], Some(TOKEN), Duration::from_millis(10)).await;
    let c = client(&argo);
    c.submit("ci", "gate", opts("ferry-s")).await.unwrap();
    argo.wait_for_node("ci", "approve", "Running").await;
    let now = c.workflow(&wf("ferry-s")).await.unwrap();
    let suspended: Vec<_> = node_steps(&now).into_iter().filter(|s| s.suspended).collect();
    assert_eq!(suspended.len(), 1, "{now:?}");
    assert_eq!((suspended[0].display.as_str(), suspended[0].status), ("approve", StepStatus::Running));
    // A selector matching no suspended node: Argo's refusal, with its message.
    let err = c.resume(&wf("ferry-s"), "id=no-such-node").await.unwrap_err();
    assert!(
        matches!(&err, ArgoWfError::Status { code: 500, message, .. }
            if message.contains("no suspend nodes matching nodeFieldSelector: id=no-such-node")),
        "{err}"
    );
    let resumed = c.resume(&wf("ferry-s"), &format!("id={}", suspended[0].id)).await.unwrap();
    let node = node_steps(&resumed).into_iter().find(|s| s.id == suspended[0].id).unwrap();
    assert_eq!((node.status, node.suspended), (StepStatus::Success, false));
    let last = until_final(&c, "ferry-s").await.pop().unwrap();
    assert_eq!(last.status.phase.as_deref(), Some("Succeeded"));
    assert!(argo.requests().iter().any(|q| q.contains("/resume") && q.contains("\"nodeFieldSelector\":\"id=")));
}
