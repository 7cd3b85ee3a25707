//! The process's allocator settings for the network passes.
//!
//! glibc's `malloc` serves every block above its mmap threshold (128 KiB at
//! start, raised on the fly up to 32 MiB) with a fresh `mmap` and gives it
//! back with `munmap` on `free`, and it trims the top of the heap whenever
//! more than its trim threshold is free there. A network pass allocates and
//! frees `N × w` activations and signals (2 MiB each at N = 256, w = 1,024)
//! several times per call, so with the defaults every call pays page faults,
//! zeroing of fresh pages and, on `munmap`, TLB shoot-downs to the other
//! cores: ≈ 10 % of an HVP's time at w = 1,024 in `perf`.
//!
//! [`retain_freed_memory`] sets the mmap threshold to glibc's maximum,
//! 32 MiB, and the trim threshold to 1 GiB, so that such blocks are reused
//! from the heap instead. The price: up to 1 GiB of freed memory may stay
//! mapped to the process between passes. Blocks above 32 MiB (e.g. a fresh
//! `w × w` gradient at w ≥ 2,048) are still mapped per call; reuse them with
//! the `_into` forms. Arithmetic is untouched, so every result is the same
//! to the bit. Measured in `paper-notes/performance.md`.
//!
//! The library never calls it by itself (it changes process-wide state);
//! the `hairtrigger` binary and the benches call it first thing.

/// glibc's largest mmap threshold on 64-bit targets (`4 · 1024 · 1024 · sizeof(long)`).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory at the top of the heap kept mapped instead of trimmed.
pub const TRIM_THRESHOLD: usize = 1 << 30;

/// Keep freed large blocks for reuse (see the module doc). Returns whether
/// the settings were applied: `true` with glibc, `false` elsewhere (other
/// allocators are left as they are).
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only changes allocator parameters; both values
        // are within glibc's accepted ranges (it returns 0 otherwise).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_accepts_the_settings() {
        let applied = super::retain_freed_memory();
        assert_eq!(applied, cfg!(all(target_os = "linux", target_env = "gnu")));
    }
}
