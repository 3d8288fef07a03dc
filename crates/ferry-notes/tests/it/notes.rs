//! Notes computed over the scripted repositories: exact contents, first-parent walks, ranges found by
//! version, and snapshots of the JSON and Markdown renderings.

use ferry_notes::{Notes, Options, compute, render};

use crate::support::{Fixture, RELEASE_1};

fn subjects(commits: &[ferry_notes::Commit]) -> Vec<&str> {
    commits.iter().map(|c| c.subject.as_str()).collect()
}

fn component<'a>(notes: &'a Notes, name: &str) -> &'a ferry_notes::ComponentNotes {
    notes.components.iter().find(|c| c.component == name).unwrap_or_else(|| panic!("no component {name}"))
}

fn keys(issues: &[ferry_notes::Issue]) -> Vec<String> {
    issues.iter().map(|i| format!("{}{}", i.key, if i.closes { " (closes)" } else { "" })).collect()
}

#[test]
fn the_second_release_holds_exactly_what_came_since_the_first() {
    let fx = Fixture::new();
    let notes = compute(&fx.release_2(), &fx.catalog(), &fx.git, &fx.lookup(), &Options::default());
    assert_eq!(notes.final_environments, ["prod"]);
    assert!(!notes.settled, "release 2 has not landed in prod");

    let api = component(&notes, "api");
    assert_eq!(api.gitops.from[0].found_by, "promotion");
    assert_eq!(api.gitops.from[0].revision.as_deref(), Some(fx.rev("gitops", "r1-api").as_str()));
    assert_eq!(subjects(&api.gitops.commits), ["Bump api to 1.1.0 (#31)"]);
    assert_eq!(api.source_range, "known");
    let source = api.source.as_ref().expect("source range");
    assert_eq!(
        (source.from.as_str(), source.to.as_str()),
        (fx.rev("source", "image-1.0.0").as_str(), fx.rev("source", "image-1.1.0").as_str())
    );
    assert_eq!(
        subjects(&source.commits),
        [
            "Merge branch 'perf' into 'main'",
            "Speed up search (OPS-3)",
            "Docs: mention acme/other#7 and #15 without keywords; see ISO-8601 and PAY-7",
            "Fix crash on empty cart",
            "Merge pull request #13 from acme/feature/SHOP-102-cart",
            "Handle UTF-8 names, SHA-256 ids, FOO_BAR-1 and XSHOP-9 in the cart",
            "Cart model for SHOP-102",
            "Add login page (#12)",
        ]
    );
    let prs: Vec<(&str, &str)> =
        api.pull_requests.iter().map(|p| (p.reference.as_str(), p.found_in.as_str())).collect();
    assert_eq!(prs, [("#31", "squash"), ("acme/shop!21", "merge-request"), ("#13", "merge"), ("#12", "squash")]);
    assert_eq!(
        keys(&api.issues),
        [
            "SHOP-104",
            "OPS-3",
            "acme/other#7",
            "#15",
            "#14 (closes)",
            "SHOP-103 (closes)",
            "SHOP-102",
            "SHOP-101",
            "SHOP-105",
        ]
    );
    let jira = api.issues.iter().find(|i| i.key == "SHOP-103").expect("SHOP-103");
    assert_eq!(jira.url.as_deref(), Some("https://jira.example/browse/SHOP-103"));
    let image_pr = api.pull_requests.iter().find(|p| p.reference == "#13").expect("#13");
    assert!(image_pr.commits.iter().any(|c| c.starts_with("image ")), "{image_pr:?}");

    // The image without a report: GitOps commits, and the source range is unknown.
    let web = component(&notes, "web");
    assert_eq!(
        subjects(&web.gitops.commits),
        ["Merge pull request #32 from acme/web-tag", "web 2.1.0 for SHOP-106", "web: raise replicas"]
    );
    assert_eq!(web.source_range, "unknown");
    assert_eq!(web.source_range_reason.as_deref(), Some("no image report carries 2.1.0"));
    assert_eq!(web.images.from.as_ref().map(|s| s.value.as_str()), Some("2.0.0"));
    assert_eq!(keys(&web.issues), ["SHOP-106", "acme/gitops#2 (closes)"]);
    assert_eq!(web.pull_requests.iter().map(|p| p.reference.as_str()).collect::<Vec<_>>(), ["#32"]);

    // Nothing from before release 1, nothing after the promoted revisions.
    let all: Vec<&str> = notes
        .components
        .iter()
        .flat_map(|c| c.gitops.commits.iter().chain(c.source.iter().flat_map(|s| s.commits.iter())))
        .map(|c| c.subject.as_str())
        .collect();
    for absent in ["api: first release SHOP-90", "web: first release (#30)", "Add health endpoint SHOP-90", "Docs only"]
    {
        assert!(!all.contains(&absent), "{absent} is listed");
    }
    assert!(!all.iter().any(|s| s.contains("SHOP-999")));
    assert!(notes.issues.iter().all(|i| {
        !["SHOP-90", "SHOP-999", "XSHOP-9", "PAY-7", "FOO_BAR-1", "UTF-8", "SHA-256", "ISO-8601"]
            .contains(&i.key.as_str())
    }));

    // Top-level lists are the components' united, without duplicates.
    assert_eq!(notes.pull_requests.len(), 5);
    assert!(notes.warnings.is_empty(), "{:?}", notes.warnings);

    let json = fx.redact(&serde_json::to_string_pretty(&notes).expect("json"));
    insta::assert_snapshot!("second_release_json", json);
    insta::assert_snapshot!("second_release_markdown", fx.redact(&render::markdown(&notes)));
    insta::assert_snapshot!("second_release_text", fx.redact(&render::text(&notes)));

    // The JSON reads back into the same notes (the CLI renders from it).
    let back: Notes = serde_json::from_str(&serde_json::to_string(&notes).expect("json")).expect("parse");
    assert_eq!(back, notes);
}

#[test]
fn first_parent_lists_only_the_mainline_of_the_source_repository() {
    let fx = Fixture::new();
    let options = Options { first_parent: true, ..Options::default() };
    let notes = compute(&fx.release_2(), &fx.catalog(), &fx.git, &fx.lookup(), &options);
    let source = component(&notes, "api").source.as_ref().expect("source range");
    assert!(source.first_parent);
    assert_eq!(
        subjects(&source.commits),
        [
            "Merge branch 'perf' into 'main'",
            "Docs: mention acme/other#7 and #15 without keywords; see ISO-8601 and PAY-7",
            "Fix crash on empty cart",
            "Merge pull request #13 from acme/feature/SHOP-102-cart",
            "Add login page (#12)",
        ]
    );
    assert!(source.commits.iter().filter(|c| c.subject.starts_with("Merge")).all(|c| c.merge));
}

#[test]
fn without_the_earlier_release_the_start_is_found_by_version() {
    let fx = Fixture::new();
    let mut lookup = fx.lookup();
    lookup.snapshots.remove(RELEASE_1);
    let notes = compute(&fx.release_2(), &fx.catalog(), &fx.git, &lookup, &Options::default());
    let api = component(&notes, "api");
    assert_eq!(api.gitops.from[0].found_by, "version");
    assert_eq!(api.gitops.from[0].revision.as_deref(), Some(fx.rev("gitops", "r1-api").as_str()));
    assert_eq!(subjects(&api.gitops.commits), ["Bump api to 1.1.0 (#31)"]);
    assert!(notes.components.iter().flat_map(|c| &c.warnings).any(|w| w.contains(RELEASE_1)), "{notes:#?}");
}

#[test]
fn without_reports_or_history_the_notes_say_what_is_unknown() {
    let fx = Fixture::new();
    let lookup = crate::support::FakeLookup::default();
    let mut catalog = fx.catalog();
    // No template: no value names an image, and nothing can match a version.
    for product in catalog.products.values_mut() {
        product.promotion_template = None;
    }
    let notes = compute(&fx.release_2(), &catalog, &fx.git, &lookup, &Options::default());
    let api = component(&notes, "api");
    assert_eq!(api.gitops.from[0].found_by, "unknown");
    assert_eq!(api.source_range, "unknown");
    // All history up to the promoted revision, the first release's commit included.
    assert_eq!(
        subjects(&api.gitops.commits),
        ["Bump api to 1.1.0 (#31)", "api: first release SHOP-90", "Initial layout"]
    );
    assert!(api.warnings.iter().any(|w| w.contains("cannot tell which revision")), "{:?}", api.warnings);
    let md = render::markdown(&notes);
    assert!(md.contains("Source range unknown"), "{md}");
}

#[test]
fn a_rollbacks_notes_list_what_it_takes_out() {
    use ferry_model::release::{ReleaseState, RollbackOf};
    let fx = Fixture::new();
    // Prod runs release 1; the rollback restores the initial layout (the commit before r1-api).
    let initial = fx.rev("gitops", "r1-api~1");
    let mut snapshot = fx.snapshot("0.9.0", &initial, &initial);
    snapshot.flow = ferry_model::dora::ROLLBACK_FLOW.to_owned();
    let release_1: ferry_model::ReleaseId = RELEASE_1.parse().unwrap();
    snapshot.rollback = Some(RollbackOf {
        environment: "prod".parse().unwrap(),
        target: "01900000-0000-7000-8000-000000000000".parse().unwrap(),
        replaces: Some(release_1),
        reason: None,
        automatic: false,
    });
    let id = "01900000-0000-7000-8000-000000000003".parse().unwrap();
    let state = ReleaseState::new(id, snapshot, jiff::Timestamp::from_second(1_767_400_000).unwrap()).unwrap();
    let notes = compute(&state, &fx.catalog(), &fx.git, &fx.lookup(), &Options::default());
    assert!(notes.rollback);
    let api = component(&notes, "api");
    assert_eq!(api.gitops.from[0].revision.as_deref(), Some(fx.rev("gitops", "r1-api").as_str()), "live: release 1");
    assert_eq!(subjects(&api.gitops.commits), ["api: first release SHOP-90"], "what release 1 brought, taken out");
    let web = component(&notes, "web");
    assert_eq!(subjects(&web.gitops.commits), ["web: first release (#30)"]);
    assert!(keys(&notes.issues).contains(&"SHOP-90".to_owned()), "{:?}", keys(&notes.issues));
    assert!(notes.pull_requests.iter().any(|p| p.reference == "#30"), "{:?}", notes.pull_requests);
    let markdown = render::markdown(&notes);
    assert!(markdown.contains("are taken out"), "{markdown}");
    assert!(render::text(&notes).contains("taking out what was live in prod"));
}
