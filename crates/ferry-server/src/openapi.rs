//! The OpenAPI 3.1 document, generated: the schemas come from the `ferry_api` types (utoipa), the paths
//! from the route table ([`ROUTES`]) with what [`operation`] says of each route (summary, parameters,
//! request body, answer). What a route's rule implies is added here once for all: its security, its
//! `x-ferry-access` and `x-ferry-action` extensions and the error answers of the guards (401, 403, 413,
//! 415, 421), every one in the error envelope.
//!
//! The document is committed as `openapi.json` beside `Cargo.toml` and served from there; a test
//! regenerates it and fails when the committed file differs (`cargo run -p ferry-server --example
//! openapi > crates/ferry-server/openapi.json` rewrites it).

use std::collections::BTreeMap;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ArrayItems, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ResponseBuilder, Schema, ServerBuilder,
};

use crate::routes::{Access, ROUTES, Route};

/// Every schema of the wire vocabulary, named as in the document.
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    ferry_api::ErrorEnvelope,
    ferry_api::ServerHealth,
    ferry_api::WhoAmI,
    ferry_api::VersionInfo,
    ferry_api::ApplyRequest,
    ferry_api::ApplyResponse,
    ferry_api::AppliedConfig,
    ferry_api::ProductList,
    ferry_api::ProductDetail,
    ferry_api::EnvironmentList,
    ferry_api::ApplicationList,
    ferry_api::FlowList,
    ferry_api::PolicyList,
    ferry_api::WorkflowList,
    ferry_api::GitProviderList,
    ferry_api::NotificationList,
    ferry_api::PromoteRequest,
    ferry_api::RollbackRequest,
    ferry_api::ReleasePage,
    ferry_api::ReleaseView,
    ferry_api::LogPage,
    ferry_api::EventList,
    ferry_api::EventItem,
    ferry_api::TerminateRequest,
    ferry_api::ApproveRequest,
    ferry_api::Approved,
    ferry_api::UnfreezeRequest,
    ferry_api::FreezeList,
    ferry_api::DoraReport,
    ferry_api::DoraSeries,
    ferry_api::DoraWeek,
    ferry_api::DoraFigures,
    ferry_api::DurationStats,
    ferry_api::Freeze,
    ferry_api::NewFreeze,
    ferry_api::PullRequestList,
    ferry_api::PullRequest,
    ferry_api::ClosePullRequest,
    ferry_api::StatusReport,
    ferry_api::StatusAccepted,
    ferry_api::WebhookResponse,
    ferry_api::notes::Notes,
    ferry_api::ImageReportRequest,
    ferry_api::ImageReport,
    ferry_api::ImageReportList,
    ferry_api::TokenList,
    ferry_api::Token,
    ferry_api::NewToken,
    ferry_api::CreatedToken,
    ferry_api::AuditPage,
)))]
struct Wire;

/// A parameter of an operation.
struct Param {
    name: &'static str,
    at: ParameterIn,
    required: bool,
    description: &'static str,
    schema: Schema,
}

/// What an operation answers when it succeeds.
struct Answer {
    status: u16,
    description: &'static str,
    /// Media type and schema; `None` for no body.
    content: Option<(&'static str, RefOr<Schema>)>,
    /// Whether a `Location` header names what was created.
    location: bool,
}

/// What the document says of one route besides the route table.
struct Op {
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    description: &'static str,
    params: Vec<Param>,
    /// Schema of the JSON request body, and whether the body is required.
    body: Option<(RefOr<Schema>, bool)>,
    answer: Answer,
    /// Error answers besides those the guards imply.
    errors: &'static [u16],
}

fn string() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).build().into()
}

fn pattern(pattern: &str, example: &str) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .examples([serde_json::Value::from(example)])
        .build()
        .into()
}

fn integer(min: i64, max: Option<i64>, default: Option<i64>) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(max.map(|m| m as f64))
        .default(default.map(serde_json::Value::from))
        .build()
        .into()
}

fn words(values: &[&str]) -> Schema {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values.iter().copied())).build().into()
}

/// A schema of the components, by name.
fn named(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

fn json(name: &str) -> Option<(&'static str, RefOr<Schema>)> {
    Some(("application/json", named(name)))
}

fn path(name: &'static str, description: &'static str, schema: Schema) -> Param {
    Param { name, at: ParameterIn::Path, required: true, description, schema }
}

fn query(name: &'static str, description: &'static str, schema: Schema) -> Param {
    Param { name, at: ParameterIn::Query, required: false, description, schema }
}

fn header(name: &'static str, description: &'static str, schema: Schema) -> Param {
    Param { name, at: ParameterIn::Header, required: false, description, schema }
}

const UUID: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const NAME: &str = "^[a-z0-9]([a-z0-9-]{0,251}[a-z0-9])?$";

fn release_id() -> Param {
    path("id", "Release id (a UUID).", pattern(UUID, "0194a0c2-7a1e-7c3d-9f00-2b4c6d8e0a11"))
}

fn ok(status: u16, description: &'static str, content: Option<(&'static str, RefOr<Schema>)>) -> Answer {
    Answer { status, description, content, location: false }
}

fn op(id: &'static str, tag: &'static str, summary: &'static str, answer: Answer) -> Op {
    Op { id, tag, summary, description: "", params: Vec::new(), body: None, answer, errors: &[] }
}

impl Op {
    fn describe(mut self, description: &'static str) -> Op {
        self.description = description;
        self
    }

    fn params(mut self, params: Vec<Param>) -> Op {
        self.params = params;
        self
    }

    fn body(mut self, schema: &str, required: bool) -> Op {
        self.body = Some((named(schema), required));
        self
    }

    fn errors(mut self, errors: &'static [u16]) -> Op {
        self.errors = errors;
        self
    }
}

/// What the document says of `route`; `None` for a route it does not know (a test fails then).
fn operation(route: &Route) -> Option<Op> {
    catalog(route).or_else(|| releases(route)).or_else(|| others(route))
}

fn catalog(route: &Route) -> Option<Op> {
    let product = || path("name", "Product name.", pattern(NAME, "shop"));
    Some(match (route.method, route.path) {
        ("POST", "/api/v1/apply") => op("apply", "configuration", "Validate and apply a configuration", ok(200, "Applied as a new version.", json("ApplyResponse")))
            .describe("The whole set is validated at once (SPEC §2); any error rejects it whole with code `invalid_configuration`, `details` holding every diagnostic's text and `diagnostics` the structured diagnostics.")
            .body("ApplyRequest", true)
            .errors(&[400, 503]),
        ("GET", "/api/v1/config") => op("getConfig", "configuration", "The configuration in use, one document per resource", ok(200, "The configuration in use (no resources before the first apply).", json("AppliedConfig")))
            .describe("Each resource as Ferry validated it (defaults included), credentials in URLs masked; `ferry diff` and `ferry apply --dry-run` compare files with it.")
            .errors(&[503]),
        ("GET", "/api/v1/products") => op("listProducts", "configuration", "List products", ok(200, "The products of the configuration in use.", json("ProductList"))),
        ("GET", "/api/v1/products/{name}") => op("getProduct", "configuration", "A product with its flows, applications, live state, latest release and recent events", ok(200, "The product.", json("ProductDetail")))
            .params(vec![product()])
            .errors(&[400, 404]),
        ("POST", "/api/v1/products/{name}/promote") => op("promote", "releases", "Create a release (manual trigger, SPEC §3.1)", Answer { status: 201, description: "Created; Location names the release.", content: json("ReleaseView"), location: true })
            .describe("An empty body runs the product's first flow; `flow` runs that flow; `from` and `to` promote one environment.")
            .params(vec![product()])
            .body("PromoteRequest", false)
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/products/{name}/rollback") => op("rollback", "releases", "Roll an environment back (SPEC §10)", Answer { status: 201, description: "Created; Location names the rollback release.", content: json("ReleaseView"), location: true })
            .describe("Creates a release of flow `rollback` that promotes into `env` alone, as one normal promotion commit through the usual phases, the versions release `to` put there (default: the last release Successful in `env` before the one whose versions are there now). A `to` that was never Successful in `env`, or no earlier Successful release, is 422. The product's concurrency rule applies: queued behind a running release (`queue`), or terminating the releases that have not finished `env` (`terminate`).")
            .params(vec![product()])
            .body("RollbackRequest", true)
            .errors(&[400, 404, 409, 422, 503]),
        ("GET", "/api/v1/environments") => op("listEnvironments", "configuration", "List environments", ok(200, "The environments of the configuration in use.", json("EnvironmentList")))
            .describe("In dashboard order."),
        ("GET", "/api/v1/applications") => op("listApplications", "configuration", "List applications", ok(200, "The applications of the configuration in use.", json("ApplicationList")))
            .describe("By product, environment (dashboard order) and component."),
        ("GET", "/api/v1/flows") => op("listFlows", "configuration", "List promotion flows", ok(200, "The promotion flows of the configuration in use.", json("FlowList"))),
        ("GET", "/api/v1/policies") => op("listPolicies", "configuration", "List promotion policies", ok(200, "The promotion policies of the configuration in use.", json("PolicyList")))
            .describe("Strongest first."),
        ("GET", "/api/v1/workflows") => op("listWorkflows", "configuration", "List workflows", ok(200, "The workflows of the configuration in use.", json("WorkflowList"))),
        ("GET", "/api/v1/gitproviders") => op("listGitProviders", "configuration", "List git providers", ok(200, "The git providers of the configuration in use (credentials only as where they are read from).", json("GitProviderList"))),
        ("GET", "/api/v1/notifications") => op("listNotifications", "configuration", "List notifications", ok(200, "The notifications of the configuration in use (webhook URLs cut to scheme and host, secrets only as where they are read from).", json("NotificationList"))),
        _ => return None,
    })
}

fn releases(route: &Route) -> Option<Op> {
    let statuses: Vec<&str> = ferry_model::status::ReleaseStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status_list =
        ArrayBuilder::new().items(ArrayItems::RefOrSchema(Box::new(words(&statuses).into()))).build().into();
    Some(match (route.method, route.path) {
        ("GET", "/api/v1/releases") => op("listReleases", "releases", "List releases, newest first, with cursor pagination", ok(200, "A page.", json("ReleasePage")))
            .describe("Unknown parameters are rejected with 400.")
            .params(vec![
                query("product", "Product name.", pattern(NAME, "shop")),
                query("status", "Release status; repeat or separate with commas (case-insensitive).", status_list),
                query("flow", "Flow name, or manual.", string()),
                query("since", "Created at or after: RFC 3339 time or a UTC date YYYY-MM-DD (start of that day).", string()),
                query("until", "Created before: RFC 3339 time, or a UTC date YYYY-MM-DD (that day included).", string()),
                query("cursor", "The next value of the previous page.", string()),
                query("limit", "Page size.", integer(1, Some(500), Some(50))),
            ])
            .errors(&[400]),
        ("GET", "/api/v1/releases/{id}") => op("getRelease", "releases", "A release (SPEC §7.4 shape)", ok(200, "The release view.", json("ReleaseView")))
            .params(vec![release_id()])
            .errors(&[400, 404]),
        ("GET", "/api/v1/releases/{id}/logs") => op("getReleaseLogs", "releases", "Workflow log lines of a release", ok(200, "Lines in order.", json("LogPage")))
            .params(vec![
                release_id(),
                query("run", "Only this workflow run.", string()),
                query("step", "Only this step.", string()),
                query("env", "Only runs in this environment.", pattern(NAME, "qa")),
                query("app", "Only runs for this application.", pattern(NAME, "shop-api-qa")),
                query("after", "Only lines after this id.", integer(0, None, Some(0))),
                query("limit", "Most lines returned.", integer(1, Some(10_000), Some(1000))),
            ])
            .errors(&[400, 404]),
        ("GET", "/api/v1/releases/{id}/events") => op("getReleaseEvents", "releases", "The release's event log (the audit trail)", ok(200, "Every event, in order.", json("EventList")))
            .params(vec![release_id()])
            .errors(&[400, 404]),
        ("GET", "/api/v1/releases/{id}/notes") => op("getReleaseNotes", "notes", "Release notes: commits, pull requests, issues and images per component (SPEC §5)", ok(200, "The notes.", json("ReleaseNotes")))
            .describe("Ranges run from the revision live in the release's final environments before the release to the revision promoted. Computed on request (history walks of up to 10,000 commits per range) and stored once settled; Jira details are added when FERRY_JIRA_URL and FERRY_JIRA_TOKEN are set. An image without a report still gets GitOps commits; its sourceRange is unknown.")
            .params(vec![release_id(), query("firstParent", "Follow only the first parent in application source repositories (default false).", ObjectBuilder::new().schema_type(Type::Boolean).build().into())])
            .errors(&[400, 404, 503]),
        ("POST", "/api/v1/releases/{id}/terminate") => op("terminateRelease", "releases", "Terminate a Queued, Running or Suspended release (SPEC §3.5)", ok(202, "Accepted; the release view as stored after the request.", json("ReleaseView")))
            .describe("The release becomes Terminating while Ferry stops what runs (workflow processes, open promotion pull requests), then Terminated. The reason and the actor are stored and shown. 409 when the release already ended or is being terminated.")
            .params(vec![release_id()])
            .body("TerminateRequest", true)
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/releases/{id}/retry") => op("retryRelease", "releases", "Retry a Failed release at the point of failure (SPEC §3.8)", ok(202, "Accepted; the release view as stored after the request.", json("ReleaseView")))
            .describe("Same release id; the retry count and the actor are recorded. 409 when the release is not Failed or something in it still runs. No request body.")
            .params(vec![release_id()])
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/releases/{id}/approve") => op("approveRelease", "releases", "Approve the approval steps waiting in one environment of a release", ok(200, "The approved steps.", json("Approved")))
            .describe("409 when nothing in that environment waits for approval.")
            .params(vec![release_id()])
            .body("ApproveRequest", true)
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/releases/{id}/unfreeze") => op("unfreezeRelease", "releases", "Let one environment of a release through the freeze windows holding it (SPEC §10, admin)", ok(202, "Accepted; the release view as stored after the request.", json("ReleaseView")))
            .describe("The override, its actor and reason are recorded in the release and the audit log; the environment starts at once. 409 when the environment is not frozen.")
            .params(vec![release_id()])
            .body("UnfreezeRequest", true)
            .errors(&[400, 404, 409, 422, 503]),
        ("GET", "/api/v1/events") => op("streamEvents", "releases", "Live release events (Server-Sent Events)", ok(200, "An endless text/event-stream. Each committed event is sent as `id: <gid>`, `event: release`, `data: <Event JSON>`; comments keep the connection alive. With Last-Event-ID (or after=) the stored events after that id are sent first, then live ones, without gaps or repeats. A store error is sent as `event: error` with the error envelope as data, and the stream ends (reconnect with Last-Event-ID).", Some(("text/event-stream", string().into()))))
            .describe("The `data` of each `release` event is an Event (schema `Event`).")
            .params(vec![
                query("product", "Only this product's events (not with release).", pattern(NAME, "shop")),
                query("release", "Only this release's events (not with product).", pattern(UUID, "0194a0c2-7a1e-7c3d-9f00-2b4c6d8e0a11")),
                query("after", "Resume after this event id (the Last-Event-ID header wins).", integer(0, None, None)),
                header("Last-Event-ID", "Resume after this event id.", integer(0, None, None)),
            ])
            .errors(&[400]),
        _ => return None,
    })
}

fn others(route: &Route) -> Option<Op> {
    let number = || path("number", "Pull-request number.", integer(1, None, None));
    let token_name = || path("name", "Token name.", pattern("^[a-z0-9][a-z0-9._-]{0,62}$", "ci"));
    Some(match (route.method, route.path) {
        ("GET", "/healthz") => op("healthz", "operations", "Liveness: the process answers", ok(200, "Alive.", json("Status"))),
        ("GET", "/readyz") => op("readyz", "operations", "Readiness: the store answers", ok(200, "Ready.", json("Status"))).errors(&[503]),
        ("GET", "/metrics") => op("metrics", "operations", "Prometheus metrics", ok(200, "Prometheus text format 0.0.4: ferry_events_committed_total, ferry_release_events_total{type}, ferry_active_releases, ferry_sse_subscribers, ferry_http_requests_total{method,route,status}, and the DORA gauges per product and environment over the last 30 days (ferry_dora_deployments_per_week, ferry_dora_lead_time_median_seconds, ferry_dora_lead_time_p90_seconds, ferry_dora_change_failure_rate, ferry_dora_time_to_restore_median_seconds).", Some(("text/plain", string().into())))),
        ("GET", "/api/v1/openapi.json") => op("openapi", "operations", "This document", ok(200, "OpenAPI 3.1 document.", Some(("application/json", ObjectBuilder::new().schema_type(Type::Object).build().into())))),
        ("GET", "/api/v1/version") => op("getVersion", "access", "The server's version and commit", ok(200, "What the server runs.", json("VersionInfo")))
            .describe("`ferry version` prints it beside the client's."),
        ("GET", "/api/v1/whoami") => op("whoAmI", "access", "Who the server takes the caller for", ok(200, "The caller.", json("WhoAmI"))),
        ("GET", "/api/v1/pulls") => op("listPullRequests", "pulls", "Promotion pull requests of the local provider (SPEC §6.2), newest first", ok(200, "The pull requests.", json("PullRequestList")))
            .params(vec![query("product", "Product name.", pattern(NAME, "shop")), query("state", "Pull-request state (case-insensitive).", words(&["open", "merged", "closed"]))])
            .errors(&[400, 503]),
        ("POST", "/api/v1/pulls/{number}/merge") => op("mergePullRequest", "pulls", "Merge an open promotion pull request into its target branch (a real merge commit, pushed)", ok(200, "The merged pull request.", json("PullRequest")))
            .describe("409 when the pull request is not open or the merge conflicts. No request body.")
            .params(vec![number()])
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/pulls/{number}/close") => op("closePullRequest", "pulls", "Close an open promotion pull request without merging; its environment fails", ok(200, "The closed pull request.", json("PullRequest")))
            .params(vec![number()])
            .body("ClosePullRequest", false)
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/apps/{name}/status") => op("pushStatus", "integrations", "Report an application's sync and health (status kind push, SPEC §6.3)", ok(202, "Recorded.", json("StatusAccepted")))
            .params(vec![path("name", "Application name.", pattern(NAME, "shop-api-qa"))])
            .body("StatusReport", true)
            .errors(&[400, 404, 409, 422, 503]),
        ("POST", "/api/v1/hooks/git") => op("gitWebhook", "integrations", "Git push webhook (GitHub, GitLab, Gitea/Forgejo, generic)", ok(202, "Accepted, or ignored (another event, a tag, a deleted branch) with a message.", json("WebhookResponse")))
            .describe("The provider is recognised by its event header; without one the body is the generic form `{\"repoURL\", \"branch\", \"after\"?}`. GitHub may also send `application/x-www-form-urlencoded` with the JSON in `payload`.\n\nAuthenticated by the delivery's signature, not by a token: `X-Hub-Signature-256: sha256=<hex>` (GitHub, Gitea, Forgejo), `X-Gitea-Signature` / `X-Forgejo-Signature: <hex>` (HMAC-SHA256 of the raw body), or `X-Gitlab-Token` (the secret itself), checked against `--webhook-secret-file`. Unsigned deliveries are accepted only by an auth-less loopback server without a webhook secret.")
            .params(vec![header("X-GitHub-Event", "GitHub's event name.", string()), header("X-Gitlab-Event", "GitLab's event name.", string()), header("X-Gitea-Event", "Gitea's or Forgejo's event name.", string())])
            .errors(&[400, 422, 503]),
        ("POST", "/api/v1/images") => op("reportImage", "notes", "Record an image with its provenance (SPEC §6.5)", Answer { status: 201, description: "Recorded.", content: json("ImageReport"), location: false })
            .body("ImageReportRequest", true)
            .errors(&[400, 503]),
        ("GET", "/api/v1/images") => op("listImages", "notes", "Image reports, newest first", ok(200, "The reports.", json("ImageReportList")))
            .params(vec![
                query("image", "A whole reference (repository with tag or digest); not with the other filters.", string()),
                query("repository", "Reference without tag and digest.", string()),
                query("tag", "Tag.", string()),
                query("digest", "Digest (algorithm:hex).", string()),
                query("limit", "Page size.", integer(1, Some(500), Some(50))),
            ])
            .errors(&[400, 503]),
        ("GET", "/api/v1/tokens") => op("listTokens", "access", "Every token, revoked and expired ones included (admin); never their secrets", ok(200, "The tokens by name.", json("TokenList"))).errors(&[503]),
        ("POST", "/api/v1/tokens") => op("createToken", "access", "Create a token (admin); the answer carries its secret, shown once", Answer { status: 201, description: "The created token with its secret.", content: json("CreatedToken"), location: false })
            .body("NewToken", true)
            .errors(&[400, 409, 503]),
        ("POST", "/api/v1/tokens/{name}/revoke") => op("revokeToken", "access", "Revoke a token (admin); its UI sessions end", ok(200, "The revoked token.", json("Token")))
            .params(vec![token_name()])
            .errors(&[400, 404, 409, 503]),
        ("GET", "/api/v1/audit") => op("listAudit", "access", "The audit log, newest first (admin)", ok(200, "A page of entries.", json("AuditPage")))
            .params(vec![
                query("since", "Only entries at or after this time (YYYY-MM-DD or RFC 3339).", string()),
                query("cursor", "`next` of the previous page.", string()),
                query("limit", "Page size.", integer(1, Some(1000), Some(100))),
            ])
            .errors(&[400, 503]),
        ("GET", "/api/v1/notifications/failed") => op("listFailedNotifications", "operations", "Outgoing notifications that did not reach their webhook (admin)", ok(200, "`items`: dead letters (every attempt failed) and changes dropped because the queue was full, newest first (the last 1000), each with its id, notification (null for a dropped change), outcome (`failed` or `dropped`), attempts, error, change, `failedAt`, and `redeliveredAt`/`redeliveredBy` once redelivered.", Some(("application/json", ObjectBuilder::new().schema_type(Type::Object).build().into())))).errors(&[503]),
        ("POST", "/api/v1/notifications/failed/{id}/redeliver") => op("redeliverFailedNotification", "operations", "Deliver a failed notification again (admin)", Answer { status: 202, description: "The failure, marked redelivered; the delivery goes on in the background (one that fails again is a new failure).", content: Some(("application/json", ObjectBuilder::new().schema_type(Type::Object).build().into())), location: false })
            .describe("The change goes to its notification as the applied configuration has it now; a dropped change goes to every notification whose filters match it. 409 when it was already redelivered, or when its notification is no longer configured (nothing matches it any more). No request body.")
            .params(vec![path("id", "The failure's id (from the list).", integer(1, None, None))])
            .errors(&[400, 404, 409, 503]),
        ("GET", "/api/v1/dora") => op("getDora", "releases", "DORA metrics of a product (SPEC §10): deployment frequency, lead time, change failure rate, time to restore", ok(200, "The figures over the window for every environment together and for each, with weekly buckets.", json("DoraReport")))
            .describe("Computed from the environment outcomes Ferry records when an environment of a release becomes Successful or Failed. The window runs from `since` (default: 90 days ago) to now; weeks start on Monday 00:00 UTC; percentiles are nearest-rank. 404 for a product that is not configured.")
            .params(vec![
                query("product", "Product name (required).", pattern(NAME, "shop")),
                query("env", "Only this environment.", pattern(NAME, "prod")),
                query("since", "Start of the window (YYYY-MM-DD or RFC 3339); default 90 days ago.", string()),
            ])
            .errors(&[400, 404, 503]),
        ("GET", "/api/v1/freezes") => op("listFreezes", "freezes", "Freeze windows in force (SPEC §10): the configuration's, then the runtime ones", ok(200, "The freezes with the occurrence holding now and the next one.", json("FreezeList")))
            .errors(&[503]),
        ("POST", "/api/v1/freezes") => op("createFreeze", "freezes", "Make a runtime freeze, kept apart from the applied configuration (admin)", ok(201, "The freeze.", json("Freeze")))
            .describe("A one-off range (from, until) or a recurring window (cron, duration, timeZone). Bad input is a 400 naming the field (cron, timeZone, duration, until); a name in use is a 409.")
            .body("NewFreeze", true)
            .errors(&[400, 409, 503]),
        ("POST", "/api/v1/freezes/{name}/delete") => op("deleteFreeze", "freezes", "Delete a runtime freeze (admin)", ok(200, "The freezes left in force.", json("FreezeList")))
            .describe("Releases it held continue at once. A Freeze resource of the configuration is removed by applying without it (409 here).")
            .params(vec![path("name", "Freeze name.", pattern(NAME, "weekend"))])
            .errors(&[400, 404, 409, 503]),
        _ => return None,
    })
}

/// The shared error answers: status → (component name, description).
const ERRORS: &[(u16, &str, &str)] = &[
    (400, "BadRequest", "Invalid input; the message and details name the parameter or field and what was expected."),
    (401, "Unauthorized", "No usable token: missing, malformed, unknown, expired or revoked (the reason on one line)."),
    (403, "Forbidden", "The caller's role or scope does not allow this, or a browser request came from another site."),
    (404, "NotFound", "Not found."),
    (409, "Conflict", "Conflicts with the current state."),
    (413, "TooLarge", "The request body is larger than the limit (8 MiB by default)."),
    (415, "UnsupportedMediaType", "The request body is not sent as application/json."),
    (
        421,
        "Misdirected",
        "The Host header is neither a loopback name, an IP address nor a --public-url host (DNS rebinding).",
    ),
    (422, "Unprocessable", "Valid input that the engine cannot act on."),
    (500, "Internal", "Failure inside Ferry."),
    (503, "Unavailable", "Ferry is shutting down or its store is not reachable."),
];

/// The error answers every request to `route` can get from the guards in front of the handlers.
fn guard_errors(route: &Route) -> Vec<u16> {
    let mut out = vec![500];
    if !matches!(route.path, "/healthz" | "/readyz") {
        out.push(421);
    }
    if route.access != Access::Public {
        out.push(401);
    }
    if route.access != Access::Public || route.method == "POST" {
        out.push(403);
    }
    if route.method == "POST" {
        out.extend([413, 415]);
    }
    out
}

/// The `Ferry-Actor` header of the writes of promoters and admins.
fn actor() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("Ferry-Actor")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Who makes the request, recorded as the actor — only on an auth-less loopback server (the CLI sends \
             the OS user); ignored when the server requires tokens, where the actor is the token's name.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).max_length(Some(128)).build()))
        .build()
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Public => "public",
        Access::Read => "read",
        Access::Promote => "promote",
        Access::Admin => "admin",
        Access::Webhook => "webhook",
    }
}

fn access_text(access: Access) -> &'static str {
    match access {
        Access::Public => "Access: public (no token).",
        Access::Read => "Access: read (any token: viewer, promoter or admin).",
        Access::Promote => {
            "Access: promote (a promoter or admin token; a promoter's product and environment-type scope applies)."
        }
        Access::Admin => "Access: admin (an admin token).",
        Access::Webhook => "Access: webhook (the delivery's signature, not a token).",
    }
}

fn path_item(route: &Route, op: Op) -> PathItem {
    let mut description = op.description.to_owned();
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(access_text(route.access));
    let extensions = ExtensionsBuilder::new()
        .add("x-ferry-access", access_name(route.access))
        .add("x-ferry-action", route.action)
        .build();
    let mut builder = OperationBuilder::new()
        .operation_id(Some(op.id))
        .tag(op.tag)
        .summary(Some(op.summary))
        .description(Some(description))
        .extensions(Some(extensions));
    builder = match route.access {
        Access::Public | Access::Webhook => builder.security(SecurityRequirement::default()),
        _ => builder.security(SecurityRequirement::new("bearer", Vec::<String>::new())),
    };
    for p in op.params {
        let parameter = ParameterBuilder::new()
            .name(p.name)
            .parameter_in(p.at)
            .required(if p.required { Required::True } else { Required::False })
            .description(Some(p.description))
            .schema(Some(p.schema))
            .build();
        builder = builder.parameter(parameter);
    }
    if route.method == "POST" && matches!(route.access, Access::Promote | Access::Admin) {
        builder = builder.parameter(actor());
    }
    if let Some((schema, required)) = op.body {
        let body = RequestBodyBuilder::new()
            .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
            .required(Some(if required { Required::True } else { Required::False }))
            .build();
        builder = builder.request_body(Some(body));
    }
    let mut answer = ResponseBuilder::new().description(op.answer.description);
    if let Some((media, schema)) = op.answer.content {
        answer = answer.content(media, ContentBuilder::new().schema(Some(schema)).build());
    }
    if op.answer.location {
        answer = answer.header(
            "Location",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
                .description(Some("The path of what was created."))
                .build(),
        );
    }
    builder = builder.response(op.answer.status.to_string(), answer.build());
    let mut errors: Vec<u16> = guard_errors(route).into_iter().chain(op.errors.iter().copied()).collect();
    errors.sort_unstable();
    errors.dedup();
    for status in errors {
        if let Some((_, name, _)) = ERRORS.iter().find(|(s, _, _)| *s == status) {
            builder = builder.response(status.to_string(), RefOr::Ref(Ref::from_response_name(*name)));
        }
    }
    let method = if route.method == "POST" { HttpMethod::Post } else { HttpMethod::Get };
    PathItem::new(method, builder.build())
}

/// The document, or the routes it cannot describe.
pub fn document() -> Result<OpenApi, String> {
    let mut items: BTreeMap<&str, PathItem> = BTreeMap::new();
    let mut unknown = Vec::new();
    for route in ROUTES {
        let Some(op) = operation(route) else {
            unknown.push(format!("{} {}", route.method, route.path));
            continue;
        };
        let item = path_item(route, op);
        match items.remove(route.path) {
            Some(mut existing) => {
                existing.merge_operations(item);
                items.insert(route.path, existing);
            }
            None => {
                items.insert(route.path, item);
            }
        }
    }
    if !unknown.is_empty() {
        return Err(format!("the OpenAPI document does not describe {}", unknown.join(", ")));
    }
    let mut paths = PathsBuilder::new();
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    let mut components = <Wire as utoipa::OpenApi>::openapi().components.unwrap_or_default();
    for (status, name, description) in ERRORS {
        let mut response = ResponseBuilder::new()
            .description(*description)
            .content("application/json", ContentBuilder::new().schema(Some(named("ErrorEnvelope"))).build());
        if *status == 401 {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String).build())).build(),
            );
        }
        components.responses.insert((*name).to_owned(), RefOr::T(response.build()));
    }
    components.security_schemes.insert(
        "bearer".to_owned(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API token from `ferry token create`. An auth-less server (loopback only) takes requests \
                     without one.",
                ))
                .build(),
        )),
    );
    let info = InfoBuilder::new()
        .title("Ferry API")
        .version("1")
        .description(Some(
            "Ferry, a GitOps promotion orchestrator with product releases. Errors always have the shape of the \
             ErrorEnvelope schema. Lists are objects with items. Each operation names the rule of its route in \
             `x-ferry-access` (public, read, promote, admin, webhook) and its audit action in `x-ferry-action`. \
             Generated from the route table and the ferry-api types.",
        ))
        .license(Some(LicenseBuilder::new().name("Apache-2.0").identifier(Some("Apache-2.0")).build()))
        .build();
    let tags = [
        ("configuration", "The configuration in use and applying a new one."),
        ("releases", "Releases: create, read, control, follow."),
        ("pulls", "Promotion pull requests of the local provider."),
        ("freezes", "Freeze windows: when promotions into matching environments wait (SPEC §10)."),
        ("integrations", "Status reports and Git webhooks."),
        ("notes", "Release notes and image reports."),
        ("access", "Tokens, the audit log and the caller (SPEC §8.2)."),
        ("operations", "Probes, metrics and this document."),
    ];
    Ok(OpenApiBuilder::new()
        .info(info)
        .servers(Some([ServerBuilder::new().url("http://127.0.0.1:7878").build()]))
        .tags(Some(tags.map(|(name, description)| TagBuilder::new().name(name).description(Some(description)).build())))
        .paths(paths.build())
        .components(Some(components))
        .build())
}

/// The document as committed: pretty JSON with a final newline.
pub fn to_json() -> Result<String, String> {
    let doc = document()?;
    // Through `Value`, whose objects are ordered by key: the extensions are a hash map.
    let text = serde_json::to_value(&doc)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .map_err(|e| format!("the OpenAPI document does not serialise: {e}"))?;
    Ok(text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::OPENAPI;

    /// The committed `openapi.json` is the generated document. `FERRY_UPDATE_OPENAPI=1` rewrites it.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = to_json().expect("every route is described");
        if std::env::var_os("FERRY_UPDATE_OPENAPI").is_some() {
            let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
            std::fs::write(&file, &generated).expect("openapi.json is written");
            return;
        }
        assert!(
            OPENAPI == generated,
            "crates/ferry-server/openapi.json differs from the document generated from the route table and the \
             ferry-api types; run `cargo run -p ferry-server --example openapi > crates/ferry-server/openapi.json` \
             (or `FERRY_UPDATE_OPENAPI=1 cargo test -p ferry-server --lib openapi`) and commit it"
        );
    }

    #[test]
    fn a_route_without_a_description_is_an_error_naming_it() {
        let route = Route { method: "GET", path: "/api/v1/nowhere", access: Access::Read, action: "nowhere" };
        assert!(operation(&route).is_none());
        assert!(operation(&ROUTES[0]).is_some());
    }

    /// Every operation states its rule, its security and a 2xx answer; every error answer is the error
    /// envelope; every `{param}` of a path is documented as a required path parameter.
    #[test]
    fn every_operation_states_its_rule_parameters_and_answers() {
        let doc = serde_json::to_value(document().expect("document")).expect("serialises");
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            let at = format!("{} {}", route.method, route.path);
            assert_eq!(op["x-ferry-access"], access_name(route.access), "{at}");
            assert_eq!(op["x-ferry-action"], route.action, "{at}");
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{at}: no security"));
            let bearer = security.iter().any(|s| s.get("bearer").is_some());
            assert_eq!(bearer, !matches!(route.access, Access::Public | Access::Webhook), "{at}");
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{at}: no responses"));
            assert_eq!(responses.keys().filter(|s| s.starts_with('2')).count(), 1, "{at}");
            assert!(responses.contains_key("500"), "{at}");
            for (status, response) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
                let name = response["$ref"].as_str().unwrap_or_else(|| panic!("{at} {status}: not shared"));
                let shared = doc.pointer(name.trim_start_matches('#')).unwrap_or_else(|| panic!("{at}: {name}"));
                assert_eq!(
                    shared["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorEnvelope",
                    "{at} {status}"
                );
            }
            let params: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path" && p["required"] == true)
                .filter_map(|p| p["name"].as_str())
                .collect();
            let in_template: Vec<&str> =
                route.path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(params, in_template, "{at}: path parameters");
        }
    }
}
