//! Seed derivation and small sampling helpers.
//!
//! Every part of the simulation draws from its own ChaCha8 stream derived
//! from the user seed and a fixed salt, so that (for example) changing the
//! dirty rate never changes the clean events, and each BG/NBD purchase can be
//! replayed from `(customer, purchase number)` alone.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

pub(crate) const SALT_POPULATION: u64 = 1;
pub(crate) const SALT_ACTIVITY: u64 = 2;
pub(crate) const SALT_BALANCES: u64 = 3;
pub(crate) const SALT_PURCHASE: u64 = 4;
pub(crate) const SALT_DIRTY: u64 = 16;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Mix two words into a seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    splitmix64(a ^ splitmix64(b))
}

/// An independent stream for `salt`.
pub(crate) fn stream(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(seed, salt))
}

/// The stream of purchase `k` (0-based) of customer `cust` (0-based).
pub(crate) fn purchase_stream(seed: u64, cust: u32, k: u32) -> ChaCha8Rng {
    let base = mix(seed, SALT_PURCHASE);
    ChaCha8Rng::seed_from_u64(mix(base, (u64::from(cust) << 32) | u64::from(k)))
}

/// Poisson draw by inversion (exact; meant for the small daily rates used here).
pub(crate) fn poisson<R: Rng>(rng: &mut R, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let u: f64 = rng.random();
    let mut p = (-lambda).exp();
    let mut cdf = p;
    let mut k = 0u32;
    while u > cdf && k < 10_000 {
        k += 1;
        p *= lambda / f64::from(k);
        cdf += p;
        if p == 0.0 && cdf < u {
            // Underflow for large lambda: fall back to a normal approximation.
            let z: f64 = StandardNormal.sample(rng);
            return (lambda + z * lambda.sqrt()).round().max(0.0) as u32;
        }
    }
    k
}

pub(crate) fn std_normal<R: Rng>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

/// Lognormal draw given its median and log-scale sigma.
pub(crate) fn lognormal<R: Rng>(rng: &mut R, median: f64, sigma: f64) -> f64 {
    median * (sigma * std_normal(rng)).exp()
}

/// Exponential draw with the given rate.
pub(crate) fn exponential<R: Rng>(rng: &mut R, rate: f64) -> f64 {
    let u: f64 = rng.random();
    -(1.0 - u).ln() / rate
}

/// Index drawn with probability proportional to `weights`.
pub(crate) fn pick<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len().saturating_sub(1)
}

/// Uniform second of the hour chosen by `hour_weights` (24 weights).
pub(crate) fn time_of_day<R: Rng>(rng: &mut R, hour_weights: &[f64; 24]) -> u32 {
    let h = pick(rng, hour_weights) as u32;
    h * 3600 + rng.random_range(0..3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean() {
        let mut rng = stream(7, 99);
        let n = 50_000;
        let total: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, 0.7))).sum();
        let mean = total as f64 / f64::from(n);
        assert!((mean - 0.7).abs() < 0.03, "mean {mean}");
    }

    #[test]
    fn purchase_streams_replay() {
        let a: u64 = purchase_stream(1, 5, 3).random();
        let b: u64 = purchase_stream(1, 5, 3).random();
        let c: u64 = purchase_stream(1, 5, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
