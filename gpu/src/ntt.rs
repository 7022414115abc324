//! Iterative radix-2 NTT over BN254 Fr (Cooley–Tukey, bit-reversed input order
//! internally, natural order in and out), parallel over butterfly blocks.

use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use rayon::prelude::*;

/// Sizes from which work is split across threads.
const PAR_MIN: usize = 1 << 10;

/// In place forward NTT with `omega` of order `a.len()`.
pub fn ntt(a: &mut [Fr], omega: Fr) {
    let n = a.len();
    assert!(n.is_power_of_two(), "NTT size {n} is not a power of two");
    if n == 1 {
        return;
    }
    bit_reverse(a);
    // twiddles[j] = ω^j for j < n/2; stage with blocks of size m uses stride n/m.
    let twiddles = powers(omega, n / 2);
    let mut m = 2;
    while m <= n {
        let half = m / 2;
        let stride = n / m;
        let butterfly = |block: &mut [Fr]| {
            let (lo, hi) = block.split_at_mut(half);
            for j in 0..half {
                let t = hi[j] * twiddles[j * stride];
                hi[j] = lo[j] - t;
                lo[j] += t;
            }
        };
        if n >= PAR_MIN && n / m >= 2 {
            a.par_chunks_mut(m).for_each(butterfly);
        } else {
            a.chunks_mut(m).for_each(butterfly);
        }
        m *= 2;
    }
}

/// In place inverse NTT for the same `omega`.
pub fn intt(a: &mut [Fr], omega: Fr) {
    let n = a.len();
    ntt(a, omega.invert().expect("root of unity is not zero"));
    let n_inv = Fr::from(n as u64).invert().expect("n is not zero in Fr");
    a.par_iter_mut().for_each(|x| *x *= n_inv);
}

/// `a[i] ← a[i] · g^i`.
pub fn distribute_powers(a: &mut [Fr], g: Fr) {
    let chunk = (a.len() / rayon::current_num_threads().max(1)).max(1024);
    a.par_chunks_mut(chunk).enumerate().for_each(|(ci, part)| {
        let mut p = g.pow_vartime([(ci * chunk) as u64]);
        for x in part {
            *x *= p;
            p *= g;
        }
    });
}

fn powers(w: Fr, n: usize) -> Vec<Fr> {
    let mut out = Vec::with_capacity(n);
    let mut p = Fr::ONE;
    for _ in 0..n {
        out.push(p);
        p *= w;
    }
    out
}

fn bit_reverse(a: &mut [Fr]) {
    let n = a.len();
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            a.swap(i, j);
        }
    }
}
