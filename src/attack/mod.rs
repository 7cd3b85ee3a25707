//! Hair-trigger constructions: a twin `θ' ≡ θ` (same function) whose one-step
//! update produces adversarial targets. [`analytic`] builds it from dormant
//! units (claim C2, `paper-notes/c2-any-update-set.md`); [`directions`] chooses
//! the units' incoming directions; [`bounds`] and [`severity`] state what
//! such twins can and cannot do (the sign-pattern upper bound on breadth, the
//! one-unit severity `φ` and its maximiser; [`severity_bound`] its certified
//! upper bound); [`zero_input`] builds it from
//! zero-input units, for update sets that never show the target, and proves
//! which single targets such units cannot reach; [`meta`] finds hair triggers by
//! adversarial meta-learning (claim C4).

pub mod analytic;
pub mod bounds;
mod clipped;
pub mod directions;
pub mod feasibility;
pub mod meta;
pub mod severity;
pub mod severity_bound;
pub mod zero_input;

pub use analytic::{
    build_for_batches, build_hair_trigger, with_inert_units, ConstructConfig, HairTrigger, Solver,
    Units,
};
pub use clipped::SCALE_CHECK_LIMIT;
pub use directions::Directions;
