//! The engine task: owns active releases, commits events, plans and executes.
//!
//! This module holds the actor (its state, start-up and recovery, the loop and the dispatch of
//! requests and work results); its parts live in the submodules: committing and planning (`drive`),
//! creating releases (`create`), release control (`control`), scheduling (`schedule`), handing out
//! work (`jobs`), translating outcomes into events (`outcomes`), pull requests (`pulls`) and
//! automatic triggers (`triggers`).

mod active;
mod control;
mod create;
mod dead_letters;
mod drive;
mod freezes;
mod jobs;
mod observe;
mod outcomes;
mod pulls;
mod replicas;
mod schedule;
mod triggers;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_git::RepoUrl;
use ferry_model::names::{AppName, ProductName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState, RunId, Stage};
use ferry_model::resources::{Catalog, StatusSource};
use ferry_store::{AppStateRow, Store, Write, WriteOutcome};
use tokio::sync::{mpsc, watch};

use crate::handle::{
    EngineError, EngineHandle, GitPush, LiveStates, Promoted, PullRequestInfo, PushAccepted, PushedStatus, Request,
};
use crate::ports::{Control, ControlAnswer, HeldLock, Ports, Replicas, RunController, SoleReplica};
use crate::triggers::{TriggerOutcome, trigger_apps};
use crate::work::{Msg, Outcome};
use active::{Active, ActiveReleases};

/// Most reports of finished work recorded in one store write.
const MSG_BATCH: usize = 256;

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
    /// The Argo CD server of applications whose `status.argocd` names none (`--argocd-server`).
    pub argocd_server: Option<String>,
    /// The Argo Server of workflows whose `spec.argo` names none (`--argo-server`).
    pub argo_server: Option<String>,
    /// How often a replica sharing its database renews its leases and claims releases nobody drives
    /// (SPEC §8.1: every few seconds, well within the lease expiry).
    pub lease_renew_interval: Duration,
    /// How long a lease lasts unless renewed (the store's setting; 15 s by default): a replica that
    /// could not renew for this long drops its releases, since others may have taken them over.
    pub lease_expiry: Duration,
    /// How outgoing notifications (SPEC §6.6) are queued and retried.
    pub notify: ferry_notify::Settings,
    /// How forge pull requests are polled and forge calls retried (SPEC §6.2).
    pub forges: crate::ports::ForgeSettings,
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
            argocd_server: None,
            argo_server: None,
            lease_renew_interval: Duration::from_secs(5),
            lease_expiry: Duration::from_secs(15),
            notify: ferry_notify::Settings::default(),
            forges: crate::ports::ForgeSettings::default(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

struct Engine<S: Store> {
    store: S,
    /// The state of every active release, for readers ([`EngineHandle::live_state`]).
    live: LiveStates,
    config: EngineConfig,
    catalog: Arc<Catalog>,
    catalog_tx: watch::Sender<Arc<Catalog>>,
    /// Git, workflow runner, application status, pull requests, clock.
    ports: Ports,
    releases: ActiveReleases,
    msgs: mpsc::UnboundedSender<Msg>,
    controls: Arc<Mutex<BTreeMap<RunId, Arc<dyn RunController>>>>,
    pushed: HashMap<AppName, watch::Sender<Option<PushedStatus>>>,
    /// Snapshots being built, answered when done.
    creating: mpsc::UnboundedSender<Created>,
    /// Applications whose trigger check is under way.
    checking: HashSet<AppName>,
    /// Results of trigger checks.
    triggers: mpsc::UnboundedSender<(AppName, TriggerOutcome)>,
    /// Applications to check again once their current check ends (a push arrived meanwhile).
    recheck: HashSet<AppName>,
    /// What the last trigger check observed of each trigger application (releases do not observe
    /// their trigger environment; its live state comes from here when the revision matches).
    trigger_seen: HashMap<AppName, crate::triggers::Observed>,
    /// Health-wait tasks, abandoned on terminate.
    watches: HashMap<(ReleaseId, String), tokio::task::AbortHandle>,
    /// The run currently executing each (workflow, environment, application) slot, for supersession.
    slots: HashMap<(String, String, String), (ReleaseId, RunId)>,
    /// Which releases this engine drives among replicas sharing the database.
    replicas: Arc<dyn Replicas>,
    /// Results of lease rounds.
    lease_rounds: mpsc::UnboundedSender<replicas::LeaseRound>,
    /// Whether a lease round is under way.
    lease_round_running: bool,
    /// Active releases other replicas drive, with their products (queue mode waits for older ones).
    elsewhere: BTreeMap<ReleaseId, ProductName>,
    /// Queue-mode releases refused their product's turn (another replica's release runs); asked again
    /// each lease round.
    turn_refused: BTreeSet<ReleaseId>,
    /// The locks of periodic jobs (trigger polling, retention) this replica holds.
    locks: HashMap<&'static str, Box<dyn HeldLock>>,
    /// The version of the configuration in use (0: none applied yet); another replica may apply a newer.
    config_version: i64,
    /// Retries of Failed releases waiting for their last work to report (actor, answer).
    retries_waiting: HashMap<ReleaseId, Vec<(String, RetryAnswer)>>,
    /// Outgoing notifications of status changes (never waited on).
    notifier: ferry_notify::Notifier,
    /// Freeze windows in force (SPEC §10): the configuration's and the runtime ones (changed only
    /// through `set_freezes`, which also tells the handles).
    freezes: Arc<ferry_model::freeze::FreezeSet>,
    freezes_tx: watch::Sender<Arc<ferry_model::freeze::FreezeSet>>,
    /// The runtime freezes (`ferry freeze create`), kept apart from the configuration.
    runtime_freezes: Vec<ferry_model::freeze::Freeze>,
}

/// Where the answer to a waiting retry goes (in a mutex only so that the engine stays `Sync`).
type RetryAnswer = Mutex<Box<dyn FnOnce(crate::ports::ControlResult) + Send>>;

struct Created {
    result: Result<(ReleaseId, ferry_model::release::ReleaseSnapshot), EngineError>,
    reply: tokio::sync::oneshot::Sender<Result<Promoted, EngineError>>,
    /// For automatic triggers: the product, to record why no release was created.
    auto: Option<String>,
}

/// Starts the engine on `store` with the built-in ports ([`Ports::default_for`]): loads the latest
/// configuration, recovers active releases and serves requests until every handle is dropped.
pub async fn start<S: Store>(
    store: S,
    config: EngineConfig,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    let ports = Ports::default_for(&config, &store)?;
    start_with(store, config, ports).await
}

/// Starts the engine on `store` with the given ports (fakes in tests, other implementations), as the
/// only server on its database.
pub async fn start_with<S: Store>(
    store: S,
    config: EngineConfig,
    ports: Ports,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    start_replica(store, config, ports, Arc::new(SoleReplica)).await
}

/// Starts the engine as one of the replicas sharing `store` (SPEC §8.1): it drives the releases it
/// creates or claims through `replicas` ([`crate::ports::PgReplicas`] on PostgreSQL), renews their
/// leases every [`EngineConfig::lease_renew_interval`], drops a release whose lease it lost, and
/// sends control requests about other replicas' releases to their owners.
pub async fn start_replica<S: Store>(
    store: S,
    config: EngineConfig,
    ports: Ports,
    replicas: Arc<dyn Replicas>,
) -> Result<(EngineHandle, tokio::task::JoinHandle<()>), EngineError> {
    let (catalog, config_version) = match store.latest_config().await.map_err(internal)? {
        Some(version) => (serde_json::from_value::<Catalog>(version.catalog).map_err(internal)?, version.version),
        None => (Catalog::default(), 0),
    };
    let catalog = Arc::new(catalog);
    let runtime_freezes = freezes::load_runtime(&store).await?;
    let freezes = Arc::new(freezes::freeze_set(&catalog, &runtime_freezes));
    let (freezes_tx, freezes_rx) = watch::channel(freezes.clone());
    let (catalog_tx, catalog_rx) = watch::channel(catalog.clone());
    let (tx, rx) = mpsc::channel(1024);
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let (created_tx, created_rx) = mpsc::unbounded_channel();
    let (trigger_tx, trigger_rx) = mpsc::unbounded_channel();
    let (lease_tx, lease_rx) = mpsc::unbounded_channel();
    let (renewal_tx, renewal_rx) = mpsc::unbounded_channel();
    if !replicas.is_sole() {
        let (every, expiry) = (config.lease_renew_interval, config.lease_expiry);
        tokio::spawn(replicas::renew_leases(replicas.clone(), every, expiry, renewal_tx));
    }
    let notices = replicas.notices();
    std::fs::create_dir_all(&config.data_dir).map_err(internal)?;
    let live = LiveStates::default();
    let status = ports.status.clone();
    let runner = ports.runner.clone();
    let (failures_tx, failures_rx) = mpsc::unbounded_channel();
    let (stored_tx, failures_stored) = watch::channel(0);
    tokio::spawn(dead_letters::store_failures(store.clone(), failures_rx, stored_tx));
    let notifier =
        ferry_notify::Notifier::start_with_sink(catalog_rx.clone(), config.notify.clone(), Some(failures_tx));
    ports.pulls.configure(&catalog);
    let pr_changes = ports.pulls.changes();
    let pulls = ports.pulls.clone();
    let mut engine = Engine {
        store,
        live: live.clone(),
        ports,
        config,
        catalog,
        catalog_tx,
        releases: ActiveReleases::default(),
        msgs: msg_tx,
        controls: Arc::new(Mutex::new(BTreeMap::new())),
        pushed: HashMap::new(),
        creating: created_tx,
        checking: HashSet::new(),
        triggers: trigger_tx,
        recheck: HashSet::new(),
        trigger_seen: HashMap::new(),
        watches: HashMap::new(),
        slots: HashMap::new(),
        replicas,
        lease_rounds: lease_tx,
        lease_round_running: false,
        elsewhere: BTreeMap::new(),
        turn_refused: BTreeSet::new(),
        locks: HashMap::new(),
        config_version,
        retries_waiting: HashMap::new(),
        notifier: notifier.clone(),
        freezes,
        freezes_tx,
        runtime_freezes,
    };
    engine.recover().await?;
    let inputs = Inputs {
        requests: rx,
        msgs: msg_rx,
        created: created_rx,
        triggers: trigger_rx,
        lease_rounds: lease_rx,
        renewals: renewal_rx,
        notices,
        pr_changes,
    };
    let task = tokio::spawn(async move { engine.run(inputs).await });
    let handle = EngineHandle {
        requests: tx,
        catalog: catalog_rx,
        live,
        status,
        runner,
        notifier,
        pulls,
        failures_stored,
        freezes: freezes_rx,
    };
    Ok((handle, task))
}

/// What the engine task receives.
struct Inputs {
    requests: mpsc::Receiver<Request>,
    msgs: mpsc::UnboundedReceiver<Msg>,
    created: mpsc::UnboundedReceiver<Created>,
    triggers: mpsc::UnboundedReceiver<(AppName, TriggerOutcome)>,
    lease_rounds: mpsc::UnboundedReceiver<replicas::LeaseRound>,
    renewals: mpsc::UnboundedReceiver<replicas::Renewal>,
    /// What other replicas announce.
    notices: mpsc::UnboundedReceiver<crate::ports::Notice>,
    /// Merges and closes made on forges.
    pr_changes: Option<mpsc::UnboundedReceiver<crate::ports::PullRequestChange>>,
}

impl<S: Store> Engine<S> {
    /// Replays the log of every active release and plans again: unfinished work is re-issued. A
    /// replica sharing its database instead claims releases in its lease rounds, the first at once.
    async fn recover(&mut self) -> Result<(), EngineError> {
        if !self.replicas.is_sole() {
            return Ok(());
        }
        for id in self.store.active_releases().await.map_err(internal)? {
            let active = self.load_release(id).await?;
            self.releases.insert(id, active);
            self.publish(id);
        }
        let ids: Vec<ReleaseId> = self.releases.keys().copied().collect();
        for id in ids {
            self.drive(id).await;
        }
        Ok(())
    }

    async fn run(&mut self, inputs: Inputs) {
        let Inputs {
            mut requests,
            mut msgs,
            mut created,
            mut triggers,
            mut lease_rounds,
            mut renewals,
            mut notices,
            pr_changes,
        } = inputs;
        // Without a forge provider the branch never fires.
        let mut pr_changes = pr_changes.unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut poll = tokio::time::interval(self.config.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leases = tokio::time::interval(self.config.lease_renew_interval);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut claims = tokio::time::interval(self.config.lease_renew_interval.min(replicas::CLAIM_INTERVAL));
        claims.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.handle_request(request).await,
                    None => break,
                },
                Some(msg) = msgs.recv() => {
                    // Reports already waiting are recorded together: one durable commit for all.
                    let mut batch = vec![msg];
                    while batch.len() < MSG_BATCH {
                        match msgs.try_recv() {
                            Ok(msg) => batch.push(msg),
                            Err(_) => break,
                        }
                    }
                    self.handle_msgs(batch).await
                }
                Some(done) = created.recv() => {
                    // Releases whose snapshots are ready are created together: one durable commit.
                    let mut batch = vec![done];
                    while batch.len() < MSG_BATCH {
                        match created.try_recv() {
                            Ok(done) => batch.push(done),
                            Err(_) => break,
                        }
                    }
                    self.handle_created(batch).await
                }
                Some((app, outcome)) = triggers.recv() => self.handle_trigger(app, outcome).await,
                Some(renewal) = renewals.recv() => self.handle_renewal(renewal),
                Some(round) = lease_rounds.recv() => self.handle_lease_round(round).await,
                Some(notice) = notices.recv() => self.handle_notice(notice).await,
                Some(change) = pr_changes.recv() => self.pr_changed(change).await,
                _ = self.sleep_until_deadline() => self.check_deadlines().await,
                _ = claims.tick() => self.start_claim_round(),
                _ = leases.tick() => {
                    self.start_lease_round();
                    self.record_unrecorded().await;
                }
                _ = poll.tick() => {
                    if self.take_turn(replicas::POLL_LOCK).await {
                        let apps: Vec<AppName> =
                            trigger_apps(&self.catalog).into_iter().map(|a| a.name.clone()).collect();
                        for app in apps {
                            self.start_check(app);
                        }
                    }
                }
            }
        }
        self.give_up_all().await;
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
                let answer = move |a: Result<ControlAnswer, EngineError>| {
                    let _ = reply.send(a.map(|_| ()));
                };
                self.control(release, Control::Terminate { reason, actor }, answer).await;
            }
            Request::Retry { release, actor, reply } => {
                let answer = move |a: Result<ControlAnswer, EngineError>| {
                    let _ = reply.send(a.map(|_| ()));
                };
                self.control(release, Control::Retry { actor }, answer).await;
            }
            Request::Approve { release, env, actor, role, comment, reply } => {
                let answer = move |a: Result<ControlAnswer, EngineError>| {
                    let approved = a.map(|a| match a {
                        ControlAnswer::Approved(steps) => steps,
                        ControlAnswer::Done | ControlAnswer::PullRequest(_) => Vec::new(),
                    });
                    let _ = reply.send(approved);
                };
                self.control(release, Control::Approve { env, actor, role, comment }, answer).await;
            }
            Request::Unfreeze { release, env, reason, actor, reply } => {
                let answer = move |a: Result<ControlAnswer, EngineError>| {
                    let _ = reply.send(a.map(|_| ()));
                };
                self.control(release, Control::Unfreeze { env, reason, actor }, answer).await;
            }
            Request::Freezes { reply } => {
                let _ = reply.send(Ok(self.list_freezes()));
            }
            Request::CreateFreeze { freeze, actor, reply } => {
                let _ = reply.send(self.create_freeze(*freeze, actor).await);
            }
            Request::DeleteFreeze { name, reply } => {
                let _ = reply.send(self.delete_freeze(name).await);
            }
            Request::PullRequests { reply } => {
                let _ = reply.send(self.ports.pulls.list().await);
            }
            Request::MergePr { number, actor, reply } => {
                self.pull_request_control(number, Control::MergePr { number, actor }, reply).await;
            }
            Request::ClosePr { number, actor, comment, reply } => {
                let comment = if comment.trim().is_empty() { format!("closed by {actor}") } else { comment };
                self.pull_request_control(number, Control::ClosePr { number, comment }, reply).await;
            }
            Request::TakeTurn { job, reply } => {
                let _ = reply.send(Ok(self.take_turn(job).await));
            }
            Request::Notes { release, first_parent, reply } => {
                // Computed in a task of its own: the history walks never hold up the engine.
                let job = crate::notes::NotesJob {
                    store: self.store.clone(),
                    git: self.ports.git.mirrors(),
                    clock: self.ports.clock.clone(),
                    catalog: self.catalog.clone(),
                    jira: self.config.jira.clone(),
                    release,
                    first_parent,
                    state: self.releases.get(&release).map(|a| ReleaseState::clone(&a.state)),
                };
                tokio::spawn(async move {
                    let _ = reply.send(crate::notes::release_notes(job).await);
                });
            }
        }
    }

    /// Merges or closes pull request `number` on the replica driving its release.
    async fn pull_request_control(
        &mut self,
        number: u64,
        control: Control,
        reply: tokio::sync::oneshot::Sender<Result<PullRequestInfo, EngineError>>,
    ) {
        let answer = move |a: Result<ControlAnswer, EngineError>| {
            let pr = a.and_then(|a| match a {
                ControlAnswer::PullRequest(pr) => Ok(*pr),
                other => Err(internal(format!("unexpected answer {other:?} to a pull request request"))),
            });
            let _ = reply.send(pr);
        };
        match self.pr_release(number).await {
            Some(release) => self.control(release, control, answer).await,
            None => answer(self.carry_out_here(control).await),
        }
    }

    async fn apply_config(&mut self, catalog: Catalog, actor: String) -> Result<i64, EngineError> {
        let json = serde_json::to_value(&catalog).map_err(internal)?;
        let write = Write::Config { applied_by: actor, catalog: json, at: self.ports.clock.now() };
        match self.store.write(vec![write]).await.map_err(internal)?.into_iter().next() {
            Some(Ok(WriteOutcome::ConfigVersion(v))) => {
                self.config_version = self.config_version.max(v);
                self.catalog = Arc::new(catalog);
                self.catalog_tx.send_replace(self.catalog.clone());
                self.ports.pulls.configure(&self.catalog);
                self.freezes_changed().await;
                self.record_baselines().await;
                Ok(v)
            }
            Some(Err(e)) => Err(internal(e)),
            _ => Err(internal("the store did not return a configuration version")),
        }
    }

    async fn push_status(&mut self, name: AppName, status: PushedStatus) -> Result<(), EngineError> {
        let app = name.as_str();
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
            application: app.to_owned(),
            product: application.product.to_string(),
            environment: application.environment.to_string(),
            component: application.component.to_string(),
            version: None,
            revision: status.revision.clone(),
            sync: status.sync.as_str().to_owned(),
            health: status.health.as_str().to_owned(),
            message: status.message.clone(),
            release_id: None,
            updated_at: self.ports.clock.now(),
        };
        self.store.write(vec![Write::AppStates(vec![row])]).await.map_err(internal)?;
        self.pushed.entry(name.clone()).or_insert_with(|| watch::channel(None).0).send_replace(Some(status));
        // Another replica's release may be the one waiting for it.
        let replicas = self.replicas.clone();
        tokio::spawn(async move {
            if let Err(e) = replicas.announce_pushed(name).await {
                tracing::warn!(error = %e, "cannot announce a status report to the other replicas");
            }
        });
        Ok(())
    }

    fn git_push(&mut self, push: GitPush) -> Result<PushAccepted, EngineError> {
        // Repository identities: the forms a forge sends (`git@host:o/r`, `https://host/o/r.git`, …) all
        // match an application's configured URL.
        let urls: Vec<RepoUrl> = push.repo_urls.iter().filter_map(|u| RepoUrl::parse(u).ok()).collect();
        let pushed_to = |url: &str| RepoUrl::parse(url).is_ok_and(|u| urls.contains(&u));
        let applications: Vec<AppName> = self
            .catalog
            .applications
            .values()
            .filter(|a| a.source.target_revision == push.branch && pushed_to(&a.source.repo_url))
            .map(|a| a.name.clone())
            .collect();
        Ok(PushAccepted { applications })
    }

    /// Applies the result of a piece of work: clears it from `in_flight` and records its events.
    /// Records the outcomes of work that reported, those of distinct releases in one store write
    /// (see [`Engine::drive_many`]); a release's later reports in `msgs` follow once its first is
    /// committed, in the order they came.
    async fn handle_msgs(&mut self, msgs: Vec<Msg>) {
        let mut batch: Vec<(ReleaseId, Vec<ReleaseEvent>)> = Vec::with_capacity(msgs.len());
        let mut later = Vec::new();
        for msg in msgs {
            let id = msg.release;
            if batch.iter().any(|(other, _)| *other == id) || later.iter().any(|m: &Msg| m.release == id) {
                later.push(msg);
                continue;
            }
            let Some(active) = self.releases.get_mut(&id) else { continue };
            if let Some(key) = &msg.done {
                active.in_flight.remove(key);
                self.watches.remove(&(id, key.clone()));
            }
            let events = match msg.outcome {
                Outcome::PrOpened { env, apps, branch, result } => self.pr_opened(id, env, apps, branch, result),
                Outcome::Batch(outcomes) => self.batch_events(id, outcomes),
                outcome => self.events_for(id, outcome),
            };
            batch.push((id, events));
        }
        let ids: Vec<ReleaseId> = batch.iter().map(|(id, _)| *id).collect();
        self.drive_many(batch).await;
        for id in ids {
            if self.retries_waiting.contains_key(&id) {
                self.retry_waiting(id).await;
            }
        }
        if !later.is_empty() {
            Box::pin(self.handle_msgs(later)).await;
        }
    }
}

/// A workflow stage as named in run labels and issue summaries.
fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Trigger => "trigger",
        Stage::PreAction => "pre-action",
        Stage::PostAction => "post-action",
        Stage::Hook => "hook",
    }
}

/// The workflow run `run_id` of a release: a release hook run, an environment hook run or an application's.
fn find_run(state: &ReleaseState, run_id: RunId) -> Option<&ferry_model::release::WorkflowRun> {
    state.all_runs().find(|r| r.id == run_id)
}
