//! Gradients, Jacobians, the NTK and Hessian-vector products against
//! independent references: central finite differences (f64) and, for the
//! layer-wise NTK formula, the explicit product `J Jᵀ`.

mod common;

use common::{net_and_data, rel_err, ACTIVATIONS};
use hairtrigger::net::gaussian_inputs;
use hairtrigger::net::{gradient, hvp, hvp_into, jacobian, loss_value, ntk};
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Dataset, Mlp, Targets};
use ndarray::Array2;

fn loss_at(net: &Mlp, data: &Dataset) -> f64 {
    loss_value(&net.forward(data.x().view()).unwrap(), data.targets())
}

/// Central difference of the loss along every coordinate, step `h`.
fn fd_gradient(net: &Mlp, data: &Dataset, h: f64) -> Mlp {
    let theta = net.to_flat();
    let mut g = vec![0.0; theta.len()];
    for i in 0..theta.len() {
        let mut p = theta.to_vec();
        p[i] += h;
        let up = loss_at(&net.with_flat(&p).unwrap(), data);
        p[i] -= 2.0 * h;
        let down = loss_at(&net.with_flat(&p).unwrap(), data);
        g[i] = (up - down) / (2.0 * h);
    }
    net.with_flat(&g).unwrap()
}

#[test]
fn gradient_matches_central_differences_for_every_activation_and_loss() {
    for act in ACTIVATIONS {
        for (k, bias) in [(3, true), (1, true), (3, false)] {
            // k = 3: softmax cross-entropy; k = 1: squared error.
            let (net, data) = net_and_data(&[4, 6, 5, k], act, bias, 11, 7);
            let (_, g) = gradient(&net, &data).unwrap();
            let fd = fd_gradient(&net, &data, 1e-6);
            let err = rel_err(&g, &fd);
            assert!(
                err <= 1e-6,
                "{act} k={k} bias={bias}: relative error {err:e}"
            );
        }
    }
}

#[test]
fn squared_error_gradient_with_vector_targets() {
    let (net, _) = net_and_data(&[3, 8, 2], Activation::Tanh, true, 5, 1);
    let mut rng = seeded(5, 9);
    let x = gaussian_inputs(&mut rng, 6, 3);
    let y = gaussian_inputs(&mut rng, 6, 2);
    let data = Dataset::new("test", x, Targets::Regression(y)).unwrap();
    let (_, g) = gradient(&net, &data).unwrap();
    let err = rel_err(&g, &fd_gradient(&net, &data, 1e-6));
    assert!(err <= 1e-6, "relative error {err:e}");
}

#[test]
fn jacobian_matches_central_differences() {
    for act in ACTIVATIONS {
        let (net, data) = net_and_data(&[3, 5, 4, 2], act, true, 21, 3);
        let jac = jacobian(&net, data.x().view()).unwrap();
        let theta = net.to_flat();
        let h = 1e-6;
        let mut fd = Array2::zeros(jac.dim());
        for i in 0..theta.len() {
            let mut p = theta.to_vec();
            p[i] += h;
            let up = net.with_flat(&p).unwrap().forward(data.x().view()).unwrap();
            p[i] -= 2.0 * h;
            let down = net.with_flat(&p).unwrap().forward(data.x().view()).unwrap();
            let col = (&up - &down) / (2.0 * h);
            for (r, v) in col.iter().enumerate() {
                fd[[r, i]] = *v;
            }
        }
        let diff = (&jac - &fd).mapv(|v| v * v).sum().sqrt();
        let scale = jac.mapv(|v| v * v).sum().sqrt();
        assert!(
            diff / scale <= 1e-6,
            "{act}: relative error {:e}",
            diff / scale
        );
    }
}

#[test]
fn layerwise_ntk_equals_explicit_j_jt() {
    for act in ACTIVATIONS {
        for bias in [true, false] {
            let (net, _) = net_and_data(&[4, 7, 6, 3], act, bias, 3, 1);
            let mut rng = seeded(3, 4);
            let x1 = gaussian_inputs(&mut rng, 5, 4);
            let x2 = gaussian_inputs(&mut rng, 4, 4);
            let theta = ntk(&net, x1.view(), x2.view()).unwrap();
            let j1 = jacobian(&net, x1.view()).unwrap();
            let j2 = jacobian(&net, x2.view()).unwrap();
            let explicit = j1.dot(&j2.t());
            assert_eq!(theta.dim(), (15, 12));
            let diff = (&theta - &explicit)
                .mapv(|v| v.abs())
                .fold(0.0f64, |a, &b| a.max(b));
            let scale = explicit.mapv(|v| v.abs()).fold(0.0f64, |a, &b| a.max(b));
            assert!(
                diff <= 1e-12 * scale,
                "{act} bias={bias}: {diff:e} vs scale {scale:e}"
            );
        }
    }
}

#[test]
fn hvp_matches_central_differences_of_the_gradient() {
    for act in ACTIVATIONS {
        for k in [3, 1] {
            let (net, data) = net_and_data(&[4, 6, 5, k], act, true, 31, 9);
            let v = Mlp::random(&net.architecture(), &mut seeded(31, 7));
            let hv = hvp(&net, &data, &v).unwrap();
            let h = 1e-5;
            let mut up = net.clone();
            up.axpy(h, &v).unwrap();
            let mut down = net.clone();
            down.axpy(-h, &v).unwrap();
            let (_, gu) = gradient(&up, &data).unwrap();
            let (_, gd) = gradient(&down, &data).unwrap();
            let fd = gu.zip_map(&gd, |a, b| (a - b) / (2.0 * h)).unwrap();
            let err = rel_err(&hv, &fd);
            assert!(err <= 1e-6, "{act} k={k}: relative error {err:e}");
        }
    }
}

#[test]
fn hvp_is_symmetric() {
    // ⟨u, H v⟩ = ⟨v, H u⟩: an exact Hessian is symmetric.
    let (net, data) = net_and_data(&[5, 8, 8, 4], Activation::Gelu, true, 2, 10);
    let u = Mlp::random(&net.architecture(), &mut seeded(2, 5));
    let v = Mlp::random(&net.architecture(), &mut seeded(2, 6));
    let uhv = u.dot(&hvp(&net, &data, &v).unwrap()).unwrap();
    let vhu = v.dot(&hvp(&net, &data, &u).unwrap()).unwrap();
    assert!(
        (uhv - vhu).abs() <= 1e-12 * uhv.abs().max(vhu.abs()),
        "{uhv} vs {vhu}"
    );
}

/// The buffer-reusing HVP overwrites whatever its buffer held and gives the
/// allocating HVP's bits, with and without biases; a wrong-shaped buffer is
/// reported instead of written.
#[test]
fn hvp_into_a_used_buffer_equals_hvp_bit_for_bit() {
    for bias in [true, false] {
        let (net, data) = net_and_data(&[5, 70, 9, 4], Activation::Gelu, bias, 4, 12);
        let arch = net.architecture();
        let v = Mlp::random(&arch, &mut seeded(4, 8));
        let mut out = Mlp::random(&arch, &mut seeded(4, 9));
        hvp_into(&net, &data, &v, &mut out).unwrap();
        assert_eq!(out, hvp(&net, &data, &v).unwrap(), "bias={bias}");
    }
    let (net, data) = net_and_data(&[5, 8, 4], Activation::Relu, true, 4, 12);
    let v = Mlp::random(&net.architecture(), &mut seeded(4, 10));
    let (other, _) = net_and_data(&[5, 9, 4], Activation::Relu, true, 4, 12);
    let mut wrong = other.zeros_like();
    assert!(hvp_into(&net, &data, &v, &mut wrong).is_err());
}
