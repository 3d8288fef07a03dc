//! Status enums and the pure roll-ups of SPEC §4.
