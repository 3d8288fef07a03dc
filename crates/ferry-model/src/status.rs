//! Status enums and the pure roll-ups of SPEC §4.
//!
//! Every derived status of Ferry is computed here, once, from plain facts: a workflow run from its
//! steps, an aggregated step line from the runs of one workflow in an environment, an environment from
//! [`EnvFacts`], a release from [`ReleaseFacts`], and the header [`Counters`]. The functions are total:
//! they never panic and accept any combination of inputs, including ones the engine never produces.
//!
//! Serde spellings are the PascalCase strings of SPEC §7.4 (`"Running"`, `"OutOfSync"`, ...).
//! Each status also has a one-character [`symbol`](StepStatus::symbol) so human output never relies on
//! colour alone (SPEC §7.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A status string that names no status of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} (expected one of: {expected})")]
pub struct ParseStatusError {
    /// Which status kind was parsed ("step status", ...).
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
    /// The accepted spellings, comma-separated.
    pub expected: &'static str,
}

macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal, $expected:literal {
            $( $(#[$vdoc:meta])* $variant:ident => $text:literal, $symbol:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order (for exhaustive tests and option lists).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling of SPEC §7.4 (PascalCase), identical to the serde form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// A one-character symbol for human output that does not rely on colour.
            pub fn symbol(self) -> &'static str {
                match self {
                    $($name::$variant => $symbol,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseStatusError;

            /// Parses the §7.4 spelling; ASCII case is ignored (`failed` = `Failed`) for CLI filters.
            fn from_str(value: &str) -> Result<Self, ParseStatusError> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|s| s.as_str().eq_ignore_ascii_case(value.trim()))
                    .ok_or_else(|| ParseStatusError { kind: $kind, value: value.to_owned(), expected: $expected })
            }
        }
    };
}

status_enum!(
    /// Status of one workflow step in one run (SPEC §4). Also the status of a whole run and of an
    /// aggregated step line, via [`rollup_steps`] / [`rollup_step_line`].
    StepStatus, "step status", "Pending, Running, Success, Failed, Error, Terminated" {
        /// Not started yet.
        Pending => "Pending", "◌";
        /// Started and not finished (including a step waiting for an approval).
        Running => "Running", "●";
        /// Finished with exit code 0 (or approved).
        Success => "Success", "✓";
        /// Non-zero exit or step timeout.
        Failed => "Failed", "✗";
        /// Invalid definition or the step could not start.
        Error => "Error", "⚠";
        /// Stopped by a user, a flow timeout, or supersession.
        Terminated => "Terminated", "■";
    }
);

impl StepStatus {
    /// Whether the step (or run) will not change any more without a retry.
    pub fn is_final(self) -> bool {
        matches!(self, StepStatus::Success | StepStatus::Failed | StepStatus::Error | StepStatus::Terminated)
    }

    /// Whether the status is final and not [`Success`](StepStatus::Success).
    pub fn is_failure(self) -> bool {
        matches!(self, StepStatus::Failed | StepStatus::Error | StepStatus::Terminated)
    }

    /// Rank in the roll-up precedence of SPEC §4: Error (5) > Failed > Terminated > Running > Pending >
    /// Success (0). The roll-up of several statuses is the one with the highest rank.
    pub fn precedence(self) -> u8 {
        match self {
            StepStatus::Success => 0,
            StepStatus::Pending => 1,
            StepStatus::Running => 2,
            StepStatus::Terminated => 3,
            StepStatus::Failed => 4,
            StepStatus::Error => 5,
        }
    }
}

status_enum!(
    /// Status of one environment of a release (SPEC §4), see [`rollup_environment`].
    EnvStatus, "environment status", "Pending, Running, Suspended, Successful, Failed, Terminated" {
        /// Not started, or started with nothing to do yet.
        Pending => "Pending", "◌";
        /// Something runs: a workflow, the action, a health wait or a hook.
        Running => "Running", "●";
        /// Waits for a person: a pull request to merge or an approval step.
        Suspended => "Suspended", "⏸";
        /// Every application passed the four phases (and the onSuccess hook finished).
        Successful => "Successful", "✓";
        /// An application or an environment hook failed.
        Failed => "Failed", "✗";
        /// The release was terminated while this environment was active.
        Terminated => "Terminated", "■";
    }
);

impl EnvStatus {
    /// Whether nothing more happens in this environment without a retry: Successful, Failed or Terminated.
    pub fn is_final(self) -> bool {
        matches!(self, EnvStatus::Successful | EnvStatus::Failed | EnvStatus::Terminated)
    }

    /// Whether the environment is active: Running or Suspended.
    pub fn is_active(self) -> bool {
        matches!(self, EnvStatus::Running | EnvStatus::Suspended)
    }
}

status_enum!(
    /// Status of a release (SPEC §4), see [`rollup_release`].
    ReleaseStatus, "release status", "Queued, Running, Suspended, Succeeded, Failed, Terminating, Terminated" {
        /// Created, waiting for its turn (SPEC §3.9).
        Queued => "Queued", "…";
        /// Something runs, or the release waits between environments.
        Running => "Running", "●";
        /// Nothing runs and something waits for a person.
        Suspended => "Suspended", "⏸";
        /// Every environment is Successful.
        Succeeded => "Succeeded", "✓";
        /// An environment or a release hook failed (retry is possible once nothing runs).
        Failed => "Failed", "✗";
        /// Terminate was requested; Ferry is stopping what runs.
        Terminating => "Terminating", "□";
        /// Terminated; everything stopped.
        Terminated => "Terminated", "■";
    }
);

impl ReleaseStatus {
    /// Whether the release reached an end state: Succeeded, Failed or Terminated. A Failed release may
    /// still have parallel branches finishing and can be retried.
    pub fn is_final(self) -> bool {
        matches!(self, ReleaseStatus::Succeeded | ReleaseStatus::Failed | ReleaseStatus::Terminated)
    }

    /// Whether terminate is allowed by SPEC §3.5: Queued, Running or Suspended.
    pub fn can_terminate(self) -> bool {
        matches!(self, ReleaseStatus::Queued | ReleaseStatus::Running | ReleaseStatus::Suspended)
    }
}

status_enum!(
    /// Sync status of an application (SPEC §6.3). Synced means synced *to the expected commit*.
    SyncStatus, "sync status", "Synced, OutOfSync, Syncing, Unknown" {
        /// Synced to the expected commit (or a descendant).
        Synced => "Synced", "✓";
        /// Not synced to the expected commit.
        OutOfSync => "OutOfSync", "≠";
        /// A sync operation is in progress.
        Syncing => "Syncing", "↻";
        /// Not known (no report yet, or the source cannot be reached).
        Unknown => "Unknown", "?";
    }
);

status_enum!(
    /// Health status of an application (SPEC §6.3).
    HealthStatus, "health status", "Healthy, Progressing, Degraded, Suspended, Missing, Unknown" {
        /// Healthy.
        Healthy => "Healthy", "♥";
        /// Not healthy yet; keep waiting.
        Progressing => "Progressing", "◐";
        /// Unhealthy: fails the health gate at once.
        Degraded => "Degraded", "✗";
        /// Paused by its controller.
        Suspended => "Suspended", "⏸";
        /// Resources missing; keep waiting.
        Missing => "Missing", "∅";
        /// Not known; keep waiting.
        Unknown => "Unknown", "?";
    }
);

/// Rolls up step statuses with the precedence of SPEC §4: Error > Failed > Terminated > Running >
/// Pending > Success.
///
/// Used for a workflow run over its steps and for a step across runs. An **empty** input gives
/// [`StepStatus::Success`]: a run with no steps has nothing left to do. For an aggregated line where
/// "no runs yet" must read as not started, use [`rollup_step_line`].
pub fn rollup_steps(statuses: impl IntoIterator<Item = StepStatus>) -> StepStatus {
    statuses.into_iter().max_by_key(|s| s.precedence()).unwrap_or(StepStatus::Success)
}

/// Rolls up one step (or one workflow) across the runs of the same workflow in an environment (one run
/// per application), as shown on an environment card. Same precedence as [`rollup_steps`], but an
/// **empty** input (no run yet) gives [`StepStatus::Pending`].
pub fn rollup_step_line(statuses: impl IntoIterator<Item = StepStatus>) -> StepStatus {
    let mut statuses = statuses.into_iter().peekable();
    if statuses.peek().is_none() { StepStatus::Pending } else { rollup_steps(statuses) }
}

/// What one step of a run is doing, from which [`run_waits_for_person`] decides whether the run waits
/// for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepActivity {
    /// The step's status.
    pub status: StepStatus,
    /// The step waits for an approval (only meaningful while it is Running).
    pub awaiting_approval: bool,
    /// The step stands for the whole run and does no work of its own: an Argo workflow's own step,
    /// Running for as long as any of the workflow's nodes is Running or suspended.
    pub whole_run: bool,
}

impl StepActivity {
    /// Whether the step does work right now: Running, not waiting for an approval, and not merely
    /// standing for the whole run.
    pub fn is_working(&self) -> bool {
        self.status == StepStatus::Running && !self.awaiting_approval && !self.whole_run
    }

    /// Whether the step is Running and waits for an approval.
    pub fn is_awaiting_approval(&self) -> bool {
        self.status == StepStatus::Running && self.awaiting_approval
    }
}

/// Whether a run waits for a person (SPEC §4: "workflow waiting on a manual approval step"): the run is
/// in progress (the [`rollup_steps`] of its steps is not final), a step is Running and awaits an
/// approval, and no step is working ([`StepActivity::is_working`]). A step standing for the whole run
/// (an Argo workflow suspended at a node) does not keep the run from waiting.
pub fn run_waits_for_person(steps: &[StepActivity]) -> bool {
    !rollup_steps(steps.iter().map(|s| s.status)).is_final()
        && steps.iter().any(StepActivity::is_awaiting_approval)
        && !steps.iter().any(StepActivity::is_working)
}

/// Plain facts about one environment, from which [`rollup_environment`] derives its status.
///
/// The release state computes these; tests can write them by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFacts {
    /// The release was terminated while this environment was Running or Suspended.
    pub terminated_while_active: bool,
    /// An application failed: a workflow run Failed/Error/Terminated, the action failed, or the app was
    /// Degraded / not synced and healthy in time.
    pub app_failed: bool,
    /// An environment hook failed.
    pub hook_failed: bool,
    /// Something is running or about to run without anyone's help: a workflow, the action, a health
    /// wait, a hook, or the next phase of a started application.
    pub running: bool,
    /// Something waits for a person: a pull request awaiting merge, or a step waiting for approval.
    pub waiting_for_person: bool,
    /// The environment waits for a freeze window to end before it starts (SPEC §10).
    #[serde(default)]
    pub frozen: bool,
    /// Every application passed its phases and the soak time runs (SPEC §10): a wait that needs no one.
    #[serde(default)]
    pub soaking: bool,
    /// The action waits for approvals its policy asks for (SPEC §10).
    #[serde(default)]
    pub awaiting_approval: bool,
    /// The environment started, every application passed all four phases, and the onSuccess hook (if any)
    /// finished successfully.
    pub completed: bool,
}

/// The status of an environment (SPEC §4): Terminated if terminated while active; else Failed if an
/// application or an environment hook failed; else Running if anything runs or the soak time runs; else
/// Suspended if something waits for a person (an approval step, a pull request, the policy's approvals) or
/// for a freeze window to end; else Successful if every application completed; else Pending.
pub fn rollup_environment(facts: &EnvFacts) -> EnvStatus {
    if facts.terminated_while_active {
        EnvStatus::Terminated
    } else if facts.app_failed || facts.hook_failed {
        EnvStatus::Failed
    } else if facts.running || facts.soaking {
        EnvStatus::Running
    } else if facts.waiting_for_person || facts.frozen || facts.awaiting_approval {
        EnvStatus::Suspended
    } else if facts.completed {
        EnvStatus::Successful
    } else {
        EnvStatus::Pending
    }
}

/// Plain facts about a release, from which [`rollup_release`] derives its status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseFacts {
    /// The release left the queue (its `Started` event happened).
    pub started: bool,
    /// Terminate was requested (by a person, a flow timeout, queue overflow or supersession).
    pub terminate_requested: bool,
    /// After the terminate request, everything stopped (the `Terminated` event happened). Ignored
    /// without `terminate_requested`.
    pub stopped: bool,
    /// A release hook failed.
    pub hook_failed: bool,
    /// A release hook is running or due (e.g. every environment succeeded and onSuccess has not finished).
    pub hook_running: bool,
    /// The status of every environment of the release, trigger environment included.
    pub environments: Vec<EnvStatus>,
}

/// The status of a release (SPEC §4).
///
/// Terminating from the terminate request until everything stopped, Terminated after (this holds for a
/// queued release too); else Queued before it starts; else Failed if an environment Failed or a release
/// hook failed; else Running if an environment is Running or a release hook runs; else Suspended if an
/// environment is Suspended; else Succeeded if all are Successful; else Running (waiting between
/// environments). An environment that is Terminated without a terminate request (which the release state
/// never produces) counts as Failed, so that such a release cannot read as Running forever.
pub fn rollup_release(facts: &ReleaseFacts) -> ReleaseStatus {
    let any = |s: EnvStatus| facts.environments.contains(&s);
    if facts.terminate_requested {
        if facts.stopped { ReleaseStatus::Terminated } else { ReleaseStatus::Terminating }
    } else if !facts.started {
        ReleaseStatus::Queued
    } else if facts.hook_failed || any(EnvStatus::Failed) || any(EnvStatus::Terminated) {
        ReleaseStatus::Failed
    } else if facts.hook_running || any(EnvStatus::Running) {
        ReleaseStatus::Running
    } else if any(EnvStatus::Suspended) {
        ReleaseStatus::Suspended
    } else if facts.environments.iter().all(|s| *s == EnvStatus::Successful) {
        ReleaseStatus::Succeeded
    } else {
        ReleaseStatus::Running
    }
}

/// Header counters of a release (SPEC §4): environments Successful / Running (incl. Suspended) / Failed
/// (incl. Terminated) / Pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Successful environments.
    pub successful: u32,
    /// Running or Suspended environments.
    pub running: u32,
    /// Failed or Terminated environments.
    pub failed: u32,
    /// Pending environments.
    pub pending: u32,
}

impl Counters {
    /// Counts environment statuses.
    pub fn from_statuses(statuses: impl IntoIterator<Item = EnvStatus>) -> Counters {
        let mut counters = Counters::default();
        for status in statuses {
            let slot = match status {
                EnvStatus::Successful => &mut counters.successful,
                EnvStatus::Running | EnvStatus::Suspended => &mut counters.running,
                EnvStatus::Failed | EnvStatus::Terminated => &mut counters.failed,
                EnvStatus::Pending => &mut counters.pending,
            };
            *slot = slot.saturating_add(1);
        }
        counters
    }

    /// The number of environments counted.
    pub fn total(&self) -> u32 {
        self.successful.saturating_add(self.running).saturating_add(self.failed).saturating_add(self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use EnvStatus as E;
    use ReleaseStatus as R;
    use StepStatus as S;

    // ---------------------------------------------------------------- enums

    #[test]
    fn spellings_round_trip_through_serde_display_and_from_str() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr<Err = ParseStatusError> + Serialize + for<'a> Deserialize<'a>,
            T: PartialEq + fmt::Debug,
        {
            for s in all {
                let text = s.to_string();
                assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{text}\""));
                assert_eq!(serde_json::from_str::<T>(&format!("\"{text}\"")).unwrap(), *s);
                assert_eq!(text.parse::<T>().unwrap(), *s);
                assert_eq!(text.to_ascii_lowercase().parse::<T>().unwrap(), *s);
                assert!(text.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{text} is PascalCase");
            }
            assert!("nope".parse::<T>().is_err());
        }
        check(StepStatus::ALL);
        check(EnvStatus::ALL);
        check(ReleaseStatus::ALL);
        check(SyncStatus::ALL);
        check(HealthStatus::ALL);
    }

    #[test]
    fn exact_section_7_4_spellings() {
        let join = |v: Vec<&str>| v.join(",");
        assert_eq!(
            join(ReleaseStatus::ALL.iter().map(|s| s.as_str()).collect()),
            "Queued,Running,Suspended,Succeeded,Failed,Terminating,Terminated"
        );
        assert_eq!(
            join(EnvStatus::ALL.iter().map(|s| s.as_str()).collect()),
            "Pending,Running,Suspended,Successful,Failed,Terminated"
        );
        assert_eq!(
            join(StepStatus::ALL.iter().map(|s| s.as_str()).collect()),
            "Pending,Running,Success,Failed,Error,Terminated"
        );
        assert_eq!(join(SyncStatus::ALL.iter().map(|s| s.as_str()).collect()), "Synced,OutOfSync,Syncing,Unknown");
        assert_eq!(
            join(HealthStatus::ALL.iter().map(|s| s.as_str()).collect()),
            "Healthy,Progressing,Degraded,Suspended,Missing,Unknown"
        );
    }

    #[test]
    fn symbols_are_distinct_within_each_kind() {
        fn distinct(symbols: Vec<&str>) {
            let set: std::collections::BTreeSet<_> = symbols.iter().collect();
            assert_eq!(set.len(), symbols.len(), "{symbols:?}");
            assert!(symbols.iter().all(|s| s.chars().count() == 1), "{symbols:?}");
        }
        distinct(StepStatus::ALL.iter().map(|s| s.symbol()).collect());
        distinct(EnvStatus::ALL.iter().map(|s| s.symbol()).collect());
        distinct(ReleaseStatus::ALL.iter().map(|s| s.symbol()).collect());
        distinct(SyncStatus::ALL.iter().map(|s| s.symbol()).collect());
        distinct(HealthStatus::ALL.iter().map(|s| s.symbol()).collect());
    }

    #[test]
    fn parse_error_lists_the_choices() {
        let err = "Done".parse::<ReleaseStatus>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown release status \"Done\" (expected one of: Queued, Running, Suspended, Succeeded, Failed, \
             Terminating, Terminated)"
        );
    }

    #[test]
    fn finality() {
        let finals = |all: &[StepStatus]| all.iter().filter(|s| s.is_final()).count();
        assert_eq!(finals(StepStatus::ALL), 4);
        assert!(!S::Pending.is_final() && !S::Running.is_final());
        assert!(E::Successful.is_final() && E::Failed.is_final() && E::Terminated.is_final());
        assert!(!E::Pending.is_final() && !E::Running.is_final() && !E::Suspended.is_final());
        assert!(R::Succeeded.is_final() && R::Failed.is_final() && R::Terminated.is_final());
        assert!(!R::Queued.is_final() && !R::Terminating.is_final() && !R::Suspended.is_final());
        assert!(R::Queued.can_terminate() && R::Running.can_terminate() && R::Suspended.can_terminate());
        assert!(!R::Failed.can_terminate() && !R::Terminating.can_terminate());
    }

    // ---------------------------------------------------------------- steps

    /// SPEC §4 written as in the text, independently of `precedence()`.
    fn spec_step_rollup(statuses: &[StepStatus]) -> StepStatus {
        let any = |s| statuses.contains(&s);
        if any(S::Error) {
            S::Error
        } else if any(S::Failed) {
            S::Failed
        } else if any(S::Terminated) {
            S::Terminated
        } else if any(S::Running) {
            S::Running
        } else if any(S::Pending) {
            S::Pending
        } else {
            S::Success
        }
    }

    #[test]
    fn step_rollup_rows_of_section_4() {
        let rows: &[(&str, &[StepStatus], StepStatus)] = &[
            ("Error if any run's step is Error", &[S::Success, S::Failed, S::Error, S::Running], S::Error),
            ("else Failed if any Failed", &[S::Success, S::Terminated, S::Failed, S::Pending], S::Failed),
            ("else Terminated if any Terminated", &[S::Running, S::Terminated, S::Pending], S::Terminated),
            ("else Running if any Running", &[S::Success, S::Running, S::Pending], S::Running),
            ("else Pending if any Pending", &[S::Success, S::Pending], S::Pending),
            ("else Success", &[S::Success, S::Success], S::Success),
            ("a run with no steps has nothing left to do", &[], S::Success),
        ];
        for (rule, input, expect) in rows {
            assert_eq!(rollup_steps(input.iter().copied()), *expect, "{rule}");
        }
        assert_eq!(rollup_step_line([]), S::Pending, "a line with no runs yet is Pending");
        assert_eq!(rollup_step_line([S::Success, S::Running]), S::Running);
    }

    #[test]
    fn step_rollup_all_singletons_pairs_and_triples() {
        for &a in S::ALL {
            assert_eq!(rollup_steps([a]), a);
            assert_eq!(rollup_step_line([a]), a);
            for &b in S::ALL {
                assert_eq!(rollup_steps([a, b]), spec_step_rollup(&[a, b]), "{a} {b}");
                assert_eq!(rollup_steps([a, b]), rollup_steps([b, a]));
                for &c in S::ALL {
                    let got = rollup_steps([a, b, c]);
                    assert_eq!(got, spec_step_rollup(&[a, b, c]), "{a} {b} {c}");
                    assert_eq!(got, rollup_step_line([c, a, b]));
                    assert!([a, b, c].contains(&got), "the roll-up is one of its inputs");
                    // Associativity: a line across runs equals the roll-up of the runs' roll-ups.
                    assert_eq!(got, rollup_steps([rollup_steps([a, b]), c]));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_error_step_makes_the_aggregate_error(
            mut steps in prop::collection::vec(prop::sample::select(S::ALL), 0..12),
            at in any::<prop::sample::Index>(),
        ) {
            let idx = at.index(steps.len() + 1);
            steps.insert(idx, S::Error);
            prop_assert_eq!(rollup_steps(steps.iter().copied()), S::Error);
            prop_assert_eq!(rollup_step_line(steps), S::Error);
        }

        #[test]
        fn step_aggregate_is_independent_of_order(
            steps in prop::collection::vec(prop::sample::select(S::ALL), 0..12),
            seed in any::<u64>(),
        ) {
            let mut shuffled = steps.clone();
            // Deterministic Fisher-Yates driven by the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let j = (state % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(rollup_steps(steps.iter().copied()), rollup_steps(shuffled.iter().copied()));
            prop_assert_eq!(rollup_steps(steps.iter().copied()), spec_step_rollup(&steps));
        }
    }

    // ---------------------------------------------------------------- runs waiting for a person

    /// Every step activity: each status, awaiting an approval or not, standing for the run or not.
    fn activities() -> Vec<StepActivity> {
        let mut out = Vec::new();
        for &status in S::ALL {
            for awaiting_approval in [false, true] {
                for whole_run in [false, true] {
                    out.push(StepActivity { status, awaiting_approval, whole_run });
                }
            }
        }
        out
    }

    /// SPEC §4's "waiting on a manual approval step", written independently of the function: nothing
    /// failed or ended the run, something awaits an approval, and everything else that runs is either
    /// awaiting too or only the run's own step.
    fn spec_waits(steps: &[StepActivity]) -> bool {
        let running = |s: &&StepActivity| s.status == S::Running;
        let ended_badly = steps.iter().any(|s| s.status.is_failure());
        let unfinished = steps.iter().any(|s| !s.status.is_final());
        let awaiting = steps.iter().filter(running).any(|s| s.awaiting_approval);
        let busy = steps.iter().filter(running).any(|s| !s.awaiting_approval && !s.whole_run);
        !ended_badly && unfinished && awaiting && !busy
    }

    #[test]
    fn run_waiting_rows_of_section_4() {
        let step = |status, awaiting_approval, whole_run| StepActivity { status, awaiting_approval, whole_run };
        let approval = step(S::Running, true, false);
        let argo_workflow = step(S::Running, false, true);
        let rows: &[(&str, &[StepActivity], bool)] = &[
            ("a local approval step alone", &[step(S::Success, false, false), approval], true),
            ("an Argo workflow suspended at a node", &[argo_workflow, step(S::Success, false, false), approval], true),
            ("another step still works", &[approval, step(S::Running, false, false)], false),
            (
                "an Argo node still works beside the suspended one",
                &[argo_workflow, approval, step(S::Running, false, false)],
                false,
            ),
            ("the workflow's own step with nothing suspended", &[argo_workflow, step(S::Pending, false, false)], false),
            ("a failed step ends the run", &[approval, step(S::Failed, false, false)], false),
            (
                "an approval flag on a finished step counts for nothing",
                &[step(S::Success, true, false), step(S::Pending, false, false)],
                false,
            ),
            ("no steps", &[], false),
        ];
        for (rule, steps, expect) in rows {
            assert_eq!(run_waits_for_person(steps), *expect, "{rule}");
        }
    }

    #[test]
    fn run_waiting_every_list_of_up_to_three_steps() {
        let all = activities();
        assert_eq!(all.len(), 24);
        assert!(!run_waits_for_person(&[]));
        for &a in &all {
            assert_eq!(run_waits_for_person(&[a]), spec_waits(&[a]), "{a:?}");
            for &b in &all {
                assert_eq!(run_waits_for_person(&[a, b]), spec_waits(&[a, b]), "{a:?} {b:?}");
                assert_eq!(run_waits_for_person(&[a, b]), run_waits_for_person(&[b, a]));
                for &c in &all {
                    let got = run_waits_for_person(&[a, b, c]);
                    assert_eq!(got, spec_waits(&[a, b, c]), "{a:?} {b:?} {c:?}");
                    if got {
                        // Waiting implies the run is in progress and something awaits a person.
                        assert!(!rollup_steps([a.status, b.status, c.status]).is_final());
                        assert!([a, b, c].iter().any(StepActivity::is_awaiting_approval));
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn the_run_s_own_step_never_changes_whether_it_waits(
            mut steps in prop::collection::vec(prop::sample::select(activities()), 0..10),
            at in any::<prop::sample::Index>(),
        ) {
            let before = run_waits_for_person(&steps);
            let idx = at.index(steps.len() + 1);
            steps.insert(idx, StepActivity { status: S::Running, awaiting_approval: false, whole_run: true });
            prop_assert_eq!(run_waits_for_person(&steps), before);
            prop_assert_eq!(before, spec_waits(&steps[..idx].iter().chain(&steps[idx + 1..]).copied().collect::<Vec<_>>()));
        }

        #[test]
        fn a_working_step_means_the_run_does_not_wait(
            mut steps in prop::collection::vec(prop::sample::select(activities()), 0..10),
            at in any::<prop::sample::Index>(),
        ) {
            let idx = at.index(steps.len() + 1);
            steps.insert(idx, StepActivity { status: S::Running, awaiting_approval: false, whole_run: false });
            prop_assert!(!run_waits_for_person(&steps));
        }
    }

    // ---------------------------------------------------------------- environments

    fn env(flags: [bool; 9]) -> EnvFacts {
        let [
            terminated_while_active,
            app_failed,
            hook_failed,
            running,
            waiting_for_person,
            completed,
            frozen,
            soaking,
            awaiting_approval,
        ] = flags;
        EnvFacts {
            terminated_while_active,
            app_failed,
            hook_failed,
            running,
            waiting_for_person,
            completed,
            frozen,
            soaking,
            awaiting_approval,
        }
    }

    #[test]
    fn environment_rows_of_section_4() {
        let f = EnvFacts::default;
        let rows: &[(&str, EnvFacts, EnvStatus)] = &[
            ("Terminated if terminated while active (wins over everything)", env([true; 9]), E::Terminated),
            ("else Failed if any application failed", EnvFacts { app_failed: true, running: true, ..f() }, E::Failed),
            (
                "else Failed if an application relapsed while soaking",
                EnvFacts { app_failed: true, soaking: true, ..f() },
                E::Failed,
            ),
            (
                "else Failed if an environment hook failed",
                EnvFacts { hook_failed: true, waiting_for_person: true, completed: true, ..f() },
                E::Failed,
            ),
            (
                "else Running if anything is running (even with someone waiting)",
                EnvFacts { running: true, waiting_for_person: true, ..f() },
                E::Running,
            ),
            ("else Running while the soak time runs", EnvFacts { soaking: true, ..f() }, E::Running),
            (
                "else Suspended if something waits for a person",
                EnvFacts { waiting_for_person: true, completed: true, ..f() },
                E::Suspended,
            ),
            ("else Suspended if it waits for a freeze window to end", EnvFacts { frozen: true, ..f() }, E::Suspended),
            (
                "else Suspended if the action waits for approvals",
                EnvFacts { awaiting_approval: true, ..f() },
                E::Suspended,
            ),
            (
                "else Successful if every application passed the four phases",
                EnvFacts { completed: true, ..f() },
                E::Successful,
            ),
            ("else Pending", f(), E::Pending),
        ];
        for (rule, facts, expect) in rows {
            assert_eq!(rollup_environment(facts), *expect, "{rule}");
        }
    }

    #[test]
    fn environment_every_combination_of_facts() {
        for bits in 0u16..512 {
            let flags: [bool; 9] = std::array::from_fn(|i| bits & (1 << i) != 0);
            let facts = env(flags);
            let [term, app, hook, running, waiting, completed, frozen, soaking, approval] = flags;
            let running = running || soaking;
            let waiting = waiting || frozen || approval;
            let got = rollup_environment(&facts);
            // Each status characterised by its own condition (the "iff" form of the precedence list).
            assert_eq!(got == E::Terminated, term, "{facts:?}");
            assert_eq!(got == E::Failed, !term && (app || hook), "{facts:?}");
            assert_eq!(got == E::Running, !term && !app && !hook && running, "{facts:?}");
            assert_eq!(got == E::Suspended, !term && !app && !hook && !running && waiting, "{facts:?}");
            assert_eq!(got == E::Successful, !term && !app && !hook && !running && !waiting && completed, "{facts:?}");
            assert_eq!(got == E::Pending, !(term || app || hook || running || waiting || completed), "{facts:?}");
            assert_eq!(
                got == E::Suspended && !facts.waiting_for_person,
                !term && !app && !hook && !running && (frozen || approval) && !facts.waiting_for_person,
                "{facts:?}"
            );
            // Soak and approvals (SPEC §10): never Successful while the soak runs or approvals are missing.
            if soaking || approval {
                assert_ne!(got, E::Successful, "{facts:?}");
            }
        }
    }

    // ---------------------------------------------------------------- releases

    fn release(flags: [bool; 5], environments: &[EnvStatus]) -> ReleaseFacts {
        let [started, terminate_requested, stopped, hook_failed, hook_running] = flags;
        ReleaseFacts {
            started,
            terminate_requested,
            stopped,
            hook_failed,
            hook_running,
            environments: environments.to_vec(),
        }
    }

    #[test]
    fn release_rows_of_section_4() {
        let started = |envs: &[EnvStatus]| release([true, false, false, false, false], envs);
        let rows: Vec<(&str, ReleaseFacts, ReleaseStatus)> = vec![
            ("Queued before it starts", release([false; 5], &[E::Pending, E::Pending]), R::Queued),
            (
                "Terminating from the terminate request until everything stopped",
                release([true, true, false, true, true], &[E::Terminated, E::Failed, E::Successful]),
                R::Terminating,
            ),
            (
                "a queued release being terminated is Terminating",
                release([false, true, false, false, false], &[E::Pending]),
                R::Terminating,
            ),
            (
                "Terminated after everything stopped",
                release([true, true, true, false, false], &[E::Successful, E::Terminated, E::Pending]),
                R::Terminated,
            ),
            (
                "Failed if any environment Failed",
                started(&[E::Successful, E::Failed, E::Running, E::Suspended]),
                R::Failed,
            ),
            (
                "Failed if a release hook failed",
                release([true, false, false, true, true], &[E::Successful, E::Successful]),
                R::Failed,
            ),
            ("Running if any environment is Running", started(&[E::Successful, E::Running, E::Suspended]), R::Running),
            (
                "Running while a release hook runs",
                release([true, false, false, false, true], &[E::Successful, E::Successful]),
                R::Running,
            ),
            ("Suspended if any is Suspended", started(&[E::Successful, E::Suspended, E::Pending]), R::Suspended),
            ("Succeeded if all are Successful", started(&[E::Successful, E::Successful]), R::Succeeded),
            ("else Running (waiting between environments)", started(&[E::Successful, E::Pending]), R::Running),
            ("else Running (just started, nothing started yet)", started(&[E::Pending, E::Pending]), R::Running),
            (
                "stopped without a terminate request is ignored",
                release([true, false, true, false, false], &[E::Successful]),
                R::Succeeded,
            ),
        ];
        for (rule, facts, expect) in rows {
            assert_eq!(rollup_release(&facts), expect, "{rule}");
        }
    }

    /// Every multiset of environment statuses of size 0..=3.
    fn env_lists() -> Vec<Vec<EnvStatus>> {
        let mut out = vec![vec![]];
        for (i, &a) in E::ALL.iter().enumerate() {
            out.push(vec![a]);
            for (j, &b) in E::ALL.iter().enumerate().skip(i) {
                out.push(vec![a, b]);
                for &c in E::ALL.iter().skip(j) {
                    out.push(vec![a, b, c]);
                }
            }
        }
        out
    }

    #[test]
    fn release_every_combination_of_facts() {
        for envs in env_lists() {
            for bits in 0u8..32 {
                let flags: [bool; 5] = std::array::from_fn(|i| bits & (1 << i) != 0);
                let [started, term, stopped, hook_failed, hook_running] = flags;
                let facts = release(flags, &envs);
                let got = rollup_release(&facts);
                let any = |s| envs.contains(&s);
                let failed = hook_failed || any(E::Failed) || any(E::Terminated);
                assert_eq!(got == R::Terminated, term && stopped, "{facts:?}");
                assert_eq!(got == R::Terminating, term && !stopped, "{facts:?}");
                assert_eq!(got == R::Queued, !term && !started, "{facts:?}");
                assert_eq!(got == R::Failed, !term && started && failed, "{facts:?}");
                assert_eq!(
                    got == R::Suspended,
                    !term && started && !failed && !hook_running && !any(E::Running) && any(E::Suspended),
                    "{facts:?}"
                );
                assert_eq!(
                    got == R::Succeeded,
                    !term && started && !hook_failed && !hook_running && envs.iter().all(|s| *s == E::Successful),
                    "{facts:?}"
                );
                // Running is everything else.
                let counted = [R::Terminated, R::Terminating, R::Queued, R::Failed, R::Suspended, R::Succeeded];
                assert_eq!(got == R::Running, !counted.contains(&got), "{facts:?}");
            }
        }
    }

    fn release_facts() -> impl Strategy<Value = ReleaseFacts> {
        (any::<[bool; 5]>(), prop::collection::vec(prop::sample::select(E::ALL), 0..10))
            .prop_map(|(flags, envs)| release(flags, &envs))
    }

    proptest! {
        #[test]
        fn all_successful_environments_make_a_succeeded_release(n in 1usize..12) {
            let facts = release([true, false, false, false, false], &vec![E::Successful; n]);
            prop_assert_eq!(rollup_release(&facts), R::Succeeded);
        }

        #[test]
        fn terminating_dominates_everything_but_terminated(mut facts in release_facts()) {
            facts.terminate_requested = true;
            let expect = if facts.stopped { R::Terminated } else { R::Terminating };
            prop_assert_eq!(rollup_release(&facts), expect);
        }

        #[test]
        fn queued_only_before_start(facts in release_facts()) {
            if rollup_release(&facts) == R::Queued {
                prop_assert!(!facts.started);
            }
            if !facts.started && !facts.terminate_requested {
                prop_assert_eq!(rollup_release(&facts), R::Queued);
            }
        }

        #[test]
        fn counters_sum_to_the_number_of_environments(
            envs in prop::collection::vec(prop::sample::select(E::ALL), 0..40),
        ) {
            let c = Counters::from_statuses(envs.iter().copied());
            prop_assert_eq!(c.total() as usize, envs.len());
            let count = |pred: fn(&EnvStatus) -> bool| envs.iter().filter(|s| pred(s)).count() as u32;
            prop_assert_eq!(c.running, count(|s| matches!(s, E::Running | E::Suspended)));
            prop_assert_eq!(c.failed, count(|s| matches!(s, E::Failed | E::Terminated)));
        }
    }

    #[test]
    fn counters_rows() {
        let c =
            Counters::from_statuses([E::Successful, E::Running, E::Suspended, E::Failed, E::Terminated, E::Pending]);
        assert_eq!(c, Counters { successful: 1, running: 2, failed: 2, pending: 1 });
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"successful":1,"running":2,"failed":2,"pending":1}"#);
        assert_eq!(Counters::from_statuses([]), Counters::default());
    }
}
