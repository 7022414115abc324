//! zkinfer-gpu: the [`MsmBackend`] and [`NttBackend`] traits the prover's
//! heavy kernels go through, and their CPU implementation ([`CpuBackend`]).
//!
//! **Status: partial.** The traits and the CPU backend (our own Pippenger MSM
//! and radix-2 NTT, parallel with rayon, tested equal to halo2curves' MSM and
//! halo2-axiom's FFT) exist. The CUDA backend (cudarc + NVRTC, feature `cuda`)
//! and the hook into halo2-axiom's prover are not written yet; nothing in the
//! prover uses this crate yet.

use halo2curves::bn256::{Fr, G1, G1Affine};

pub mod msm;
pub mod ntt;

/// Multi-scalar multiplication over BN254 G1: `Σ scalars[i] · bases[i]`.
pub trait MsmBackend: Send + Sync {
    /// Short name for logs and `zkinfer info`.
    fn name(&self) -> &'static str;
    /// `Σ scalars[i] · bases[i]`. Panics if the lengths differ.
    fn msm(&self, scalars: &[Fr], bases: &[G1Affine]) -> G1;
}

/// Number-theoretic transforms over BN254 Fr (sizes are powers of two).
pub trait NttBackend: Send + Sync {
    /// Short name for logs and `zkinfer info`.
    fn name(&self) -> &'static str;
    /// In place: `a ← (Σ_j a_j ω^{ij})_i` for `ω` a primitive `a.len()`-th root of unity
    /// (natural order in and out). Panics unless `a.len()` is a power of two ≤ 2^28.
    fn ntt(&self, a: &mut [Fr], omega: Fr);
    /// The inverse of [`NttBackend::ntt`] for the same `ω`.
    fn intt(&self, a: &mut [Fr], omega: Fr);
    /// Evaluations on the coset `g·⟨ω⟩` of the polynomial with coefficients `a`.
    fn coset_ntt(&self, a: &mut [Fr], omega: Fr, g: Fr);
    /// Coefficients from evaluations on the coset `g·⟨ω⟩` (inverse of [`NttBackend::coset_ntt`]).
    fn coset_intt(&self, a: &mut [Fr], omega: Fr, g: Fr);
}

/// The CPU backend: the default, and the reference the GPU backend is tested against.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl MsmBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn msm(&self, scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        msm::pippenger(scalars, bases)
    }
}

impl NttBackend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn ntt(&self, a: &mut [Fr], omega: Fr) {
        ntt::ntt(a, omega)
    }
    fn intt(&self, a: &mut [Fr], omega: Fr) {
        ntt::intt(a, omega)
    }
    fn coset_ntt(&self, a: &mut [Fr], omega: Fr, g: Fr) {
        ntt::distribute_powers(a, g);
        ntt::ntt(a, omega)
    }
    fn coset_intt(&self, a: &mut [Fr], omega: Fr, g: Fr) {
        ntt::intt(a, omega);
        ntt::distribute_powers(a, halo2curves::ff::Field::invert(&g).expect("coset generator is not zero"));
    }
}

/// The root of unity of order `n` (a power of two ≤ 2^28) in BN254 Fr.
pub fn root_of_unity(n: usize) -> Fr {
    use halo2curves::ff::PrimeField;
    assert!(n.is_power_of_two() && n.trailing_zeros() <= Fr::S, "NTT size {n} is not a power of two ≤ 2^{}", Fr::S);
    let mut w = Fr::ROOT_OF_UNITY;
    for _ in n.trailing_zeros()..Fr::S {
        w = w.square();
    }
    w
}
