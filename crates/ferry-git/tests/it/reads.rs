//! Mirror reads: head, files, history, trailers, checkout.

use ferry_git::{GitCache, Operation, TRAILER_RELEASE};
use ferry_model::CommitSha;

use crate::support::{Remote, cache, git};

fn sample() -> (Remote, CommitSha, CommitSha, CommitSha) {
    let remote = Remote::new(&[("apps/api/dev/values.yaml", "tag: 1\n"), ("README.md", "hello\n")]);
    let first = remote.head();
    let second = remote.commit(&[("apps/api/dev/values.yaml", "tag: 2\n")], "bump dev");
    let third =
        remote.commit(&[("README.md", "hello again\n")], "docs\n\nFerry-Release: r-1\nFerry-Environment: dev\n");
    (remote, first, second, third)
}

#[test]
fn head_files_and_commit_info() {
    let (remote, first, second, third) = sample();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    assert!(c.cache.mirror_dir(&url).join("objects/info/commit-graph").exists(), "commit-graph written");
    assert_eq!(c.cache.head(&url, "main").expect("head"), third);

    assert_eq!(c.cache.read_file(&url, &first, "apps/api/dev/values.yaml").expect("read"), Some(b"tag: 1\n".to_vec()));
    assert_eq!(
        c.cache.read_file(&url, &second, "/apps/api/dev/values.yaml").expect("read"),
        Some(b"tag: 2\n".to_vec())
    );
    assert_eq!(c.cache.read_file(&url, &first, "apps/missing.yaml").expect("read"), None);
    assert_eq!(c.cache.read_file(&url, &first, "apps").expect("dir is not a file"), None);

    assert_eq!(c.cache.list_files(&url, &first, "").expect("list"), vec!["README.md", "apps/api/dev/values.yaml"]);
    assert_eq!(c.cache.list_files(&url, &first, "apps/api/").expect("list"), vec!["dev/values.yaml"]);
    assert!(c.cache.list_files(&url, &first, "nope").expect("list").is_empty());

    let info = c.cache.commit_info(&url, &second).expect("info");
    assert_eq!(info.sha, second);
    assert_eq!(info.short_sha, &second.as_str()[..7]);
    assert_eq!(info.message, "bump dev\n");
    assert_eq!(info.subject(), "bump dev");
    assert_eq!(info.author_name, "Dev Eloper");
    assert_eq!(info.author_email, "dev@example.com");
    assert_eq!(info.date, jiff::Timestamp::from_second(1_700_000_060).expect("ts"));
}

#[test]
fn history_queries() {
    let (remote, first, second, third) = sample();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    let touching = c.cache.last_commit_touching(&url, "main", "apps/api/dev").expect("walk").expect("found");
    assert_eq!(touching.sha, second);
    let touching = c.cache.last_commit_touching(&url, "main", "").expect("walk").expect("found");
    assert_eq!(touching.sha, third);
    assert_eq!(c.cache.last_commit_touching(&url, "main", "nowhere").expect("walk"), None);

    assert!(c.cache.is_ancestor(&url, &first, &third).expect("ancestor"));
    assert!(c.cache.is_ancestor(&url, &third, &third).expect("ancestor"));
    assert!(!c.cache.is_ancestor(&url, &third, &first).expect("ancestor"));

    let found =
        c.cache.find_commit_with_trailers(&url, "main", &[(TRAILER_RELEASE, "r-1"), ("ferry-environment", "dev")]);
    assert_eq!(found.expect("scan"), Some(third));
    let found =
        c.cache.find_commit_with_trailers(&url, "main", &[(TRAILER_RELEASE, "r-1"), ("Ferry-Environment", "qa")]);
    assert_eq!(found.expect("scan"), None);
}

#[test]
fn fetch_sees_new_commits_and_ls_remote_reads_the_remote() {
    let (remote, _, _, third) = sample();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    let fourth = remote.commit(&[("x.txt", "x")], "more");
    assert_eq!(c.cache.head(&url, "main").expect("head"), third, "reads see the last fetch");
    assert_eq!(c.cache.ls_remote(&url, "main").expect("ls-remote"), Some(fourth.clone()));
    assert_eq!(c.cache.ls_remote(&url, "nope").expect("ls-remote"), None);
    c.cache.fetch(&url).expect("fetch again");
    assert_eq!(c.cache.head(&url, "main").expect("head"), fourth);
    let err = c.cache.head(&url, "release").expect_err("no such branch");
    assert_eq!(err.operation, Operation::Read);
    assert!(err.message.contains("targetRevision"), "{err}");
    // Packed references (after git's maintenance) read the same; a newer loose one wins over them.
    let mirror = c.cache.mirror_dir(&url);
    git(&mirror, &["pack-refs", "--all"], None);
    assert!(!mirror.join("refs/heads/main").exists(), "main is packed");
    assert_eq!(c.cache.head(&url, "main").expect("packed head"), fourth);
    let fifth = remote.commit(&[("y.txt", "y")], "even more");
    c.cache.fetch(&url).expect("fetch again");
    assert_eq!(c.cache.head(&url, "main").expect("head"), fifth);
}

#[test]
fn reading_before_fetch_and_fetching_a_missing_repo_are_clear_errors() {
    let c = cache();
    let err = c.cache.head("file:///nonexistent/repo.git", "main").expect_err("not fetched");
    assert!(err.message.contains("fetch it first"), "{err}");
    let err = c.cache.fetch("file://bot:hunter22@localhost/nonexistent/repo.git").expect_err("missing");
    assert_eq!(err.operation, Operation::Clone);
    let text = err.to_string();
    assert!(!text.contains("hunter22"), "{text}");
    assert!(text.contains("file://***@localhost/nonexistent/repo.git"), "{text}");
    assert!(!c.dir.path().join("mirrors").read_dir().expect("dir").any(|e| e.is_ok()), "no half mirror left");
}

#[test]
fn checkout_materialises_a_commit() {
    let (remote, first, _, _) = sample();
    let c = cache();
    let url = remote.url();
    c.cache.fetch(&url).expect("fetch");
    let dest = c.dir.path().join("checkout");
    c.cache.checkout(&url, &first, &dest).expect("checkout");
    assert_eq!(std::fs::read_to_string(dest.join("apps/api/dev/values.yaml")).expect("file"), "tag: 1\n");
    assert_eq!(std::fs::read_to_string(dest.join("README.md")).expect("file"), "hello\n");
    assert!(!dest.join(".git").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dest).expect("dir").flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn mirrors_are_shared_per_url() {
    let (remote, ..) = sample();
    let root = tempfile::TempDir::new().expect("tmp");
    let a = GitCache::new(root.path());
    a.fetch(&remote.url()).expect("fetch");
    a.fetch(&remote.url()).expect("fetch twice");
    let dirs: Vec<_> = std::fs::read_dir(root.path()).expect("dir").flatten().collect();
    assert_eq!(dirs.len(), 1);
    let _ = git(&a.mirror_dir(&remote.url()), &["fsck", "--no-progress"], None);
}

#[test]
fn a_git_command_past_its_timeout_is_stopped_with_the_helpers_it_started() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    // A "git" whose helper (like ssh under a fetch) keeps the output pipes open; it records its pid.
    let helper_pid = dir.path().join("helper.pid");
    let wrapper = dir.path().join("slow-git");
    std::fs::write(&wrapper, format!("#!/bin/sh\nsleep 600 &\necho $! > '{}'\nwait\n", helper_pid.display()))
        .expect("wrapper");
    crate::support::make_executable(&wrapper);
    let cache = GitCache::new(dir.path().join("mirrors"))
        .with_git_program(&wrapper)
        .with_timeout(std::time::Duration::from_millis(300));
    let err = cache.fetch("file:///nonexistent/slow.git").expect_err("timed out");
    assert!(err.message.contains("did not finish within"), "{err}");
    // The call returned although the helper held git's output pipes: the helper was killed with git
    // (it is gone, a zombie awaiting its new parent, or about to act on its pending SIGKILL).
    let pid = std::fs::read_to_string(&helper_pid).expect("pid").trim().to_owned();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, rest)| rest.split(' ').collect()).unwrap_or_default();
    // proc_pid_stat(5): field 3 is the state, field 9 the kernel flags (PF_EXITING = 0x4: the process
    // is on its way out), field 31 the pending signals (bit 8 = SIGKILL).
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let killed = match fields.as_slice() {
        [] => true,
        [state, ..] if matches!(*state, "Z" | "X") => true,
        _ => field(9) & 0x4 != 0 || field(31) & (1 << 8) != 0,
    };
    assert!(killed, "the helper {pid} still runs: {stat}");
}

#[test]
fn polling_shares_one_advertisement_and_fetches_only_a_moved_branch() {
    let (remote, _, second, third) = sample();
    let c = cache();
    let url = remote.url();
    let asked = std::time::Instant::now();
    assert!(c.cache.fetch_if_moved(&url, "main", asked).expect("first poll"), "a mirror not made yet is fetched");
    assert_eq!(c.cache.head(&url, "main").expect("head"), third);

    // Callers that asked before an advertisement started share it.
    let asked = std::time::Instant::now();
    let a = c.cache.remote_heads(&url, asked).expect("advertised");
    let b = c.cache.remote_heads(&url, asked).expect("advertised");
    assert!(std::sync::Arc::ptr_eq(&a, &b), "the second caller is served by the first advertisement");
    assert_eq!(a.get("main").map(|id| id.to_string()), Some(third.to_string()));
    assert!(!c.cache.fetch_if_moved(&url, "main", asked).expect("poll"), "an unmoved branch is not fetched");
    assert!(!c.cache.fetch_if_moved(&url, "gone", asked).expect("poll"), "a branch neither side has");

    // A commit after that: a later caller gets a new advertisement and the fetch.
    let fourth = remote.commit(&[("apps/api/dev/values.yaml", "tag: 4\n")], "bump again");
    assert!(!c.cache.fetch_if_moved(&url, "main", asked).expect("poll"), "asked before the commit: served as it was");
    let later = std::time::Instant::now();
    let c2 = c.cache.remote_heads(&url, later).expect("advertised");
    assert!(!std::sync::Arc::ptr_eq(&a, &c2));
    assert_eq!(c2.get("main").map(|id| id.to_string()), Some(fourth.to_string()));
    let touching = c.cache.last_commit_touching(&url, "main", "apps/api/dev").expect("walk").expect("found");
    assert_eq!(touching.sha, second, "the mirror has not moved yet: the remembered answer");
    assert!(c.cache.fetch_if_moved(&url, "main", later).expect("poll"), "a moved branch is fetched");
    assert_eq!(c.cache.head(&url, "main").expect("head"), fourth);
    let touching = c.cache.last_commit_touching(&url, "main", "apps/api/dev").expect("walk").expect("found");
    assert_eq!(touching.sha, fourth, "a new tip is walked again");
    let fifth = remote.commit(&[("README.md", "bye\n")], "docs");
    assert!(c.cache.fetch_if_moved(&url, "main", std::time::Instant::now()).expect("poll"));
    assert_eq!(c.cache.head(&url, "main").expect("head"), fifth);
    let touching = c.cache.last_commit_touching(&url, "main", "apps/api/dev").expect("walk").expect("found");
    assert_eq!(touching.sha, fourth, "a commit elsewhere does not touch the path");
}
