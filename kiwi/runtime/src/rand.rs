//! Randomness. rand 0.10's thread RNG draws its seed from `getrandom`, which
//! madsim intercepts, so it is deterministic per simulation seed.
use ::rand::RngExt;

/// A random u64.
#[allow(clippy::disallowed_methods)]
pub fn u64() -> u64 {
    ::rand::rng().random()
}

/// A uniformly random index in `0..len` (`len` must be > 0).
#[allow(clippy::disallowed_methods)]
pub fn index(len: usize) -> usize {
    debug_assert!(len > 0);
    ::rand::rng().random_range(0..len.max(1))
}
