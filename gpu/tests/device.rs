//! The device backend (CUDA kernels + host orchestration) against the CPU
//! reference: on the kernel emulator everywhere, and on a CUDA GPU where one is
//! found (feature `cuda`; the GPU tests say "skipped" and pass otherwise).

mod common;

use common::{random_points, rng};
use halo2_proofs::arithmetic::best_multiexp;
use halo2curves::bn256::{Fr, G1, G1Affine};
use halo2curves::ff::Field;
use halo2curves::group::Group;
use halo2curves::group::prime::PrimeCurveAffine;
use zkinfer_gpu::accel::Accel;
use zkinfer_gpu::device::Device;
use zkinfer_gpu::{CpuBackend, NttBackend, root_of_unity};

fn check_msm_random<D: Device>(acc: &Accel<D>, sizes: &[usize]) {
    let mut r = rng(11);
    for &n in sizes {
        let bases = random_points(n, &mut r);
        let scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
        let got = acc.try_msm(&scalars, &bases).expect("device MSM");
        assert_eq!(got, best_multiexp(&scalars, &bases), "n = {n}");
        // The cached bases are reused: a second MSM on the same slice.
        let s2: Vec<Fr> = (0..n).map(|i| Fr::from(i as u64 * 7 + 1)).collect();
        assert_eq!(acc.try_msm(&s2, &bases).unwrap(), best_multiexp(&s2, &bases), "second MSM, n = {n}");
    }
    assert_eq!(acc.try_msm(&[], &[]).unwrap(), G1::identity());
}

fn check_msm_edges<D: Device>(acc: &Accel<D>) {
    let mut r = rng(12);
    let n = 700;
    let mut bases = random_points(n, &mut r);
    let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
    for i in 0..20 {
        scalars[i] = Fr::ZERO; // zero scalars
        bases[20 + i] = G1Affine::identity(); // identity points
        bases[40 + i] = bases[60]; // repeated points
        scalars[40 + i] = scalars[60]; // ... with repeated scalars: P + P in one bucket
        scalars[80 + i] = -Fr::ONE; // scalar = r − 1
        scalars[100 + i] = Fr::ONE;
    }
    // P and −P in one bucket (the addition meets the identity).
    bases[130] = -bases[131];
    scalars[130] = scalars[131];
    assert_eq!(acc.try_msm(&scalars, &bases).unwrap(), best_multiexp(&scalars, &bases));
    let p = bases[5];
    assert_eq!(acc.try_msm(&[-Fr::ONE], &[p]).unwrap(), -G1::from(p));
    assert_eq!(acc.try_msm(&vec![Fr::ZERO; 64], &bases[..64]).unwrap(), G1::identity());
    // Witness-like scalars: one crowded bucket (all ones: 700 points in one
    // bucket, folded over two levels), small values, and −small values.
    let ones = vec![Fr::ONE; n];
    assert_eq!(acc.try_msm(&ones, &bases).unwrap(), best_multiexp(&ones, &bases));
    let small: Vec<Fr> =
        (0..n).map(|i| if i % 3 == 0 { -Fr::from(i as u64 % 200) } else { Fr::from(i as u64 % 200) }).collect();
    assert_eq!(acc.try_msm(&small, &bases).unwrap(), best_multiexp(&small, &bases));
    // A changed scalar changes the result.
    let mut other = scalars.clone();
    other[150] += Fr::ONE;
    assert_ne!(acc.try_msm(&other, &bases).unwrap(), best_multiexp(&scalars, &bases));
}

fn check_ntt<D: Device>(acc: &Accel<D>, max_log: u32) {
    let mut r = rng(13);
    for log_n in 0..=max_log {
        let n = 1usize << log_n;
        let omega = root_of_unity(n);
        let g = Fr::from(7);
        let input: Vec<Fr> = (0..n).map(|_| Fr::random(&mut r)).collect();
        let run = |f: &dyn Fn(&dyn NttBackend, &mut Vec<Fr>)| {
            let (mut a, mut b) = (input.clone(), input.clone());
            f(acc, &mut a);
            f(&CpuBackend, &mut b);
            assert_eq!(a, b, "n = 2^{log_n}");
            a
        };
        let fwd = run(&|be, a| be.ntt(a, omega));
        if n > 1 {
            assert_ne!(fwd, input, "the NTT changes its input at n = 2^{log_n}");
        }
        run(&|be, a| be.intt(a, omega));
        run(&|be, a| be.coset_ntt(a, omega, g));
        run(&|be, a| be.coset_intt(a, omega, g));
        let mut back = fwd.clone();
        acc.try_transform(&mut back, omega.invert().unwrap(), None, Some(Fr::from(n as u64).invert().unwrap()), None)
            .unwrap();
        assert_eq!(back, input, "intt(ntt(a)) = a at n = 2^{log_n}");
    }
}

#[cfg(zkinfer_gpu_emu)]
mod emu {
    use super::*;
    use zkinfer_gpu::device::EmuDevice;

    fn emu() -> Accel<EmuDevice> {
        Accel::new(EmuDevice::new(), 0)
    }

    #[test]
    fn msm_equals_halo2curves_on_random_inputs() {
        check_msm_random(&emu(), &[1, 2, 3, 31, 100, 1000, 4099]);
    }

    #[test]
    fn msm_edge_cases() {
        check_msm_edges(&emu());
    }

    #[test]
    fn ntt_equals_cpu_backend() {
        check_ntt(&emu(), 11);
    }
}

#[cfg(not(zkinfer_gpu_emu))]
#[test]
fn emulator_tests_skipped() {
    eprintln!("skipped: the kernel emulator was not built (no C++ compiler at build time)");
}

#[cfg(feature = "cuda")]
mod gpu {
    use super::*;
    use zkinfer_gpu::cuda::CudaDevice;

    fn gpu() -> Option<Accel<CudaDevice>> {
        match CudaDevice::open() {
            Ok(d) => {
                eprintln!("CUDA device: {}", d.describe());
                Some(Accel::new(d, 0))
            }
            Err(why) if std::env::var_os("ZKINFER_REQUIRE_GPU").is_some() => {
                panic!("ZKINFER_REQUIRE_GPU is set but no GPU backend: {why}")
            }
            Err(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    #[test]
    fn gpu_msm_equals_halo2curves() {
        if let Some(g) = gpu() {
            check_msm_random(&g, &[1, 2, 3, 31, 100, 1000, 4099, 1 << 16, (1 << 18) + 3]);
        }
    }

    /// NVRTC alone (no driver, no device needed) compiles the kernels for the
    /// GPU generations we target; the PTX names every kernel.
    #[test]
    fn nvrtc_compiles_the_kernels() {
        for arch in ["compute_80", "compute_90"] {
            let ptx = match zkinfer_gpu::cuda::compile_kernels(arch) {
                Ok(p) => p,
                Err(why) if why.starts_with("no NVRTC") && std::env::var_os("ZKINFER_REQUIRE_GPU").is_none() => {
                    eprintln!("skipped: {why}");
                    return;
                }
                Err(why) => panic!("{why}"),
            };
            let text = ptx.to_src();
            for k in zkinfer_gpu::device::Kernel::ALL {
                assert!(text.contains(&format!(".entry {}(", k.name())), "{arch}: no entry {}", k.name());
            }
            if let Some(dir) = std::env::var_os("ZKINFER_PTX_DIR") {
                std::fs::write(std::path::Path::new(&dir).join(format!("kernels-{arch}.ptx")), text).unwrap();
            }
        }
    }

    #[test]
    fn gpu_msm_edge_cases() {
        if let Some(g) = gpu() {
            check_msm_edges(&g);
        }
    }

    #[test]
    fn gpu_ntt_equals_cpu_backend() {
        if let Some(g) = gpu() {
            check_ntt(&g, 20);
        }
    }
}
