//! Valid fixtures load to the expected catalog.

use std::time::Duration;

use ferry_config::{ARGO_API, CODEFRESH_API, Kind, Loaded, load_paths, load_sources};
use ferry_model::flow::FlowGraph;
use ferry_model::names::*;
use ferry_model::resources::*;

use crate::{lines, source, tests_dir};

fn load(dir: &str) -> Loaded {
    match load_paths(&[tests_dir(dir)]) {
        Ok(loaded) => loaded,
        Err(d) => panic!("{dir} should load:\n{}", lines(&d)),
    }
}

fn env(name: &str) -> EnvName {
    EnvName::new(name).expect("env name")
}

fn strs<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

#[test]
fn native_config_loads() {
    let loaded = load("valid/native");
    let c = &loaded.catalog;
    assert!(loaded.warnings.is_empty(), "{}", lines(&loaded.warnings));
    assert_eq!(
        (c.environments.len(), c.applications.len(), c.products.len(), c.templates.len()),
        (4, 4, 1, 1),
        "the unmanaged Argo CD application is skipped"
    );
    assert_eq!((c.flows.len(), c.policies.len(), c.workflows.len()), (2, 2, 6));

    // environments
    let staging = &c.environments[&env("staging")];
    assert_eq!(staging.env_type, EnvironmentType::NonProduction);
    assert_eq!(staging.order, Some(30));
    assert_eq!(staging.labels.get("region").map(String::as_str), Some("eu"));
    assert_eq!(c.environments[&env("prod")].env_type, EnvironmentType::Production);
    assert_eq!(c.environments[&env("dev")].clusters[0].namespaces, vec!["shop-dev".to_owned()]);

    // flows: DAG, defaults, timeouts, annotations
    let standard = &c.flows[&FlowName::new("standard").expect("name")];
    assert_eq!(standard.description.as_deref(), Some("dev to prod"));
    assert_eq!(standard.version.as_deref(), Some("3.0"));
    assert_eq!(standard.trigger_workflow.as_ref().map(|w| w.as_str()), Some("smoke"));
    assert_eq!(standard.timeout, Duration::from_secs(90 * 60));
    assert_eq!(standard.hooks.on_fail.as_ref().map(|w| w.as_str()), Some("notify"));
    let staging_step = standard.step(&env("staging")).expect("staging step");
    assert!(staging_step.depends_on.is_empty(), "omitted dependsOn stays empty (= the trigger)");
    assert_eq!(staging_step.policy.action, Some(Action::Pr));
    assert_eq!(staging_step.policy.pre_action.as_ref().map(|w| w.as_str()), Some("db-migrate-check"));
    assert_eq!(strs(&standard.step(&env("prod")).expect("prod").depends_on), ["qa", "staging"]);
    assert_eq!(
        standard.step(&env("prod")).expect("prod").hooks.on_start.as_ref().map(|w| w.as_str()),
        Some("page-oncall")
    );
    let graph = FlowGraph::build(standard).expect("valid graph");
    assert_eq!(strs(&graph.dependencies(&env("staging"))), ["dev"]);
    assert_eq!(strs(&graph.dependencies(&env("prod"))), ["qa", "staging"]);
    let hotfix = &c.flows[&FlowName::new("hotfix").expect("name")];
    assert_eq!(hotfix.timeout, Duration::from_secs(5400), "1h30m");
    assert_eq!(hotfix.hooks, Hooks::default());

    // policies
    let pr = &c.policies[&PolicyName::new("prod-needs-pr").expect("name")];
    assert_eq!(pr.priority, 10);
    assert_eq!(pr.policy.action, Some(Action::Pr));
    assert_eq!(pr.policy.pre_action.as_ref().map(|w| w.as_str()), Some("change-freeze-check"));
    assert_eq!(pr.selector.product.names.as_deref().map(strs), Some(vec!["shop".to_owned()]));
    assert_eq!(pr.selector.target_environment.types, Some(vec![EnvironmentType::Production]));
    let smoke = &c.policies[&PolicyName::new("everywhere-smoke").expect("name")];
    assert_eq!(smoke.selector.target_environment.types, Some(vec![EnvironmentType::NonProduction]), "alias");
    assert_eq!(smoke.selector.product, ProductSelector::default());
    assert_eq!(smoke.policy.action, None);

    // template
    let t = &c.templates[&TemplateName::new("helm-images").expect("name")];
    assert_eq!(t.priority, 10);
    assert_eq!(t.application_source_selector.as_ref().map(|s| s.match_labels.len()), Some(1));
    let version = t.spec.version_source.as_ref().expect("version source");
    assert_eq!((version.file.as_str(), version.json_path.to_string()), ("Chart.yaml", "$.appVersion".to_owned()));
    assert_eq!(strs(&t.spec.promotion["values.yaml"]), ["$.image.tag", "$..resources"]);
    assert_eq!(strs(&t.spec.promotion["Chart.yaml"]), ["$.appVersion", "$.version"]);

    // product
    let shop = &c.products[&ProductName::new("shop").expect("name")];
    assert_eq!(shop.concurrency, Concurrency::Terminate);
    assert_eq!(shop.promotion_template_ref.as_ref().map(|t| t.as_str()), Some("helm-images"));
    assert_eq!(shop.promotion_flows.iter().map(|f| f.flow.as_str()).collect::<Vec<_>>(), ["hotfix", "standard"]);
    assert_eq!(
        shop.promotion_flows[0].git_trigger_selectors,
        vec![TriggerSelector {
            key: TriggerKey::GitRevision,
            operator: SelectorOperator::In,
            values: vec!["hotfix/*".into()]
        }]
    );
    assert!(shop.promotion_flows[1].git_trigger_selectors.is_empty());
    assert_eq!(
        shop.release_notes.issue_patterns[0],
        IssuePattern { kind: "JIRA".into(), pattern: "[A-Z][A-Z0-9]+-\\d+".into() }
    );
    assert_eq!(shop.release_notes.jira_projects, ["SHOP", "PAY"]);
    assert_eq!(shop.labels.get("team").map(String::as_str), Some("payments"));

    // applications: native status forms, path normalisation, the Argo CD one placed by destination
    let app = |n: &str| &c.applications[&AppName::new(n).expect("name")];
    let dev = app("shop-api-dev");
    assert_eq!(dev.source.path, "apps/shop-api/dev");
    assert_eq!(dev.component.as_str(), "api");
    match &dev.status {
        StatusSource::Exec(e) => {
            assert_eq!(e.sync.as_deref(), Some("./deploy.sh"));
            assert_eq!(e.health_timeout, Duration::from_secs(300));
        }
        other => panic!("exec expected, found {other:?}"),
    }
    assert_eq!(app("shop-api-qa").status, StatusSource::Push { health_timeout: DEFAULT_HEALTH_TIMEOUT });
    let staging_app = app("shop-api-staging");
    assert_eq!(staging_app.source.path, "apps/shop-api/staging");
    assert_eq!(
        staging_app.status,
        StatusSource::ArgoCd(ArgoCdStatus {
            server: Some("https://argocd.example".into()),
            application: "shop-api-staging".into(),
            token_secret: Some("ARGOCD_TOKEN".into()),
            health_timeout: Duration::from_secs(900),
            ..ArgoCdStatus::named("shop-api-staging")
        })
    );
    let prod = app("shop-api-prod");
    assert_eq!(prod.environment.as_str(), "prod");
    assert_eq!(prod.product.as_str(), "shop");
    assert_eq!(prod.component.as_str(), "api");
    assert_eq!(prod.namespace.as_deref(), Some("shop"));
    assert_eq!(prod.source.target_revision, "release");
    assert_eq!(prod.labels.get("team").map(String::as_str), Some("payments"));
    assert!(matches!(&prod.status, StatusSource::ArgoCd(a) if a.application == "shop-api-prod" && a.server.is_none()));
    assert_eq!(c.apps_in(&shop.name, &env("prod")).len(), 1);

    // workflows
    let e2e = &c.workflows[&WorkflowName::new("e2e").expect("name")];
    assert_eq!(e2e.timeout, Some(Duration::from_secs(20 * 60)));
    assert_eq!(e2e.params[0].default.as_deref(), Some("smoke"));
    let secrets: Vec<(&str, bool)> = e2e.params.iter().map(|p| (p.name.as_str(), p.secret)).collect();
    assert_eq!(secrets, [("SUITE", false), ("REPORT_TOKEN", true), ("SEED", false)], "secret defaults to false");
    assert_eq!(e2e.params[1].default, None);
    assert_eq!(e2e.steps[0].retries, 2);
    assert_eq!(e2e.steps[0].timeout, Some(Duration::from_secs(120)));
    assert_eq!(e2e.steps[0].depends_on, None);
    assert_eq!(e2e.steps[1].depends_on.as_deref().map(strs), Some(vec!["wait-ready".to_owned()]));
    assert!(matches!(&e2e.steps[1].kind, StepKind::Run(s) if s.contains("$FERRY_OUTPUT") && s.ends_with('\n')));
    assert_eq!(e2e.steps[2].kind, StepKind::Approval { message: "QA lead signs off".into() });
    assert_eq!(
        c.workflows[&WorkflowName::new("db-migrate-check").expect("name")].backend,
        WorkflowBackend::Argo {
            template: "migrate-check".into(),
            namespace: Some("ci".into()),
            server: Some("https://argo.example".into()),
            service_account: Some("ferry-runner".into()),
            token_secret: Some("ARGO_TOKEN".into()),
        }
    );

    // origins
    let origin = loaded.origin(Kind::Application, "shop-api-prod").expect("origin");
    assert_eq!((origin.document, origin.api_version.as_str()), (4, ARGO_API));
    assert!(origin.file.ends_with("applications.yaml"), "{}", origin.file);
    assert!(loaded.origin(Kind::Application, "monitoring").is_none(), "unmanaged apps are not recorded");
    assert_eq!(loaded.origins.len(), 20);
}

#[test]
fn codefresh_config_loads() {
    let loaded = load("valid/codefresh");
    let c = &loaded.catalog;
    assert!(loaded.warnings.is_empty(), "{}", lines(&loaded.warnings));

    // product with an inline template and selector-gated flows
    let demo = &c.products[&ProductName::new("demo-trioapp").expect("name")];
    let inline = demo.promotion_template.as_ref().expect("inline template");
    assert_eq!(inline.version_source.as_ref().map(|v| v.json_path.to_string()), Some("$.appVersionInline".into()));
    assert_eq!(strs(&inline.promotion["Chart.yaml"]), ["$.appVersion", "$.version", "$.dependencies"]);
    assert_eq!(strs(&inline.promotion["values.yaml"]), ["$..image"]);
    assert_eq!(demo.promotion_flows[0].flow.as_str(), "to-prod");
    assert_eq!(demo.promotion_flows[0].git_trigger_selectors[0].key, TriggerKey::CommitMessage);
    assert_eq!(demo.concurrency, Concurrency::Queue);
    let loans = &c.products[&ProductName::new("loans").expect("name")];
    assert_eq!(loans.promotion_template_ref.as_ref().map(|t| t.as_str()), Some("base-helm"));

    // template: the commercial product's implicit label keys become Ferry's
    let t = &c.templates[&TemplateName::new("base-helm").expect("name")];
    assert_eq!(t.priority, 1);
    let selector = t.application_source_selector.as_ref().expect("selector");
    assert_eq!(selector.match_labels.get("ferry/product").map(String::as_str), Some("loans"));
    assert_eq!(strs(&t.spec.promotion["requirements.yaml"]), ["$.dependencies"]);

    // flows: timeout minutes, explicit dependsOn, hooks, inline policies, `none`
    let flow = &c.flows[&FlowName::new("global-parallel-flow").expect("name")];
    assert_eq!(flow.timeout, Duration::from_secs(5 * 60), "a number is minutes");
    assert_eq!(flow.version.as_deref(), Some("1.0"));
    assert_eq!(flow.description.as_deref(), Some("Sequential promotion flow"));
    let staging = flow.step(&env("staging")).expect("staging");
    assert_eq!(strs(&staging.depends_on), ["dev"]);
    assert_eq!(staging.policy.action, Some(Action::Commit));
    assert_eq!(staging.policy.post_action.as_ref().map(|w| w.as_str()), Some("slack-notification"));
    assert_eq!(staging.hooks.on_fail.as_ref().map(|w| w.as_str()), Some("jira-open-bug"));
    assert_eq!(strs(&flow.step(&env("production")).expect("production").depends_on), ["staging"]);
    assert_eq!(flow.hooks.on_success.as_ref().map(|w| w.as_str()), Some("success-hook"));
    let to_prod = &c.flows[&FlowName::new("to-prod").expect("name")];
    assert_eq!(to_prod.timeout, Duration::from_secs(2 * 3600));
    assert_eq!(to_prod.steps[0].policy.action, Some(Action::None));

    // policies
    let demo_policy = &c.policies[&PolicyName::new("demo-policy").expect("name")];
    assert_eq!(demo_policy.priority, 2);
    assert_eq!(demo_policy.selector.target_environment.types, Some(vec![EnvironmentType::NonProduction]));
    assert_eq!(demo_policy.selector.target_environment.names.as_deref().map(strs), Some(vec!["staging".to_owned()]));
    assert_eq!(demo_policy.policy.pre_action.as_ref().map(|w| w.as_str()), Some("smoke-tests"));
    let prod_pr = &c.policies[&PolicyName::new("prod-pr").expect("name")];
    assert_eq!(prod_pr.selector.target_environment.types, Some(vec![EnvironmentType::Production]));
    let resolved = c.resolve_policy(&demo.name, Some(&to_prod.name), &env("production")).expect("resolves");
    assert_eq!(resolved.action.value, Action::None, "the flow's inline action wins");

    // Argo CD applications placed by destination: by name, by the in-cluster server URL, by server
    let app = |n: &str| &c.applications[&AppName::new(n).expect("name")];
    assert_eq!(app("demo-trioapp-dev").environment.as_str(), "dev");
    assert_eq!(app("demo-trioapp-staging").environment.as_str(), "staging");
    assert_eq!(app("demo-trioapp-prod").environment.as_str(), "production");
    assert_eq!(app("demo-trioapp-prod").source.target_revision, "HEAD", "Argo CD's default");
    assert_eq!(app("demo-trioapp-dev").component.as_str(), "demo-trioapp", "component defaults to the product");
    assert_eq!(c.apps_in(&demo.name, &env("staging")).len(), 1);

    assert_eq!(loaded.origin(Kind::Product, "demo-trioapp").map(|o| o.api_version.as_str()), Some(CODEFRESH_API));
    assert_eq!(loaded.origin(Kind::Product, "loans").map(|o| o.api_version.as_str()), Some("codefresh.io/v1beta2"));
}

const WARNINGS: &str = r#"
apiVersion: ferry/v1
kind: Environment
metadata: { name: dev }
spec: { type: non-production }
---
apiVersion: ferry/v1
kind: Environment
metadata: { name: prod }
spec: { type: production }
---
apiVersion: ferry/v1
kind: Product
metadata: { name: shop }
spec:
  promotionTemplateRef: helm
  promotionTemplate: { versionSource: { file: Chart.yaml, jsonPath: $.version } }
  promotionFlows: [ { name: standard }, { name: hotfix, gitTriggerSelectors: [ { key: gitRevision, operator: In, values: ["hotfix/*"] } ] } ]
  releaseNotes:
    issueUrl: { JIRA: "https://jira.example/browse/" }
---
apiVersion: ferry/v1
kind: PromotionTemplate
metadata: { name: helm }
spec: {}
---
apiVersion: codefresh.io/v1beta1
kind: PromotionFlow
metadata: { name: standard }
spec:
  triggerEnvironment: dev
  postTrigger: notify
  steps: [ { environment: prod, dependsOn: [dev] } ]
---
apiVersion: ferry/v1
kind: PromotionFlow
metadata: { name: hotfix }
spec:
  triggerEnvironment: dev
  steps: [ { environment: prod } ]
---
apiVersion: ferry/v1
kind: Workflow
metadata: { name: notify }
spec: { steps: [ { name: post, run: ./notify.sh } ] }
---
apiVersion: ferry/v1
kind: PromotionPolicy
metadata: { name: careful }
spec:
  selector:
    product: { names: [shopp] }
    targetEnvironment: { names: [production] }
  policy: {}
---
apiVersion: ferry/v1
kind: Application
metadata: { name: shop-dev }
spec:
  product: shop
  environment: dev
  source: { repoURL: file:///srv/gitops.git, targetRevision: main }
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: { name: shop }
spec: {}
"#;

#[test]
fn warnings_do_not_stop_loading() {
    let loaded = match load_sources(&[source("warnings.yaml", WARNINGS)]) {
        Ok(l) => l,
        Err(d) => panic!("{}", lines(&d)),
    };
    let flow = &loaded.catalog.flows[&FlowName::new("standard").expect("name")];
    assert_eq!(flow.hooks.on_start.as_ref().map(|w| w.as_str()), Some("notify"), "postTrigger is read as onStart");
    assert_eq!(loaded.catalog.applications.len(), 1);
    insta::assert_snapshot!("warnings", lines(&loaded.warnings));
}

#[test]
fn duplicate_names_across_files_are_reported_in_both() {
    let env = "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: qa }\nspec: { type: non-production }\n";
    let errors = load_sources(&[source("b.yaml", env), source("a.yaml", &format!("---\n{env}"))]).expect_err("dup");
    assert_eq!(
        lines(&errors),
        "error: a.yaml#1:4:19 metadata.name: duplicate environment name \"qa\" (also defined in b.yaml#1)\n\
         error: b.yaml#1:3:19 metadata.name: duplicate environment name \"qa\" (also defined in a.yaml#1)\n"
    );
}

#[test]
fn same_name_in_different_kinds_is_fine() {
    let text = "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: shop }\nspec: { type: production }\n\
                ---\napiVersion: ferry/v1\nkind: Product\nmetadata: { name: shop }\nspec: {}\n";
    let loaded = load_sources(&[source("x.yaml", text)]).expect("loads");
    assert_eq!(loaded.origin(Kind::Product, "shop").map(|o| o.line), Some(6));
}

#[test]
fn errors_in_one_document_do_not_hide_errors_in_others() {
    let text = "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: dev }\nspec: { type: prod }\n---\n\
                apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: f }\n\
                spec: { triggerEnvironment: dev, steps: [ { environment: nowhere } ] }\n";
    let errors = load_sources(&[source("x.yaml", text)]).expect_err("invalid");
    let text = lines(&errors);
    assert!(text.contains("invalid environment type \"prod\""), "{text}");
    // "dev" failed to decode but is still a known name: only "nowhere" is unknown
    assert!(text.contains("unknown environment \"nowhere\""), "{text}");
    assert!(!text.contains("unknown environment \"dev\""), "{text}");
}

#[test]
fn empty_input_is_an_empty_catalog() {
    let loaded =
        load_sources(&[source("empty.yaml", ""), source("comments.yaml", "# nothing\n---\n---\n")]).expect("loads");
    assert_eq!(loaded.catalog, Catalog::default());
    assert!(loaded.warnings.is_empty());
}

#[test]
fn diagnostics_serialize_for_json_output() {
    let errors = load_sources(&[source(
        "e.yaml",
        "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: production}\n",
    )])
    .expect_err("invalid");
    let unknown = errors.iter().find(|d| d.field == "spec.tyep").expect("unknown field reported");
    let json = serde_json::to_value(unknown).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "severity": "error", "file": "e.yaml", "document": 1, "line": 4, "column": 8,
            "field": "spec.tyep", "message": "unknown field \"tyep\"", "hint": "did you mean \"type\"?"
        })
    );
}

#[test]
fn argo_applications_take_the_component_from_either_annotation() {
    let app = |name: &str, annotation: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  annotations:\n    codefresh.io/product: trio\n    {annotation}\nspec:\n  destination: {{ name: in-cluster, namespace: dev }}\n  source: {{ repoURL: \"file:///g.git\", path: {name}, targetRevision: main }}\n---\n"
        )
    };
    let text = format!(
        "apiVersion: ferry/v1\nkind: Environment\nmetadata: {{ name: dev }}\nspec: {{ type: non-production, clusters: [ {{ name: in-cluster, namespaces: [dev] }} ] }}\n---\napiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: trio }}\nspec: {{}}\n---\n{}{}{}",
        app("trio-api", "codefresh.io/component: api"),
        app("trio-web", "ferry/component: web"),
        app("trio-both", "ferry/component: worker\n    codefresh.io/component: ignored"),
    );
    let loaded = load_sources(&[source("apps.yaml", &text)]).unwrap_or_else(|d| panic!("{}", lines(&d)));
    let component = |name: &str| loaded.catalog.applications[&AppName::new(name).unwrap()].component.to_string();
    assert_eq!(component("trio-api"), "api");
    assert_eq!(component("trio-web"), "web");
    assert_eq!(component("trio-both"), "worker");
}

/// The native fixture with `status.argocd` of shop-api-staging extended by `extra` (YAML lines at the
/// indentation of its fields).
fn native_with_argocd(extra: &str) -> Result<Loaded, Vec<ferry_config::Diagnostic>> {
    let dir = tests_dir("valid/native");
    let mut sources = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).expect("fixture dir").map(|e| e.expect("entry").path()).collect();
    names.sort();
    for path in names {
        let mut text = std::fs::read_to_string(&path).expect("fixture");
        if path.ends_with("applications.yaml") {
            text = text.replace("      healthTimeout: 15m\n", &format!("      healthTimeout: 15m\n{extra}"));
        }
        sources.push(source(&path.file_name().expect("file name").to_string_lossy(), &text));
    }
    load_sources(&sources)
}

#[test]
fn argocd_refresh_sync_namespace_and_project() {
    let extra = "      refresh: hard\n      requestSync: true\n      appNamespace: teams\n      project: shop\n";
    let loaded = native_with_argocd(extra).unwrap_or_else(|d| panic!("{}", lines(&d)));
    let app = &loaded.catalog.applications[&AppName::new("shop-api-staging").expect("name")];
    let StatusSource::ArgoCd(argo) = &app.status else { panic!("{:?}", app.status) };
    assert_eq!(argo.refresh, ArgoRefresh::Hard);
    assert!(argo.request_sync);
    assert_eq!((argo.app_namespace.as_deref(), argo.project.as_deref()), (Some("teams"), Some("shop")));

    let bad = native_with_argocd("      refresh: soft\n").unwrap_err();
    let text = lines(&bad);
    assert!(text.contains("invalid refresh \"soft\"; expected one of \"normal\", \"hard\""), "{text}");
}

#[test]
fn notifications_load_with_defaults_and_filters() {
    let text = "apiVersion: ferry/v1\nkind: Notification\nmetadata:\n  name: chat\nspec:\n  url: https://hooks.example.com/ferry\n  secret:\n    env: FERRY_HOOK_SECRET\n  format: slack\n  on:\n    products: [shop-*]\n    environments: [prod]\n    statuses: [Failed, Successful]\n---\napiVersion: ferry/v1\nkind: Notification\nmetadata:\n  name: all\nspec:\n  url: http://127.0.0.1:9/hook\n";
    let loaded = match load_sources(&[source("n.yaml", text)]) {
        Ok(l) => l,
        Err(d) => panic!("{}", lines(&d)),
    };
    let chat = &loaded.catalog.notifications[&NotificationName::new("chat").expect("name")];
    assert_eq!(chat.format, NotificationFormat::Slack);
    assert_eq!(chat.secret, Some(SecretSource::Env("FERRY_HOOK_SECRET".into())));
    assert!(chat.on.matches("shop-api", Some("prod"), "Failed"));
    assert!(!chat.on.matches("shop-api", Some("qa"), "Failed"), "environment filter");
    assert!(!chat.on.matches("billing", Some("prod"), "Failed"), "product filter");
    assert!(!chat.on.matches("shop-api", None, "Failed"), "a release change has no environment");
    let all = &loaded.catalog.notifications[&NotificationName::new("all").expect("name")];
    assert_eq!((all.format, all.secret.clone()), (NotificationFormat::Json, None));
    assert!(all.on.matches("anything", None, "Succeeded"));
    assert!(loaded.origin(Kind::Notification, "chat").is_some());
}

#[test]
fn git_providers_and_pull_request_blocks_load() {
    let text = "apiVersion: ferry/v1\nkind: GitProvider\nmetadata:\n  name: acme-github\nspec:\n  type: github\n  apiURL: https://github.example/api/v3/\n  app: { id: 42, privateKeyFile: /etc/ferry/app.pem }\n  webhookSecret: { file: /etc/ferry/hook-secret }\n  repositories:\n    - { url: \"file:///srv/git/gitops.git\", name: acme/gitops }\n    - { url: \"https://github.com/acme/*\" }\n---\napiVersion: ferry/v1\nkind: GitProvider\nmetadata:\n  name: tea\nspec:\n  type: forgejo\n  apiURL: https://codeberg.org/api/v1\n  token: { env: FERRY_GITEA_TOKEN }\n  repositories:\n    - { url: \"https://codeberg.org/acme/app.git\" }\n---\napiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata:\n  name: prod-pr\nspec:\n  policy:\n    action: pr\n    pullRequest: { labels: [promotion, prod], reviewers: [alice], draft: true, autoMerge: true }\n";
    let loaded = match load_sources(&[source("providers.yaml", text)]) {
        Ok(loaded) => loaded,
        Err(d) => panic!("should load:\n{}", lines(&d)),
    };
    let gh = &loaded.catalog.git_providers[&GitProviderName::new("acme-github").expect("name")];
    assert_eq!(gh.forge, ForgeType::Github);
    assert_eq!(gh.api_url.as_deref(), Some("https://github.example/api/v3"), "a final slash is dropped");
    assert_eq!(gh.app, Some(GithubApp { id: 42, private_key_file: "/etc/ferry/app.pem".into() }));
    assert_eq!(gh.webhook_secret, Some(SecretSource::File("/etc/ferry/hook-secret".into())));
    assert_eq!(gh.repositories[0].name.as_deref(), Some("acme/gitops"));
    assert_eq!(gh.repositories[1], ForgeRepository { url: "https://github.com/acme/*".into(), name: None });
    let tea = &loaded.catalog.git_providers[&GitProviderName::new("tea").expect("name")];
    assert_eq!((tea.forge, tea.token.clone()), (ForgeType::Gitea, Some(SecretSource::Env("FERRY_GITEA_TOKEN".into()))));
    let policy = &loaded.catalog.policies[&PolicyName::new("prod-pr").expect("name")];
    let expected = PullRequestOptions {
        labels: vec!["promotion".into(), "prod".into()],
        reviewers: vec!["alice".into()],
        draft: true,
        auto_merge: true,
    };
    assert_eq!(policy.policy.pull_request, Some(expected));
    assert!(loaded.origin(Kind::GitProvider, "tea").is_some());
}

#[test]
fn freezes_load_one_off_and_recurring_windows() {
    let text = "apiVersion: ferry/v1\nkind: Freeze\nmetadata:\n  name: weekend\nspec:\n  environments: [prod*]\n  products: [shop]\n  cron: \"0 16 * * FRI\"\n  duration: 64h\n  timeZone: Europe/Berlin\n  reason: weekend\n---\napiVersion: ferry/v1\nkind: Freeze\nmetadata:\n  name: xmas\nspec:\n  from: 2026-12-24T00:00:00+01:00\n  until: 2026-12-27T00:00:00+01:00\n";
    let loaded = match load_sources(&[source("f.yaml", text)]) {
        Ok(l) => l,
        Err(d) => panic!("{}", lines(&d)),
    };
    let name = |n: &str| ferry_model::names::FreezeName::new(n).expect("name");
    let weekend = &loaded.catalog.freezes[&name("weekend")];
    assert!(weekend.applies_to("shop", "prod-eu") && !weekend.applies_to("blog", "prod-eu"));
    let friday: jiff::Timestamp = "2026-12-04T15:00:00Z".parse().expect("time");
    assert_eq!(
        weekend.window.occurrence_at(friday).map(|(_, end)| end.to_string()),
        Some("2026-12-07T07:00:00Z".into())
    );
    let xmas = &loaded.catalog.freezes[&name("xmas")];
    assert!(xmas.applies_to("any", "env"), "no globs: everything");
    assert_eq!(xmas.window.next_after(friday).map(|(start, _)| start.to_string()), Some("2026-12-23T23:00:00Z".into()));
    assert!(loaded.origin(Kind::Freeze, "weekend").is_some());
}
