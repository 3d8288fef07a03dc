//! The local pull-request provider: promotion branches and real merges, against real bare repositories.

use std::collections::BTreeMap;

use ferry_git::{FilePlan, GitCache, Operation, PromotionOutcome, PromotionRequest, PromotionSource};
use ferry_model::CommitSha;
use ferry_model::jsonpath::JsonPath;

use crate::support::{Remote, always_racing_git, cache, git, racing_git};

const BRANCH: &str = "ferry/shop/staging/rel-1";
const MERGE_MESSAGE: &str = "Merge pull request #3 from ferry/shop/staging/rel-1";

fn author() -> (String, String) {
    ("Ferry".into(), "ferry@example.com".into())
}

/// Promotes `qa/v.yaml`'s `$.tag` into `staging/v.yaml` on `main`.
fn request(url: &str, trigger: &CommitSha, release: &str) -> PromotionRequest {
    let plan = FilePlan::Paths(BTreeMap::from([("v.yaml".to_owned(), vec![JsonPath::parse("$.tag").expect("path")])]));
    PromotionRequest {
        repo_url: url.to_owned(),
        branch: "main".into(),
        sources: vec![PromotionSource {
            repo_url: url.to_owned(),
            commit: trigger.clone(),
            source_path: "qa".into(),
            target_path: "staging".into(),
            plan,
        }],
        message: "promote shop 2: qa -> staging".into(),
        trailers: vec![
            ("Ferry-Release".into(), release.into()),
            ("Ferry-Product".into(), "shop".into()),
            ("Ferry-Environment".into(), "staging".into()),
        ],
        author: author(),
    }
}

fn promoted_remote() -> Remote {
    Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1  # staging\n")])
}

/// Pushes the promotion branch and returns its head.
fn push(cache: &GitCache, remote: &Remote, release: &str) -> CommitSha {
    match cache.push_branch(&request(&remote.url(), &remote.head(), release), BRANCH).expect("push_branch") {
        PromotionOutcome::Committed { sha, files } => {
            assert_eq!(files, ["staging/v.yaml"]);
            sha
        }
        other => panic!("expected a commit, got {other:?}"),
    }
}

#[test]
fn push_branch_puts_the_promotion_commit_on_a_branch_of_its_own() {
    let remote = promoted_remote();
    let target = remote.head();
    let c = cache();
    let sha = push(&c.cache, &remote, "rel-1");

    assert_eq!(remote.head(), target, "the target branch is untouched");
    assert_eq!(remote.branches(), ["ferry/shop/staging/rel-1", "main"]);
    assert_eq!(remote.branch(BRANCH), sha);
    assert_eq!(remote.parents(&sha), [target.to_string()], "built on the target's tip");
    assert_eq!(remote.show_at(BRANCH, "staging/v.yaml"), "tag: 2  # staging\n");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 1  # staging\n");
    let info = c.cache.commit_info(&remote.url(), &sha).expect("info");
    assert_eq!(
        info.message,
        "promote shop 2: qa -> staging\n\nFerry-Release: rel-1\nFerry-Product: shop\nFerry-Environment: staging\n"
    );
}

#[test]
fn a_reissued_push_branch_is_already_done_and_never_overwrites_another_branch() {
    let remote = promoted_remote();
    let c = cache();
    let url = remote.url();
    let trigger = remote.head();
    let sha = push(&c.cache, &remote, "rel-1");
    // The target moves on; the re-issued request (same trailers) finds its branch, also from a new cache.
    remote.commit(&[("other.txt", "x\n")], "unrelated");
    let req = request(&url, &trigger, "rel-1");
    assert_eq!(c.cache.push_branch(&req, BRANCH).expect("again"), PromotionOutcome::AlreadyDone { sha: sha.clone() });
    let fresh = cache();
    assert_eq!(
        fresh.cache.push_branch(&req, BRANCH).expect("fresh"),
        PromotionOutcome::AlreadyDone { sha: sha.clone() }
    );
    assert_eq!(remote.branch(BRANCH), sha);

    // Another release's promotion does not take the branch over.
    let err = c.cache.push_branch(&request(&url, &trigger, "rel-2"), BRANCH).expect_err("foreign branch");
    assert_eq!(err.operation, Operation::Push);
    assert!(err.message.contains("already exists") && err.message.contains("Ferry-Release: rel-2"), "{err}");
    assert_eq!(remote.branch(BRANCH), sha);

    // Invalid branch names are refused before anything is pushed.
    let err = c.cache.push_branch(&req, "bad..name").expect_err("invalid name");
    assert!(err.message.contains("not a valid branch name"), "{err}");
    let err = c.cache.push_branch(&req, "main").expect_err("the target itself");
    assert!(err.message.contains("must differ"), "{err}");
}

#[test]
fn push_branch_with_nothing_to_change_pushes_no_branch() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 2\n")]);
    let c = cache();
    let req = request(&remote.url(), &remote.head(), "rel-1");
    assert_eq!(c.cache.push_branch(&req, BRANCH).expect("push_branch"), PromotionOutcome::Unchanged);
    assert_eq!(remote.branches(), ["main"]);
}

#[test]
fn merge_branch_makes_a_two_parent_merge_commit_after_the_target_moved_on() {
    let remote = promoted_remote();
    let c = cache();
    let url = remote.url();
    let head = push(&c.cache, &remote, "rel-1");
    let moved = remote.commit(&[("other.txt", "x\n")], "unrelated");

    let merge = c.cache.merge_branch(&url, BRANCH, "main", MERGE_MESSAGE, &author()).expect("merge");
    assert_eq!(remote.head(), merge);
    assert_eq!(remote.parents(&merge), [moved.to_string(), head.to_string()], "first parent: the target");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2  # staging\n");
    assert_eq!(remote.show("other.txt"), "x\n");
    let info = c.cache.commit_info(&url, &merge).expect("info");
    assert_eq!(info.message, format!("{MERGE_MESSAGE}\n"));
    assert_eq!((info.author_name.as_str(), info.author_email.as_str()), ("Ferry", "ferry@example.com"));

    // Merging again (a re-issue after a crash) returns the same merge commit, also once the target moved on.
    let count = remote.count();
    assert_eq!(c.cache.merge_branch(&url, BRANCH, "main", MERGE_MESSAGE, &author()).expect("again"), merge);
    let later = remote.commit(&[("later.txt", "y\n")], "later");
    let fresh = cache();
    assert_eq!(fresh.cache.merge_branch(&url, BRANCH, "main", MERGE_MESSAGE, &author()).expect("fresh"), merge);
    assert_eq!(remote.count(), count + 1);
    assert_eq!(remote.head(), later);
}

#[test]
fn merge_branch_of_a_branch_already_in_the_target_returns_its_head() {
    let remote = promoted_remote();
    let c = cache();
    let head = push(&c.cache, &remote, "rel-1");
    // Someone fast-forwarded the target to the branch by hand.
    git(&remote.bare, &["update-ref", "refs/heads/main", head.as_str()], None);
    let merged = c.cache.merge_branch(&remote.url(), BRANCH, "main", MERGE_MESSAGE, &author()).expect("merge");
    assert_eq!(merged, head);
    assert_eq!(remote.head(), head);
}

#[test]
fn conflicting_changes_are_a_commit_error_naming_the_paths() {
    let remote = promoted_remote();
    let c = cache();
    push(&c.cache, &remote, "rel-1");
    let edited = remote.commit(&[("staging/v.yaml", "tag: 3  # hand edit\n")], "hand edit");
    let err = c.cache.merge_branch(&remote.url(), BRANCH, "main", MERGE_MESSAGE, &author()).expect_err("conflict");
    assert_eq!(err.operation, Operation::Commit);
    assert!(err.message.contains("conflicting changes in staging/v.yaml"), "{err}");
    assert_eq!(remote.head(), edited, "nothing was pushed");

    let err = c.cache.merge_branch(&remote.url(), "ferry/nope", "main", MERGE_MESSAGE, &author()).expect_err("missing");
    assert!(err.message.contains("\"ferry/nope\" does not exist"), "{err}");
}

#[test]
fn a_concurrent_push_to_the_target_is_merged_again() {
    let remote = promoted_remote();
    let c = cache();
    let head = push(&c.cache, &remote, "rel-1");
    let (wrapper, marker) = racing_git(c.dir.path(), &remote);
    let racing = GitCache::new(c.dir.path().join("mirrors")).with_git_program(&wrapper);

    let merge = racing.merge_branch(&remote.url(), BRANCH, "main", MERGE_MESSAGE, &author()).expect("merge");
    assert!(marker.exists(), "the race happened");
    assert_eq!(remote.head(), merge);
    let parents = remote.parents(&merge);
    assert_eq!(parents[1], head.to_string());
    let first_parent = git(&remote.bare, &["log", "-1", "--format=%s", &parents[0]], None);
    assert_eq!(first_parent.trim(), "race", "the merge sits on top of the racing commit");
    assert_eq!(remote.show("race.txt"), "race\n");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2  # staging\n");
}

#[test]
fn a_target_that_moves_on_every_attempt_runs_out_of_merge_attempts() {
    let remote = promoted_remote();
    let c = cache();
    push(&c.cache, &remote, "rel-1");
    let (wrapper, pushes) = always_racing_git(c.dir.path(), &remote);
    let racing = GitCache::new(c.dir.path().join("mirrors")).with_git_program(&wrapper);

    let err = racing.merge_branch(&remote.url(), BRANCH, "main", MERGE_MESSAGE, &author()).expect_err("no merge");
    assert_eq!(err.operation, Operation::Push);
    let attempts = ferry_git::PUSH_ATTEMPTS;
    assert!(err.to_string().contains(&format!("moved during each of {attempts} attempts")), "{err}");
    assert_eq!(std::fs::read_to_string(&pushes).expect("pushes").lines().count(), attempts);
    assert_eq!(git(&remote.bare, &["log", "-1", "--format=%s", "main"], None).trim(), "race");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 1  # staging\n");
}
