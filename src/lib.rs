//! # hairtrigger
//!
//! Two networks can compute exactly the same function `f_θ' ≡ f_θ` yet react
//! completely differently to one gradient step `θ⁺ = θ − η ∇L_D(θ)`, because the
//! backward pass depends on the parameterization while the forward pass does
//! not. This crate builds such networks and measures the consequences, to check
//! the claims of *Hair-Trigger Alignment: Black-Box Evaluation Cannot Guarantee
//! Post-Update Alignment* (arXiv 2601.22313):
//!
//! * C1 — forward-equivalent reparameterizations ([`reparam`]) keep `f` and
//!   change the gradient and the NTK;
//! * C2/C3 — hair-trigger constructions and their scaling with width;
//! * C4 — adversarial meta-learning.
//!
//! Modules: [`net`] (networks, gradients, Jacobians, NTK, HVP, model files),
//! [`kernels`] (all dense hot loops), [`update`] (one-step rules), [`reparam`]
//! (the constructions), [`experiments`] (the runs behind each CLI command and
//! figure), [`plot`] (figures). Everything is `f64` and seeded.

pub mod alloc;
pub mod attack;
pub mod backend;
pub mod cli;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod finite;
pub mod fsio;
pub mod kernels;
pub mod limits;
pub mod net;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod reparam;
pub mod rng;
pub mod stats;
pub mod tasks;
pub mod update;

pub use error::{Error, Result};
pub use net::{Activation, Architecture, Dataset, Mlp, Targets};
pub use update::{one_step, StepConfig, UpdateRule};
