//! The system clock: wall time at microsecond precision and UUIDv7 ids.

use jiff::Timestamp;

use super::{BoxFuture, Clock};

/// Wall-clock time and time-ordered (v7) UUIDs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now)
    }

    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'static, ()> {
        let wait = at.duration_since(self.now());
        let wait = std::time::Duration::try_from(wait).unwrap_or(std::time::Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}
