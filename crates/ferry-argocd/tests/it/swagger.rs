//! The fields the client reads exist, with these names, in Argo CD's swagger document (excerpt kept
//! in `tests/fixtures/argocd-swagger-excerpt.json`, source named inside).

use serde_json::Value;

fn excerpt() -> Value {
    serde_json::from_str(include_str!("../fixtures/argocd-swagger-excerpt.json")).unwrap()
}

fn has(doc: &Value, definition: &str, field: &str) -> bool {
    doc["definitions"][definition]["properties"].get(field).is_some()
}

#[test]
fn every_field_read_is_in_the_swagger_document() {
    let doc = excerpt();
    assert!(doc["source"].as_str().unwrap().contains("argoproj/argo-cd"));
    let used = [
        ("v1alpha1Application", &["metadata", "status"][..]),
        ("v1ObjectMeta", &["name", "namespace", "resourceVersion"]),
        ("v1alpha1ApplicationStatus", &["sync", "health", "operationState", "reconciledAt", "conditions", "resources"]),
        ("v1alpha1SyncStatus", &["status", "revision"]),
        ("v1alpha1AppHealthStatus", &["status", "message"]),
        ("v1alpha1HealthStatus", &["status", "message"]),
        ("v1alpha1OperationState", &["phase", "message", "startedAt", "finishedAt", "syncResult"]),
        ("v1alpha1SyncOperationResult", &["revision"]),
        ("v1alpha1ApplicationCondition", &["type", "message"]),
        ("applicationv1alpha1ResourceStatus", &["kind", "name", "namespace", "status", "health"]),
        ("v1alpha1ApplicationWatchEvent", &["type", "application"]),
        ("runtimeStreamError", &["grpc_code", "http_code", "message"]),
        ("runtimeError", &["code", "message", "error"]),
        ("applicationApplicationSyncRequest", &["name", "revision", "appNamespace", "project"]),
    ];
    for (definition, fields) in used {
        for field in fields {
            assert!(has(&doc, definition, field), "{definition}.{field} is not in the swagger excerpt");
        }
    }
    let stream = &doc["paths"]["/api/v1/stream/applications"]["get"]["responses"]["200"]["schema"]["properties"];
    assert!(stream.get("result").is_some() && stream.get("error").is_some());
    let params: Vec<&str> = doc["paths"]["/api/v1/applications/{name}"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["refresh", "appNamespace", "project"] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
}

#[test]
fn the_fixture_application_parses_with_every_field_read() {
    let app = super::fixture();
    assert_eq!(app.metadata.name.as_deref(), Some("shop-api-qa"));
    let s = &app.status;
    assert_eq!(s.sync.as_ref().unwrap().status.as_deref(), Some("Synced"));
    assert_eq!(s.health.as_ref().unwrap().status.as_deref(), Some("Healthy"));
    assert_eq!(s.reconciled_at.as_deref(), Some("2026-01-01T00:01:00Z"));
    let op = s.operation_state.as_ref().unwrap();
    assert_eq!(op.finished_at.as_deref(), Some("2026-01-01T00:00:40Z"));
    assert_eq!(op.sync_result.as_ref().unwrap().revision.as_deref(), Some("1111111111111111111111111111111111111111"));
    assert_eq!(s.resources[0].kind.as_deref(), Some("Deployment"));
}
