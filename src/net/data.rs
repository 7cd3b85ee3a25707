//! A validated data set `D = {(x_n, y_n)}_{n=1..N}`: inputs as the rows of an
//! `N × d` matrix and targets that also fix the loss (see [`crate::net::LossKind`]).

use crate::error::{Error, Result};
use crate::net::{LossKind, Mlp};
use ndarray::Array2;

/// Targets of a data set. Their kind selects the loss: real vectors use the
/// squared error, class labels the softmax cross-entropy.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// `y_n ∈ R^k` as the rows of an `N × k` matrix (loss `½‖f − y‖²`).
    Regression(Array2<f64>),
    /// `y_n ∈ {0, …, k−1}` (loss `−log softmax(f)_y`).
    Classes(Vec<usize>),
}

impl Targets {
    /// Error unless these targets fit `k` network outputs: every label below
    /// `k`, or regression targets of dimension `k`.
    pub fn check_outputs(&self, k: usize) -> Result<()> {
        match self {
            Targets::Regression(y) if y.ncols() != k => Err(Error::DimensionMismatch {
                context: "regression target dimension vs network output dimension",
                expected: k,
                got: y.ncols(),
            }),
            Targets::Classes(c) => match c.iter().enumerate().find(|(_, &l)| l >= k) {
                Some((sample, &label)) => Err(Error::LabelOutOfRange {
                    sample,
                    label,
                    classes: k,
                }),
                None => Ok(()),
            },
            Targets::Regression(_) => Ok(()),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Regression(y) => y.nrows(),
            Targets::Classes(c) => c.len(),
        }
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The loss these targets call for.
    pub fn loss_kind(&self) -> LossKind {
        match self {
            Targets::Regression(_) => LossKind::Mse,
            Targets::Classes(_) => LossKind::SoftmaxCrossEntropy,
        }
    }
}

/// Inputs and targets, checked for matching sizes and finite values.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Array2<f64>,
    targets: Targets,
}

impl Dataset {
    /// Validate and build. `name` is used in error messages ("update set").
    pub fn new(name: &'static str, x: Array2<f64>, targets: Targets) -> Result<Self> {
        if x.nrows() == 0 {
            return Err(Error::EmptyData(name));
        }
        if targets.len() != x.nrows() {
            return Err(Error::DimensionMismatch {
                context: "number of targets vs number of inputs",
                expected: x.nrows(),
                got: targets.len(),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("{name} inputs")));
        }
        if let Targets::Regression(y) = &targets {
            if y.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite(format!("{name} targets")));
            }
        }
        Ok(Self { x, targets })
    }

    /// Inputs, `N × d`.
    pub fn x(&self) -> &Array2<f64> {
        &self.x
    }
    /// Class labels (`None` for regression targets).
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Classes(c) => Some(c),
            Targets::Regression(_) => None,
        }
    }
    /// Targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }
    /// `N`.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }
    /// Always false: a validated data set has at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first `n` samples (all of them when `n ≥ len`); `name` as for [`Dataset::new`].
    pub fn head(&self, name: &'static str, n: usize) -> Result<Dataset> {
        let n = n.min(self.len());
        let targets = match &self.targets {
            Targets::Classes(c) => Targets::Classes(c[..n].to_vec()),
            Targets::Regression(y) => Targets::Regression(y.slice(ndarray::s![..n, ..]).to_owned()),
        };
        Dataset::new(name, self.x.slice(ndarray::s![..n, ..]).to_owned(), targets)
    }

    /// The samples at `rows` (in that order; indices must be `< len`), e.g. a
    /// mini-batch; `name` as for [`Dataset::new`].
    pub fn select(&self, name: &'static str, rows: &[usize]) -> Result<Dataset> {
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.len()) {
            return Err(Error::DimensionMismatch {
                context: "sample index of a subset (must be below the number of samples)",
                expected: self.len(),
                got: bad,
            });
        }
        let targets = match &self.targets {
            Targets::Classes(c) => Targets::Classes(rows.iter().map(|&r| c[r]).collect()),
            Targets::Regression(y) => Targets::Regression(y.select(ndarray::Axis(0), rows)),
        };
        Dataset::new(name, self.x.select(ndarray::Axis(0), rows), targets)
    }

    /// Error unless `net` accepts these inputs and produces outputs the targets fit.
    pub fn check_compatible(&self, net: &Mlp) -> Result<()> {
        if self.x.ncols() != net.input_dim() {
            return Err(Error::DimensionMismatch {
                context: "data input dimension vs network input dimension",
                expected: net.input_dim(),
                got: self.x.ncols(),
            });
        }
        self.targets.check_outputs(net.output_dim())
    }
}

/// `n` inputs with i.i.d. `N(0, 1)` coordinates, `n × d`.
pub fn gaussian_inputs<R: rand::Rng + ?Sized>(rng: &mut R, n: usize, d: usize) -> Array2<f64> {
    crate::net::normal_matrix(rng, n, d, 1.0)
}

/// A random update set for `net`: Gaussian inputs and uniformly random class
/// labels (softmax cross-entropy) when `k ≥ 2`, Gaussian regression targets
/// (squared error) when `k = 1`.
pub fn random_update_set<R: rand::Rng + ?Sized>(
    net: &Mlp,
    n: usize,
    rng: &mut R,
) -> Result<Dataset> {
    let x = gaussian_inputs(rng, n, net.input_dim());
    let k = net.output_dim();
    let targets = if k >= 2 {
        Targets::Classes((0..n).map(|_| rng.random_range(0..k)).collect())
    } else {
        Targets::Regression(crate::net::normal_matrix(rng, n, 1, 1.0))
    };
    Dataset::new("random update set", x, targets)
}
