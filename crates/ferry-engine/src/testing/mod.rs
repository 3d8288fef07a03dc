//! In-memory fakes of the engine's ports, for tests (feature `testing`): git repositories, a
//! scripted workflow runner, a scripted status source, a pull-request provider and a pinned clock.
//! Each behaves like the built-in implementation in what the engine relies on; see each type.

mod clock;
mod git;
mod pulls;
mod runner;
mod status;

use std::sync::Arc;

pub use clock::FakeClock;
pub use git::{FakeGit, FakeGitOp};
pub use pulls::FakePullRequests;
pub use runner::{FakeRunner, FakeStep};
pub use status::{FakeHealth, FakeStatus};

use crate::ports::{Ports, StatusProviders};

/// Every port faked, with handles to script and inspect each fake.
pub struct Fakes {
    /// The repositories.
    pub git: Arc<FakeGit>,
    /// The workflow runner (approvals time out by the fake clock).
    pub runner: Arc<FakeRunner>,
    /// The status source (for exec, push and argocd applications alike).
    pub status: Arc<FakeStatus>,
    /// The pull requests.
    pub pulls: Arc<FakePullRequests>,
    /// The clock.
    pub clock: Arc<FakeClock>,
}

impl Fakes {
    /// Fresh fakes with the clock pinned at `at`.
    pub fn new(at: jiff::Timestamp) -> Fakes {
        let git = FakeGit::new();
        let clock = Arc::new(FakeClock::at(at));
        Fakes {
            pulls: FakePullRequests::new(git.clone()),
            git,
            runner: FakeRunner::with_clock(clock.clone()),
            status: FakeStatus::new(),
            clock,
        }
    }

    /// The engine's ports over these fakes.
    pub fn ports(&self) -> Ports {
        Ports {
            git: self.git.clone(),
            runner: self.runner.clone(),
            status: StatusProviders {
                exec: self.status.clone(),
                push: self.status.clone(),
                argocd: Some(self.status.clone()),
            },
            pulls: self.pulls.clone(),
            clock: self.clock.clone(),
        }
    }
}
