//! The dense hot loops: matrix products and fused elementwise passes.
//!
//! This is the only module that knows how dense arithmetic is executed. Every
//! other module calls these functions, so a faster CPU path or a GPU backend
//! replaces the arithmetic in one place.
//!
//! * [`gemm`]: `C = A B` through [`packed`] (this crate's cache-blocked GEMM
//!   with an AVX2 + FMA `6 × 8` microkernel; `matrixmultiply` on CPUs without
//!   them), split into shape-determined blocks run in parallel with rayon;
//!   bit-identical for any number of threads. [`matmul_into`] writes into an
//!   existing buffer.
//! * [`vector`]: matrix–vector products and the solver's fused hinge pass.
//! * [`elementwise`]: the layer epilogues, fused so each array is traversed
//!   once (bias + activation in the forward pass, `σ'`/`σ''` products in the
//!   backward and R-operator passes); large ones run in parallel (still
//!   elementwise, hence deterministic).
//! * [`linalg`]: small dense LU solves.
//! * [`packed`]: the packing routines and the register-tile microkernel.

pub mod elementwise;
pub mod gemm;
pub mod linalg;
pub mod packed;
pub mod vector;

pub use elementwise::{
    activate, add_map_in_place, affine, affine_activate, all_finite, column_sums, hadamard,
    map_elementwise, second_order_backward, tangent_activate, times_derivative,
    times_derivative_in_place, zip_elementwise,
};
pub use gemm::{matmul, matmul_into, matmul_nt, matmul_tn, serial_matmul, COL_BLOCK, ROW_BLOCK};
pub use vector::{hinge_gradient, matvec, matvec_t, matvec_t_dot2};
