//! The governance fields of a policy (SPEC §10): `soakTime` and `approval`.
//!
//! ```yaml
//! policy:
//!   soakTime: 30m                     # Synced+Healthy that long after the Post-Action
//!   approval: { required: 2, roles: [admin], tokens: [release-bot], allowSelfApproval: false }
//! ```

use std::time::Duration;

use ferry_model::resources::ApprovalPolicy;

use super::{object, opt, req};
use crate::decode::{Cx, Field, boolean, int, join, list_of, non_empty, one_of};

/// `soakTime`: a duration with a unit, longer than zero.
pub(super) fn soak_time(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Duration> {
    if let ferry_model::Value::String(text) = f.node.scalar_value()
        && ferry_model::parse_duration(&text).is_ok_and(|d| d.is_zero())
    {
        cx.error(f.node.pos, f.path, format!("soakTime {text:?} is zero; leave soakTime out for no soak"));
        return None;
    }
    crate::decode::duration(cx, f)
}

/// The roles that may approve (a viewer cannot approve anything).
const ROLES: &[(&str, &str)] = &[("promoter", "promoter"), ("admin", "admin")];

/// `approval`: `required` at least 1 and, when only tokens are named, no more than them.
pub(super) fn approval(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<ApprovalPolicy> {
    object(cx, f, &["required", "roles", "tokens", "allowSelfApproval"], |cx, a| {
        let required = req(cx, a, "required", int);
        let roles = opt(cx, a, "roles", |cx, f| {
            list_of(cx, f, |cx, f| one_of(cx, f, "approver role", ROLES, &["promoter", "admin"]).map(str::to_owned))
        });
        let tokens = opt(cx, a, "tokens", |cx, f| list_of(cx, f, non_empty));
        let allow_self = opt(cx, a, "allowSelfApproval", boolean);
        let required_pos = a.opt("required").map_or(a.pos(), |r| r.node.pos);
        let required_path = join(a.path(), "required");
        let required = match u32::try_from(required?) {
            Ok(n) if n >= 1 => n,
            _ => {
                cx.error(required_pos, &required_path, "required must be at least 1 (leave approval out for none)");
                return None;
            }
        };
        let (roles, tokens) = (roles?.unwrap_or_default(), tokens?.unwrap_or_default());
        let mut distinct: Vec<&String> = tokens.iter().collect();
        distinct.sort();
        distinct.dedup();
        // With only named tokens, the eligible approvers are known from the configuration.
        if roles.is_empty() && !tokens.is_empty() && u32::try_from(distinct.len()).unwrap_or(u32::MAX) < required {
            let names: Vec<&str> = distinct.iter().map(|t| t.as_str()).collect();
            cx.error(
                required_pos,
                &required_path,
                format!(
                    "required is {required}, but only {} token(s) may approve ({}) and no roles are listed",
                    names.len(),
                    names.join(", ")
                ),
            );
            return None;
        }
        Some(ApprovalPolicy { required, roles, tokens, allow_self_approval: allow_self?.unwrap_or(false) })
    })
}
