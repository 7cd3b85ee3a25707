//! The seed's two-layer linear example: `f(x) = w2 w1 x` at `(1, 1)` and at
//! `(c, 1/c)`. Both compute `f(x) = x`; after one identical SGD step on the same
//! sample they no longer agree, and the gap grows like `c²`.
//!
//! Run: `cargo run --release --example chain_1d`.

use hairtrigger::experiments::chain::run_chain;

fn main() -> hairtrigger::Result<()> {
    let (eta, x, y) = (1e-4, 1.0, 0.0);
    println!("f(x) = w2·w1·x, one SGD step on (x, y) = ({x}, {y}) with η = {eta:e}\n");
    println!(
        "{:>8} {:>14} {:>22} {:>22}",
        "c", "f before", "w1⁺w2⁺ at (c, 1/c)", "w1⁺w2⁺ at (1, 1)"
    );
    for c in [1.0, 3.0, 10.0, 30.0, 100.0] {
        let r = run_chain(c, eta, x, y)?;
        println!(
            "{c:>8} {:>14} {:>22.12} {:>22.12}",
            1.0, r.simulated, r.baseline_product_after
        );
    }
    println!("\nSame function before the step; after it, the rescaled chain has moved");
    println!("η g x (c² + c⁻²) instead of 2η g x: at c = 100 the output is wiped out.");
    Ok(())
}
