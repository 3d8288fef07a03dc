//! The committed-event broadcast of a PostgreSQL store: a connection of its own `LISTEN`s on the event
//! channel; each notification (from any replica, this one included) makes it read the events after the
//! last one it delivered, in id order, and broadcast them. Event ids grow in commit order (appends hold
//! one advisory lock until they commit), so reading by id misses nothing and repeats nothing. A lost
//! connection is opened again and catches up from the last delivered id.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::control::{CONTROL_CHANNEL, ControlNotice};
use super::rows::{EVENT_COLUMNS, event_from_row};
use super::write::CHANNEL;
use super::{RECONNECT_DELAY, query_err};
use crate::{Result, StoreError, StoredEvent};

/// Events read per query while catching up.
const PAGE: i64 = 1000;
/// The `application_name` of the listening connection.
pub(super) const APPLICATION_NAME: &str = "ferry-listen";

/// The listening task; it stops when this is dropped (with the last clone of the store).
pub(super) struct Listener {
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Starts listening; returns once events committed from now on will be broadcast.
    pub async fn start(
        config: tokio_postgres::Config,
        events: broadcast::Sender<Arc<StoredEvent>>,
        controls: broadcast::Sender<ControlNotice>,
        location: &str,
    ) -> Result<Listener> {
        let (ready, started) = oneshot::channel();
        let task = tokio::spawn(run(config, Broadcasts { events, controls }, ready));
        match started.await {
            Ok(Ok(())) => Ok(Listener { task }),
            Ok(Err(e)) => Err(StoreError::Open { location: location.to_owned(), source: e.into() }),
            Err(_) => Err(StoreError::Internal { doing: "listening for events", detail: "the task ended".into() }),
        }
    }
}

/// Where the listener delivers what it reads.
struct Broadcasts {
    events: broadcast::Sender<Arc<StoredEvent>>,
    controls: broadcast::Sender<ControlNotice>,
}

/// A notification: events were committed, or a control notice.
enum Wake {
    Events,
    Control(ControlNotice),
}

/// Connects, `LISTEN`s and forwards notifications until the connection ends.
async fn connect(config: &tokio_postgres::Config) -> Result<(Client, mpsc::UnboundedReceiver<Wake>)> {
    let mut config = config.clone();
    // Named, so operators (and the tests) can tell it from the pool's connections.
    config.application_name(APPLICATION_NAME);
    let (client, mut connection) = config.connect(NoTls).await.map_err(query_err("connecting to listen"))?;
    let (notify, notified) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            let AsyncMessage::Notification(note) = message else { continue };
            let wake = if note.channel() == CONTROL_CHANNEL {
                match ControlNotice::parse(note.payload()) {
                    Some(notice) => Wake::Control(notice),
                    None => continue,
                }
            } else {
                Wake::Events
            };
            if notify.send(wake).is_err() {
                break;
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {CONTROL_CHANNEL}"))
        .await
        .map_err(query_err("listening for events"))?;
    Ok((client, notified))
}

async fn run(config: tokio_postgres::Config, out: Broadcasts, ready: oneshot::Sender<Result<(), String>>) {
    // The first connection decides whether the store opens; the start point is read after LISTEN, so
    // nothing committed in between is missed.
    let (mut client, mut notified) = match connect(&config).await {
        Ok(listening) => listening,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut last = match client.query_one("SELECT coalesce(max(gid), 0) FROM events", &[]).await {
        Ok(row) => row.get::<_, i64>(0),
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        // Catch up (after a reconnect), then once per wake-up.
        match catch_up(&client, &out.events, &mut last).await {
            Ok(()) if next_events(&mut notified, &out.controls).await => continue,
            Ok(()) => tracing::warn!("the connection listening for events was lost; reconnecting"),
            Err(e) => tracing::warn!(error = %e, "cannot read committed events; reconnecting"),
        }
        // Open another connection; live streams resume from the last event delivered.
        loop {
            tokio::time::sleep(RECONNECT_DELAY).await;
            match connect(&config).await {
                Ok(listening) => {
                    (client, notified) = listening;
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for events yet"),
            }
        }
    }
}

/// Waits for the next event notification, passing control notices on meanwhile; several event
/// notifications waiting are one catch-up. `false` once the connection ended.
async fn next_events(
    notified: &mut mpsc::UnboundedReceiver<Wake>,
    controls: &broadcast::Sender<ControlNotice>,
) -> bool {
    loop {
        match notified.recv().await {
            Some(Wake::Control(notice)) => {
                // No subscriber is fine.
                let _ = controls.send(notice);
            }
            Some(Wake::Events) => break,
            None => return false,
        }
    }
    while let Ok(wake) = notified.try_recv() {
        if let Wake::Control(notice) = wake {
            let _ = controls.send(notice);
        }
    }
    true
}

/// Broadcasts the events committed after `last`, in id order.
async fn catch_up(client: &Client, events: &broadcast::Sender<Arc<StoredEvent>>, last: &mut i64) -> Result<()> {
    let doing = "reading committed events";
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE gid > $1 ORDER BY gid LIMIT $2");
    loop {
        let rows = client.query(&sql, &[&*last, &PAGE]).await.map_err(query_err(doing))?;
        for row in &rows {
            let event = event_from_row(row, doing)?;
            *last = event.gid;
            // No subscriber is fine.
            let _ = events.send(Arc::new(event));
        }
        if (rows.len() as i64) < PAGE {
            return Ok(());
        }
    }
}
