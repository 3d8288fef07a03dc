//! The audit log (SPEC §8.2): every state-changing request of an identified caller — who, what, on
//! what, with which result, from where and when — is written to the store before the answer leaves.
//! Requests refused for lack of credentials (401) are not recorded (anyone could fill the log with
//! them); they appear in the server's log instead.

use axum::http::StatusCode;
use axum::response::Response;
use ferry_store::{AuditRow, Store, Write};
use jiff::Timestamp;

use super::{AuditActor, Principal};
use crate::AppState;
use crate::error::ErrorMessage;
use crate::routes::Route;

/// Records a request once its answer is known, and passes the answer on.
pub(crate) async fn record_parts<S: Store>(
    st: &AppState<S>,
    route: &Route,
    principal: &Principal,
    target: &str,
    from: &str,
    response: Response,
) -> Response {
    let status = response.status();
    let Some(actor) = actor_of(status, response.extensions().get::<AuditActor>(), principal) else {
        return response;
    };
    let outcome = if status.is_success() || status.is_redirection() {
        "ok"
    } else if status.as_u16() == 401 || status.as_u16() == 403 {
        "denied"
    } else {
        "failed"
    };
    let detail = response.extensions().get::<ErrorMessage>().map(|m| m.0.chars().take(500).collect());
    let row = AuditRow {
        id: None,
        at: Timestamp::now(),
        actor,
        action: route.action.to_owned(),
        target: target.chars().take(1000).collect(),
        status: status.as_u16(),
        outcome: outcome.to_owned(),
        source: from.to_owned(),
        detail,
    };
    match st.store.write(vec![Write::Audit(Box::new(row))]).await.map(|r| r.into_iter().next()) {
        Ok(Some(Ok(_))) => {}
        Ok(Some(Err(e))) | Err(e) => tracing::warn!(error = %e, action = route.action, "cannot record an audit entry"),
        Ok(None) => tracing::warn!(action = route.action, "cannot record an audit entry"),
    }
    response
}

/// Who an entry names, or `None` when the request is not recorded: answered 401 (no credentials, or
/// an unsigned webhook — on an auth-less server too, where the caller is the local user) or made by
/// nobody identified.
fn actor_of(status: StatusCode, audit_actor: Option<&AuditActor>, principal: &Principal) -> Option<String> {
    if status == StatusCode::UNAUTHORIZED {
        return None;
    }
    match (audit_actor, principal) {
        (Some(AuditActor(actor)), _) => Some(actor.clone()),
        (None, Principal::Anonymous) => None,
        (None, p) => Some(p.actor()),
    }
}

/// How often old audit entries and ended sessions are deleted.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes audit entries older than `retention` (and ended UI sessions) at start and then hourly,
/// until the server stops; among replicas sharing a database, the one whose turn it is does.
pub(crate) async fn prune<S: Store>(
    store: S,
    engine: ferry_engine::EngineHandle,
    retention: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let keep = jiff::SignedDuration::try_from(retention).unwrap_or(jiff::SignedDuration::MAX);
    loop {
        if !engine.take_turn("retention").await {
            tokio::select! {
                _ = tokio::time::sleep(PRUNE_EVERY) => continue,
                _ = stop.wait_for(|s| *s) => return,
            }
        }
        let now = Timestamp::now();
        let before = now.checked_sub(keep).unwrap_or(Timestamp::MIN);
        match store.write(vec![Write::Prune { before, now }]).await.map(|r| r.into_iter().next()) {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) | Err(e) => tracing::warn!(error = %e, "cannot prune the audit log"),
            Ok(None) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(PRUNE_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_lack_of_credentials_are_not_recorded() {
        let local = Principal::Local { actor: "alice".into() };
        let hook = AuditActor("webhook:github".into());
        let cases = [
            (StatusCode::OK, None, &local, Some("alice")),
            (StatusCode::FORBIDDEN, None, &local, Some("alice")),
            (StatusCode::CONFLICT, None, &local, Some("alice")),
            (StatusCode::ACCEPTED, Some(&hook), &local, Some("webhook:github")),
            (StatusCode::ACCEPTED, Some(&hook), &Principal::Anonymous, Some("webhook:github")),
            (StatusCode::OK, None, &Principal::Anonymous, None),
            // An unsigned webhook on an auth-less loopback server: the caller is the local user, but
            // the delivery was refused for its missing signature.
            (StatusCode::UNAUTHORIZED, None, &local, None),
            (StatusCode::UNAUTHORIZED, None, &Principal::Anonymous, None),
        ];
        for (status, audit_actor, principal, expect) in cases {
            assert_eq!(actor_of(status, audit_actor, principal).as_deref(), expect, "{status} {principal:?}");
        }
    }
}
