//! Statistics of measured results: least-squares fits with their uncertainty
//! ([`fit_line`], [`fit_power_law`]), the mean over seeds with its interval
//! ([`mean_ci95`]), linear against saturating growth ([`compare_growth`]) and receiver operating characteristics of a detector's scores
//! ([`roc`]).

mod fit;
mod mean;
pub mod roc;
mod saturating;

pub use fit::{fit_line, fit_power_law, LineFit, R_SQUARED_UNDEFINED};
pub use mean::{mean_ci95, MeanCi};
pub use saturating::{compare_growth, fit_saturating, GrowthLaw, Preferred, SaturatingFit};
