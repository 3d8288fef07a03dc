//! The Argo Workflows backend of the workflow-runner port (SPEC §6.4): a workflow with `spec.argo`
//! is submitted from its WorkflowTemplate through the Argo Server, followed through the server's
//! event stream (polling when the stream fails), and translated into the same run events as the
//! local runner's: the workflow itself is the run's first step, each node that does work is a step.
//!
//! The Argo workflow is named deterministically from the run (release, environment, application,
//! stage and the run's id), so a Ferry process that starts the run again (after a restart) finds
//! the workflow and follows it instead of submitting a second one. The release's attempt is kept
//! in the workflow's `FERRY_ATTEMPT` parameter: a Failed workflow of an earlier attempt is retried
//! (`PUT …/retry`, succeeded nodes kept); one of the current attempt is only read.
//!
//! A suspend node waiting to be resumed is a step awaiting approval: approving it through Ferry
//! resumes that node (`PUT …/resume` with `nodeFieldSelector: id=<node id>`), and the step succeeds
//! with the output `APPROVED_BY` once Argo reports the node Succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferry_argocd::Backoff;
use ferry_argowf::nodes::{is_skip, parameter, step_name};
use ferry_argowf::types::SubmitOpts;
use ferry_argowf::{ArgoWfError, Client, NodeStep, StepNamer, Workflow, WorkflowRef, node_steps, phase_status};
use ferry_model::names::StepName;
use ferry_model::resources::{Workflow as WorkflowDef, WorkflowBackend};
use ferry_model::status::StepStatus;
use ferry_runner::{LogLine, LogStream, Outputs, RunEvent, RunSpec};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use super::argocd::TokenLookup;
use super::{RunController, StartedRun, WorkflowRunner};

/// The environment variable holding the Argo Server token when `spec.argo.tokenSecret` names none.
pub const DEFAULT_ARGO_TOKEN_VARIABLE: &str = "FERRY_ARGO_TOKEN";

/// The namespace of workflows whose `spec.argo.namespace` names none.
pub const DEFAULT_ARGO_NAMESPACE: &str = "argo";

/// The workflow parameter recording the release attempt the workflow last ran for.
pub const ATTEMPT_PARAMETER: &str = "FERRY_ATTEMPT";

/// The name of the step standing for the whole Argo workflow of `template`: the run's first step,
/// Pending until the workflow is submitted or found.
pub fn argo_root_step(template: &str) -> Result<StepName, String> {
    StepName::new(step_name(template)).map_err(|e| format!("spec.argo.template {template:?}: {e}"))
}

/// `spec.argo` of a workflow: what the backend needs.
struct ArgoTarget {
    template: String,
    namespace: String,
    server: Option<String>,
    service_account: Option<String>,
    token_variable: String,
}

fn target(workflow: &WorkflowDef) -> Option<ArgoTarget> {
    match &workflow.backend {
        WorkflowBackend::Local => None,
        WorkflowBackend::Argo { template, namespace, server, service_account, token_secret } => Some(ArgoTarget {
            template: template.clone(),
            namespace: namespace.clone().unwrap_or_else(|| DEFAULT_ARGO_NAMESPACE.to_owned()),
            server: server.clone(),
            service_account: service_account.clone(),
            token_variable: token_secret.clone().unwrap_or_else(|| DEFAULT_ARGO_TOKEN_VARIABLE.to_owned()),
        }),
    }
}

/// Runs `spec.argo` workflows on Argo Workflows. Unreachable servers, cut streams and malformed
/// answers are retried with backoff and jitter while the run keeps its last known state; 401, 403,
/// a rejected submission and a workflow deleted outside Ferry end the run in Error with the cause.
#[derive(Clone)]
pub struct ArgoWorkflowRunner {
    default_server: Option<String>,
    tokens: TokenLookup,
    retry: (Duration, Duration),
    resync: Duration,
}

impl std::fmt::Debug for ArgoWorkflowRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoWorkflowRunner").field("default_server", &self.default_server).finish_non_exhaustive()
    }
}

impl ArgoWorkflowRunner {
    /// A runner using `default_server` for workflows that name none, reading tokens through `tokens`.
    pub fn new(default_server: Option<String>, tokens: TokenLookup) -> ArgoWorkflowRunner {
        ArgoWorkflowRunner {
            default_server,
            tokens,
            retry: (Duration::from_millis(500), Duration::from_secs(30)),
            resync: Duration::from_secs(60),
        }
    }

    /// Retries after `base`, doubling up to `max` (with jitter).
    pub fn with_retry(mut self, base: Duration, max: Duration) -> ArgoWorkflowRunner {
        self.retry = (base, max);
        self
    }

    /// Reads the workflow again when its event stream has been silent for `resync` (default 1 minute).
    pub fn with_resync(mut self, resync: Duration) -> ArgoWorkflowRunner {
        self.resync = resync;
        self
    }

    fn client(&self, t: &ArgoTarget) -> Result<Client, String> {
        let server = t.server.as_deref().or(self.default_server.as_deref()).ok_or_else(|| {
            "no Argo Server: set spec.argo.server or start the server with --argo-server URL (FERRY_ARGO_SERVER)"
                .to_owned()
        })?;
        let variable = &t.token_variable;
        Client::new(server, (self.tokens)(variable), &format!("the environment variable {variable}"))
            .map_err(|e| e.to_string())
    }
}

impl WorkflowRunner for ArgoWorkflowRunner {
    fn start(&self, spec: RunSpec) -> StartedRun {
        let (events, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(None);
        let (approvals, approvals_rx) = mpsc::unbounded_channel();
        let waiting = Waiting::default();
        let control =
            Arc::new(ArgoControl { stop, approvals, waiting: waiting.clone(), follower: std::sync::OnceLock::new() });
        let runner = self.clone();
        let follower = tokio::spawn(async move {
            let mut follow = match Follow::new(&runner, spec, events.clone(), stop_rx, (approvals_rx, waiting)) {
                Ok(follow) => follow,
                Err((root, error)) => {
                    let at = Timestamp::now();
                    if let Some(root) = root {
                        let _ = events.send(RunEvent::StepStarted { step: root.clone(), attempt: 1, at });
                        let _ =
                            events.send(finished_step(root, StepStatus::Error, Some(error.clone()), Outputs::new()));
                    }
                    let _ = events.send(RunEvent::Finished { status: StepStatus::Error, error: Some(error), at });
                    return;
                }
            };
            follow.run().await;
        });
        let _ = control.follower.set(follower.abort_handle());
        StartedRun { control, events: rx }
    }

    fn missing_settings(&self, workflow: &WorkflowDef) -> Option<String> {
        let t = target(workflow)?;
        let mut missing = Vec::new();
        match t.server.as_deref().or(self.default_server.as_deref()) {
            None => missing.push(
                "an Argo Server (set spec.argo.server, or start the server with --argo-server URL or FERRY_ARGO_SERVER)"
                    .to_owned(),
            ),
            Some(server) => {
                if let Err(e) = Client::new(server, None, "") {
                    missing.push(e.to_string());
                }
            }
        }
        if (self.tokens)(&t.token_variable).is_none() {
            missing.push(format!(
                "an Argo Server token (the environment variable {} is not set on the server)",
                t.token_variable
            ));
        }
        (!missing.is_empty())
            .then(|| format!("Argo WorkflowTemplate {}/{} needs {}", t.namespace, t.template, missing.join(" and ")))
    }
}

/// The steps whose suspend nodes wait to be resumed, with their node ids; shared by the run's
/// control (which takes a step out when it is approved) and its follower (which puts it in).
type Waiting = Arc<Mutex<BTreeMap<StepName, String>>>;

/// An approval of a waiting suspend node, on its way to the follower.
struct Approval {
    step: StepName,
    node: String,
    actor: String,
}

struct ArgoControl {
    stop: watch::Sender<Option<String>>,
    approvals: mpsc::UnboundedSender<Approval>,
    waiting: Waiting,
    /// The task following the workflow.
    follower: std::sync::OnceLock<tokio::task::AbortHandle>,
}

impl RunController for ArgoControl {
    fn terminate(&self, reason: String) {
        self.stop.send_if_modified(|current| current.is_none() && current.replace(reason).is_none());
    }

    fn approve(&self, step: &StepName, actor: String) -> Result<(), String> {
        let node = self.waiting.lock().unwrap_or_else(PoisonError::into_inner).remove(step);
        let node = node.ok_or_else(|| format!("step {step} is not a suspended Argo node waiting to be resumed"))?;
        self.approvals
            .send(Approval { step: step.clone(), node, actor })
            .map_err(|_| format!("the run of step {step} has ended"))
    }

    fn detach(&self, reason: String) {
        // The workflow goes on in Argo: only the following stops.
        tracing::info!(reason = %reason, "no longer following the Argo workflow");
        if let Some(follower) = self.follower.get() {
            follower.abort();
        }
    }
}

/// What has been reported of one node.
#[derive(Debug, Clone)]
struct Reported {
    name: StepName,
    attempts: u32,
    started: bool,
    finished: bool,
    /// Reported as waiting for an approval (a suspended node).
    waiting: bool,
}

/// How following ended.
enum End {
    /// The workflow reached a final phase.
    Done(Box<Workflow>),
    /// The run cannot go on (deleted, refused, not submitted): the message.
    Failed(String),
    /// Terminated before the workflow existed.
    Stopped,
}

/// One run being followed.
struct Follow {
    client: Client,
    wf: WorkflowRef,
    target: ArgoTarget,
    spec: RunSpec,
    events: mpsc::UnboundedSender<RunEvent>,
    stop: watch::Receiver<Option<String>>,
    backoff: Backoff,
    resync: Duration,
    root: StepName,
    namer: StepNamer,
    nodes: BTreeMap<String, Reported>,
    completed: BTreeSet<StepName>,
    terminate_sent: bool,
    /// Approvals of suspended nodes, from the run's control.
    approvals: mpsc::UnboundedReceiver<Approval>,
    waiting: Waiting,
    /// Who approved each resumed node (by node id): the step's `APPROVED_BY` output.
    approved_by: BTreeMap<String, String>,
    /// Ends of steps held back until the workflow ends, then recorded together with it: a failed node
    /// must not end the run (and the release) while the workflow still runs.
    held: Vec<RunEvent>,
}

impl Follow {
    fn new(
        runner: &ArgoWorkflowRunner,
        spec: RunSpec,
        events: mpsc::UnboundedSender<RunEvent>,
        stop: watch::Receiver<Option<String>>,
        (approvals, waiting): (mpsc::UnboundedReceiver<Approval>, Waiting),
    ) -> Result<Follow, (Option<StepName>, String)> {
        let t = target(&spec.workflow).ok_or_else(|| {
            (None, format!("workflow {} has no spec.argo: it runs on the local runner", spec.workflow.name))
        })?;
        let root = argo_root_step(&t.template).map_err(|e| (None, e))?;
        let client = runner.client(&t).map_err(|e| (Some(root.clone()), e))?;
        let label = |k: &str| spec.labels.get(k).map(String::as_str).unwrap_or_default();
        let release: String = label("ferry/release").chars().take(8).collect();
        let name = ferry_argowf::names::workflow_name(
            &[&release, label("ferry/env"), label("ferry/app"), label("ferry/stage")],
            &format!("{}/{}", label("ferry/release"), spec.run_id),
        );
        let reserved = [root.as_str()];
        Ok(Follow {
            client,
            wf: WorkflowRef { namespace: t.namespace.clone(), name },
            target: t,
            completed: spec.completed.keys().cloned().collect(),
            spec,
            events,
            stop,
            backoff: Backoff::new(runner.retry.0, runner.retry.1),
            resync: runner.resync,
            namer: StepNamer::new(&reserved),
            root,
            nodes: BTreeMap::new(),
            terminate_sent: false,
            approvals,
            waiting,
            approved_by: BTreeMap::new(),
            held: Vec::new(),
        })
    }

    fn send(&self, event: RunEvent) {
        let _ = self.events.send(event);
    }

    fn note(&self, step: &StepName, text: String) {
        let line = LogLine { at: Timestamp::now(), stream: LogStream::Stderr, text };
        self.send(RunEvent::Log { step: step.clone(), lines: vec![line] });
    }

    fn terminating(&self) -> Option<String> {
        self.stop.borrow().clone()
    }

    async fn run(&mut self) {
        self.send(RunEvent::StepStarted {
            step: self.root.clone(),
            attempt: self.spec.attempt.max(1),
            at: Timestamp::now(),
        });
        self.note(
            &self.root.clone(),
            format!(
                "[argo] workflow {} from WorkflowTemplate {} on {}",
                self.wf,
                self.target.template,
                self.client.server()
            ),
        );
        let end = match self.establish().await {
            Ok(wf) => match self.observe(&wf).await {
                Some(end) => end,
                None => self.follow().await,
            },
            Err(end) => end,
        };
        self.finish(end);
    }

    /// Waits the next backoff delay; `false` when terminate was requested meanwhile.
    async fn pause(&mut self) -> bool {
        let delay = self.backoff.next_delay();
        if self.terminating().is_some() {
            tokio::time::sleep(delay).await;
            return true;
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.wait_for(Option::is_some) => false,
        }
    }

    /// Finds the workflow (retrying it when it failed in an earlier attempt) or submits it.
    async fn establish(&mut self) -> Result<Workflow, End> {
        loop {
            let err = match self.client.workflow(&self.wf).await {
                Ok(wf) => return self.maybe_retry(wf).await,
                // Terminated before anything was submitted: nothing to stop.
                Err(ArgoWfError::NotFound { .. }) if self.terminating().is_some() => return Err(End::Stopped),
                Err(ArgoWfError::NotFound { .. }) => {
                    let opts = self.submit_opts();
                    match self.client.submit(&self.wf.namespace, &self.target.template, opts).await {
                        Ok(wf) => {
                            self.note(&self.root.clone(), format!("[argo] submitted workflow {}", self.wf));
                            return Ok(wf);
                        }
                        // Submitted meanwhile (a request that timed out after all): read it.
                        Err(ArgoWfError::AlreadyExists { .. }) => continue,
                        Err(e) if e.is_transient() => e,
                        Err(e) => {
                            return Err(End::Failed(format!("Argo refused to submit workflow {}: {e}", self.wf)));
                        }
                    }
                }
                Err(e) if e.is_transient() => e,
                Err(e) => return Err(End::Failed(e.to_string())),
            };
            if self.terminating().is_some() {
                self.note(
                    &self.root.clone(),
                    format!("[argo] terminated while the Argo Server could not be asked: {err}"),
                );
                return Err(End::Stopped);
            }
            tracing::warn!(workflow = %self.wf, error = %err, "Argo Server request failed; retrying");
            self.pause().await;
        }
    }

    /// Retries a workflow that failed in an earlier attempt of the release; returns it as it is
    /// otherwise.
    async fn maybe_retry(&mut self, wf: Workflow) -> Result<Workflow, End> {
        let failed = matches!(wf.status.phase.as_deref(), Some("Failed" | "Error"));
        let ran_for: u32 = parameter(&wf, ATTEMPT_PARAMETER).and_then(|v| v.parse().ok()).unwrap_or(0);
        if !failed || ran_for >= self.spec.attempt || self.terminating().is_some() {
            self.note(&self.root.clone(), format!("[argo] following workflow {} ({})", self.wf, phase(&wf)));
            return Ok(wf);
        }
        loop {
            let parameters = vec![format!("{ATTEMPT_PARAMETER}={}", self.spec.attempt)];
            match self.client.retry(&self.wf, parameters).await {
                Ok(retried) => {
                    self.note(&self.root.clone(), format!("[argo] retried workflow {} from its failed nodes", self.wf));
                    return Ok(retried);
                }
                Err(e) if e.is_transient() => {
                    if !self.pause().await {
                        return Ok(wf);
                    }
                }
                Err(e) => return Err(End::Failed(format!("Argo refused to retry workflow {}: {e}", self.wf))),
            }
        }
    }

    fn submit_opts(&self) -> SubmitOpts {
        let mut values: BTreeMap<String, String> =
            self.spec.workflow.params.iter().filter_map(|p| Some((p.name.to_string(), p.default.clone()?))).collect();
        values.extend(self.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        values.insert(ATTEMPT_PARAMETER.to_owned(), self.spec.attempt.to_string());
        let mut labels = Vec::new();
        let mut annotations = vec![format!("ferry/run={}", self.spec.run_id)];
        for (key, value) in &self.spec.labels {
            let label = ferry_argowf::names::label_value(value);
            if label != *value {
                annotations.push(format!("{key}={}", value.replace(',', "%2C")));
            }
            labels.push(format!("{key}={label}"));
        }
        SubmitOpts {
            name: self.wf.name.clone(),
            labels: labels.join(","),
            annotations: annotations.join(","),
            parameters: values.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            service_account: self.target.service_account.clone(),
        }
    }

    /// Follows the workflow's events until it is final; polls when the stream fails.
    async fn follow(&mut self) -> End {
        loop {
            match self.client.watch(&self.wf).await {
                Ok(mut watch) => loop {
                    let mut stop = self.stop.clone();
                    let wait_stop = !self.terminate_sent;
                    let next = tokio::select! {
                        next = tokio::time::timeout(self.resync, watch.next()) => Ok(next),
                        _ = stop.wait_for(Option::is_some), if wait_stop => Err(None),
                        Some(approval) = self.approvals.recv() => Err(Some(approval)),
                    };
                    let next = match next {
                        Ok(next) => Some(next),
                        Err(Some(approval)) => match self.resume(approval).await {
                            Some(end) => return end,
                            None => continue,
                        },
                        Err(None) => None,
                    };
                    let Some(next) = next else {
                        match self.send_terminate().await {
                            Some(end) => return end,
                            None => continue,
                        }
                    };
                    match next {
                        Ok(Some(Ok(wf))) => {
                            self.backoff.reset();
                            if let Some(end) = self.observe(&wf).await {
                                return end;
                            }
                        }
                        Ok(Some(Err(ArgoWfError::NotFound { .. }))) => return self.deleted(),
                        Ok(Some(Err(e))) => {
                            tracing::warn!(workflow = %self.wf, error = %e, "Argo workflow event stream failed");
                            break;
                        }
                        // The stream ended, or was silent for too long: read the workflow, then watch again.
                        Ok(None) | Err(_) => break,
                    }
                },
                Err(ArgoWfError::NotFound { .. }) => return self.deleted(),
                Err(e) if !e.is_transient() => return End::Failed(e.to_string()),
                Err(e) => tracing::warn!(workflow = %self.wf, error = %e, "cannot watch the Argo workflow; polling"),
            }
            if let Some(end) = self.poll().await {
                return end;
            }
        }
    }

    /// One read after a pause (the polling fallback), after carrying out the approvals that came.
    async fn poll(&mut self) -> Option<End> {
        if !self.pause().await
            && !self.terminate_sent
            && let Some(end) = self.send_terminate().await
        {
            return Some(end);
        }
        while let Ok(approval) = self.approvals.try_recv() {
            if let Some(end) = self.resume(approval).await {
                return Some(end);
            }
        }
        match self.client.workflow(&self.wf).await {
            Ok(wf) => self.observe(&wf).await,
            Err(ArgoWfError::NotFound { .. }) => Some(self.deleted()),
            Err(e) if e.is_transient() => {
                tracing::warn!(workflow = %self.wf, error = %e, "cannot read the Argo workflow; retrying");
                None
            }
            Err(e) => Some(End::Failed(e.to_string())),
        }
    }

    /// Resumes an approved suspend node (`PUT …/resume`, `nodeFieldSelector: id=<node>`; five tries
    /// over transient failures). When Argo refuses, or cannot be asked, the step waits again (it may
    /// be approved again) and its log says why.
    async fn resume(&mut self, approval: Approval) -> Option<End> {
        let Approval { step, node, actor } = approval;
        let mut why = String::new();
        for _ in 0..5 {
            match self.client.resume(&self.wf, &format!("id={node}")).await {
                Ok(wf) => {
                    self.note(&step, format!("[argo] approved by {actor}: resumed node {node}"));
                    self.approved_by.insert(node, actor);
                    return self.observe(&wf).await;
                }
                Err(ArgoWfError::NotFound { .. }) => return Some(self.deleted()),
                Err(e) if e.is_transient() => {
                    why = e.to_string();
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
                Err(e) => {
                    why = e.to_string();
                    break;
                }
            }
        }
        tracing::warn!(workflow = %self.wf, node = %node, error = %why, "Argo did not resume the suspended node");
        self.note(&step, format!("[argo] the approval by {actor} could not resume node {node}: {why}"));
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner).insert(step, node);
        None
    }

    fn deleted(&self) -> End {
        End::Failed(format!("the Argo workflow {} was deleted outside Ferry (on {})", self.wf, self.client.server()))
    }

    /// Asks Argo to terminate the workflow (five tries over transient failures); the end when the
    /// workflow is over, or when Argo cannot be asked (the run then ends Terminated with the cause:
    /// the workflow may still run in Argo).
    async fn send_terminate(&mut self) -> Option<End> {
        self.terminate_sent = true;
        let mut last = None;
        for _ in 0..5 {
            match self.client.terminate(&self.wf).await {
                Ok(wf) => return self.observe(&wf).await,
                Err(ArgoWfError::NotFound { .. }) => return Some(self.deleted()),
                Err(e) if e.is_transient() => {
                    last = Some(e);
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
                Err(e) => return Some(End::Failed(format!("Argo refused to terminate workflow {}: {e}", self.wf))),
            }
        }
        let cause = last.map(|e| e.to_string()).unwrap_or_default();
        Some(End::Failed(format!(
            "terminate could not reach Argo for workflow {} (it may still run): {cause}",
            self.wf
        )))
    }

    /// Reports what changed in the workflow's nodes; the end when the workflow is final.
    async fn observe(&mut self, wf: &Workflow) -> Option<End> {
        let final_phase = matches!(wf.status.phase.as_deref(), Some("Succeeded" | "Failed" | "Error"));
        for node in node_steps(wf) {
            self.observe_node(&node, final_phase).await;
        }
        final_phase.then(|| End::Done(Box::new(wf.clone())))
    }

    /// Reports a node's news. The end of a node is held back (see `held`) when it failed or when the
    /// workflow is over.
    async fn observe_node(&mut self, node: &NodeStep, workflow_over: bool) {
        let reported = match self.nodes.get(&node.id) {
            Some(r) => r.clone(),
            None => {
                let Ok(name) = StepName::new(self.namer.name(node)) else { return };
                let done = self.completed.contains(&name) && node.status == StepStatus::Success;
                if !done {
                    self.send(RunEvent::StepAdded { step: name.clone(), at: Timestamp::now() });
                }
                Reported { name, attempts: 0, started: done, finished: done, waiting: false }
            }
        };
        let mut r = reported;
        if r.finished {
            self.nodes.insert(node.id.clone(), r);
            return;
        }
        let at = Timestamp::now();
        if node.status != StepStatus::Pending && (!r.started || node.attempts > r.attempts) {
            r.started = true;
            r.attempts = node.attempts;
            self.send(RunEvent::StepStarted { step: r.name.clone(), attempt: node.attempts, at });
        }
        if node.suspended != r.waiting {
            r.waiting = node.suspended;
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            if node.suspended {
                waiting.insert(r.name.clone(), node.id.clone());
                drop(waiting);
                let message = node.message.clone().unwrap_or_else(|| {
                    format!("the Argo workflow {} is suspended at node {}: approve to resume it", self.wf, node.display)
                });
                self.send(RunEvent::StepWaiting { step: r.name.clone(), message, at });
            } else {
                // Resumed (through Ferry, or in Argo itself), or stopped.
                waiting.remove(&r.name);
            }
        }
        if node.status.is_final() {
            r.finished = true;
            if is_skip(node.phase.as_deref()) {
                let why = node.message.clone().unwrap_or_else(|| "its condition was false".to_owned());
                self.note(&r.name, format!("[argo] skipped: {why}"));
            } else if let Some(pod) = &node.pod {
                self.send_logs(&r.name, pod).await;
            }
            let status = match (self.terminating(), node.status) {
                (Some(_), StepStatus::Failed | StepStatus::Error) => StepStatus::Terminated,
                (_, status) => status,
            };
            let error = (status != StepStatus::Success).then(|| node.message.clone()).flatten();
            let mut outputs = Outputs::new();
            if let Some(actor) = self.approved_by.get(&node.id).filter(|_| status == StepStatus::Success) {
                outputs.insert(ferry_runner::APPROVED_BY.to_owned(), actor.clone());
            }
            let end = RunEvent::StepFinished {
                step: r.name.clone(),
                status,
                exit_code: node.exit_code,
                error,
                outputs,
                attempts: node.attempts,
                at: Timestamp::now(),
            };
            if workflow_over || status.is_failure() {
                self.held.push(end);
            } else {
                self.send(end);
            }
        }
        self.nodes.insert(node.id.clone(), r);
    }

    async fn send_logs(&self, step: &StepName, pod: &str) {
        let lines = match self.client.logs(&self.wf, pod).await {
            Ok(lines) => lines,
            Err(e) => vec![format!("[argo] the log of pod {pod} could not be read: {e}")],
        };
        let at = Timestamp::now();
        for chunk in lines.chunks(ferry_runner::MAX_BATCH_LINES) {
            let lines =
                chunk.iter().map(|text| LogLine { at, stream: LogStream::Stdout, text: text.clone() }).collect();
            self.send(RunEvent::Log { step: step.clone(), lines });
        }
    }

    /// Ends the run: unfinished steps, the workflow's own step, then `Finished`.
    fn finish(&mut self, end: End) {
        let terminating = self.terminating();
        let (status, error, outputs) = match &end {
            End::Done(wf) => {
                let phase_status = phase_status(wf.status.phase.as_deref());
                let message = wf.status.message.clone().filter(|m| !m.is_empty());
                match (&terminating, phase_status) {
                    (_, StepStatus::Success) => (StepStatus::Success, None, ferry_argowf::workflow_outputs(wf)),
                    (Some(reason), _) => (StepStatus::Terminated, Some(reason.clone()), Outputs::new()),
                    (None, status) => (
                        status,
                        Some(message.unwrap_or_else(|| format!("the Argo workflow {} ended {}", self.wf, phase(wf)))),
                        Outputs::new(),
                    ),
                }
            }
            // A run being terminated ends Terminated whatever stopped the following.
            End::Failed(message) if terminating.is_some() => {
                (StepStatus::Terminated, Some(message.clone()), Outputs::new())
            }
            End::Failed(message) => (StepStatus::Error, Some(message.clone()), Outputs::new()),
            End::Stopped => (StepStatus::Terminated, terminating.clone(), Outputs::new()),
        };
        if let Some(e) = &error {
            self.note(&self.root.clone(), format!("[argo] {e}"));
        }
        let mut together = std::mem::take(&mut self.held);
        for r in self.nodes.values().filter(|r| !r.finished) {
            if status == StepStatus::Success {
                // A succeeded workflow's nodes succeeded (or never had to run).
                if !r.started {
                    together.push(RunEvent::StepStarted { step: r.name.clone(), attempt: 1, at: Timestamp::now() });
                }
                together.push(finished_step(r.name.clone(), StepStatus::Success, None, Outputs::new()));
            } else if r.started {
                let why = error.clone().or_else(|| Some("the Argo workflow ended before this node did".to_owned()));
                together.push(finished_step(r.name.clone(), status, why, Outputs::new()));
            }
        }
        together.push(finished_step(self.root.clone(), status, error.clone(), outputs));
        self.send(RunEvent::Together { events: together });
        self.send(RunEvent::Finished { status, error, at: Timestamp::now() });
    }
}

fn finished_step(step: StepName, status: StepStatus, error: Option<String>, outputs: Outputs) -> RunEvent {
    RunEvent::StepFinished { step, status, exit_code: None, error, outputs, attempts: 1, at: Timestamp::now() }
}

fn phase(wf: &Workflow) -> String {
    wf.status.phase.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "not yet started".to_owned())
}
