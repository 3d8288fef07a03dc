//! Reading a release's state: creation, replay and accessors.

use super::*;

impl ReleaseState {
    /// The state right after `Created` (checks the snapshot).
    pub fn new(id: ReleaseId, snapshot: ReleaseSnapshot, created_at: Timestamp) -> Result<ReleaseState, ApplyError> {
        snapshot.check().map_err(ApplyError::InvalidSnapshot)?;
        let snapshot_envs: Vec<EnvName> = snapshot.environments.iter().map(|e| e.name.clone()).collect();
        let environments = snapshot
            .environments
            .iter()
            .map(|e| EnvState {
                name: e.name.clone(),
                started_at: None,
                finished_at: None,
                terminated: false,
                apps: e.applications.iter().map(|a| AppState::new(a.name.clone())).collect(),
                hook_runs: Vec::new(),
                frozen: None,
                freeze_override: None,
                soak: None,
                approvals: Vec::new(),
                rollback: None,
            })
            .collect();
        Ok(ReleaseState {
            id,
            snapshot: std::sync::Arc::new(snapshot),
            created_at,
            queued_at: None,
            started_at: None,
            finished_at: None,
            environments,
            hook_runs: Vec::new(),
            terminate: None,
            terminated_at: None,
            retries: 0,
            last_retry: None,
            context: BTreeMap::new(),
            issues: Vec::new(),
            resolved_issues: Vec::new(),
            event_count: 1,
            frozen_for: Duration::ZERO,
            env_index: EnvIndex(std::sync::Arc::new(
                snapshot_envs.iter().enumerate().map(|(i, name)| (name.clone(), i)).collect(),
            )),
        })
    }

    /// Rebuilds a state from its log; the first event must be `Created`.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a ReleaseEvent>) -> Result<ReleaseState, ApplyError> {
        let mut events = events.into_iter();
        let mut state = match events.next() {
            Some(ReleaseEvent::Created { id, snapshot, at }) => ReleaseState::new(*id, (**snapshot).clone(), *at)?,
            Some(other) => return Err(ApplyError::NotCreated { event: other.name() }),
            None => return Err(ApplyError::NotCreated { event: "an empty log" }),
        };
        for (i, event) in events.enumerate() {
            state.apply(event).map_err(|e| ApplyError::Replay { index: i + 1, source: Box::new(e) })?;
        }
        Ok(state)
    }

    // -------------------------------------------------------------------------------- accessors

    /// Release id.
    pub fn id(&self) -> ReleaseId {
        self.id
    }

    /// The creation snapshot.
    pub fn snapshot(&self) -> &ReleaseSnapshot {
        &self.snapshot
    }

    /// Creation time.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When it was queued.
    pub fn queued_at(&self) -> Option<Timestamp> {
        self.queued_at
    }

    /// When it started.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }

    /// When it finished (`Finished` or `Terminated`); cleared by a retry.
    pub fn finished_at(&self) -> Option<Timestamp> {
        self.finished_at
    }

    /// Per-environment state, in snapshot (flow) order.
    pub fn environments(&self) -> &[EnvState] {
        &self.environments
    }

    /// The state of environment `name`.
    pub fn environment(&self, name: &EnvName) -> Option<&EnvState> {
        self.environments.get(self.env_pos(name)?)
    }

    /// The position of environment `name` in flow order.
    pub(super) fn env_pos(&self, name: &EnvName) -> Option<usize> {
        if self.env_index.0.is_empty() {
            self.environments.iter().position(|e| e.name == *name)
        } else {
            self.env_index.0.get(name).copied()
        }
    }

    /// Release hook runs, oldest first.
    pub fn hook_runs(&self) -> &[WorkflowRun] {
        &self.hook_runs
    }

    /// Every workflow run of the release, retired ones included: release hooks, then per environment
    /// its hooks and its applications' runs.
    pub fn all_runs(&self) -> impl Iterator<Item = &WorkflowRun> {
        self.hook_runs.iter().chain(
            self.environments.iter().flat_map(|e| e.hook_runs.iter().chain(e.apps.iter().flat_map(|a| a.runs.iter()))),
        )
    }

    /// The current (latest, not retired) release hook run of `kind`.
    pub fn current_hook_run(&self, kind: HookKind) -> Option<&WorkflowRun> {
        self.hook_runs.iter().rev().find(|r| !r.retired && r.target.hook() == Some(kind))
    }

    /// The terminate request.
    pub fn terminate_request(&self) -> Option<&TerminateRequest> {
        self.terminate.as_ref()
    }

    /// When everything stopped after the terminate request.
    pub fn terminated_at(&self) -> Option<Timestamp> {
        self.terminated_at
    }

    /// Number of retries.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The latest retry (actor and time).
    pub fn last_retry(&self) -> Option<&RetryRecord> {
        self.last_retry.as_ref()
    }

    /// The promotion context (merged `PROMOTION_CONTEXT` of hooks).
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// Issues of the current attempt.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// Issues of the current attempt in environment `env`.
    pub fn env_issues<'a>(&'a self, env: &'a EnvName) -> impl Iterator<Item = &'a Issue> + 'a {
        self.issues.iter().filter(move |i| i.env.as_ref() == Some(env))
    }

    /// Issues of earlier attempts (before the latest retry), kept for the record.
    pub fn resolved_issues(&self) -> &[Issue] {
        &self.resolved_issues
    }

    /// Number of events applied, `Created` included (the sequence number of the last event).
    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// A fresh deterministic issue id for `env`/`app`/`kind` (see [`Issue::make_id`]).
    pub fn next_issue_id(&self, env: Option<&EnvName>, app: Option<&AppName>, kind: IssueKind) -> String {
        let prefix = format!("{}:{kind}:", issue_scope(env, app));
        let used = self.issues.iter().chain(&self.resolved_issues).filter(|i| i.id.starts_with(&prefix)).count();
        let mut seq = u32::try_from(used).unwrap_or(u32::MAX).saturating_add(1);
        loop {
            let id = format!("{prefix}{seq}");
            if !self.issues.iter().chain(&self.resolved_issues).any(|i| i.id == id) || seq == u32::MAX {
                return id;
            }
            seq += 1;
        }
    }

    /// When the flow timeout expires: from the start, or from the latest retry (SPEC §3.8), not counting
    /// the time an environment waited for a freeze window; none while one waits.
    pub fn deadline(&self) -> Option<Timestamp> {
        if self.environments.iter().any(|e| e.frozen.is_some()) {
            return None;
        }
        let base = self.timeout_base()?;
        base.checked_add(self.snapshot.timeout).ok()?.checked_add(self.frozen_for).ok()
    }

    /// Where the flow timeout counts from: the start, or the latest retry.
    pub(super) fn timeout_base(&self) -> Option<Timestamp> {
        self.last_retry.as_ref().map(|r| r.at).or(self.started_at)
    }

    /// The version an application runs after this release: the release's version once the promotion
    /// landed there (SPEC §3.7; the trigger environment already runs it), else `None` (unchanged).
    pub fn app_version(&self, env: &EnvName, app: &AppName) -> Option<&str> {
        let i = self.env_pos(env)?;
        let es = self.snapshot.environments.get(i)?;
        let state = self.environments.get(i)?.app(app)?;
        (es.is_trigger || state.action_landed()).then_some(self.snapshot.version.as_deref()).flatten()
    }
}
