//! Building a release's snapshot at creation (SPEC §3.2): flow graph, resolved policies, applications,
//! the trigger commit and the version. Blocking: reads git through the mirror cache.

use std::collections::BTreeMap;

use ferry_git::{CommitInfo, redact};
use ferry_model::flow::FlowGraph;
use ferry_model::names::{EnvName, FlowName, ProductName};
use ferry_model::release::{AppSnapshot, EnvSnapshot, PolicySnapshot, ReleaseSnapshot, TriggerCommit};
use ferry_model::resources::{Application, Catalog, DEFAULT_FLOW_TIMEOUT, Hooks, Product};
use ferry_model::template::resolve_template;

use crate::handle::EngineError;
use crate::ports::GitPort;

/// Which environments a release covers.
#[derive(Debug, Clone)]
pub enum FlowChoice {
    /// A promotion flow.
    Flow(FlowName),
    /// A single-environment promotion (flow `manual`).
    Manual {
        /// Source environment.
        from: EnvName,
        /// Target environment.
        to: EnvName,
    },
}

fn invalid(message: impl Into<String>) -> EngineError {
    EngineError::Invalid { message: message.into(), details: Vec::new() }
}

fn git_err(e: ferry_git::GitError) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// The newest commit touching each application's path, fetched once per repository.
pub fn current_commits(git: &dyn GitPort, apps: &[&Application]) -> Result<Vec<CommitInfo>, EngineError> {
    let mut fetched: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(apps.len());
    for app in apps {
        let url = app.source.repo_url.as_str();
        if !fetched.contains(&url) {
            git.fetch(url).map_err(git_err)?;
            fetched.push(url);
        }
        let commit = git
            .last_commit_touching(url, &app.source.target_revision, &app.source.path)
            .map_err(git_err)?
            .ok_or_else(|| {
                invalid(format!(
                    "application {}: no commit on branch {} touches {}",
                    app.name,
                    app.source.target_revision,
                    if app.source.path.is_empty() { "the repository" } else { &app.source.path }
                ))
            })?;
        out.push(commit);
    }
    Ok(out)
}

/// The version of `app` at `commit` (SPEC §3.7), when its template has a version source.
pub fn read_app_version(
    git: &dyn GitPort,
    catalog: &Catalog,
    product: &Product,
    app: &Application,
    commit: &ferry_model::names::CommitSha,
) -> Result<Option<String>, EngineError> {
    let (spec, _) = resolve_template(product, app, catalog.templates.values()).map_err(|e| invalid(e.to_string()))?;
    let Some(source) = spec.version_source else { return Ok(None) };
    let path = join_path(&app.source.path, &source.file);
    let Some(bytes) = git.read_file(&app.source.repo_url, commit, &path).map_err(git_err)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(ferry_git::read_version(&text, &source.json_path))
}

/// `dir/file` without doubled or leading slashes.
pub fn join_path(dir: &str, file: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        file.trim_start_matches('/').to_owned()
    } else {
        format!("{dir}/{}", file.trim_start_matches('/'))
    }
}

/// Builds the snapshot of a new release.
pub fn build_snapshot(
    git: &dyn GitPort,
    catalog: &Catalog,
    product_name: &ProductName,
    choice: &FlowChoice,
    initiator: &str,
) -> Result<ReleaseSnapshot, EngineError> {
    let product = catalog
        .products
        .get(product_name)
        .ok_or_else(|| EngineError::NotFound(format!("product {:?} is not configured", product_name.as_str())))?;
    // (environment, dependencies, hooks) in flow order, trigger first.
    let (flow_label, flow_version, trigger_workflow, release_hooks, timeout, envs) = match choice {
        FlowChoice::Flow(name) => {
            let flow = catalog
                .flows
                .get(name)
                .ok_or_else(|| EngineError::NotFound(format!("flow {:?} is not configured", name.as_str())))?;
            let graph = FlowGraph::build(flow).map_err(|errors| EngineError::Invalid {
                message: format!("flow {name} is invalid"),
                details: errors.iter().map(|e| e.to_string()).collect(),
            })?;
            let envs: Vec<(EnvName, Vec<EnvName>, Hooks)> = graph
                .environments()
                .iter()
                .map(|env| {
                    let deps = graph.dependencies(env).into_iter().cloned().collect();
                    let hooks = flow.step(env).map(|s| s.hooks.clone()).unwrap_or_default();
                    (env.clone(), deps, hooks)
                })
                .collect();
            (
                name.to_string(),
                flow.version.clone(),
                flow.trigger_workflow.clone(),
                flow.hooks.clone(),
                flow.timeout,
                envs,
            )
        }
        FlowChoice::Manual { from, to } => {
            if from == to {
                return Err(invalid("--from and --to name the same environment"));
            }
            let envs =
                vec![(from.clone(), Vec::new(), Hooks::default()), (to.clone(), vec![from.clone()], Hooks::default())];
            ("manual".to_owned(), None, None, Hooks::default(), DEFAULT_FLOW_TIMEOUT, envs)
        }
    };
    let trigger_env = envs[0].0.clone();
    let trigger_apps = catalog.apps_in(product_name, &trigger_env);
    if trigger_apps.is_empty() {
        return Err(invalid(format!("product {product_name} has no application in environment {trigger_env}")));
    }
    let commits = current_commits(git, &trigger_apps)?;
    // The trigger commit: the newest of the trigger environment's applications.
    let newest =
        commits.iter().enumerate().max_by_key(|(i, c)| (c.date, std::cmp::Reverse(*i))).map(|(i, _)| i).unwrap_or(0);
    let trigger_app = trigger_apps[newest];
    let trigger = &commits[newest];
    let version = read_app_version(git, catalog, product, trigger_app, &trigger.sha)?;
    let by_component: BTreeMap<_, _> = trigger_apps
        .iter()
        .zip(&commits)
        .map(|(app, commit)| (app.component.clone(), (*app, commit.sha.clone())))
        .collect();
    let mut environments = Vec::with_capacity(envs.len());
    for (i, (env_name, depends_on, hooks)) in envs.iter().enumerate() {
        let env = catalog
            .environments
            .get(env_name)
            .ok_or_else(|| invalid(format!("environment {env_name} is not configured")))?;
        let is_trigger = i == 0;
        let apps = catalog.apps_in(product_name, env_name);
        if apps.is_empty() {
            return Err(invalid(format!("product {product_name} has no application in environment {env_name}")));
        }
        let mut applications = Vec::with_capacity(apps.len());
        for app in apps {
            let (source_app, source_revision) = if is_trigger {
                (None, by_component.get(&app.component).map(|(_, sha)| sha.clone()))
            } else {
                let (src, sha) = by_component.get(&app.component).ok_or_else(|| {
                    invalid(format!(
                        "application {} (component {}) has no application of the same component in {trigger_env} to promote from",
                        app.name, app.component
                    ))
                })?;
                (Some(src.name.clone()), Some(sha.clone()))
            };
            applications.push(AppSnapshot {
                name: app.name.clone(),
                component: app.component.clone(),
                repo_url: redact(&app.source.repo_url),
                path: app.source.path.clone(),
                branch: app.source.target_revision.clone(),
                source_app,
                source_revision,
            });
        }
        let policy = if is_trigger {
            None
        } else {
            let flow = match choice {
                FlowChoice::Flow(name) => Some(name),
                FlowChoice::Manual { .. } => None,
            };
            let resolved = catalog.resolve_policy(product_name, flow, env_name).map_err(|e| invalid(e.to_string()))?;
            Some(PolicySnapshot::from(&resolved))
        };
        environments.push(EnvSnapshot {
            name: env_name.clone(),
            env_type: env.env_type,
            depends_on: depends_on.clone(),
            is_trigger,
            policy,
            hooks: hooks.clone(),
            applications,
        });
    }
    let repo = redact(&trigger_app.source.repo_url);
    let snapshot = ReleaseSnapshot {
        product: product_name.clone(),
        flow: flow_label,
        flow_version,
        initiator: initiator.to_owned(),
        version,
        trigger: TriggerCommit {
            environment: trigger_env,
            sha: trigger.sha.clone(),
            message: trigger.message.trim_end().to_owned(),
            author_name: trigger.author_name.clone(),
            author_email: trigger.author_email.clone(),
            date: trigger.date,
            web_url: ferry_notes::links::commit_url(&repo, trigger.sha.as_str()),
            repo,
            branch: trigger_app.source.target_revision.clone(),
        },
        trigger_workflow,
        environments,
        release_hooks,
        timeout,
        rollback: None,
    };
    snapshot.check().map_err(EngineError::Internal)?;
    Ok(snapshot)
}
