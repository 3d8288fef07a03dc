//! `as_str` and `Display` for the small enums of the wire, spelled as serde spells them.

/// Implements `as_str` (the serde spelling) and `Display` for a fieldless enum.
macro_rules! spelled {
    ($($name:ident { $($variant:ident => $text:literal),+ $(,)? })+) => {
        $(
            impl $name {
                /// The spelling on the wire, identical to the serde form.
                pub fn as_str(self) -> &'static str {
                    match self {
                        $($name::$variant => $text,)+
                    }
                }
            }

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        )+
    };
}

use crate::activity::LogStream;
use crate::admin::{AuditOutcome, TokenStatus};
use crate::catalog::{Concurrency, SelectorKey, SelectorOperator, StatusSourceKind, WorkflowBackend, WorkflowStepKind};
use crate::control::Provider;
use crate::health::Health;

spelled! {
    Concurrency { Queue => "queue", Terminate => "terminate" }
    SelectorKey { GitRevision => "gitRevision", CommitMessage => "commitMessage" }
    SelectorOperator { In => "In", NotIn => "NotIn" }
    StatusSourceKind { Exec => "exec", Argocd => "argocd", Push => "push" }
    WorkflowStepKind { Run => "run", Approval => "approval" }
    WorkflowBackend { Local => "local", Argo => "argo" }
    LogStream { Stdout => "stdout", Stderr => "stderr" }
    TokenStatus { Active => "active", Expired => "expired", Revoked => "revoked" }
    AuditOutcome { Ok => "ok", Denied => "denied", Failed => "failed" }
    Provider { Github => "github", Gitlab => "gitlab", Gitea => "gitea", Generic => "generic" }
    Health { Ok => "ok", Ready => "ready" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` is the serde spelling.
    #[test]
    fn spellings_are_the_serde_forms() {
        fn check<T: serde::Serialize + std::fmt::Display>(values: &[T]) {
            for v in values {
                assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::Value::String(v.to_string())));
            }
        }
        check(&[Concurrency::Queue, Concurrency::Terminate]);
        check(&[SelectorKey::GitRevision, SelectorKey::CommitMessage]);
        check(&[SelectorOperator::In, SelectorOperator::NotIn]);
        check(&[StatusSourceKind::Exec, StatusSourceKind::Argocd, StatusSourceKind::Push]);
        check(&[WorkflowStepKind::Run, WorkflowStepKind::Approval]);
        check(&[WorkflowBackend::Local, WorkflowBackend::Argo]);
        check(&[LogStream::Stdout, LogStream::Stderr]);
        check(&[TokenStatus::Active, TokenStatus::Expired, TokenStatus::Revoked]);
        check(&[AuditOutcome::Ok, AuditOutcome::Denied, AuditOutcome::Failed]);
        check(&[Provider::Github, Provider::Gitlab, Provider::Gitea, Provider::Generic]);
        check(&[Health::Ok, Health::Ready]);
    }
}
