//! The engine task: owns active releases, commits events, plans and executes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_git::{FilePlan, GitCache, PromotionOutcome, PromotionRequest};
use ferry_model::names::{AppName, EnvName, FlowName, ProductName, ReleaseId};
use ferry_model::release::{
    GitOperation, Issue, IssueDetail, IssueKind, ReleaseEvent, ReleaseState, RunId, RunTarget, Stage, log_tail,
};
use ferry_model::resources::{Action, Application, Catalog, Concurrency, StatusSource, TriggerFacts};
use ferry_model::status::ReleaseStatus;
use ferry_model::status::StepStatus;
use ferry_model::template::resolve_template;
use ferry_runner::{CompletedStep, RunControl, Runner, RunnerConfig};
use ferry_store::{AppStateRow, NewEvent, PullRequestFilter, PullRequestRow, ReleaseWrite, Store, Write, WriteOutcome};
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use crate::handle::{
    EngineError, EngineHandle, GitPush, PromoteRequest, Promoted, PullRequestInfo, PushAccepted, PushedStatus, Request,
};
use crate::plan::{PlanInput, Step, Work, plan};
use crate::snapshot::{FlowChoice, build_snapshot};
use crate::triggers::{TriggerCheck, TriggerOutcome, check, released_key, seen_key, trigger_apps};
use crate::view::{release_row, stored_view};
use crate::work::{Msg, Outcome, PromoteJob, RunJob, WatchJob};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory for git mirrors, checkouts and workflow scratch space.
    pub data_dir: PathBuf,
    /// Public base URL of the server, used for `RELEASE_URL` (e.g. `http://127.0.0.1:7878`).
    pub base_url: String,
    /// How often trigger environments' branches are polled.
    pub poll_interval: Duration,
    /// How often health commands are re-run while an application is not yet healthy.
    pub health_poll_interval: Duration,
    /// Most workflow steps running at once in this process.
    pub max_concurrent_steps: usize,
    /// Most releases of one product waiting in its queue (SPEC §3.9: 50); the oldest is terminated
    /// beyond it.
    pub queue_limit: usize,
    /// Time between SIGTERM and SIGKILL when a workflow step is stopped (SPEC §3.5: 10 s).
    pub kill_grace: Duration,
    /// Jira client for release-notes enrichment (SPEC §5); `None` = no enrichment.
    pub jira: Option<Arc<ferry_notes::jira::Jira>>,
    /// A token for `https://` git remotes whose URL carries no credentials (`--git-token-file`).
    pub git_credentials: Option<ferry_git::Credentials>,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: PathBuf, base_url: String) -> Self {
        EngineConfig {
            data_dir,
            base_url,
            poll_interval: Duration::from_secs(30),
            health_poll_interval: Duration::from_secs(2),
            max_concurrent_steps: 16,
            queue_limit: 50,
            kill_grace: Duration::from_secs(10),
            jira: None,
            git_credentials: None,
        }
    }
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

struct Active {
    state: ReleaseState,
    next_seq: i64,
    in_flight: HashSet<String>,
}

struct Engine<S: Store> {
    store: S,
    config: EngineConfig,
    catalog: Arc<Catalog>,
    catalog_tx: watch::Sender<Arc<Catalog>>,
    git: Arc<GitCache>,
    runner: Runner,
    releases: BTreeMap<ReleaseId, Active>,
    msgs: mpsc::UnboundedSender<Msg>,
    controls: Arc<Mutex<BTreeMap<RunId, RunControl>>>,
    pushed: HashMap<AppName, watch::Sender<Option<PushedStatus>>>,
    /// Snapshots being built, answered when done.
    creating: mpsc::UnboundedSender<Created>,
    /// Applications whose trigger check is under way.
    checking: HashSet<AppName>,
    /// Results of trigger checks.
    triggers: mpsc::UnboundedSender<(AppName, TriggerOutcome)>,
    /// Applications to check again once their current check ends (a push arrived meanwhile).
    recheck: HashSet<AppName>,
    /// Health-wait tasks, abandoned on terminate.
    watches: HashMap<(ReleaseId, String), tokio::task::AbortHandle>,
    /// The run currently executing each (workflow, environment, application) slot, for supersession.
    slots: HashMap<(String, String, String), (ReleaseId, RunId)>,
}

struct Created {
    result: Result<(ReleaseId, ferry_model::release::ReleaseSnapshot), EngineError>,
    reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
    /// For automatic triggers: the product, to record why no release was created.
    auto: Option<String>,
}

/// Starts the engine on `store`: loads the latest configuration, recovers active releases and
/// serves requests until every handle is dropped.
pub async fn start<S: Store>(
    store: S,
    config: EngineConfig,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    let catalog = match store.latest_config().await.map_err(internal)? {
        Some(version) => serde_json::from_value::<Catalog>(version.catalog).map_err(internal)?,
        None => Catalog::default(),
    };
    let catalog = Arc::new(catalog);
    let (catalog_tx, catalog_rx) = watch::channel(catalog.clone());
    let (tx, rx) = mpsc::channel(1024);
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let (created_tx, created_rx) = mpsc::unbounded_channel();
    let (trigger_tx, trigger_rx) = mpsc::unbounded_channel();
    std::fs::create_dir_all(&config.data_dir).map_err(internal)?;
    // Steps left running by a Ferry process that died are stopped before their runs resume.
    let reaped = ferry_runner::reap_orphans(&config.data_dir.join("runner"));
    if reaped > 0 {
        tracing::warn!(count = reaped, "stopped workflow processes left by an earlier Ferry process");
    }
    let runner = Runner::new(RunnerConfig {
        max_concurrent_steps: config.max_concurrent_steps.max(1),
        work_dir: config.data_dir.join("runner"),
        kill_grace: config.kill_grace,
        ..RunnerConfig::default()
    });
    let mut engine = Engine {
        store,
        git: Arc::new(GitCache::new(config.data_dir.join("git")).with_credentials(config.git_credentials.clone())),
        config,
        catalog,
        catalog_tx,
        runner,
        releases: BTreeMap::new(),
        msgs: msg_tx,
        controls: Arc::new(Mutex::new(BTreeMap::new())),
        pushed: HashMap::new(),
        creating: created_tx,
        checking: HashSet::new(),
        triggers: trigger_tx,
        recheck: HashSet::new(),
        watches: HashMap::new(),
        slots: HashMap::new(),
    };
    engine.recover().await?;
    let task = tokio::spawn(async move { engine.run(rx, msg_rx, created_rx, trigger_rx).await });
    Ok((EngineHandle { requests: tx, catalog: catalog_rx }, task))
}

impl<S: Store> Engine<S> {
    /// Replays the log of every active release and plans again: unfinished work is re-issued.
    async fn recover(&mut self) -> Result<(), EngineError> {
        for id in self.store.active_releases().await.map_err(internal)? {
            let id =
                id.parse::<uuid::Uuid>().map(ReleaseId).map_err(|e| internal(format!("release id {id:?}: {e}")))?;
            let active = self.load_release(id).await?;
            self.releases.insert(id, active);
        }
        let ids: Vec<ReleaseId> = self.releases.keys().copied().collect();
        for id in ids {
            self.drive(id).await;
        }
        Ok(())
    }

    async fn run(
        &mut self,
        mut requests: mpsc::Receiver<Request>,
        mut msgs: mpsc::UnboundedReceiver<Msg>,
        mut created: mpsc::UnboundedReceiver<Created>,
        mut triggers: mpsc::UnboundedReceiver<(AppName, TriggerOutcome)>,
    ) {
        let mut poll = tokio::time::interval(self.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.handle_request(request).await,
                    None => break,
                },
                Some(msg) = msgs.recv() => self.handle_msg(msg).await,
                Some(done) = created.recv() => self.handle_created(done).await,
                Some((app, outcome)) = triggers.recv() => self.handle_trigger(app, outcome).await,
                _ = sleep_until(self.next_deadline()) => self.check_deadlines().await,
                _ = poll.tick() => {
                    let apps: Vec<AppName> = trigger_apps(&self.catalog).into_iter().map(|a| a.name.clone()).collect();
                    for app in apps {
                        self.start_check(app);
                    }
                }
            }
        }
    }

    /// Records the current commit of every trigger application seen for the first time, so that only
    /// commits made after the configuration was applied trigger releases.
    async fn record_baselines(&mut self) {
        let apps: Vec<Application> = trigger_apps(&self.catalog).into_iter().cloned().collect();
        let mut writes = Vec::new();
        for app in apps {
            match self.store.kv_get(&seen_key(&app.name)).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a trigger baseline");
                    continue;
                }
            }
            let git = self.git.clone();
            let source = app.source.clone();
            let found = tokio::task::spawn_blocking(move || {
                git.fetch(&source.repo_url)?;
                git.last_commit_touching(&source.repo_url, &source.target_revision, &source.path)
            })
            .await;
            match found {
                Ok(Ok(Some(commit))) => {
                    writes.push(Write::Kv { key: seen_key(&app.name), value: commit.sha.to_string() })
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    self.product_event(
                        app.product.as_str(),
                        "trigger-check-failed",
                        format!("cannot read {}: {e}", app.name),
                    )
                    .await
                }
                Err(e) => tracing::warn!(error = %e, "trigger baseline task failed"),
            }
        }
        if !writes.is_empty()
            && let Err(e) = self.store.write(writes).await
        {
            tracing::warn!(error = %e, "cannot store trigger baselines");
        }
    }

    /// Starts a trigger check of `app`; when one is under way, another follows it.
    fn start_check(&mut self, app: AppName) {
        let Some(application) = self.catalog.applications.get(&app).cloned() else { return };
        if !self.checking.insert(app.clone()) {
            self.recheck.insert(app);
            return;
        }
        let pushed = self.pushed.entry(app.clone()).or_insert_with(|| watch::channel(None).0).subscribe();
        let (store, git, tx) = (self.store.clone(), self.git.clone(), self.triggers.clone());
        let deploy_root = self.config.data_dir.join("deploy");
        let poll = self.config.health_poll_interval;
        tokio::spawn(async move {
            let seen = match store.kv_get(&seen_key(&app)).await {
                Ok(seen) => seen,
                Err(e) => {
                    let _ = tx.send((app, TriggerOutcome::Failed { error: e.to_string() }));
                    return;
                }
            };
            let product = application.product.to_string();
            let env = application.environment.to_string();
            let notify_store = store.clone();
            let job = TriggerCheck { app: application, seen, deploy_root, poll, pushed };
            let outcome = check(job, git, |commit| {
                let message = format!(
                    "commit {} \"{}\" is waiting for trigger environment {env} to be synced and healthy",
                    commit.sha.short(),
                    commit.subject()
                );
                let write = Write::ProductEvent {
                    product,
                    kind: "waiting-for-trigger-environment".into(),
                    message,
                    at: crate::now(),
                };
                tokio::spawn(async move {
                    let _ = notify_store.write(vec![write]).await;
                });
            })
            .await;
            let _ = tx.send((app, outcome));
        });
    }

    async fn product_event(&self, product: &str, kind: &str, message: String) {
        let write =
            Write::ProductEvent { product: product.to_owned(), kind: kind.to_owned(), message, at: crate::now() };
        if let Err(e) = self.store.write(vec![write]).await {
            tracing::warn!(error = %e, "cannot store a product event");
        }
    }

    async fn handle_trigger(&mut self, app: AppName, outcome: TriggerOutcome) {
        self.handle_trigger_outcome(&app, outcome).await;
        self.checking.remove(&app);
        if self.recheck.remove(&app) {
            self.start_check(app);
        }
    }

    async fn handle_trigger_outcome(&mut self, app: &AppName, outcome: TriggerOutcome) {
        let app = app.clone();
        let Some(application) = self.catalog.applications.get(&app).cloned() else { return };
        let product = application.product.to_string();
        let remember = |sha: String| Write::Kv { key: seen_key(&app), value: sha };
        match outcome {
            TriggerOutcome::Unchanged => {}
            TriggerOutcome::Baseline { sha } => {
                if let Err(e) = self.store.write(vec![remember(sha)]).await {
                    tracing::warn!(error = %e, "cannot store a trigger baseline");
                }
            }
            TriggerOutcome::Failed { error } => {
                self.product_event(
                    &product,
                    "trigger-check-failed",
                    format!("checking {app} for new commits failed: {error}"),
                )
                .await;
            }
            TriggerOutcome::NotHealthy { commit, message } => {
                let _ = self.store.write(vec![remember(commit.sha.to_string())]).await;
                self.product_event(
                    &product,
                    "trigger-environment-unhealthy",
                    format!(
                        "commit {} did not become healthy in {}: {message}; no release",
                        commit.sha.short(),
                        application.environment
                    ),
                )
                .await;
            }
            TriggerOutcome::Ready { commit } => {
                let Some(prod) = self.catalog.products.get(&application.product) else { return };
                let facts = TriggerFacts {
                    branch: &application.source.target_revision,
                    sha: commit.sha.as_str(),
                    message: &commit.message,
                };
                let Some(flow) = prod.choose_flow(&application.environment, &self.catalog.flows, &facts).cloned()
                else {
                    if let Err(e) = self.store.write(vec![remember(commit.sha.to_string())]).await {
                        tracing::warn!(error = %e, "cannot store the trigger commit");
                        return;
                    }
                    let tried: Vec<String> = prod.promotion_flows.iter().map(|f| f.flow.to_string()).collect();
                    self.product_event(
                        &product,
                        "no-flow-matched",
                        format!(
                            "commit {} \"{}\" on {} matches no promotion flow triggered from {} (tried: {}); no release",
                            commit.sha.short(),
                            commit.subject(),
                            application.source.target_revision,
                            application.environment,
                            if tried.is_empty() { "none".to_owned() } else { tried.join(", ") }
                        ),
                    )
                    .await;
                    return;
                };
                // One commit creates at most one release per product and flow, however many of the
                // product's applications in the trigger environment it changed.
                let released = released_key(&product, flow.as_str(), commit.sha.as_str());
                let earlier = match self.store.kv_get(&released).await {
                    Ok(earlier) => earlier,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read which commits created releases");
                        return;
                    }
                };
                if let Some(release) = earlier {
                    let _ = self.store.write(vec![remember(commit.sha.to_string())]).await;
                    self.product_event(
                        &product,
                        "trigger-already-released",
                        format!(
                            "commit {} already started release {release} of flow {flow}; {app} is part of it",
                            commit.sha.short()
                        ),
                    )
                    .await;
                    return;
                }
                let id = ReleaseId(uuid::Uuid::now_v7());
                let writes = vec![remember(commit.sha.to_string()), Write::Kv { key: released, value: id.to_string() }];
                if let Err(e) = self.store.write(writes).await {
                    tracing::warn!(error = %e, "cannot store the trigger commit");
                    return;
                }
                let initiator = format!("{} · ferry (auto)", commit.author_name);
                let (git, catalog, tx) = (self.git.clone(), self.catalog.clone(), self.creating.clone());
                let product_name = application.product.clone();
                let (reply, _ignored) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let choice = FlowChoice::Flow(flow);
                    let result = tokio::task::spawn_blocking(move || {
                        build_snapshot(&git, &catalog, &product_name, &choice, &initiator)
                    })
                    .await
                    .unwrap_or_else(|e| Err(internal(e)))
                    .map(|snapshot| (id, snapshot));
                    let _ = tx.send(Created { result, reply, auto: Some(product) });
                });
            }
        }
    }

    async fn handle_request(&mut self, request: Request) {
        match request {
            Request::ApplyConfig { catalog, actor, reply } => {
                let _ = reply.send(self.apply_config(*catalog, actor).await);
            }
            Request::Promote { request, actor, reply } => self.promote(request, actor, reply),
            Request::PushStatus { app, status, reply } => {
                let _ = reply.send(self.push_status(app, status).await);
            }
            Request::GitPush { push, reply } => {
                let accepted = self.git_push(push);
                if let Ok(accepted) = &accepted {
                    let trigger: HashSet<AppName> =
                        trigger_apps(&self.catalog).into_iter().map(|a| a.name.clone()).collect();
                    for app in accepted.applications.iter().filter(|a| trigger.contains(*a)) {
                        self.start_check(app.clone());
                    }
                }
                let _ = reply.send(accepted);
            }
            Request::Terminate { release, reason, actor, reply } => {
                let _ = reply.send(self.terminate(release, reason, actor).await);
            }
            Request::Retry { release, actor, reply } => {
                let _ = reply.send(self.retry(release, actor).await);
            }
            Request::Approve { release, env, actor, reply } => {
                let _ = reply.send(self.approve(release, env, actor));
            }
            Request::PullRequests { reply } => {
                let result = self
                    .store
                    .pull_requests(PullRequestFilter::default())
                    .await
                    .map(|rows| rows.into_iter().map(pr_info).collect())
                    .map_err(internal);
                let _ = reply.send(result);
            }
            Request::MergePr { number, actor, reply } => {
                let _ = reply.send(self.merge_pr(number, actor).await);
            }
            Request::ClosePr { number, actor, comment, reply } => {
                let comment = if comment.trim().is_empty() { format!("closed by {actor}") } else { comment };
                let _ = reply.send(self.close_pr(number, comment).await);
            }
            Request::Notes { release, first_parent, reply } => {
                // Computed in a task of its own: the history walks never hold up the engine.
                let job = crate::notes::NotesJob {
                    store: self.store.clone(),
                    git: self.git.clone(),
                    catalog: self.catalog.clone(),
                    jira: self.config.jira.clone(),
                    release,
                    first_parent,
                    state: self.releases.get(&release).map(|a| a.state.clone()),
                };
                tokio::spawn(async move {
                    let _ = reply.send(crate::notes::release_notes(job).await);
                });
            }
        }
    }

    async fn apply_config(&mut self, catalog: Catalog, actor: String) -> Result<i64, EngineError> {
        let json = serde_json::to_value(&catalog).map_err(internal)?;
        let write = Write::Config { applied_by: actor, catalog: json, at: crate::now() };
        match self.store.write(vec![write]).await.map_err(internal)?.into_iter().next() {
            Some(Ok(WriteOutcome::ConfigVersion(v))) => {
                self.catalog = Arc::new(catalog);
                self.catalog_tx.send_replace(self.catalog.clone());
                self.record_baselines().await;
                Ok(v)
            }
            Some(Err(e)) => Err(internal(e)),
            _ => Err(internal("the store did not return a configuration version")),
        }
    }

    fn promote(
        &mut self,
        request: PromoteRequest,
        actor: String,
        reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
    ) {
        let invalid = |m: String| EngineError::Invalid { message: m, details: Vec::new() };
        let parsed = (|| {
            let product = ProductName::new(&request.product).map_err(|e| invalid(format!("product: {e}")))?;
            let prod = self
                .catalog
                .products
                .get(&product)
                .ok_or_else(|| EngineError::NotFound(format!("product {:?} is not configured", request.product)))?;
            let choice = match (&request.flow, &request.from, &request.to) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err(invalid("give either flow, or from and to, not both".into()));
                }
                (None, Some(from), Some(to)) => FlowChoice::Manual {
                    from: EnvName::new(from).map_err(|e| invalid(format!("from: {e}")))?,
                    to: EnvName::new(to).map_err(|e| invalid(format!("to: {e}")))?,
                },
                (None, Some(_), None) | (None, None, Some(_)) => {
                    return Err(invalid("a single-environment promotion needs both from and to".into()));
                }
                (Some(flow), None, None) => {
                    let flow = FlowName::new(flow).map_err(|e| invalid(format!("flow: {e}")))?;
                    if !self.catalog.flows.contains_key(&flow) {
                        return Err(EngineError::NotFound(format!("flow {:?} is not configured", flow.as_str())));
                    }
                    FlowChoice::Flow(flow)
                }
                (None, None, None) => match prod.promotion_flows.first() {
                    Some(sel) => FlowChoice::Flow(sel.flow.clone()),
                    None => return Err(invalid(format!("product {product} has no promotion flows; name one"))),
                },
            };
            Ok((product, choice))
        })();
        let (product, choice) = match parsed {
            Ok(v) => v,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let (git, catalog, tx) = (self.git.clone(), self.catalog.clone(), self.creating.clone());
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || build_snapshot(&git, &catalog, &product, &choice, &actor))
                .await
                .unwrap_or_else(|e| Err(internal(e)))
                .map(|snapshot| (ReleaseId(uuid::Uuid::now_v7()), snapshot));
            let _ = tx.send(Created { result, reply, auto: None });
        });
    }

    async fn handle_created(&mut self, created: Created) {
        let Created { result, reply, auto } = created;
        let (id, snapshot) = match result {
            Ok(v) => v,
            Err(e) => {
                if let Some(product) = auto {
                    self.product_event(&product, "release-not-created", format!("no release was created: {e}")).await;
                }
                let _ = reply.send(Err(e));
                return;
            }
        };
        let at = crate::now();
        let state = match ReleaseState::new(id, snapshot.clone(), at) {
            Ok(s) => s,
            Err(e) => {
                let _ = reply.send(Err(internal(e)));
                return;
            }
        };
        let event = ReleaseEvent::Created { id, snapshot: Box::new(snapshot), at };
        self.releases.insert(id, Active { state: state.clone(), next_seq: 0, in_flight: HashSet::new() });
        if let Err(e) = self.commit(id, vec![event], state).await {
            self.releases.remove(&id);
            let _ = reply.send(Err(e));
            return;
        }
        let _ = reply.send(Ok(Promoted { release: id }));
        self.enforce_concurrency(id).await;
        self.drive(id).await;
    }

    async fn push_status(&mut self, app: String, status: PushedStatus) -> Result<(), EngineError> {
        let name = AppName::new(&app).map_err(|e| EngineError::Invalid { message: e.to_string(), details: vec![] })?;
        let application = self
            .catalog
            .applications
            .get(&name)
            .ok_or_else(|| EngineError::NotFound(format!("application {app:?} is not configured")))?;
        if !matches!(application.status, StatusSource::Push { .. }) {
            return Err(EngineError::Conflict(format!(
                "application {app} does not take status reports: its status source is not push"
            )));
        }
        let row = AppStateRow {
            application: app.clone(),
            product: application.product.to_string(),
            environment: application.environment.to_string(),
            component: application.component.to_string(),
            version: None,
            revision: status.revision.clone(),
            sync: status.sync.clone(),
            health: status.health.clone(),
            message: status.message.clone(),
            release_id: None,
            updated_at: crate::now(),
        };
        self.store.write(vec![Write::AppStates(vec![row])]).await.map_err(internal)?;
        self.pushed.entry(name).or_insert_with(|| watch::channel(None).0).send_replace(Some(status));
        Ok(())
    }

    fn git_push(&mut self, push: GitPush) -> Result<PushAccepted, EngineError> {
        let normalise = |u: &str| u.trim_end_matches('/').trim_end_matches(".git").to_ascii_lowercase();
        let urls: Vec<String> = push.repo_urls.iter().map(|u| normalise(u)).collect();
        let applications: Vec<AppName> = self
            .catalog
            .applications
            .values()
            .filter(|a| a.source.target_revision == push.branch && urls.contains(&normalise(&a.source.repo_url)))
            .map(|a| a.name.clone())
            .collect();
        Ok(PushAccepted { applications })
    }

    // ------------------------------------------------------------------------------ release control

    /// Loads a release from its event log (at recovery, or to answer a control request about a release
    /// that ended).
    async fn load_release(&self, id: ReleaseId) -> Result<Active, EngineError> {
        let (state, events) = crate::notes::replay(&self.store, &id.to_string()).await?;
        Ok(Active { state, next_seq: events as i64, in_flight: HashSet::new() })
    }

    /// Records a terminate request and stops what runs (SPEC §3.5).
    async fn terminate(&mut self, id: ReleaseId, reason: String, actor: String) -> Result<(), EngineError> {
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(EngineError::Invalid {
                message: "reason: give a reason for terminating".into(),
                details: vec![],
            });
        }
        let status = match self.releases.get(&id) {
            Some(active) => active.state.status(),
            None => self.load_release(id).await?.state.status(),
        };
        if status == ReleaseStatus::Terminating {
            return Err(EngineError::Conflict(format!("release {id} is already being terminated")));
        }
        if !status.can_terminate() {
            return Err(EngineError::Conflict(format!(
                "release {id} is {status}; only Queued, Running or Suspended releases can be terminated"
            )));
        }
        self.request_termination(id, reason, actor).await
    }

    /// Records `TerminateRequested`, then stops running steps and health waits of the release.
    async fn request_termination(&mut self, id: ReleaseId, reason: String, actor: String) -> Result<(), EngineError> {
        let Some(active) = self.releases.get(&id) else {
            return Err(EngineError::Conflict(format!("release {id} is not active")));
        };
        let event = ReleaseEvent::TerminateRequested { reason: reason.clone(), actor, at: crate::now() };
        let mut next = active.state.clone();
        next.apply(&event).map_err(|e| EngineError::Conflict(e.to_string()))?;
        self.commit(id, vec![event], next).await?;
        self.stop_work(id, &reason);
        self.close_release_prs(id, &reason).await;
        self.drive(id).await;
        Ok(())
    }

    /// Stops the release's running workflow steps (SIGTERM, then SIGKILL after the grace period) and
    /// abandons its health waits.
    fn stop_work(&mut self, id: ReleaseId, reason: &str) {
        let Some(active) = self.releases.get_mut(&id) else { return };
        let runs: Vec<RunId> = active
            .in_flight
            .iter()
            .filter_map(|k| k.strip_prefix("run:"))
            .filter_map(|r| r.parse::<uuid::Uuid>().ok().map(RunId))
            .collect();
        if let Ok(controls) = self.controls.lock() {
            for run in runs {
                if let Some(control) = controls.get(&run) {
                    control.terminate(reason.to_owned());
                }
            }
        }
        let watches: Vec<String> = active.in_flight.iter().filter(|k| k.starts_with("watch:")).cloned().collect();
        for key in watches {
            active.in_flight.remove(&key);
            if let Some(handle) = self.watches.remove(&(id, key)) {
                handle.abort();
            }
        }
    }

    /// Retries a Failed release at the point of failure (SPEC §3.8).
    async fn retry(&mut self, id: ReleaseId, actor: String) -> Result<(), EngineError> {
        if !self.releases.contains_key(&id) {
            let loaded = self.load_release(id).await?;
            let status = loaded.state.status();
            if status != ReleaseStatus::Failed {
                return Err(EngineError::Conflict(format!(
                    "release {id} is {status}; only Failed releases can be retried"
                )));
            }
            self.releases.insert(id, loaded);
        }
        let Some(active) = self.releases.get(&id) else { return Err(internal("release vanished")) };
        let status = active.state.status();
        if status != ReleaseStatus::Failed {
            return Err(EngineError::Conflict(format!(
                "release {id} is {status}; only Failed releases can be retried"
            )));
        }
        if active.state.is_busy() || !active.in_flight.is_empty() {
            return Err(EngineError::Conflict(format!(
                "release {id} still has work running; retry once everything in it has stopped"
            )));
        }
        let event = ReleaseEvent::RetryRequested { actor, at: crate::now() };
        let mut next = active.state.clone();
        next.apply(&event).map_err(|e| EngineError::Conflict(e.to_string()))?;
        self.commit(id, vec![event], next).await?;
        self.drive(id).await;
        Ok(())
    }

    /// Approves the approval steps waiting in environment `env` of release `id`.
    fn approve(&mut self, id: ReleaseId, env: String, actor: String) -> Result<Vec<String>, EngineError> {
        let active = self
            .releases
            .get(&id)
            .ok_or_else(|| EngineError::Conflict(format!("release {id} is not running; nothing waits for approval")))?;
        let env = EnvName::new(&env)
            .map_err(|e| EngineError::Invalid { message: format!("environment: {e}"), details: vec![] })?;
        let state = &active.state;
        let e = state
            .environment(&env)
            .ok_or_else(|| EngineError::NotFound(format!("release {id} has no environment {env}")))?;
        let waiting: Vec<(RunId, ferry_model::names::StepName)> = e
            .hook_runs
            .iter()
            .chain(e.apps.iter().flat_map(|a| a.runs.iter()))
            .filter(|r| !r.retired)
            .flat_map(|r| r.steps.iter().filter(|s| s.awaiting_approval.is_some()).map(move |s| (r.id, s.name.clone())))
            .collect();
        if waiting.is_empty() {
            return Err(EngineError::Conflict(format!("nothing in {env} of release {id} waits for approval")));
        }
        let controls = self.controls.lock().map_err(|_| internal("run controls are unavailable"))?;
        let mut approved = Vec::new();
        for (run, step) in waiting {
            if let Some(control) = controls.get(&run) {
                control.approve(&step, actor.clone()).map_err(|e| EngineError::Conflict(e.to_string()))?;
                approved.push(format!("{run}/{step}"));
            }
        }
        if approved.is_empty() {
            return Err(EngineError::Conflict(format!(
                "the approval steps of {env} are not running right now; try again"
            )));
        }
        Ok(approved)
    }

    /// Terminates releases whose flow timeout passed.
    async fn check_deadlines(&mut self) {
        let now = crate::now();
        let due: Vec<(ReleaseId, String)> = self
            .releases
            .iter()
            .filter(|(_, a)| {
                a.state.terminate_request().is_none()
                    && a.state.finished_at().is_none()
                    && a.state.deadline().is_some_and(|d| d <= now)
            })
            .map(|(id, a)| {
                (*id, format!("timed out after {}", ferry_model::format_duration(a.state.snapshot().timeout)))
            })
            .collect();
        for (id, reason) in due {
            if let Err(e) = self.request_termination(id, reason, "ferry".into()).await {
                tracing::error!(release = %id, error = %e, "cannot terminate a release that timed out");
            }
        }
    }

    /// The earliest flow deadline among active releases.
    fn next_deadline(&self) -> Option<Timestamp> {
        self.releases
            .values()
            .filter(|a| a.state.terminate_request().is_none() && a.state.finished_at().is_none())
            .filter_map(|a| a.state.deadline())
            .min()
    }

    /// Applies the product's concurrency mode to a release just created (SPEC §3.9).
    async fn enforce_concurrency(&mut self, id: ReleaseId) {
        let Some(active) = self.releases.get(&id) else { return };
        let product = active.state.snapshot().product.clone();
        let mode = self.catalog.products.get(&product).map(|p| p.concurrency).unwrap_or_default();
        match mode {
            Concurrency::Queue => {
                let mut queued: Vec<ReleaseId> = self
                    .releases
                    .iter()
                    .filter(|(_, a)| {
                        a.state.snapshot().product == product
                            && a.state.started_at().is_none()
                            && a.state.terminate_request().is_none()
                    })
                    .map(|(id, _)| *id)
                    .collect();
                queued.sort();
                let running = self.releases.values().any(|a| {
                    a.state.snapshot().product == product
                        && a.state.started_at().is_some()
                        && a.state.finished_at().is_none()
                });
                // The one that will start next is not waiting in the queue.
                let waiting = if running { queued.len() } else { queued.len().saturating_sub(1) };
                let overflow = waiting.saturating_sub(self.config.queue_limit);
                for old in queued.into_iter().take(overflow) {
                    if let Err(e) = self.request_termination(old, "queue overflow".into(), "ferry".into()).await {
                        tracing::error!(release = %old, error = %e, "cannot terminate on queue overflow");
                    }
                }
            }
            Concurrency::Terminate => {
                let targets: Vec<EnvName> = active
                    .state
                    .snapshot()
                    .environments
                    .iter()
                    .filter(|e| !e.is_trigger)
                    .map(|e| e.name.clone())
                    .collect();
                let older: Vec<ReleaseId> = self
                    .releases
                    .iter()
                    .filter(|(other, a)| {
                        **other < id
                            && a.state.snapshot().product == product
                            && a.state.finished_at().is_none()
                            && a.state.terminate_request().is_none()
                            && targets.iter().any(|env| {
                                a.state.env_status(env).is_some_and(|s| s != ferry_model::status::EnvStatus::Successful)
                            })
                    })
                    .map(|(id, _)| *id)
                    .collect();
                for old in older {
                    let reason = format!("superseded by release {id}");
                    if let Err(e) = self.request_termination(old, reason, "ferry".into()).await {
                        tracing::error!(release = %old, error = %e, "cannot terminate a superseded release");
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------ committing

    /// Makes `events` durable for release `id` with `next` (the state after them) as projection, then
    /// installs `next` as the release's state.
    async fn commit(
        &mut self,
        id: ReleaseId,
        events: Vec<ReleaseEvent>,
        next: ReleaseState,
    ) -> Result<(), EngineError> {
        let Some(active) = self.releases.get(&id) else { return Err(internal(format!("release {id} is not active"))) };
        let mut new_events = Vec::with_capacity(events.len());
        for event in &events {
            new_events.push(NewEvent { at: event.at(), body: serde_json::to_value(event).map_err(internal)? });
        }
        let app_states = self.app_state_rows(&next, &events);
        let write = ReleaseWrite {
            release_id: id.to_string(),
            product: next.snapshot().product.to_string(),
            first_seq: active.next_seq,
            events: new_events,
            row: release_row(&next),
            view: stored_view(&next).map_err(internal)?,
            app_states,
        };
        let outcome = self.store.write(vec![Write::Release(Box::new(write))]).await.map_err(internal)?;
        match outcome.into_iter().next() {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(internal(e)),
            None => return Err(internal("the store returned no outcome")),
        }
        if let Some(active) = self.releases.get_mut(&id) {
            active.next_seq += events.len() as i64;
            active.state = next;
        }
        Ok(())
    }

    /// Live application rows changed by `events`.
    fn app_state_rows(&self, state: &ReleaseState, events: &[ReleaseEvent]) -> Vec<AppStateRow> {
        let mut touched: Vec<(EnvName, AppName)> = Vec::new();
        for event in events {
            match event {
                ReleaseEvent::AppObserved { env, app, .. }
                | ReleaseEvent::AppGatePassed { env, app, .. }
                | ReleaseEvent::AppSucceeded { env, app, .. } => touched.push((env.clone(), app.clone())),
                ReleaseEvent::ActionCommitted { env, apps, .. } | ReleaseEvent::ActionUnchanged { env, apps, .. } => {
                    touched.extend(apps.iter().map(|a| (env.clone(), a.clone())))
                }
                _ => {}
            }
        }
        touched.sort();
        touched.dedup();
        let snap = state.snapshot();
        touched
            .into_iter()
            .filter_map(|(env, app)| {
                let es = snap.environment(&env)?;
                let a = es.applications.iter().find(|a| a.name == app)?;
                let st = state.environment(&env)?.app(&app)?;
                let obs = st.observation.as_ref();
                let version = state.app_version(&env, &app).map(str::to_owned);
                Some(AppStateRow {
                    application: app.to_string(),
                    product: snap.product.to_string(),
                    environment: env.to_string(),
                    component: a.component.to_string(),
                    version,
                    revision: obs
                        .and_then(|o| o.revision.as_ref().map(|r| r.to_string()))
                        .or_else(|| st.action.as_ref().and_then(|x| x.commit.as_ref().map(|c| c.to_string())))
                        .or_else(|| es.is_trigger.then(|| a.source_revision.as_ref().map(|r| r.to_string())).flatten()),
                    sync: obs.map_or("Unknown", |o| o.sync.as_str()).to_owned(),
                    health: obs.map_or("Unknown", |o| o.health.as_str()).to_owned(),
                    message: obs.and_then(|o| o.message.clone()),
                    release_id: Some(state.id().to_string()),
                    updated_at: crate::now(),
                })
            })
            .collect()
    }

    /// Records `events` (skipping any the state rejects) together with what the planner decides on
    /// them, in one commit, then hands out the work (see [`Engine::drive_with`]).
    async fn record(&mut self, id: ReleaseId, events: Vec<ReleaseEvent>) {
        self.drive_with(id, events).await;
    }

    /// Whether release `id` may leave the queue: in `queue` mode, no older release of its product is
    /// still active; in `terminate` mode at once (older ones are being terminated).
    fn may_start(&self, id: ReleaseId) -> bool {
        let Some(active) = self.releases.get(&id) else { return false };
        let product = &active.state.snapshot().product;
        if self.catalog.products.get(product).is_some_and(|p| p.concurrency == Concurrency::Terminate) {
            return true;
        }
        !self.releases.iter().any(|(other, a)| {
            *other < id
                && a.state.snapshot().product == *product
                && a.state.finished_at().is_none()
                && a.state.terminated_at().is_none()
        })
    }

    /// Plans release `id` until nothing new is decided, commits the decisions, then starts the work.
    async fn drive(&mut self, id: ReleaseId) {
        self.drive_with(id, Vec::new()).await;
    }

    /// Applies `recorded` events (what happened), plans on top of them (what Ferry decides), commits
    /// both in one store write and only then hands out the work the decisions call for.
    async fn drive_with(&mut self, id: ReleaseId, recorded: Vec<ReleaseEvent>) {
        let may_start = self.may_start(id);
        let workflows = self.catalog.workflows.clone();
        let Some(active) = self.releases.get(&id) else { return };
        let mut next = active.state.clone();
        let mut events = Vec::with_capacity(recorded.len());
        for event in recorded {
            match next.apply(&event) {
                Ok(()) => events.push(event),
                Err(e) => tracing::warn!(release = %id, error = %e, "event rejected"),
            }
        }
        let in_flight = active.in_flight.clone();
        for _ in 0..64 {
            let input = PlanInput { now: crate::now(), may_start, in_flight: &in_flight, workflows: &workflows };
            let steps = plan(&next, &input, &mut uuid::Uuid::now_v7);
            let mut applied = false;
            for step in steps {
                if let Step::Emit(event) = step {
                    match next.apply(&event) {
                        Ok(()) => {
                            applied = true;
                            events.push(event);
                        }
                        Err(e) => tracing::debug!(release = %id, error = %e, "planned event not applicable yet"),
                    }
                }
            }
            if !applied {
                break;
            }
        }
        if !events.is_empty()
            && let Err(e) = self.commit(id, events, next).await
        {
            tracing::error!(release = %id, error = %e, "cannot record release events");
            return;
        }
        // Work is handed out only once the decisions are durable.
        let Some(active) = self.releases.get(&id) else { return };
        let input = PlanInput { now: crate::now(), may_start, in_flight: &active.in_flight, workflows: &workflows };
        let work: Vec<Work> = plan(&active.state, &input, &mut uuid::Uuid::now_v7)
            .into_iter()
            .filter_map(|s| match s {
                Step::Do(w) => Some(w),
                Step::Emit(_) => None,
            })
            .collect();
        for w in work {
            self.dispatch(id, w);
        }
        self.after_finish(id).await;
    }

    /// Drops finished releases from memory and starts the next queued release of the product.
    async fn after_finish(&mut self, id: ReleaseId) {
        let Some(active) = self.releases.get(&id) else { return };
        let done = active.state.finished_at().is_some() || active.state.terminated_at().is_some();
        if !done || !active.in_flight.is_empty() {
            return;
        }
        let product = active.state.snapshot().product.clone();
        self.releases.remove(&id);
        let next = self
            .releases
            .iter()
            .find(|(_, a)| a.state.snapshot().product == product && a.state.started_at().is_none())
            .map(|(id, _)| *id);
        if let Some(next) = next {
            Box::pin(self.drive(next)).await;
        }
    }

    // ------------------------------------------------------------------------------ work

    fn dispatch(&mut self, id: ReleaseId, work: Work) {
        let Some(active) = self.releases.get_mut(&id) else { return };
        if !active.in_flight.insert(work.key()) {
            return;
        }
        let state = active.state.clone();
        let tx = self.msgs.clone();
        match work {
            Work::Run { run_id } => match self.run_job(&state, run_id) {
                Ok(job) => {
                    self.supersede(id, &state, run_id);
                    let (runner, git, store, controls) =
                        (self.runner.clone(), self.git.clone(), self.store.clone(), self.controls.clone());
                    tokio::spawn(crate::work::run_workflow(job, runner, git, store, tx, controls));
                }
                Err(error) => {
                    let _ = tx.send(Msg {
                        release: id,
                        done: Some(work_key_run(run_id)),
                        outcome: Outcome::RunEnded { run_id, status: StepStatus::Error, error: Some(error) },
                    });
                }
            },
            Work::Promote { env, apps, action } => {
                let request = match action {
                    Action::Commit | Action::Pr => self.promotion_request(&state, &env, &apps),
                    Action::None => Err("action none has nothing to carry out".to_owned()),
                };
                let pr_branch =
                    (action == Action::Pr).then(|| format!("ferry/{}/{env}/{id}", state.snapshot().product));
                let job = PromoteJob { release: id, env, apps, request, pr_branch };
                tokio::spawn(crate::work::promote(job, self.git.clone(), tx));
            }
            Work::Watch { env, app } => match self.watch_job(&state, &env, &app) {
                Ok(job) => {
                    let key = Work::Watch { env: env.clone(), app: app.clone() }.key();
                    let handle = tokio::spawn(crate::work::watch_app(job, self.git.clone(), tx));
                    self.watches.insert((id, key), handle.abort_handle());
                }
                Err(error) => {
                    let key = Work::Watch { env: env.clone(), app: app.clone() }.key();
                    let _ = tx.send(Msg {
                        release: id,
                        done: Some(key),
                        outcome: Outcome::Gate {
                            env,
                            app,
                            result: Err((ferry_model::release::GateFailure::Degraded, error)),
                        },
                    });
                }
            },
        }
    }

    /// The repository URL to use for an application's git operations: the configured one (which may
    /// carry credentials), since snapshots keep only the redacted form.
    fn repo_url(&self, app: &AppName, snapshot_url: &str) -> String {
        self.catalog.applications.get(app).map_or_else(|| snapshot_url.to_owned(), |a| a.source.repo_url.clone())
    }

    /// A newer run of the same workflow for the same application and environment terminates the
    /// earlier one that is still running (SPEC §3.9).
    fn supersede(&mut self, id: ReleaseId, state: &ReleaseState, run_id: RunId) {
        let Some(run) = find_run(state, run_id) else { return };
        let (Some(env), Some(app)) = (run.target.env(), run.target.app()) else { return };
        let slot = (run.workflow.to_string(), env.to_string(), app.to_string());
        if let Some((old_release, old_run)) = self.slots.insert(slot, (id, run_id))
            && old_run != run_id
            && let Ok(controls) = self.controls.lock()
            && let Some(control) = controls.get(&old_run)
        {
            control
                .terminate(format!("superseded by a newer run of {} for {app} in {env} (release {id})", run.workflow));
            tracing::info!(release = %old_release, run = %old_run, "workflow run superseded");
        }
    }

    fn release_url(&self, id: ReleaseId) -> String {
        format!("{}/releases/{id}", self.config.base_url.trim_end_matches('/'))
    }

    /// Environment variables of a run (SPEC §3.6).
    fn run_env(&self, state: &ReleaseState, target: &RunTarget) -> BTreeMap<String, String> {
        let snap = state.snapshot();
        let mut env: BTreeMap<String, String> = state.context().clone();
        env.insert("RELEASE_ID".into(), state.id().to_string());
        env.insert("RELEASE_URL".into(), self.release_url(state.id()));
        env.insert("PRODUCT_NAME".into(), snap.product.to_string());
        env.insert("VERSION".into(), snap.version.clone().unwrap_or_default());
        env.insert("PROMOTION_FLOW_NAME".into(), snap.flow.clone());
        match target {
            RunTarget::ReleaseHook { hook } | RunTarget::EnvironmentHook { hook, .. } => {
                env.insert("COMMIT_SHA".into(), snap.trigger.sha.to_string());
                if let RunTarget::EnvironmentHook { env: e, .. } = target {
                    env.insert("ENVIRONMENT".into(), e.to_string());
                }
                if *hook == ferry_model::release::HookKind::OnFail {
                    let failed: Vec<serde_json::Value> = state
                        .failed_environments()
                        .into_iter()
                        .map(|(name, status, message)| {
                            serde_json::json!({"name": name, "status": status, "errorMessage": message})
                        })
                        .collect();
                    env.insert("FAILED_ENVIRONMENTS".into(), serde_json::Value::Array(failed).to_string());
                    env.insert("ERROR_MESSAGE".into(), state.reason().unwrap_or_default());
                }
            }
            RunTarget::Trigger { env: e, app }
            | RunTarget::PreAction { env: e, app }
            | RunTarget::PostAction { env: e, app } => {
                if let Some(a) = snap.environment(e).and_then(|es| es.applications.iter().find(|a| a.name == *app)) {
                    env.insert("APP_NAME".into(), app.to_string());
                    let ns = self.catalog.applications.get(app).and_then(|x| x.namespace.clone()).unwrap_or_default();
                    env.insert("APP_NAMESPACE".into(), ns);
                    env.insert("REPO_URL".into(), ferry_git::redact(&a.repo_url));
                    env.insert("BRANCH".into(), a.branch.clone());
                    env.insert("SOURCE_PATH".into(), a.path.clone());
                }
                env.insert("ENVIRONMENT".into(), e.to_string());
                if matches!(target, RunTarget::PostAction { .. })
                    && let Some(st) = state.environment(e).and_then(|es| es.app(app))
                    && let Some(pre) = st.current_run(Stage::PreAction)
                {
                    env.extend(pre.outputs());
                }
            }
        }
        env
    }

    fn run_job(&self, state: &ReleaseState, run_id: RunId) -> Result<RunJob, String> {
        let run = find_run(state, run_id).ok_or_else(|| format!("run {run_id} is not part of the release"))?;
        let workflow = self
            .catalog
            .workflows
            .get(&run.workflow)
            .cloned()
            .ok_or_else(|| format!("workflow {} is not defined in the applied configuration", run.workflow))?;
        if !matches!(workflow.backend, ferry_model::resources::WorkflowBackend::Local) {
            return Err(format!(
                "workflow {} runs on Argo Workflows, which is not available in this version of Ferry",
                run.workflow
            ));
        }
        let completed: BTreeMap<_, _> = run
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Success)
            .map(|s| (s.name.clone(), CompletedStep { outputs: s.outputs.clone() }))
            .collect();
        let commit = match &run.target {
            RunTarget::PostAction { env, app } => state
                .environment(env)
                .and_then(|e| e.app(app))
                .and_then(|a| a.action.as_ref())
                .and_then(|a| a.commit.clone())
                .and_then(|sha| {
                    let snapshot_url =
                        &state.snapshot().environment(env)?.applications.iter().find(|x| x.name == *app)?.repo_url;
                    Some((self.repo_url(app, snapshot_url), sha))
                }),
            _ => None,
        };
        let stage = run.target.stage();
        let mut labels = BTreeMap::from([
            ("ferry/release".to_owned(), state.id().to_string()),
            ("ferry/product".to_owned(), state.snapshot().product.to_string()),
            ("ferry/stage".to_owned(), stage_label(stage).to_owned()),
        ]);
        if let Some(env) = run.target.env() {
            labels.insert("ferry/env".into(), env.to_string());
        }
        if let Some(app) = run.target.app() {
            labels.insert("ferry/app".into(), app.to_string());
        }
        Ok(RunJob {
            release: state.id(),
            run_id,
            workflow,
            env: self.run_env(state, &run.target),
            completed,
            labels,
            cwd: self.config.data_dir.join("runs").join(run_id.to_string()),
            commit,
        })
    }

    fn promotion_request(
        &self,
        state: &ReleaseState,
        env: &EnvName,
        apps: &[AppName],
    ) -> Result<PromotionRequest, String> {
        let snap = state.snapshot();
        let es = snap.environment(env).ok_or_else(|| format!("environment {env} is not part of the release"))?;
        let product = self
            .catalog
            .products
            .get(&snap.product)
            .ok_or_else(|| format!("product {} is no longer configured", snap.product))?;
        let trigger = snap.trigger_environment().ok_or("the release has no trigger environment")?;
        let mut sources = Vec::with_capacity(apps.len());
        let mut target: Option<(String, String)> = None;
        for app in apps {
            let a = es.applications.iter().find(|a| a.name == *app).ok_or_else(|| format!("{app} is not in {env}"))?;
            let source_name = a.source_app.as_ref().ok_or_else(|| format!("{app} has no source application"))?;
            let src = trigger
                .applications
                .iter()
                .find(|s| s.name == *source_name)
                .ok_or_else(|| format!("source application {source_name} is not in the release"))?;
            let revision = a.source_revision.clone().ok_or_else(|| format!("{app} has no source revision"))?;
            let plan = match self.catalog.applications.get(source_name) {
                Some(source_app) => {
                    let (spec, _) = resolve_template(product, source_app, self.catalog.templates.values())
                        .map_err(|e| e.to_string())?;
                    if spec.promotes_all_files() { FilePlan::AllFiles } else { FilePlan::Paths(spec.promotion) }
                }
                None => FilePlan::AllFiles,
            };
            let source_url = self.repo_url(&src.name, &src.repo_url);
            sources.push(crate::work::promotion_source(&source_url, &revision, &src.path, &a.path, plan));
            target.get_or_insert((self.repo_url(&a.name, &a.repo_url), a.branch.clone()));
        }
        let (repo_url, branch) = target.ok_or("no application to promote")?;
        let from: Vec<&str> = es.depends_on.iter().map(|d| d.as_str()).collect();
        Ok(PromotionRequest {
            repo_url,
            branch,
            sources,
            message: ferry_git::promotion_subject(
                snap.product.as_str(),
                snap.version.as_deref(),
                &from.join(", "),
                env.as_str(),
            ),
            trailers: vec![
                (ferry_git::TRAILER_RELEASE.to_owned(), state.id().to_string()),
                (ferry_git::TRAILER_PRODUCT.to_owned(), snap.product.to_string()),
                (ferry_git::TRAILER_ENVIRONMENT.to_owned(), env.to_string()),
            ],
            author: ("Ferry".to_owned(), "ferry@localhost".to_owned()),
        })
    }

    fn watch_job(&mut self, state: &ReleaseState, env: &EnvName, app: &AppName) -> Result<WatchJob, String> {
        let snap = state.snapshot();
        let a = snap
            .environment(env)
            .and_then(|es| es.applications.iter().find(|a| a.name == *app))
            .ok_or_else(|| format!("{app} is not in {env}"))?;
        let application =
            self.catalog.applications.get(app).ok_or_else(|| format!("application {app} is no longer configured"))?;
        let expected = state
            .environment(env)
            .and_then(|e| e.app(app))
            .and_then(|s| s.action.as_ref())
            .and_then(|x| x.commit.clone());
        let pushed = self.pushed.entry(app.clone()).or_insert_with(|| watch::channel(None).0).subscribe();
        Ok(WatchJob {
            release: state.id(),
            env: env.clone(),
            app: app.clone(),
            repo_url: self.repo_url(app, &a.repo_url),
            branch: a.branch.clone(),
            path: a.path.clone(),
            expected,
            status: application.status.clone(),
            deploy_root: self.config.data_dir.join("deploy"),
            poll: self.config.health_poll_interval,
            pushed,
        })
    }

    // ------------------------------------------------------------------------------ results

    async fn handle_msg(&mut self, msg: Msg) {
        let id = msg.release;
        let Some(active) = self.releases.get_mut(&id) else { return };
        if let Some(key) = &msg.done {
            active.in_flight.remove(key);
            self.watches.remove(&(id, key.clone()));
        }
        let events = match msg.outcome {
            Outcome::PrPushed { env, apps, branch, target, title, result } => {
                self.pr_pushed(id, env, apps, branch, target, title, result).await
            }
            outcome => self.events_for(id, outcome),
        };
        self.record(id, events).await;
    }

    /// A pull-request branch was pushed: record the pull request (once) and suspend the environment.
    #[allow(clippy::too_many_arguments)]
    async fn pr_pushed(
        &mut self,
        id: ReleaseId,
        env: EnvName,
        apps: Vec<AppName>,
        branch: String,
        target: String,
        title: String,
        result: Result<PromotionOutcome, ferry_git::GitError>,
    ) -> Vec<ReleaseEvent> {
        let now = crate::now();
        let head = match result {
            Ok(PromotionOutcome::Committed { sha, .. }) | Ok(PromotionOutcome::AlreadyDone { sha }) => sha,
            Ok(PromotionOutcome::Unchanged) => return vec![ReleaseEvent::ActionUnchanged { env, apps, at: now }],
            Err(e) => {
                return self.action_failed(
                    id,
                    env,
                    apps,
                    GitOperation::OpenPr,
                    e.remote.clone(),
                    e.message.clone(),
                    now,
                );
            }
        };
        let Some(active) = self.releases.get(&id) else { return Vec::new() };
        let snap = active.state.snapshot();
        let repo = snap
            .environment(&env)
            .and_then(|es| es.applications.iter().find(|a| apps.contains(&a.name)))
            .map(|a| a.repo_url.clone())
            .unwrap_or_default();
        let product = snap.product.to_string();
        // A pull request opened before a restart is reused.
        let existing = self
            .store
            .pull_requests(PullRequestFilter { release: Some(id.to_string()), ..Default::default() })
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|r| r.environment == env.as_str() && r.state == "open"));
        let number = match existing.and_then(|r| r.number) {
            Some(n) => n,
            None => {
                let row = PullRequestRow {
                    number: None,
                    release_id: id.to_string(),
                    product,
                    environment: env.to_string(),
                    applications: apps.iter().map(|a| a.to_string()).collect(),
                    repo,
                    branch: branch.clone(),
                    target,
                    state: "open".into(),
                    head: head.to_string(),
                    merge_commit: None,
                    comment: None,
                    title,
                    created_at: now,
                    updated_at: now,
                };
                match self.store.write(vec![Write::PullRequest(row)]).await.map(|o| o.into_iter().next()) {
                    Ok(Some(Ok(WriteOutcome::PullRequest(n)))) => n,
                    other => {
                        let error = format!("cannot record the pull request: {other:?}");
                        return self.action_failed(id, env, apps, GitOperation::OpenPr, String::new(), error, now);
                    }
                }
            }
        };
        let url = format!("{}/api/v1/pulls/{number}", self.config.base_url.trim_end_matches('/'));
        vec![ReleaseEvent::PullRequestOpened { env, apps, url, number: number.unsigned_abs(), branch, at: now }]
    }

    /// An open pull request and the release waiting for it.
    async fn open_pr(&self, number: u64) -> Result<PullRequestRow, EngineError> {
        let n = i64::try_from(number).map_err(|_| EngineError::NotFound(format!("no pull request #{number}")))?;
        let row = self
            .store
            .pull_request(n)
            .await
            .map_err(internal)?
            .ok_or_else(|| EngineError::NotFound(format!("no pull request #{number}")))?;
        if row.state != "open" {
            return Err(EngineError::Conflict(format!("pull request #{number} is already {}", row.state)));
        }
        Ok(row)
    }

    async fn merge_pr(&mut self, number: u64, actor: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_pr(number).await?;
        let release: ReleaseId = row
            .release_id
            .parse::<uuid::Uuid>()
            .map(ReleaseId)
            .map_err(|_| internal(format!("pull request #{number} names an invalid release")))?;
        let env = EnvName::new(&row.environment).map_err(internal)?;
        let apps: Vec<AppName> = row.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
        let waiting = self.releases.get(&release).is_some_and(|a| {
            a.state.environment(&env).is_some_and(|e| {
                e.apps.iter().any(|x| {
                    apps.contains(&x.name)
                        && x.action
                            .as_ref()
                            .is_some_and(|y| y.status == ferry_model::release::ActionStatus::AwaitingMerge)
                })
            })
        });
        if !waiting {
            return Err(EngineError::Conflict(format!(
                "release {release} is not waiting for pull request #{number}; close it instead"
            )));
        }
        let url = apps.first().map_or_else(|| row.repo.clone(), |a| self.repo_url(a, &row.repo));
        let message =
            format!("Merge pull request #{number} from {}\n\n{}\n\nMerged-by: {actor}", row.branch, row.title);
        let (git, branch, target) = (self.git.clone(), row.branch.clone(), row.target.clone());
        let author = ("Ferry".to_owned(), "ferry@localhost".to_owned());
        let merged = tokio::task::spawn_blocking(move || git.merge_branch(&url, &branch, &target, &message, &author))
            .await
            .map_err(internal)?
            .map_err(|e| EngineError::Conflict(format!("cannot merge pull request #{number}: {e}")))?;
        let now = crate::now();
        let updated =
            PullRequestRow { state: "merged".into(), merge_commit: Some(merged.to_string()), updated_at: now, ..row };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        self.record(release, vec![ReleaseEvent::PullRequestMerged { env, apps, merge_commit: merged, at: now }]).await;
        Ok(pr_info(updated))
    }

    async fn close_pr(&mut self, number: u64, comment: String) -> Result<PullRequestInfo, EngineError> {
        let row = self.open_pr(number).await?;
        let now = crate::now();
        let updated = PullRequestRow { state: "closed".into(), comment: Some(comment.clone()), updated_at: now, ..row };
        self.store.write(vec![Write::PullRequest(updated.clone())]).await.map_err(internal)?;
        if let Ok(release) = updated.release_id.parse::<uuid::Uuid>().map(ReleaseId)
            && let Ok(env) = EnvName::new(&updated.environment)
            && self.releases.get(&release).is_some_and(|a| a.state.terminate_request().is_none())
        {
            let apps: Vec<AppName> = updated.applications.iter().filter_map(|a| AppName::new(a).ok()).collect();
            let error = format!("pull request #{number} was closed without merge: {comment}");
            let events =
                self.action_failed(release, env, apps, GitOperation::ClosePr, updated.repo.clone(), error, now);
            self.record(release, events).await;
        }
        Ok(pr_info(updated))
    }

    /// Closes the open pull requests of a terminated release, leaving their branches.
    async fn close_release_prs(&mut self, id: ReleaseId, reason: &str) {
        let filter =
            PullRequestFilter { release: Some(id.to_string()), state: Some("open".into()), ..Default::default() };
        let Ok(rows) = self.store.pull_requests(filter).await else { return };
        let now = crate::now();
        let writes: Vec<Write> = rows
            .into_iter()
            .map(|row| {
                let comment = format!("release {id} was terminated: {reason}");
                Write::PullRequest(PullRequestRow {
                    state: "closed".into(),
                    comment: Some(comment),
                    updated_at: now,
                    ..row
                })
            })
            .collect();
        if !writes.is_empty()
            && let Err(e) = self.store.write(writes).await
        {
            tracing::error!(release = %id, error = %e, "cannot close the pull requests of a terminated release");
        }
    }

    fn issue_id(
        &self,
        id: ReleaseId,
        env: Option<&EnvName>,
        app: Option<&AppName>,
        kind: IssueKind,
        extra: usize,
    ) -> String {
        let base = self.releases.get(&id).map(|a| a.state.next_issue_id(env, app, kind)).unwrap_or_default();
        if extra == 0 { base } else { format!("{base}.{extra}") }
    }

    fn events_for(&self, id: ReleaseId, outcome: Outcome) -> Vec<ReleaseEvent> {
        let now = crate::now();
        let Some(active) = self.releases.get(&id) else { return Vec::new() };
        let state = &active.state;
        match outcome {
            Outcome::StepStarted { run_id, step } => vec![ReleaseEvent::StepStarted { run_id, step, at: now }],
            Outcome::StepWaiting { run_id, step, message } => {
                vec![ReleaseEvent::StepAwaitingApproval { run_id, step, message, at: now }]
            }
            Outcome::StepFinished { run_id, step, status, exit_code, error, outputs, tail } => {
                let mut events = Vec::new();
                let run = find_run(state, run_id);
                if let Some(run) = run
                    && run.target.stage() == Stage::Hook
                    && let Some(ctx) = outputs.get("PROMOTION_CONTEXT")
                    && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(ctx)
                {
                    let values = map
                        .into_iter()
                        .map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                        .collect();
                    events.push(ReleaseEvent::ContextMerged { values, at: now });
                }
                events.insert(
                    0,
                    ReleaseEvent::StepFinished {
                        run_id,
                        step: step.clone(),
                        status,
                        exit_code,
                        error: error.clone(),
                        outputs,
                        at: now,
                    },
                );
                if status.is_failure()
                    && let Some(run) = run
                {
                    let env = run.target.env().cloned();
                    let app = run.target.app().cloned();
                    let what = match (&error, exit_code) {
                        (Some(e), _) => e.clone(),
                        (None, Some(code)) => format!("exited with code {code}"),
                        (None, None) => status.to_string(),
                    };
                    let place = match (&env, &app) {
                        (Some(e), Some(a)) => format!(" for {a} in {e}"),
                        (Some(e), None) => format!(" in {e}"),
                        _ => String::new(),
                    };
                    let summary = one_line(&format!(
                        "{} {} step {} {}{place}: {what}",
                        stage_label(run.target.stage()),
                        run.workflow,
                        step,
                        status.as_str().to_lowercase()
                    ));
                    let definition =
                        self.catalog.workflows.get(&run.workflow).and_then(|w| serde_json::to_string_pretty(w).ok());
                    events.push(ReleaseEvent::IssueRaised {
                        issue: Box::new(Issue {
                            id: self.issue_id(id, env.as_ref(), app.as_ref(), IssueKind::Workflow, 0),
                            env,
                            app,
                            summary,
                            detail: IssueDetail::Workflow {
                                run_id,
                                workflow: run.workflow.clone(),
                                stage: run.target.stage(),
                                step: Some(step),
                                exit_code,
                                error,
                                log_tail: log_tail(&tail),
                                definition,
                            },
                            at: now,
                        }),
                    });
                }
                events
            }
            Outcome::RunEnded { run_id, status, error } => {
                // A run that ended without a failing step (invalid definition, cannot start) errors as a whole.
                let Some(run) = find_run(state, run_id) else { return Vec::new() };
                if !run.is_in_progress() || status == StepStatus::Success {
                    return Vec::new();
                }
                let error = error.unwrap_or_else(|| format!("the run ended {status}"));
                let env = run.target.env().cloned();
                let app = run.target.app().cloned();
                vec![
                    ReleaseEvent::WorkflowRunErrored { run_id, error: error.clone(), at: now },
                    ReleaseEvent::IssueRaised {
                        issue: Box::new(Issue {
                            id: self.issue_id(id, env.as_ref(), app.as_ref(), IssueKind::Workflow, 0),
                            env,
                            app,
                            summary: one_line(&format!(
                                "{} {} could not run: {error}",
                                stage_label(run.target.stage()),
                                run.workflow
                            )),
                            detail: IssueDetail::Workflow {
                                run_id,
                                workflow: run.workflow.clone(),
                                stage: run.target.stage(),
                                step: None,
                                exit_code: None,
                                error: Some(error),
                                log_tail: Vec::new(),
                                definition: None,
                            },
                            at: now,
                        }),
                    },
                ]
            }
            Outcome::Promoted { env, apps, result } => match result {
                Ok(PromotionOutcome::Committed { sha, .. }) | Ok(PromotionOutcome::AlreadyDone { sha }) => {
                    let repo = state
                        .snapshot()
                        .environment(&env)
                        .and_then(|es| es.applications.iter().find(|a| apps.contains(&a.name)))
                        .map(|a| ferry_git::redact(&a.repo_url))
                        .unwrap_or_default();
                    vec![ReleaseEvent::ActionCommitted { env, apps, repo, commit: sha, at: now }]
                }
                Ok(PromotionOutcome::Unchanged) => vec![ReleaseEvent::ActionUnchanged { env, apps, at: now }],
                Err(e) => {
                    let operation = match e.operation {
                        ferry_git::Operation::Clone => GitOperation::Clone,
                        ferry_git::Operation::Fetch | ferry_git::Operation::Read => GitOperation::Fetch,
                        ferry_git::Operation::Push => GitOperation::Push,
                        _ => GitOperation::Commit,
                    };
                    self.action_failed(id, env, apps, operation, e.remote.clone(), e.message.clone(), now)
                }
            },
            Outcome::PrPushed { .. } => Vec::new(),
            Outcome::ActionUnsupported { env, apps, error } => {
                self.action_failed(id, env, apps, GitOperation::Commit, String::new(), error, now)
            }
            Outcome::Observed { env, app, sync, health, revision, message } => {
                let unchanged =
                    state.environment(&env).and_then(|e| e.app(&app)).and_then(|a| a.observation.as_ref()).is_some_and(
                        |o| o.sync == sync && o.health == health && o.revision == revision && o.message == message,
                    );
                if unchanged {
                    Vec::new()
                } else {
                    vec![ReleaseEvent::AppObserved { env, app, sync, health, revision, message, at: now }]
                }
            }
            Outcome::Gate { env, app, result } => match result {
                Ok(()) => vec![ReleaseEvent::AppGatePassed { env, app, at: now }],
                Err((reason, message)) => {
                    let obs = state.environment(&env).and_then(|e| e.app(&app)).and_then(|a| a.observation.clone());
                    let issue = Issue {
                        id: self.issue_id(id, Some(&env), Some(&app), IssueKind::Application, 0),
                        env: Some(env.clone()),
                        app: Some(app.clone()),
                        summary: one_line(&format!("{app} in {env}: {message}")),
                        detail: IssueDetail::Application {
                            sync: obs.as_ref().map(|o| o.sync),
                            health: obs.as_ref().map(|o| o.health),
                            reason: message.clone(),
                            observed_at: obs.as_ref().map(|o| o.at),
                            url: None,
                        },
                        at: now,
                    };
                    vec![
                        ReleaseEvent::AppGateFailed { env, app, reason, message: Some(message), at: now },
                        ReleaseEvent::IssueRaised { issue: Box::new(issue) },
                    ]
                }
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn action_failed(
        &self,
        id: ReleaseId,
        env: EnvName,
        apps: Vec<AppName>,
        operation: GitOperation,
        remote: String,
        error: String,
        now: Timestamp,
    ) -> Vec<ReleaseEvent> {
        let first = apps.first().cloned();
        let issue = Issue {
            id: self.issue_id(id, Some(&env), first.as_ref(), IssueKind::Git, 0),
            env: Some(env.clone()),
            app: first,
            summary: one_line(&format!("promotion to {env} failed: {error}")),
            detail: IssueDetail::Git { operation, remote, error: error.clone() },
            at: now,
        };
        vec![
            ReleaseEvent::ActionFailed { env, apps, error, at: now },
            ReleaseEvent::IssueRaised { issue: Box::new(issue) },
        ]
    }
}

/// Sleeps until `deadline` (forever when there is none).
async fn sleep_until(deadline: Option<Timestamp>) {
    match deadline {
        Some(at) => {
            let wait = at.duration_since(crate::now());
            let wait = std::time::Duration::try_from(wait).unwrap_or(std::time::Duration::ZERO);
            tokio::time::sleep(wait).await
        }
        None => std::future::pending().await,
    }
}

fn pr_info(row: PullRequestRow) -> PullRequestInfo {
    PullRequestInfo {
        number: row.number.unwrap_or_default().unsigned_abs(),
        release: row.release_id,
        product: row.product,
        environment: row.environment,
        applications: row.applications,
        repo: row.repo,
        branch: row.branch,
        target: row.target,
        state: row.state,
        head: row.head,
        merge_commit: row.merge_commit,
        comment: row.comment,
        title: row.title,
    }
}

fn work_key_run(run_id: RunId) -> String {
    Work::Run { run_id }.key()
}

fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Trigger => "trigger",
        Stage::PreAction => "pre-action",
        Stage::PostAction => "post-action",
        Stage::Hook => "hook",
    }
}

/// At most 300 characters on one line.
fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 { format!("{}…", line.chars().take(299).collect::<String>()) } else { line }
}

fn find_run(state: &ReleaseState, run_id: RunId) -> Option<&ferry_model::release::WorkflowRun> {
    state
        .hook_runs()
        .iter()
        .chain(
            state
                .environments()
                .iter()
                .flat_map(|e| e.hook_runs.iter().chain(e.apps.iter().flat_map(|a| a.runs.iter()))),
        )
        .find(|r| r.id == run_id)
}
