//! Running Ferry as a service: manual pages generated from the command line, and `ferry server
//! --config-file` with its precedence (flag, then environment variable, then file, then default).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{ferry_bin, path, run, run_with};

#[test]
fn man_writes_a_roff_page_per_command_and_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let r = run(&["man", "--dir", path(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for page in [
        "ferry.1",
        "ferry-server.1",
        "ferry-release.1",
        "ferry-release-show.1",
        "ferry-release-list.1",
        "ferry-db-copy.1",
    ] {
        let file = out.join(page);
        assert!(r.stdout.lines().any(|l| Path::new(l) == file), "{page} not listed: {}", r.stdout);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{page}: {e}"));
        // The page starts with .TH, after the two lines defining the apostrophe string (roff's preamble).
        let first = text.lines().find(|l| !l.starts_with(".ie \\n(.g .ds Aq") && !l.starts_with(".el .ds Aq"));
        assert!(first.is_some_and(|l| l.starts_with(".TH ")), "{page}: {text}");
        assert!(text.contains("\"ferry "), "{page}: the source is ferry and its version");
        assert!(text.contains(".SH NAME"), "{page}");
    }
    assert!(!out.join("ferry-help.1").exists(), "no page for the help subcommand");
    let list = std::fs::read_to_string(out.join("ferry-release-list.1")).unwrap();
    for flag in ["status", "since", "until", "limit", "cursor", "output"] {
        assert!(list.contains(&format!("\\-\\-{flag}")), "ferry-release-list.1 lacks --{flag}: {list}");
    }
    assert!(list.contains(".TH ferry-release-list 1"), "{list}");
    let server = std::fs::read_to_string(out.join("ferry-server.1")).unwrap();
    assert!(server.contains("\\-\\-config\\-file") && server.contains("FERRY_CONFIG_FILE"), "{server}");
    // groff reads every page without a warning (-k: UTF-8 input through preconv, as `man` does).
    let pages: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(pages.len() > 30, "{}", pages.len());
    if Path::new("/usr/bin/groff").exists() {
        for page in pages {
            let checked =
                Command::new("groff").args(["-k", "-man", "-z", "-ww", "-Tutf8"]).arg(&page).output().unwrap();
            assert!(
                checked.status.success() && checked.stderr.is_empty(),
                "{}: {}",
                page.display(),
                String::from_utf8_lossy(&checked.stderr)
            );
        }
    }
}

/// A `ferry server` started with exactly `args` and `env` (no other FERRY_ variable), killed when dropped.
struct Started {
    child: Child,
    url: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str], env: &[(&str, &str)], log: &Path) -> Started {
    let mut command = Command::new(ferry_bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FERRY_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .arg("server")
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("ferry server listening on ").map(str::to_owned);
    let url = url.unwrap_or_else(|| panic!("first line {first:?}; log: {}", std::fs::read_to_string(log).unwrap()));
    Started { child, url }
}

/// `GET /healthz` over plain HTTP/1.1: the status code.
fn healthz(url: &str) -> u16 {
    let host = url.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_config_file_sets_the_server_flags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("ferry.toml");
    std::fs::write(
        &file,
        format!("# as a service would\nlisten = \"127.0.0.1:0\"\ndata = {:?}\npoll-interval = \"1m\"\n", path(&data)),
    )
    .unwrap();
    let server = start(&["--config-file", path(&file)], &[], &dir.path().join("server.log"));
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    assert_eq!(healthz(&server.url), 200);
    assert!(data.join("ferry.db").exists(), "the file's data directory is used");
    drop(server);

    // FERRY_CONFIG_FILE names it just as well.
    let server = start(&[], &[("FERRY_CONFIG_FILE", path(&file))], &dir.path().join("env.log"));
    assert_eq!(healthz(&server.url), 200);
}

#[test]
fn a_flag_beats_its_environment_variable_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env) = (dir.path().join("file-data"), dir.path().join("env-data"));
    let file = dir.path().join("ferry.toml");
    // Port 1 is not free to take: a server that used the file's address would not start there.
    std::fs::write(&file, format!("listen = \"127.0.0.1:1\"\ndata = {:?}\n", path(&from_file))).unwrap();
    let server = start(
        &["--config-file", path(&file), "--listen", "127.0.0.1:0"],
        &[("FERRY_DATA", path(&from_env))],
        &dir.path().join("server.log"),
    );
    assert!(!server.url.ends_with(":1"), "the flag wins over the file: {}", server.url);
    assert_eq!(healthz(&server.url), 200);
    assert!(from_env.join("ferry.db").exists(), "the environment wins over the file");
    assert!(!from_file.exists(), "the file's data directory is not used");
}

#[test]
fn a_bad_config_file_is_bad_usage_naming_the_file_the_key_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ferry.toml");
    let cases = [
        ("lisen = \"127.0.0.1:0\"\n", "unknown key `lisen`; the keys are the flags of `ferry server` without `--`"),
        ("auth = \"yes\"\n", "key `auth`: expected true or false, found a string"),
        ("kill-grace = 10\n", "key `kill-grace`: expected a string (DURATION), found an integer"),
        ("public-url = [\"https://a.example\", 2]\n", "key `public-url`: expected an array of strings"),
        ("listen = [\n", "not valid TOML"),
    ];
    for (text, expected) in cases {
        std::fs::write(&file, text).unwrap();
        // A bad key is reported even when the command line sets every flag it would fill in.
        let r = run_with(&["server", "--config-file", path(&file), "--listen", "127.0.0.1:0"], &[], None);
        assert_eq!(r.code, 2, "{text}: {}", r.stderr);
        assert!(r.stderr.contains(&format!("--config-file {}", path(&file))), "{text}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{text}: {}", r.stderr);
    }
    let missing = dir.path().join("absent.toml");
    let r = run(&["server", "--config-file", path(&missing)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("absent.toml: cannot read it"), "{}", r.stderr);
}
