//! Randomness. Production draws from rand's thread RNG; under madsim every
//! draw comes from the simulator's global RNG, which is driven by the seed
//! and recorded by its determinism check (a thread-local RNG would carry
//! state from one simulated run into the next).
use std::convert::Infallible;

/// The layer's random source as a rand 0.10 RNG (what OpenRaft's runtime
/// trait asks for).
#[derive(Debug, Default, Clone, Copy)]
pub struct LayerRng;

impl ::rand::TryRng for LayerRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u64() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// A random u64.
#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)]
pub fn u64() -> u64 {
    use ::rand::RngExt;
    ::rand::rng().random()
}

/// A random u64 from the simulation's seeded RNG.
#[cfg(madsim)]
pub fn u64() -> u64 {
    madsim::rand::random::<u64>()
}

/// A uniformly random index in `0..len` (`len` must be > 0).
pub fn index(len: usize) -> usize {
    debug_assert!(len > 0);
    // Multiply-shift: one draw, negligible bias for any realistic len.
    ((u64() as u128 * len.max(1) as u128) >> 64) as usize
}

/// A uniformly random number in `lo..=hi` (`lo` when `hi < lo`).
pub fn between(lo: u64, hi: u64) -> u64 {
    lo + index((hi.saturating_sub(lo) + 1) as usize) as u64
}
