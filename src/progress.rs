//! Progress reporting without a terminal dependency: long computations take a
//! `&dyn Progress` and advance it; the command line passes a progress bar
//! (`indicatif`, in [`crate::cli`]), libraries and tests pass [`NoProgress`].

/// Something that counts finished units of work.
pub trait Progress: Sync {
    /// `n` more units are done.
    fn inc(&self, n: u64);
    /// What is being worked on now (shown beside the bar).
    fn set_message(&self, _what: &'static str) {}
}

/// Progress that goes nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn inc(&self, _: u64) {}
}
