//! Scenario 12 (scale of one installation): a thousand products whose trigger environments are polled
//! for new commits. Measures the CPU the polling costs the process that runs the engine (its threads
//! and the git processes it waits for), as a share of one core at SPEC §9's 30 s interval, beside the
//! CPU of the least any poller must do: one `git ls-remote` of each repository per interval.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_engine::EngineConfig;
use ferry_store::Store;

use crate::report::{Goal, Limit, Row, Unit};
use crate::rig::Rig;
use crate::stats::Stat;
use crate::util::{bare_repo, git};

/// The interval SPEC §9 states the target for.
const SPEC_INTERVAL: Duration = Duration::from_secs(30);

/// Products per configuration file (two applications and the product: three documents each).
const PER_FILE: usize = 300;

/// CPU time this process and the children it has waited for have used so far (`/proc/self/stat`:
/// utime, stime, cutime, cstime, in the kernel's fixed 100 Hz clock ticks).
pub fn cpu_seconds() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The command name (field 2) is in parentheses and may contain spaces: count after its end.
    let rest = text.rsplit_once(')').map(|(_, r)| r).context("no command name in /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime is field 14.
    let ticks: u64 =
        fields.get(11..15).context("short /proc/self/stat")?.iter().filter_map(|f| f.parse::<u64>().ok()).sum();
    Ok(ticks as f64 / 100.0)
}

/// The product of number `i`, in repository `i % repos`.
fn product(i: usize) -> String {
    format!("poll{i:04}")
}

/// The configuration: environments `pdev` (trigger) → `pprod`, policy `action: none`, and per product
/// one application in each, exec status without commands, at `products/<name>` of its repository.
fn config_yaml(products: usize, urls: &[String]) -> Vec<String> {
    let mut files = vec![
        "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: pdev }\nspec: { type: non-production }\n---\n\
         apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: pprod }\nspec: { type: production }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: polled }\nspec:\n  triggerEnvironment: pdev\n  steps:\n    - { environment: pprod, dependsOn: [pdev] }\n---\n\
         apiVersion: ferry/v1\nkind: PromotionPolicy\nmetadata: { name: all }\nspec: { priority: 100, policy: { action: none } }\n"
            .to_owned(),
    ];
    let mut out = String::new();
    for i in 0..products {
        if i > 0 && i % PER_FILE == 0 {
            files.push(std::mem::take(&mut out));
        }
        let name = product(i);
        let url = &urls[i % urls.len()];
        let _ = write!(
            out,
            "apiVersion: ferry/v1\nkind: Product\nmetadata: {{ name: {name} }}\nspec:\n  promotionFlows: [ {{ name: polled }} ]\n---\n"
        );
        for env in ["pdev", "pprod"] {
            let _ = write!(
                out,
                "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: {name}-{env} }}\nspec:\n  product: {name}\n  environment: {env}\n  component: app\n  source: {{ repoURL: \"{url}\", path: products/{name}/{env}, targetRevision: main }}\n---\n"
            );
        }
    }
    files.push(out);
    files
}

/// CPU seconds of one `git ls-remote --heads` of every repository (the harness's own loop), per round.
fn ls_remote_round(urls: &[String], dir: &Path, rounds: usize) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let before = cpu_seconds()?;
        for url in urls {
            git(dir, &["ls-remote", "--heads", "--", url])?;
        }
        out.push(cpu_seconds()? - before);
    }
    Ok(out)
}

/// As a share of one core when it happens once per [`SPEC_INTERVAL`], in percent.
fn percent_of_core(cpu_per_round: f64) -> f64 {
    cpu_per_round / SPEC_INTERVAL.as_secs_f64() * 100.0
}

/// Scenario 12: `products` products in `repos` repositories, polled every `interval`; CPU measured over
/// `rounds` intervals once the baselines are recorded.
pub async fn triggers(
    dir: &Path,
    products: usize,
    repos: usize,
    interval: Duration,
    rounds: usize,
) -> Result<Vec<Row>> {
    let mut urls = Vec::with_capacity(repos);
    for r in 0..repos {
        let files: Vec<(String, String)> = (0..products)
            .filter(|i| i % repos == r)
            .flat_map(|i| {
                let name = product(i);
                ["pdev", "pprod"]
                    .map(|env| (format!("products/{name}/{env}/values.yaml"), "image:\n  tag: \"1.0.0\"\n".to_owned()))
            })
            .chain([("README.md".to_owned(), "products\n".to_owned())])
            .collect();
        let (bare, _work) = bare_repo(dir, &format!("poll-gitops-{r}"), &files)?;
        urls.push(format!("file://{}", bare.display()));
    }

    // The machine's part: one advertisement of each repository per round.
    let limit_rounds = ls_remote_round(&urls, dir, rounds.max(5))?;

    let t = Instant::now();
    let rig =
        Rig::start_tuned(dir, config_yaml(products, &urls), |c: &mut EngineConfig| c.poll_interval = interval).await?;
    let setup_s = t.elapsed().as_secs_f64();
    // Two rounds to warm up (the first checks after the baselines), then one CPU reading per interval.
    tokio::time::sleep(interval * 2).await;
    let mut samples = Vec::with_capacity(rounds);
    let mut last = cpu_seconds()?;
    let started = cpu_seconds()?;
    let window = Instant::now();
    for _ in 0..rounds {
        tokio::time::sleep(interval).await;
        let now = cpu_seconds()?;
        samples.push(now - last);
        last = now;
    }
    let elapsed = window.elapsed().as_secs_f64();
    let total = last - started;
    let created = rig.store.active_releases().await?.len();
    rig.stop();
    if created > 0 {
        bail!("{created} releases were started although no repository changed");
    }
    let per_round = total / (elapsed / interval.as_secs_f64());
    let ferry = Stat {
        median: percent_of_core(per_round),
        ..Stat::of_latencies(&samples.iter().map(|s| percent_of_core(*s)).collect::<Vec<_>>())
    };
    let limit = Stat::of_latencies(&limit_rounds.iter().map(|s| percent_of_core(*s)).collect::<Vec<_>>());
    Ok(vec![
        Row::new(
            "12 trigger polling",
            &format!("CPU of polling {products} products' triggers ({repos} repositories), % of one core at a 30 s interval"),
            Unit::Percent,
            ferry,
            Some(Limit { primitive: format!("git ls-remote of each of the {repos} repositories once, CPU"), stat: limit }),
        )
        .target("≤ 5% of one core", Goal::MedianAtMost(5.0))
        .note(&format!(
            "polled every {:.0} s over {rounds} intervals ({elapsed:.0} s; CPU of the process and the git processes it ran, \
             median = total CPU / intervals, p99 over single intervals), scaled to one poll per 30 s; no repository \
             changed; start-up with baselines {setup_s:.1} s",
            interval.as_secs_f64()
        )),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polled_configuration_is_valid_and_spreads_products_over_repositories() {
        let urls = vec!["file:///tmp/a.git".to_owned(), "file:///tmp/b.git".to_owned()];
        let catalog = crate::rig::load_catalog_files(config_yaml(700, &urls)).expect("valid");
        assert_eq!(catalog.products.len(), 700);
        assert_eq!(catalog.applications.len(), 1_400);
        let in_b = catalog.applications.values().filter(|a| a.source.repo_url.ends_with("b.git")).count();
        assert_eq!(in_b, 700);
    }

    #[test]
    fn cpu_time_is_read_and_grows_with_work() {
        let before = cpu_seconds().expect("reads");
        let mut x = 0u64;
        let mut grew = false;
        for _ in 0..1_000_000 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            if cpu_seconds().expect("reads") > before {
                grew = true;
                break;
            }
        }
        assert!(grew, "CPU time did not grow after busy work");
    }
}
