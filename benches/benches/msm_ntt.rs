//! MSM and NTT: zkinfer's CPU backend next to halo2curves' MSM and halo2-axiom's FFT,
//! at 2^12, 2^16, 2^18 and 2^20 (`ZKINFER_BENCH_LOG_SIZES=12,16` to choose), and
//! the GPU backend beside them (plus 2^22) when the benches are built with
//! `--features cuda` and a device is found.

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use halo2_proofs::arithmetic::{best_fft, best_multiexp};
use halo2_proofs::fft::recursive::FFTData;
use halo2curves::bn256::{Fr, G1, G1Affine};
use halo2curves::ff::Field;
use halo2curves::group::Curve;
use halo2curves::group::Group;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer_gpu::{CpuBackend, MsmBackend, NttBackend, root_of_unity};

fn log_sizes() -> Vec<u32> {
    match std::env::var("ZKINFER_BENCH_LOG_SIZES") {
        Ok(s) if !s.trim().is_empty() => s.split(',').map(|x| x.trim().parse().expect("log size")).collect(),
        _ if gpu().is_some() => vec![12, 16, 18, 20, 22],
        _ => vec![12, 16, 18, 20],
    }
}

/// The GPU backends, when in use.
fn gpu() -> Option<(Arc<dyn MsmBackend>, Arc<dyn NttBackend>)> {
    let sel = zkinfer_gpu::selected();
    sel.msm.clone().map(|m| (m, sel.ntt.clone()))
}

fn msm_ntt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let max = *log_sizes().iter().max().expect("sizes");
    let n_max = 1usize << max;
    let g = G1::random(&mut rng);
    let mut proj = Vec::with_capacity(n_max);
    let mut p = g;
    for _ in 0..n_max {
        proj.push(p);
        p += g;
    }
    let mut bases = vec![G1Affine::default(); n_max];
    G1::batch_normalize(&proj, &mut bases);
    let scalars: Vec<Fr> = (0..n_max).map(|_| Fr::random(&mut rng)).collect();

    let gpu = gpu();
    if gpu.is_some() {
        eprintln!("GPU backend: {}", zkinfer_gpu::selected().reason);
    }
    let mut g = c.benchmark_group("msm");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for log_n in log_sizes() {
        let n = 1usize << log_n;
        g.bench_with_input(BenchmarkId::new("zkinfer-cpu", log_n), &n, |b, &n| {
            b.iter(|| CpuBackend.msm(&scalars[..n], &bases[..n]))
        });
        g.bench_with_input(BenchmarkId::new("halo2curves", log_n), &n, |b, &n| {
            b.iter(|| best_multiexp(&scalars[..n], &bases[..n]))
        });
        if let Some((msm, _)) = &gpu {
            // Bases stay resident on the device after the first call, as the prover's SRS does.
            g.bench_with_input(BenchmarkId::new("gpu", log_n), &n, |b, &n| {
                b.iter(|| msm.msm(&scalars[..n], &bases[..n]))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("ntt");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for log_n in log_sizes() {
        let n = 1usize << log_n;
        let omega = root_of_unity(n);
        let data = FFTData::new(n, omega, omega.invert().unwrap());
        g.bench_with_input(BenchmarkId::new("zkinfer-cpu", log_n), &n, |b, &n| {
            let mut a = scalars[..n].to_vec();
            b.iter(|| CpuBackend.ntt(&mut a, omega))
        });
        g.bench_with_input(BenchmarkId::new("halo2-axiom", log_n), &n, |b, &n| {
            let mut a = scalars[..n].to_vec();
            b.iter(|| best_fft(&mut a, omega, log_n, &data, false))
        });
        if let Some((_, ntt)) = &gpu {
            // Host ↔ device copies included.
            g.bench_with_input(BenchmarkId::new("gpu", log_n), &n, |b, &n| {
                let mut a = scalars[..n].to_vec();
                b.iter(|| ntt.ntt(&mut a, omega))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, msm_ntt);
criterion_main!(benches);
