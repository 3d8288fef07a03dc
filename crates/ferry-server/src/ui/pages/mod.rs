//! The pages: askama templates (in `templates/`) and the plain data they render, built from the
//! store's projections. Builders are pure functions of their inputs (plus `now` for running
//! durations), so they are unit-tested without a server.
//!
//! Each page that updates live has a *fragment*: the same data rendered without the layout
//! (`?fragment=body`), which the script swaps in when events arrive.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use askama::Template;
use ferry_model::resources::{Catalog, PromotionFlow};
use ferry_model::status::ReleaseStatus;
use ferry_model::{EnvName, ProductName};
use ferry_store::{AppStateRow, ReleaseRow};
use jiff::Timestamp;

use super::assets;
use super::format::{self, iso, query, segment, short_sha, short_time, time};
use super::graph::{self, Graph};
use super::status::{Badge, Icon, Size};
use super::view::{ReleaseViewExt, issue_text};
use ferry_api::{
    EnvironmentType, EnvironmentView as EnvView, HookKind, Issue as IssueFull, IssueDetail, IssueKind, ReleaseView,
    Stage, WorkflowLine,
};
use ferry_git::redact as redact_url;

mod dora;
mod flow;
mod notes;
mod notifications;
mod product;
mod products;
mod release;
mod step;
#[cfg(test)]
mod tests;

pub(crate) use dora::*;
pub(crate) use flow::*;
pub(crate) use notes::*;
pub(crate) use notifications::*;
pub(crate) use product::*;
pub(crate) use products::*;
pub(crate) use release::*;
pub(crate) use step::*;

// ---------------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------------

/// A breadcrumb.
#[derive(Debug, Clone)]
pub(crate) struct Crumb {
    pub(crate) label: String,
    pub(crate) href: Option<String>,
}

/// What the script follows: an SSE stream, and the fragment to fetch when an event arrives.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub(crate) events: String,
    pub(crate) fragment: String,
    pub(crate) target: &'static str,
}

/// The layout's data.
#[derive(Debug, Clone)]
pub(crate) struct PageMeta {
    pub(crate) title: String,
    pub(crate) crumbs: Vec<Crumb>,
    pub(crate) live: Option<Live>,
    pub(crate) css: String,
    pub(crate) js: String,
    /// The signed-in token's name (none on an auth-less server).
    pub(crate) user: Option<String>,
    /// Its role.
    pub(crate) role: &'static str,
    /// The CSRF token for the page's forms.
    pub(crate) csrf: String,
}

impl PageMeta {
    pub(crate) fn new(title: impl Into<String>, crumbs: Vec<Crumb>) -> PageMeta {
        let context = crate::ui::session::context();
        PageMeta {
            title: title.into(),
            crumbs,
            live: None,
            css: assets::url("ferry.css"),
            js: assets::url("ferry.js"),
            user: context.user(),
            role: context.role(),
            csrf: context.csrf,
        }
    }

    pub(crate) fn live(mut self, events: String, fragment: String, target: &'static str) -> PageMeta {
        self.live = Some(Live { events, fragment, target });
        self
    }
}

pub(super) fn crumb(label: impl Into<String>, href: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: Some(href.into()) }
}

pub(super) fn here(label: impl Into<String>) -> Crumb {
    Crumb { label: label.into(), href: None }
}

pub(crate) fn product_href(name: &str) -> String {
    format!("/products/{}", segment(name))
}

pub(crate) fn release_href(id: &str) -> String {
    format!("/releases/{}", segment(id))
}

pub(super) fn flow_href(name: &str) -> String {
    format!("/flows/{}", segment(name))
}

/// The first 8 characters of a release id.
pub(crate) fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// Error page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) page: PageMeta,
    pub(crate) message: String,
    pub(crate) details: Vec<String>,
}
