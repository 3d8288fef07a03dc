//! The Notification kind (SPEC §6.6): an outgoing webhook on release and environment status changes.

use ferry_model::names::NotificationName;
use ferry_model::resources::{Notification, NotificationFilter, NotificationFormat, SecretSource};
use ferry_model::status::{EnvStatus, ReleaseStatus};

use super::{named, object, opt, req};
use crate::decode::{Cx, Field, Fields, list_of, non_empty, one_of, string};
use crate::suggest;

/// Decodes `spec` of a Notification.
pub(super) fn notification(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String) -> Option<Notification> {
    spec.reject_unknown(cx, &["url", "secret", "format", "on"]);
    let name = named(cx, spec, name, NotificationName::new);
    let url = req(cx, spec, "url", url);
    let secret = opt(cx, spec, "secret", secret);
    let format = opt(cx, spec, "format", |cx, f| {
        one_of(
            cx,
            f,
            "notification format",
            &[("json", NotificationFormat::Json), ("slack", NotificationFormat::Slack)],
            &["json", "slack"],
        )
    });
    let on = opt(cx, spec, "on", |cx, f| {
        object(cx, f, &["products", "environments", "statuses"], |cx, o| {
            let products = opt(cx, o, "products", |cx, f| list_of(cx, f, non_empty));
            let environments = opt(cx, o, "environments", |cx, f| list_of(cx, f, non_empty));
            let statuses = opt(cx, o, "statuses", |cx, f| list_of(cx, f, status));
            Some(NotificationFilter {
                products: products?.unwrap_or_default(),
                environments: environments?.unwrap_or_default(),
                statuses: statuses?.unwrap_or_default(),
            })
        })
    });
    Some(Notification {
        name: name?,
        url: url?,
        secret: secret?,
        format: format?.unwrap_or_default(),
        on: on?.unwrap_or_default(),
    })
}

/// An absolute `http://` or `https://` URL with a host.
fn url(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<String> {
    let text = string(cx, f)?;
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !text.chars().any(char::is_whitespace) => {
            Some(text)
        }
        _ => {
            cx.error_hint(
                f.node.pos,
                f.path,
                format!("invalid notification URL {text:?}"),
                Some("use an absolute http:// or https:// URL, e.g. https://hooks.example.com/ferry".into()),
            );
            None
        }
    }
}

/// `{env: NAME}` or `{file: PATH}`: where the signing secret is read from (never the secret itself).
pub(super) fn secret(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<SecretSource> {
    let pos = f.node.pos;
    let path = f.path.to_owned();
    object(cx, f, &["env", "file"], |cx, s| {
        let env = opt(cx, s, "env", non_empty)?;
        let file = opt(cx, s, "file", non_empty)?;
        match (env, file) {
            (Some(env), None) => Some(SecretSource::Env(env)),
            (None, Some(file)) => Some(SecretSource::File(file)),
            _ => {
                cx.error_hint(
                    pos,
                    &path,
                    "set exactly one of env or file",
                    Some(
                        "env: the name of an environment variable holding the secret; file: a path on the server"
                            .into(),
                    ),
                );
                None
            }
        }
    })
}

/// A release or environment status, spelled as in the API.
fn status(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<String> {
    let text = string(cx, f)?;
    let known: Vec<&str> = {
        let mut all: Vec<&str> = ReleaseStatus::ALL.iter().map(|s| s.as_str()).collect();
        all.extend(
            EnvStatus::ALL.iter().map(|s| s.as_str()).filter(|s| !ReleaseStatus::ALL.iter().any(|r| r.as_str() == *s)),
        );
        all
    };
    if known.contains(&text.as_str()) {
        return Some(text);
    }
    let hint = suggest::hint(&text, known.iter().copied())
        .or_else(|| suggest::list(known.iter().copied(), "release and environment statuses"));
    cx.error_hint(f.node.pos, f.path, format!("unknown status {text:?}"), hint);
    None
}
