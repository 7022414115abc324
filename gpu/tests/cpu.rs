//! The CPU backend against halo2curves' MSM and halo2-axiom's FFT.

mod common;
use common::{random_points, rng};
use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::fft::recursive::FFTData;
use halo2curves::bn256::{Fr, G1, G1Affine};
use halo2curves::ff::Field;
use halo2curves::group::Group;
use halo2curves::group::prime::PrimeCurveAffine;
use zkinfer_gpu::{CpuBackend, MsmBackend, NttBackend, root_of_unity};

#[test]
fn msm_equals_halo2curves_on_random_inputs() {
    let mut r = rng(1);
    for n in [1usize, 2, 3, 31, 32, 100, 1 << 10, (1 << 12) + 7] {
        let bases = random_points(n, &mut r);
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
        assert_eq!(CpuBackend.msm(&scalars, &bases), best_multiexp(&scalars, &bases), "n = {n}");
    }
    assert_eq!(CpuBackend.msm(&[], &[]), G1::identity());
}

#[test]
fn msm_edge_cases() {
    let mut r = rng(2);
    let n = 300;
    let mut bases = random_points(n, &mut r);
    let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
    for i in 0..20 {
        scalars[i] = Fr::ZERO; // zero scalars
        bases[20 + i] = G1Affine::identity(); // identity points
        bases[40 + i] = bases[60]; // repeated points
        scalars[80 + i] = -Fr::ONE; // scalar = r − 1
        scalars[100 + i] = Fr::ONE;
    }
    assert_eq!(CpuBackend.msm(&scalars, &bases), best_multiexp(&scalars, &bases));
    // (r − 1)·P = −P
    let p = bases[5];
    assert_eq!(CpuBackend.msm(&[-Fr::ONE], &[p]), -G1::from(p));
    assert_eq!(CpuBackend.msm(&[Fr::ZERO; 4], &bases[..4]), G1::identity());
    // A negative test: a changed scalar changes the result.
    let mut other = scalars.clone();
    other[150] += Fr::ONE;
    assert_ne!(CpuBackend.msm(&other, &bases), best_multiexp(&scalars, &bases));
}

#[test]
fn ntt_equals_halo2_fft_and_inverts() {
    let mut r = rng(3);
    for log_n in [1u32, 2, 3, 8, 11, 13] {
        let n = 1usize << log_n;
        let omega = root_of_unity(n);
        let input: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
        let mut ours = input.clone();
        CpuBackend.ntt(&mut ours, omega);
        let mut theirs = input.clone();
        let data = FFTData::new(n, omega, omega.invert().unwrap());
        halo2_proofs::arithmetic::best_fft(&mut theirs, omega, log_n, &data, false);
        assert_eq!(ours, theirs, "n = 2^{log_n}");
        // Direct evaluation at one point, independent of both implementations.
        let x = omega.pow_vartime([3u64 % n as u64]);
        let eval = input.iter().rev().fold(Fr::ZERO, |acc, c| acc * x + c);
        assert_eq!(ours[3 % n], eval);
        CpuBackend.intt(&mut ours, omega);
        assert_eq!(ours, input, "intt(ntt(a)) != a at n = 2^{log_n}");
    }
}

#[test]
fn coset_ntt_evaluates_on_the_coset() {
    let mut r = rng(4);
    let n = 1 << 9;
    let omega = root_of_unity(n);
    let g = Fr::from(7);
    let coeffs: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
    let mut evals = coeffs.clone();
    CpuBackend.coset_ntt(&mut evals, omega, g);
    for i in [0usize, 1, 77, n - 1] {
        let x = g * omega.pow_vartime([i as u64]);
        let want = coeffs.iter().rev().fold(Fr::ZERO, |acc, c| acc * x + c);
        assert_eq!(evals[i], want, "coset point {i}");
    }
    CpuBackend.coset_intt(&mut evals, omega, g);
    assert_eq!(evals, coeffs);
}
