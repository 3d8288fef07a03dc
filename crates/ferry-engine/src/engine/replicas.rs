//! Sharing one database with other replicas (SPEC §8.1): the lease round (renew, claim, load what
//! was claimed), taking a release over (its running steps are lost and run again), dropping a release
//! whose lease was lost, control requests routed to the owner, and the trigger-polling lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_model::names::{AppName, ProductName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState};
use ferry_store::{ReleaseFilter, Store, StoreError};

use super::{Active, Engine};
use crate::handle::{EngineError, PushedStatus};
use crate::ports::{Control, ControlAnswer, ControlResult, Notice, Owner, Replicas, TakenControl};

/// Most releases claimed in one lease round.
const CLAIM_LIMIT: u32 = 100;
/// Most time between claims of expired leases while other replicas drive releases.
pub(super) const CLAIM_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// The lock held by the replica that polls trigger environments.
pub(super) const POLL_LOCK: &str = "trigger-polling";

/// A release's state and event count read from its log, or why it could not be read.
type Loaded = Result<(ReleaseState, usize), EngineError>;

/// What the renewal task reports.
pub(super) enum Renewal {
    /// These releases' leases were taken over by other replicas.
    Lost(Vec<ReleaseId>),
    /// Leases could not be renewed for longer than they last: every one of them may be another
    /// replica's by now.
    Expired,
}

/// Renews this replica's leases every `every`, on its own task so that a busy engine never lets them
/// expire; reports what was lost, and when renewals have failed for longer than `expiry`. Ends with
/// the engine.
pub(super) async fn renew_leases(
    replicas: Arc<dyn Replicas>,
    every: std::time::Duration,
    expiry: std::time::Duration,
    tx: tokio::sync::mpsc::UnboundedSender<Renewal>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut renewed = tokio::time::Instant::now();
    let mut expired = false;
    loop {
        tick.tick().await;
        let started = tokio::time::Instant::now();
        let report = match replicas.renew().await {
            Ok(lost) => {
                renewed = started;
                expired = false;
                (!lost.is_empty()).then_some(Renewal::Lost(lost))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew leases");
                // Reported once per outage.
                let over = !expired && renewed.elapsed() >= expiry;
                expired |= over;
                over.then_some(Renewal::Expired)
            }
        };
        if let Some(report) = report
            && tx.send(report).is_err()
        {
            return;
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// What one lease round found, for the engine task.
pub(super) struct LeaseRound {
    /// Releases claimed, with their state and event count (or why they could not be loaded).
    claimed: Vec<(ReleaseId, Loaded)>,
    /// Active releases of the whole installation, with their products (`None` when unreadable).
    active: Option<Vec<(ReleaseId, ProductName)>>,
    /// Control requests taken for releases this replica drives.
    controls: Vec<TakenControl>,
    /// The latest applied configuration (another replica may have applied it).
    config: Option<ferry_store::ConfigVersion>,
    /// The runtime freezes (another replica may have made or deleted one; `None` when unreadable).
    freezes: Option<Vec<ferry_model::freeze::Freeze>>,
}

/// Claims releases whose lease is free or expired and loads them.
async fn claim_and_load<S: Store>(store: &S, replicas: &Arc<dyn Replicas>) -> Vec<(ReleaseId, Loaded)> {
    let ids = replicas.claim(CLAIM_LIMIT).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot claim releases");
        Vec::new()
    });
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        claimed.push((id, crate::notes::replay(store, &id).await));
    }
    claimed
}

/// One lease round, off the engine task: claim and load, read what is active, take control
/// requests about `held`.
pub(super) async fn lease_round<S: Store>(store: S, replicas: Arc<dyn Replicas>, held: Vec<ReleaseId>) -> LeaseRound {
    let claimed = claim_and_load(&store, &replicas).await;
    let filter = ReleaseFilter {
        statuses: ["Queued", "Running", "Suspended", "Terminating"].map(str::to_owned).to_vec(),
        limit: 500,
        ..ReleaseFilter::default()
    };
    let active = match store.list_releases(filter).await {
        Ok(page) => Some(
            page.items
                .into_iter()
                .filter_map(|row| {
                    let id = row.id.parse::<uuid::Uuid>().ok().map(ReleaseId)?;
                    Some((id, ProductName::new(&row.product).ok()?))
                })
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list active releases");
            None
        }
    };
    let controls = replicas.take(held).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot take control requests");
        Vec::new()
    });
    let config = store.latest_config().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the applied configuration");
        None
    });
    let freezes = super::freezes::load_runtime(&store)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read the runtime freezes"))
        .ok();
    LeaseRound { claimed, active, controls, config, freezes }
}

impl<S: Store> Engine<S> {
    /// Starts a lease round unless one is under way.
    pub(super) fn start_lease_round(&mut self) {
        if self.replicas.is_sole() || self.lease_round_running {
            return;
        }
        self.lease_round_running = true;
        let (store, replicas, tx) = (self.store.clone(), self.replicas.clone(), self.lease_rounds.clone());
        let held: Vec<ReleaseId> = self.releases.keys().copied().collect();
        tokio::spawn(async move {
            let _ = tx.send(lease_round(store, replicas, held).await);
        });
    }

    /// Between lease rounds, while other replicas drive releases: claims those whose lease expired
    /// (their replica died), so a takeover waits for the expiry and at most one claim interval, not a
    /// whole renewal interval more.
    pub(super) fn start_claim_round(&mut self) {
        if self.replicas.is_sole() || self.lease_round_running || self.elsewhere.is_empty() {
            return;
        }
        self.lease_round_running = true;
        let (store, replicas, tx) = (self.store.clone(), self.replicas.clone(), self.lease_rounds.clone());
        tokio::spawn(async move {
            let claimed = claim_and_load(&store, &replicas).await;
            let _ = tx.send(LeaseRound { claimed, active: None, controls: Vec::new(), config: None, freezes: None });
        });
    }

    /// Drops the releases whose leases the renewal task found lost (all of them when renewals
    /// failed for longer than a lease lasts).
    pub(super) fn handle_renewal(&mut self, renewal: Renewal) {
        match renewal {
            Renewal::Lost(lost) => {
                for id in lost {
                    self.lose(id, "its lease expired and another replica took it over");
                }
            }
            Renewal::Expired => {
                let all: Vec<ReleaseId> = self.releases.keys().copied().collect();
                for id in all {
                    self.lose(id, "leases could not be renewed for longer than they last");
                }
            }
        }
    }

    /// Applies a lease round: takes over what was claimed, notes what other replicas drive, carries
    /// out control requests.
    pub(super) async fn handle_lease_round(&mut self, round: LeaseRound) {
        self.lease_round_running = false;
        if let Some(config) = round.config {
            self.adopt_config(config);
        }
        if let Some(freezes) = round.freezes {
            self.adopt_runtime_freezes(freezes).await;
        }
        // A full batch: more may wait (a replica with many releases died); claim on at once.
        let more = round.claimed.len() >= CLAIM_LIMIT as usize;
        for (id, loaded) in round.claimed {
            match loaded {
                Ok((state, events)) => self.take_over(id, state, events).await,
                Err(e) => {
                    tracing::error!(release = %id, error = %e, "cannot load a claimed release; giving it up");
                    let replicas = self.replicas.clone();
                    tokio::spawn(async move { replicas.give_up(id).await });
                }
            }
        }
        if let Some(active) = round.active {
            let elsewhere: BTreeMap<ReleaseId, ProductName> =
                active.into_iter().filter(|(id, _)| !self.releases.contains_key(id)).collect();
            // Releases refused their turn since the last round may claim it again from now on.
            let refused = std::mem::take(&mut self.turn_refused);
            let waiting: Vec<ReleaseId> = if elsewhere != self.elsewhere {
                self.elsewhere = elsewhere;
                // Queued releases may start now that another replica's release of their product ended.
                self.releases.iter().filter(|(_, a)| a.state.started_at().is_none()).map(|(id, _)| *id).collect()
            } else {
                // Refused a turn by a release that may have ended between two rounds.
                refused.into_iter().filter(|id| self.releases.contains_key(id)).collect()
            };
            for id in waiting {
                self.drive(id).await;
            }
        }
        for taken in round.controls {
            self.carry_out_taken(taken).await;
        }
        if more {
            self.start_lease_round();
        }
    }

    /// Starts using a configuration another replica applied, when it is newer than the one in use.
    fn adopt_config(&mut self, config: ferry_store::ConfigVersion) {
        if config.version <= self.config_version {
            return;
        }
        match serde_json::from_value::<ferry_model::resources::Catalog>(config.catalog) {
            Ok(catalog) => {
                tracing::info!(version = config.version, "using the configuration another replica applied");
                self.config_version = config.version;
                self.catalog = Arc::new(catalog);
                self.catalog_tx.send_replace(self.catalog.clone());
                self.ports.pulls.configure(&self.catalog);
                self.set_freezes();
            }
            Err(e) => tracing::error!(version = config.version, error = %e, "cannot read an applied configuration"),
        }
    }

    /// Drives a release this replica just claimed: its steps that were running on the previous owner
    /// are recorded as lost, and the plan carries out their runs again from those steps. Steps of
    /// remote runs (Argo workflows) are not lost: their runs are carried out again and re-attach.
    async fn take_over(&mut self, id: ReleaseId, state: ReleaseState, events: usize) {
        if self.releases.contains_key(&id) {
            return;
        }
        let now = self.ports.clock.now();
        let lost: Vec<ReleaseEvent> = crate::plan::lost_at_takeover(&state, &self.catalog.workflows)
            .into_iter()
            .map(|(run_id, step)| ReleaseEvent::StepLost {
                run_id,
                step,
                reason: "the replica driving the release stopped; the step runs again".to_owned(),
                at: now,
            })
            .collect();
        tracing::info!(release = %id, lost = lost.len(), "took the release over");
        self.elsewhere.remove(&id);
        let active = Active::new(state, events as i64);
        self.releases.insert(id, active);
        self.publish(id);
        self.record(id, lost).await;
    }

    /// Forgets release `id` at once (its lease is another replica's now): its work here is stopped
    /// and nothing is written for it any more.
    pub(super) fn lose(&mut self, id: ReleaseId, why: &str) {
        let Some(active) = self.releases.remove(&id) else { return };
        tracing::warn!(release = %id, "dropping the release: {why}");
        self.live.remove(id);
        let runs: Vec<ferry_model::release::RunId> = active
            .in_flight
            .iter()
            .filter_map(|k| k.strip_prefix("run:"))
            .filter_map(|r| r.parse::<uuid::Uuid>().ok().map(ferry_model::release::RunId))
            .collect();
        if let Ok(mut controls) = self.controls.lock() {
            for run in runs {
                if let Some(control) = controls.remove(&run) {
                    control.detach(format!("this replica no longer drives release {id}"));
                }
            }
        }
        // Run tasks (which store logs) and health waits end here.
        let keys: Vec<(ReleaseId, String)> = self.watches.keys().filter(|(r, _)| *r == id).cloned().collect();
        for key in keys {
            if let Some(handle) = self.watches.remove(&key) {
                handle.abort();
            }
        }
        self.slots.retain(|_, (release, _)| *release != id);
    }

    /// Whether a failed release write means another replica drives the release now.
    pub(super) fn lost_by(&self, error: &StoreError) -> bool {
        !self.replicas.is_sole() && matches!(error, StoreError::Fenced { .. } | StoreError::SequenceConflict { .. })
    }

    /// Routes a control request: carried out here when this replica drives the release (or nobody
    /// does), else sent to the owner, whose answer `answer` receives.
    pub(super) async fn control(
        &mut self,
        release: ReleaseId,
        control: Control,
        answer: impl FnOnce(ControlResult) + Send + 'static,
    ) {
        if !self.replicas.is_sole() && !self.releases.contains_key(&release) {
            match self.replicas.owner(release).await {
                Ok(Owner::Other(_)) => {
                    let replicas = self.replicas.clone();
                    tokio::spawn(async move { answer(replicas.forward(release, control).await) });
                    return;
                }
                Ok(Owner::Here | Owner::Free) => {}
                Err(e) => {
                    answer(Err(EngineError::Internal(format!("cannot read the lease of release {release}: {e}"))));
                    return;
                }
            }
        }
        if let Control::Retry { actor } = control {
            // A Failed release whose last work is still reporting (a run's end, a watch's last word,
            // already in the engine's queue) is retried as soon as that has been recorded, rather than
            // refused: nothing in it is running any more.
            if let Some(active) = self.releases.get(&release)
                && !active.in_flight.is_empty()
                && !active.state.is_busy()
                && active.state.status() == ferry_model::status::ReleaseStatus::Failed
            {
                self.retries_waiting.entry(release).or_default().push((actor, std::sync::Mutex::new(Box::new(answer))));
                return;
            }
            answer(self.carry_out(release, Control::Retry { actor }).await);
            return;
        }
        answer(self.carry_out(release, control).await);
    }

    /// Carries out the retries of `release` that waited for its last work to report, once it has.
    pub(super) async fn retry_waiting(&mut self, release: ReleaseId) {
        if self.releases.get(&release).is_some_and(|a| !a.in_flight.is_empty()) {
            return;
        }
        for (actor, answer) in self.retries_waiting.remove(&release).unwrap_or_default() {
            let answer = answer.into_inner().unwrap_or_else(|e| e.into_inner());
            answer(self.carry_out(release, Control::Retry { actor }).await);
        }
    }

    /// Carries out a control request here. A release no replica drives (its lease given up) is taken
    /// first: writing it takes its lease.
    async fn carry_out(&mut self, release: ReleaseId, control: Control) -> ControlResult {
        if !self.replicas.is_sole()
            && !self.releases.contains_key(&release)
            && !matches!(control, Control::Retry { .. })
        {
            let (state, events) = crate::notes::replay(&self.store, &release).await?;
            if !state.status().is_final() {
                self.take_over(release, state, events).await;
            }
        }
        match control {
            Control::Terminate { reason, actor } => {
                self.terminate(release, reason, actor).await.map(|()| ControlAnswer::Done)
            }
            Control::Retry { actor } => self.retry(release, actor).await.map(|()| ControlAnswer::Done),
            Control::Approve { env, actor, role, comment } => {
                let approver = crate::handle::Approver { actor, role, comment };
                self.approve(release, env, approver).await.map(ControlAnswer::Approved)
            }
            Control::Unfreeze { env, reason, actor } => {
                self.unfreeze(release, env, reason, actor).await.map(|()| ControlAnswer::Done)
            }
            pr @ (Control::MergePr { .. } | Control::ClosePr { .. }) => self.carry_out_here(pr).await,
        }
    }

    /// Carries out a pull-request request here, whatever release it belongs to (also when that
    /// cannot be read: the request then fails saying why).
    pub(super) async fn carry_out_here(&mut self, control: Control) -> ControlResult {
        let pr = match control {
            Control::MergePr { number, actor } => self.merge_pr(number, actor).await?,
            Control::ClosePr { number, comment } => self.close_pr(number, comment).await?,
            other => return Err(EngineError::Internal(format!("{other:?} is about a release"))),
        };
        Ok(ControlAnswer::PullRequest(Box::new(pr)))
    }

    /// Carries out a request another replica forwarded, and stores the answer for it.
    pub(super) async fn carry_out_taken(&mut self, taken: TakenControl) {
        let TakenControl { id, release, control } = taken;
        let answer = if self.releases.contains_key(&release) {
            self.carry_out(release, control).await
        } else {
            Err(EngineError::Conflict(format!("release {release} moved to another replica meanwhile; try again")))
        };
        let replicas = self.replicas.clone();
        tokio::spawn(async move {
            if let Err(e) = replicas.answer(id, answer).await {
                tracing::warn!(request = id, error = %e, "cannot answer a control request");
            }
        });
    }

    /// Acts on what another replica announced.
    pub(super) async fn handle_notice(&mut self, notice: Notice) {
        match notice {
            Notice::ControlRequested(release) => self.control_requested(release).await,
            Notice::StatusPushed(app) => self.status_pushed(app).await,
        }
    }

    /// Reads a status report another replica stored, for this replica's waits on the application.
    async fn status_pushed(&mut self, app: AppName) {
        let Some(product) = self.catalog.applications.get(&app).map(|a| a.product.clone()) else { return };
        let rows = match self.store.app_states(&product).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(app = %app, error = %e, "cannot read a status report");
                return;
            }
        };
        let Some(row) = rows.into_iter().find(|r| r.application == app.as_str()) else { return };
        // Stored by the replica that took the report, from the parsed values: one that does not read is a
        // row of another version, and is left alone.
        let (Ok(sync), Ok(health)) = (row.sync.parse(), row.health.parse()) else {
            tracing::warn!(app = %app, sync = %row.sync, health = %row.health, "a stored status report does not read");
            return;
        };
        let status = PushedStatus { sync, revision: row.revision, health, message: row.message };
        let reports = self.pushed.entry(app).or_insert_with(|| tokio::sync::watch::channel(None).0);
        reports.send_if_modified(|current| {
            let changed = current.as_ref() != Some(&status);
            *current = Some(status);
            changed
        });
    }

    /// Takes and carries out the control requests announced for `release`, when this replica drives it.
    async fn control_requested(&mut self, release: ReleaseId) {
        if !self.releases.contains_key(&release) {
            return;
        }
        match self.replicas.take(vec![release]).await {
            Ok(taken) => {
                for t in taken {
                    self.carry_out_taken(t).await;
                }
            }
            Err(e) => tracing::warn!(release = %release, error = %e, "cannot take control requests"),
        }
    }

    /// The release a pull request belongs to, when it can be read (else the request is carried out
    /// here, which answers why it cannot be).
    pub(super) async fn pr_release(&self, number: u64) -> Option<ReleaseId> {
        let pr = self.ports.pulls.get(number).await.ok()??;
        pr.release.parse::<uuid::Uuid>().ok().map(ReleaseId)
    }

    /// Whether this replica does the periodic `job` now: it holds the job's lock (taking it when
    /// free). One replica at a time does each job; another takes it over when that one stops.
    pub(super) async fn take_turn(&mut self, job: &'static str) -> bool {
        if self.locks.get(job).is_some_and(|l| l.is_held()) {
            return true;
        }
        match self.replicas.try_lock(job).await {
            Ok(Some(lock)) => {
                self.locks.insert(job, lock);
                true
            }
            Ok(None) => {
                self.locks.remove(job);
                false
            }
            Err(e) => {
                tracing::warn!(job, error = %e, "cannot take the lock of a periodic job");
                self.locks.remove(job);
                false
            }
        }
    }

    /// Whether an older active release of `product` runs on another replica (queue mode waits for it).
    pub(super) fn older_elsewhere(&self, id: ReleaseId, product: &ProductName) -> bool {
        self.elsewhere.iter().any(|(other, p)| *other < id && p == product)
    }

    /// The active releases of `product` other replicas drive (not being terminated), read from the
    /// database so that one created a moment ago on another replica counts; none on a sole replica
    /// or when they cannot be read. `id` is the release asking, left out.
    pub(super) async fn others_of(&self, product: &ProductName, id: ReleaseId) -> Vec<Other> {
        if self.replicas.is_sole() {
            return Vec::new();
        }
        let filter = ReleaseFilter {
            product: Some(product.to_string()),
            statuses: ["Queued", "Running", "Suspended"].map(str::to_owned).to_vec(),
            limit: 500,
            ..ReleaseFilter::default()
        };
        let rows = match self.store.list_releases(filter).await {
            Ok(page) => page.items,
            Err(e) => {
                tracing::warn!(product = %product, error = %e, "cannot read the product's releases on other replicas");
                return Vec::new();
            }
        };
        rows.into_iter()
            .filter_map(|row| {
                let other = ReleaseId(row.id.parse::<uuid::Uuid>().ok()?);
                (other != id && !self.releases.contains_key(&other)).then_some(Other {
                    id: other,
                    status: row.status,
                    environments: row.environments,
                })
            })
            .collect()
    }

    /// Terminates release `id` for the product's concurrency mode, here or through the replica
    /// driving it.
    pub(super) async fn terminate_anywhere(&mut self, id: ReleaseId, reason: String) {
        if self.releases.contains_key(&id) || self.replicas.is_sole() {
            if let Err(e) = self.request_termination(id, reason, "ferry".into()).await {
                tracing::error!(release = %id, error = %e, "cannot terminate a release (concurrency mode)");
            }
            return;
        }
        let control = Control::Terminate { reason, actor: "ferry".into() };
        self.control(id, control, move |answer| {
            if let Err(e) = answer {
                tracing::warn!(release = %id, error = %e, "cannot terminate a release another replica drives");
            }
        })
        .await;
    }

    /// Gives the leases of the releases this replica drives up, so others take them over at once.
    pub(super) async fn give_up_all(&mut self) {
        let ids: Vec<ReleaseId> = self.releases.keys().copied().collect();
        for id in ids {
            if let Err(e) = self.replicas.give_up(id).await {
                tracing::warn!(release = %id, error = %e, "cannot give the lease up");
            }
        }
    }
}

/// An active release of a product that another replica drives, as stored.
pub(super) struct Other {
    pub id: ReleaseId,
    /// `Queued`, `Running` or `Suspended`.
    pub status: String,
    /// Environment → status.
    pub environments: serde_json::Value,
}
