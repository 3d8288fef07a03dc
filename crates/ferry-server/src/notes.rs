//! Release notes (SPEC §5) and image reports (SPEC §6.5).
//!
//! * `GET /api/v1/releases/{id}/notes[?firstParent=true]` — the engine computes them (off its task) and
//!   stores them once they can no longer change.
//! * `POST /api/v1/images` — records an image with its provenance, with the OCI annotation keys
//!   `org.opencontainers.image.{revision,source,version,created}` filled from the report's fields.
//! * `GET /api/v1/images?image=|repository=|tag=|digest=&limit=` — reports, newest first.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::{ImageReportList, ImageReportRequest};
use ferry_model::{CommitSha, ReleaseId};
use ferry_notes::image::{ImageRef, OCI_CREATED, OCI_REVISION, OCI_SOURCE, OCI_VERSION, is_digest};
use ferry_store::{ImageQuery, ImageRow, Store, Write, WriteOutcome};

use crate::AppState;
use crate::auth::Principal;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::extract::PathParam;
use crate::params::Params;

/// Most annotations on one report.
const MAX_ANNOTATIONS: usize = 100;
/// Longest annotation key, branch or repository URL, in bytes.
const MAX_NAME: usize = 2048;
/// Longest annotation value or issues text, in bytes.
const MAX_TEXT: usize = 8192;

pub(crate) async fn release_notes<S: Store>(
    State(st): State<AppState<S>>,
    PathParam(id): PathParam<ReleaseId>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(query.as_deref(), &["firstParent"])?;
    let first_parent = match p.one("firstParent")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(ApiError::invalid_field("firstParent", format!("{other:?} is not true or false"))),
    };
    if st.store.release_view(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no release with id {id}")));
    }
    let notes = st.engine.notes(id, first_parent).await?;
    Ok(Json(notes).into_response())
}

fn required(field: &str, value: Option<String>, what: &str) -> Result<String, ApiError> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    value.ok_or_else(|| ApiError::invalid_field(field, format!("required: {what}")))
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid_field(field, format!("must be at most {max} bytes")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::invalid_field(field, "must not contain control characters"));
    }
    Ok(())
}

/// Checks a report and builds the row to store (OCI annotations filled in).
pub(crate) fn image_row(
    body: ImageReportRequest,
    reported_by: String,
    now: jiff::Timestamp,
) -> Result<ImageRow, ApiError> {
    let image = required("image", body.image, "the image reference, e.g. registry.example/shop/api:1.4.2")?;
    let parsed = ImageRef::parse(&image).map_err(|e| ApiError::invalid_field("image", e))?;
    let digest = match (body.digest.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()), parsed.digest.clone()) {
        (Some(d), _) if !is_digest(&d) => {
            return Err(ApiError::invalid_field("digest", format!("{d:?} is not a digest: expected algorithm:hex")));
        }
        (Some(d), Some(in_ref)) if d != in_ref => {
            return Err(ApiError::invalid_field("digest", format!("{d} differs from the image reference's {in_ref}")));
        }
        (d, in_ref) => d.or(in_ref),
    };
    let git_repo = required("gitRepo", body.git_repo, "the source repository URL the image was built from")?;
    bounded("gitRepo", &git_repo, MAX_NAME)?;
    let git_repo = ferry_git::redact(&git_repo);
    let git_revision = required("gitRevision", body.git_revision, "the full commit id the image was built from")?;
    let git_revision =
        CommitSha::new(&git_revision).map_err(|e| ApiError::invalid_field("gitRevision", e))?.to_string();
    let git_branch = body.git_branch.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty());
    if let Some(b) = &git_branch {
        bounded("gitBranch", b, MAX_NAME)?;
        if b.chars().any(char::is_whitespace) {
            return Err(ApiError::invalid_field("gitBranch", "must not contain spaces"));
        }
    }
    let issues = body.issues.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty());
    if let Some(i) = &issues {
        bounded("issues", i, MAX_TEXT)?;
    }
    if body.annotations.len() > MAX_ANNOTATIONS {
        return Err(ApiError::invalid_field("annotations", format!("at most {MAX_ANNOTATIONS} annotations")));
    }
    let mut annotations = BTreeMap::new();
    for (key, value) in body.annotations {
        let field = format!("annotations.{key}");
        if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
            return Err(ApiError::invalid_field(&field, "keys must be non-empty and without spaces"));
        }
        bounded(&field, &key, MAX_NAME)?;
        bounded(&field, &value, MAX_TEXT)?;
        annotations.insert(key, value);
    }
    // The OCI keys say the same as the report's fields; a contradiction is an error.
    let mut set = |key: &str, value: String, must_match: bool| -> Result<(), ApiError> {
        match annotations.get(key) {
            Some(given) if must_match && !given.eq_ignore_ascii_case(&value) => Err(ApiError::invalid_field(
                &format!("annotations.{key}"),
                format!("{given:?} contradicts the report's {value:?}"),
            )),
            Some(_) => Ok(()),
            None => {
                annotations.insert(key.to_owned(), value);
                Ok(())
            }
        }
    };
    set(OCI_REVISION, git_revision.clone(), true)?;
    set(OCI_SOURCE, git_repo.clone(), false)?;
    if let Some(tag) = &parsed.tag {
        set(OCI_VERSION, tag.clone(), false)?;
    }
    set(OCI_CREATED, now.to_string(), false)?;
    Ok(ImageRow {
        id: None,
        image,
        repository: parsed.repository,
        tag: parsed.tag,
        digest,
        git_repo,
        git_revision,
        git_branch,
        annotations,
        issues,
        reported_by,
        reported_at: now,
    })
}

pub(crate) async fn report_image<S: Store>(
    State(st): State<AppState<S>>,
    principal: Principal,
    JsonBody(body): JsonBody<ImageReportRequest>,
) -> Result<Response, ApiError> {
    let actor = principal.actor();
    let now = jiff::Timestamp::now();
    let now = jiff::Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now);
    let mut row = image_row(body, actor, now)?;
    let outcome = st.store.write(vec![Write::ImageReport(Box::new(row.clone()))]).await?.into_iter().next();
    match outcome {
        Some(Ok(WriteOutcome::Image(id))) => row.id = Some(id),
        Some(Err(e)) => return Err(e.into()),
        _ => return Err(ApiError::internal("the store did not record the image report")),
    }
    Ok((StatusCode::CREATED, Json(crate::dto::image_report(row)?)).into_response())
}

pub(crate) async fn images<S: Store>(
    State(st): State<AppState<S>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(query.as_deref(), &["image", "repository", "tag", "digest", "limit"])?;
    let mut q = ImageQuery {
        repository: p.one("repository")?.map(str::to_owned),
        tag: p.one("tag")?.map(str::to_owned),
        digest: p.one("digest")?.map(str::to_owned),
        limit: u32::try_from(p.int("limit", 50, 1, 500)?).unwrap_or(50),
    };
    if let Some(image) = p.one("image")? {
        if q.repository.is_some() || q.tag.is_some() || q.digest.is_some() {
            return Err(ApiError::invalid_field("image", "give either image, or repository, tag and digest"));
        }
        let r = ImageRef::parse(image).map_err(|e| ApiError::invalid_field("image", e))?;
        q.repository = Some(r.repository);
        q.tag = r.tag;
        q.digest = r.digest;
    }
    let items = st.store.images_for(q).await?.into_iter().map(crate::dto::image_report).collect::<Result<_, _>>()?;
    Ok(Json(ImageReportList { items }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn body(v: serde_json::Value) -> ImageReportRequest {
        serde_json::from_value(v).unwrap()
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn reports_get_the_oci_annotations() {
        let now = jiff::Timestamp::from_second(1_767_225_600).unwrap();
        let row = image_row(
            body(json!({"image": "reg.example/shop/api:1.4.2", "gitRepo": "https://bot:tok@git.example/shop/api.git",
                "gitRevision": SHA.to_uppercase(), "gitBranch": "main", "annotations": {"team": "payments"}, "issues": "ABC-1"})),
            "ci".into(),
            now,
        )
        .unwrap();
        assert_eq!((row.repository.as_str(), row.tag.as_deref()), ("reg.example/shop/api", Some("1.4.2")));
        assert_eq!(row.git_repo, "https://***@git.example/shop/api.git");
        assert_eq!(row.annotations[OCI_REVISION], SHA);
        assert_eq!(row.annotations[OCI_SOURCE], row.git_repo);
        assert_eq!(row.annotations[OCI_VERSION], "1.4.2");
        assert_eq!(row.annotations[OCI_CREATED], "2026-01-01T00:00:00Z");
        assert_eq!(row.annotations["team"], "payments");
    }

    #[test]
    fn bad_reports_name_the_field() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let cases = [
            (json!({"gitRepo": "r", "gitRevision": SHA}), "image: required"),
            (json!({"image": "a b", "gitRepo": "r", "gitRevision": SHA}), "image:"),
            (json!({"image": "api:1", "gitRevision": SHA}), "gitRepo: required"),
            (json!({"image": "api:1", "gitRepo": "r", "gitRevision": "abc"}), "gitRevision:"),
            (json!({"image": "api:1", "gitRepo": "r", "gitRevision": SHA, "digest": "nope"}), "digest:"),
            (
                json!({"image": "api:1", "gitRepo": "r", "gitRevision": SHA, "annotations": {OCI_REVISION: "ffff"}}),
                "annotations.org.opencontainers.image.revision:",
            ),
            (json!({"image": "api:1", "gitRepo": "r", "gitRevision": SHA, "gitBranch": "a b"}), "gitBranch:"),
        ];
        for (b, want) in cases {
            let err = image_row(body(b.clone()), "x".into(), now).unwrap_err();
            assert!(err.message.starts_with(want), "{b}: {}", err.message);
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
    }
}
