//! A PostgreSQL server of one test's own, for tests that stop and start it (the shared server of
//! `.ci/postgres` serves every other test and is never restarted): Debian's binaries, `initdb` into a
//! temporary directory (as the `postgres` user when the tests run as root: PostgreSQL refuses root),
//! trust authentication on 127.0.0.1 only, a free port, stopped and deleted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test's own PostgreSQL server.
pub(super) struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: String,
    /// Run the server's commands as the `postgres` user.
    as_postgres: bool,
    port: u16,
}

/// The newest installed PostgreSQL's binaries (`/usr/lib/postgresql/VERSION/bin`).
fn binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL is installed (/usr/lib/postgresql/*/bin): apt-get install postgresql")
}

fn output(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Cluster {
    /// Creates and starts a server.
    pub(super) fn start() -> Cluster {
        let bin = binaries();
        let as_postgres = output(Command::new("id").arg("-u")) == "0";
        let user = if as_postgres { "postgres".to_owned() } else { output(Command::new("id").arg("-un")) };
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Cluster { dir, bin, user, as_postgres, port: 0 };
        if as_postgres {
            output(Command::new("chown").args(["postgres:", cluster.path()]));
        }
        let data = cluster.data();
        let initdb =
            ["initdb", "-D", &data, "-U", &cluster.user, "-E", "UTF8", "--no-locale", "--auth=trust", "--no-sync"];
        output(&mut cluster.command(&initdb));
        let hba = cluster.dir.path().join("data/pg_hba.conf");
        std::fs::write(&hba, "local all all trust\nhost all all 127.0.0.1/32 trust\n").unwrap();
        if as_postgres {
            output(Command::new("chown").args(["postgres:", hba.to_str().unwrap()]));
        }
        // A port free a moment ago may be taken by the time the server binds it: another is tried.
        for _ in 0..5 {
            cluster.port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if cluster.try_start() {
                return cluster;
            }
        }
        panic!(
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(cluster.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn data(&self) -> String {
        format!("{}/data", self.path())
    }

    /// `BIN/program args…` as the server's user.
    fn command(&self, args: &[&str]) -> Command {
        let program = self.bin.join(args[0]);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(&args[1..]);
        command
    }

    /// Starts the stopped server on its port; `false` when it could not (the port is taken).
    fn try_start(&self) -> bool {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.path()
        );
        let log = format!("{}/server.log", self.path());
        let start = ["pg_ctl", "-D", &self.data(), "-l", &log, "-w", "-t", "60", "start", "-o", &options];
        self.command(&start).output().unwrap().status.success()
    }

    /// Starts the server again after [`Cluster::stop`], on the same port.
    pub(super) fn restart(&self) {
        assert!(self.try_start(), "PostgreSQL did not start again: {}", self.log());
    }

    /// Stops the server the way an administrator restarting it does (`pg_ctl stop -m fast`: sessions
    /// are ended, open transactions rolled back); returns once it is down.
    pub(super) fn stop(&self) {
        output(&mut self.command(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]));
    }

    /// The URL of the server's `postgres` database.
    pub(super) fn url(&self) -> String {
        format!("postgres://{}@127.0.0.1:{}/postgres", self.user, self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(Path::new(self.path()).join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command(&["pg_ctl", "-D", &self.data(), "-m", "immediate", "-w", "stop"]).output();
    }
}
