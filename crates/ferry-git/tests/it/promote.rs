//! Promotion commits against real bare repositories.

use std::collections::BTreeMap;

use ferry_git::{FilePlan, Operation, PromotionOutcome, PromotionRequest, PromotionSource, promotion_subject};
use ferry_model::CommitSha;
use ferry_model::jsonpath::JsonPath;

use crate::support::{Remote, always_racing_git, cache, git, make_executable, racing_git};

const QA_VALUES: &str = "\
# qa values
image:
  repository: shop/api
  tag: 1.4.2
resources:
  limits: {cpu: 500m}
";

const STAGING_VALUES: &str = "\
# Staging values -- edited by hand, keep the comments!
image:
  repository: 'shop/api'    # quoted on purpose
  tag: 1.2.3  # pinned

featureFlag: \"true\"
resources:   # tuned
  limits: {cpu: 250m}
";

fn paths(file: &str, list: &[&str]) -> FilePlan {
    let parsed = list.iter().map(|p| JsonPath::parse(p).expect("path")).collect();
    FilePlan::Paths(BTreeMap::from([(file.to_owned(), parsed)]))
}

fn request(url: &str, sources: Vec<PromotionSource>, release: &str) -> PromotionRequest {
    PromotionRequest {
        repo_url: url.to_owned(),
        branch: "main".into(),
        sources,
        message: promotion_subject("shop", Some("1.4.2"), "qa", "staging"),
        trailers: vec![
            ("Ferry-Release".into(), release.into()),
            ("Ferry-Product".into(), "shop".into()),
            ("Ferry-Environment".into(), "staging".into()),
        ],
        author: ("Ferry".into(), "ferry@example.com".into()),
    }
}

fn source(url: &str, commit: &CommitSha, from: &str, to: &str, plan: FilePlan) -> PromotionSource {
    PromotionSource {
        repo_url: url.to_owned(),
        commit: commit.clone(),
        source_path: from.into(),
        target_path: to.into(),
        plan,
    }
}

fn committed(outcome: PromotionOutcome) -> (CommitSha, Vec<String>) {
    match outcome {
        PromotionOutcome::Committed { sha, files } => (sha, files),
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// The `+`/`-` lines of a commit's diff (headers excluded).
fn changed_lines(remote: &Remote, sha: &CommitSha) -> Vec<String> {
    git(&remote.bare, &["diff", "--unified=0", &format!("{sha}~1"), sha.as_str()], None)
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn promotes_between_env_dirs_touching_only_the_promoted_lines() {
    let remote = Remote::new(&[("envs/qa/values.yaml", QA_VALUES), ("envs/staging/values.yaml", STAGING_VALUES)]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    let plan = paths("values.yaml", &["$.image.tag", "$.image.repository", "$.featureFlag"]);
    let req = request(&url, vec![source(&url, &trigger, "envs/qa", "envs/staging", plan)], "rel-1");
    let err = c.cache.promote(&req).expect_err("featureFlag is not in the source");
    assert_eq!(err.operation, Operation::Commit);
    assert!(err.message.contains("$.featureFlag"), "{err}");

    let plan = paths("values.yaml", &["$.image.tag", "$.image.repository"]);
    let req = request(&url, vec![source(&url, &trigger, "envs/qa", "envs/staging", plan)], "rel-1");
    let (sha, files) = committed(c.cache.promote(&req).expect("promote"));
    assert_eq!(files, vec!["envs/staging/values.yaml"]);
    assert_eq!(remote.head(), sha);
    assert_eq!(changed_lines(&remote, &sha), vec!["-  tag: 1.2.3  # pinned", "+  tag: 1.4.2  # pinned"]);
    assert_eq!(remote.show("envs/staging/values.yaml"), STAGING_VALUES.replace("1.2.3", "1.4.2"));

    let info = c.cache.commit_info(&url, &sha).expect("info");
    assert_eq!(
        info.message,
        "promote shop 1.4.2: qa -> staging\n\nFerry-Release: rel-1\nFerry-Product: shop\nFerry-Environment: staging\n"
    );
    assert_eq!((info.author_name.as_str(), info.author_email.as_str()), ("Ferry", "ferry@example.com"));
    assert_eq!(git(&remote.bare, &["rev-parse", &format!("{sha}~1")], None).trim(), trigger.as_str());
}

#[test]
fn promotes_between_two_repositories_in_one_commit_for_several_apps() {
    let qa = Remote::new(&[("api/values.yaml", QA_VALUES), ("web/Chart.yaml", "appVersion: \"2.0\"\n")]);
    let staging = Remote::new(&[
        ("api/values.yaml", STAGING_VALUES),
        ("web/Chart.yaml", "# chart\nappVersion: '1.0'\nname: web\n"),
    ]);
    let trigger = qa.head();
    let before = staging.count();
    let c = cache();
    let sources = vec![
        source(&qa.url(), &trigger, "api", "api", paths("values.yaml", &["$.image.tag", "$..resources"])),
        source(&qa.url(), &trigger, "web", "web", paths("Chart.yaml", &["$.appVersion"])),
    ];
    let (sha, files) = committed(c.cache.promote(&request(&staging.url(), sources, "rel-2")).expect("promote"));
    assert_eq!(files, vec!["api/values.yaml", "web/Chart.yaml"]);
    assert_eq!(staging.count(), before + 1, "one commit for both applications");
    assert_eq!(staging.show("web/Chart.yaml"), "# chart\nappVersion: '2.0'\nname: web\n");
    assert_eq!(
        changed_lines(&staging, &sha),
        vec![
            "-  tag: 1.2.3  # pinned",
            "+  tag: 1.4.2  # pinned",
            "-  limits: {cpu: 250m}",
            "+  limits: {cpu: 500m}",
            "-appVersion: '1.0'",
            "+appVersion: '2.0'",
        ]
    );
}

#[test]
fn equal_values_make_no_commit() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 1.0  # qa\n"), ("staging/v.yaml", "tag: \"1.0\"\n")]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    // The source's 1.0 is a number, the target's a string: not equal, so it is written...
    let plan = paths("v.yaml", &["$.tag"]);
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", plan.clone())], "rel-3");
    committed(c.cache.promote(&req).expect("promote"));
    let count = remote.count();
    // ... and a second release promoting the same values changes nothing.
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", plan)], "rel-4");
    assert_eq!(c.cache.promote(&req).expect("promote"), PromotionOutcome::Unchanged);
    assert_eq!(remote.count(), count);
}

#[test]
fn a_reissued_promotion_is_already_done() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n")]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-5");
    let (sha, _) = committed(c.cache.promote(&req).expect("promote"));
    // Someone else commits afterwards; the re-issued promotion still finds its commit.
    remote.commit(&[("other.txt", "x")], "unrelated");
    let count = remote.count();
    assert_eq!(c.cache.promote(&req).expect("again"), PromotionOutcome::AlreadyDone { sha });
    assert_eq!(remote.count(), count);
}

#[test]
fn a_concurrent_push_is_rebased_onto() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n")]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    // A git wrapper that, before our first push, lets another clone push a commit.
    let (wrapper, marker) = racing_git(c.dir.path(), &remote);
    let racing = ferry_git::GitCache::new(c.dir.path().join("mirrors")).with_git_program(&wrapper);

    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-6");
    let (sha, _) = committed(racing.promote(&req).expect("promote"));
    assert!(marker.exists(), "the race happened");
    assert_eq!(remote.head(), sha);
    let parent_subject = git(&remote.bare, &["log", "-1", "--format=%s", &format!("{sha}~1")], None);
    assert_eq!(parent_subject.trim(), "race", "our commit sits on top of the racing one");
    assert_eq!(remote.show("race.txt"), "race\n");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2\n");
}

#[test]
fn a_branch_that_moves_on_every_attempt_runs_out_of_push_attempts() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n")]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    let (wrapper, pushes) = always_racing_git(c.dir.path(), &remote);
    let racing = ferry_git::GitCache::new(c.dir.path().join("mirrors")).with_git_program(&wrapper);

    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-9");
    let err = racing.promote(&req).expect_err("never gets through");
    assert_eq!(err.operation, Operation::Push);
    let attempts = ferry_git::PUSH_ATTEMPTS;
    assert!(err.to_string().contains(&format!("moved during each of {attempts} attempts")), "{err}");
    assert_eq!(std::fs::read_to_string(&pushes).expect("pushes").lines().count(), attempts);
    // Only the racing commits landed.
    assert_eq!(remote.show("staging/v.yaml"), "tag: 1\n");
    assert_eq!(git(&remote.bare, &["log", "-1", "--format=%s", "main"], None).trim(), "race");
}

#[test]
fn after_its_own_push_ferry_edits_without_fetching_and_a_remote_that_moved_is_caught_by_the_push() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n"), ("prod/v.yaml", "tag: 1\n")]);
    let url = remote.url();
    let trigger = remote.head();
    let c = cache();
    // A git that logs its subcommands.
    let log = c.dir.path().join("git.log");
    let wrapper = c.dir.path().join("logging-git");
    std::fs::write(&wrapper, format!("#!/bin/sh\necho \"$1\" >> '{}'\nexec git \"$@\"\n", log.display()))
        .expect("wrapper");
    make_executable(&wrapper);
    let logging = ferry_git::GitCache::new(c.dir.path().join("mirrors")).with_git_program(&wrapper);
    let commands = || -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::remove_file(&log).ok();
        text.lines().filter(|l| *l != "commit-graph").map(str::to_owned).collect()
    };

    let to_staging = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-a");
    let (first, _) = committed(logging.promote(&to_staging).expect("promote"));
    assert_eq!(commands().last().map(String::as_str), Some("push"));
    // Someone else pushes: the mirror still shows Ferry's push, so Ferry edits on top of it, the push is
    // rejected, Ferry fetches and commits on top of the other push.
    let other = remote.commit(&[("other.txt", "by hand\n")], "by hand");
    let to_prod = request(&url, vec![source(&url, &trigger, "qa", "prod", paths("v.yaml", &["$.tag"]))], "rel-b");
    let (second, _) = committed(logging.promote(&to_prod).expect("promote"));
    assert_eq!(commands(), ["push", "fetch", "push"]);
    assert_eq!(remote.head(), second);
    assert_eq!(remote.parents(&second), [other.to_string()]);
    assert_eq!(remote.show("other.txt"), "by hand\n");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2\n");
    assert_eq!(remote.show("prod/v.yaml"), "tag: 2\n");
    assert_ne!(first, second);
    // Nobody else pushed: no fetch at all.
    remote.commit(&[("qa/v.yaml", "tag: 3\n")], "qa 3");
    let trigger = remote.head();
    logging.fetch(&url).expect("fetch");
    let _ = commands();
    let again = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-c");
    let (third, _) = committed(logging.promote(&again).expect("promote"));
    let to_prod = request(&url, vec![source(&url, &trigger, "qa", "prod", paths("v.yaml", &["$.tag"]))], "rel-d");
    let (fourth, _) = committed(logging.promote(&to_prod).expect("promote"));
    assert_eq!(commands(), ["fetch", "push", "push"], "a fetch before the first, none before the second");
    assert_eq!(remote.parents(&fourth), [third.to_string()]);
    assert_eq!(remote.show("prod/v.yaml"), "tag: 3\n");
}

#[test]
fn a_value_changed_by_hand_after_ferrys_push_is_promoted_again_not_taken_as_unchanged() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n")]);
    let url = remote.url();
    let trigger = remote.head();
    let c = cache();
    let first = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-a");
    committed(c.cache.promote(&first).expect("promote"));
    // A rollback by hand; the mirror still shows Ferry's push, where staging already has tag 2.
    let rollback = remote.commit(&[("staging/v.yaml", "tag: 1\n")], "roll staging back");
    let again = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-b");
    let (sha, files) = committed(c.cache.promote(&again).expect("promote"));
    assert_eq!(files, ["staging/v.yaml"]);
    assert_eq!(remote.parents(&sha), [rollback.to_string()]);
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2\n");
}

#[test]
fn a_branch_rewound_after_ferrys_push_is_caught_and_the_rolled_back_change_stays_out() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n"), ("prod/v.yaml", "tag: 1\n")]);
    let url = remote.url();
    let before = remote.head();
    let c = cache();
    let to_staging = request(&url, vec![source(&url, &before, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-a");
    let (pushed, _) = committed(c.cache.promote(&to_staging).expect("promote"));
    // The operator rewinds main past Ferry's commit (a forced push).
    git(&remote.bare, &["update-ref", "refs/heads/main", before.as_str()], None);
    let to_prod = request(&url, vec![source(&url, &before, "qa", "prod", paths("v.yaml", &["$.tag"]))], "rel-b");
    let (sha, _) = committed(c.cache.promote(&to_prod).expect("promote"));
    assert_eq!(remote.parents(&sha), [before.to_string()], "built on the rewound tip");
    assert_eq!(remote.show("staging/v.yaml"), "tag: 1\n", "the rolled-back change did not come back");
    assert_eq!(remote.show("prod/v.yaml"), "tag: 2\n");
    // Re-issued, the rolled-back promotion is not taken as done: it is made again.
    let (again, _) = committed(c.cache.promote(&to_staging).expect("promote again"));
    assert_ne!(again, pushed);
    assert_eq!(remote.parents(&again), [sha.to_string()]);
    assert_eq!(remote.show("staging/v.yaml"), "tag: 2\n");
}

#[test]
fn a_pull_request_branch_after_ferrys_own_push_starts_from_the_fetched_tip() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n"), ("prod/v.yaml", "tag: 1\n")]);
    let url = remote.url();
    let trigger = remote.head();
    let c = cache();
    let first = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-a");
    committed(c.cache.promote(&first).expect("promote"));
    let other = remote.commit(&[("other.txt", "by hand\n")], "by hand");
    let pr = request(&url, vec![source(&url, &trigger, "qa", "prod", paths("v.yaml", &["$.tag"]))], "rel-b");
    let (sha, _) = committed(c.cache.push_branch(&pr, "ferry/shop/prod/rel-b").expect("push branch"));
    assert_eq!(remote.branch("ferry/shop/prod/rel-b"), sha);
    assert_eq!(remote.parents(&sha), [other.to_string()]);
}

#[test]
fn a_rejecting_remote_is_a_push_error_with_stderr_and_no_credentials() {
    let remote = Remote::new(&[("qa/v.yaml", "tag: 2\n"), ("staging/v.yaml", "tag: 1\n")]);
    let trigger = remote.head();
    remote.reject_pushes("protected branch: pushes need review");
    let c = cache();
    let url = format!("file://bot:s3cr3t-token@localhost{}", remote.bare.display());
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("v.yaml", &["$.tag"]))], "rel-7");
    let err = c.cache.promote(&req).expect_err("rejected");
    assert_eq!(err.operation, Operation::Push);
    let text = err.to_string();
    assert!(text.contains("protected branch: pushes need review"), "{text}");
    assert!(text.contains("pre-receive hook declined"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("file://***@localhost"), "{text}");
    assert_eq!(err.remote, format!("file://***@localhost{}", remote.bare.display()));
}

#[test]
fn all_files_mode_copies_new_files_and_keeps_target_only_files() {
    let remote = Remote::new(&[
        ("qa/values.yaml", "tag: 2\n"),
        ("qa/templates/new.yaml", "kind: ConfigMap\n"),
        ("qa/deploy.sh", "#!/bin/sh\necho deploy\n"),
        ("staging/values.yaml", "tag: 1\n"),
        ("staging/only-here.txt", "keep me\n"),
    ]);
    make_executable(&remote.work.join("qa/deploy.sh"));
    let trigger = remote.commit(&[], "make deploy.sh executable");
    let c = cache();
    let url = remote.url();
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", FilePlan::AllFiles)], "rel-8");
    let (_, files) = committed(c.cache.promote(&req).expect("promote"));
    assert_eq!(files, vec!["staging/deploy.sh", "staging/templates/new.yaml", "staging/values.yaml"]);
    assert_eq!(remote.show("staging/values.yaml"), "tag: 2\n");
    assert_eq!(remote.show("staging/templates/new.yaml"), "kind: ConfigMap\n");
    assert_eq!(remote.show("staging/only-here.txt"), "keep me\n");
    let mode = git(&remote.bare, &["ls-tree", "main", "staging/deploy.sh"], None);
    assert!(mode.starts_with("100755"), "{mode}");
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", FilePlan::AllFiles)], "rel-9");
    assert_eq!(c.cache.promote(&req).expect("again"), PromotionOutcome::Unchanged);
}

#[test]
fn a_promoted_file_missing_in_the_target_is_a_commit_error() {
    let remote = Remote::new(&[("qa/values.yaml", "tag: 2\n"), ("staging/other.yaml", "x: 1\n")]);
    let trigger = remote.head();
    let c = cache();
    let url = remote.url();
    let req = request(&url, vec![source(&url, &trigger, "qa", "staging", paths("values.yaml", &["$.tag"]))], "rel-10");
    let err = c.cache.promote(&req).expect_err("missing target file");
    assert_eq!(err.operation, Operation::Commit);
    assert!(err.message.contains("staging/values.yaml does not exist"), "{err}");
    let req = request(&url, vec![source(&url, &trigger, "dev", "staging", FilePlan::AllFiles)], "rel-11");
    let err = c.cache.promote(&req).expect_err("empty source dir");
    assert!(err.message.contains("has no files"), "{err}");
}

#[test]
fn a_source_commit_not_yet_fetched_is_fetched() {
    let qa = Remote::new(&[("v.yaml", "tag: 1\n")]);
    let staging = Remote::new(&[("v.yaml", "tag: 0\n")]);
    let c = cache();
    c.cache.fetch(&qa.url()).expect("fetch");
    let newer = qa.commit(&[("v.yaml", "tag: 3\n")], "bump");
    let req = request(&staging.url(), vec![source(&qa.url(), &newer, "", "", paths("v.yaml", &["$.tag"]))], "rel-12");
    committed(c.cache.promote(&req).expect("promote"));
    assert_eq!(staging.show("v.yaml"), "tag: 3\n");
}
