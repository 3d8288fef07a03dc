//! Release governance end to end (SPEC §10): runtime freezes made with the CLI hold a release at a
//! frozen environment, Suspended with "frozen until …", and it continues by itself when the window ends.
//! Waiting follows the server's event stream and `ferry release watch`, never a sleep.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::e2e_releases::Product;
use super::{Server, path};

fn at(offset_secs: i64) -> String {
    (Timestamp::now() + SignedDuration::from_secs(offset_secs)).to_string()
}

#[test]
fn a_frozen_environment_suspends_the_release_and_it_resumes_at_the_windows_end() {
    let product = Product::new("echo gate passed");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    // Bad windows are refused naming the field.
    let bad = server.ferry(&["freeze", "create", "bad", "--cron", "0 16 * FRI", "--duration", "1h"]);
    assert_eq!(bad.code, 2, "invalid input: {}", bad.stderr);
    assert!(bad.stderr.contains("cron: \"0 16 * FRI\" has 4 fields"), "{}", bad.stderr);
    let bad = server.ferry(&[
        "freeze",
        "create",
        "bad",
        "--cron",
        "0 16 * * FRI",
        "--duration",
        "64h",
        "--time-zone",
        "Mars/Olympus",
    ]);
    assert!(bad.stderr.contains("timeZone: unknown time zone \"Mars/Olympus\""), "{}", bad.stderr);

    // A long change freeze on prod: the release stops there.
    let (from, until) = (at(-3600), at(3600));
    let made = server.ferry(&[
        "freeze",
        "create",
        "change-freeze",
        "--env",
        "prod",
        "--from",
        &from,
        "--until",
        &until,
        "--reason",
        "release train",
    ]);
    assert_eq!(made.code, 0, "{}\n{}", made.stdout, made.stderr);
    let promoted = server.ferry(&["promote", "shop", "--flow", "standard", "-o", "json"]);
    assert_eq!(promoted.code, 0, "{}", promoted.stderr);
    let id = promoted.json()["id"].as_str().unwrap().to_owned();
    let frozen = |events: &[Value]| {
        events.iter().any(|e| e["body"]["type"] == "EnvironmentFrozen" && e["body"]["env"] == "prod")
    };
    super::follow_events(&server.url, &id, frozen);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Suspended", "{view:#}");
    let reason = view["reason"].as_str().unwrap();
    assert!(reason.starts_with("frozen until ") && reason.ends_with("(prod: change-freeze)"), "{reason}");
    let list = server.ferry(&["freeze", "list", "-o", "json"]).json();
    assert_eq!(list["items"][0]["name"], "change-freeze");
    assert_eq!(list["items"][0]["source"], "runtime");
    assert!(list["items"][0]["active"].is_object(), "{list:#}");
    // An unfreeze of an environment that is not frozen is a conflict.
    let refused = server.ferry(&["release", "unfreeze", &id, "--env", "qa", "--reason", "x"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("not frozen"), "{}", refused.stderr);

    // Swap it for a window that ends in two seconds: the release waits for that end, then goes on alone.
    let end = at(2);
    let made = server.ferry(&["freeze", "create", "last-minutes", "--env", "prod", "--from", &from, "--until", &end]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let deleted = server.ferry(&["freeze", "delete", "change-freeze"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let watched = server.ferry(&["release", "watch", &id]);
    assert_eq!(watched.code, 0, "{}\n{}", watched.stdout, watched.stderr);
    let view = server.ferry(&["release", "show", &id, "-o", "json"]).json();
    assert_eq!(view["status"], "Succeeded", "{view:#}");
    let prod = view["environments"].as_array().unwrap().iter().find(|e| e["name"] == "prod").unwrap();
    let started: Timestamp = prod["startedAt"].as_str().unwrap().parse().unwrap();
    assert!(started >= end.parse::<Timestamp>().unwrap(), "prod started at {started}, before the window ended ({end})");
    let (status, events) =
        super::e2e_auth::request("GET", &format!("{}/api/v1/releases/{id}/events", server.url), &[], None);
    assert_eq!(status, 200, "{events}");
    let holds: Vec<String> = events["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["body"]["type"] == "EnvironmentFrozen")
                .map(|e| e["body"]["until"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(holds, [until.clone(), end.clone()], "held until the long window, then until the short one");
}
