//! Bad input returns an error that names the value; nothing panics or yields NaN.

mod common;

use common::net_and_data;
use hairtrigger::experiments::chain::run_chain;
use hairtrigger::net::{gradient, hvp};
use hairtrigger::reparam::*;
use hairtrigger::update::{StepConfig, UpdateRule};
use hairtrigger::{Activation, Architecture, Dataset, Error, Targets};
use ndarray::{array, Array1, Array2};

#[test]
fn width_zero_is_named() {
    let err = Architecture::parse("16,0,10", "relu", true).unwrap_err();
    assert!(matches!(err, Error::InvalidWidth { layer: 1, width: 0 }));
    assert!(err.to_string().contains("width 0 at layer 1"));
}

#[test]
fn bad_learning_rates_are_named() {
    for eta in [0.0, -1e-4, f64::NAN, f64::INFINITY] {
        let err = StepConfig::sgd(eta).unwrap_err();
        assert!(matches!(err, Error::InvalidLearningRate(_)));
        assert!(err.to_string().contains(&format!("{eta}")), "{err}");
    }
    let bad_adam = UpdateRule::AdamFirstStep {
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
    };
    assert!(StepConfig::new(1e-3, bad_adam)
        .unwrap_err()
        .to_string()
        .contains("beta1"));
}

#[test]
fn chain_rejects_nonpositive_c() {
    for c in [0.0, -2.0, f64::NAN] {
        let err = run_chain(c, 1e-4, 1.0, 0.0).unwrap_err();
        assert!(err.to_string().contains("chain scale c"), "{err}");
    }
    assert!(matches!(
        run_chain(1.0, -1.0, 1.0, 0.0),
        Err(Error::InvalidLearningRate(_))
    ));
}

#[test]
fn mismatched_dimensions_are_reported() {
    let (net, _) = net_and_data(&[3, 4, 2], Activation::Relu, true, 1, 1);
    let wrong_input =
        Dataset::new("d", Array2::zeros((2, 5)), Targets::Classes(vec![0, 1])).unwrap();
    assert!(matches!(
        gradient(&net, &wrong_input),
        Err(Error::DimensionMismatch {
            expected: 3,
            got: 5,
            ..
        })
    ));
    let wrong_label =
        Dataset::new("d", Array2::zeros((2, 3)), Targets::Classes(vec![0, 7])).unwrap();
    assert!(matches!(
        gradient(&net, &wrong_label),
        Err(Error::LabelOutOfRange {
            label: 7,
            sample: 1,
            ..
        })
    ));
    assert!(Dataset::new("d", Array2::zeros((2, 3)), Targets::Classes(vec![0])).is_err());
    assert!(matches!(
        Dataset::new(
            "update set",
            Array2::zeros((0, 3)),
            Targets::Classes(vec![])
        ),
        Err(Error::EmptyData("update set"))
    ));
    assert!(net.forward(Array2::zeros((1, 4)).view()).is_err());
    let other = net_and_data(&[3, 5, 2], Activation::Relu, true, 1, 1).0;
    let data = Dataset::new("d", Array2::zeros((1, 3)), Targets::Classes(vec![0])).unwrap();
    assert!(hvp(&net, &data, &other).is_err());
    let nan = Dataset::new(
        "probe",
        array![[f64::NAN, 0.0, 0.0]],
        Targets::Classes(vec![0]),
    );
    assert!(matches!(nan, Err(Error::NonFinite(_))));
}

#[test]
fn singular_change_of_basis_is_refused() {
    let (net, _) = net_and_data(&[2, 3, 2], Activation::Identity, true, 1, 1);
    let a = array![[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]];
    assert!(matches!(
        rescale_linear_chain(&net, 1, &a),
        Err(Error::SingularMatrix { .. })
    ));
    assert!(matches!(
        rescale_linear_chain(&net, 1, &Array2::eye(2)),
        Err(Error::DimensionMismatch { .. })
    ));
}

#[test]
fn constructions_refuse_where_they_do_not_apply() {
    let (gelu, _) = net_and_data(&[2, 3, 2], Activation::Gelu, true, 1, 1);
    let err = scale_units(&gelu, 1, &[1.0, 2.0, 3.0]).unwrap_err();
    assert!(matches!(err, Error::NotApplicable { .. }));
    assert!(err.to_string().contains("gelu"));
    assert!(matches!(
        flip_signs(&gelu, 1, &[true; 3]),
        Err(Error::NotApplicable { .. })
    ));
    assert!(matches!(
        rescale_linear_chain(&gelu, 1, &Array2::eye(3)),
        Err(Error::NotApplicable { .. })
    ));

    let (relu, _) = net_and_data(&[2, 3, 2], Activation::Relu, true, 1, 1);
    assert!(scale_units(&relu, 1, &[1.0, -2.0, 3.0])
        .unwrap_err()
        .to_string()
        .contains("-2"));
    assert!(scale_units(&relu, 1, &[1.0, 2.0]).is_err());
    assert!(matches!(
        scale_units(&relu, 2, &[1.0; 2]),
        Err(Error::LayerOutOfRange { index: 2, .. })
    ));
    assert!(matches!(
        permute_units(&relu, 1, &[0, 0, 1]),
        Err(Error::InvalidPermutation { .. })
    ));
    assert!(matches!(
        split_unit(&relu, 1, 3, 0.5),
        Err(Error::UnitOutOfRange { unit: 3, .. })
    ));
    assert!(split_unit(&relu, 1, 0, f64::NAN).is_err());
    assert!(add_cancelling_pair(&relu, 1, &Array1::zeros(5), 0.0, &Array1::zeros(2)).is_err());
}
