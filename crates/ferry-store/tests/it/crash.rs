//! Crash safety: a child process (this test binary, re-run on the ignored `crash_child` test) writes
//! in a loop from several tasks and prints each acknowledged event; it is killed with SIGKILL while
//! writing. Reopened, the store must hold every acknowledged write, and each release's log must run
//! without a gap or a duplicate. Three rounds, each child going on where the last one was killed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use ferry_store::*;
use serde_json::json;

use crate::backend::Backend;
use crate::contract::{one, row, t};

/// Names the child's database (its [`Backend::location`]).
const CHILD_ENV: &str = "FERRY_STORE_CRASH_CHILD";
/// Concurrent writing tasks in the child, one release each.
const WRITERS: usize = 8;
/// Acknowledged events seen before the child is killed, per round.
const KILL_AFTER: usize = 300;
/// Times a child is started and killed.
const ROUNDS: usize = 3;

/// Whether this process is the writing child of `acknowledged_writes_survive_sigkill`.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The database the child writes to.
pub fn child_location() -> String {
    std::env::var(CHILD_ENV).expect("run by acknowledged_writes_survive_sigkill, which sets FERRY_STORE_CRASH_CHILD")
}

fn body(release: &str, seq: i64) -> serde_json::Value {
    json!({"type": "CrashEvent", "release": release, "seq": seq})
}

/// Two events of `release` from `first_seq`.
fn write(release: &str, first_seq: i64) -> Write {
    let events =
        (first_seq..first_seq + 2).map(|seq| NewEvent { at: t("2026-01-01T00:00:00Z"), body: body(release, seq) });
    Write::Release(Box::new(ReleaseWrite {
        release_id: release.into(),
        product: "crash".into(),
        first_seq,
        events: events.collect(),
        row: row(release, "crash", "Running", "2026-01-01T00:00:00Z"),
        view: Some(json!({"id": release, "next": first_seq + 2})),
        app_states: vec![],
        runs: Vec::new(),
        outcomes: Vec::new(),
        turn: None,
    }))
}

/// The child: writes until it is killed, printing `ack RELEASE SEQ GID` for each acknowledged event and
/// `kv KEY VALUE` for each acknowledged setting.
pub async fn child(db: impl Backend) {
    let store = db.open().await;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.spawn(async move {
            let id = crate::contract::rid(500 + w);
            let mut next = store.release_events(&crate::contract::id_of(&id)).await.unwrap().len() as i64;
            loop {
                let mut writes = vec![write(&id, next)];
                // Every third request carries a second write, so groups hold savepoints too.
                if next % 3 == 0 {
                    writes.push(Write::Kv { key: format!("crash/{w}"), value: next.to_string() });
                }
                let with_kv = writes.len() == 2;
                let mut outcomes = store.write(writes).await.unwrap().into_iter();
                let Ok(WriteOutcome::Events(gids)) = outcomes.next().unwrap() else {
                    panic!("the release write failed")
                };
                for (i, gid) in gids.iter().enumerate() {
                    println!("ack {id} {} {gid}", next + i as i64);
                }
                if with_kv {
                    outcomes.next().unwrap().unwrap();
                    println!("kv crash/{w} {next}");
                }
                next += 2;
            }
        });
    }
    // The writers go on until the process is killed; one that stops has failed.
    let stopped = tasks.join_next().await;
    panic!("a writing task stopped: {stopped:?}");
}

#[derive(Default)]
struct Acknowledged {
    /// (release, seq) → global id.
    events: BTreeMap<(String, i64), i64>,
    /// Setting → the highest value acknowledged.
    settings: BTreeMap<String, i64>,
}

impl Acknowledged {
    /// Records one line of the child's output; true for an acknowledged event.
    fn record(&mut self, line: &str) -> bool {
        let parts: Vec<_> = line.split(' ').collect();
        match parts.as_slice() {
            ["ack", release, seq, gid] => {
                let key = (release.to_string(), seq.parse().unwrap());
                let gid: i64 = gid.parse().unwrap();
                if let Some(earlier) = self.events.insert(key.clone(), gid) {
                    assert_eq!(earlier, gid, "{key:?} was acknowledged twice with different ids");
                }
                true
            }
            ["kv", key, value] => {
                let value: i64 = value.parse().unwrap();
                let highest = self.settings.entry(key.to_string()).or_default();
                *highest = (*highest).max(value);
                false
            }
            _ => false,
        }
    }
}

pub async fn acknowledged_writes_survive_sigkill<B: Backend>(db: B, child_test: &str) {
    let mut acked = Acknowledged::default();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([child_test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, db.location())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut seen = 0;
        let mut killed = false;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            if acked.record(&line.unwrap()) {
                seen += 1;
            }
            if !killed && seen >= KILL_AFTER {
                // SIGKILL, while the child's writers keep writing.
                child.kill().unwrap();
                killed = true;
            }
        }
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child ended otherwise ({status}) after {seen} acknowledged events:\n{stderr}"
        );
        check(&db, &acked).await;
    }
}

/// Reopens the store and checks it against everything acknowledged so far.
async fn check<B: Backend>(db: &B, acked: &Acknowledged) {
    let store = db.open().await;
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &StoredEvent| e.gid);
        let page = store.events_after(after, EventFilter::All, 10_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    assert!(events.windows(2).all(|w| w[0].gid < w[1].gid), "global ids are unique and in order");
    if B::GAPLESS_IDS {
        let gids: Vec<i64> = events.iter().map(|e| e.gid).collect();
        assert_eq!(gids, (1..=events.len() as i64).collect::<Vec<_>>(), "no hole in the global ids");
    }
    let mut logs: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for e in &events {
        logs.entry(e.release_id.as_str()).or_default().push(e);
    }
    for (release, log) in &logs {
        for (i, e) in log.iter().enumerate() {
            assert_eq!(e.seq, i as i64, "{release}: the log has no gap and no duplicate");
            assert_eq!(e.body, body(release, e.seq));
        }
        let read = store.release_events(&crate::contract::id_of(release)).await.unwrap();
        assert_eq!(read.iter().collect::<Vec<_>>(), *log);
        // The projection agrees with the log: the next write goes on from its end.
        let next = log.len() as i64;
        let empty = Write::Release(Box::new(ReleaseWrite {
            release_id: release.to_string(),
            product: "crash".into(),
            first_seq: next,
            events: vec![],
            row: row(release, "crash", "Running", "2026-01-01T00:00:00Z"),
            view: Some(json!({"id": release, "next": next})),
            app_states: vec![],
            runs: Vec::new(),
            outcomes: Vec::new(),
            turn: None,
        }));
        one(store.write(vec![empty]).await.unwrap()).unwrap();
    }
    for ((release, seq), gid) in &acked.events {
        let stored = logs.get(release.as_str()).and_then(|log| log.get(*seq as usize));
        assert_eq!(stored.map(|e| e.gid), Some(*gid), "acknowledged event {release} #{seq} was lost");
    }
    for (key, value) in &acked.settings {
        let stored: i64 = store.kv_get(key).await.unwrap().unwrap().parse().unwrap();
        assert!(stored >= *value, "{key}: {value} was acknowledged, {stored} is stored");
    }
}
