//! Operating Ferry end to end: the server's JSON log lines (release ids across engine, git and runner,
//! the access log, no secrets) and its `/metrics` exposition after a real release, parsed strictly.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

use serde_json::Value;

use super::e2e_releases::Product;
use super::{Server, path};

/// Secrets the logs must never show, and where each comes from.
const CREDENTIAL: &str = "hunter2-credential";
const WEBHOOK_SECRET: &str = "whsec-0f3b9e1c-never-logged";
const BOGUS_TOKEN: &str = "ferry_bogus-token-never-logged";

/// A second product whose repository URL carries a password (unreachable: its fetch fails, which is
/// where a URL is most likely to be logged).
fn leaky_product() -> String {
    let url = format!("https://ferry-bot:{CREDENTIAL}@127.0.0.1:9/leaky.git");
    let mut out = String::new();
    for env in ["dev", "qa"] {
        out.push_str(&format!(
            "apiVersion: ferry/v1\nkind: Application\nmetadata: {{ name: leaky-api-{env} }}\nspec:\n  product: leaky\n  \
             environment: {env}\n  component: api\n  source: {{ repoURL: \"{url}\", path: apps/api/{env}, targetRevision: main }}\n---\n"
        ));
    }
    out.push_str(
        "apiVersion: ferry/v1\nkind: Product\nmetadata: { name: leaky }\nspec:\n  promotionTemplate:\n    promotion:\n      \
         values.yaml: { jsonPaths: [\"$.image.tag\"] }\n  promotionFlows: [ { name: leaky-flow } ]\n---\n\
         apiVersion: ferry/v1\nkind: PromotionFlow\nmetadata: { name: leaky-flow }\nspec:\n  triggerEnvironment: dev\n  \
         steps:\n    - { environment: qa, dependsOn: [dev] }\n",
    );
    out
}

/// Sends one request and returns the status and body.
fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.request(method.parse().unwrap(), url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[test]
fn json_logs_follow_a_release_through_engine_git_and_runner_and_show_no_secret() {
    let product = Product::new("echo gate passed");
    std::fs::write(product.config.join("leaky.yaml"), leaky_product()).unwrap();
    let data = product.dir.path().join("data");
    let secret_file = product.dir.path().join("webhook-secret");
    std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
    let token_file = data.with_extension("token");
    let args = [
        "--config",
        path(&product.config),
        "--health-poll-interval",
        "50ms",
        "--auth",
        "--bootstrap-token-file",
        path(&token_file),
        "--webhook-secret-file",
        path(&secret_file),
        "--log-format",
        "json",
    ];
    let mut server = Server::start_in_env(&data, &args, &[("FERRY_LOG", "debug")]);
    server.token_file = Some(token_file);
    let token = server.admin_token();

    let run = server.ferry_as(&token, &["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let id = run.json()["id"].as_str().unwrap().to_owned();
    // The product whose repository URL carries a password cannot be fetched.
    let leaky = server.ferry_as(&token, &["promote", "leaky"]);
    assert_ne!(leaky.code, 0, "{}", leaky.stdout);
    // A refused token and an unsigned webhook.
    let refused = server.ferry_as(BOGUS_TOKEN, &["release", "list", "shop"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let (status, _) = http("POST", &format!("{}/api/v1/hooks/git", server.url), &[], Some("{}"));
    assert_eq!(status, 401);
    let show = server.ferry_as(&token, &["release", "show", &id, "-o", "json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    drop(server);

    let log = Server::log_of(&data);
    for secret in [token.as_str(), CREDENTIAL, WEBHOOK_SECRET, BOGUS_TOKEN] {
        assert!(!log.contains(secret), "a secret is in the log:\n{log}");
    }
    // The password's URL was logged, redacted: the check above looked where it would have been.
    assert!(log.contains("127.0.0.1:9/leaky"), "the failed fetch is logged:\n{log}");

    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "target", "message"] {
            assert!(line.get(key).is_some_and(Value::is_string), "no {key} in {line}");
        }
        jiff::Timestamp::from_str(line["timestamp"].as_str().unwrap()).unwrap();
    }
    let of_release: Vec<&Value> = lines.iter().filter(|l| l["release"] == id.as_str()).collect();
    let targets: BTreeSet<&str> = of_release.iter().map(|l| l["target"].as_str().unwrap()).collect();
    assert!(targets.iter().any(|t| t.starts_with("ferry_engine")), "engine lines carry the release: {targets:?}");
    assert!(targets.contains("ferry::git"), "git lines carry the release: {targets:?}");
    assert!(targets.contains("ferry::runner"), "runner lines carry the release: {targets:?}");
    // Runner and git lines inside an environment's work name it.
    assert!(
        of_release.iter().any(|l| l["target"] == "ferry::runner" && l["env"] == "qa" && l["app"] == "shop-api-qa"),
        "runner lines name the environment and application"
    );
    assert!(of_release.iter().any(|l| l["message"] == "release finished" && l["status"] == "Succeeded"));
    let changes: BTreeSet<&str> = of_release
        .iter()
        .filter(|l| l["message"] == "environment status changed" && l["status"] == "Successful")
        .map(|l| l["env"].as_str().unwrap())
        .collect();
    assert_eq!(changes, BTreeSet::from(["dev", "qa", "staging", "prod"]));

    // The access log names the route template and the token's name, never the path's id.
    let access: Vec<&Value> = lines.iter().filter(|l| l["target"] == "ferry::access").collect();
    let show_line = access
        .iter()
        .find(|l| l["route"] == "/api/v1/releases/{id}" && l["method"] == "GET")
        .unwrap_or_else(|| panic!("no access line for release show: {access:?}"));
    assert_eq!(show_line["status"], 200);
    assert_eq!(show_line["actor"], "bootstrap", "the admin token of --bootstrap-token-file");
    assert!(show_line["duration_ms"].is_number());
    assert!(access.iter().all(|l| !l.to_string().contains(&id)), "access lines carry templates, not ids");
    assert!(access.iter().any(|l| l["status"] == 401 && l["actor"] == "-"), "refused requests are logged");
}

/// A series' labels without `le`.
type Labels = Vec<(String, String)>;

/// One sample of the exposition: name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (0.0.4) strictly: every line is a `# HELP`, a `# TYPE` before its
/// family's samples, or a sample of a declared family with valid names, quoted and escaped label
/// values and a float value; histogram buckets are cumulative, end with `+Inf` and match `_count`.
fn parse_exposition(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or_else(|| panic!("HELP without text: {line}"));
            assert!(valid_name(name), "bad name in {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE: {line}"));
            assert!(valid_name(name), "bad name in {line}");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "bad type: {line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "second TYPE for {name}");
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
            let sample = parse_sample(line);
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| sample.name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
                .unwrap_or(&sample.name);
            assert!(types.contains_key(family), "sample before its TYPE: {line}");
            samples.push(sample);
        }
    }
    check_histograms(&types, &samples);
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Sample {
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
    let name = &line[..name_end];
    assert!(valid_name(name), "bad metric name in {line}");
    let mut labels = BTreeMap::new();
    let chars: Vec<char> = line[name_end..].chars().collect();
    let mut i = 0;
    if chars.first() == Some(&'{') {
        i = 1;
        while chars.get(i) != Some(&'}') {
            let key_start = i;
            while chars.get(i).is_some_and(|c| *c != '=') {
                i += 1;
            }
            let key: String = chars[key_start..i].iter().collect();
            assert!(valid_name(&key) && !key.contains(':'), "bad label name {key:?} in {line}");
            assert_eq!(chars.get(i + 1), Some(&'"'), "label value not quoted in {line}");
            i += 2;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    Some('\\') => {
                        value.push(match chars.get(i + 1) {
                            Some('\\') => '\\',
                            Some('"') => '"',
                            Some('n') => '\n',
                            other => panic!("bad escape {other:?} in {line}"),
                        });
                        i += 2;
                    }
                    Some('"') => break,
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                    None => panic!("unterminated label value in {line}"),
                }
            }
            i += 1;
            assert!(labels.insert(key.clone(), value).is_none(), "label {key} twice in {line}");
            match chars.get(i) {
                Some(',') => i += 1,
                Some('}') => {}
                _ => panic!("expected , or }} after a label in {line}"),
            }
        }
        i += 1;
    }
    let rest: String = chars[i..].iter().collect();
    let value_text = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before the value: {line}"));
    assert!(!value_text.contains(' '), "timestamps are not written: {line}");
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        text => text.parse().unwrap_or_else(|_| panic!("bad value {text:?} in {line}")),
    };
    Sample { name: name.to_owned(), labels, value }
}

/// Buckets of each histogram series are cumulative, sorted by `le`, end with `+Inf` equal to `_count`.
fn check_histograms(types: &BTreeMap<String, String>, samples: &[Sample]) {
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        // Series (labels but le) → buckets (le, cumulative count).
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let le = s.labels.get("le").unwrap_or_else(|| panic!("bucket without le: {s:?}"));
            let le: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
            let key = s.labels.iter().filter(|(k, _)| *k != "le").map(|(k, v)| (k.clone(), v.clone())).collect();
            series.entry(key).or_default().push((le, s.value));
        }
        for (labels, buckets) in series {
            assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{family} {labels:?}");
            let last = buckets.last().unwrap();
            assert!(last.0.is_infinite(), "{family} ends with +Inf");
            let count = samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                .unwrap_or_else(|| panic!("no _count for {family} {labels:?}"));
            assert_eq!(count.value, last.1, "{family} +Inf bucket equals _count");
        }
    }
}

/// The sum of `name`'s samples whose labels include `with`.
fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

#[test]
fn metrics_parse_strictly_and_the_histograms_move_after_a_release() {
    let product = Product::new("echo gate passed");
    let server = Server::start_in(
        &product.dir.path().join("data"),
        &["--config", path(&product.config), "--health-poll-interval", "50ms"],
    );
    let scrape = || {
        let (status, text) = http("GET", &format!("{}/metrics", server.url), &[], None);
        assert_eq!(status, 200);
        parse_exposition(&text)
    };
    let before = scrape();
    let build = before.iter().find(|s| s.name == "ferry_build_info").expect("ferry_build_info");
    assert_eq!(build.labels["version"], env!("CARGO_PKG_VERSION"));
    assert!(!build.labels["commit"].is_empty());
    assert_eq!(total(&before, "ferry_step_duration_seconds_count", &[]), 0.0);

    let run = server.ferry(&["promote", "shop", "--flow", "standard", "--wait", "-o", "json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let after = scrape();
    let count = |name: &str, with: &[(&str, &str)]| total(&after, &format!("{name}_count"), with);
    assert_eq!(count("ferry_environment_duration_seconds", &[("status", "Successful")]), 4.0);
    assert_eq!(count("ferry_hop_latency_seconds", &[("product", "shop")]), 3.0, "qa, staging and prod are hops");
    assert_eq!(count("ferry_release_duration_seconds", &[("status", "Succeeded")]), 1.0);
    // Three environments × two applications × (pre-action: two steps, post-action: one step).
    assert_eq!(count("ferry_step_duration_seconds", &[("status", "Success")]), 18.0);
    for phase in ["preAction", "action", "health", "postAction"] {
        assert!(count("ferry_application_phase_duration_seconds", &[("phase", phase)]) >= 6.0, "{phase}");
    }
    assert!(count("ferry_git_operation_duration_seconds", &[("operation", "push"), ("result", "ok")]) >= 3.0);
    assert!(count("ferry_git_operation_duration_seconds", &[("operation", "fetch")]) >= 1.0);
    // Each application's gate: watched (`wait_ready`), or known at once (`settled`: exec without commands).
    let gates = count("ferry_provider_call_duration_seconds", &[("call", "wait_ready")])
        + count("ferry_provider_call_duration_seconds", &[("call", "settled")]);
    assert!(gates >= 6.0, "{gates}");
    assert!(count("ferry_http_request_duration_seconds", &[("route", "/api/v1/products/{name}/promote")]) >= 1.0);
    let queue = after.iter().find(|s| s.name == "ferry_queue_depth" && s.labels["product"] == "shop");
    assert_eq!(queue.map(|s| s.value), Some(0.0), "the queue of shop is empty");
    assert!(total(&after, "ferry_runner_slots", &[]) >= 1.0, "the runner's slots are known from the start");
    assert_eq!(total(&after, "ferry_runner_slots_in_use", &[]), 0.0, "every slot is back");
}

#[test]
fn a_log_filter_that_does_not_parse_is_bad_usage_naming_ferry_log() {
    let r = super::run_with(&["version", "--client"], &[("FERRY_LOG", "info,[[")], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("FERRY_LOG"), "{}", r.stderr);
    let r = super::run_with(&["version", "--client"], &[("FERRY_LOG", "debug")], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}
