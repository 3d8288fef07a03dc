//! A clock that stands still until a test moves it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::watch;

use crate::ports::{BoxFuture, Clock};

/// Pinned time: `now()` is what the test set; timers fire when the test advances past them. Ids count
/// up from 1 (`00000000-0000-0000-0000-000000000001`, …), ordered like the system clock's.
#[derive(Debug)]
pub struct FakeClock {
    now: watch::Sender<Timestamp>,
    ids: AtomicU64,
    /// Serialises `advance` so concurrent moves never go backwards.
    moving: Mutex<()>,
}

impl FakeClock {
    /// A clock pinned at `at` (truncated to microseconds, the store's precision).
    pub fn at(at: Timestamp) -> FakeClock {
        let at = Timestamp::from_microsecond(at.as_microsecond()).unwrap_or(at);
        FakeClock { now: watch::channel(at).0, ids: AtomicU64::new(0), moving: Mutex::new(()) }
    }

    /// Makes the next id `n + 1`: fakes of several engines on one store then hand out distinct ids,
    /// and those after a higher `n` are the newer ones.
    pub fn ids_after(&self, n: u64) {
        self.ids.store(n, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` and fires the timers that are due.
    pub fn advance(&self, by: std::time::Duration) {
        let _moving = self.moving.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let by = SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by).unwrap_or(*now));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_u128(u128::from(self.ids.fetch_add(1, Ordering::SeqCst) + 1))
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            if now.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
