//! The fields the client reads and sends exist, with these names, in Argo Workflows' swagger
//! document (excerpt kept in `tests/fixtures/argowf-swagger-excerpt.json`, source named inside).

use ferry_argowf::types::{SubmitOpts, WorkflowResumeRequest, WorkflowRetryRequest, WorkflowSubmitRequest};
use serde_json::Value;

fn excerpt() -> Value {
    serde_json::from_str(include_str!("../fixtures/argowf-swagger-excerpt.json")).unwrap()
}

const P: &str = "io.argoproj.workflow.v1alpha1.";

fn has(doc: &Value, definition: &str, field: &str) -> bool {
    doc["definitions"][definition]["properties"].get(field).is_some()
}

#[test]
fn every_field_read_or_sent_is_in_the_swagger_document() {
    let doc = excerpt();
    assert!(doc["source"].as_str().unwrap().contains("argoproj/argo-workflows"));
    let used: &[(&str, &[&str])] = &[
        ("Workflow", &["metadata", "spec", "status"]),
        ("WorkflowStatus", &["phase", "message", "startedAt", "finishedAt", "nodes", "outputs"]),
        (
            "NodeStatus",
            &[
                "id",
                "name",
                "displayName",
                "type",
                "templateName",
                "phase",
                "message",
                "startedAt",
                "finishedAt",
                "children",
                "outputs",
            ],
        ),
        ("Outputs", &["parameters", "exitCode"]),
        ("Parameter", &["name", "value"]),
        ("WorkflowSubmitRequest", &["namespace", "resourceKind", "resourceName", "submitOptions"]),
        ("SubmitOpts", &["name", "labels", "annotations", "parameters", "serviceAccount"]),
        ("WorkflowRetryRequest", &["name", "namespace", "restartSuccessful", "parameters"]),
        ("WorkflowTerminateRequest", &["name", "namespace"]),
        ("WorkflowResumeRequest", &["name", "namespace", "nodeFieldSelector"]),
        ("WorkflowWatchEvent", &["type", "object"]),
        ("LogEntry", &["content", "podName"]),
    ];
    for (definition, fields) in used {
        for field in *fields {
            assert!(
                has(&doc, &format!("{P}{definition}"), field),
                "{definition}.{field} is not in the swagger excerpt"
            );
        }
    }
    for field in ["name", "namespace", "labels", "annotations", "resourceVersion"] {
        assert!(has(&doc, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", field), "ObjectMeta.{field}");
    }
    for field in ["grpc_code", "http_code", "message"] {
        assert!(has(&doc, "grpc.gateway.runtime.StreamError", field), "StreamError.{field}");
    }
    for field in ["code", "message", "error"] {
        assert!(has(&doc, "grpc.gateway.runtime.Error", field), "Error.{field}");
    }
    // The log and event paths take the query parameters the client sends.
    let params = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let log = params("/api/v1/workflows/{namespace}/{name}/log");
    assert!(log.contains(&"podName".to_owned()) && log.contains(&"logOptions.container".to_owned()), "{log:?}");
    assert!(params("/api/v1/workflow-events/{namespace}").contains(&"listOptions.fieldSelector".to_owned()));
    let stream = &doc["paths"]["/api/v1/workflow-events/{namespace}"]["get"]["responses"]["200"]["schema"];
    assert!(stream["properties"].get("result").is_some() && stream["properties"].get("error").is_some());
    for (path, method) in [
        ("/api/v1/workflows/{namespace}/submit", "post"),
        ("/api/v1/workflows/{namespace}/{name}/terminate", "put"),
        ("/api/v1/workflows/{namespace}/{name}/retry", "put"),
        ("/api/v1/workflows/{namespace}/{name}/resume", "put"),
        ("/api/v1/workflows/{namespace}/{name}", "get"),
    ] {
        assert!(doc["paths"][path].get(method).is_some(), "{method} {path}");
    }
}

#[test]
fn requests_serialize_with_the_documented_names() {
    let body = WorkflowSubmitRequest {
        namespace: "ci".into(),
        resource_kind: "WorkflowTemplate".into(),
        resource_name: "e2e".into(),
        submit_options: SubmitOpts {
            name: "ferry-x".into(),
            labels: "a=b".into(),
            annotations: String::new(),
            parameters: vec!["A=1".into()],
            service_account: Some("runner".into()),
        },
    };
    let json = serde_json::to_value(&body).unwrap();
    assert_eq!(json["resourceKind"], "WorkflowTemplate");
    assert_eq!(json["submitOptions"]["serviceAccount"], "runner");
    assert!(json["submitOptions"].get("annotations").is_none(), "empty annotations are left out");
    let retry = serde_json::to_value(WorkflowRetryRequest {
        name: "w".into(),
        namespace: "ci".into(),
        restart_successful: false,
        parameters: vec![],
    })
    .unwrap();
    assert_eq!(retry["restartSuccessful"], false);
    let resume = serde_json::to_value(WorkflowResumeRequest {
        name: "w".into(),
        namespace: "ci".into(),
        node_field_selector: "id=w-123".into(),
    })
    .unwrap();
    assert_eq!(resume["nodeFieldSelector"], "id=w-123");
}
