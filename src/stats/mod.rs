//! Statistics of measured results: least-squares fits with their uncertainty
//! ([`fit_line`], [`fit_power_law`]) and receiver operating characteristics of a detector's scores
//! ([`roc`]).

mod fit;
pub mod roc;

pub use fit::{fit_line, fit_power_law, LineFit, R_SQUARED_UNDEFINED};
