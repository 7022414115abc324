//! Pippenger's bucket method for BN254 G1, parallel over windows (rayon).
//!
//! Scalars are split into `c`-bit windows (little-endian digits of the canonical
//! form); window `w` sums each base into bucket `digit − 1`, then the running-sum
//! trick gives `Σ_d d · bucket_d` with 2·2^c additions; windows combine by `c`
//! doublings each, from the top.

use halo2curves::bn256::{Fr, G1, G1Affine};
use halo2curves::ff::PrimeField;
use halo2curves::group::Group;
use rayon::prelude::*;

/// Window size for `n` terms: about log2(n) − log2(log2(n)), at least 2.
pub fn window_bits(n: usize) -> usize {
    if n < 32 {
        return 3;
    }
    let log = usize::BITS as usize - n.leading_zeros() as usize;
    (log - (usize::BITS as usize - log.leading_zeros() as usize)).clamp(2, 16)
}

/// `Σ scalars[i] · bases[i]`. Panics if the lengths differ.
pub fn pippenger(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
    assert_eq!(scalars.len(), bases.len(), "MSM with {} scalars and {} bases", scalars.len(), bases.len());
    if scalars.is_empty() {
        return G1::identity();
    }
    let c = window_bits(scalars.len());
    let reprs: Vec<[u8; 32]> = scalars.par_iter().map(|s| s.to_repr()).collect();
    let windows = 256usize.div_ceil(c);
    let sums: Vec<G1> = (0..windows).into_par_iter().map(|w| window_sum(&reprs, bases, w * c, c)).collect();
    let mut acc = G1::identity();
    for sum in sums.iter().rev() {
        for _ in 0..c {
            acc = acc.double();
        }
        acc += sum;
    }
    acc
}

/// The `c`-bit digit of a little-endian 256-bit number starting at bit `start`.
fn digit(repr: &[u8; 32], start: usize, c: usize) -> usize {
    let mut v = 0usize;
    for i in 0..c {
        let bit = start + i;
        if bit >= 256 {
            break;
        }
        v |= (((repr[bit / 8] >> (bit % 8)) & 1) as usize) << i;
    }
    v
}

fn window_sum(reprs: &[[u8; 32]], bases: &[G1Affine], start: usize, c: usize) -> G1 {
    let mut buckets = vec![G1::identity(); (1 << c) - 1];
    for (r, b) in reprs.iter().zip(bases) {
        let d = digit(r, start, c);
        if d != 0 {
            buckets[d - 1] += b;
        }
    }
    let mut running = G1::identity();
    let mut sum = G1::identity();
    for b in buckets.iter().rev() {
        running += b;
        sum += running;
    }
    sum
}
