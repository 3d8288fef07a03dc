//! `commits_between`: compared with `git log` on the same ranges (merges, first-parent, paths, limits).

use ferry_model::CommitSha;

use crate::support::{Remote, cache, git};

/// `git log --format=%H <args>` in the bare repository, newest first.
fn git_log(remote: &Remote, args: &[&str]) -> Vec<String> {
    let mut full = vec!["log", "--format=%H"];
    full.extend_from_slice(args);
    git(&remote.bare, &full, None).lines().map(str::to_owned).collect()
}

fn shas(commits: &[ferry_git::CommitInfo]) -> Vec<String> {
    commits.iter().map(|c| c.sha.to_string()).collect()
}

/// main: initial ─ a ─ b ─────────── M ─ e
///                      \           /
///             feature:  c (app) ─ d (docs)
/// plus a squash-style commit and a merge that keeps main's version of a file.
fn merged_history() -> (Remote, CommitSha, CommitSha) {
    let remote = Remote::new(&[("app/values.yaml", "tag: 1\n"), ("docs/readme.md", "hello\n")]);
    let start = remote.head();
    remote.commit(&[("app/values.yaml", "tag: 2\n")], "a: bump app (#1)");
    remote.commit(&[("docs/readme.md", "hello b\n")], "b: docs");
    let w = &remote.work;
    git(w, &["checkout", "-q", "-b", "feature", "HEAD~1"], None);
    std::fs::write(w.join("app/values.yaml"), "tag: 2\nreplicas: 3\n").expect("write");
    git(w, &["commit", "-q", "-am", "c: scale app"], Some(100));
    std::fs::write(w.join("docs/readme.md"), "hello d\n").expect("write");
    git(w, &["commit", "-q", "-am", "d: docs on feature"], Some(101));
    git(w, &["checkout", "-q", "main"], None);
    // The merge keeps main's docs (a conflict resolved to "ours") and takes the feature's app change.
    git(
        w,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-s",
            "ort",
            "-X",
            "ours",
            "-m",
            "Merge pull request #7 from acme/feature",
            "feature",
        ],
        Some(102),
    );
    git(w, &["push", "-q", "origin", "main"], None);
    let tip = remote.commit(&[("app/values.yaml", "tag: 3\nreplicas: 3\n")], "e: bump app");
    (remote, start, tip)
}

#[test]
fn ranges_match_git_log_with_merges_first_parent_and_paths() {
    let (remote, start, tip) = merged_history();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    let range = format!("{start}..{tip}");
    let cases: &[(&[&str], Option<&str>, bool)] = &[
        (&[], None, false),
        (&["--first-parent"], None, true),
        (&["--full-history", "--", "app"], Some("app"), false),
        (&["--full-history", "--", "docs"], Some("docs"), false),
        (&["--first-parent", "--", "app"], Some("app/"), true),
        (&["--full-history", "--", "nowhere"], Some("nowhere"), false),
    ];
    for (extra, path, first_parent) in cases {
        let mut args = vec![range.as_str()];
        args.extend_from_slice(extra);
        let want = git_log(&remote, &args);
        let got = c.cache.commits_between(&url, Some(&start), &tip, *path, *first_parent, 1000).expect("walk");
        assert_eq!(shas(&got), want, "git log {args:?}");
    }
    // Everything reachable, and limits.
    let all = c.cache.commits_between(&url, None, &tip, None, false, 1000).expect("walk");
    assert_eq!(shas(&all), git_log(&remote, &[tip.as_str()]));
    let two = c.cache.commits_between(&url, None, &tip, None, false, 2).expect("walk");
    assert_eq!(shas(&two), git_log(&remote, &["-2", tip.as_str()]));
    assert!(c.cache.commits_between(&url, Some(&tip), &tip, None, false, 10).expect("walk").is_empty());
    assert!(c.cache.commits_between(&url, Some(&start), &tip, None, false, 0).expect("walk").is_empty());
    // Commit facts, merges included.
    let merge = all.iter().find(|c| c.subject().starts_with("Merge pull request #7")).expect("merge listed");
    assert_eq!(merge.parents.len(), 2);
    assert_eq!(all.last().expect("root").parents.len(), 0);
}

/// A branchy history written with `git fast-import`: `n` commits on main touching pseudo-random
/// paths (nested, non-ASCII, deleted files), with a side branch merged every 7th commit.
fn branchy(n: u32) -> (tempfile::TempDir, String) {
    let dir = tempfile::TempDir::new().expect("tmp");
    let bare = dir.path().join("branchy.git");
    std::fs::create_dir_all(&bare).expect("mkdir");
    git(&bare, &["init", "-q", "--bare", "--initial-branch=main"], None);
    let paths = ["a/b/c.txt", "a/b/d.txt", "a/e.txt", "f.txt", "ü/x.txt", "a/b/deep/g.txt"];
    let mut seed: u64 = 42;
    let mut next = |m: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % m
    };
    let mut stream = String::new();
    let mut mark = 0u32;
    let mut main_tip = 0u32;
    for i in 0..n {
        let side = i % 7 == 6 && main_tip > 3;
        let mut files = String::new();
        for _ in 0..=next(2) {
            let p = paths[next(paths.len() as u64) as usize];
            if next(9) == 0 && i > 0 {
                files.push_str(&format!("D {p}\n"));
            } else {
                let body = format!("{i} {}\n", next(1000));
                files.push_str(&format!("M 100644 inline {p}\ndata {}\n{body}\n", body.len()));
            }
        }
        let stamp = 1_700_000_000 + u64::from(i) * 60;
        mark += 1;
        if side {
            // A side commit from an older main commit, then a merge into main.
            let base = main_tip - 2;
            let msg = format!("side {i}\n");
            stream.push_str(&format!(
                "commit refs/heads/side\nmark :{mark}\ncommitter D <d@example.com> {stamp} +0000\ndata {}\n{msg}from :{base}\n{files}\n",
                msg.len()
            ));
            let side_mark = mark;
            mark += 1;
            let msg = format!("merge {i}\n");
            stream.push_str(&format!(
                "commit refs/heads/main\nmark :{mark}\ncommitter D <d@example.com> {} +0000\ndata {}\n{msg}from :{main_tip}\nmerge :{side_mark}\n\n",
                stamp + 30,
                msg.len()
            ));
        } else {
            let msg = format!("change {i}\n");
            let from = if main_tip > 0 { format!("from :{main_tip}\n") } else { String::new() };
            stream.push_str(&format!(
                "commit refs/heads/main\nmark :{mark}\ncommitter D <d@example.com> {stamp} +0000\ndata {}\n{msg}{from}{files}\n",
                msg.len()
            ));
        }
        main_tip = mark;
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&bare)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("fast-import");
    use std::io::Write as _;
    child.stdin.take().expect("stdin").write_all(stream.as_bytes()).expect("feed");
    assert!(child.wait().expect("wait").success());
    let url = format!("file://{}", bare.display());
    (dir, url)
}

#[test]
fn path_filtered_walks_match_git_log_with_and_without_bloom_filters() {
    let (dir, url) = branchy(120);
    let c = cache();
    c.cache.fetch(&url).expect("fetch");
    let mirror = c.cache.mirror_dir(&url);
    let graph = std::fs::read(mirror.join("objects/info/commit-graph")).expect("commit-graph");
    assert!(graph.windows(4).any(|w| w == b"BDAT"), "the mirror's commit-graph has changed-path filters");
    let tip = c.cache.head(&url, "main").expect("head");
    let mid = CommitSha::new(git(&mirror, &["rev-parse", "main~40"], None).trim()).expect("sha");
    let bare = dir.path().join("branchy.git");
    let plain = crate::support::cache();
    // The same repository without Bloom filters: a mirror whose graph is rewritten without them.
    plain.cache.fetch(&url).expect("fetch");
    let plain_mirror = plain.cache.mirror_dir(&url);
    git(&plain_mirror, &["commit-graph", "write", "--reachable"], None);
    // One thread, and three (runs of uneven length on helper threads), on the same mirror.
    let single = threads(&c, 1);
    let three = threads(&c, 3);
    let mut listed = 0;
    for path in ["a", "a/b", "a/b/c.txt", "a/e.txt", "f.txt", "ü", "ü/x.txt", "a/b/deep", "zz", "a/b/c.txt/x"] {
        for first_parent in [false, true] {
            for from in [None, Some(&mid)] {
                let range = match from {
                    Some(f) => format!("{f}..{tip}"),
                    None => tip.to_string(),
                };
                let mut args = vec!["log", "--format=%H", range.as_str()];
                args.push(if first_parent { "--first-parent" } else { "--full-history" });
                args.extend(["--", path]);
                let want: Vec<String> = git(&bare, &args, None).lines().map(str::to_owned).collect();
                listed += want.len();
                for (label, cache) in
                    [("bloom", &c.cache), ("trees", &plain.cache), ("1 thread", &single), ("3 threads", &three)]
                {
                    let got = cache.commits_between(&url, from, &tip, Some(path), first_parent, 10_000).expect("walk");
                    assert_eq!(shas(&got), want, "{label}: git {args:?}");
                }
            }
        }
    }
    assert!(listed > 500, "the cases list commits ({listed})");
}

/// A cache on the same mirrors as `c` whose long walks use `n` threads.
fn threads(c: &crate::support::Cache, n: usize) -> ferry_git::GitCache {
    ferry_git::GitCache::new(c.dir.path().join("mirrors")).with_walk_threads(n)
}

#[test]
fn long_walks_in_several_batches_and_threads_match_git_log_and_stop_at_the_limit() {
    // More candidates than one batch of the parallel walk (4,096), with merges.
    let (dir, url) = branchy(6000);
    let c = cache();
    c.cache.fetch(&url).expect("fetch");
    let bare = dir.path().join("branchy.git");
    let tip = c.cache.head(&url, "main").expect("head");
    let (single, three) = (threads(&c, 1), threads(&c, 3));
    for path in [None, Some("a/b"), Some("f.txt")] {
        for limit in [5000usize, 4097, 100, 47, 20_000] {
            let limit_arg = format!("-{limit}");
            let mut args = vec!["log", "--format=%H", "--full-history", limit_arg.as_str(), tip.as_str()];
            if let Some(p) = path {
                args.extend(["--", p]);
            }
            let want: Vec<String> = git(&bare, &args, None).lines().map(str::to_owned).collect();
            assert!(!want.is_empty());
            for (label, cache) in [("1 thread", &single), ("3 threads", &three)] {
                let got = cache.commits_between(&url, None, &tip, path, false, limit).expect("walk");
                assert_eq!(shas(&got), want, "{label}: git {args:?}");
            }
        }
    }
    // The whole history is longer than a batch: the walks above ran in several.
    let all = three.commits_between(&url, None, &tip, None, false, usize::MAX).expect("walk");
    assert!(all.len() > 4096, "{} commits", all.len());
}

#[test]
fn unknown_commits_are_errors_that_say_what_to_do() {
    let (remote, start, _) = merged_history();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    let missing = CommitSha::new("0123456789012345678901234567890123456789").expect("sha");
    let err = c.cache.commits_between(&url, Some(&missing), &start, None, false, 10).expect_err("unknown from");
    assert!(err.message.contains("fetch it first"), "{err}");
}

/// Appends `n` commits to `main` of the bare repository, each changing `a/b/c.txt` or `f.txt`.
fn append(bare: &std::path::Path, n: u32) {
    let tip = git(bare, &["rev-parse", "main"], None).trim().to_owned();
    let mut stream = String::new();
    for i in 0..n {
        let path = if i % 3 == 0 { "f.txt" } else { "a/b/c.txt" };
        let (msg, body) = (format!("more {i}\n"), format!("appended {i}\n"));
        let from = if i == 0 { format!("from {tip}\n") } else { String::new() };
        stream.push_str(&format!(
            "commit refs/heads/main\ncommitter D <d@example.com> {} +0000\ndata {}\n{msg}{from}M 100644 inline {path}\ndata {}\n{body}\n",
            1_800_000_000 + u64::from(i) * 60,
            msg.len(),
            body.len()
        ));
    }
    let mut child = std::process::Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(bare)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("fast-import");
    use std::io::Write as _;
    child.stdin.take().expect("stdin").write_all(stream.as_bytes()).expect("feed");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn path_filtered_walks_read_loose_trees_and_deltas_in_either_direction() {
    // The packed history's trees are deltas against their older versions (as fast-import writes them);
    // a small fetch adds loose objects the walk's pack reader does not hold.
    let (dir, url) = branchy(300);
    let bare = dir.path().join("branchy.git");
    let c = cache();
    c.cache.fetch(&url).expect("fetch");
    append(&bare, 12);
    c.cache.fetch(&url).expect("fetch again");
    let mirror = c.cache.mirror_dir(&url);
    let loose = std::fs::read_dir(mirror.join("objects"))
        .expect("objects")
        .flatten()
        .filter(|e| e.file_name().len() == 2)
        .count();
    assert!(loose > 0, "the second fetch left loose objects");
    let tip = c.cache.head(&url, "main").expect("head");
    let check = |label: &str| {
        for path in ["a/b/c.txt", "a/b", "f.txt", "ü/x.txt"] {
            for cache in [&c.cache, &threads(&c, 3)] {
                let want: Vec<String> =
                    git(&mirror, &["log", "--format=%H", "--full-history", tip.as_str(), "--", path], None)
                        .lines()
                        .map(str::to_owned)
                        .collect();
                assert!(!want.is_empty());
                let got = cache.commits_between(&url, None, &tip, Some(path), false, 10_000).expect("walk");
                assert_eq!(shas(&got), want, "{label}: {path}");
            }
        }
    };
    check("fast-import pack and loose objects");
    // Repacked from scratch: one pack whose deltas point the other way (newer versions are the bases).
    git(&mirror, &["repack", "-a", "-d", "-f", "-q"], None);
    check("repacked");
}
