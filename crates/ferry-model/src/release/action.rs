//! Promotion action events: commits, pull requests, failures.

use super::apply::misrouted;
use super::*;

impl ReleaseState {
    /// Promotion actions: commits, pull requests, failures.
    pub(super) fn apply_action(&mut self, event: &ReleaseEvent) -> Result<(), ApplyError> {
        let name = event.name();
        match event {
            ReleaseEvent::ActionStarted { env, apps, action, at } => {
                let ei = self.env_idx(name, env)?;
                let snap = &self.snapshot.environments[ei];
                let expected = snap.policy.as_ref().map(|p| p.action);
                if !snap.is_trigger && expected != Some(*action) {
                    return Err(reject(
                        name,
                        format!(
                            "{env}'s action is {}, not {}",
                            expected.map_or("unset", Action::as_str),
                            action.as_str()
                        ),
                    ));
                }
                let status = self.status_at(ei);
                if matches!(status, EnvStatus::Failed | EnvStatus::Terminated) {
                    return Err(reject(name, format!("{env} is {status}; nothing new starts there")));
                }
                let missing = self.approvals_missing_at(ei);
                if missing > 0 {
                    return Err(reject(name, format!("{env} waits for {missing} more approval(s)")));
                }
                let pre_action = snap.policy.as_ref().and_then(|p| p.pre_action.as_ref()).is_some();
                let (ei, idx) = self.action_apps(name, env, apps, |a| {
                    let pre_ok = !pre_action
                        || a.current_run(Stage::PreAction).is_some_and(|r| r.status() == StepStatus::Success);
                    match a.phase {
                        AppPhase::Pending | AppPhase::PreAction if pre_ok => Ok(()),
                        AppPhase::Pending | AppPhase::PreAction => Err("its Pre-Action has not succeeded".to_owned()),
                        AppPhase::Action if a.action.is_none() => Ok(()),
                        phase => Err(format!("it is in phase {phase:?} with an action already recorded")),
                    }
                })?;
                let landed = *action == Action::None;
                for ai in idx {
                    let app = self.app_mut(ei, ai);
                    app.phase = if landed { AppPhase::Health } else { AppPhase::Action };
                    app.action = Some(ActionState {
                        action: *action,
                        status: if landed { ActionStatus::Succeeded } else { ActionStatus::Running },
                        commit: None,
                        repo: None,
                        unchanged: false,
                        pull_request: None,
                        error: None,
                        started_at: *at,
                        finished_at: landed.then_some(*at),
                    });
                }
                Ok(())
            }
            ReleaseEvent::ActionCommitted { env, apps, repo, commit, at } => {
                let checked = self.action_apps(
                    name,
                    env,
                    apps,
                    expect_action("a running commit action", |s| {
                        s.status == ActionStatus::Running && s.action == Action::Commit
                    }),
                )?;
                self.land(checked, *at, |a| {
                    a.commit = Some(commit.clone());
                    a.repo = Some(repo.clone());
                });
                Ok(())
            }
            ReleaseEvent::ActionUnchanged { env, apps, at } => {
                let checked = self.action_apps(
                    name,
                    env,
                    apps,
                    expect_action("a running action", |s| s.status == ActionStatus::Running),
                )?;
                self.land(checked, *at, |a| a.unchanged = true);
                Ok(())
            }
            ReleaseEvent::PullRequestOpened { env, apps, url, number, branch, at: _ } => {
                let (ei, idx) = self.action_apps(
                    name,
                    env,
                    apps,
                    expect_action("a running pr action", |s| {
                        s.status == ActionStatus::Running && s.action == Action::Pr
                    }),
                )?;
                for ai in idx {
                    if let Some(a) = self.app_mut(ei, ai).action.as_mut() {
                        a.status = ActionStatus::AwaitingMerge;
                        a.pull_request =
                            Some(PullRequest { url: url.clone(), number: *number, branch: branch.clone() });
                    }
                }
                Ok(())
            }
            ReleaseEvent::PullRequestMerged { env, apps, merge_commit, at } => {
                let checked = self.action_apps(
                    name,
                    env,
                    apps,
                    expect_action("a pull request awaiting merge", |s| s.status == ActionStatus::AwaitingMerge),
                )?;
                self.land(checked, *at, |a| a.commit = Some(merge_commit.clone()));
                Ok(())
            }
            ReleaseEvent::ActionFailed { env, apps, error, at } => {
                let (ei, idx) = self.action_apps(
                    name,
                    env,
                    apps,
                    expect_action("an action in progress", |s| {
                        matches!(s.status, ActionStatus::Running | ActionStatus::AwaitingMerge)
                    }),
                )?;
                for ai in idx {
                    if let Some(a) = self.app_mut(ei, ai).action.as_mut() {
                        a.status = ActionStatus::Failed;
                        a.error = Some(error.clone());
                        a.finished_at = Some(*at);
                    }
                }
                Ok(())
            }
            other => Err(misrouted(other.name())),
        }
    }

    /// Lands the action of the checked applications at `at` (phase Health, action Succeeded), then
    /// records what the landing event adds (`more`).
    fn land(&mut self, (ei, idx): (usize, Vec<usize>), at: Timestamp, more: impl Fn(&mut ActionState)) {
        for ai in idx {
            let app = self.app_mut(ei, ai);
            app.phase = AppPhase::Health;
            if let Some(a) = app.action.as_mut() {
                a.status = ActionStatus::Succeeded;
                a.finished_at = Some(at);
                more(a);
            }
        }
    }
}

/// An application check for [`ReleaseState::action_apps`]: its action exists and passes `ok`, or the
/// error says `expected` and what was found.
fn expect_action(
    expected: &'static str,
    ok: impl Fn(&ActionState) -> bool,
) -> impl Fn(&AppState) -> Result<(), String> {
    move |app| match &app.action {
        Some(s) if ok(s) => Ok(()),
        other => Err(action_mismatch(other, expected)),
    }
}

fn action_mismatch(found: &Option<ActionState>, expected: &str) -> String {
    match found {
        None => format!("expected {expected}, but no action started"),
        Some(a) => format!("expected {expected}, found a {} action that is {:?}", a.action.as_str(), a.status),
    }
}
