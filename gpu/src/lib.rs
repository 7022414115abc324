//! zkinfer-gpu: the [`MsmBackend`] and [`NttBackend`] traits the prover's
//! heavy kernels go through, and their implementations:
//!
//! - [`CpuBackend`]: our Pippenger MSM and radix-2 NTT (rayon), the reference;
//! - [`accel::Accel`] on a [`device::Device`]: the CUDA C kernels of
//!   `src/cuda/kernels.cu` (BN254 Montgomery arithmetic, XYZZ points,
//!   Pippenger with bucket sorting, radix-2 NTT) on an NVIDIA GPU through
//!   cudarc + NVRTC ([`cuda::CudaDevice`], feature `cuda`), or on the CPU
//!   through the kernel emulator ([`device::EmuDevice`], for tests);
//! - [`halo2`]: the hook that makes halo2-axiom's prover commit through a backend.
//!
//! [`selected`] picks the prover's backend once per process: the GPU when the
//! crate is built with `cuda` and a device is found, else the CPU (halo2's
//! own MSM), with the reason; `ZKINFER_BACKEND=cpu` forces the CPU.

use halo2curves::bn256::{Fr, G1, G1Affine};

pub mod accel;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod halo2;
pub mod msm;
pub mod ntt;

use std::sync::{Arc, OnceLock};

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

/// The prover's backend, chosen once per process by [`selected`].
pub struct Selection {
    /// `"cuda"` or `"cpu"`.
    pub kind: &'static str,
    /// Why: the device found, or why none is used.
    pub reason: String,
    /// The MSM backend to commit with; `None` means halo2's own CPU MSM.
    pub msm: Option<Arc<dyn MsmBackend>>,
    /// The NTT backend (the CPU one when no device is used).
    pub ntt: Arc<dyn NttBackend>,
}

/// MSMs below this size stay on the CPU even with a GPU (transfer and launch costs dominate).
pub const GPU_MIN_LEN: usize = 1 << 12;

/// The backend for this process (chosen on first call; see the crate docs).
pub fn selected() -> &'static Selection {
    static SEL: OnceLock<Selection> = OnceLock::new();
    SEL.get_or_init(select)
}

fn cpu(reason: String) -> Selection {
    Selection { kind: "cpu", reason, msm: None, ntt: Arc::new(CpuBackend) }
}

fn select() -> Selection {
    match std::env::var("ZKINFER_BACKEND").ok().as_deref() {
        Some("cpu") => return cpu("ZKINFER_BACKEND=cpu".into()),
        None | Some("") | Some("auto") | Some("cuda") => {}
        Some(other) => return cpu(format!("ZKINFER_BACKEND={other} is not one of auto, cpu, cuda; using the CPU")),
    }
    select_cuda()
}

#[cfg(feature = "cuda")]
fn select_cuda() -> Selection {
    match cuda::CudaDevice::open() {
        Ok(dev) => {
            let reason = format!("GPU: {}", device::Device::describe(&dev));
            let accel = Arc::new(accel::Accel::new(dev, GPU_MIN_LEN));
            Selection { kind: "cuda", reason, msm: Some(accel.clone()), ntt: accel }
        }
        Err(why) => cpu(format!("built with CUDA support, but {why}")),
    }
}

#[cfg(not(feature = "cuda"))]
fn select_cuda() -> Selection {
    cpu("built without the `cuda` feature; build with: cargo build --release -p zkinfer-prover --features cuda".into())
}

/// The device backend on the kernel emulator (every MSM of `min_len` points
/// or more runs the CUDA kernels on the CPU), for tests of the prover hook;
/// `None` when the emulator was not built (no C++ compiler at build time).
pub fn emulated_backend(min_len: usize) -> Option<Arc<dyn MsmBackend>> {
    #[cfg(zkinfer_gpu_emu)]
    {
        Some(Arc::new(accel::Accel::new(device::EmuDevice::new(), min_len)))
    }
    #[cfg(not(zkinfer_gpu_emu))]
    {
        let _ = min_len;
        None
    }
}

/// A fresh GPU backend (device 0; MSMs of `min_len` points or more on the GPU),
/// or why there is none. [`selected`] is the one the prover uses; this one is
/// for tests and benchmarks that need their own threshold.
pub fn gpu_backend(min_len: usize) -> Result<Arc<dyn MsmBackend>, String> {
    #[cfg(feature = "cuda")]
    {
        Ok(Arc::new(accel::Accel::new(cuda::CudaDevice::open()?, min_len)))
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = min_len;
        Err("built without the `cuda` feature".into())
    }
}
