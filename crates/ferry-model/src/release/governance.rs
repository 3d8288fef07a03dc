//! Release governance events (SPEC §10): environments held by freeze windows, and their overrides.

use super::*;

impl ReleaseState {
    /// The environments held by freeze windows, with their holds, in flow order.
    pub fn frozen_environments(&self) -> impl Iterator<Item = (&EnvName, &FrozenHold)> {
        self.environments.iter().filter_map(|e| Some((&e.name, e.frozen.as_ref()?)))
    }

    /// The earliest instant at which time alone changes what the planner decides for this release: the
    /// end of a freeze hold. `None` when nothing waits for a time.
    pub fn wake_at(&self) -> Option<Timestamp> {
        // A Failed release starts no environment: its holds wake nothing.
        if self.finished_at.is_some() || self.terminate.is_some() || self.frozen_environments().next().is_none() {
            return None;
        }
        if self.status() == ReleaseStatus::Failed {
            return None;
        }
        self.frozen_environments().map(|(_, h)| h.until).min()
    }

    /// Ends the freeze hold of environment `i` at `at` (it starts, or an admin overrode it), counting
    /// the time it waited since the flow timeout's start as not part of the timeout.
    pub(super) fn thaw(&mut self, i: usize, at: Timestamp) {
        let base = self.timeout_base();
        let Some(hold) = self.environments.get_mut(i).and_then(|e| e.frozen.take()) else { return };
        let since = base.map_or(hold.since, |b| hold.since.max(b));
        if at > since {
            let waited = Duration::try_from(at.duration_since(since)).unwrap_or_default();
            self.frozen_for = self.frozen_for.saturating_add(waited);
        }
    }

    pub(super) fn apply_governance(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::EnvironmentFrozen { env, until, freezes, at } => {
                if self.started_at.is_none() {
                    return Err(reject(name, "the release has not started"));
                }
                let i = self.env_idx(name, env)?;
                let state = &self.environments[i];
                if state.started_at.is_some() {
                    return Err(reject(name, format!("environment {env} already started")));
                }
                if state.freeze_override.is_some() {
                    return Err(reject(name, format!("the freeze windows of {env} were overridden")));
                }
                if until <= at {
                    return Err(reject(name, format!("the hold ends ({until}) before it is recorded ({at})")));
                }
                if freezes.is_empty() {
                    return Err(reject(name, "a hold names the freezes holding the environment"));
                }
                if state.frozen.as_ref().is_some_and(|h| h.until == *until && h.freezes == *freezes) {
                    return Err(reject(name, format!("environment {env} is already frozen until {until}")));
                }
                for dep in &self.snapshot.environments[i].depends_on {
                    let status = self.env_status(dep).unwrap_or(EnvStatus::Pending);
                    if status != EnvStatus::Successful {
                        return Err(reject(name, format!("{env} depends on {dep}, which is {status}")));
                    }
                }
                let since = state.frozen.as_ref().map_or(*at, |h| h.since);
                self.environments[i].frozen = Some(FrozenHold { until: *until, freezes: freezes.clone(), since });
                Ok(())
            }
            ReleaseEvent::FreezeOverridden { env, actor, reason, at } => {
                let i = self.env_idx(name, env)?;
                if self.environments[i].frozen.is_none() {
                    return Err(reject(name, format!("environment {env} is not frozen")));
                }
                if reason.trim().is_empty() {
                    return Err(reject(name, "an override needs a reason"));
                }
                self.thaw(i, *at);
                self.environments[i].freeze_override =
                    Some(FreezeOverride { actor: actor.clone(), reason: reason.clone(), at: *at });
                Ok(())
            }
            other => Err(ApplyError::Rejected {
                event: other.name(),
                reason: "not a governance event (routing bug in apply_inner)".to_owned(),
            }),
        }
    }
}
