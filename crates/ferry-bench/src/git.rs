//! Scenario 3: Ferry's promotion commits (`GitCache::promote`) into a local bare repository, against
//! a plain `git commit && git push` loop to the same repository, in alternating rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ferry_git::{FilePlan, GitCache, PromotionOutcome, PromotionRequest, PromotionSource};
use ferry_model::CommitSha;
use ferry_model::jsonpath::JsonPath;

use crate::limits::{GitLoop, LOOP_ROUND};
use crate::report::{Goal, Limit, Row, Unit};
use crate::stats::{Stat, ms, rate};
use crate::util::{FastCommit, bare_repo, fast_import, git};

fn request(target: &str, source: &str, commit: &str, i: usize) -> Result<PromotionRequest> {
    let tag = JsonPath::parse("$.image.tag").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(PromotionRequest {
        repo_url: target.to_owned(),
        branch: "main".into(),
        sources: vec![PromotionSource {
            repo_url: source.to_owned(),
            commit: CommitSha::new(commit).map_err(|e| anyhow::anyhow!("{e}"))?,
            source_path: "apps/dev".into(),
            target_path: "apps/prod".into(),
            plan: FilePlan::Paths(BTreeMap::from([("values.yaml".to_owned(), vec![tag])])),
        }],
        message: ferry_git::promotion_subject("bench", Some(&format!("1.0.{i}")), "dev", "prod"),
        trailers: vec![
            (ferry_git::TRAILER_RELEASE.to_owned(), uuid::Uuid::now_v7().to_string()),
            (ferry_git::TRAILER_PRODUCT.to_owned(), "bench".to_owned()),
            (ferry_git::TRAILER_ENVIRONMENT.to_owned(), "prod".to_owned()),
        ],
        author: ("Ferry".to_owned(), "ferry@localhost".to_owned()),
    })
}

/// Scenario 3.
pub async fn promotions(dir: &Path, n: usize) -> Result<Vec<Row>> {
    let values = |tag: &str| {
        format!(
            "# promoted values\nreplicas: 2\nimage:\n  repository: registry.example.com/app\n  tag: \"{tag}\"   # promoted\n"
        )
    };
    let (src_bare, _) = bare_repo(dir, "source", &[("apps/dev/values.yaml".to_owned(), values("0"))])?;
    fast_import(&src_bare, n + 1, |i| FastCommit {
        message: format!("release 1.0.{}\n", i + 1),
        files: vec![("apps/dev/values.yaml".to_owned(), values(&format!("1.0.{}", i + 1)))],
    })?;
    let commits: Vec<String> =
        git(&src_bare, &["rev-list", "--reverse", "main"])?.lines().skip(1).map(str::to_owned).collect();
    if commits.len() < n + 1 {
        bail!("expected {} source commits, found {}", n + 1, commits.len());
    }
    let (target_bare, target_work) = bare_repo(dir, "gitops", &[("apps/prod/values.yaml".to_owned(), values("0"))])?;
    let source_url = format!("file://{}", src_bare.display());
    let target_url = format!("file://{}", target_bare.display());
    let cache = Arc::new(GitCache::new(dir.join("cache")));
    let promote = |i: usize| {
        let cache = cache.clone();
        let req = request(&target_url, &source_url, &commits[i], i);
        async move {
            let req = req?;
            let outcome =
                tokio::task::spawn_blocking(move || cache.promote(&req)).await.context("promotion task")??;
            match outcome {
                PromotionOutcome::Committed { .. } => Ok(()),
                other => bail!("promotion {i} did not commit: {other:?}"),
            }
        }
    };
    // The raw loop pushes to the same bare repository, from its own working clone.
    let mut raw = GitLoop::new(target_work, "apps/prod/values.yaml");
    // Warm-up: clones both mirrors; one raw iteration.
    promote(0).await?;
    raw.round(1).await?;
    let (mut per, mut rates, mut raw_per, mut raw_rates) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut i = 1usize;
    while i <= n {
        let round = LOOP_ROUND.min(n + 1 - i);
        let start = Instant::now();
        for _ in 0..round {
            let t = Instant::now();
            promote(i).await?;
            per.push(ms(t.elapsed()));
            i += 1;
        }
        rates.push(rate(round, start.elapsed()));
        let (r, each) = raw.round(round).await?;
        raw_rates.push(r);
        raw_per.extend(each);
    }
    Ok(vec![
        Row::new(
            "3 git promotion",
            "promotion commits pushed/s (GitCache::promote, sequential)",
            Unit::PerSec,
            Stat::of_rates(&rates),
            Some(Limit {
                primitive: "git commit && git push loop, iterations/s".into(),
                stat: Stat::of_rates(&raw_rates),
            }),
        )
        .target("≥ 80% of the raw loop", Goal::RatioAtLeast(0.8))
        .note(&format!(
            "{n} promotions in rounds of {LOOP_ROUND}, each followed by a round of as many raw iterations; one \
             promotion = tree edit, commit, push, without a fetch first while the mirror's branch is Ferry's last push \
             (the first promotion after each raw round is rejected, fetches, edits again and pushes)"
        )),
        Row::new(
            "3 git promotion",
            "time per promotion",
            Unit::Ms,
            Stat::of_latencies(&per),
            Some(Limit {
                primitive: "git commit && git push, per iteration".into(),
                stat: Stat::of_latencies(&raw_per),
            }),
        ),
    ])
}
