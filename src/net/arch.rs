//! Validated architecture of a fully connected network
//! `f(x) = W_L σ(W_{L−1} σ(… σ(W_1 x + b_1) …) + b_{L−1}) + b_L`.
//!
//! `widths = [d, n_1, …, n_{L−1}, k]`: input dimension `d`, hidden widths
//! `n_l`, output dimension `k`. Every hidden layer uses the same activation
//! `σ`; the output layer is linear (it produces logits or regression values).

use crate::error::{Error, Result};
use crate::net::Activation;
use serde::{Deserialize, Serialize};

/// The shape of a network. Construct it with [`Architecture::new`] or
/// [`Architecture::parse`]; both validate, so every `Architecture` in the crate
/// is well formed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    widths: Vec<usize>,
    activation: Activation,
    bias: bool,
}

impl Architecture {
    /// Validate and build: at least two widths, none of them zero, and a valid
    /// activation parameter.
    pub fn new(widths: Vec<usize>, activation: Activation, bias: bool) -> Result<Self> {
        if widths.len() < 2 {
            return Err(Error::TooFewLayers(widths.len()));
        }
        if let Some((layer, &width)) = widths.iter().enumerate().find(|(_, &w)| w == 0) {
            return Err(Error::InvalidWidth { layer, width });
        }
        let count = widths.windows(2).try_fold(0usize, |acc, w| {
            w[0].checked_add(usize::from(bias))
                .and_then(|fan_in| fan_in.checked_mul(w[1]))
                .and_then(|p| acc.checked_add(p))
        });
        if count.is_none() {
            return Err(Error::InvalidParameter {
                name: "architecture widths",
                value: widths.iter().map(|&w| w as f64).fold(0.0, f64::max),
                expected: "too large: the parameter count overflows the address space",
            });
        }
        Ok(Self {
            widths,
            activation: activation.check()?,
            bias,
        })
    }

    /// Parse a comma-separated width list such as `16,64,64,10`.
    pub fn parse(widths: &str, activation: &str, bias: bool) -> Result<Self> {
        let parsed = widths
            .split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|e| Error::Parse {
                    what: "architecture widths",
                    input: widths.to_string(),
                    reason: format!("{s:?}: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(parsed, Activation::parse(activation)?, bias)
    }

    /// `[d, n_1, …, k]`.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// Hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Whether every layer has a bias.
    pub fn bias(&self) -> bool {
        self.bias
    }
    /// Input dimension `d`.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }
    /// Output dimension `k`.
    pub fn output_dim(&self) -> usize {
        self.widths[self.widths.len() - 1]
    }
    /// Number of weight layers `L`.
    pub fn depth(&self) -> usize {
        self.widths.len() - 1
    }
    /// Total number of parameters `P = Σ_l n_l (n_{l−1} + [bias])`.
    pub fn num_params(&self) -> usize {
        self.widths
            .windows(2)
            .map(|w| w[1] * (w[0] + usize::from(self.bias)))
            .sum()
    }
    /// `Σ_l n_l` over every layer, input and output included, as `f64` (for
    /// memory estimates).
    pub fn total_width(&self) -> f64 {
        self.widths.iter().map(|&w| w as f64).sum()
    }
    /// Comma-separated widths, the form [`Architecture::parse`] reads.
    pub fn widths_string(&self) -> String {
        self.widths
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_width_naming_the_layer() {
        let err = Architecture::new(vec![4, 0, 2], Activation::Relu, true).unwrap_err();
        assert!(matches!(err, Error::InvalidWidth { layer: 1, width: 0 }));
        assert!(err.to_string().contains("layer 1"));
    }

    #[test]
    fn rejects_too_few_layers_and_bad_lists() {
        assert!(matches!(
            Architecture::new(vec![4], Activation::Relu, true),
            Err(Error::TooFewLayers(1))
        ));
        assert!(Architecture::parse("4,x,2", "relu", true).is_err());
        assert!(Architecture::parse("4,8,2", "swish", true).is_err());
    }

    #[test]
    fn counts_parameters() {
        let a = Architecture::parse("3,5,2", "tanh", true).unwrap();
        assert_eq!(a.num_params(), 5 * 4 + 2 * 6);
        let b = Architecture::parse("3,5,2", "tanh", false).unwrap();
        assert_eq!(b.num_params(), 15 + 10);
        assert_eq!(a.widths_string(), "3,5,2");
    }
}
