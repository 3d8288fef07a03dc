//! Through the binary with the Argo Server stand-in of the test kit: `ferry server --argo-server` and
//! the token from `FERRY_ARGO_TOKEN`; a failing Argo post-action shows its nodes and logs, retry
//! resumes it in Argo, and a server killed mid-workflow re-attaches without a second submission.

use std::time::Duration;

use ferry_testkit::argo_shop::{self, ARGO_TOKEN, ShopConfig, repo};
use ferry_testkit::argowf::{ArgoServerStandIn, Outcome, TemplateStep};

use super::*;

const TOKEN: &str = ARGO_TOKEN;

/// dev promotes to qa, whose post-action runs the WorkflowTemplate `ci/e2e` on the default Argo Server.
fn config(url: &str) -> String {
    ShopConfig::new().argo_post_action("template: e2e, namespace: ci").yaml(url)
}

fn steps_with(test: Outcome) -> Vec<TemplateStep> {
    vec![
        TemplateStep { name: "deploy-check".into(), outcome: Outcome::Run("echo pods ready".into()) },
        TemplateStep { name: "api-tests".into(), outcome: test },
    ]
}

struct Rig {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config_dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    argo: ArgoServerStandIn,
}

fn rig(test: Outcome) -> Rig {
    rig_steps(steps_with(test))
}

fn rig_steps(steps: Vec<TemplateStep>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("shop.yaml"), config(&repo.url())).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let argo = runtime.block_on(argo_shop::argo_server(steps, vec![], Duration::from_millis(30)));
    Rig { data: dir.path().join("data"), _dir: dir, config_dir, runtime, argo }
}

impl Rig {
    fn server(&self) -> Server {
        Server::start_in_env(
            &self.data,
            &["--config", path(&self.config_dir), "--argo-server", self.argo.url()],
            &[("FERRY_ARGO_TOKEN", TOKEN)],
        )
    }
}

fn steps(view: &Value) -> Vec<(String, String)> {
    let qa = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "qa").unwrap();
    let post = qa["workflows"].as_array().unwrap().iter().find(|w| w["stage"] == "postAction").unwrap();
    post["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[test]
fn a_failing_argo_post_action_shows_its_nodes_and_logs_and_retry_resumes_it_in_argo() {
    let r = rig(Outcome::Run("echo 'GET /health'; echo 'expected 200, got 500' >&2; exit 2".into()));
    let server = r.server();
    let run = server.ferry(&["promote", "shop", "--wait", "-o", "json"]);
    assert_eq!(run.code, 1, "{}\n{}\n{}", run.stdout, run.stderr, Server::log_of(&server.data));
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Failed", "{view:#}");
    assert_eq!(steps(&view), pairs(&[("e2e", "Failed"), ("deploy-check", "Success"), ("api-tests", "Failed")]));
    let logs = server.ferry(&["release", "logs", &id, "--step", "api-tests"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert!(logs.stdout.contains("expected 200, got 500"), "{}", logs.stdout);
    let issue = view["issues"].as_array().unwrap().iter().find(|i| i["detail"]["step"] == "api-tests").unwrap();
    assert_eq!(issue["detail"]["exitCode"], 2, "{issue:#}");

    r.argo.set_outcome("ci", "e2e", "api-tests", Outcome::Succeed(vec!["all green".into()]));
    let retry = server.ferry(&["release", "retry", &id, "--wait", "-o", "json"]);
    assert_eq!(retry.code, 0, "{}\n{}", retry.stdout, retry.stderr);
    assert_eq!(retry.json()["status"], "Succeeded");
    assert_eq!(r.argo.submissions(), 1, "retried in Argo, not submitted again");
    assert!(r.argo.requests().iter().any(|q| q.contains("/retry") && q.contains("FERRY_ATTEMPT=2")));
    assert!(!Server::log_of(&server.data).contains(TOKEN), "the token is never logged");
}

#[test]
fn a_server_killed_mid_workflow_reattaches_without_a_second_submission() {
    let r = rig(Outcome::Succeed(vec!["ok".into()]));
    let server = r.server();
    // The stand-in holds the workflow once its first node runs.
    r.argo.hold(true);
    let run = server.ferry(&["promote", "shop", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let name = r.runtime.block_on(async {
        // Nothing moves until the workflow exists; then it runs up to its first running node.
        r.argo.wait_for_workflow("ci").await;
        r.argo.hold(false);
        let name = r.argo.wait_for_node("ci", "deploy-check", "Running").await;
        r.argo.hold(true);
        name
    });
    drop(server); // SIGKILL
    let server = r.server();
    r.argo.hold(false);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "{}\n{}\n{}", watch.stdout, watch.stderr, Server::log_of(&server.data));
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(r.argo.submissions(), 1, "the restarted server followed {name}");
    assert_eq!(r.argo.workflows("ci"), [name]);
    assert_eq!(steps(&view), pairs(&[("e2e", "Success"), ("deploy-check", "Success"), ("api-tests", "Success")]));
}

#[test]
fn ferry_release_approve_resumes_a_suspended_argo_node() {
    let r = rig_steps(vec![
        TemplateStep { name: "approve".into(), outcome: Outcome::Suspend },
        TemplateStep { name: "api-tests".into(), outcome: Outcome::Succeed(vec!["all green".into()]) },
    ]);
    let server = r.server();
    let run = server.ferry(&["promote", "shop", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    let waiting = |events: &[Value]| events.iter().any(|e| e["body"]["type"] == "StepAwaitingApproval");
    let events = super::follow_events(&server.url, &id, waiting);
    let event = events.iter().find(|e| e["body"]["type"] == "StepAwaitingApproval").unwrap();
    assert_eq!(event["body"]["step"], "approve", "{event:#}");
    let approve = server.ferry(&["release", "approve", &id, "--env", "qa"]);
    assert_eq!(approve.code, 0, "{}\n{}", approve.stdout, approve.stderr);
    let watch = server.ferry(&["release", "watch", &id]);
    assert_eq!(watch.code, 0, "{}\n{}\n{}", watch.stdout, watch.stderr, Server::log_of(&server.data));
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    assert_eq!(steps(&view), pairs(&[("e2e", "Success"), ("approve", "Success"), ("api-tests", "Success")]));
    assert_eq!(r.argo.requests().iter().filter(|q| q.contains("/resume")).count(), 1);
}
