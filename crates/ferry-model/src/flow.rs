//! The promotion-flow DAG.
