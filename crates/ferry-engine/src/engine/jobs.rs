//! Handing out work: the jobs (workflow runs, promotions, sync-and-health watches) that the
//! planner's commands call for, built from the release state and the applied configuration.

use std::collections::{BTreeMap, BTreeSet};

use ferry_git::{FilePlan, PromotionRequest};
use ferry_model::names::{AppName, EnvName, ReleaseId};
use ferry_model::release::{ReleaseState, RunId, RunTarget, Stage};
use ferry_model::resources::Action;
use ferry_model::status::StepStatus;
use ferry_model::template::resolve_template;
use ferry_runner::CompletedStep;
use ferry_store::Store;
use tokio::sync::watch;
use tracing::Instrument as _;

use super::{Engine, find_run, stage_label};
use crate::plan::Work;
use crate::ports::StatusTarget;
use crate::work::{Msg, Outcome, PrTarget, PromoteJob, RunJob, WatchJob};

impl<S: Store> Engine<S> {
    /// Hands out `work` for release `id` (once: a key already in flight is skipped).
    pub(super) fn dispatch(&mut self, id: ReleaseId, work: Work) {
        let Some(active) = self.releases.get_mut(&id) else { return };
        if !active.in_flight.insert(work.key()) {
            return;
        }
        let state = active.state.clone();
        let tx = self.msgs.clone();
        // The work's lines (engine, git, runner) carry the release id, so one release can be grepped.
        let span = work_span(id, &state, &work);
        match work {
            Work::Run { run_id } => match self.run_job(&state, run_id) {
                Ok(job) => {
                    self.supersede(id, &state, run_id);
                    let (runner, git, store, controls) =
                        (self.ports.runner.clone(), self.ports.git.clone(), self.store.clone(), self.controls.clone());
                    let task =
                        tokio::spawn(crate::work::run_workflow(job, runner, git, store, tx, controls).instrument(span));
                    // Kept so that a release this replica loses stops storing the run's logs.
                    self.watches.insert((id, work_key_run(run_id)), task.abort_handle());
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
                let pr = (action == Action::Pr).then(|| {
                    let snap = state.snapshot();
                    let es = snap.environment(&env);
                    let repo = es
                        .and_then(|es| es.applications.iter().find(|a| apps.contains(&a.name)))
                        .map(|a| a.repo_url.clone())
                        .unwrap_or_default();
                    PrTarget {
                        branch: format!("ferry/{}/{env}/{id}", snap.product),
                        product: snap.product.to_string(),
                        repo,
                        version: snap.version.clone(),
                        release_url: self.release_url(id),
                        options: es.and_then(|es| es.policy.as_ref()).and_then(|p| p.pull_request.clone()),
                    }
                });
                let job = PromoteJob { release: id, env, apps, request, pr };
                let (git, pulls) = (self.ports.git.clone(), self.ports.pulls.clone());
                tokio::spawn(crate::work::promote(job, git, pulls, tx).instrument(span));
            }
            Work::Soak { env, app, until } => {
                let key = Work::Soak { env: env.clone(), app: app.clone(), until }.key();
                match self.watch_job(&state, &env, &app) {
                    Ok(job) => {
                        let (status, clock) = (self.ports.status.clone(), self.ports.clock.clone());
                        let task = crate::work::soak_app(job, until, status, clock, tx);
                        let handle = tokio::spawn(task.instrument(span));
                        self.watches.insert((id, key), handle.abort_handle());
                    }
                    Err(message) => {
                        let outcome = Outcome::Relapsed { env, app, message };
                        let _ = tx.send(Msg { release: id, done: Some(key), outcome });
                    }
                }
            }
            Work::Watch { env, app } => match self.watch_job(&state, &env, &app) {
                Ok(job) => {
                    let key = Work::Watch { env: env.clone(), app: app.clone() }.key();
                    let handle =
                        tokio::spawn(crate::work::watch_app(job, self.ports.status.clone(), tx).instrument(span));
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
    pub(super) fn repo_url(&self, app: &AppName, snapshot_url: &str) -> String {
        self.catalog.applications.get(app).map_or_else(|| snapshot_url.to_owned(), |a| a.source.repo_url.clone())
    }

    pub(super) fn release_url(&self, id: ReleaseId) -> String {
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
        let completed: BTreeMap<_, _> = run
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Success)
            .map(|s| (s.name.clone(), CompletedStep { outputs: s.outputs.clone() }))
            .collect();
        let reattached = if workflow.backend.is_remote() {
            run.steps.iter().filter(|s| s.status == StepStatus::Running).map(|s| s.name.clone()).collect()
        } else {
            BTreeSet::new()
        };
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
            reattached,
            labels,
            cwd: self.config.data_dir.join("runs").join(run_id.to_string()),
            commit,
            attempt: state.retries().saturating_add(1),
            terminate: state
                .terminate_request()
                .filter(|_| run.target.hook() != Some(ferry_model::release::HookKind::OnFail))
                .map(|t| t.reason.clone()),
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
        let pushed = self.pushed.entry(app.clone()).or_insert_with(|| watch::channel(None).0).subscribe();
        let target = self.status_target(state, env, app, pushed)?;
        Ok(WatchJob { release: state.id(), target })
    }

    /// What the status provider of `app` in `env` looks at; `reports` carries pushed statuses.
    fn status_target(
        &self,
        state: &ReleaseState,
        env: &EnvName,
        app: &AppName,
        reports: watch::Receiver<Option<crate::handle::PushedStatus>>,
    ) -> Result<StatusTarget, String> {
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
        Ok(StatusTarget {
            env: env.clone(),
            app: app.clone(),
            repo_url: self.repo_url(app, &a.repo_url),
            branch: a.branch.clone(),
            path: a.path.clone(),
            expected,
            source: application.status.clone(),
            reports,
        })
    }

    /// The events of a sync-and-health gate whose provider knows the answer at once
    /// ([`crate::ports::AppStatusProvider::settled`]): the observation and the gate passed. `None`:
    /// the gate needs a watch.
    pub(super) fn settled_gate(
        &self,
        state: &ReleaseState,
        env: &EnvName,
        app: &AppName,
    ) -> Option<[ferry_model::release::ReleaseEvent; 2]> {
        let application = self.catalog.applications.get(app)?;
        let provider = self.ports.status.for_source(&application.status).ok()?;
        let target = self.status_target(state, env, app, watch::channel(None).1).ok()?;
        let started = std::time::Instant::now();
        let seen = provider.settled(&target)?;
        ::metrics::histogram!(
            "ferry_provider_call_duration_seconds",
            "provider" => crate::work::source_kind(&application.status),
            "call" => "settled"
        )
        .record(started.elapsed().as_secs_f64());
        let at = self.ports.clock.now();
        Some([
            ferry_model::release::ReleaseEvent::AppObserved {
                env: env.clone(),
                app: app.clone(),
                sync: seen.sync,
                health: seen.health,
                revision: seen.revision,
                message: seen.message,
                at,
            },
            ferry_model::release::ReleaseEvent::AppGatePassed { env: env.clone(), app: app.clone(), at },
        ])
    }
}

fn work_key_run(run_id: RunId) -> String {
    Work::Run { run_id }.key()
}

/// The span of one piece of work: the release, and the environment and application it is for.
fn work_span(id: ReleaseId, state: &ReleaseState, work: &Work) -> tracing::Span {
    let span = tracing::info_span!("release", release = %id, env = tracing::field::Empty, app = tracing::field::Empty);
    let (env, app) = match work {
        Work::Run { run_id } => match find_run(state, *run_id).map(|r| &r.target) {
            Some(target) => (target.env().cloned(), target.app().cloned()),
            None => (None, None),
        },
        Work::Promote { env, .. } => (Some(env.clone()), None),
        Work::Watch { env, app } | Work::Soak { env, app, .. } => (Some(env.clone()), Some(app.clone())),
    };
    if let Some(env) = env {
        span.record("env", tracing::field::display(env));
    }
    if let Some(app) = app {
        span.record("app", tracing::field::display(app));
    }
    span
}
