//! Release state, events and `apply` (SPEC §3, §4).
