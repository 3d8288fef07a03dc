//! Promotion-template resolution.
