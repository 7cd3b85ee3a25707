//! Fully connected networks: architecture, parameters, forward pass, losses,
//! exact reverse-mode gradients, per-example Jacobians and the empirical NTK,
//! Hessian-vector products, and safetensors model files.

mod activation;
mod arch;
mod backward;
mod data;
mod forward;
mod hvp;
pub mod io;
mod jacobian;
pub mod lora;
pub(crate) mod loss;
mod mlp;
pub mod torch;

pub use activation::Activation;
pub use arch::Architecture;
pub use backward::{gradient, gradient_into, output_residuals, Backprop};
pub use data::{gaussian_inputs, random_update_set, Dataset, Targets};
pub use forward::ForwardCache;
pub use hvp::{hvp, hvp_into};
pub use jacobian::{jacobian, ntk};
pub use loss::{loss_value, LossKind};
pub(crate) use mlp::normal_matrix;
pub use mlp::{Layer, Mlp};
