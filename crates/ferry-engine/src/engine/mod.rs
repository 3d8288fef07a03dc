//! The engine task: owns active releases, commits events, plans and executes.

mod control;
mod create;
mod drive;
mod jobs;
mod outcomes;
mod pulls;
mod schedule;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_git::GitCache;
use ferry_model::names::{AppName, ReleaseId};
use ferry_model::release::{ReleaseState, RunId, Stage};
use ferry_model::resources::{Application, Catalog, StatusSource, TriggerFacts};
use ferry_runner::{RunControl, Runner, RunnerConfig};
use ferry_store::{AppStateRow, PullRequestFilter, Store, Write, WriteOutcome};
use tokio::sync::{mpsc, watch};

use crate::handle::{EngineError, EngineHandle, GitPush, Promoted, PushAccepted, PushedStatus, Request};
use crate::snapshot::{FlowChoice, build_snapshot};
use crate::triggers::{TriggerCheck, TriggerOutcome, check, released_key, seen_key, trigger_apps};
use crate::work::{Msg, Outcome};

use pulls::pr_info;
use schedule::sleep_until;

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
}

fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Trigger => "trigger",
        Stage::PreAction => "pre-action",
        Stage::PostAction => "post-action",
        Stage::Hook => "hook",
    }
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
