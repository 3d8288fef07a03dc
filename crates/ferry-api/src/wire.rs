//! Small enums of the wire whose spelling is the API's own (camelCase words, `non-production`, ...),
//! each convertible to and from the model enum it presents.

use std::fmt;

use ferry_model::release as model;
use ferry_model::resources;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident from $model:path {
            $( $(#[$vdoc:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $text)] $variant, )+
        }

        // Written out: the derive does not see the `rename` of variants declared through a macro.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .build()
                    .into()
            }
        }

        impl ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling on the wire, identical to the serde form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$model> for $name {
            fn from(value: $model) -> Self {
                use $model as M;
                match value {
                    $(M::$variant => $name::$variant,)+
                }
            }
        }

        impl From<$name> for $model {
            fn from(value: $name) -> Self {
                use $model as M;
                match value {
                    $($name::$variant => M::$variant,)+
                }
            }
        }
    };
}

wire_enum!(
    /// Production or not (SPEC §2.1).
    EnvironmentType from resources::EnvironmentType {
        /// `production`.
        Production => "production",
        /// `non-production`.
        NonProduction => "non-production",
    }
);

wire_enum!(
    /// The promotion action of a target environment (SPEC §2.6).
    PromotionAction from resources::Action {
        /// Commit and push to the target branch.
        Commit => "commit",
        /// Push a branch and open a pull request.
        Pr => "pr",
        /// No Git write; workflows do the work.
        None => "none",
    }
);

wire_enum!(
    /// Where an application is in its environment (SPEC §3.3).
    AppPhase from model::AppPhase {
        /// Not started.
        Pending => "pending",
        /// Pre-Action workflow.
        PreAction => "preAction",
        /// Promotion action.
        Action => "action",
        /// Waiting for Synced at the promotion commit and Healthy.
        Health => "health",
        /// Post-Action workflow (in the trigger environment: the trigger workflow).
        PostAction => "postAction",
        /// All phases passed.
        Done => "done",
    }
);

wire_enum!(
    /// The stage a workflow belongs to.
    Stage from model::Stage {
        /// The flow's trigger workflow.
        Trigger => "trigger",
        /// A Pre-Action workflow.
        PreAction => "preAction",
        /// A Post-Action workflow.
        PostAction => "postAction",
        /// An environment or release hook.
        Hook => "hook",
    }
);

wire_enum!(
    /// Which hook of a flow or environment.
    HookKind from model::HookKind {
        /// `onStart`.
        OnStart => "onStart",
        /// `onSuccess`.
        OnSuccess => "onSuccess",
        /// `onFail` (also runs on termination).
        OnFail => "onFail",
    }
);

wire_enum!(
    /// The kind of an issue (SPEC §4).
    IssueKind from model::IssueKind {
        /// A workflow step failed or errored.
        Workflow => "workflow",
        /// An application was Degraded or not synced/healthy in time.
        Application => "application",
        /// A Git or pull-request operation failed.
        Git => "git",
    }
);

wire_enum!(
    /// The Git operation behind a Git issue.
    GitOperation from model::GitOperation {
        /// Cloning the repository.
        Clone => "clone",
        /// Fetching.
        Fetch => "fetch",
        /// Editing files and committing.
        Commit => "commit",
        /// Pushing.
        Push => "push",
        /// Opening a pull request.
        OpenPr => "openPr",
        /// Checking whether a pull request was merged.
        MergeCheck => "mergeCheck",
        /// Closing a pull request (on terminate).
        ClosePr => "closePr",
    }
);

wire_enum!(
    /// Why an application failed its sync-and-health gate.
    GateFailureReason from model::GateFailure {
        /// Reported Degraded.
        Degraded => "degraded",
        /// Still not synced and healthy after `healthTimeout`.
        Timeout => "timeout",
    }
);

/// Progress of a promotion action. A pull request waiting for a person reads `Suspended`, like an
/// environment that waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum ActionStatus {
    /// Writing, committing, pushing or opening the pull request.
    Running,
    /// The pull request is open, waiting for a person to merge it.
    Suspended,
    /// Landed (committed, merged, unchanged, or nothing to do for `none`).
    Succeeded,
    /// Failed.
    Failed,
}

impl ActionStatus {
    /// Every value, in declaration order.
    pub const ALL: &'static [ActionStatus] =
        &[ActionStatus::Running, ActionStatus::Suspended, ActionStatus::Succeeded, ActionStatus::Failed];

    /// The spelling on the wire, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Running => "Running",
            ActionStatus::Suspended => "Suspended",
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Failed => "Failed",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<model::ActionStatus> for ActionStatus {
    fn from(value: model::ActionStatus) -> Self {
        match value {
            model::ActionStatus::Running => ActionStatus::Running,
            model::ActionStatus::AwaitingMerge => ActionStatus::Suspended,
            model::ActionStatus::Succeeded => ActionStatus::Succeeded,
            model::ActionStatus::Failed => ActionStatus::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire spelling of each enum equals the model's serde spelling, so views stored before this
    /// crate existed read back.
    #[test]
    fn spellings_match_the_model() {
        fn check<M: Serialize + Copy, W: From<M> + Serialize>(values: &[M]) {
            for m in values {
                assert_eq!(serde_json::to_value(m).ok(), serde_json::to_value(W::from(*m)).ok());
            }
        }
        check::<_, Stage>(&[
            model::Stage::Trigger,
            model::Stage::PreAction,
            model::Stage::PostAction,
            model::Stage::Hook,
        ]);
        check::<_, HookKind>(model::HookKind::ALL);
        check::<_, EnvironmentType>(&[
            resources::EnvironmentType::Production,
            resources::EnvironmentType::NonProduction,
        ]);
        check::<_, PromotionAction>(&[resources::Action::Commit, resources::Action::Pr, resources::Action::None]);
        check::<_, IssueKind>(&[model::IssueKind::Workflow, model::IssueKind::Application, model::IssueKind::Git]);
        check::<_, GateFailureReason>(&[model::GateFailure::Degraded, model::GateFailure::Timeout]);
        let ops = [
            model::GitOperation::Clone,
            model::GitOperation::Fetch,
            model::GitOperation::Commit,
            model::GitOperation::Push,
            model::GitOperation::OpenPr,
            model::GitOperation::MergeCheck,
            model::GitOperation::ClosePr,
        ];
        check::<_, GitOperation>(&ops);
        let phases = [
            model::AppPhase::Pending,
            model::AppPhase::PreAction,
            model::AppPhase::Action,
            model::AppPhase::Health,
            model::AppPhase::PostAction,
            model::AppPhase::Done,
        ];
        check::<_, AppPhase>(&phases);
        assert_eq!(
            serde_json::to_value(ActionStatus::from(model::ActionStatus::AwaitingMerge)).ok(),
            Some("Suspended".into())
        );
    }

    /// The schema of each enum lists exactly its serde spellings.
    #[test]
    fn schemas_list_the_serde_spellings() {
        fn check<T: Serialize + utoipa::PartialSchema>(values: &[T]) {
            let schema = serde_json::to_value(T::schema()).expect("schema");
            let spelled: Vec<serde_json::Value> =
                values.iter().map(|v| serde_json::to_value(v).expect("value")).collect();
            assert_eq!(schema["enum"], serde_json::Value::Array(spelled), "{schema}");
        }
        check(EnvironmentType::ALL);
        check(PromotionAction::ALL);
        check(AppPhase::ALL);
        check(Stage::ALL);
        check(HookKind::ALL);
        check(IssueKind::ALL);
        check(GitOperation::ALL);
        check(GateFailureReason::ALL);
        check(ActionStatus::ALL);
    }
}
