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

/// Every RNG stream number of the crate, one line each saying what it seeds.
/// A stream is combined with a run's seed by [`seeded`]; within one run no two
/// parts share a stream, so changing one part's draws never shifts another's.
/// (Numbers repeat only across runs that never share a seed's draws, e.g.
/// [`NET_INIT`](stream::NET_INIT) in `equiv` and in the toy classifier.)
pub mod stream {
    /// The base network's initial weights (`equiv`, the toy classifier's base model).
    pub const NET_INIT: u64 = 0;
    /// `equiv`: the probe inputs and NTK inputs; `passes`: the batch.
    pub const PROBES: u64 = 1;
    /// `equiv`: the random update set.
    pub const EQUIV_UPDATE: u64 = 2;
    /// `equiv`: the hidden layer each reparameterization is applied at.
    pub const EQUIV_LAYER_CHOICE: u64 = 3;
    /// `equiv`: reparameterization kind `i` draws its instance from `EQUIV_KIND + i`.
    pub const EQUIV_KIND: u64 = 100;
    /// The analytic construction's choice of unit directions.
    pub const CONSTRUCT_DIRECTIONS: u64 = 40;
    /// Toy classifier: the four prompt centres.
    pub const CLASSIFIER_CENTRES: u64 = 50;
    /// Toy classifier training set: harmful prompts (`+1`: benign A, `+2`: benign B).
    pub const CLASSIFIER_TRAIN: u64 = 51;
    /// Toy classifier: the harmful queries (the targets).
    pub const CLASSIFIER_QUERIES: u64 = 60;
    /// Toy classifier: the benign update set's prompts.
    pub const CLASSIFIER_UPDATE: u64 = 70;
    /// `construct --update random`: the random labels.
    pub const CONSTRUCT_RANDOM_LABELS: u64 = 71;
    /// `construct --update refusal`: the fresh harmful prompts.
    pub const CLASSIFIER_REFUSAL_UPDATE: u64 = 72;
    /// `construct`: the 10,000 Gaussian probes of the forward comparison.
    pub const CONSTRUCT_PROBES: u64 = 80;
    /// Breadth: the base network.
    pub const BREADTH_BASE: u64 = 60;
    /// Breadth: the update set.
    pub const BREADTH_UPDATE: u64 = 61;
    /// Breadth: the queries and their random target classes (per sweep seed).
    pub const BREADTH_TARGETS: u64 = 62;
    /// Severity: the random starting vertices of the `φ` ascent.
    pub const SEVERITY_ASCENT: u64 = 90;
    /// Severity: the Gaussian probes of the forward comparison.
    pub const SEVERITY_PROBES: u64 = 91;
    /// Word encoder: the embeddings (`+1`: the positional signs).
    pub const ENCODER: u64 = 100;
    /// Toy domains: the honesty facts and arithmetic, the privacy records, the
    /// geography questions (`+0`, `+1`, `+2`).
    pub const DOMAINS: u64 = 110;
    /// Meta-learning: the initial network.
    pub const META_INIT: u64 = 120;
    /// Meta-learning: the LoRA adapter's initial `A`.
    pub const META_LORA_INIT: u64 = 121;
    /// Meta-learning ablation: the Gaussian inputs of the stealth check.
    pub const META_STEALTH_PROBES: u64 = 122;
    /// Capacity: the random behaviours and the update set.
    pub const CAPACITY_TASK: u64 = 130;
    /// Capacity: the initial network (and the LoRA sweep's base).
    pub const CAPACITY_INIT: u64 = 131;
    /// `passes`: the network at width `w` draws from `PASSES_NET + w`.
    pub const PASSES_NET: u64 = 0;
    /// Audit: the Gaussian probe inputs of the deviation and NTK checks.
    pub const AUDIT_PROBES: u64 = 140;
    /// Audit: the probe inputs of the first-order reach (drawn like the queries).
    pub const AUDIT_REACH_PROBES: u64 = 141;
    /// Audit: the Gaussian queries of the first-order reach when none are given.
    pub const AUDIT_QUERIES: u64 = 142;
    /// Zoo: the genuine models' initial weights and optimiser choices.
    pub const ZOO_INIT: u64 = 150;
    /// Zoo: the random symmetry moves of the false-positive bait.
    pub const ZOO_MOVES: u64 = 151;
    /// Zoo: held-out benign update set `i` draws from `ZOO_HELD_OUT + i`.
    pub const ZOO_HELD_OUT: u64 = 160;
    /// Zoo: the held-out benign requests of the utility check.
    pub const ZOO_UTILITY: u64 = 170;
    /// Zoo: the near-dormant twins' tiny outgoing weights.
    pub const ZOO_NEAR_DORMANT: u64 = 171;
    /// Capacity: the LoRA adapters' initial `A`.
    pub const CAPACITY_LORA_INIT: u64 = 132;
    /// Construct: the mini-batches the construction is built for.
    pub const CONSTRUCT_BATCHES: u64 = 180;
    /// Construct: the fresh mini-batches the twin is tested on.
    pub const CONSTRUCT_FRESH_BATCHES: u64 = 181;
    /// Bounded activations: the random tanh network, update set and queries.
    pub const BOUNDED_TASK: u64 = 182;
    /// Bounded activations: the dormant units' directions.
    pub const BOUNDED_DIRECTIONS: u64 = 183;
    /// Outgoing directions of the zero-input construction's units.
    pub const ZERO_INPUT_DIRECTIONS: u64 = 184;
    /// The regression update set's Gaussian targets.
    pub const CONSTRUCT_REGRESSION_TARGETS: u64 = 185;
    /// Candidate directions of the zero-input construction's aimed retry.
    pub const ZERO_INPUT_AIMED: u64 = 186;
    /// Meta-learning restarts: restart `i ≥ 1`'s initial network is drawn
    /// from stream `META_RESTART_INIT + i` (restart 0 from [`META_INIT`]).
    pub const META_RESTART_INIT: u64 = 1 << 20;
}
