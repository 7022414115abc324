//! What the accelerated backend needs from a device: memory, copies and kernel
//! launches. Two devices implement it: CUDA (feature `cuda`, [`crate::cuda`])
//! and the kernel emulator ([`EmuDevice`]), which runs the same CUDA C kernels
//! on the CPU, compiled by the host C++ compiler at build time, so that the
//! kernels and the orchestration around them are tested on machines without a GPU.

use std::fmt;

/// The kernels of `src/cuda/kernels.cu`, in the order `emu.cpp` numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kernel {
    /// `fq_points_to_mont(pts, n)`
    FqPointsToMont = 0,
    /// `msm_count(scalars, counts, n, c, windows)`
    MsmCount,
    /// `msm_scatter(scalars, cursor, idx, n, c, windows)`
    MsmScatter,
    /// `msm_sum_affine(bases, idx, start, len, out, nseg)`
    MsmSumAffine,
    /// `msm_sum_xyzz(src, start, len, dst_index, dst, nseg)`
    MsmSumXyzz,
    /// `msm_bucket_reduce(buckets, out, windows, c, segs)`
    MsmBucketReduce,
    /// `msm_window_sum(segres, out, windows, segs)`
    MsmWindowSum,
    /// `fr_to_mont(a, n)`
    FrToMont,
    /// `fr_from_mont(a, n)`
    FrFromMont,
    /// `ntt_bit_reverse(src, dst, n, log_n)`
    NttBitReverse,
    /// `ntt_stage(a, tw, n, half, stride)`
    NttStage,
    /// `fr_scale(a, k, n)`
    FrScale,
    /// `fr_distribute_powers(a, g, n)`
    FrDistributePowers,
}

impl Kernel {
    /// Every kernel, for loading a compiled module.
    pub const ALL: [Kernel; 13] = [
        Kernel::FqPointsToMont,
        Kernel::MsmCount,
        Kernel::MsmScatter,
        Kernel::MsmSumAffine,
        Kernel::MsmSumXyzz,
        Kernel::MsmBucketReduce,
        Kernel::MsmWindowSum,
        Kernel::FrToMont,
        Kernel::FrFromMont,
        Kernel::NttBitReverse,
        Kernel::NttStage,
        Kernel::FrScale,
        Kernel::FrDistributePowers,
    ];

    /// The kernel's name in the CUDA source.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::FqPointsToMont => "fq_points_to_mont",
            Kernel::MsmCount => "msm_count",
            Kernel::MsmScatter => "msm_scatter",
            Kernel::MsmSumAffine => "msm_sum_affine",
            Kernel::MsmSumXyzz => "msm_sum_xyzz",
            Kernel::MsmBucketReduce => "msm_bucket_reduce",
            Kernel::MsmWindowSum => "msm_window_sum",
            Kernel::FrToMont => "fr_to_mont",
            Kernel::FrFromMont => "fr_from_mont",
            Kernel::NttBitReverse => "ntt_bit_reverse",
            Kernel::NttStage => "ntt_stage",
            Kernel::FrScale => "fr_scale",
            Kernel::FrDistributePowers => "fr_distribute_powers",
        }
    }
}

/// The CUDA C source of every kernel.
pub const KERNELS_CU: &str = include_str!("cuda/kernels.cu");

/// A device failure (driver, NVRTC, memory, a launch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceError(pub String);

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeviceError {}

/// A kernel argument: a device buffer or a 32-bit integer.
pub enum Arg<'a, B> {
    /// A buffer, passed as a device pointer.
    Buf(&'a B),
    /// An unsigned 32-bit value.
    U32(u32),
}

/// Device memory and kernel launches. Buffers are byte arrays, aligned for u64.
pub trait Device: Send + Sync + 'static {
    /// A device allocation.
    type Buf: Send + Sync;
    /// What the device is, for `zkinfer info` and logs.
    fn describe(&self) -> String;
    /// `bytes` zeroed bytes.
    fn alloc(&self, bytes: usize) -> Result<Self::Buf, DeviceError>;
    /// A copy of `data` on the device.
    fn upload(&self, data: &[u8]) -> Result<Self::Buf, DeviceError>;
    /// Copies the first `out.len()` bytes of `buf` into `out` (waits for the device).
    fn download(&self, buf: &Self::Buf, out: &mut [u8]) -> Result<(), DeviceError>;
    /// Runs `kernel` on `threads` threads (a 1-D grid).
    fn launch(&self, kernel: Kernel, threads: u32, args: &[Arg<'_, Self::Buf>]) -> Result<(), DeviceError>;
}

/// The bytes of a `u64` slice (little-endian hosts only: x86-64, aarch64).
pub fn u64_bytes(v: &[u64]) -> &[u8] {
    // SAFETY: u8 has alignment 1 and every byte of a u64 is initialised.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The bytes of a `u32` slice.
pub fn u32_bytes(v: &[u32]) -> &[u8] {
    // SAFETY: as for `u64_bytes`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The bytes of a mutable `u64` slice (any bytes are a valid u64).
pub fn u64_bytes_mut(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: u8 has alignment 1; every bit pattern is a valid u64.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The bytes of a mutable `u32` slice.
pub fn u32_bytes_mut(v: &mut [u32]) -> &mut [u8] {
    // SAFETY: as for `u64_bytes_mut`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

#[cfg(target_endian = "big")]
compile_error!("zkinfer-gpu lays out device data as little-endian words");

/// Threads per block for every launch.
pub const BLOCK: u32 = 128;

/// The CUDA kernels run on the CPU (compiled by the host C++ compiler at build
/// time). Slow; for tests of the kernels and of the orchestration.
#[cfg(zkinfer_gpu_emu)]
#[derive(Debug, Default)]
pub struct EmuDevice {
    lock: std::sync::Mutex<()>,
}

/// Memory of the [`EmuDevice`]: host memory the kernels write through raw pointers.
#[cfg(zkinfer_gpu_emu)]
pub struct EmuBuf {
    words: std::cell::UnsafeCell<Box<[u64]>>,
    bytes: usize,
}

// SAFETY: kernels write to an EmuBuf only inside `EmuDevice::launch`, which
// holds the device lock; reads happen in `download` under the same lock.
#[cfg(zkinfer_gpu_emu)]
unsafe impl Sync for EmuBuf {}
#[cfg(zkinfer_gpu_emu)]
unsafe impl Send for EmuBuf {}

#[cfg(zkinfer_gpu_emu)]
unsafe extern "C" {
    fn zkinfer_emu_launch(kernel: u32, threads: u32, block: u32, args: *const u64, nargs: u32) -> i32;
}

#[cfg(zkinfer_gpu_emu)]
impl EmuDevice {
    /// A new emulated device.
    pub fn new() -> Self {
        Self::default()
    }

    fn buf(bytes: usize) -> EmuBuf {
        EmuBuf { words: std::cell::UnsafeCell::new(vec![0u64; bytes.div_ceil(8)].into_boxed_slice()), bytes }
    }
}

#[cfg(zkinfer_gpu_emu)]
impl Device for EmuDevice {
    type Buf = EmuBuf;

    fn describe(&self) -> String {
        "kernel emulator (CUDA kernels on the CPU)".into()
    }

    fn alloc(&self, bytes: usize) -> Result<EmuBuf, DeviceError> {
        Ok(Self::buf(bytes))
    }

    fn upload(&self, data: &[u8]) -> Result<EmuBuf, DeviceError> {
        let b = Self::buf(data.len());
        // SAFETY: the buffer is new and not shared yet.
        let words = unsafe { &mut *b.words.get() };
        u64_bytes_mut(words)[..data.len()].copy_from_slice(data);
        Ok(b)
    }

    fn download(&self, buf: &EmuBuf, out: &mut [u8]) -> Result<(), DeviceError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if out.len() > buf.bytes {
            return Err(DeviceError(format!("download of {} bytes from a {}-byte buffer", out.len(), buf.bytes)));
        }
        // SAFETY: no kernel runs while the lock is held.
        let words = unsafe { &*buf.words.get() };
        out.copy_from_slice(&u64_bytes(words)[..out.len()]);
        Ok(())
    }

    fn launch(&self, kernel: Kernel, threads: u32, args: &[Arg<'_, EmuBuf>]) -> Result<(), DeviceError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let raw: Vec<u64> = args
            .iter()
            .map(|a| match a {
                // SAFETY: the pointer is used only during this launch, under the lock.
                Arg::Buf(b) => unsafe { (*b.words.get()).as_mut_ptr() as u64 },
                Arg::U32(v) => *v as u64,
            })
            .collect();
        // SAFETY: emu.cpp checks the kernel id and the argument count; the
        // orchestration in `accel` sizes every buffer for the launch.
        let rc = unsafe { zkinfer_emu_launch(kernel as u32, threads, BLOCK, raw.as_ptr(), raw.len() as u32) };
        if rc != 0 {
            return Err(DeviceError(format!("emulated launch of {} failed ({rc})", kernel.name())));
        }
        Ok(())
    }
}
