//! GPU against CPU on the network passes at large widths: for each width `w`
//! the `[1024, w, 1024, 10]` ReLU network on a batch of 256 takes one gradient
//! (forward + backward) on the GPU (f32, parameters resident) and, while the
//! CPU's projected time stays under the budget, on the CPU (f64). Prints the
//! times, the speedup and the agreement `max|g_gpu − g_cpu| / max|g_cpu|`.
//!
//! Run (needs an NVIDIA GPU): `cargo run --release --features gpu --example
//! gpu_sweep -- [widths, default 1024,...,65536] [cpu budget in s, default 60]`.

use hairtrigger::backend::{relative_max_difference, Backend, Device, GPU_RTOL};
use hairtrigger::experiments::random_update_set;
use hairtrigger::net::gradient;
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Mlp};
use std::time::Instant;

fn main() -> hairtrigger::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let widths: Vec<usize> = match args.first() {
        Some(list) => list
            .split(',')
            .filter_map(|w| w.trim().parse().ok())
            .collect(),
        None => (10..=16).map(|p| 1usize << p).collect(),
    };
    let budget: f64 = args.get(1).and_then(|b| b.parse().ok()).unwrap_or(60.0);
    let backend = Backend::try_new(Device::Cuda { ordinal: 0 })?;
    let Backend::Cuda(gpu) = &backend else {
        unreachable!("try_new(Cuda) returns a CUDA backend or an error")
    };
    println!(
        "GPU: {}; CPU budget per width {budget} s; tolerance {GPU_RTOL:.0e}",
        backend.describe()
    );
    println!(
        "{:>7} {:>12} {:>10} {:>10} {:>8} {:>10} {:>10}",
        "width", "params", "gpu_ms", "cpu_ms", "speedup", "grad_diff", "loss_diff"
    );
    let mut cpu_seconds_per_param: Option<f64> = None;
    for w in widths {
        let arch = Architecture::new(vec![1024, w, 1024, 10], Activation::Relu, true)?;
        let net = Mlp::random(&arch, &mut seeded(7, w as u64));
        let data = random_update_set(&net, 256, &mut seeded(7, 1))?;
        let resident = gpu.upload(&net)?;
        gpu.gradient_resident(&resident, &data)?; // warm-up (kernels, cuBLAS heuristics)
        let reps = 5;
        let t = Instant::now();
        let mut g_gpu = None;
        for _ in 0..reps {
            g_gpu = Some(gpu.gradient_resident(&resident, &data)?);
        }
        let gpu_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let (loss_gpu, g_gpu) = g_gpu.expect("reps > 0");
        let params = net.num_params();
        let projected = cpu_seconds_per_param.map(|s| s * params as f64);
        if projected.is_none_or(|s| s <= budget) {
            let t = Instant::now();
            let (loss_cpu, g_cpu) = gradient(&net, &data)?;
            let cpu_s = t.elapsed().as_secs_f64();
            cpu_seconds_per_param = Some(cpu_s / params as f64);
            let diff = relative_max_difference(&g_gpu.to_flat(), &g_cpu.to_flat());
            let loss_diff = (loss_gpu - loss_cpu).abs() / loss_cpu.abs();
            println!(
                "{w:>7} {params:>12} {gpu_ms:>10.2} {:>10.1} {:>7.1}x {diff:>10.2e} {loss_diff:>10.2e}",
                cpu_s * 1e3,
                cpu_s * 1e3 / gpu_ms
            );
        } else {
            println!(
                "{w:>7} {params:>12} {gpu_ms:>10.2} {:>10} {:>8} {:>10} {:>10}",
                "-", "-", "-", "-"
            );
        }
    }
    Ok(())
}
