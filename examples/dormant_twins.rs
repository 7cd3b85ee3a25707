//! The README's library example: a network and its twin with 16 dormant units
//! compute the same function; after one SGD step they differ.
//!
//! Run: `cargo run --release --example dormant_twins`.

use hairtrigger::net::random_update_set;
use hairtrigger::update::{one_step, StepConfig};
use hairtrigger::{reparam, rng::seeded, Activation, Architecture, Mlp};

fn main() -> hairtrigger::Result<()> {
    let arch = Architecture::new(vec![16, 64, 64, 10], Activation::Relu, true)?;
    let net = Mlp::random(&arch, &mut seeded(7, 0));
    let data = random_update_set(&net, 32, &mut seeded(7, 1))?; // N = 32
    let twin = reparam::add_random_dormant_units(&net, 2, 16, &mut seeded(7, 2))?;
    let x = data.x().view();
    assert_eq!(net.forward(x)?, twin.forward(x)?); // same function
    let step = StepConfig::sgd(1e-4)?; // η = 1e-4
    let (a, b) = (
        one_step(&net, &data, &step)?.updated,
        one_step(&twin, &data, &step)?.updated,
    );
    let gap = (&a.forward(x)? - &b.forward(x)?)
        .mapv(f64::abs)
        .fold(0.0, |m: f64, v| m.max(*v));
    println!("after one step the twins differ by {gap:.3e}");
    Ok(())
}
