//! Processes left behind by a Ferry process that died without stopping them (kill -9, power cut in a
//! container): each step records its process group in its run directory; at start-up,
//! [`reap_orphans`] kills the groups recorded by runs that never finished and removes their
//! directories, so a resumed run never races the step it re-runs.

use std::path::Path;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// This boot's id: a recorded process group is only trusted on the boot that recorded it.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Records the process group of one attempt of a step (best effort).
pub(crate) fn record(run_dir: &Path, step: &str, attempt: u32, pgid: i32) {
    let file = run_dir.join(format!("{step}.{attempt}.pgid"));
    let _ = std::fs::write(file, format!("{} {pgid}\n", boot_id()));
}

/// Kills the process groups recorded in run directories under `work_dir` that still exist (left by a
/// Ferry process that died) and removes those directories. Call it once at start-up, before any run
/// starts. Returns how many process groups were signalled.
pub fn reap_orphans(work_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(work_dir) else { return 0 };
    let boot = boot_id();
    let mut killed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_run = dir.is_dir() && entry.file_name().to_string_lossy().starts_with("run-");
        if !is_run {
            continue;
        }
        for file in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "pgid") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let mut parts = text.split_whitespace();
            let (Some(recorded_boot), Some(pgid)) = (parts.next(), parts.next()) else { continue };
            let Ok(pgid) = pgid.parse::<i32>() else { continue };
            if recorded_boot != boot || pgid <= 1 {
                continue;
            }
            if killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn kills_recorded_groups_and_removes_run_dirs() {
        let work = tempfile::tempdir().unwrap();
        let run = work.path().join("run-x-abc");
        std::fs::create_dir_all(&run).unwrap();
        // A real process group: a shell that would sleep for a long time.
        let mut child = std::process::Command::new("sh").arg("-c").arg("sleep 1000").process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        record(&run, "step", 1, pgid);
        std::fs::write(run.join("other.1.pgid"), "another-boot 12345\n").unwrap();
        std::fs::create_dir_all(work.path().join("not-a-run")).unwrap();
        assert_eq!(reap_orphans(work.path()), 1);
        let status = child.wait().unwrap();
        assert!(!status.success(), "the orphan was killed");
        assert!(!run.exists());
        assert!(work.path().join("not-a-run").exists());
        assert_eq!(reap_orphans(work.path()), 0);
    }
}
