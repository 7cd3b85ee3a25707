//! Hair-trigger constructions: a twin `θ' ≡ θ` (same function) whose one-step
//! update produces adversarial targets. [`analytic`] builds it from dormant
//! units (claim C2, `paper-notes/c2-any-update-set.md`).

pub mod analytic;

pub use analytic::{build_hair_trigger, with_inert_units, ConstructConfig, HairTrigger};
