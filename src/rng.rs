//! Seeded, portable random numbers: every run draws from `ChaCha8Rng` seeded
//! from a user seed, so results are identical across machines and thread counts
//! (random draws never happen inside parallel regions).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The crate's RNG type.
pub type Rng = ChaCha8Rng;

/// An RNG for `(seed, stream)`: independent streams for the parts of one run
/// (network init, data, construction choices) so that changing one part's
/// draws does not shift another's.
pub fn seeded(seed: u64, stream: u64) -> Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}
