//! Control requests between replicas (SPEC §8.1): a terminate, retry or approval that reaches a
//! replica not owning the release is stored here; the owner takes it (announced on
//! [`CONTROL_CHANNEL`], and looked for at each lease renewal), carries it out and stores the answer,
//! which the asking replica is told about on the same channel. The bodies are the engine's; the store
//! keeps them as JSON.

use serde_json::Value;

use super::rows::get;
use super::{PgStore, query_err};
use crate::Result;

/// The channel of control notices; payloads are `requested RELEASE`, `answered ID` and `pushed APP`.
pub(super) const CONTROL_CHANNEL: &str = "ferry_control";

/// What the control channel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlNotice {
    /// A request about this release waits for its owner.
    Requested(String),
    /// The request with this id was answered.
    Answered(i64),
    /// A status report for this application was stored (`status.push`): replicas waiting for it
    /// read it.
    Pushed(String),
}

impl ControlNotice {
    /// Reads a notification's payload.
    pub(super) fn parse(payload: &str) -> Option<ControlNotice> {
        match payload.split_once(' ')? {
            ("requested", release) => Some(ControlNotice::Requested(release.to_owned())),
            ("answered", id) => id.parse().ok().map(ControlNotice::Answered),
            ("pushed", app) => Some(ControlNotice::Pushed(app.to_owned())),
            _ => None,
        }
    }
}

/// A control request taken by the replica owning its release.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlRequest {
    /// Its id, to answer it.
    pub id: i64,
    /// The release it is about.
    pub release_id: String,
    /// What is asked (the engine's JSON).
    pub body: Value,
}

impl PgStore {
    /// Stores a control request about `release` for its owner and announces it; returns its id.
    pub async fn request_control(&self, release: &str, body: &Value) -> Result<i64> {
        let doing = "storing a control request";
        let me = self.replica.as_ref().map_or("", |r| r.options.owner.as_str());
        let mut client = self.client(doing).await?;
        let tx = client.transaction().await.map_err(query_err(doing))?;
        let row = tx
            .query_one(
                "INSERT INTO control_requests (release_id, body, requested_by) VALUES ($1, $2, $3) RETURNING id",
                &[&release, body, &me],
            )
            .await
            .map_err(query_err(doing))?;
        let id: i64 = get(&row, "id", doing)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CONTROL_CHANNEL, &format!("requested {release}")])
            .await
            .map_err(query_err(doing))?;
        tx.commit().await.map_err(query_err(doing))?;
        Ok(id)
    }

    /// Takes the waiting control requests about those of `releases` this replica holds, oldest first;
    /// each is taken by one replica only.
    pub async fn take_controls(&self, releases: &[String]) -> Result<Vec<ControlRequest>> {
        let doing = "taking control requests";
        let replica = self.replica_or_err(doing)?;
        let held: Vec<String> = releases.iter().filter(|r| replica.epoch(r).is_some()).cloned().collect();
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client(doing).await?;
        let rows = client
            .query(
                "UPDATE control_requests c SET taken_by = $1 FROM (
                   SELECT id FROM control_requests WHERE taken_by IS NULL AND release_id = ANY($2)
                   FOR UPDATE SKIP LOCKED) w
                 WHERE c.id = w.id RETURNING c.id, c.release_id, c.body",
                &[&replica.options.owner, &held],
            )
            .await
            .map_err(query_err(doing))?;
        let mut taken = rows
            .iter()
            .map(|row| {
                Ok(ControlRequest {
                    id: get(row, "id", doing)?,
                    release_id: get(row, "release_id", doing)?,
                    body: get(row, "body", doing)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        taken.sort_by_key(|c| c.id);
        Ok(taken)
    }

    /// Stores the answer to control request `id` and announces it.
    pub async fn answer_control(&self, id: i64, answer: &Value) -> Result<()> {
        let doing = "answering a control request";
        let mut client = self.client(doing).await?;
        let tx = client.transaction().await.map_err(query_err(doing))?;
        tx.execute("UPDATE control_requests SET answer = $2 WHERE id = $1", &[&id, answer])
            .await
            .map_err(query_err(doing))?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CONTROL_CHANNEL, &format!("answered {id}")])
            .await
            .map_err(query_err(doing))?;
        tx.commit().await.map_err(query_err(doing))?;
        Ok(())
    }

    /// The answer to control request `id`, once there is one.
    pub async fn control_answer(&self, id: i64) -> Result<Option<Value>> {
        let sql = "SELECT answer FROM control_requests WHERE id = $1";
        Ok(self.first("reading a control answer", sql, &[&id], |row, doing| get(row, "answer", doing)).await?.flatten())
    }

    /// Tells every replica that a status report for `app` was stored.
    pub async fn announce_pushed(&self, app: &str) -> Result<()> {
        let doing = "announcing a status report";
        let client = self.client(doing).await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&CONTROL_CHANNEL, &format!("pushed {app}")])
            .await
            .map_err(query_err(doing))?;
        Ok(())
    }

    /// Control notices of every replica, from now on.
    pub fn control_notices(&self) -> tokio::sync::broadcast::Receiver<ControlNotice> {
        self.controls.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::ControlNotice;

    #[test]
    fn control_notices_read_back() {
        assert_eq!(ControlNotice::parse("requested 0190-x"), Some(ControlNotice::Requested("0190-x".into())));
        assert_eq!(ControlNotice::parse("answered 42"), Some(ControlNotice::Answered(42)));
        assert_eq!(ControlNotice::parse("answered x"), None);
        assert_eq!(ControlNotice::parse("pushed shop-api-qa"), Some(ControlNotice::Pushed("shop-api-qa".into())));
        assert_eq!(ControlNotice::parse("other"), None);
    }
}
