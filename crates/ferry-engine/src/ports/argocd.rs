//! The Argo CD status source (SPEC §6.3): reads the application from Argo CD's API, follows its
//! watch stream, and judges each state by the trust rule of `ferry_argocd::assess`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_argocd::{AppRef, ArgoError, Backoff, Client, Refresh, Verdict};
use ferry_model::names::CommitSha;
use ferry_model::release::GateFailure;
use ferry_model::resources::{ArgoCdStatus, ArgoRefresh, StatusSource};
use ferry_model::status::{HealthStatus, SyncStatus};

use super::status::{blocking, target_revision};
use super::{AppStatusProvider, BoxFuture, GateError, GitPort, Observation, StatusTarget};

/// The environment variable holding the Argo CD token when `tokenSecret` names none.
pub const DEFAULT_TOKEN_VARIABLE: &str = "FERRY_ARGOCD_TOKEN";

/// Looks a token up by the name of the variable holding it (the process environment in production).
pub type TokenLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// `status.argocd`: Argo CD is the deployer; Ferry reads it. Unreachable servers, cut streams and
/// malformed answers are retried with backoff and jitter (the application shows Unknown with the
/// cause meanwhile); 401, 403 and 404 fail the gate at once with the cause.
pub struct ArgoCdStatusProvider {
    git: Arc<dyn GitPort>,
    default_server: Option<String>,
    tokens: TokenLookup,
    retry: (Duration, Duration),
    resync: Duration,
}

impl ArgoCdStatusProvider {
    /// A provider comparing revisions in the mirrors of `git`, using `default_server` for
    /// applications that name none, reading tokens through `tokens`.
    pub fn new(git: Arc<dyn GitPort>, default_server: Option<String>, tokens: TokenLookup) -> ArgoCdStatusProvider {
        ArgoCdStatusProvider {
            git,
            default_server,
            tokens,
            retry: (Duration::from_millis(500), Duration::from_secs(30)),
            resync: Duration::from_secs(180),
        }
    }

    /// Tokens from the process environment.
    pub fn env_tokens() -> TokenLookup {
        Arc::new(|name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the application again when its watch stream has been silent for `resync` (default 3
    /// minutes, Argo CD's own reconciliation interval).
    pub fn with_resync(mut self, resync: Duration) -> ArgoCdStatusProvider {
        self.resync = resync;
        self
    }

    /// Retries after `base`, doubling up to `max` (with jitter).
    pub fn with_retry(mut self, base: Duration, max: Duration) -> ArgoCdStatusProvider {
        self.retry = (base, max);
        self
    }

    fn client(&self, cfg: &ArgoCdStatus) -> Result<Client, String> {
        let server = cfg.server.as_deref().or(self.default_server.as_deref()).ok_or_else(|| {
            "no Argo CD server: set status.argocd.server or start the server with --argocd-server URL \
             (FERRY_ARGOCD_SERVER)"
                .to_owned()
        })?;
        let variable = cfg.token_secret.as_deref().unwrap_or(DEFAULT_TOKEN_VARIABLE);
        Client::new(server, (self.tokens)(variable), &format!("the environment variable {variable}"))
            .map_err(|e| e.to_string())
    }
}

fn app_ref(cfg: &ArgoCdStatus) -> AppRef {
    AppRef { name: cfg.application.clone(), app_namespace: cfg.app_namespace.clone(), project: cfg.project.clone() }
}

fn config(target: &StatusTarget) -> Result<&ArgoCdStatus, GateError> {
    match &target.source {
        StatusSource::ArgoCd(cfg) => Ok(cfg),
        _ => Err((GateFailure::Degraded, "the application's status source is not argocd".to_owned())),
    }
}

fn unknown(cause: &ArgoError) -> Observation {
    Observation {
        sync: SyncStatus::Unknown,
        health: HealthStatus::Unknown,
        revision: None,
        message: Some(cause.to_string()),
    }
}

impl AppStatusProvider for ArgoCdStatusProvider {
    fn missing_settings(&self, source: &StatusSource) -> Option<String> {
        let StatusSource::ArgoCd(cfg) = source else { return None };
        let variable = cfg.token_secret.as_deref().unwrap_or(DEFAULT_TOKEN_VARIABLE);
        let mut missing = Vec::new();
        match cfg.server.as_deref().or(self.default_server.as_deref()) {
            None => missing.push(
                "an Argo CD server (set status.argocd.server, or start the server with --argocd-server URL or \
                 FERRY_ARGOCD_SERVER)"
                    .to_owned(),
            ),
            Some(server) => {
                if let Err(e) = Client::new(server, None, variable) {
                    missing.push(e.to_string());
                }
            }
        }
        if (self.tokens)(variable).is_none() {
            missing.push(format!("an Argo CD token (the environment variable {variable} is not set on the server)"));
        }
        (!missing.is_empty())
            .then(|| format!("Argo CD application {} needs {}", cfg.application, missing.join(" and ")))
    }

    fn refresh<'a>(&'a self, target: &'a StatusTarget) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let cfg = config(target).map_err(|(_, e)| e)?;
            let client = self.client(cfg)?;
            let app = app_ref(cfg);
            let refresh = match cfg.refresh {
                ArgoRefresh::Normal => Refresh::Normal,
                ArgoRefresh::Hard => Refresh::Hard,
            };
            client.application(&app, Some(refresh)).await.map_err(|e| e.to_string())?;
            if cfg.request_sync {
                let revision = target.expected.as_ref().map(CommitSha::as_str);
                client.sync(&app, revision).await.map_err(|e| format!("requesting a sync failed: {e}"))?;
            }
            Ok(())
        })
    }

    fn watch_relapse<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, String> {
        Box::pin(self.follow_soak(target, observe))
    }

    fn wait_ready<'a>(
        &'a self,
        target: &'a StatusTarget,
        observe: &'a (dyn Fn(Observation) + Send + Sync),
    ) -> BoxFuture<'a, Result<(), GateError>> {
        Box::pin(async move {
            let cfg = config(target)?;
            let client = self.client(cfg).map_err(|e| (GateFailure::Degraded, e))?;
            let expected = target_revision(target, &self.git).await.map_err(|e| (GateFailure::Degraded, e))?;
            let deadline = tokio::time::Instant::now() + cfg.health_timeout;
            let mut last = "no answer from Argo CD yet".to_owned();
            let short = expected.short().to_owned();
            let mut follow = Follow {
                provider: self,
                target,
                client,
                app: app_ref(cfg),
                expected,
                ancestry: HashMap::new(),
                shown: None,
                soaking: false,
            };
            match tokio::time::timeout_at(deadline, follow.run(observe, &mut last)).await {
                Ok(result) => result,
                Err(_) => Err((
                    GateFailure::Timeout,
                    format!(
                        "not Synced at {} and Healthy after {}: {last}",
                        short,
                        ferry_model::format_duration(cfg.health_timeout)
                    ),
                )),
            }
        })
    }
}

impl ArgoCdStatusProvider {
    /// Follows the application through a soak time until it leaves Synced at the expected revision
    /// and Healthy (or a request fails for good); the answer says what was seen.
    async fn follow_soak(&self, target: &StatusTarget, observe: &(dyn Fn(Observation) + Send + Sync)) -> String {
        let cfg = match config(target) {
            Ok(cfg) => cfg,
            Err((_, e)) => return e,
        };
        let client = match self.client(cfg) {
            Ok(client) => client,
            Err(e) => return e,
        };
        let expected = match target_revision(target, &self.git).await {
            Ok(sha) => sha,
            Err(e) => return e,
        };
        let mut follow = Follow {
            provider: self,
            target,
            client,
            app: app_ref(cfg),
            expected,
            ancestry: HashMap::new(),
            shown: None,
            soaking: true,
        };
        let mut last = String::new();
        match follow.run(observe, &mut last).await {
            Ok(()) => std::future::pending().await,
            Err((_, e)) => e,
        }
    }
}

/// One wait: the client, the application and the answers about ancestry so far.
struct Follow<'a> {
    provider: &'a ArgoCdStatusProvider,
    target: &'a StatusTarget,
    client: Client,
    app: AppRef,
    expected: CommitSha,
    ancestry: HashMap<String, bool>,
    /// The last observation passed on: Argo CD sends an event for every change of the application
    /// (each reconciliation, each resource), and only changes of what Ferry shows are recorded.
    shown: Option<Observation>,
    /// Following through a soak time (SPEC §10): Ready goes on, anything else ends the follow.
    soaking: bool,
}

impl Follow<'_> {
    /// Reads the application, then follows its watch stream; reconnects with backoff. Returns when
    /// the application is ready or failed; `last` keeps why it is not ready yet.
    async fn run(&mut self, observe: &(dyn Fn(Observation) + Send + Sync), last: &mut String) -> Result<(), GateError> {
        let (base, max) = self.provider.retry;
        let mut backoff = Backoff::new(base, max);
        loop {
            match self.client.application(&self.app, None).await {
                Ok(app) => {
                    if let Some(done) = self.judge(&app, observe, last).await {
                        return done;
                    }
                    match self.client.watch(&self.app).await {
                        Ok(mut watch) => {
                            backoff.reset();
                            // A stream that stays silent past the resync interval is read again
                            // (a proxy may hold it open without passing events on).
                            while let Ok(Some(item)) = tokio::time::timeout(self.provider.resync, watch.next()).await {
                                match item {
                                    Ok(app) => {
                                        if let Some(done) = self.judge(&app, observe, last).await {
                                            return done;
                                        }
                                    }
                                    Err(e) => {
                                        self.fault(&e, observe, last)?;
                                        if !matches!(e, ArgoError::Malformed { .. }) {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        Err(e) => self.fault(&e, observe, last)?,
                    }
                }
                Err(e) => self.fault(&e, observe, last)?,
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// Passes `o` on unless it is what was shown last.
    fn show(&mut self, o: Observation, observe: &(dyn Fn(Observation) + Send + Sync)) {
        if self.shown.as_ref() != Some(&o) {
            self.shown = Some(o.clone());
            observe(o);
        }
    }

    /// Records a failed request: the application is Unknown with the cause; a configuration
    /// problem (401, 403, 404) fails the gate.
    fn fault(
        &mut self,
        e: &ArgoError,
        observe: &(dyn Fn(Observation) + Send + Sync),
        last: &mut String,
    ) -> Result<(), GateError> {
        self.show(unknown(e), observe);
        *last = e.to_string();
        if e.is_transient() {
            tracing::debug!(app = %self.target.app, error = %e, "Argo CD request failed; retrying");
            Ok(())
        } else {
            Err((GateFailure::Degraded, e.to_string()))
        }
    }

    /// Judges one state; `Some` when the wait is over.
    async fn judge(
        &mut self,
        app: &ferry_argocd::Application,
        observe: &(dyn Fn(Observation) + Send + Sync),
        last: &mut String,
    ) -> Option<Result<(), GateError>> {
        for rev in ferry_argocd::assess::revisions(app) {
            if !self.ancestry.contains_key(rev) {
                let answer = self.descends(rev).await;
                self.ancestry.insert(rev.to_owned(), answer);
            }
        }
        let ancestry = &self.ancestry;
        let a = ferry_argocd::assess(app, &|rev| ancestry.get(rev).copied().unwrap_or(false));
        // The observation says why the gate is still shut, with Argo CD's own text.
        let message = match (&a.verdict, &a.message) {
            (Verdict::Failed(text), _) => Some(text.clone()),
            (Verdict::Waiting(why), Some(text)) => Some(format!("{why}; {text}")),
            (Verdict::Waiting(why), None) => Some(why.clone()),
            (Verdict::Ready, text) => text.clone(),
        };
        let observation = Observation {
            sync: a.sync,
            health: a.health,
            revision: a.revision.as_deref().and_then(|r| CommitSha::new(r).ok()),
            message,
        };
        self.show(observation, observe);
        match (a.verdict, self.soaking) {
            (Verdict::Ready, false) => Some(Ok(())),
            (Verdict::Ready, true) => None,
            (Verdict::Failed(text), _) => Some(Err((GateFailure::Degraded, text))),
            (Verdict::Waiting(why), true) => Some(Err((GateFailure::Degraded, why))),
            (Verdict::Waiting(why), false) => {
                *last = why;
                None
            }
        }
    }

    /// Whether `rev` is the expected commit or a descendant of it on the branch (asked of the git
    /// mirror; a revision the mirror does not know is not counted).
    async fn descends(&self, rev: &str) -> bool {
        if rev == self.expected.as_str() {
            return true;
        }
        let Ok(sha) = CommitSha::new(rev) else { return false };
        let (g, url, a) = (self.provider.git.clone(), self.target.repo_url.clone(), self.expected.clone());
        blocking(move || {
            g.fetch(&url)?;
            g.is_ancestor(&url, &a, &sha)
        })
        .await
        .unwrap_or(false)
    }
}
