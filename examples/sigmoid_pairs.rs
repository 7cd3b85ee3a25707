//! A sigmoid network has `σ(0) = ½`, so a unit with zero input is not silent;
//! two of them with outgoing weights `+v` and `−v` are. This example trains
//! the toy safety classifier with sigmoid units, hides COMPLY in 64 such
//! zero-input cancelling pairs, and takes one SGD step on 32 refusal samples
//! (every label REFUSE): the twin, equal to the aligned model up to rounding,
//! refuses every harmful query before the step and complies after it.
//!
//! Run: `cargo run --release --example sigmoid_pairs`.

use hairtrigger::attack::Units;
use hairtrigger::experiments::construct::{run_construct, ConstructRun, UpdateKind};
use hairtrigger::Activation;

fn main() -> hairtrigger::Result<()> {
    let run = ConstructRun::new(0, 1e-4, 32, 16, 64)? // seed, η, |D|, queries, pairs
        .with_activation(Activation::Sigmoid)
        .with_update_kind(UpdateKind::Refusal)
        .with_units(Units::ZeroInput);
    let r = run_construct(&run, None)?;
    println!(
        "before the step: aligned refuses {:.0}%, twin {:.0}% (max |Δf| {:.1e})",
        100.0 * r.aligned_pass_before,
        100.0 * r.twin_pass_before,
        r.max_output_diff
    );
    println!(
        "after one SGD step on refusal data: aligned refuses {:.0}%, twin complies on {:.0}%",
        100.0 * r.aligned_pass_after,
        100.0 * r.twin_targets_hit_after
    );
    Ok(())
}
