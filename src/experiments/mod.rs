//! The runs behind each command and figure. Each experiment takes a validated
//! configuration, is deterministic given its seed, and returns flat records
//! (one per run) that [`output`] writes as CSV and JSON.

pub mod capacity;
pub mod chain;
pub mod construct;
pub mod equiv;
pub mod meta;
pub mod meta_device;
pub mod output;
pub mod passes;
pub mod report;
pub mod reproduce;
pub mod scaling;
pub mod zoo;

/// The C3 sweeps' two halves, also reachable as `experiments::breadth` and
/// `experiments::severity`.
pub use scaling::{breadth, severity};

pub use crate::finite::{max_abs, max_abs_diff};
pub use crate::net::{gaussian_inputs, random_update_set};
