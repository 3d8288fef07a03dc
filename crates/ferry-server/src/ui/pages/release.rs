//! A release: header, counters, actions, issues, environment graph and cards; the terminate confirmation.

use super::*;

/// An issue in a list.
#[derive(Debug, Clone)]
pub(crate) struct IssueItem {
    pub(crate) href: String,
    pub(crate) kind: String,
    pub(crate) icon: Icon,
    pub(crate) summary: String,
    pub(crate) place: String,
    pub(crate) at: String,
}

pub(super) fn kind_icon(kind: &str) -> Icon {
    match kind {
        "application" => Icon("i-app"),
        "git" => Icon("i-git"),
        _ => Icon("i-error"),
    }
}

pub(super) fn issue_href(release: &str, issue: &str) -> String {
    format!("{}/steps{}", release_href(release), query(&[("issue", issue)]))
}

/// A step of a workflow line.
#[derive(Debug, Clone)]
pub(crate) struct StepItem {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) class: &'static str,
    pub(crate) icon: Icon,
    pub(crate) href: String,
    /// `approved by WHO (ROLE): COMMENT` for an approved approval step.
    pub(crate) approved: Option<String>,
}

/// A workflow line of a card.
#[derive(Debug, Clone)]
pub(crate) struct WorkflowItem {
    pub(crate) stage: String,
    pub(crate) name: String,
    pub(crate) badge: Badge,
    pub(crate) hook: bool,
    pub(crate) steps: Vec<StepItem>,
}

/// The link of a step line: every run of the line, and the step.
pub(crate) fn step_href<R: ToString>(release: &str, runs: &[R], step: &str) -> String {
    let runs: Vec<String> = runs.iter().map(ToString::to_string).collect();
    let mut pairs: Vec<(&str, &str)> = runs.iter().map(|r| ("run", r.as_str())).collect();
    pairs.push(("step", step));
    format!("{}/steps{}", release_href(release), query(&pairs))
}

pub(super) fn workflow_item(release: &str, line: &WorkflowLine) -> WorkflowItem {
    WorkflowItem {
        stage: format::stage(line.stage.as_str(), line.hook.map(HookKind::as_str)),
        name: line.name.clone(),
        badge: Badge::sized(line.status.as_str(), Size::Inline),
        hook: line.stage == Stage::Hook,
        steps: line
            .steps
            .iter()
            .map(|s| {
                let badge = Badge::sized(s.status.as_str(), Size::Inline);
                StepItem {
                    name: s.name.clone(),
                    status: badge.text.clone(),
                    class: badge.class(),
                    icon: Icon(badge.tone.icon()),
                    href: step_href(release, &line.runs, &s.name),
                    approved: s.approved.as_ref().map(step_approval_line),
                }
            })
            .collect(),
    }
}

/// An application of a card.
#[derive(Debug, Clone)]
pub(crate) struct AppItem {
    pub(crate) name: String,
    pub(crate) component: String,
    pub(crate) version: String,
    pub(crate) phase: String,
    pub(crate) sync: Option<Badge>,
    pub(crate) health: Option<Badge>,
    pub(crate) failed: bool,
}

/// The promotion action's result.
#[derive(Debug, Clone)]
pub(crate) struct ActionItem {
    pub(crate) label: String,
    pub(crate) title: String,
    pub(crate) href: Option<String>,
    pub(crate) code: bool,
    pub(crate) badge: Badge,
}

/// An environment card.
#[derive(Debug, Clone)]
pub(crate) struct EnvCard {
    pub(crate) name: String,
    pub(crate) anchor: String,
    pub(crate) env_type: String,
    pub(crate) is_trigger: bool,
    pub(crate) badge: Badge,
    pub(crate) started: String,
    pub(crate) started_iso: String,
    pub(crate) duration: String,
    pub(crate) issues: Vec<IssueItem>,
    pub(crate) action_kind: String,
    pub(crate) actions: Vec<ActionItem>,
    pub(crate) apps: Vec<AppItem>,
    pub(crate) workflows: Vec<WorkflowItem>,
    pub(crate) depends_on: String,
    /// `frozen until … (freezes)` while freeze windows hold the environment.
    pub(crate) frozen: Option<String>,
    /// `overridden by … : reason` when an admin let it through.
    pub(crate) freeze_override: Option<String>,
    /// The freeze windows covering it now or next (target environments only).
    pub(crate) freezes: Vec<FreezeLine>,
    /// Its soak time: remaining while it runs, passed, or the relapse (SPEC §10).
    pub(crate) soak: Option<String>,
    /// Who approved, and who may still approve while the action waits (SPEC §10).
    pub(crate) approval: Option<String>,
    /// The rollback started when it failed after its action (`policy.autoRollback`): (link, text).
    pub(crate) rolled_back_by: Option<(String, String)>,
    /// Whether the card offers "Roll back" (target environments, for promoters and admins).
    pub(crate) can_roll_back: bool,
}

/// The soak line of an environment card: the time left while it runs (from `now`).
fn soak_line(soak: &ferry_api::SoakView, now: Timestamp) -> String {
    if let Some(relapse) = &soak.relapse {
        return format!("soak time {} failed: {relapse}", soak.time);
    }
    if soak.passed_at.is_some() {
        return format!("soaked {} without a relapse", soak.time);
    }
    match soak.until {
        Some(until) => {
            let left = std::time::Duration::try_from(until.duration_since(now)).unwrap_or_default();
            let left = std::time::Duration::from_secs(left.as_secs());
            format!("soaking: {} left of {}", ferry_model::format_duration(left), soak.time)
        }
        None => format!("soak time {} after the Post-Action", soak.time),
    }
}

/// Who approved an approval step, their role and why.
fn step_approval_line(a: &ferry_api::ApprovalGivenView) -> String {
    let mut line = format!("approved by {}", a.actor);
    if let Some(role) = &a.role {
        line.push_str(&format!(" ({role})"));
    }
    if let Some(comment) = &a.comment {
        line.push_str(&format!(": {comment}"));
    }
    line
}

/// The approval line of an environment card: who approved, and who may still approve (the initiator
/// only when self-approval is allowed).
fn approval_line(a: &ferry_api::ApprovalView, initiator: &str) -> String {
    let given: Vec<String> = a
        .approvals
        .iter()
        .map(|g| match &g.comment {
            Some(c) => format!("{} ({c})", g.actor),
            None => g.actor.clone(),
        })
        .collect();
    let mut line = format!("approvals {} of {}", a.approvals.len(), a.required);
    if !given.is_empty() {
        line.push_str(&format!(": approved by {}", given.join(", ")));
    }
    if a.waiting {
        let mut who = Vec::new();
        if !a.roles.is_empty() {
            who.push(format!("role {}", a.roles.join(" or ")));
        }
        let open: Vec<&str> = a
            .tokens
            .iter()
            .filter(|t| !a.approvals.iter().any(|g| &g.actor == *t))
            .filter(|t| a.allow_self_approval || !ferry_model::resources::is_initiator(t, initiator))
            .map(String::as_str)
            .collect();
        if !open.is_empty() {
            who.push(format!("token {}", open.join(", ")));
        }
        if who.is_empty() {
            who.push("any promoter or admin".to_owned());
        }
        line.push_str(&format!("; may still approve: {}", who.join(" or ")));
        if !a.allow_self_approval {
            line.push_str(&format!(" (not {initiator}, who initiated it)"));
        }
    }
    line
}

/// Adds to each target environment's card the freeze windows covering it (holding now, or next).
pub(crate) fn add_card_freezes(
    d: &mut ReleaseData,
    freezes: &ferry_model::freeze::FreezeSet,
    product: &str,
    now: Timestamp,
) {
    for card in d.envs.iter_mut().filter(|c| !c.is_trigger) {
        card.freezes = freeze_lines(freezes, product, Some(&card.name), now);
    }
}

/// The trigger commit.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerItem {
    pub(crate) sha: String,
    pub(crate) short: String,
    pub(crate) url: Option<String>,
    pub(crate) subject: String,
    pub(crate) body: String,
    pub(crate) author: String,
    pub(crate) email: String,
    pub(crate) repo: String,
    pub(crate) branch: String,
    pub(crate) environment: String,
}

/// Header counters.
#[derive(Debug, Clone)]
pub(crate) struct CounterItem {
    pub(crate) label: &'static str,
    pub(crate) value: u64,
    pub(crate) icon: Icon,
    pub(crate) class: &'static str,
}

/// Release page data.
#[derive(Debug, Clone)]
pub(crate) struct ReleaseData {
    pub(crate) id: String,
    pub(crate) short_id: String,
    pub(crate) href: String,
    pub(crate) product: String,
    pub(crate) product_href: String,
    pub(crate) flow: String,
    pub(crate) flow_href: Option<String>,
    pub(crate) flow_version: String,
    pub(crate) version: String,
    pub(crate) initiator: String,
    pub(crate) created: String,
    pub(crate) created_iso: String,
    pub(crate) finished: String,
    pub(crate) duration: String,
    pub(crate) retries: i64,
    pub(crate) reason: String,
    pub(crate) status: String,
    pub(crate) badge: Badge,
    pub(crate) active: bool,
    pub(crate) counters: Vec<CounterItem>,
    pub(crate) trigger: TriggerItem,
    pub(crate) can_retry: bool,
    pub(crate) can_terminate: bool,
    pub(crate) notes_href: String,
    pub(crate) issues: Vec<IssueItem>,
    pub(crate) graph: Graph,
    /// The levels of a collapsed graph (empty when the flow is drawn in full anyway).
    pub(crate) levels: Vec<LevelLink>,
    /// Environments drawn inside group nodes.
    pub(crate) grouped: usize,
    /// The link that draws every environment, or collapses the graph again.
    pub(crate) graph_toggle: Option<(String, &'static str)>,
    /// The link that shows every card.
    pub(crate) cards_href: String,
    pub(crate) envs: Vec<EnvCard>,
    /// Environments without a card (successful or pending ones of a flow over [`CARD_LIMIT`]).
    pub(crate) hidden_cards: usize,
    pub(crate) hooks: Vec<WorkflowItem>,
    pub(crate) hook_count: usize,
    pub(crate) show_hooks: bool,
    pub(crate) error: Option<String>,
    /// The CSRF token of the retry and terminate forms.
    pub(crate) csrf: String,
    /// For a rollback release: (link to the restored release, what it restores where).
    pub(crate) rollback: Option<(String, String)>,
}

/// A level of a large release graph in the summary above it: its size and the link that expands
/// (or collapses) it.
#[derive(Debug, Clone)]
pub(crate) struct LevelLink {
    pub(crate) level: usize,
    pub(crate) count: usize,
    pub(crate) collapsed: bool,
    pub(crate) expanded: bool,
    pub(crate) href: String,
}

/// How the release page is asked for: every card, and which part of a large graph is drawn in full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReleaseOptions {
    /// `?cards=all`.
    pub(crate) all_cards: bool,
    /// `?expand=N|all`.
    pub(crate) expand: graph::Expand,
}

impl ReleaseOptions {
    /// The query pairs of these options (none for the defaults).
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.all_cards {
            out.push(("cards", "all".to_owned()));
        }
        if let Some(e) = self.expand.value() {
            out.push(("expand", e));
        }
        out
    }

    /// The page with these options and `more` pairs (`?fragment=body`, ...), as a link.
    pub(crate) fn href(&self, release: &str, more: &[(&str, &str)]) -> String {
        let pairs = self.pairs();
        let mut all: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        all.extend_from_slice(more);
        format!("{}{}", release_href(release), query(&all))
    }
}

/// `/releases/{id}`.
#[derive(Template)]
#[template(path = "release.html")]
pub(crate) struct ReleasePage {
    pub(crate) page: PageMeta,
    pub(crate) d: ReleaseData,
}

/// `/releases/{id}?fragment=body`.
#[derive(Template)]
#[template(path = "release_body.html")]
pub(crate) struct ReleaseFragment {
    pub(crate) d: ReleaseData,
}

pub(super) fn issue_item(
    release: &str,
    id: &str,
    kind: &str,
    summary: &str,
    at: Timestamp,
    place: String,
) -> IssueItem {
    IssueItem {
        href: issue_href(release, id),
        kind: kind.to_owned(),
        icon: kind_icon(kind),
        summary: summary.to_owned(),
        place,
        at: time(Some(at)),
    }
}

pub(super) fn top_issue(release: &str, i: &IssueFull) -> IssueItem {
    let place = match (&i.env, &i.app) {
        (Some(e), Some(a)) => format!("{e} · {a}"),
        (Some(e), None) => e.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => "release".to_owned(),
    };
    issue_item(release, &i.id, i.kind().as_str(), &i.summary, i.at, place)
}

pub(super) fn actions_of(env: &EnvView) -> Vec<ActionItem> {
    let mut out: Vec<ActionItem> = Vec::new();
    let mut seen = BTreeSet::new();
    for app in &env.applications {
        let Some(a) = &app.action else { continue };
        let badge = Badge::sized(a.status.as_str(), Size::Icon);
        let item = if let Some(pr) = &a.pull_request {
            ActionItem {
                label: format!("PR #{}", pr.number),
                title: pr.branch.clone(),
                href: (!pr.url.is_empty()).then(|| pr.url.clone()),
                code: false,
                badge,
            }
        } else if let Some(commit) = &a.commit {
            let repo = a.repo.as_deref().map(redact_url).unwrap_or_default();
            ActionItem { label: short_sha(commit), title: format!("{commit} in {repo}"), href: None, code: true, badge }
        } else if a.unchanged {
            ActionItem {
                label: "unchanged".to_owned(),
                title: "the values were already in place".to_owned(),
                href: None,
                code: false,
                badge,
            }
        } else if let Some(e) = &a.error {
            ActionItem { label: "failed".to_owned(), title: e.clone(), href: None, code: false, badge }
        } else {
            ActionItem { label: a.status.as_str().to_lowercase(), title: String::new(), href: None, code: false, badge }
        };
        if seen.insert(item.label.clone()) {
            out.push(item);
        }
    }
    out
}

pub(super) fn env_card(v: &ReleaseView, env: &EnvView, now: Timestamp) -> EnvCard {
    let release_id = v.id.to_string();
    let release = release_id.as_str();
    EnvCard {
        anchor: format!("env-{}", env.name),
        env_type: env.env_type.as_str().to_owned(),
        is_trigger: env.is_trigger,
        badge: Badge::new(env.status.as_str()),
        started: env.started_at.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
        started_iso: iso(env.started_at),
        duration: format::duration(env.started_at, env.finished_at, now),
        issues: env
            .issues
            .iter()
            .map(|i| issue_item(release, &i.id, i.kind.as_str(), &i.summary, i.at, i.app.clone().unwrap_or_default()))
            .collect(),
        action_kind: env.policy.as_ref().map(|p| p.action.as_str().to_owned()).unwrap_or_default(),
        actions: actions_of(env),
        apps: env
            .applications
            .iter()
            .map(|a| AppItem {
                name: a.name.clone(),
                component: a.component.clone(),
                version: a.version.clone().unwrap_or_default(),
                phase: a.phase.as_str().to_owned(),
                sync: a.app.as_ref().map(|o| Badge::sized(o.sync.as_str(), Size::Inline)),
                health: a.app.as_ref().map(|o| Badge::sized(o.health.as_str(), Size::Inline)),
                failed: a.failed,
            })
            .collect(),
        workflows: env.workflows.iter().map(|l| workflow_item(release, l)).collect(),
        depends_on: env.depends_on.join(", "),
        name: env.name.clone(),
        frozen: env
            .frozen
            .as_ref()
            .map(|f| format!("frozen until {} ({})", format::time(Some(f.until)), f.freezes.join(", "))),
        freeze_override: env.freeze_override.as_ref().map(|o| format!("let through by {}: {}", o.actor, o.reason)),
        freezes: Vec::new(),
        soak: env.soak.as_ref().map(|s| soak_line(s, now)),
        approval: env.approval.as_ref().map(|a| approval_line(a, &v.initiator)),
        rolled_back_by: env.rolled_back_by.map(|r| {
            let id = r.to_string();
            (release_href(&id), format!("rolled back by release {}", short_id(&id)))
        }),
        can_roll_back: false,
    }
}

/// Builds the release page from its view.
/// Above this many environments the release page gives a card only to the environments that need
/// attention (running, suspended, failed, terminated): the graph and the counters show every one, and
/// `?cards=all` brings all the cards back. A flow of a thousand environments stays a page to read.
pub(crate) const CARD_LIMIT: usize = 50;

/// The release page's data, with a card for every environment (`all_cards`) or as [`CARD_LIMIT`] says,
/// and the graph collapsed as [`graph::layout_grouped`] says unless `expand` asks otherwise.
pub(crate) fn release(v: &ReleaseView, now: Timestamp, options: ReleaseOptions) -> ReleaseData {
    let all_cards = options.all_cards;
    let context = crate::ui::session::context();
    let may_change = context.may_change(&v.product);
    let id = v.id.to_string();
    let id = id.as_str();
    let inputs: Vec<graph::Input<'_>> = v
        .environments
        .iter()
        .map(|e| graph::Input {
            name: &e.name,
            depends_on: &e.depends_on,
            status: e.status.as_str(),
            note: if e.is_trigger {
                "trigger".to_owned()
            } else if e.env_type == EnvironmentType::Production {
                "production".to_owned()
            } else {
                String::new()
            },
            href: format!("#env-{}", e.name),
        })
        .collect();
    let with_expand = |expand: graph::Expand| ReleaseOptions { expand, ..options }.href(id, &[]) + "#graph-h";
    let grouped = graph::layout_grouped(&inputs, options.expand, |level| with_expand(graph::Expand::Level(level)));
    let levels: Vec<LevelLink> = grouped
        .levels
        .iter()
        .map(|l| {
            let expanded = options.expand == graph::Expand::Level(l.level);
            LevelLink {
                level: l.level,
                count: l.count,
                collapsed: l.collapsed,
                expanded,
                href: with_expand(if expanded { graph::Expand::None } else { graph::Expand::Level(l.level) }),
            }
        })
        .collect();
    let graph_toggle = (!levels.is_empty()).then(|| {
        if options.expand == graph::Expand::All {
            (with_expand(graph::Expand::None), "Collapse large levels")
        } else {
            (with_expand(graph::Expand::All), "Draw every environment")
        }
    });
    let t = &v.trigger;
    let message = &t.message;
    let trigger = TriggerItem {
        sha: t.sha.clone(),
        short: if t.short_sha.is_empty() { short_sha(&t.sha) } else { t.short_sha.clone() },
        url: t.web_url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        subject: format::subject(message).to_owned(),
        body: format::body(message).to_owned(),
        author: t.author.clone(),
        email: t.author_email.clone(),
        repo: redact_url(&t.repo),
        branch: t.branch.clone(),
        environment: t.environment.clone(),
    };
    let c = &v.counters;
    let counters = vec![
        CounterItem { label: "Successful", value: c.successful.into(), icon: Icon("i-ok"), class: "st-ok" },
        CounterItem { label: "Running", value: c.running.into(), icon: Icon("i-run"), class: "st-run" },
        CounterItem { label: "Failed", value: c.failed.into(), icon: Icon("i-fail"), class: "st-fail" },
        CounterItem { label: "Pending", value: c.pending.into(), icon: Icon("i-pending"), class: "st-pending" },
    ];
    let hooks: Vec<WorkflowItem> = v.hooks.iter().map(|l| workflow_item(id, l)).collect();
    let hook_count = hooks.len()
        + v.environments.iter().map(|e| e.workflows.iter().filter(|l| l.stage == Stage::Hook).count()).sum::<usize>();
    let many = v.environments.len() > CARD_LIMIT && !all_cards;
    let needs_card = |e: &EnvView| {
        !many
            || !matches!(e.status, ferry_model::status::EnvStatus::Successful | ferry_model::status::EnvStatus::Pending)
    };
    ReleaseData {
        id: id.to_owned(),
        short_id: short_id(id),
        href: release_href(id),
        product: v.product.clone(),
        product_href: product_href(&v.product),
        flow: match v.flow.as_str() {
            "manual" => "Manual".to_owned(),
            ferry_model::dora::ROLLBACK_FLOW => "Rollback".to_owned(),
            _ => v.flow.clone(),
        },
        flow_href: (!matches!(v.flow.as_str(), "manual" | ferry_model::dora::ROLLBACK_FLOW | ""))
            .then(|| flow_href(&v.flow)),
        flow_version: v.flow_version.clone().unwrap_or_default(),
        version: v.version.clone().unwrap_or_default(),
        initiator: v.initiator.clone(),
        created: time(Some(v.created_at)),
        created_iso: iso(Some(v.created_at)),
        finished: time(v.finished_at),
        duration: format::duration(v.started_at.or(Some(v.created_at)), v.finished_at, now),
        retries: v.retries.into(),
        reason: v.reason.clone().unwrap_or_default(),
        status: v.status.as_str().to_owned(),
        badge: Badge::new(v.status.as_str()),
        active: v.is_active(),
        counters,
        trigger,
        can_retry: v.can_retry() && may_change,
        can_terminate: v.can_terminate() && may_change,
        notes_href: format!("{}/notes", release_href(id)),
        issues: v.issues.iter().map(|i| top_issue(id, i)).collect(),
        graph: grouped.graph,
        levels,
        grouped: grouped.hidden,
        graph_toggle,
        cards_href: ReleaseOptions { all_cards: true, ..options }.href(id, &[]),
        envs: v
            .environments
            .iter()
            .filter(|e| needs_card(e))
            .map(|e| EnvCard { can_roll_back: may_change && !e.is_trigger, ..env_card(v, e, now) })
            .collect(),
        hidden_cards: v.environments.iter().filter(|e| !needs_card(e)).count(),
        hooks,
        hook_count,
        show_hooks: false,
        error: None,
        csrf: context.csrf,
        rollback: v.rollback.as_ref().map(|r| {
            let target = r.target.to_string();
            let how = if r.automatic { "automatic rollback" } else { "rollback" };
            (release_href(&target), format!("{how} of {} to release {}", r.environment, short_id(&target)))
        }),
    }
}

// ---------------------------------------------------------------------------------------------------
// Terminate confirmation
// ---------------------------------------------------------------------------------------------------

/// `POST /releases/{id}/terminate` without `confirm`: asks once more.
#[derive(Template)]
#[template(path = "terminate.html")]
pub(crate) struct TerminatePage {
    pub(crate) page: PageMeta,
    pub(crate) id: String,
    pub(crate) href: String,
    pub(crate) product: String,
    pub(crate) status: Badge,
    pub(crate) running: String,
    pub(crate) reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_soak_line_shows_the_time_left_then_the_outcome() {
        let mut soak =
            ferry_api::SoakView { time: "30m".into(), started_at: None, until: None, passed_at: None, relapse: None };
        let now = at("2026-03-01T09:10:00.5Z");
        assert_eq!(soak_line(&soak, now), "soak time 30m after the Post-Action");
        soak.started_at = Some(at("2026-03-01T09:00:00Z"));
        soak.until = Some(at("2026-03-01T09:30:00Z"));
        assert_eq!(soak_line(&soak, now), "soaking: 19m59s left of 30m");
        soak.passed_at = soak.until;
        assert_eq!(soak_line(&soak, now), "soaked 30m without a relapse");
        soak.relapse = Some("shop-api-prod: Synced and Degraded".into());
        assert_eq!(soak_line(&soak, now), "soak time 30m failed: shop-api-prod: Synced and Degraded");
    }

    #[test]
    fn an_approved_approval_step_says_who_approved_it_and_why() {
        let step = |name: &str, approved| ferry_api::StepLine {
            name: name.into(),
            status: ferry_model::status::StepStatus::Success,
            approved,
        };
        let given = ferry_api::ApprovalGivenView {
            actor: "carol".into(),
            role: Some("promoter".into()),
            comment: Some("dashboards are green".into()),
            at: at("2026-03-01T09:00:00Z"),
        };
        let line: WorkflowLine = serde_json::from_value(serde_json::json!({
            "stage": "preAction", "hook": null, "name": "sign-off", "status": "Success", "steps": [], "runs": [],
        }))
        .unwrap();
        let line = WorkflowLine { steps: vec![step("approve", Some(given.clone())), step("after", None)], ..line };
        let item = workflow_item("r1", &line);
        assert_eq!(item.steps[0].approved.as_deref(), Some("approved by carol (promoter): dashboards are green"));
        assert_eq!(item.steps[1].approved, None);
        let bare = ferry_api::ApprovalGivenView { role: None, comment: None, ..given };
        assert_eq!(step_approval_line(&bare), "approved by carol");
    }

    #[test]
    fn the_approval_line_names_who_approved_and_who_may_still() {
        let mut a = ferry_api::ApprovalView {
            required: 2,
            roles: vec!["admin".into()],
            tokens: vec!["alice".into(), "carol".into()],
            allow_self_approval: false,
            approvals: vec![],
            waiting: true,
        };
        assert_eq!(
            approval_line(&a, "alice"),
            "approvals 0 of 2; may still approve: role admin or token carol (not alice, who initiated it)"
        );
        a.approvals.push(ferry_api::ApprovalGivenView {
            actor: "carol".into(),
            role: Some("promoter".into()),
            comment: None,
            at: at("2026-03-01T09:00:00Z"),
        });
        a.allow_self_approval = true;
        assert_eq!(
            approval_line(&a, "alice"),
            "approvals 1 of 2: approved by carol; may still approve: role admin or token alice"
        );
        a.waiting = false;
        assert_eq!(approval_line(&a, "alice"), "approvals 1 of 2: approved by carol");
    }
}
