//! One breadth point of C3, timed: how many independent targets `m` redundant
//! units can hit in one SGD step (`K*`), found by doubling and bisection, with
//! every failing `K` either certified infeasible by a checked Farkas vector
//! (the LP solver) or merely "not found" (the projected-gradient solver).
//!
//! `cargo run --release --example breadth_point -- [M ...] [--hinge]`
//! (default M = 256; seed 0, the breadth setting of `scaling --full`, whose
//! queries are drawn for `K ≤ 4064`, so that its points are the sweep's).

use hairtrigger::attack::Solver;
use hairtrigger::experiments::breadth::{BreadthConfig, BreadthSetup, Outcome};
use std::time::Instant;

fn main() -> hairtrigger::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let solver = if args.iter().any(|a| a == "--hinge") {
        Solver::Hinge
    } else {
        Solver::Lp
    };
    let mut widths = Vec::new();
    for a in args.iter().filter(|a| !a.starts_with("--")) {
        widths.push(a.parse::<usize>().map_err(|e| hairtrigger::Error::Parse {
            what: "width M",
            input: a.clone(),
            reason: e.to_string(),
        })?);
    }
    if widths.is_empty() {
        widths.push(256);
    }
    for m in widths {
        let setup = BreadthSetup::new(
            BreadthConfig::standard((4 * m + 64).max(4064))?.with_lp_solver(solver),
        )?;
        let start = Instant::now();
        let p = setup.search(m, 0)?;
        let secs = start.elapsed().as_secs_f64();
        let certified = p
            .tries
            .iter()
            .filter(|t| t.outcome == Outcome::Infeasible)
            .count();
        println!(
            "m = {m}: K* = {} ({:?}; first failure certified: {}), {} attempts ({certified} certified infeasible, {} undecided), {secs:.2} s",
            p.k_star, solver, p.k_star_certified, p.attempts, p.undecided
        );
    }
    Ok(())
}
