//! Per-kind decoders: one YAML document → one domain resource, reporting every problem of the document.

use std::collections::BTreeMap;
use std::fmt;

use ferry_model::names::*;
use ferry_model::resources::*;
use serde::Serialize;

use crate::decode::{
    Cx, Field, Fields, OwnedField, boolean, duration, index, int, join, json_path, list, list_of, minutes_or_duration,
    non_empty, one_of, string, string_map, valid_name,
};
use crate::node::{Node, NodeKind, Pos};
use crate::suggest;

mod freeze;
mod git_provider;
mod governance;
mod notification;

/// `apiVersion` of Ferry's own resources.
pub const FERRY_API: &str = "ferry/v1";
/// `apiVersion` of the commercial product's resources, accepted for compatibility.
pub const CODEFRESH_API: &str = "codefresh.io/v1beta1";
/// The commercial product's later `apiVersion` (its Product gained `concurrency` there); accepted too.
pub const CODEFRESH_API_V2: &str = "codefresh.io/v1beta2";
/// `apiVersion` of Argo CD Applications.
pub const ARGO_API: &str = "argoproj.io/v1alpha1";

/// The kind of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    /// Environment.
    Environment,
    /// Application (native or Argo CD).
    Application,
    /// Product.
    Product,
    /// PromotionTemplate.
    PromotionTemplate,
    /// PromotionFlow.
    PromotionFlow,
    /// PromotionPolicy.
    PromotionPolicy,
    /// Workflow.
    Workflow,
    /// Notification (an outgoing webhook).
    Notification,
    /// GitProvider (a forge and the repositories it serves).
    GitProvider,
    /// Freeze (a window when promotions wait).
    Freeze,
}

impl Kind {
    /// Every kind, in the order resources are listed.
    pub const ALL: [Kind; 10] = [
        Kind::Environment,
        Kind::Application,
        Kind::Product,
        Kind::PromotionTemplate,
        Kind::PromotionFlow,
        Kind::PromotionPolicy,
        Kind::Workflow,
        Kind::Notification,
        Kind::GitProvider,
        Kind::Freeze,
    ];

    /// The `kind:` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Environment => "Environment",
            Kind::Application => "Application",
            Kind::Product => "Product",
            Kind::PromotionTemplate => "PromotionTemplate",
            Kind::PromotionFlow => "PromotionFlow",
            Kind::PromotionPolicy => "PromotionPolicy",
            Kind::Workflow => "Workflow",
            Kind::Notification => "Notification",
            Kind::GitProvider => "GitProvider",
            Kind::Freeze => "Freeze",
        }
    }

    /// The kind in words, for messages ("promotion flow").
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Environment => "environment",
            Kind::Application => "application",
            Kind::Product => "product",
            Kind::PromotionTemplate => "promotion template",
            Kind::PromotionFlow => "promotion flow",
            Kind::PromotionPolicy => "promotion policy",
            Kind::Workflow => "workflow",
            Kind::Notification => "notification",
            Kind::GitProvider => "git provider",
            Kind::Freeze => "freeze",
        }
    }

    fn from_str(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which spelling of the resources a document uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Ferry,
    Codefresh,
}

const CODEFRESH_KINDS: [Kind; 4] = [Kind::Product, Kind::PromotionFlow, Kind::PromotionPolicy, Kind::PromotionTemplate];

/// An Argo CD Application managed by Ferry, before it is placed in an environment.
#[derive(Debug, Clone)]
pub(crate) struct ArgoApp {
    /// The application, with a placeholder environment.
    pub app: Application,
    /// `spec.destination.name`.
    pub dest_name: Option<String>,
    /// `spec.destination.server`.
    pub dest_server: Option<String>,
    /// The annotation that names the product.
    pub product_key: &'static str,
}

/// A decoded resource.
#[derive(Debug, Clone)]
pub(crate) enum Decoded {
    Environment(Environment),
    Application(Application),
    ArgoApp(Box<ArgoApp>),
    Product(Product),
    Template(PromotionTemplate),
    Flow(PromotionFlow),
    Policy(PromotionPolicy),
    Workflow(Workflow),
    Notification(Notification),
    GitProvider(GitProvider),
    Freeze(ferry_model::freeze::Freeze),
}

/// What decoding one document produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The kind, when `apiVersion` and `kind` are supported.
    pub kind: Option<Kind>,
    /// `apiVersion` as written.
    pub api_version: String,
    /// `metadata.name`, when valid, and where it is.
    pub name: Option<(String, Pos)>,
    /// The resource; `None` when the document has any error (or is skipped).
    pub resource: Option<Decoded>,
}

const TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec"];
const TOP_CODEFRESH: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

/// Decodes one document.
pub(crate) fn decode_document(cx: &mut Cx<'_>, root: &Node) -> Outcome {
    let mut out = Outcome::default();
    if !matches!(root.kind, NodeKind::Map(_)) {
        cx.error_hint(
            root.pos,
            "",
            format!("expected a resource (a map with apiVersion, kind, metadata and spec), found {}", root.describe()),
            None,
        );
        return out;
    }
    let Some(mut top) = Fields::new(cx, Field { node: root, path: "" }, None) else { return out };
    let api = top.req(cx, "apiVersion").and_then(|f| string(cx, f.f()));
    let kind_text = top.req(cx, "kind").and_then(|f| string(cx, f.f()));
    let (Some(api), Some(kind_text)) = (api, kind_text) else { return out };
    out.api_version = api.clone();
    let kind = Kind::from_str(&kind_text);
    let api_pos = top.get("apiVersion").map(|f| f.node.pos).unwrap_or(root.pos);
    let kind_pos = top.get("kind").map(|f| f.node.pos).unwrap_or(root.pos);
    let dialect = match api.as_str() {
        FERRY_API => Dialect::Ferry,
        CODEFRESH_API | CODEFRESH_API_V2 => Dialect::Codefresh,
        ARGO_API if kind_text == "Application" => {
            out.kind = Some(Kind::Application);
            let before = cx.errors();
            let (name, resource) = argo_application(cx, &top);
            out.name = name;
            out.resource = resource.filter(|_| cx.errors() == before);
            return out;
        }
        ARGO_API => {
            cx.warn(
                kind_pos,
                "kind",
                format!("ignoring {ARGO_API} {}: Ferry only reads Argo CD Applications", kind_text.escape_debug()),
            );
            return out;
        }
        _ => {
            let hint = match kind {
                Some(k) if CODEFRESH_KINDS.contains(&k) => {
                    format!("use apiVersion {FERRY_API:?} (or {CODEFRESH_API:?}) for kind {k}")
                }
                Some(k) => format!("use apiVersion {FERRY_API:?} for kind {k}"),
                None => suggest::hint(&api, [FERRY_API, CODEFRESH_API, ARGO_API])
                    .unwrap_or_else(|| format!("supported: {FERRY_API}, {CODEFRESH_API}, {ARGO_API}")),
            };
            cx.error_hint(api_pos, "apiVersion", format!("unsupported apiVersion {api:?}"), Some(hint));
            return out;
        }
    };
    let Some(kind) = kind else {
        let supported: Vec<&str> = match dialect {
            Dialect::Ferry => Kind::ALL.iter().map(|k| k.as_str()).collect(),
            Dialect::Codefresh => CODEFRESH_KINDS.iter().map(|k| k.as_str()).collect(),
        };
        let hint = suggest::hint(&kind_text, supported.iter().copied())
            .or_else(|| suggest::list(supported.iter().copied(), &format!("supported kinds for {api}")));
        cx.error_hint(kind_pos, "kind", format!("unknown kind {kind_text:?}"), hint);
        return out;
    };
    if dialect == Dialect::Codefresh && !CODEFRESH_KINDS.contains(&kind) {
        cx.error_hint(
            kind_pos,
            "kind",
            format!("kind {kind} is not available with apiVersion {api}"),
            Some(format!("use apiVersion {FERRY_API:?}")),
        );
        return out;
    }
    out.kind = Some(kind);
    top.reject_unknown(cx, if dialect == Dialect::Codefresh { TOP_CODEFRESH } else { TOP });

    let before = cx.errors();
    let meta = metadata(cx, &top, dialect, kind);
    if let Some(m) = &meta {
        out.name = m.name.clone();
    }
    let spec = top.req(cx, "spec").and_then(|f| Fields::new(cx, f.f(), None));
    let (Some(meta), Some(mut spec)) = (meta, spec) else { return out };
    // With a missing or invalid name the spec is still checked (under a placeholder) so that all of the
    // document's problems are reported; the resource is dropped because of the name error.
    let raw_name = meta.name.as_ref().map_or_else(|| "unnamed".to_owned(), |(n, _)| n.clone());
    let resource = match kind {
        Kind::Environment => environment(cx, &mut spec, raw_name, meta.labels).map(Decoded::Environment),
        Kind::Application => application(cx, &mut spec, raw_name, meta.labels).map(Decoded::Application),
        Kind::Product => product(cx, &mut spec, raw_name, meta.labels, dialect).map(Decoded::Product),
        Kind::PromotionTemplate => template(cx, &mut spec, raw_name, dialect).map(Decoded::Template),
        Kind::PromotionFlow => flow(cx, &mut spec, raw_name, &meta.annotations, dialect).map(Decoded::Flow),
        Kind::PromotionPolicy => policy(cx, &mut spec, raw_name, dialect).map(Decoded::Policy),
        Kind::Workflow => workflow(cx, &mut spec, raw_name).map(Decoded::Workflow),
        Kind::Notification => notification::notification(cx, &mut spec, raw_name).map(Decoded::Notification),
        Kind::GitProvider => git_provider::git_provider(cx, &mut spec, raw_name).map(Decoded::GitProvider),
        Kind::Freeze => freeze::freeze(cx, &mut spec, raw_name).map(Decoded::Freeze),
    };
    out.resource = resource.filter(|_| cx.errors() == before);
    out
}

struct Meta {
    /// The name, when it is a valid resource name.
    name: Option<(String, Pos)>,
    labels: Labels,
    annotations: Labels,
}

fn metadata(cx: &mut Cx<'_>, top: &Fields<'_>, dialect: Dialect, kind: Kind) -> Option<Meta> {
    let f = top.req(cx, "metadata")?;
    let known: Option<&[&str]> = match dialect {
        Dialect::Ferry => Some(&["name", "labels", "annotations"]),
        // Exports of the commercial product's custom resources carry namespace, uid, resourceVersion, ...
        Dialect::Codefresh => None,
    };
    let fields = Fields::new(cx, f.f(), known)?;
    let name = fields.req(cx, "name").and_then(|n| {
        let text = string(cx, n.f())?;
        match check_name(kind, &text) {
            Ok(()) => Some((text, n.node.pos)),
            Err(e) => {
                cx.error(n.node.pos, &n.path, e.to_string());
                None
            }
        }
    });
    let labels = fields.opt("labels").map(|l| string_map(cx, l.f())).unwrap_or(Some(Labels::new()));
    let annotations = fields.opt("annotations").map(|l| string_map(cx, l.f())).unwrap_or(Some(Labels::new()));
    Some(Meta { name, labels: labels.unwrap_or_default(), annotations: annotations.unwrap_or_default() })
}

/// Checks a resource name with the kind's own constructor (for a message naming the kind).
fn check_name(kind: Kind, text: &str) -> Result<(), NameError> {
    let text = text.to_owned();
    match kind {
        Kind::Environment => EnvName::new(text).map(drop),
        Kind::Application => AppName::new(text).map(drop),
        Kind::Product => ProductName::new(text).map(drop),
        Kind::PromotionTemplate => TemplateName::new(text).map(drop),
        Kind::PromotionFlow => FlowName::new(text).map(drop),
        Kind::PromotionPolicy => PolicyName::new(text).map(drop),
        Kind::Workflow => WorkflowName::new(text).map(drop),
        Kind::Notification => NotificationName::new(text).map(drop),
        Kind::GitProvider => GitProviderName::new(text).map(drop),
        Kind::Freeze => ferry_model::names::FreezeName::new(text).map(drop),
    }
}

/// Reads `key` with `read` when present (and not null).
fn opt<'n, T>(
    cx: &mut Cx<'_>,
    fields: &Fields<'n>,
    key: &str,
    read: impl FnOnce(&mut Cx<'_>, Field<'n, '_>) -> Option<T>,
) -> Option<Option<T>> {
    match fields.opt(key) {
        None => Some(None),
        Some(f) => read(cx, f.f()).map(Some),
    }
}

/// Reads the required `key` with `read`.
fn req<'n, T>(
    cx: &mut Cx<'_>,
    fields: &Fields<'n>,
    key: &str,
    read: impl FnOnce(&mut Cx<'_>, Field<'n, '_>) -> Option<T>,
) -> Option<T> {
    let f = fields.req(cx, key)?;
    read(cx, f.f())
}

/// Reads a map with known fields, then runs `read` on it.
fn object<'n, T>(
    cx: &mut Cx<'_>,
    f: Field<'n, '_>,
    known: &[&str],
    read: impl FnOnce(&mut Cx<'_>, &Fields<'n>) -> Option<T>,
) -> Option<T> {
    let fields = Fields::new(cx, f, Some(known))?;
    read(cx, &fields)
}

fn env_name(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<EnvName> {
    valid_name(cx, f, EnvName::new)
}

fn workflow_name(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<WorkflowName> {
    valid_name(cx, f, WorkflowName::new)
}

/// A relative path inside a repository: no leading or trailing `/`, `.` = root, no `..`.
fn repo_path(cx: &mut Cx<'_>, f: Field<'_, '_>, allow_root: bool) -> Option<String> {
    let text = string(cx, f)?;
    let trimmed = text.trim().trim_start_matches("./").trim_matches('/');
    let path = if trimmed == "." { "" } else { trimmed };
    if path.split('/').any(|part| part == "..") {
        cx.error(f.node.pos, f.path, format!("path {text:?} must stay inside the repository (no \"..\")"));
        return None;
    }
    if path.is_empty() && !allow_root {
        cx.error(f.node.pos, f.path, "must name a file");
        return None;
    }
    Some(path.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Environment

fn environment(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String, labels: Labels) -> Option<Environment> {
    spec.reject_unknown(cx, &["type", "clusters", "order"]);
    let name = named(cx, spec, name, EnvName::new);
    let env_type = req(cx, spec, "type", |cx, f| {
        one_of(
            cx,
            f,
            "environment type",
            &[("production", EnvironmentType::Production), ("non-production", EnvironmentType::NonProduction)],
            &["production", "non-production"],
        )
    });
    let clusters = opt(cx, spec, "clusters", |cx, f| {
        list_of(cx, f, |cx, f| {
            object(cx, f, &["name", "namespaces"], |cx, c| {
                let name = req(cx, c, "name", non_empty);
                let namespaces = opt(cx, c, "namespaces", |cx, f| list_of(cx, f, non_empty));
                Some(Cluster { name: name?, namespaces: namespaces?.unwrap_or_default() })
            })
        })
    });
    let order = opt(cx, spec, "order", int);
    Some(Environment {
        name: name?,
        env_type: env_type?,
        clusters: clusters?.unwrap_or_default(),
        order: order?,
        labels,
    })
}

/// The document's name, re-checked with the kind-specific constructor (always valid by then).
fn named<T>(
    cx: &mut Cx<'_>,
    spec: &Fields<'_>,
    name: String,
    parse: fn(String) -> Result<T, ferry_model::names::NameError>,
) -> Option<T> {
    match parse(name) {
        Ok(n) => Some(n),
        Err(e) => {
            cx.error(spec.pos(), "metadata.name", e.to_string());
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Application

fn application(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String, labels: Labels) -> Option<Application> {
    spec.reject_unknown(cx, &["product", "environment", "component", "source", "status"]);
    let name = named(cx, spec, name, AppName::new);
    let product = req(cx, spec, "product", |cx, f| valid_name(cx, f, ProductName::new));
    let environment = req(cx, spec, "environment", env_name);
    let component = opt(cx, spec, "component", |cx, f| valid_name(cx, f, ComponentName::new));
    let source = req(cx, spec, "source", |cx, f| {
        object(cx, f, &["repoURL", "path", "targetRevision"], |cx, s| {
            let repo_url = req(cx, s, "repoURL", non_empty);
            let path = opt(cx, s, "path", |cx, f| repo_path(cx, f, true));
            let target_revision = req(cx, s, "targetRevision", non_empty);
            Some(AppSource { repo_url: repo_url?, path: path?.unwrap_or_default(), target_revision: target_revision? })
        })
    });
    let name = name?;
    let status = opt(cx, spec, "status", |cx, f| status_source(cx, f, &name));
    let product = product?;
    let component = match component? {
        Some(c) => c,
        None => ComponentName::new(product.as_str()).ok()?,
    };
    Some(Application {
        name,
        product,
        environment: environment?,
        component,
        source: source?,
        status: status?.unwrap_or(StatusSource::Exec(ExecStatus::default())),
        labels,
        namespace: None,
    })
}

fn health_timeout(cx: &mut Cx<'_>, fields: &Fields<'_>) -> Option<std::time::Duration> {
    Some(opt(cx, fields, "healthTimeout", duration)?.unwrap_or(DEFAULT_HEALTH_TIMEOUT))
}

/// The fields of `status.argocd`.
const ARGOCD_FIELDS: [&str; 8] =
    ["server", "application", "tokenSecret", "healthTimeout", "refresh", "requestSync", "appNamespace", "project"];

fn status_source(cx: &mut Cx<'_>, f: Field<'_, '_>, app: &AppName) -> Option<StatusSource> {
    const KINDS: [&str; 3] = ["exec", "argocd", "push"];
    let fields = Fields::new(cx, f, Some(&KINDS))?;
    let present: Vec<&str> = KINDS.into_iter().filter(|k| fields.has(k)).collect();
    match present.as_slice() {
        [] => {
            cx.error_hint(
                f.node.pos,
                f.path,
                "set one of exec, argocd or push",
                Some("remove status to use exec without commands".into()),
            );
            None
        }
        [kind] => {
            let inner = fields.get(kind)?;
            let g = inner.f();
            match *kind {
                "exec" => object(cx, g, &["sync", "health", "healthTimeout"], |cx, e| {
                    let sync = opt(cx, e, "sync", non_empty);
                    let health = opt(cx, e, "health", non_empty);
                    let health_timeout = health_timeout(cx, e);
                    Some(StatusSource::Exec(ExecStatus {
                        sync: sync?,
                        health: health?,
                        health_timeout: health_timeout?,
                    }))
                }),
                "argocd" => object(cx, g, &ARGOCD_FIELDS, |cx, a| {
                    let server = opt(cx, a, "server", non_empty);
                    let application = opt(cx, a, "application", non_empty);
                    let token_secret = opt(cx, a, "tokenSecret", non_empty);
                    let health_timeout = health_timeout(cx, a);
                    let refresh = opt(cx, a, "refresh", |cx, f| {
                        one_of(
                            cx,
                            f,
                            "refresh",
                            &[("normal", ArgoRefresh::Normal), ("hard", ArgoRefresh::Hard)],
                            &["normal", "hard"],
                        )
                    });
                    let request_sync = opt(cx, a, "requestSync", boolean);
                    let app_namespace = opt(cx, a, "appNamespace", non_empty);
                    let project = opt(cx, a, "project", non_empty);
                    Some(StatusSource::ArgoCd(ArgoCdStatus {
                        server: server?,
                        application: application?.unwrap_or_else(|| app.to_string()),
                        token_secret: token_secret?,
                        health_timeout: health_timeout?,
                        refresh: refresh?.unwrap_or_default(),
                        request_sync: request_sync?.unwrap_or(false),
                        app_namespace: app_namespace?,
                        project: project?,
                    }))
                }),
                _ => object(cx, g, &["healthTimeout"], |cx, p| {
                    Some(StatusSource::Push { health_timeout: health_timeout(cx, p)? })
                }),
            }
        }
        [_, second, ..] => {
            let pos = fields.key_pos(second).unwrap_or(f.node.pos);
            cx.error(
                pos,
                &join(f.path, second),
                format!("set only one of exec, argocd or push (found {})", present.join(", ")),
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Argo CD Application

const PRODUCT_ANNOTATIONS: [&str; 2] = ["ferry/product", "codefresh.io/product"];
const COMPONENT_ANNOTATION: &str = "ferry/component";
const CODEFRESH_COMPONENT_ANNOTATION: &str = "codefresh.io/component";
const ARGO_IN_CLUSTER: &str = "https://kubernetes.default.svc";

fn argo_application(cx: &mut Cx<'_>, top: &Fields<'_>) -> (Option<(String, Pos)>, Option<Decoded>) {
    // Real manifests carry many fields Ferry does not use: read leniently, reject nothing unknown.
    let Some(meta_f) = top.req(cx, "metadata") else { return (None, None) };
    let Some(meta) = Fields::new(cx, meta_f.f(), None) else { return (None, None) };
    let annotations_f = meta.opt("annotations");
    let annotations = match &annotations_f {
        Some(a) => string_map(cx, a.f()),
        None => Some(Labels::new()),
    };
    let Some(annotations) = annotations else { return (None, None) };
    let products: Vec<(&str, &String)> =
        PRODUCT_ANNOTATIONS.iter().filter_map(|k| annotations.get(*k).map(|v| (*k, v))).collect();
    let Some(&(product_key, product_value)) = products.first() else {
        // Not managed by Ferry: skipped without a word.
        return (None, None);
    };
    let annotation_path = |key: &str| join(&join("metadata", "annotations"), key);
    let annotation_pos = |key: &str| {
        annotations_f
            .as_ref()
            .and_then(|a| match &a.node.kind {
                NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(_, v)| v.pos),
                _ => None,
            })
            .unwrap_or(meta.pos())
    };
    if let Some(&(other_key, other_value)) = products.get(1)
        && other_value != product_value
    {
        cx.error(
            annotation_pos(other_key),
            &annotation_path(other_key),
            format!("names product {other_value:?} but {product_key} names {product_value:?}; keep one annotation"),
        );
    }
    let product = match ProductName::new(product_value.clone()) {
        Ok(p) => Some(p),
        Err(e) => {
            cx.error(annotation_pos(product_key), &annotation_path(product_key), e.to_string());
            None
        }
    };
    // `codefresh.io/component` is read like `ferry/component` (the former wins when both are set).
    let component_key = if annotations.contains_key(COMPONENT_ANNOTATION) {
        COMPONENT_ANNOTATION
    } else {
        CODEFRESH_COMPONENT_ANNOTATION
    };
    let component = match annotations.get(component_key) {
        None => product.as_ref().and_then(|p| ComponentName::new(p.as_str()).ok()),
        Some(c) => match ComponentName::new(c.clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                cx.error(annotation_pos(component_key), &annotation_path(component_key), e.to_string());
                None
            }
        },
    };
    let name = meta.req(cx, "name").and_then(|n| {
        let app = valid_name(cx, n.f(), AppName::new)?;
        Some((app, n.node.pos))
    });
    let labels = meta.opt("labels").map(|l| string_map(cx, l.f())).unwrap_or(Some(Labels::new()));
    let Some(spec) = top.req(cx, "spec").and_then(|s| Fields::new(cx, s.f(), None)) else {
        return (name.map(|(n, p)| (n.to_string(), p)), None);
    };
    let source = argo_source(cx, &spec);
    let destination = req(cx, &spec, "destination", |cx, f| {
        let d = Fields::new(cx, f, None)?;
        let dest_name = opt(cx, &d, "name", non_empty)?;
        let server = opt(cx, &d, "server", non_empty)?;
        let namespace = opt(cx, &d, "namespace", non_empty)?;
        if dest_name.is_none() && server.is_none() {
            cx.error(d.pos(), d.path(), "set destination.name or destination.server");
            return None;
        }
        Some((dest_name, server, namespace))
    });
    let name_out = name.as_ref().map(|(n, p)| (n.to_string(), *p));
    let (
        Some((app_name, _)),
        Some(product),
        Some(component),
        Some(source),
        Some((dest_name, dest_server, namespace)),
        Some(labels),
    ) = (name, product, component, source, destination, labels)
    else {
        return (name_out, None);
    };
    let status = StatusSource::ArgoCd(ArgoCdStatus::named(app_name.as_str()));
    let app = Application {
        name: app_name,
        product,
        // placeholder until the destination is matched against the environments
        environment: match EnvName::new("unplaced") {
            Ok(placeholder) => placeholder,
            Err(_) => return (name_out, None),
        },
        component,
        source,
        status,
        labels,
        namespace,
    };
    (name_out, Some(Decoded::ArgoApp(Box::new(ArgoApp { app, dest_name, dest_server, product_key }))))
}

fn argo_source(cx: &mut Cx<'_>, spec: &Fields<'_>) -> Option<AppSource> {
    let single = spec.opt("source");
    let field = match (single, spec.opt("sources")) {
        (Some(s), _) => s,
        (None, Some(many)) => {
            let items = list(cx, many.f())?;
            match <[OwnedField<'_>; 1]>::try_from(items) {
                Ok([only]) => only,
                Err(_) => {
                    cx.error(
                        many.node.pos,
                        &many.path,
                        "Ferry reads applications with exactly one source; multi-source applications are not supported",
                    );
                    return None;
                }
            }
        }
        (None, None) => {
            cx.error(spec.pos(), &join(spec.path(), "source"), "missing required field \"source\"");
            return None;
        }
    };
    let s = Fields::new(cx, field.f(), None)?;
    let repo_url = req(cx, &s, "repoURL", non_empty);
    let path = opt(cx, &s, "path", |cx, f| repo_path(cx, f, true));
    let target_revision = opt(cx, &s, "targetRevision", non_empty);
    Some(AppSource {
        repo_url: repo_url?,
        path: path?.unwrap_or_default(),
        target_revision: target_revision?.unwrap_or_else(|| "HEAD".into()),
    })
}

/// The cluster names an Argo CD destination may be known by in an Environment's `clusters`.
pub(crate) fn destination_aliases(dest_name: Option<&str>, dest_server: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for v in [dest_name, dest_server].into_iter().flatten() {
        out.push(v.to_owned());
        if v == ARGO_IN_CLUSTER {
            out.push("in-cluster".into());
        }
        if v == "in-cluster" {
            out.push(ARGO_IN_CLUSTER.into());
        }
    }
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------------------
// Product

fn product(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String, labels: Labels, _dialect: Dialect) -> Option<Product> {
    spec.reject_unknown(
        cx,
        &["promotionTemplateRef", "promotionTemplate", "promotionFlows", "concurrency", "releaseNotes"],
    );
    let name = named(cx, spec, name, ProductName::new);
    let template_ref = opt(cx, spec, "promotionTemplateRef", |cx, f| valid_name(cx, f, TemplateName::new));
    let inline =
        opt(cx, spec, "promotionTemplate", |cx, f| object(cx, f, &["versionSource", "promotion"], template_spec));
    if let (Some(Some(_)), Some(Some(_))) = (&template_ref, &inline) {
        let pos = spec.key_pos("promotionTemplateRef").unwrap_or(spec.pos());
        cx.warn(
            pos,
            &join(spec.path(), "promotionTemplateRef"),
            "ignored: the inline promotionTemplate wins; keep only one of them",
        );
    }
    let flows = opt(cx, spec, "promotionFlows", |cx, f| {
        let items = list_of(cx, f, |cx, f| {
            object(cx, f, &["name", "gitTriggerSelectors"], |cx, s| {
                let flow = req(cx, s, "name", |cx, f| valid_name(cx, f, FlowName::new));
                let selectors = opt(cx, s, "gitTriggerSelectors", |cx, f| list_of(cx, f, trigger_selector));
                Some((flow?, selectors?.unwrap_or_default(), s.get("name").map(|n| (n.node.pos, n.path))))
            })
        })?;
        let mut out: Vec<FlowSelection> = Vec::new();
        let mut ok = true;
        for (i, (flow, selectors, at)) in items.into_iter().enumerate() {
            if let Some(first) = out.iter().position(|s| s.flow == flow) {
                let (pos, path) = at.unwrap_or((f.node.pos, index(f.path, i)));
                cx.error(
                    pos,
                    &path,
                    format!("flow {:?} is listed twice (first at promotionFlows[{first}])", flow.as_str()),
                );
                ok = false;
            }
            out.push(FlowSelection { flow, git_trigger_selectors: selectors });
        }
        ok.then_some(out)
    });
    let concurrency = opt(cx, spec, "concurrency", |cx, f| {
        one_of(
            cx,
            f,
            "concurrency",
            &[("queue", Concurrency::Queue), ("terminate", Concurrency::Terminate)],
            &["queue", "terminate"],
        )
    });
    let release_notes = opt(cx, spec, "releaseNotes", |cx, f| {
        object(cx, f, &["issuePatterns", "issueUrl", "jiraProjects"], |cx, r| {
            let issue_patterns = opt(cx, r, "issuePatterns", |cx, f| list_of(cx, f, issue_pattern));
            let issue_url = opt(cx, r, "issueUrl", |cx, f| {
                let map = string_map(cx, f)?;
                if let NodeKind::Map(entries) = &f.node.kind {
                    for (k, v) in entries {
                        if let Some(url) = v.scalar()
                            && !url.contains("{id}")
                        {
                            let key = k.scalar().unwrap_or_default();
                            cx.warn(
                                v.pos,
                                &join(f.path, key),
                                format!("link template {url:?} has no {{id}} placeholder"),
                            );
                        }
                    }
                }
                Some(map.into_iter().collect::<BTreeMap<_, _>>())
            });
            let jira_projects = opt(cx, r, "jiraProjects", |cx, f| {
                list_of(cx, f, |cx, f| {
                    let key = string(cx, f)?;
                    let mut chars = key.chars();
                    let ok = chars.next().is_some_and(|c| c.is_ascii_uppercase())
                        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if !ok {
                        cx.error(
                            f.node.pos,
                            f.path,
                            format!("Jira project key {key:?} is invalid: use upper-case letters, digits and '_', starting with a letter"),
                        );
                        return None;
                    }
                    Some(key)
                })
            });
            Some(ReleaseNotesConfig {
                issue_patterns: issue_patterns?.unwrap_or_default(),
                issue_url: issue_url?.unwrap_or_default(),
                jira_projects: jira_projects?.unwrap_or_default(),
            })
        })
    });
    Some(Product {
        name: name?,
        labels,
        promotion_template: inline?,
        promotion_template_ref: template_ref?,
        promotion_flows: flows?.unwrap_or_default(),
        concurrency: concurrency?.unwrap_or_default(),
        release_notes: release_notes?.unwrap_or_default(),
    })
}

fn trigger_selector(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<TriggerSelector> {
    object(cx, f, &["key", "operator", "values"], |cx, s| {
        let key = req(cx, s, "key", |cx, f| {
            one_of(
                cx,
                f,
                "selector key",
                &[("gitRevision", TriggerKey::GitRevision), ("commitMessage", TriggerKey::CommitMessage)],
                &["gitRevision", "commitMessage"],
            )
        });
        let operator = req(cx, s, "operator", |cx, f| {
            one_of(
                cx,
                f,
                "operator",
                &[("In", SelectorOperator::In), ("NotIn", SelectorOperator::NotIn)],
                &["In", "NotIn"],
            )
        });
        let values = req(cx, s, "values", |cx, f| {
            let values = list_of(cx, f, string)?;
            if values.is_empty() {
                cx.error(f.node.pos, f.path, "list at least one value (globs such as \"hotfix/*\")");
                return None;
            }
            Some(values)
        });
        Some(TriggerSelector { key: key?, operator: operator?, values: values? })
    })
}

fn issue_pattern(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<IssuePattern> {
    let text = string(cx, f)?;
    let hint = Some("write \"KIND:regex\", e.g. \"JIRA:[A-Z][A-Z0-9]+-\\\\d+\"".to_owned());
    let Some((kind, pattern)) = text.split_once(':') else {
        cx.error_hint(f.node.pos, f.path, format!("issue pattern {text:?} has no KIND: prefix"), hint);
        return None;
    };
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        cx.error_hint(f.node.pos, f.path, format!("issue pattern kind {kind:?} must be letters, digits or '_'"), hint);
        return None;
    }
    if pattern.is_empty() {
        cx.error_hint(f.node.pos, f.path, format!("issue pattern {text:?} has an empty regular expression"), hint);
        return None;
    }
    if let Err(e) = regex::Regex::new(pattern) {
        let detail = e.to_string();
        let reason = detail.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or(detail.as_str()).to_owned();
        cx.error(f.node.pos, f.path, format!("invalid regular expression {pattern:?}: {reason}"));
        return None;
    }
    Some(IssuePattern { kind: kind.to_owned(), pattern: pattern.to_owned() })
}

// ---------------------------------------------------------------------------------------------
// PromotionTemplate

fn template_spec(cx: &mut Cx<'_>, t: &Fields<'_>) -> Option<TemplateSpec> {
    let version_source = opt(cx, t, "versionSource", |cx, f| {
        object(cx, f, &["file", "jsonPath"], |cx, v| {
            let file = req(cx, v, "file", |cx, f| repo_path(cx, f, false));
            let json_path = req(cx, v, "jsonPath", json_path);
            Some(VersionSource { file: file?, json_path: json_path? })
        })
    });
    let promotion = opt(cx, t, "promotion", |cx, f| {
        let files = Fields::new(cx, f, None)?;
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (file, key, value) in files.entries() {
            let path = join(files.path(), file);
            let key_field = Field { node: key, path: &path };
            let file = repo_path(cx, key_field, false);
            let paths = object(cx, Field { node: value, path: &path }, &["jsonPaths"], |cx, p| {
                req(cx, p, "jsonPaths", |cx, f| {
                    let paths = list_of(cx, f, json_path)?;
                    if paths.is_empty() {
                        cx.error_hint(
                            f.node.pos,
                            f.path,
                            "list at least one JSONPath",
                            Some("to promote whole files, leave promotion empty".into()),
                        );
                        return None;
                    }
                    Some(paths)
                })
            });
            match (file, paths) {
                (Some(file), Some(_)) if out.contains_key(&file) => {
                    cx.error(
                        key.pos,
                        &path,
                        format!("{file:?} is listed twice (paths are relative to the application)"),
                    );
                    ok = false;
                }
                (Some(file), Some(paths)) => {
                    out.insert(file, paths);
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    });
    Some(TemplateSpec { version_source: version_source?, promotion: promotion?.unwrap_or_default() })
}

fn template(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String, dialect: Dialect) -> Option<PromotionTemplate> {
    spec.reject_unknown(cx, &["applicationSourceSelector", "priority", "versionSource", "promotion"]);
    let name = named(cx, spec, name, TemplateName::new);
    let selector = opt(cx, spec, "applicationSourceSelector", |cx, f| {
        let known: &[&str] = match dialect {
            Dialect::Ferry => &["matchLabels"],
            Dialect::Codefresh => &["matchLabels", "matchExpressions"],
        };
        object(cx, f, known, |cx, s| {
            if let Some(e) = s.get("matchExpressions") {
                cx.error_hint(
                    e.node.pos,
                    &e.path,
                    "matchExpressions is not supported by Ferry",
                    Some("select applications with matchLabels".into()),
                );
                return None;
            }
            let labels = opt(cx, s, "matchLabels", string_map)?.unwrap_or_default();
            let match_labels = match dialect {
                Dialect::Ferry => labels,
                // The commercial product's implicit keys are Ferry's implicit `ferry/*` labels.
                Dialect::Codefresh => labels
                    .into_iter()
                    .map(|(k, v)| match k.strip_prefix("codefresh.io/") {
                        Some(rest @ ("product" | "environment" | "component")) => (format!("ferry/{rest}"), v),
                        _ => (k, v),
                    })
                    .collect(),
            };
            Some(LabelSelector { match_labels })
        })
    });
    let priority = opt(cx, spec, "priority", int);
    let body = template_spec(cx, spec);
    Some(PromotionTemplate {
        name: name?,
        application_source_selector: selector?,
        priority: priority?.unwrap_or(0),
        spec: body?,
    })
}

// ---------------------------------------------------------------------------------------------
// PromotionFlow

fn flow(
    cx: &mut Cx<'_>,
    spec: &mut Fields<'_>,
    name: String,
    annotations: &Labels,
    dialect: Dialect,
) -> Option<PromotionFlow> {
    let mut known = vec!["triggerEnvironment", "triggerWorkflow", "steps", "hooks", "promotionTimeoutLimit"];
    if dialect == Dialect::Codefresh {
        known.push("postTrigger");
    }
    spec.reject_unknown(cx, &known);
    let name = named(cx, spec, name, FlowName::new);
    let trigger = req(cx, spec, "triggerEnvironment", env_name);
    let trigger_workflow = opt(cx, spec, "triggerWorkflow", workflow_name);
    let steps = req(cx, spec, "steps", |cx, f| {
        list_of(cx, f, |cx, f| {
            object(cx, f, &["environment", "dependsOn", "policy", "hooks"], |cx, s| {
                let environment = req(cx, s, "environment", env_name);
                let depends_on = opt(cx, s, "dependsOn", |cx, f| list_of(cx, f, env_name));
                let policy = opt(cx, s, "policy", policy_fields);
                let hooks = opt(cx, s, "hooks", hooks);
                Some(FlowStep {
                    environment: environment?,
                    depends_on: depends_on?.unwrap_or_default(),
                    policy: policy?.unwrap_or_default(),
                    hooks: hooks?.unwrap_or_default(),
                })
            })
        })
    });
    let mut hooks = opt(cx, spec, "hooks", hooks);
    if let Some(post) = spec.opt("postTrigger") {
        // Deprecated in the commercial product's schema in favour of hooks.onStart.
        let workflow = workflow_name(cx, post.f());
        if let (Some(w), Some(h)) = (workflow, hooks.as_mut()) {
            let h = h.get_or_insert_with(Hooks::default);
            if h.on_start.is_some() {
                cx.error(post.node.pos, &post.path, "postTrigger and hooks.onStart are both set; keep hooks.onStart");
            } else {
                cx.warn(post.node.pos, &post.path, "postTrigger is deprecated; read as hooks.onStart");
                h.on_start = Some(w);
            }
        }
    }
    let timeout = opt(cx, spec, "promotionTimeoutLimit", minutes_or_duration);
    Some(PromotionFlow {
        name: name?,
        description: annotations.get("description").cloned(),
        version: annotations.get("version").cloned(),
        trigger_environment: trigger?,
        trigger_workflow: trigger_workflow?,
        steps: steps?,
        hooks: hooks?.unwrap_or_default(),
        timeout: timeout?.unwrap_or(DEFAULT_FLOW_TIMEOUT),
    })
}

/// Accepted spellings of the promotion action (the commercial product spells them the same way).
const ACTIONS: &[(&str, Action)] = &[("commit", Action::Commit), ("pr", Action::Pr), ("none", Action::None)];

fn policy_fields(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<PolicyFields> {
    const FIELDS: [&str; 7] =
        ["action", "preAction", "postAction", "pullRequest", "soakTime", "approval", "autoRollback"];
    object(cx, f, &FIELDS, |cx, p| {
        let action = opt(cx, p, "action", |cx, f| one_of(cx, f, "action", ACTIONS, &["commit", "pr", "none"]));
        let pre_action = opt(cx, p, "preAction", workflow_name);
        let post_action = opt(cx, p, "postAction", workflow_name);
        let pull_request = opt(cx, p, "pullRequest", git_provider::pull_request_options);
        let soak_time = opt(cx, p, "soakTime", governance::soak_time);
        let approval = opt(cx, p, "approval", governance::approval);
        let auto_rollback = opt(cx, p, "autoRollback", boolean);
        Some(PolicyFields {
            action: action?,
            pre_action: pre_action?,
            post_action: post_action?,
            pull_request: pull_request?,
            soak_time: soak_time?,
            approval: approval?,
            auto_rollback: auto_rollback?,
        })
    })
}

fn hooks(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Hooks> {
    object(cx, f, &["onStart", "onSuccess", "onFail"], |cx, h| {
        let on_start = opt(cx, h, "onStart", workflow_name);
        let on_success = opt(cx, h, "onSuccess", workflow_name);
        let on_fail = opt(cx, h, "onFail", workflow_name);
        Some(Hooks { on_start: on_start?, on_success: on_success?, on_fail: on_fail? })
    })
}

// ---------------------------------------------------------------------------------------------
// PromotionPolicy

fn policy(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String, dialect: Dialect) -> Option<PromotionPolicy> {
    spec.reject_unknown(cx, &["priority", "selector", "policy"]);
    let name = named(cx, spec, name, PolicyName::new);
    let priority = opt(cx, spec, "priority", int);
    let selector = opt(cx, spec, "selector", |cx, f| {
        object(cx, f, &["product", "targetEnvironment"], |cx, s| {
            let product = opt(cx, s, "product", |cx, f| {
                object(cx, f, &with_tags(dialect, &["names", "matchLabels"]), |cx, p| {
                    no_tags(cx, p)?;
                    let names =
                        opt(cx, p, "names", |cx, f| list_of(cx, f, |cx, f| valid_name(cx, f, ProductName::new)));
                    let labels = opt(cx, p, "matchLabels", string_map);
                    Some(ProductSelector { names: names?, match_labels: labels? })
                })
            });
            let target = opt(cx, s, "targetEnvironment", |cx, f| {
                object(cx, f, &with_tags(dialect, &["names", "types"]), |cx, e| {
                    no_tags(cx, e)?;
                    let names = opt(cx, e, "names", |cx, f| list_of(cx, f, env_name));
                    let types = opt(cx, e, "types", |cx, f| {
                        list_of(cx, f, |cx, f| {
                            one_of(
                                cx,
                                f,
                                "environment type",
                                &[
                                    ("PROD", EnvironmentType::Production),
                                    ("NON_PROD", EnvironmentType::NonProduction),
                                    ("production", EnvironmentType::Production),
                                    ("non-production", EnvironmentType::NonProduction),
                                ],
                                &["PROD", "NON_PROD"],
                            )
                        })
                    });
                    Some(EnvironmentSelector { names: names?, types: types? })
                })
            });
            Some(PolicySelector {
                product: product?.unwrap_or_default(),
                target_environment: target?.unwrap_or_default(),
            })
        })
    });
    let fields = req(cx, spec, "policy", policy_fields);
    if let Some(PolicyFields {
        action: None,
        pre_action: None,
        post_action: None,
        pull_request: None,
        soak_time: None,
        approval: None,
        auto_rollback: None,
    }) = &fields
    {
        let pos = spec.opt("policy").map(|p| p.node.pos).unwrap_or(spec.pos());
        cx.warn(pos, &join(spec.path(), "policy"), "sets none of action, preAction or postAction; it has no effect");
    }
    Some(PromotionPolicy {
        name: name?,
        priority: priority?.unwrap_or(0),
        selector: selector?.unwrap_or_default(),
        policy: fields?,
    })
}

/// The commercial product's selectors also accept `tags`, which Ferry cannot evaluate: known there,
/// then refused by [`no_tags`] with a clear message rather than as an unknown field.
fn with_tags(dialect: Dialect, known: &[&'static str]) -> Vec<&'static str> {
    let mut out = known.to_vec();
    if dialect == Dialect::Codefresh {
        out.push("tags");
    }
    out
}

fn no_tags(cx: &mut Cx<'_>, fields: &Fields<'_>) -> Option<()> {
    if let Some(t) = fields.get("tags") {
        cx.error_hint(t.node.pos, &t.path, "tags are not supported by Ferry", Some("select by names".into()));
        return None;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------------
// Workflow

/// Most retries a step may ask for.
const MAX_RETRIES: i64 = 100;

fn workflow(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String) -> Option<Workflow> {
    spec.reject_unknown(cx, &["timeout", "params", "steps", "argo"]);
    let name = named(cx, spec, name, WorkflowName::new);
    let timeout = opt(cx, spec, "timeout", duration);
    let params = opt(cx, spec, "params", |cx, f| {
        let params = list_of(cx, f, |cx, f| {
            object(cx, f, &["name", "default", "secret"], |cx, p| {
                let name = req(cx, p, "name", |cx, f| valid_name(cx, f, ParamName::new));
                let default = opt(cx, p, "default", string);
                let secret = opt(cx, p, "secret", boolean);
                let param = WorkflowParam { name: name?, default: default?, secret: secret?.unwrap_or(false) };
                Some((param, p.get("name").map(|n| (n.node.pos, n.path))))
            })
        })?;
        let mut out: Vec<WorkflowParam> = Vec::new();
        let mut ok = true;
        for (param, at) in params {
            if out.iter().any(|p| p.name == param.name) {
                let (pos, path) = at.unwrap_or((f.node.pos, f.path.to_owned()));
                cx.error(pos, &path, format!("parameter {:?} is defined twice", param.name.as_str()));
                ok = false;
            }
            out.push(param);
        }
        ok.then_some(out)
    });
    let backend = opt(cx, spec, "argo", |cx, f| {
        object(cx, f, &["template", "namespace", "server", "serviceAccount", "tokenSecret"], |cx, a| {
            let template = req(cx, a, "template", non_empty);
            let namespace = opt(cx, a, "namespace", non_empty);
            let server = opt(cx, a, "server", non_empty);
            let service_account = opt(cx, a, "serviceAccount", non_empty);
            let token_secret = opt(cx, a, "tokenSecret", non_empty);
            Some(WorkflowBackend::Argo {
                template: template?,
                namespace: namespace?,
                server: server?,
                service_account: service_account?,
                token_secret: token_secret?,
            })
        })
    });
    let steps_field = spec.opt("steps");
    let steps = match &steps_field {
        None => Some(Vec::new()),
        Some(f) => list_of(cx, f.f(), workflow_step),
    };
    let argo_set = spec.opt("argo").is_some();
    match (&steps, &steps_field) {
        (Some(s), _) if s.is_empty() && !argo_set => {
            let (pos, path) = match &steps_field {
                Some(f) => (f.node.pos, f.path.clone()),
                None => (spec.pos(), join(spec.path(), "steps")),
            };
            cx.error_hint(
                pos,
                &path,
                "a workflow needs at least one step",
                Some("add steps, or set spec.argo to run an Argo WorkflowTemplate".into()),
            );
        }
        (Some(s), Some(f)) if !s.is_empty() && argo_set => {
            cx.error(f.node.pos, &f.path, "set either steps (local runner) or argo (Argo Workflows), not both");
        }
        _ => {}
    }
    let steps = steps?;
    if let Some(f) = &steps_field {
        check_step_graph(cx, f, &steps);
    }
    Some(Workflow {
        name: name?,
        timeout: timeout?,
        params: params?.unwrap_or_default(),
        steps,
        backend: backend?.unwrap_or_default(),
    })
}

fn workflow_step(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<WorkflowStep> {
    object(cx, f, &["name", "run", "approval", "dependsOn", "timeout", "retries"], |cx, s| {
        let name = req(cx, s, "name", |cx, f| valid_name(cx, f, StepName::new));
        let run = opt(cx, s, "run", |cx, f| {
            let script = string(cx, f)?;
            if script.trim().is_empty() {
                cx.error_hint(
                    f.node.pos,
                    f.path,
                    "run must not be empty",
                    Some("write the shell script to run".into()),
                );
                return None;
            }
            Some(script)
        });
        let approval = match s.get("approval") {
            None => Some(None),
            Some(a) => object(cx, a.f(), &["message"], |cx, m| {
                let message = opt(cx, m, "message", non_empty)?;
                Some(Some(message.unwrap_or_else(|| "Approve to continue".into())))
            }),
        };
        let depends_on = opt(cx, s, "dependsOn", |cx, f| list_of(cx, f, |cx, f| valid_name(cx, f, StepName::new)));
        let timeout = opt(cx, s, "timeout", duration);
        let retries = opt(cx, s, "retries", |cx, f| {
            let n = int(cx, f)?;
            if !(0..=MAX_RETRIES).contains(&n) {
                cx.error(f.node.pos, f.path, format!("retries must be between 0 and {MAX_RETRIES}, found {n}"));
                return None;
            }
            u32::try_from(n).ok()
        });
        let run_present = s.has("run");
        let kind = match (run?, approval?) {
            (Some(script), None) => Some(StepKind::Run(script)),
            (None, Some(message)) => Some(StepKind::Approval { message }),
            (Some(_), Some(_)) => {
                let pos = s.key_pos("approval").unwrap_or(s.pos());
                cx.error(pos, &join(s.path(), "approval"), "a step has either run or approval, not both");
                None
            }
            (None, None) => {
                if run_present {
                    let f = s.get("run")?;
                    cx.error_hint(
                        f.node.pos,
                        &f.path,
                        "run must not be empty",
                        Some("write the shell script to run".into()),
                    );
                } else {
                    cx.error_hint(
                        s.pos(),
                        &join(s.path(), "run"),
                        "missing required field \"run\"",
                        Some("a step runs a script (run: ...) or waits for a person (approval: {message: ...})".into()),
                    );
                }
                None
            }
        };
        Some(WorkflowStep {
            name: name?,
            kind: kind?,
            depends_on: depends_on?,
            timeout: timeout?,
            retries: retries?.unwrap_or(0),
        })
    })
}

/// Duplicate step names, unknown or self dependencies, and cycles (a step without `dependsOn` runs after
/// the previous one).
fn check_step_graph(cx: &mut Cx<'_>, steps_field: &OwnedField<'_>, steps: &[WorkflowStep]) {
    let items: Vec<&Node> = match &steps_field.node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => return,
    };
    let step_path = |i: usize| index(&steps_field.path, i);
    let child = |i: usize, key: &str| -> Option<&Node> {
        match &items.get(i)?.kind {
            NodeKind::Map(entries) => entries.iter().find(|(k, _)| k.scalar() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    };
    let mut first_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        if let Some(&first) = first_index.get(step.name.as_str()) {
            let pos = child(i, "name").map(|n| n.pos).unwrap_or(steps_field.node.pos);
            cx.error(
                pos,
                &join(&step_path(i), "name"),
                format!("step {:?} is already defined (steps[{first}])", step.name.as_str()),
            );
        } else {
            first_index.insert(step.name.as_str(), i);
        }
    }
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        match &step.depends_on {
            None if i > 0 => deps[i].push(i - 1),
            None => {}
            Some(list) => {
                for (k, dep) in list.iter().enumerate() {
                    let path = index(&join(&step_path(i), "dependsOn"), k);
                    let pos = match child(i, "dependsOn").map(|n| &n.kind) {
                        Some(NodeKind::Seq(d)) => d.get(k).map(|n| n.pos),
                        _ => None,
                    }
                    .unwrap_or(steps_field.node.pos);
                    match first_index.get(dep.as_str()) {
                        None => cx.error_hint(
                            pos,
                            &path,
                            format!("unknown step {:?}", dep.as_str()),
                            suggest::hint_or_list(dep.as_str(), names.iter().copied(), "steps of this workflow"),
                        ),
                        Some(&d) if d == i => cx.error(pos, &path, "a step cannot depend on itself"),
                        Some(&d) => deps[i].push(d),
                    }
                }
            }
        }
    }
    for cycle in ferry_model::graph::cycles(&deps) {
        let first = cycle[0];
        let text: Vec<&str> = cycle.iter().chain(std::iter::once(&first)).map(|&n| names[n]).collect();
        let pos = child(first, "dependsOn")
            .or_else(|| items.get(first).copied())
            .map(|n| n.pos)
            .unwrap_or(steps_field.node.pos);
        let path =
            if steps[first].depends_on.is_some() { join(&step_path(first), "dependsOn") } else { step_path(first) };
        cx.error(pos, &path, format!("dependency cycle: {}", text.join(" -> ")));
    }
}
