//! Replicas sharing one database (SPEC §8.1): release leases with fencing epochs, and the advisory
//! lock that lets one replica at a time poll triggers and prune.
//!
//! A replica's store ([`PgStore::replica`]) owns the releases it creates (epoch 1) and those it claims
//! ([`PgStore::claim`]: unowned or expired leases, `FOR UPDATE SKIP LOCKED`, epoch + 1). Each of its
//! release writes locks the lease row in the write's transaction and fails with
//! [`StoreError::Fenced`] unless this replica still owns it at the epoch it claimed, so an owner that
//! paused past its expiry can never write after a takeover (a claim skips a lease a write is holding).
//! Writing a release whose lease is free (no owner: final, or never claimed) takes it, as a claim would.

use std::time::Duration;

use deadpool_postgres::Object;
use jiff::Timestamp;
use tokio_postgres::Transaction;

use super::rows::get;
use super::{Held, PgStore, query_err};
use crate::{ReleaseWrite, Result, StoreError};

/// Statuses of releases that are not final.
const ACTIVE: &str = "('Queued', 'Running', 'Suspended', 'Terminating')";
/// The first key of the advisory locks taken by [`PgStore::try_poll_lock`] ("ferr").
const POLL_LOCK_CLASS: i32 = 0x6665_7272;

/// Who a replica is and how long its leases last without renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaOptions {
    /// The replica's name, unique among the replicas (e.g. host name and process id).
    pub owner: String,
    /// How long a lease lasts after it was claimed or renewed (15 s by default).
    pub lease_ttl: Duration,
}

impl ReplicaOptions {
    /// A replica named `owner` with the default lease expiry of 15 s.
    pub fn new(owner: impl Into<String>) -> ReplicaOptions {
        ReplicaOptions { owner: owner.into(), lease_ttl: Duration::from_secs(15) }
    }

    pub(super) fn ttl_ms(&self) -> i64 {
        i64::try_from(self.lease_ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A release's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Release id.
    pub release_id: String,
    /// The replica owning it; `None` once released.
    pub owner: Option<String>,
    /// Grows by one at each claim.
    pub epoch: i64,
    /// When it expires unless renewed.
    pub expires_at: Timestamp,
}

/// A replica's identity and the leases it holds (release id → epoch).
pub(super) struct Replica {
    pub options: ReplicaOptions,
    held: Held,
}

/// A change to the leases a replica holds, applied once the transaction that made it committed.
pub(super) struct Hold {
    release_id: String,
    /// The epoch now held; `None`: no longer held (the release is final).
    epoch: Option<i64>,
}

impl Replica {
    fn held(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, i64>> {
        // The map stays consistent whatever panicked while it was locked: every change is one insert or remove.
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records changes made by a committed transaction.
    pub fn hold(&self, holds: Vec<Hold>) {
        let mut held = self.held();
        for hold in holds {
            match hold.epoch {
                Some(epoch) => held.insert(hold.release_id, epoch),
                None => held.remove(&hold.release_id),
            };
        }
    }

    pub(super) fn epoch(&self, release: &str) -> Option<i64> {
        self.held().get(release).copied()
    }
}

fn lease_from_row(row: &tokio_postgres::Row, doing: &'static str) -> Result<Lease> {
    Ok(Lease {
        release_id: get(row, "release_id", doing)?,
        owner: get(row, "owner", doing)?,
        epoch: get(row, "epoch", doing)?,
        expires_at: get(row, "expires_at", doing)?,
    })
}

/// Reads a release's lease row and locks it until the write's transaction ends.
pub(super) const LEASE_FOR_UPDATE: &str = "SELECT owner, epoch FROM leases WHERE release_id = $1 FOR UPDATE";
/// Leases a new release to `$2` at epoch 1 for `$3` ms.
pub(super) const LEASE_CREATE: &str = "INSERT INTO leases (release_id, owner, epoch, expires_at)
     VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond')";
/// Gives a free lease to `$2` at epoch `$3` for `$4` ms.
pub(super) const LEASE_TAKE: &str =
    "UPDATE leases SET owner = $2, epoch = $3, expires_at = now() + $4::bigint * interval '1 millisecond'
     WHERE release_id = $1";
/// Frees the lease of a release that ended.
pub(super) const LEASE_END: &str = "UPDATE leases SET owner = NULL, expires_at = now() WHERE release_id = $1";

/// A lease row read with [`LEASE_FOR_UPDATE`]: owner and epoch.
pub(super) type LeaseRow = (Option<String>, i64);

/// Decodes a row of [`LEASE_FOR_UPDATE`].
pub(super) fn lease_row(row: &tokio_postgres::Row) -> Result<LeaseRow> {
    let doing = "checking the release's lease";
    Ok((get(row, "owner", doing)?, get(row, "epoch", doing)?))
}

/// What a release write does about its lease.
pub(super) struct Fence {
    /// The epoch the write is made at.
    pub epoch: i64,
    /// Changes to the leases held, once the transaction committed.
    pub holds: Vec<Hold>,
    /// The lease is created ([`LEASE_CREATE`], `Some(1)`) or taken ([`LEASE_TAKE`]) at this epoch.
    pub take: Option<i64>,
    /// The release ends: its lease is freed ([`LEASE_END`]).
    pub end: bool,
}

/// Decides whether the replica may write the release, from its lease row read under lock: it holds
/// the lease at the epoch it claimed, or the write creates the release or finds its lease free (the
/// replica then owns it).
pub(super) fn decide(replica: &Replica, w: &ReleaseWrite, lease: Option<LeaseRow>) -> Result<Fence> {
    let me = &replica.options.owner;
    let held = replica.epoch(&w.release_id);
    let mut holds = Vec::new();
    let take = match (&lease, held) {
        (Some((Some(owner), epoch)), Some(mine)) if owner == me && *epoch == mine => None,
        (None, None) if w.first_seq == 0 => Some(1),
        // A free lease (a final release being retried, or one no replica claimed yet): writing it is
        // claiming it, here under the row lock.
        (Some((None, epoch)), _) => Some(epoch + 1),
        _ => {
            return Err(StoreError::Fenced {
                release: w.release_id.clone(),
                epoch: held.unwrap_or(0),
                owner: lease.as_ref().and_then(|(owner, _)| owner.clone()),
                current_epoch: lease.as_ref().map(|(_, epoch)| *epoch),
            });
        }
    };
    if let Some(epoch) = take {
        holds.push(Hold { release_id: w.release_id.clone(), epoch: Some(epoch) });
    }
    let epoch = take.or(held).unwrap_or(0);
    // A final release needs no owner any more.
    let end = !["Queued", "Running", "Suspended", "Terminating"].contains(&w.row.status.as_str());
    if end {
        holds.push(Hold { release_id: w.release_id.clone(), epoch: None });
    }
    Ok(Fence { epoch, holds, take, end })
}

/// Checks, inside a release write's transaction, that the replica may write the release ([`decide`])
/// and changes its lease accordingly. Returns the changes to the leases held and the epoch the write
/// is made at.
pub(super) async fn fence(tx: &Transaction<'_>, replica: &Replica, w: &ReleaseWrite) -> Result<(Vec<Hold>, i64)> {
    let doing = "checking the release's lease";
    let lease = tx.query_opt(LEASE_FOR_UPDATE, &[&w.release_id]).await.map_err(query_err(doing))?;
    let fence = decide(replica, w, lease.as_ref().map(lease_row).transpose()?)?;
    match fence.take {
        Some(1) if lease.is_none() => {
            tx.execute(LEASE_CREATE, &[&w.release_id, &replica.options.owner, &replica.options.ttl_ms()])
                .await
                .map_err(query_err("leasing a new release"))?;
        }
        Some(epoch) => {
            tx.execute(LEASE_TAKE, &[&w.release_id, &replica.options.owner, &epoch, &replica.options.ttl_ms()])
                .await
                .map_err(query_err("taking a free lease"))?;
        }
        None => {}
    }
    if fence.end {
        tx.execute(LEASE_END, &[&w.release_id]).await.map_err(query_err("ending the lease of a finished release"))?;
    }
    Ok((fence.holds, fence.epoch))
}

impl PgStore {
    /// This store as the replica `options.owner`: it owns the releases it creates, claims others with
    /// [`PgStore::claim`], and every release write is fenced by the lease epoch. Shares the connections
    /// and the event broadcast of `self`.
    pub fn replica(&self, options: ReplicaOptions) -> PgStore {
        let replica = super::lease::Replica { options, held: Held::default() };
        PgStore { replica: Some(std::sync::Arc::new(replica)), ..self.clone() }
    }

    /// The replica's name (its leases' owner), on a replica's store.
    pub fn replica_name(&self) -> Option<&str> {
        self.replica.as_deref().map(|r| r.options.owner.as_str())
    }

    pub(super) fn replica_or_err(&self, doing: &'static str) -> Result<&Replica> {
        self.replica.as_deref().ok_or(StoreError::Internal {
            doing,
            detail: "this store is not a replica's (see PgStore::replica)".to_owned(),
        })
    }

    /// Claims up to `limit` active releases whose lease is free (never owned, released, or expired),
    /// skipping leases other replicas are claiming or writing at the same moment. Each claim moves the
    /// lease's epoch on, fencing off its previous owner.
    pub async fn claim(&self, limit: u32) -> Result<Vec<Lease>> {
        let doing = "claiming releases";
        let replica = self.replica_or_err(doing)?;
        let client = self.client(doing).await?;
        // Active releases written before any replica leased them get a free lease first.
        let seed = format!(
            "INSERT INTO leases (release_id, owner, epoch, expires_at)
             SELECT id, NULL, 0, now() FROM releases WHERE status IN {ACTIVE} ON CONFLICT (release_id) DO NOTHING"
        );
        client.execute(&seed, &[]).await.map_err(query_err(doing))?;
        let claim = format!(
            "WITH free AS (
               SELECT l.release_id FROM leases l JOIN releases r ON r.id = l.release_id
               WHERE r.status IN {ACTIVE} AND (l.owner IS NULL OR l.expires_at <= now())
               ORDER BY l.release_id LIMIT $2
               FOR UPDATE OF l SKIP LOCKED)
             UPDATE leases l SET owner = $1, epoch = l.epoch + 1, expires_at = now() + $3::bigint * interval '1 millisecond'
             FROM free WHERE l.release_id = free.release_id
             RETURNING l.release_id, l.owner, l.epoch, l.expires_at"
        );
        let params: [super::Param<'_>; 3] = [&replica.options.owner, &i64::from(limit), &replica.options.ttl_ms()];
        let rows = client.query(&claim, &params).await.map_err(query_err(doing))?;
        let mut claimed = rows.iter().map(|row| lease_from_row(row, doing)).collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|a, b| a.release_id.cmp(&b.release_id));
        replica.hold(claimed.iter().map(|l| Hold { release_id: l.release_id.clone(), epoch: Some(l.epoch) }).collect());
        Ok(claimed)
    }

    /// Renews every lease this replica holds; returns the releases whose lease it lost (taken over by
    /// another replica after expiry, or expired: any replica may have claimed it meanwhile), which it
    /// must stop driving. A lease that expired unclaimed is claimable again, by this replica too.
    pub async fn renew(&self) -> Result<Vec<String>> {
        let doing = "renewing leases";
        let replica = self.replica_or_err(doing)?;
        let (ids, epochs): (Vec<String>, Vec<i64>) = replica.held().iter().map(|(id, e)| (id.clone(), *e)).unzip();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client(doing).await?;
        let rows = client
            .query(
                "UPDATE leases l SET expires_at = now() + $2::bigint * interval '1 millisecond'
                 FROM unnest($3::text[], $4::bigint[]) AS h(release_id, epoch)
                 WHERE l.release_id = h.release_id AND l.epoch = h.epoch AND l.owner = $1 AND l.expires_at > now()
                 RETURNING l.release_id",
                &[&replica.options.owner, &replica.options.ttl_ms(), &ids, &epochs],
            )
            .await
            .map_err(query_err(doing))?;
        let renewed: Vec<String> = rows.iter().map(|r| get(r, "release_id", doing)).collect::<Result<_>>()?;
        let mut lost: Vec<String> = ids.into_iter().filter(|id| !renewed.contains(id)).collect();
        lost.sort();
        replica.hold(lost.iter().map(|id| Hold { release_id: id.clone(), epoch: None }).collect());
        Ok(lost)
    }

    /// Gives up this replica's lease on a release (e.g. at shutdown), so another replica can claim it at
    /// once. Nothing happens when the lease is no longer this replica's.
    pub async fn release_lease(&self, release: &str) -> Result<()> {
        let doing = "releasing a lease";
        let replica = self.replica_or_err(doing)?;
        let Some(epoch) = replica.epoch(release) else { return Ok(()) };
        let client = self.client(doing).await?;
        client
            .execute(
                "UPDATE leases SET owner = NULL, expires_at = now() WHERE release_id = $1 AND owner = $2 AND epoch = $3",
                &[&release, &replica.options.owner, &epoch],
            )
            .await
            .map_err(query_err(doing))?;
        replica.hold(vec![Hold { release_id: release.to_owned(), epoch: None }]);
        Ok(())
    }

    /// The sequence number and lease epoch of each of a release's events, in order (`None`: written
    /// by no replica). Epochs never go back in a release's log: no two replicas ever drove it at once.
    pub async fn event_epochs(&self, release: &str) -> Result<Vec<(i64, Option<i64>)>> {
        let sql = "SELECT seq, epoch FROM events WHERE release_id = $1 ORDER BY seq";
        self.all("reading event epochs", sql, &[&release], |row, doing| {
            Ok((get(row, "seq", doing)?, get(row, "epoch", doing)?))
        })
        .await
    }

    /// The lease of a release, if it has one.
    pub async fn lease(&self, release: &str) -> Result<Option<Lease>> {
        let sql = "SELECT release_id, owner, epoch, expires_at FROM leases WHERE release_id = $1";
        self.first("reading a lease", sql, &[&release], lease_from_row).await
    }

    /// Takes the advisory lock `name` (e.g. `trigger-polling`, `retention`) if no replica holds it: the
    /// holder does that work, the others skip it. The lock lives as long as the returned guard (and its
    /// connection).
    pub async fn try_poll_lock(&self, name: &str) -> Result<Option<PollLock>> {
        let doing = "taking an advisory lock";
        let client = self.client(doing).await?;
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1, hashtext($2))", &[&POLL_LOCK_CLASS, &name])
            .await
            .map_err(query_err(doing))?;
        let taken: bool = get(&row, "pg_try_advisory_lock", doing)?;
        Ok(taken.then(|| PollLock { client: Some(client), name: name.to_owned() }))
    }
}

/// An advisory lock held by this replica ([`PgStore::try_poll_lock`]). [`PollLock::release`] gives it
/// back; dropped without that, its connection is closed, which releases it too.
pub struct PollLock {
    client: Option<Object>,
    name: String,
}

impl PollLock {
    /// Whether the lock is still held: its connection is open (a lost connection lost the lock).
    pub fn is_held(&self) -> bool {
        self.client.as_ref().is_some_and(|c| !c.is_closed())
    }

    /// Releases the lock; another replica can take it as soon as this returns.
    pub async fn release(mut self) -> Result<()> {
        let Some(client) = self.client.take() else { return Ok(()) };
        client
            .execute("SELECT pg_advisory_unlock($1, hashtext($2))", &[&POLL_LOCK_CLASS, &self.name])
            .await
            .map_err(query_err("releasing an advisory lock"))?;
        Ok(())
    }
}

impl Drop for PollLock {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Out of the pool and closed: the server drops the session's locks with it.
            drop(Object::take(client));
        }
    }
}
