//! Integration tests of ferry-git against real local bare repositories (file:// URLs).

mod promote;
mod reads;
mod support;
