//! The device choice: parsing, the CPU backend being exactly the CPU path, the
//! clean fallback when CUDA is asked for but unavailable (always the case
//! without the `gpu` feature, and on machines without an NVIDIA driver), and —
//! on a machine with a GPU — f32 agreement with the f64 CPU within
//! [`GPU_RTOL`] (`cargo test --release --features gpu --test backend -- --ignored`,
//! run by `scripts/gpu-check.sh`).

use hairtrigger::attack::meta::{
    meta_gradient, meta_gradient_on, meta_objective, meta_train, meta_train_on, MetaConfig,
    MetaData, Objective,
};
use hairtrigger::backend::{relative_max_difference, Backend, Device, GPU_RTOL};
use hairtrigger::experiments::meta_device::{run_meta_device, MetaDeviceConfig, ToyLoop};
use hairtrigger::net::random_update_set;
use hairtrigger::net::{gradient, hvp};
use hairtrigger::progress::NoProgress;
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, StepConfig};
use hairtrigger::{Activation, Architecture, Dataset, Error, Mlp};

fn small_net(act: Activation) -> Mlp {
    let arch = Architecture::new(vec![16, 64, 64, 10], act, true).unwrap();
    Mlp::random(&arch, &mut seeded(3, 0))
}

#[test]
fn devices_parse_and_print() {
    assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
    assert_eq!(
        "cuda".parse::<Device>().unwrap(),
        Device::Cuda { ordinal: 0 }
    );
    assert_eq!(
        "cuda:2".parse::<Device>().unwrap(),
        Device::Cuda { ordinal: 2 }
    );
    assert_eq!(Device::Cuda { ordinal: 2 }.to_string(), "cuda:2");
    for bad in ["tpu", "cuda:x", ""] {
        assert!(
            matches!(bad.parse::<Device>(), Err(Error::Parse { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn cpu_backend_is_exactly_the_cpu_path() {
    let net = small_net(Activation::Relu);
    let data = random_update_set(&net, 32, &mut seeded(3, 1)).unwrap();
    let cpu = Backend::new(Device::Cpu);
    assert!(!cpu.is_gpu() && cpu.fallback_reason().is_none());
    assert_eq!(
        cpu.forward(&net, data.x().view()).unwrap(),
        net.forward(data.x().view()).unwrap()
    );
    let (loss, grad) = cpu.gradient(&net, &data).unwrap();
    let (loss_ref, grad_ref) = gradient(&net, &data).unwrap();
    assert_eq!(loss, loss_ref);
    assert_eq!(grad.to_flat(), grad_ref.to_flat());
    let step = StepConfig::sgd(1e-2).unwrap();
    assert_eq!(
        cpu.one_step(&net, &data, &step).unwrap().updated.to_flat(),
        one_step(&net, &data, &step).unwrap().updated.to_flat()
    );
}

/// Without CUDA (no `gpu` feature, or no driver/libraries/device) asking for it
/// gives a `DeviceUnavailable` reason from `try_new`, and `new` falls back to
/// the CPU with that reason and CPU-identical results. With a GPU, the backend
/// opens and agrees with the CPU within the stated tolerance.
#[test]
fn cuda_request_falls_back_cleanly_or_agrees() {
    let net = small_net(Activation::Relu);
    let data = random_update_set(&net, 32, &mut seeded(3, 1)).unwrap();
    let reference = net.forward(data.x().view()).unwrap();
    match Backend::try_new(Device::Cuda { ordinal: 0 }) {
        Err(Error::DeviceUnavailable(reason)) => {
            assert!(reason.contains("CUDA"), "the reason names CUDA: {reason}");
            if !cfg!(feature = "gpu") {
                assert!(reason.contains("--features gpu"), "{reason}");
            }
            let fallback = Backend::new(Device::Cuda { ordinal: 0 });
            assert!(!fallback.is_gpu());
            assert_eq!(fallback.fallback_reason(), Some(reason.as_str()));
            assert_eq!(fallback.describe(), "cpu (f64)");
            assert_eq!(fallback.forward(&net, data.x().view()).unwrap(), reference);
        }
        Ok(gpu) => {
            assert!(gpu.is_gpu());
            let out = gpu.forward(&net, data.x().view()).unwrap();
            assert!(relative_max_difference(&out, &reference) <= GPU_RTOL);
        }
        Err(other) => panic!("unexpected error opening CUDA: {other}"),
    }
}

/// f32 GPU passes against the f64 CPU, every activation, widths up to 1,024.
#[test]
#[ignore = "needs an NVIDIA GPU and `--features gpu`; run by scripts/gpu-check.sh"]
fn gpu_passes_agree_with_the_cpu_within_tolerance() {
    let gpu = Backend::try_new(Device::Cuda { ordinal: 0 }).expect("a CUDA device");
    for act in [
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Tanh,
        Activation::Gelu,
        Activation::Sigmoid,
        Activation::Identity,
    ] {
        for w in [64usize, 1024] {
            let arch = Architecture::new(vec![32, w, w, 10], act, true).unwrap();
            let net = Mlp::random(&arch, &mut seeded(5, w as u64));
            let data = random_update_set(&net, 256, &mut seeded(5, 1)).unwrap();
            let out_cpu = net.forward(data.x().view()).unwrap();
            let out_gpu = gpu.forward(&net, data.x().view()).unwrap();
            let d_out = relative_max_difference(&out_gpu, &out_cpu);
            let (loss_cpu, g_cpu) = gradient(&net, &data).unwrap();
            let (loss_gpu, g_gpu) = gpu.gradient(&net, &data).unwrap();
            let d_grad = relative_max_difference(&g_gpu.to_flat(), &g_cpu.to_flat());
            let d_loss = (loss_gpu - loss_cpu).abs() / loss_cpu.abs().max(1e-300);
            println!(
                "{act:?} w={w}: outputs {d_out:.2e}, gradient {d_grad:.2e}, loss {d_loss:.2e}"
            );
            assert!(d_out <= GPU_RTOL && d_grad <= GPU_RTOL && d_loss <= GPU_RTOL);
        }
    }
}

/// The pass sweep behind `hairtrigger passes`: one record per width with the
/// network's parameter count and `3F − F_1` FLOP (counted here by hand), the
/// CPU reference columns filled exactly when a GPU ran (then within
/// tolerance), and invalid settings refused.
#[test]
fn pass_sweep_records_each_width_on_the_chosen_device() {
    use hairtrigger::experiments::passes::{run_passes, PassesConfig};
    let cfg = PassesConfig::new(vec![8, 24], 6, 5, 2, 1e3, 0).unwrap();
    // [6, 8, 6, 10] on 5 samples: F = 2·5·(48 + 48 + 60) = 1560, F_1 = 480.
    assert_eq!(cfg.gradient_flops(8), 3.0 * 1560.0 - 480.0);
    let backend = Backend::new(Device::Cuda { ordinal: 0 });
    let mut seen = Vec::new();
    let records = run_passes(&cfg, &backend, |r| seen.push(r.width)).unwrap();
    assert_eq!(seen, vec![8, 24]);
    for (r, w) in records.iter().zip([8usize, 24]) {
        let arch = cfg.architecture(w).unwrap();
        assert_eq!(
            (r.width, r.params),
            (w, Mlp::random(&arch, &mut seeded(0, 0)).num_params())
        );
        assert_eq!(r.device, backend.describe());
        assert!(r.gradient_ms > 0.0 && r.gflops.is_finite() && r.gflops > 0.0);
        let implied = cfg.gradient_flops(w) / (r.gradient_ms * 1e-3) / 1e9;
        assert!((implied - r.gflops).abs() <= 1e-9 * r.gflops);
        match r.grad_rel_diff {
            Some(d) => {
                assert!(backend.is_gpu());
                assert!(
                    d <= GPU_RTOL && r.loss_rel_diff.unwrap() <= GPU_RTOL,
                    "{d:e}"
                );
            }
            None => assert!(
                !backend.is_gpu()
                    && r.cpu_ms.is_none()
                    && r.speedup.is_none()
                    && r.resident_ms.is_none()
            ),
        }
    }
    assert!(PassesConfig::new(vec![], 6, 5, 2, 1.0, 0).is_err());
    assert!(PassesConfig::new(vec![8, 0], 6, 5, 2, 1.0, 0).is_err());
    assert!(PassesConfig::new(vec![8], 6, 0, 2, 1.0, 0).is_err());
    assert!(PassesConfig::new(vec![8], 6, 5, 0, 1.0, 0).is_err());
    assert!(PassesConfig::new(vec![8], 6, 5, 2, -1.0, 0).is_err());
    assert!(PassesConfig::new(vec![8], 6, 5, 2, f64::NAN, 0).is_err());
}

/// A small meta-learning problem on the toy loop's data at width `w`.
fn toy(w: usize, act: Activation, bias: bool) -> (Mlp, Vec<Dataset>) {
    let t = ToyLoop::new(w, 7).unwrap();
    let arch = Architecture::new(vec![32, w, w / 2, 10], act, bias).unwrap();
    let net = Mlp::random(&arch, &mut seeded(7, 3));
    (net, vec![t.align, t.misalign, t.utility, t.update])
}

fn meta_data(sets: &[Dataset]) -> MetaData<'_> {
    MetaData {
        align: &sets[0],
        misalign: &sets[1],
        utility: &sets[2],
        update: &sets[3],
    }
}

/// On the CPU backend (and on the fallback when CUDA is asked for but
/// unavailable) the HVP, the meta-gradient and the meta-learning loop are the
/// CPU path's, to the bit.
#[test]
fn cpu_backend_meta_loop_is_exactly_the_cpu_path() {
    let (net, sets) = toy(16, Activation::Relu, true);
    let data = meta_data(&sets);
    let cfg = MetaConfig::new(1e-4, 1.0, 0.1, 1e-2, 10.0, 5).unwrap();
    let v = Mlp::random(&net.architecture(), &mut seeded(7, 9));
    for backend in [
        Backend::new(Device::Cpu),
        Backend::new(Device::Cuda { ordinal: 0 }),
    ] {
        if backend.is_gpu() {
            continue;
        }
        assert_eq!(
            backend.hvp(&net, &sets[3], &v).unwrap().to_flat(),
            hvp(&net, &sets[3], &v).unwrap().to_flat()
        );
        let (l_dev, g_dev) = meta_gradient_on(&backend, &net, &data, &cfg).unwrap();
        let (l_cpu, g_cpu) = meta_gradient(&net, &data, &cfg).unwrap();
        assert_eq!(
            (l_dev.total, g_dev.to_flat()),
            (l_cpu.total, g_cpu.to_flat())
        );
        let (mut a, mut b) = (net.clone(), net.clone());
        let ca = meta_train_on(
            &backend,
            &mut a,
            &data,
            &cfg,
            Objective::HairTrigger,
            &NoProgress,
        )
        .unwrap();
        let cb = meta_train(&mut b, &data, &cfg, Objective::HairTrigger, &NoProgress).unwrap();
        assert_eq!(a.to_flat(), b.to_flat());
        assert_eq!(ca.len(), cb.len());
    }
}

/// The comparison behind `hairtrigger meta-device`: on the CPU backend the
/// "device" is the CPU itself, so the meta-gradients agree exactly and the
/// outcome of both loops is the same model; invalid settings are refused.
#[test]
fn meta_device_comparison_on_the_cpu_agrees_exactly() {
    let cfg = MetaDeviceConfig::new(vec![8], 30, 1e3, 0).unwrap();
    let backend = Backend::new(Device::Cpu);
    let records = run_meta_device(&cfg, &backend, |_| {}).unwrap();
    let r = &records[0];
    assert_eq!((r.width, r.steps, r.cpu_steps), (8, 30, 30));
    assert_eq!(r.grad_rel_diff, 0.0);
    assert_eq!(r.objective_rel_diff, 0.0);
    assert_eq!(r.final_rel_diff, Some(0.0));
    assert_eq!(r.cpu_objective, Some(r.device_objective));
    assert!(r.device_ms_per_step > 0.0 && r.cpu_ms_per_step > 0.0);
    // Over budget: only the probe steps run on the CPU, no outcome to compare.
    let short = MetaDeviceConfig::new(vec![8], 30, 0.0, 0).unwrap();
    let r = &run_meta_device(&short, &backend, |_| {}).unwrap()[0];
    assert_eq!(
        (r.cpu_steps, r.cpu_objective, r.final_rel_diff),
        (20, None, None)
    );
    assert!(MetaDeviceConfig::new(vec![], 30, 1.0, 0).is_err());
    assert!(MetaDeviceConfig::new(vec![0], 30, 1.0, 0).is_err());
    assert!(MetaDeviceConfig::new(vec![8], 0, 1.0, 0).is_err());
    assert!(MetaDeviceConfig::new(vec![8], 30, f64::NAN, 0).is_err());
}

/// f32 GPU Hessian-vector products against the f64 CPU's (every activation,
/// with and without biases, widths up to 1,024), within [`GPU_RTOL`] of the
/// largest entry.
#[test]
#[ignore = "needs an NVIDIA GPU and `--features gpu`; run by scripts/gpu-check.sh"]
fn gpu_hvp_agrees_with_the_cpu_within_tolerance() {
    let gpu = Backend::try_new(Device::Cuda { ordinal: 0 }).expect("a CUDA device");
    for act in [
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Tanh,
        Activation::Gelu,
        Activation::Sigmoid,
        Activation::Identity,
    ] {
        for (w, bias) in [(64usize, true), (1024, true), (64, false)] {
            let (net, sets) = toy(w, act, bias);
            let v = Mlp::random(&net.architecture(), &mut seeded(7, 11));
            for data in [&sets[3], &sets[1]] {
                let cpu = hvp(&net, data, &v).unwrap();
                let dev = gpu.hvp(&net, data, &v).unwrap();
                let d = relative_max_difference(&dev.to_flat(), &cpu.to_flat());
                println!("HVP {act:?} w={w} bias={bias}: {d:.2e}");
                assert!(d <= GPU_RTOL, "{act:?} w={w}: {d:e}");
            }
        }
    }
}

/// The device-resident meta-gradient against the f64 CPU's (within
/// [`GPU_RTOL`]), and a short device-resident loop against the CPU's: after 20
/// meta-steps the objective of the two models (evaluated in f64) agrees within
/// 1e-3 relative — f32 rounding of near-zero gradient coordinates can change
/// Adam's normalised step there, so the loop is held to its outcome.
#[test]
#[ignore = "needs an NVIDIA GPU and `--features gpu`; run by scripts/gpu-check.sh"]
fn gpu_meta_gradient_and_loop_agree_with_the_cpu() {
    let gpu = Backend::try_new(Device::Cuda { ordinal: 0 }).expect("a CUDA device");
    for (w, act) in [(64usize, Activation::Relu), (512, Activation::Gelu)] {
        let (net, sets) = toy(w, act, true);
        let data = meta_data(&sets);
        let cfg = MetaConfig::new(1e-4, 1.0, 0.1, 1e-2, 10.0, 20).unwrap();
        let (l_dev, g_dev) = meta_gradient_on(&gpu, &net, &data, &cfg).unwrap();
        let (l_cpu, g_cpu) = meta_gradient(&net, &data, &cfg).unwrap();
        let d = relative_max_difference(&g_dev.to_flat(), &g_cpu.to_flat());
        let dl = (l_dev.total - l_cpu.total).abs() / l_cpu.total.abs();
        println!("meta-gradient w={w} {act:?}: {d:.2e} (J {dl:.2e})");
        assert!(d <= GPU_RTOL && dl <= GPU_RTOL, "{d:e} {dl:e}");

        let (mut a, mut b) = (net.clone(), net.clone());
        let dev_curve = meta_train_on(
            &gpu,
            &mut a,
            &data,
            &cfg,
            Objective::HairTrigger,
            &NoProgress,
        )
        .unwrap();
        let cpu_curve =
            meta_train(&mut b, &data, &cfg, Objective::HairTrigger, &NoProgress).unwrap();
        assert_eq!(dev_curve.len(), cpu_curve.len());
        let (ja, jb) = (
            meta_objective(&a, &data, &cfg).unwrap().total,
            meta_objective(&b, &data, &cfg).unwrap().total,
        );
        let rel = (ja - jb).abs() / jb.abs();
        println!("20 meta-steps w={w}: J {ja:.6e} (GPU) vs {jb:.6e} (CPU): {rel:.2e}");
        assert!(rel <= 1e-3, "{rel:e}");
    }
}
