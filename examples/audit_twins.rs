//! Is my model a hair trigger? Build a random ReLU network, two of its
//! forward-equivalent twins (every unit rescaled; dormant units added), audit
//! all three, and time the audit.
//!
//! `cargo run --release --example audit_twins [-- 784,1024,1024,10]`

use hairtrigger::audit::{audit, AuditConfig};
use hairtrigger::reparam::{add_random_dormant_units, scale_units};
use hairtrigger::rng::seeded;
use hairtrigger::{Architecture, Mlp};
use std::time::Instant;

fn main() -> hairtrigger::Result<()> {
    let widths = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "32,64,64,10".into());
    let arch = Architecture::parse(&widths, "relu", true)?;
    let net = Mlp::random(&arch, &mut seeded(1, 0));
    let n = arch.widths()[1];
    let rescaled = scale_units(&net, 1, &vec![100.0; n])?;
    let dormant = add_random_dormant_units(&net, 1, (n / 4).max(1), &mut seeded(1, 1))?;
    for (name, m) in [
        ("genuine", &net),
        ("rescaled ×100", &rescaled),
        ("dormant units", &dormant),
    ] {
        let t = Instant::now();
        let (r, _) = audit(m, &AuditConfig::new(1e-4)?)?;
        println!(
            "{name:<14} {} params  flagged: {:<5}  NTK ratio {:>9.3e}  max |ln(‖u‖/‖v‖)| {:>6.2}  dormant {}  ({:.2} s)",
            r.params,
            r.flagged,
            r.ntk_ratio,
            r.max_log_imbalance.unwrap_or(0.0),
            r.canonical.dormant_removed,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
