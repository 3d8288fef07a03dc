//! What operators see of the engine (SPEC §7.2): one log line per release and per environment status
//! change, and the histograms and gauges of `/metrics` — environment durations, hop latency,
//! application phase durations, step durations and the queue depth per product.
//!
//! Everything here reads two states (before and after a commit) and the committed events; it decides
//! nothing and writes nothing but log lines and metric observations.

use ferry_model::names::{CommitSha, EnvName, ProductName, ReleaseId};
use ferry_model::release::{ReleaseEvent, ReleaseState, Stage, WorkflowRun};
use ferry_model::status::{EnvStatus, ReleaseStatus};
use jiff::Timestamp;

use super::{Engine, find_run};
use ferry_store::Store;

/// Seconds from `from` to `to` (negative spans, from clock steps, count as zero).
fn seconds(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64().max(0.0)
}

impl<S: Store> Engine<S> {
    /// Logs and measures what changed from `before` to `after` with `events`; `created` when the
    /// commit created the release.
    pub(super) fn observe(&self, before: &ReleaseState, after: &ReleaseState, events: &[ReleaseEvent], created: bool) {
        let id = after.id();
        let product = &after.snapshot().product;
        let (was, now) = (before.status(), after.status());
        if created {
            tracing::info!(
                release = %id,
                product = %product,
                flow = %after.snapshot().flow,
                initiator = %after.snapshot().initiator,
                status = %now.as_str(),
                "release created"
            );
        } else if was != now {
            release_changed(id, product, was, now, after);
        }
        environments_changed(id, product, before, after);
        for event in events {
            match event {
                ReleaseEvent::StepFinished { run_id, step, .. } => {
                    if let Some(s) = find_run(after, *run_id).and_then(|r| r.step(step))
                        && let (Some(start), Some(end)) = (s.started_at, s.finished_at)
                    {
                        ::metrics::histogram!("ferry_step_duration_seconds", "status" => s.status.as_str())
                            .record(seconds(start, end));
                    }
                    run_ended(before, after, *run_id);
                }
                ReleaseEvent::WorkflowRunErrored { run_id, .. } => run_ended(before, after, *run_id),
                _ => {}
            }
        }
        applications_changed(before, after);
        self.report_progress(before, after);
        self.notify(before, after, created);
        if was != now || created {
            self.observe_queue(product);
        }
    }

    /// Hands environment status changes and landed promotion commits to the pull-request provider
    /// (commit statuses on the trigger and promotion commits, the pull request's comment); never waits.
    fn report_progress(&self, before: &ReleaseState, after: &ReleaseState) {
        let snap = after.snapshot();
        let trigger_url = snap
            .trigger_environment()
            .and_then(|t| t.applications.first())
            .map(|a| self.repo_url(&a.name, &a.repo_url))
            .unwrap_or_else(|| snap.trigger.repo.clone());
        for (env, now) in after.env_statuses() {
            let was = before.env_status(env).unwrap_or(EnvStatus::Pending);
            let status_changed = was != now;
            // Most commits change neither: compare the landed commits before looking up their URLs.
            if !status_changed && landed(before, env) == landed(after, env) {
                continue;
            }
            let mut promotions = self.promotion_commits(after, env);
            if !status_changed {
                let earlier = self.promotion_commits(before, env);
                promotions.retain(|c| !earlier.contains(c));
            }
            self.ports.pulls.progress(crate::ports::EnvProgress {
                release: after.id(),
                product: snap.product.to_string(),
                env: env.clone(),
                status: now,
                status_changed,
                trigger: status_changed.then(|| (trigger_url.clone(), snap.trigger.sha.clone())),
                promotions,
                release_url: self.release_url(after.id()),
                reason: after.reason(),
            });
        }
    }

    /// The commits the promotion actions of `env` landed (a commit, a pull request's merge commit),
    /// with the configured URL of their repository, each once.
    fn promotion_commits(&self, state: &ReleaseState, env: &EnvName) -> Vec<(String, CommitSha)> {
        let (Some(e), Some(snap)) = (state.environment(env), state.snapshot().environment(env)) else {
            return Vec::new();
        };
        let mut commits: Vec<(String, CommitSha)> = Vec::new();
        for app in &e.apps {
            let Some(commit) = app.action.as_ref().and_then(|a| a.commit.clone()) else { continue };
            let Some(source) = snap.applications.iter().find(|a| a.name == app.name) else { continue };
            let landed = (self.repo_url(&app.name, &source.repo_url), commit);
            if !commits.contains(&landed) {
                commits.push(landed);
            }
        }
        commits
    }

    /// Hands the release's and its environments' status changes to the notifier (SPEC §6.6); never waits.
    fn notify(&self, before: &ReleaseState, after: &ReleaseState, created: bool) {
        if self.catalog.notifications.is_empty() {
            return;
        }
        let id = after.id();
        let change = |environment: Option<&EnvName>, was: &str, now: &str| ferry_notify::Change {
            release_id: id.to_string(),
            product: after.snapshot().product.to_string(),
            environment: environment.map(ToString::to_string),
            status: now.to_owned(),
            previous_status: was.to_owned(),
            reason: after.reason(),
            release_url: self.release_url(id),
            timestamp: self.ports.clock.now(),
        };
        let (was, now) = (before.status(), after.status());
        if !created && was != now {
            self.notifier.send(change(None, was.as_str(), now.as_str()));
        }
        for (env, now) in after.env_statuses() {
            let was = before.env_status(env).unwrap_or(EnvStatus::Pending);
            if was != now {
                self.notifier.send(change(Some(env), was.as_str(), now.as_str()));
            }
        }
    }

    /// Sets the queue depth of `product`: its active releases waiting in the queue.
    fn observe_queue(&self, product: &ProductName) {
        let queued =
            self.releases.of_product(product).filter(|(_, a)| a.state.status() == ReleaseStatus::Queued).count();
        ::metrics::gauge!("ferry_queue_depth", "product" => product.to_string()).set(queued as f64);
    }
}

/// The commits the promotion actions of `env` landed, in application order.
fn landed<'a>(state: &'a ReleaseState, env: &EnvName) -> Vec<&'a CommitSha> {
    let apps = state.environment(env).map(|e| e.apps.as_slice()).unwrap_or_default();
    apps.iter().filter_map(|a| a.action.as_ref()?.commit.as_ref()).collect()
}

fn release_changed(id: ReleaseId, product: &ProductName, was: ReleaseStatus, now: ReleaseStatus, after: &ReleaseState) {
    let reason = after.reason();
    if now.is_final() {
        if let (Some(start), Some(end)) = (after.started_at(), after.finished_at().or(after.terminated_at())) {
            ::metrics::histogram!("ferry_release_duration_seconds", "status" => now.as_str())
                .record(seconds(start, end));
        }
        tracing::info!(
            release = %id,
            product = %product,
            from = %was.as_str(),
            status = %now.as_str(),
            reason = reason.as_deref().unwrap_or(""),
            "release finished"
        );
    } else {
        tracing::info!(release = %id, product = %product, from = %was.as_str(), status = %now.as_str(), "release status changed");
    }
}

fn environments_changed(id: ReleaseId, product: &ProductName, before: &ReleaseState, after: &ReleaseState) {
    for (env, now) in after.env_statuses() {
        let was = before.env_status(env).unwrap_or(EnvStatus::Pending);
        if was == now {
            continue;
        }
        tracing::info!(
            release = %id,
            product = %product,
            env = %env,
            from = %was.as_str(),
            status = %now.as_str(),
            "environment status changed"
        );
        if !now.is_final() {
            continue;
        }
        let Some(state) = after.environment(env) else { continue };
        if let (Some(start), Some(end)) = (state.started_at, state.finished_at) {
            ::metrics::histogram!("ferry_environment_duration_seconds", "status" => now.as_str())
                .record(seconds(start, end));
        }
        if now == EnvStatus::Successful
            && let Some(end) = state.finished_at
            && let Some(ready) = dependencies_done(after, env)
        {
            ::metrics::histogram!("ferry_hop_latency_seconds", "product" => product.to_string())
                .record(seconds(ready, end));
        }
    }
}

/// When the last dependency of `env` finished (`None` for an environment without dependencies).
fn dependencies_done(state: &ReleaseState, env: &EnvName) -> Option<Timestamp> {
    let deps = &state.snapshot().environment(env)?.depends_on;
    deps.iter().filter_map(|d| state.environment(d).and_then(|e| e.finished_at)).max()
}

/// A workflow run that ended with this commit: its stage's phase duration.
fn run_ended(before: &ReleaseState, after: &ReleaseState, run_id: ferry_model::release::RunId) {
    let Some(run) = find_run(after, run_id) else { return };
    let ended_before = find_run(before, run_id).is_some_and(|r| r.status().is_final());
    if ended_before || !run.status().is_final() {
        return;
    }
    let phase = match run.target.stage() {
        Stage::Trigger => "trigger",
        Stage::PreAction => "preAction",
        Stage::PostAction => "postAction",
        Stage::Hook => "hook",
    };
    if let Some(end) = run_end(run) {
        ::metrics::histogram!("ferry_application_phase_duration_seconds", "phase" => phase)
            .record(seconds(run.started_at, end));
    }
}

fn run_end(run: &WorkflowRun) -> Option<Timestamp> {
    run.steps.iter().filter_map(|s| s.finished_at).max().or(Some(run.started_at))
}

/// The action and health phases of every application whose action ended or whose gate passed.
fn applications_changed(before: &ReleaseState, after: &ReleaseState) {
    for env in after.environments() {
        let Some(old_env) = before.environment(&env.name) else { continue };
        for app in &env.apps {
            let Some(old) = old_env.app(&app.name) else { continue };
            if let Some(action) = &app.action
                && let Some(end) = action.finished_at
                && old.action.as_ref().is_none_or(|a| a.finished_at.is_none())
            {
                ::metrics::histogram!("ferry_application_phase_duration_seconds", "phase" => "action")
                    .record(seconds(action.started_at, end));
            }
            if let Some(passed) = app.gate_passed_at
                && old.gate_passed_at.is_none()
                && let Some(start) = app.action.as_ref().and_then(|a| a.finished_at)
            {
                ::metrics::histogram!("ferry_application_phase_duration_seconds", "phase" => "health")
                    .record(seconds(start, passed));
            }
        }
    }
}
