//! Integration tests of ferry-git against real local bare repositories (file:// URLs).

mod log;
mod promote;
mod pulls;
mod reads;
mod support;
