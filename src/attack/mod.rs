//! Hair-trigger constructions: a twin `θ' ≡ θ` (same function) whose one-step
//! update produces adversarial targets. [`analytic`] builds it from dormant
//! units (claim C2, `paper-notes/c2-any-update-set.md`); [`directions`] chooses
//! the units' incoming directions.

pub mod analytic;
pub mod directions;
pub mod meta;

pub use analytic::{build_hair_trigger, with_inert_units, ConstructConfig, HairTrigger};
pub use directions::Directions;
