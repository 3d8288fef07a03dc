//! OpenAPI schemas of the model's status enums, which live in `ferry-model` and so cannot implement
//! `ToSchema` here: each is a string with the §4 spellings as its `enum`.

use ferry_model::status::{EnvStatus, HealthStatus, ReleaseStatus, StepStatus, SyncStatus};
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, Type};

fn strings(values: impl Iterator<Item = &'static str>, nullable: bool) -> Object {
    let ty: utoipa::openapi::schema::SchemaType =
        if nullable { [Type::String, Type::Null].into_iter().collect() } else { Type::String.into() };
    let mut values: Vec<Option<&'static str>> = values.map(Some).collect();
    if nullable {
        values.push(None);
    }
    ObjectBuilder::new().schema_type(ty).enum_values(Some(values)).build()
}

/// A release status.
pub(crate) fn release_status() -> Object {
    strings(ReleaseStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// An environment status.
pub(crate) fn env_status() -> Object {
    strings(EnvStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// Environment name → environment status.
pub(crate) fn env_status_map() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::from(utoipa::openapi::Schema::Object(env_status()))))
        .build()
}

/// A step (or workflow run) status.
pub(crate) fn step_status() -> Object {
    strings(StepStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// A sync status.
pub(crate) fn sync_status() -> Object {
    strings(SyncStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// A sync status or `null`.
pub(crate) fn sync_status_or_null() -> Object {
    strings(SyncStatus::ALL.iter().map(|s| s.as_str()), true)
}

/// A health status.
pub(crate) fn health_status() -> Object {
    strings(HealthStatus::ALL.iter().map(|s| s.as_str()), false)
}

/// A health status or `null`.
pub(crate) fn health_status_or_null() -> Object {
    strings(HealthStatus::ALL.iter().map(|s| s.as_str()), true)
}
