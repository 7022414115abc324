//! Inputs shared by the backend tests.

use halo2curves::bn256::{G1, G1Affine};
use halo2curves::group::{Curve, Group};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `n` distinct points, cheaply: multiples of one random point.
pub fn random_points(n: usize, r: &mut ChaCha20Rng) -> Vec<G1Affine> {
    let g = G1::random(&mut *r);
    let mut p = g;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(p.to_affine());
        p += g;
    }
    out
}
