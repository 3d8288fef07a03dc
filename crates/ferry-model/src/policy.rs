//! Policy resolution (SPEC §2.6).
