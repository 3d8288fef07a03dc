//! Release notes on request (SPEC §5), computed off the engine task: the history walks run on a
//! blocking thread, store look-ups are made from there through the runtime handle, Jira enrichment is
//! async. Settled notes (final release, every range read) are stored and answered from the store.

use std::sync::Arc;

use ferry_git::GitCache;

use crate::ports::Clock;
use ferry_model::names::ReleaseId;
use ferry_model::release::{ReleaseEvent, ReleaseSnapshot, ReleaseState};
use ferry_model::resources::Catalog;
use ferry_notes::jira::Jira;
use ferry_notes::{ImageQuery, ImageReport, Lookup, Notes, Options};
use ferry_store::{Store, Write};

use crate::handle::EngineError;

/// Everything a notes computation needs, taken from the engine when the request arrives.
pub(crate) struct NotesJob<S> {
    pub(crate) store: S,
    /// The mirrors to walk; `None` when the git port has none.
    pub(crate) git: Option<Arc<GitCache>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) jira: Option<Arc<Jira>>,
    pub(crate) release: ReleaseId,
    pub(crate) first_parent: bool,
    /// The release's state when the engine holds it (active releases); otherwise replayed from the store.
    pub(crate) state: Option<ReleaseState>,
}

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

/// Computes (or reads back) the notes of one release.
pub(crate) async fn release_notes<S: Store>(job: NotesJob<S>) -> Result<Notes, EngineError> {
    let NotesJob { store, git, clock, catalog, jira, release, first_parent, state } = job;
    let id = release.to_string();
    let stored = if first_parent { None } else { store.release_notes(&release).await.map_err(internal)? };
    let mut notes = match stored.and_then(|v| serde_json::from_value::<Notes>(v).ok()) {
        Some(notes) => notes,
        None => {
            let state = match state {
                Some(state) => state,
                None => replay(&store, &release).await?.0,
            };
            let git = git.ok_or_else(|| {
                EngineError::Conflict(
                    "release notes need git mirrors, which this engine's git port does not keep".into(),
                )
            })?;
            let lookup = StoreLookup { store: store.clone(), runtime: tokio::runtime::Handle::current() };
            let options = Options {
                first_parent,
                jira_browse: jira.as_ref().map(|j| j.base_url().to_owned()),
                ..Options::default()
            };
            let notes =
                tokio::task::spawn_blocking(move || ferry_notes::compute(&state, &catalog, &git, &lookup, &options))
                    .await
                    .map_err(|e| internal(format!("computing the release notes failed: {e}")))?;
            if notes.settled && !first_parent {
                let write = Write::ReleaseNotes {
                    release_id: id.clone(),
                    notes: serde_json::to_value(&notes).map_err(internal)?,
                    at: clock.now(),
                };
                if let Err(e) = store.write(vec![write]).await {
                    tracing::warn!(release = %id, error = %e, "cannot store release notes");
                }
            }
            notes
        }
    };
    if let Some(jira) = jira {
        jira.enrich(&mut notes).await;
    }
    Ok(notes)
}

/// The release's state from its event log, and how many events it has (`NotFound` for a release
/// without events; `Internal` when the log does not replay).
pub async fn replay<S: Store>(store: &S, id: &ReleaseId) -> Result<(ReleaseState, usize), EngineError> {
    let events = store.release_events(id).await.map_err(internal)?;
    if events.is_empty() {
        return Err(EngineError::NotFound(format!("release {id} does not exist")));
    }
    let parsed: Vec<ReleaseEvent> = events
        .iter()
        .map(|e| serde_json::from_value(e.body.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| internal(format!("release {id}: stored event is not readable: {e}")))?;
    let state = ReleaseState::replay(&parsed).map_err(|e| internal(format!("release {id}: {e}")))?;
    Ok((state, events.len()))
}

/// Store look-ups for the notes, made from the blocking thread through the runtime.
struct StoreLookup<S> {
    store: S,
    runtime: tokio::runtime::Handle,
}

impl<S: Store> Lookup for StoreLookup<S> {
    fn release_snapshot(&self, id: &str) -> Result<Option<ReleaseSnapshot>, String> {
        // Ids come from image reports and trigger records; one that is not a release id names none.
        let Ok(release) = id.parse::<ReleaseId>() else { return Ok(None) };
        let events = self.runtime.block_on(self.store.release_events(&release)).map_err(|e| e.to_string())?;
        let Some(first) = events.first() else { return Ok(None) };
        match serde_json::from_value::<ReleaseEvent>(first.body.clone()) {
            Ok(ReleaseEvent::Created { snapshot, .. }) => Ok(Some(*snapshot)),
            Ok(_) => Ok(None),
            Err(e) => Err(format!("release {id}: stored event is not readable: {e}")),
        }
    }

    fn images(&self, query: &ImageQuery) -> Result<Vec<ImageReport>, String> {
        let query = ferry_store::ImageQuery {
            repository: query.repository.clone(),
            tag: query.tag.clone(),
            digest: query.digest.clone(),
            limit: 50,
        };
        let rows = self.runtime.block_on(self.store.images_for(query)).map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|r| ImageReport {
                image: r.image,
                repository: r.repository,
                tag: r.tag,
                digest: r.digest,
                git_repo: r.git_repo,
                git_revision: r.git_revision,
                git_branch: r.git_branch,
                annotations: r.annotations,
                issues: r.issues,
                reported_at: r.reported_at,
            })
            .collect())
    }
}
