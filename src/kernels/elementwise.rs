//! Elementwise passes: the epilogues around each GEMM of the forward,
//! backward and R-operator (Hessian-vector) passes, fused so each array is
//! read once.
//!
//! * forward: `Z ← Z + 1 bᵀ`, `H = σ(Z)` in one pass ([`affine_activate`]);
//! * backward: `G ← G ⊙ σ'(Z)` in place ([`times_derivative_in_place`]);
//! * R-operator forward: `R{Z} = R{H} Wᵀ + (H Vᵀ + 1 v_bᵀ)`,
//!   `R{H} = σ'(Z) ⊙ R{Z}` ([`tangent_activate`]);
//! * R-operator backward: `R{G} = (R{G}W + G V) ⊙ σ'(Z) + (G W) ⊙ σ''(Z) ⊙ R{Z}`
//!   ([`second_order_backward`]).
//!
//! Each fused pass performs the same floating-point operations in the same
//! order as the unfused sequence it replaces, so results are unchanged to the
//! bit. Passes over at least `PAR_ELEMENTS` elements run in parallel with rayon
//! (elementwise, hence deterministic). Each pass is a [`Pass`] run through
//! [`Nonlinearity::dispatch`], so an activation with several variants picks
//! its variant once per pass rather than once per element. [`all_finite`] is
//! the finiteness scan every parameter check uses.

use super::gemm::matmul_nt;
use ndarray::{Array, Array1, Array2, ArrayView1, ArrayView2, Axis, Dimension, Zip};

/// A scalar nonlinearity `σ` with its first two derivatives: what the fused
/// passes need of an activation. The kernels know nothing of networks; the
/// network layer implements this for its activations (`net::Activation`).
pub trait Nonlinearity: Copy + Send + Sync {
    /// `σ(z)`.
    fn value(self, z: f64) -> f64;
    /// `σ'(z)`.
    fn derivative(self, z: f64) -> f64;
    /// `σ''(z)`.
    fn second_derivative(self, z: f64) -> f64;
    /// Runs `pass` with this nonlinearity. The default hands over `self`; a
    /// type with several variants (an enum) may match once and hand over a
    /// type fixed to the variant, so that each pass's loop is compiled for that
    /// variant alone instead of matching per element. Whatever it hands over
    /// must give exactly this nonlinearity's values, to the bit.
    #[inline]
    fn dispatch<V: Pass>(self, pass: V) -> V::Output {
        pass.run(self)
    }
}

/// An elementwise pass over one fixed nonlinearity, run through
/// [`Nonlinearity::dispatch`].
pub trait Pass {
    /// What the pass returns.
    type Output;
    /// The pass with nonlinearity `act`.
    fn run<N: Nonlinearity>(self, act: N) -> Self::Output;
}

/// A bias `b` (one value per column) seen as the `rows × cols` matrix `1 bᵀ`.
fn rows_of<'a>(b: &'a ArrayView1<'_, f64>, dim: (usize, usize)) -> ArrayView2<'a, f64> {
    b.broadcast(dim)
        .expect("bias length equals the layer width")
}

/// Elementwise passes over fewer elements than this run on the calling thread.
const PAR_ELEMENTS: usize = 1 << 15;

/// Runs `$zip.map_collect($f)`, in parallel for large arrays.
macro_rules! collect {
    ($len:expr, $zip:expr, $f:expr) => {
        if $len < PAR_ELEMENTS {
            $zip.map_collect($f)
        } else {
            $zip.par_map_collect($f)
        }
    };
}

/// The standard-layout slices of `a`, or `None` where any has another layout.
fn slices<'a, const K: usize>(a: [&'a ArrayView2<'_, f64>; K]) -> Option<[&'a [f64]; K]> {
    let mut out = [&[][..]; K];
    for (o, v) in out.iter_mut().zip(a) {
        *o = v.as_slice()?;
    }
    Some(out)
}

/// An optional bias as a slice: `Some(None)` without a bias, `Some(Some(b))`
/// for a contiguous one, `None` for another layout (the caller falls back to
/// the strided path).
fn bias_slice<'a>(b: &'a Option<ArrayView1<'_, f64>>) -> Option<Option<&'a [f64]>> {
    match b {
        None => Some(None),
        Some(b) => b.as_slice().map(Some),
    }
}

/// A fresh `dim` array from `values`, which yields its elements in standard
/// order (row after row): no zeroing and no per-element bookkeeping, so a
/// serial pass over slices compiles to one vectorised loop.
fn from_rows(dim: (usize, usize), values: Vec<f64>) -> Array2<f64> {
    Array2::from_shape_vec(dim, values).expect("one value per element")
}

/// Affine map of a batch: `Z = H Wᵀ + 1 bᵀ` (`H: N × n_in`, `W: n_out × n_in`).
pub fn affine(h: ArrayView2<f64>, w: ArrayView2<f64>, b: Option<ArrayView1<f64>>) -> Array2<f64> {
    let mut z = matmul_nt(h, w);
    if let Some(b) = b {
        let cols = z.ncols();
        match (z.as_slice_mut(), b.as_slice()) {
            (Some(zs), Some(bs)) if cols > 0 => zs.chunks_exact_mut(cols).for_each(|row| {
                row.iter_mut().zip(bs).for_each(|(zv, &bv)| *zv += bv);
            }),
            _ => z.rows_mut().into_iter().for_each(|mut row| row += &b),
        }
    }
    z
}

/// `σ(Z)` elementwise.
pub fn activate(z: &Array2<f64>, act: impl Nonlinearity) -> Array2<f64> {
    map_elementwise(z, move |v| act.value(v))
}

/// `G ⊙ σ'(Z)`: the backward pass through an activation, fused.
pub fn times_derivative(g: &Array2<f64>, z: &Array2<f64>, act: impl Nonlinearity) -> Array2<f64> {
    zip_elementwise(g, z, move |gv, zv| gv * act.derivative(zv))
}

/// `X ← X + f(X, G)` elementwise, in place (in parallel for large arrays): the
/// parameter update `θ ← θ + Δθ(θ, g)` without allocating `Δθ`.
pub fn add_map_in_place<D: Dimension>(
    x: &mut Array<f64, D>,
    g: &Array<f64, D>,
    f: impl Fn(f64, f64) -> f64 + Sync + Send,
) {
    let zip = Zip::from(x).and(g);
    if g.len() < PAR_ELEMENTS {
        zip.for_each(|xv, &gv| *xv += f(*xv, gv));
    } else {
        zip.par_for_each(|xv, &gv| *xv += f(*xv, gv));
    }
}

/// `true` iff every value of `x` is finite (no NaN, no ±∞).
///
/// `v · 0` is `±0` for finite `v` and NaN for NaN and ±∞, and a NaN poisons a
/// sum, so each block of 64 values is folded into eight independent lane sums
/// of `v · 0` without a branch (the compiler vectorises it) and tested once;
/// the scan stops at the first block holding a non-finite value. The answer
/// is the same as `x.iter().all(|v| v.is_finite())`.
pub fn all_finite(x: &[f64]) -> bool {
    const LANES: usize = 8;
    const BLOCK: usize = 64;
    let mut blocks = x.chunks_exact(BLOCK);
    for block in blocks.by_ref() {
        let mut acc = [0.0f64; LANES];
        for c in block.chunks_exact(LANES) {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v * 0.0;
            }
        }
        if acc.iter().any(|a| *a != 0.0) {
            return false;
        }
    }
    blocks.remainder().iter().all(|v| v.is_finite())
}

/// `A ⊙ B`.
pub fn hadamard(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    zip_elementwise(a, b, |x, y| x * y)
}

/// `Σ_n G[n, :]`: the bias gradient of a batch.
///
/// Each column is summed from zero, row after row — the order of ndarray's
/// `sum_axis(Axis(0))` on a matrix in standard layout — as one slice loop
/// (ndarray adds a freshly allocated row per input row). Other layouts, and a
/// single row or column, go to `sum_axis` itself; the values are the same to
/// the bit either way.
pub fn column_sums(g: &Array2<f64>) -> Array1<f64> {
    match g.as_slice() {
        Some(gs) if g.nrows() > 1 && g.ncols() > 1 => {
            let mut sums = vec![0.0; g.ncols()];
            for row in gs.chunks_exact(g.ncols()) {
                sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
            }
            Array1::from(sums)
        }
        _ => g.sum_axis(Axis(0)),
    }
}

/// `f(a)` elementwise, in parallel for large arrays.
pub fn map_elementwise(a: &Array2<f64>, f: impl Fn(f64) -> f64 + Sync + Send) -> Array2<f64> {
    if a.len() < PAR_ELEMENTS {
        a.mapv(f)
    } else {
        Zip::from(a).par_map_collect(|&v| f(v))
    }
}

/// `f(a, b)` elementwise, in parallel for large arrays.
pub fn zip_elementwise(
    a: &Array2<f64>,
    b: &Array2<f64>,
    f: impl Fn(f64, f64) -> f64 + Sync + Send,
) -> Array2<f64> {
    assert_eq!(a.dim(), b.dim(), "zip_elementwise: shapes differ");
    if a.len() < PAR_ELEMENTS {
        Zip::from(a).and(b).map_collect(|&x, &y| f(x, y))
    } else {
        Zip::from(a).and(b).par_map_collect(|&x, &y| f(x, y))
    }
}

/// The forward layer epilogue, one pass: `Z ← Z + 1 bᵀ` in place and the
/// returned `H = σ(Z)`. `Z` is the GEMM output `H_{l−1} Wᵀ`.
pub fn affine_activate(
    z: &mut Array2<f64>,
    b: Option<ArrayView1<f64>>,
    act: impl Nonlinearity,
) -> Array2<f64> {
    struct Epilogue<'a, 'b> {
        z: &'a mut Array2<f64>,
        b: Option<ArrayView1<'b, f64>>,
    }
    impl Pass for Epilogue<'_, '_> {
        type Output = Array2<f64>;
        fn run<N: Nonlinearity>(self, act: N) -> Array2<f64> {
            let z = self.z;
            let len = z.len();
            let cols = z.ncols();
            // The formula, shared by the slice and the strided paths.
            let biased = move |zv: &mut f64, bv: f64| {
                *zv += bv;
                act.value(*zv)
            };
            if len < PAR_ELEMENTS && cols > 0 {
                if let (Some(zs), Some(bias)) = (z.as_slice_mut(), bias_slice(&self.b)) {
                    let mut h = Vec::with_capacity(len);
                    match bias {
                        Some(bs) => zs.chunks_exact_mut(cols).for_each(|row| {
                            h.extend(row.iter_mut().zip(bs).map(|(zv, &bv)| biased(zv, bv)))
                        }),
                        None => h.extend(zs.iter().map(|&zv| act.value(zv))),
                    }
                    return from_rows(z.dim(), h);
                }
            }
            match self.b {
                Some(b) => {
                    let b = rows_of(&b, z.dim());
                    collect!(len, Zip::from(z).and(b), move |zv: &mut f64, &bv: &f64| {
                        biased(zv, bv)
                    })
                }
                None => collect!(len, Zip::from(z), move |zv: &mut f64| act.value(*zv)),
            }
        }
    }
    act.dispatch(Epilogue { z, b })
}

/// `G ← G ⊙ σ'(Z)` in place: the backward pass through an activation.
pub fn times_derivative_in_place(g: &mut Array2<f64>, z: &Array2<f64>, act: impl Nonlinearity) {
    struct Backward<'a> {
        g: &'a mut Array2<f64>,
        z: &'a Array2<f64>,
    }
    impl Pass for Backward<'_> {
        type Output = ();
        fn run<N: Nonlinearity>(self, act: N) {
            let (g, z) = (self.g, self.z);
            let f = move |gv: &mut f64, &zv: &f64| *gv *= act.derivative(zv);
            if z.len() < PAR_ELEMENTS {
                // Both in standard layout: one slice loop, the same element order.
                match (g.as_slice_mut(), z.as_slice()) {
                    (Some(gs), Some(zs)) => gs.iter_mut().zip(zs).for_each(|(gv, zv)| f(gv, zv)),
                    _ => Zip::from(g).and(z).for_each(f),
                }
            } else {
                Zip::from(g).and(z).par_for_each(f);
            }
        }
    }
    assert_eq!(g.dim(), z.dim(), "times_derivative_in_place: shapes differ");
    act.dispatch(Backward { g, z })
}

/// The R-operator's forward epilogue, one pass: `R{Z} ← R{Z} + (H Vᵀ + 1 v_bᵀ)`
/// in place (`rz` holds `R{H} Wᵀ`, `hv` holds `H Vᵀ`), and the returned
/// `R{H} = σ'(Z) ⊙ R{Z}`.
pub fn tangent_activate(
    rz: &mut Array2<f64>,
    hv: &Array2<f64>,
    vb: Option<ArrayView1<f64>>,
    z: &Array2<f64>,
    act: impl Nonlinearity,
) -> Array2<f64> {
    struct Tangent<'a, 'b> {
        rz: &'a mut Array2<f64>,
        hv: &'a Array2<f64>,
        vb: Option<ArrayView1<'b, f64>>,
        z: &'a Array2<f64>,
    }
    impl Pass for Tangent<'_, '_> {
        type Output = Array2<f64>;
        fn run<N: Nonlinearity>(self, act: N) -> Array2<f64> {
            let (rz, hv, z) = (self.rz, self.hv, self.z);
            let len = rz.len();
            let cols = rz.ncols();
            // The formulas, shared by the slice and the strided paths.
            let biased = move |r: &mut f64, h: f64, bv: f64, zv: f64| {
                *r += h + bv;
                *r * act.derivative(zv)
            };
            let unbiased = move |r: &mut f64, h: f64, zv: f64| {
                *r += h;
                *r * act.derivative(zv)
            };
            if len < PAR_ELEMENTS && cols > 0 {
                let dim = rz.dim();
                if let (Some(rs), Some([hs, zs]), Some(vb)) = (
                    rz.as_slice_mut(),
                    slices([&hv.view(), &z.view()]),
                    bias_slice(&self.vb),
                ) {
                    let mut out = Vec::with_capacity(len);
                    for ((r, h), zr) in rs
                        .chunks_exact_mut(cols)
                        .zip(hs.chunks_exact(cols))
                        .zip(zs.chunks_exact(cols))
                    {
                        match vb {
                            Some(bs) => out.extend(
                                r.iter_mut()
                                    .zip(h)
                                    .zip(bs)
                                    .zip(zr)
                                    .map(|(((r, &h), &bv), &zv)| biased(r, h, bv, zv)),
                            ),
                            None => out.extend(
                                r.iter_mut()
                                    .zip(h)
                                    .zip(zr)
                                    .map(|((r, &h), &zv)| unbiased(r, h, zv)),
                            ),
                        }
                    }
                    return from_rows(dim, out);
                }
            }
            match self.vb {
                Some(vb) => {
                    let vb = rows_of(&vb, z.dim());
                    let zip = Zip::from(rz).and(hv).and(vb).and(z);
                    collect!(
                        len,
                        zip,
                        move |r: &mut f64, &h: &f64, &bv: &f64, &zv: &f64| { biased(r, h, bv, zv) }
                    )
                }
                None => {
                    let zip = Zip::from(rz).and(hv).and(z);
                    collect!(len, zip, move |r: &mut f64, &h: &f64, &zv: &f64| {
                        unbiased(r, h, zv)
                    })
                }
            }
        }
    }
    assert_eq!(rz.dim(), hv.dim(), "tangent_activate: shapes differ");
    assert_eq!(rz.dim(), z.dim(), "tangent_activate: shapes differ");
    act.dispatch(Tangent { rz, hv, vb, z })
}

/// The R-operator's backward epilogue, one pass:
/// `R{G_{l−1}} = (R{G_l} W_l + G_l V_l) ⊙ σ'(Z) + (G_l W_l) ⊙ σ''(Z) ⊙ R{Z}`,
/// from the three GEMM outputs `rgw = R{G_l} W_l`, `gv = G_l V_l`,
/// `back = G_l W_l`, the pre-activation `z` and its tangent `rz`.
pub fn second_order_backward(
    rgw: ArrayView2<f64>,
    gv: &Array2<f64>,
    back: ArrayView2<f64>,
    z: &Array2<f64>,
    rz: &Array2<f64>,
    act: impl Nonlinearity,
) -> Array2<f64> {
    struct SecondOrder<'a> {
        rgw: ArrayView2<'a, f64>,
        gv: &'a Array2<f64>,
        back: ArrayView2<'a, f64>,
        z: &'a Array2<f64>,
        rz: &'a Array2<f64>,
    }
    impl Pass for SecondOrder<'_> {
        type Output = Array2<f64>;
        fn run<N: Nonlinearity>(self, act: N) -> Array2<f64> {
            let len = self.rgw.len();
            // The formula, shared by the slice and the strided paths.
            let formula = move |a: f64, g: f64, b: f64, zv: f64, r: f64| {
                (a + g) * act.derivative(zv) + (b * act.second_derivative(zv)) * r
            };
            if len < PAR_ELEMENTS {
                let views = [
                    &self.rgw,
                    &self.gv.view(),
                    &self.back,
                    &self.z.view(),
                    &self.rz.view(),
                ];
                if let Some([a, g, b, z, r]) = slices(views) {
                    let out = a
                        .iter()
                        .zip(g)
                        .zip(b)
                        .zip(z)
                        .zip(r)
                        .map(|((((&a, &g), &b), &zv), &r)| formula(a, g, b, zv, r))
                        .collect();
                    return from_rows(self.rgw.dim(), out);
                }
            }
            let zip = Zip::from(self.rgw)
                .and(self.gv)
                .and(self.back)
                .and(self.z)
                .and(self.rz);
            collect!(len, zip, move |&a: &f64,
                                     &g: &f64,
                                     &b: &f64,
                                     &zv: &f64,
                                     &r: &f64| {
                formula(a, g, b, zv, r)
            })
        }
    }
    for other in [gv.dim(), back.dim(), z.dim(), rz.dim()] {
        assert_eq!(rgw.dim(), other, "second_order_backward: shapes differ");
    }
    // Views are invariant in their lifetime: reborrow both to one.
    act.dispatch(SecondOrder {
        rgw: rgw.view(),
        gv,
        back: back.view(),
        z,
        rz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice loop of [`column_sums`] against `sum_axis` to the bit, on
    /// values whose sum depends on the order (large and small magnitudes,
    /// signed zeros), and the fallback layouts.
    #[test]
    fn column_sums_equal_sum_axis_to_the_bit() {
        use ndarray::ShapeBuilder;
        let value = |i: usize, j: usize| match (i * 5 + j * 3) % 7 {
            0 => 1e16,
            1 => -0.0,
            2 => 1.0 / 3.0,
            3 => -1e16,
            4 => 0.1,
            5 => 2.5e-8,
            _ => -7.0,
        };
        for (n, k) in [(1, 5), (5, 1), (2, 2), (33, 64), (7, 10)] {
            let standard = Array2::from_shape_fn((n, k), |(i, j)| value(i, j));
            let column_major = Array2::from_shape_fn((n, k).f(), |(i, j)| value(i, j));
            for g in [&standard, &column_major] {
                let bits = |a: &Array1<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&column_sums(g)),
                    bits(&g.sum_axis(Axis(0))),
                    "{n} × {k}"
                );
            }
        }
    }

    #[test]
    fn all_finite_agrees_with_the_plain_scan_at_every_position() {
        for len in [0usize, 1, 7, 63, 64, 65, 130, 200] {
            let clean: Vec<f64> = (0..len).map(|i| (i as f64 - 50.0) * 1e300).collect();
            assert!(all_finite(&clean));
            for pos in 0..len {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut x = clean.clone();
                    x[pos] = bad;
                    assert!(!all_finite(&x), "len {len}, {bad} at {pos} missed");
                }
            }
        }
        // Large finite values times zero stay zero; negative ones give −0.
        assert!(all_finite(&[-f64::MAX; 64]));
        assert!(all_finite(&[f64::MIN_POSITIVE; 100]));
    }

    fn grid(n: usize, m: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((n, m), |(i, j)| {
            (((i * 31 + j * 17 + seed * 7) % 23) as f64 - 11.0) / 3.7
        })
    }

    /// Nonlinearities for the kernel tests (the kernels know no network type).
    #[derive(Clone, Copy)]
    enum TestAct {
        Relu,
        Tanh,
        Cubic,
    }

    impl Nonlinearity for TestAct {
        fn value(self, z: f64) -> f64 {
            match self {
                TestAct::Relu => z.max(0.0),
                TestAct::Tanh => z.tanh(),
                TestAct::Cubic => z + z * z * z / 3.0,
            }
        }
        fn derivative(self, z: f64) -> f64 {
            match self {
                TestAct::Relu => f64::from(u8::from(z > 0.0)),
                TestAct::Tanh => 1.0 - z.tanh().powi(2),
                TestAct::Cubic => 1.0 + z * z,
            }
        }
        fn second_derivative(self, z: f64) -> f64 {
            match self {
                TestAct::Relu => 0.0,
                TestAct::Tanh => -2.0 * z.tanh() * (1.0 - z.tanh().powi(2)),
                TestAct::Cubic => 2.0 * z,
            }
        }
    }

    /// Each fused pass against the unfused sequence it replaces, bit for bit,
    /// on a small (serial) and a large (parallel) shape.
    #[test]
    fn fused_passes_equal_the_unfused_sequences_exactly() {
        let acts = [TestAct::Relu, TestAct::Tanh, TestAct::Cubic];
        for (n, m) in [(7, 5), (300, 200)] {
            let (z, b) = (grid(n, m, 1), grid(1, m, 2).row(0).to_owned());
            let (g, v, w, r) = (grid(n, m, 3), grid(n, m, 4), grid(n, m, 5), grid(n, m, 6));
            for act in acts {
                let mut zf = z.clone();
                let h = affine_activate(&mut zf, Some(b.view()), act);
                let zb = &z + &b;
                assert_eq!(zf, zb);
                assert_eq!(h, activate(&zb, act));
                let mut zn = z.clone();
                assert_eq!(affine_activate(&mut zn, None, act), activate(&z, act));

                let mut gi = g.clone();
                times_derivative_in_place(&mut gi, &z, act);
                assert_eq!(gi, times_derivative(&g, &z, act));

                let mut rz = g.clone();
                let rh = tangent_activate(&mut rz, &v, Some(b.view()), &z, act);
                let expected_rz = &g + &(&v + &b);
                assert_eq!(rz, expected_rz);
                assert_eq!(rh, times_derivative(&expected_rz, &z, act));

                let fused = second_order_backward(g.view(), &v, w.view(), &z, &r, act);
                let first = times_derivative(&(&g + &v), &z, act);
                let curv = zip_elementwise(&w, &z, move |x, zv| x * act.second_derivative(zv));
                assert_eq!(fused, first + hadamard(&curv, &r));
            }
        }
    }
}
