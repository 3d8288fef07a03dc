//! Every JSON answer the tests receive is checked against the generated OpenAPI document: the operation
//! is found by method and path template, the answer by status, and the body is validated (JSON Schema
//! 2020-12) against the schema the document declares for it. A path no route serves answers in the
//! error envelope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

/// The document and the validators built so far, by schema pointer.
struct Contract {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let text = ferry_server::openapi::to_json().expect("the document is generated");
        Contract { doc: serde_json::from_str(&text).expect("valid JSON"), validators: Mutex::new(HashMap::new()) }
    })
}

/// The path template of the document that `path` (without its query) matches.
fn template<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = doc["paths"].as_object()?;
    // A literal segment wins over a parameter (none of today's templates overlap, but keep it exact).
    let mut best: Option<(&str, usize)> = None;
    for template in paths.keys() {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(p, s)| {
            if p.starts_with('{') && p.ends_with('}') {
                !s.is_empty()
            } else {
                literal += 1;
                p == s
            }
        });
        if fits && best.is_none_or(|(_, n)| literal > n) {
            best = Some((template, literal));
        }
    }
    best.map(|(t, _)| t)
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> Result<&'a Value, String> {
    match value["$ref"].as_str() {
        Some(r) => doc.pointer(r.trim_start_matches('#')).ok_or_else(|| format!("unresolved reference {r}")),
        None => Ok(value),
    }
}

/// The JSON schema the document declares for `method path` answering `status`, and where it is.
fn declared(doc: &Value, method: &str, path: &str, status: u16) -> Result<(String, Value), String> {
    let path = path.split('?').next().unwrap_or(path);
    let envelope = || ("the error envelope".to_owned(), json!({"$ref": "#/components/schemas/ErrorEnvelope"}));
    let Some(template) = template(doc, path) else {
        return if status >= 400 { Ok(envelope()) } else { Err(format!("no path template matches {path}")) };
    };
    let Some(op) = doc["paths"][template].get(method.to_lowercase()) else {
        return if status == 405 { Ok(envelope()) } else { Err(format!("{method} {template} is not documented")) };
    };
    let Some(response) = op["responses"].get(status.to_string()) else {
        return Err(format!("{method} {template} does not document status {status}"));
    };
    let response = resolve(doc, response)?;
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        return Err(format!("{method} {template} {status} declares no JSON body"));
    };
    Ok((format!("{method} {template} {status}"), schema.clone()))
}

fn validator(c: &Contract, schema: &Value) -> Result<Arc<Validator>, String> {
    let key = schema.to_string();
    let mut cache = c.validators.lock().map_err(|_| "a test panicked while validating".to_owned())?;
    if let Some(v) = cache.get(&key) {
        return Ok(v.clone());
    }
    // The schema with the document's components beside it, so `#/components/...` references resolve.
    let root = json!({"components": c.doc["components"], "allOf": [schema]});
    let built = jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|e| format!("the declared schema does not compile: {e}"))?;
    let built = Arc::new(built);
    cache.insert(key, built.clone());
    Ok(built)
}

/// Checks `body`, answered to `method path` with `status`, against the document.
pub(crate) fn validate(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    let c = contract();
    let (at, schema) = declared(&c.doc, method, path, status)?;
    against(c, &at, &schema, body)
}

/// Checks `value` against the component schema `name` (e.g. the `data` of an SSE event), failing the test.
#[track_caller]
pub(crate) fn check_schema(name: &str, value: &Value) {
    let c = contract();
    let schema = json!({"$ref": format!("#/components/schemas/{name}")});
    if let Err(e) = against(c, &format!("schema {name}"), &schema, value) {
        panic!("{e}\nvalue: {value}");
    }
}

fn against(c: &Contract, at: &str, schema: &Value, body: &Value) -> Result<(), String> {
    let validator = validator(c, schema)?;
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).take(5).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("the answer to {at} does not match its schema: {}", errors.join("; ")))
    }
}

/// Like [`validate`], failing the test.
#[track_caller]
pub(crate) fn check(method: &str, path: &str, status: u16, body: &Value) {
    if let Err(e) = validate(method, path, status, body) {
        panic!("{e}\nbody: {body}");
    }
}

#[test]
fn the_validator_catches_wrong_shapes() {
    let ok = json!({"status": "ok"});
    assert_eq!(validate("GET", "/healthz", 200, &ok), Ok(()));
    let wrong = [json!({"status": "fine"}), json!({"state": "ok"}), json!(["ok"])];
    for body in wrong {
        let e = validate("GET", "/healthz", 200, &body).expect_err("a wrong shape is caught");
        assert!(e.contains("GET /healthz 200"), "{e}");
    }
    let page = json!({"items": [{"id": "not a uuid?", "product": "shop"}], "next": null});
    assert!(validate("GET", "/api/v1/releases?product=shop", 200, &page).is_err(), "rows lack required fields");
    let error = json!({"error": {"code": "not_found", "message": "m", "details": []}});
    assert_eq!(validate("GET", "/api/v1/releases/0194a0c2-7a1e-7c3d-9f00-2b4c6d8e0a11", 404, &error), Ok(()));
    assert!(validate("GET", "/api/v1/releases/x", 404, &json!({"message": "m"})).is_err());
    assert!(validate("GET", "/api/v1/releases", 418, &error).unwrap_err().contains("does not document status 418"));
    assert_eq!(validate("GET", "/no/such/route", 404, &error), Ok(()), "unrouted paths answer in the envelope");
    let event = json!({"gid": 3, "releaseId": "r", "product": "shop", "seq": 0, "at": "2026-01-05T10:00:00Z",
        "body": {"type": "Created"}});
    let schema = json!({"$ref": "#/components/schemas/Event"});
    assert_eq!(against(contract(), "Event", &schema, &event), Ok(()));
    let mut late = event.clone();
    late["at"] = json!("yesterday");
    assert!(against(contract(), "Event", &schema, &late).is_err(), "times are RFC 3339");
}
