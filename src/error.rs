//! The crate's one error type.
//!
//! Every variant carries the offending value, so a message names what was
//! wrong (`width 0 at layer 1`, `learning rate NaN`) instead of panicking or
//! silently producing NaN further down.

use thiserror::Error;

/// Errors returned by every fallible function of the crate.
#[derive(Debug, Error)]
pub enum Error {
    /// A layer width of zero (layer 0 is the input).
    #[error("invalid width {width} at layer {layer}: every width must be at least 1")]
    InvalidWidth { layer: usize, width: usize },

    /// An architecture needs at least an input and an output width.
    #[error("architecture needs at least 2 widths (input and output), got {0}")]
    TooFewLayers(usize),

    /// A learning rate that is not a finite positive number.
    #[error("learning rate must be finite and > 0, got {0}")]
    InvalidLearningRate(f64),

    /// A scalar hyper-parameter outside its domain.
    #[error("invalid {name}: {value} ({expected})")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },

    /// Two arrays whose shapes must agree do not.
    #[error("dimension mismatch in {context}: expected {expected}, got {got}")]
    DimensionMismatch {
        context: &'static str,
        expected: usize,
        got: usize,
    },

    /// A layer index outside the network.
    #[error("layer index {index} out of range: {what} must be in {lo}..={hi}")]
    LayerOutOfRange {
        index: usize,
        what: &'static str,
        lo: usize,
        hi: usize,
    },

    /// A unit index outside its layer.
    #[error("unit {unit} out of range for hidden layer {layer} of width {width}")]
    UnitOutOfRange {
        layer: usize,
        unit: usize,
        width: usize,
    },

    /// A matrix that had to be inverted is singular (to working precision).
    #[error("matrix is singular: pivot {pivot:e} at column {column} (relative tolerance {tol:e})")]
    SingularMatrix { column: usize, pivot: f64, tol: f64 },

    /// A vector that should be a permutation of 0..n is not.
    #[error("not a permutation of 0..{n}: {detail}")]
    InvalidPermutation { n: usize, detail: String },

    /// A construction that needs a property of the activation it lacks.
    #[error("{construction} does not apply to activation {activation}: {reason}")]
    NotApplicable {
        construction: &'static str,
        activation: String,
        reason: &'static str,
    },

    /// A class label outside the output dimension.
    #[error("class label {label} out of range for {classes} outputs (sample {sample})")]
    LabelOutOfRange {
        sample: usize,
        label: usize,
        classes: usize,
    },

    /// A NaN or infinity appeared during a computation.
    #[error("non-finite value in {0}")]
    NonFinite(String),

    /// A value that did not parse (CLI lists, activation names, ...).
    #[error("could not parse {what} from {input:?}: {reason}")]
    Parse {
        what: &'static str,
        input: String,
        reason: String,
    },

    /// CUDA was asked for but cannot be used here (no driver, cuBLAS or NVRTC
    /// library, no device, or a build without the `gpu` feature).
    #[error("{0}")]
    DeviceUnavailable(String),

    /// A CUDA call failed after the device was opened.
    #[error("GPU error: {0}")]
    Gpu(String),

    /// A model file that is not a valid hairtrigger safetensors file.
    #[error("model file {path}: {reason}")]
    ModelFile { path: String, reason: String },

    /// An empty data set where at least one sample is needed.
    #[error("{0} is empty: at least one sample is needed")]
    EmptyData(&'static str),

    /// An update set whose step does not move the model (the construction's
    /// non-degeneracy condition fails).
    #[error("degenerate update set: {0}")]
    DegenerateUpdateSet(String),

    /// The construction could not make every target fire.
    #[error("hair-trigger construction reached {hit} of {total} targets with {redundant} redundant units")]
    ConstructionFailed {
        hit: usize,
        total: usize,
        redundant: usize,
    },

    /// The clipped-step construction hits every target only at a scale past
    /// the box `α ≤ alpha_max`: the real step at `scale` hits all `total`
    /// targets, while inside the box at most `hit` were hit
    /// (`src/attack/clipped.rs`, the scale search).
    #[error("hair-trigger construction needs a scale beyond the box α ≤ {alpha_max:.1e}: inside it at most {hit} of {total} targets were hit with {redundant} redundant units, and the real step hits all {total} at scale {scale:.3e}")]
    ConstructionBeyondBox {
        hit: usize,
        total: usize,
        redundant: usize,
        alpha_max: f64,
        scale: f64,
    },

    /// The LP solver could not be set up or run (not an undecided LP: that is
    /// reported as [`crate::attack::feasibility::Verdict::Undecided`]).
    #[error("LP solver: {0}")]
    Solver(String),

    /// The construction's LP is infeasible for the chosen directions, with a
    /// checked Farkas certificate (`paper-notes/c3-scaling.md`).
    #[error("hair-trigger construction is infeasible for these {redundant} unit directions and {total} targets with unit scales ≤ {alpha_max:.1e} (the hidden scales α of dormant units, the outgoing scales s of zero-input units; checked Farkas certificate)")]
    ConstructionInfeasible {
        /// Targets the least-shortfall `γ` reaches (by the exact linear model).
        hit: usize,
        total: usize,
        redundant: usize,
        alpha_max: f64,
    },

    /// The clipped-step construction's sufficient condition fails: no scales
    /// raise every target row of these directions (checked Farkas
    /// certificate, `src/attack/clipped.rs`). Not a proof that no clipped
    /// twin exists.
    #[error("clipped-step construction: no γ ≥ 0 of these {redundant} unit directions raises every row of the {total} targets (checked Farkas certificate); the construction's sufficient condition fails")]
    ConstructionNoDirection { total: usize, redundant: usize },

    /// The construction's LP could not be decided (solver status given).
    #[error("hair-trigger construction undecided for {total} targets with {redundant} redundant units: {status}")]
    ConstructionUndecided {
        total: usize,
        redundant: usize,
        status: String,
    },

    /// An I/O failure, with the path involved.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// A serialisation failure (CSV, JSON).
    #[error("serialisation error: {0}")]
    Serialize(String),

    /// A run whose estimated memory exceeds the budget ([`crate::limits`]).
    #[error("{option} needs about {estimate} of memory, more than the budget of {limit}; use a smaller value or raise --max-memory")]
    TooLarge {
        option: String,
        estimate: String,
        limit: String,
    },

    /// A base seed whose range of seeds leaves `u64`.
    #[error("seed {seed} is too large: a run over {count} seeds uses seed, seed + 1, …, which overflows u64 (use a seed ≤ {max})", max = u64::MAX - *count as u64)]
    SeedOverflow { seed: u64, count: usize },

    /// A value given on the command line (or to a library entry point) that
    /// makes the computation leave f64's range, named as the user gave it.
    #[error("{setting}: {reason}")]
    OutOfRange { setting: String, reason: String },

    /// A figure that could not be drawn.
    #[error("plot error: {0}")]
    Plot(String),
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wrap an `std::io::Error` together with the path it concerns.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

impl Error {
    /// A network without a hidden layer where one is needed.
    pub fn no_hidden_layer() -> Self {
        Error::LayerOutOfRange {
            index: 0,
            what: "hidden layer (the network has none)",
            lo: 1,
            hi: 0,
        }
    }
}

/// Check a learning rate: finite and strictly positive.
pub fn check_learning_rate(eta: f64) -> Result<f64> {
    if eta.is_finite() && eta > 0.0 {
        Ok(eta)
    } else {
        Err(Error::InvalidLearningRate(eta))
    }
}

/// Check that `x` is finite and strictly positive, naming it in the error.
pub fn check_positive(name: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::InvalidParameter {
            name,
            value: x,
            expected: "must be finite and > 0",
        })
    }
}
