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
//! * C4 — adversarial meta-learning;
//! * C5 — the white-box audit and canonical form ([`audit`]), measured on a
//!   zoo of models ([`experiments::zoo`]).
//!
//!
//! ## A reading path
//!
//! Read the crate as a micrograd reader would, one object at a time:
//!
//! 1. **One forward pass.** An [`Architecture`] (widths, activation, biases)
//!    and an [`Mlp`] built on it ([`Mlp::random`]); [`Mlp::forward`] computes
//!    `h_l = σ(h_{l−1} W_lᵀ + b_l)` layer by layer (`src/net/forward.rs`), the
//!    matrix products in [`kernels::gemm`].
//! 2. **One backward pass.** [`net::gradient`] returns `L_D(θ)` and `∇L_D(θ)`
//!    for a [`Dataset`] (softmax cross-entropy or squared error,
//!    `src/net/loss.rs`), by reverse accumulation (`src/net/backward.rs`); the same
//!    pass gives Hessian-vector products ([`net::hvp`], the R-operator).
//! 3. **One step.** [`one_step`] takes `θ⁺ = θ − η ∇L_D(θ)` (or Adam's first
//!    step) under a checked [`StepConfig`] ([`update`]).
//! 4. **One reparameterization.** [`reparam::scale_units`] maps
//!    `(u_j, b_j, v_j) → (α u_j, α b_j, v_j / α)`: the same function, another
//!    gradient; [`reparam::ReparamKind`] lists every kind (C1).
//! 5. **One twin.** [`attack::build_hair_trigger`] adds dormant units whose
//!    outgoing weights only the step sets, so that `θ'⁺` answers the
//!    adversarial targets while `f_θ' ≡ f_θ` (C2; [`attack::meta`] finds
//!    such twins by meta-learning, C4).
//!
//! Then [`experiments`] runs each claim's sweep behind an
//! [`experiments::report::Experiment`] (run → outputs → figures → REPORT
//! rows), and [`cli`] is the command line.
//!
//! ## Layers
//!
//! Imports point down this list only:
//! `error`, [`finite`], [`fsio`], [`limits`], [`rng`], [`progress`],
//! [`stats`], [`alloc`] (foundations) → [`kernels`] (every dense hot loop;
//! knows nothing of networks) → [`net`] (networks, gradients, Jacobians, NTK,
//! HVP, model files, LoRA) → [`update`], [`optim`], [`reparam`], [`eval`],
//! [`backend`], [`plot`] → [`attack`] (hair-trigger constructions, their
//! bounds, meta-learning), [`audit`] (canonical form, white-box scores) and
//! [`tasks`] (toy tasks and data) →
//! [`experiments`] (run and report; no experiment imports another) → [`cli`].
//! Everything is `f64` and seeded.

pub mod alloc;
pub mod attack;
pub mod audit;
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
