//! The trust rule.

use ferry_argocd::types::{ApplicationCondition, HealthStatus as ArgoHealth, OperationState, ResourceStatus};
use ferry_argocd::{Verdict, assess};
use ferry_model::status::{HealthStatus, SyncStatus};

const EXPECTED: &str = "1111111111111111111111111111111111111111";

fn is_expected(rev: &str) -> bool {
    rev == EXPECTED
}

#[test]
fn synced_at_the_promotion_commit_and_assessed_after_the_operation_is_ready() {
    let a = assess(&super::fixture(), &is_expected);
    assert_eq!((a.sync, a.health, a.verdict), (SyncStatus::Synced, HealthStatus::Healthy, Verdict::Ready));
    assert_eq!(a.revision.as_deref(), Some(EXPECTED));
}

#[test]
fn synced_at_another_revision_is_out_of_sync() {
    let a = assess(&super::fixture(), &|_| false);
    assert_eq!(a.sync, SyncStatus::OutOfSync);
    assert!(matches!(a.verdict, Verdict::Waiting(ref w) if w.contains("not the promotion commit")), "{a:?}");
}

#[test]
fn a_descendant_counts_when_the_caller_says_so() {
    let mut app = super::fixture();
    app.status.sync.as_mut().unwrap().revision = Some("2222222222222222222222222222222222222222".into());
    let a = assess(&app, &|r| r == EXPECTED || r.starts_with('2'));
    assert_eq!(a.verdict, Verdict::Ready);
}

#[test]
fn health_assessed_before_the_operation_finished_does_not_count() {
    let mut app = super::fixture();
    app.status.reconciled_at = Some("2026-01-01T00:00:35Z".into());
    let a = assess(&app, &is_expected);
    assert_eq!(a.sync, SyncStatus::Syncing);
    assert!(matches!(a.verdict, Verdict::Waiting(ref w) if w.contains("before the last sync operation finished")));
    // The same instant counts (>=).
    app.status.reconciled_at = Some("2026-01-01T00:00:40Z".into());
    assert_eq!(assess(&app, &is_expected).verdict, Verdict::Ready);
}

#[test]
fn a_running_operation_is_syncing_and_an_unfinished_one_does_not_count() {
    let mut app = super::fixture();
    app.status.operation_state.as_mut().unwrap().phase = Some("Running".into());
    assert_eq!(assess(&app, &is_expected).sync, SyncStatus::Syncing);
    let op = app.status.operation_state.as_mut().unwrap();
    op.phase = Some("Succeeded".into());
    op.finished_at = None;
    assert!(matches!(assess(&app, &is_expected).verdict, Verdict::Waiting(_)));
}

#[test]
fn degraded_at_the_promotion_commit_fails_with_argos_messages() {
    let mut app = super::fixture();
    app.status.health = Some(ArgoHealth { status: Some("Degraded".into()), message: None });
    app.status.conditions.push(ApplicationCondition {
        kind: Some("SyncError".into()),
        message: Some("one or more objects failed to apply".into()),
    });
    app.status.resources.push(ResourceStatus {
        kind: Some("Deployment".into()),
        name: Some("worker".into()),
        health: Some(ArgoHealth {
            status: Some("Degraded".into()),
            message: Some("Deployment \"worker\" exceeded its progress deadline".into()),
        }),
        ..ResourceStatus::default()
    });
    let a = assess(&app, &is_expected);
    let Verdict::Failed(text) = a.verdict else { panic!("{a:?}") };
    assert!(text.contains("SyncError: one or more objects failed to apply"), "{text}");
    assert!(
        text.contains("Deployment/worker Degraded: Deployment \"worker\" exceeded its progress deadline"),
        "{text}"
    );
    assert!(!text.contains("Deployment/api"), "healthy resources are not listed: {text}");
}

#[test]
fn degraded_at_an_older_revision_keeps_waiting() {
    let mut app = super::fixture();
    app.status.health = Some(ArgoHealth { status: Some("Degraded".into()), message: Some("old".into()) });
    assert!(matches!(assess(&app, &|_| false).verdict, Verdict::Waiting(_)));
}

#[test]
fn a_failed_sync_of_the_promotion_commit_fails() {
    let mut app = super::fixture();
    app.status.sync.as_mut().unwrap().status = Some("OutOfSync".into());
    app.status.operation_state = Some(OperationState {
        phase: Some("Failed".into()),
        message: Some("ComparisonError: manifest generation failed".into()),
        finished_at: Some("2026-01-01T00:00:40Z".into()),
        sync_result: Some(ferry_argocd::types::SyncOperationResult { revision: Some(EXPECTED.into()) }),
        ..OperationState::default()
    });
    let Verdict::Failed(text) = assess(&app, &is_expected).verdict else { panic!() };
    assert!(text.starts_with("sync failed: ComparisonError: manifest generation failed"), "{text}");
}

#[test]
fn every_health_maps_and_strange_values_are_unknown() {
    for (argo, ferry) in [
        ("Healthy", HealthStatus::Healthy),
        ("Progressing", HealthStatus::Progressing),
        ("Degraded", HealthStatus::Degraded),
        ("Suspended", HealthStatus::Suspended),
        ("Missing", HealthStatus::Missing),
        ("Unknown", HealthStatus::Unknown),
        ("Wobbly", HealthStatus::Unknown),
    ] {
        let mut app = super::fixture();
        app.status.health = Some(ArgoHealth { status: Some(argo.into()), message: None });
        let a = assess(&app, &is_expected);
        assert_eq!(a.health, ferry, "{argo}");
        assert_eq!(a.verdict == Verdict::Ready, ferry == HealthStatus::Healthy, "{argo}");
    }
    // No status at all is never ready.
    let empty = ferry_argocd::Application::default();
    let a = assess(&empty, &|_| true);
    assert_eq!((a.sync, a.health), (SyncStatus::Unknown, HealthStatus::Unknown));
    assert!(matches!(a.verdict, Verdict::Waiting(_)));
}
