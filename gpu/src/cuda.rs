//! The CUDA device (feature `cuda`): cudarc with dynamic loading, so the crate
//! builds without a CUDA toolkit; the kernels of `src/cuda/kernels.cu` are
//! compiled at run time by NVRTC for the device's compute capability.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};

use crate::device::{Arg, BLOCK, Device, DeviceError, KERNELS_CU, Kernel};

/// An NVIDIA GPU with the zkinfer kernels loaded.
pub struct CudaDevice {
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    description: String,
}

fn err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> DeviceError + '_ {
    move |e| DeviceError(format!("{what}: {e:?}"))
}

impl CudaDevice {
    /// Opens device 0 and compiles the kernels, or says why not: no driver
    /// library, no NVRTC library, no device, or a compile error. Never panics
    /// (cudarc panics when a library is missing; that is checked first, and
    /// any other panic is caught).
    pub fn open() -> Result<CudaDevice, String> {
        // SAFETY: only tries to dlopen the driver library.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err("no CUDA driver library (libcuda) could be loaded".into());
        }
        // SAFETY: only tries to dlopen the NVRTC library.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err("the CUDA driver is present but no NVRTC library (libnvrtc) could be loaded".into());
        }
        match std::panic::catch_unwind(Self::open_inner) {
            Ok(r) => r,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(format!("CUDA initialisation panicked: {msg}"))
            }
        }
    }

    fn open_inner() -> Result<CudaDevice, String> {
        let count = CudaContext::device_count().map_err(|e| format!("cuDeviceGetCount: {e:?}"))?;
        if count < 1 {
            return Err("the CUDA driver reports no device".into());
        }
        let ctx = CudaContext::new(0).map_err(|e| format!("opening CUDA device 0: {e:?}"))?;
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        let (major, minor) = ctx.compute_capability().map_err(|e| format!("compute capability: {e:?}"))?;
        let mem = ctx.total_mem().unwrap_or(0);
        let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
        let ptx = compile_kernels(arch)?;
        let module = ctx.load_module(ptx).map_err(|e| format!("loading the kernels: {e:?}"))?;
        let mut functions = HashMap::new();
        for k in Kernel::ALL {
            let f = module.load_function(k.name()).map_err(|e| format!("kernel {}: {e:?}", k.name()))?;
            functions.insert(k.name(), f);
        }
        let description = format!(
            "{name} (compute capability {major}.{minor}, {:.0} GiB, CUDA device 0 of {count})",
            mem as f64 / (1u64 << 30) as f64
        );
        Ok(CudaDevice { stream: ctx.default_stream(), functions, description })
    }
}

/// The kernels compiled by NVRTC to PTX for `arch` (e.g. `compute_90`). Needs
/// only the NVRTC library, not a device.
pub fn compile_kernels(arch: &'static str) -> Result<cudarc::nvrtc::Ptx, String> {
    // SAFETY: only tries to dlopen the NVRTC library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err("no NVRTC library (libnvrtc) could be loaded".into());
    }
    let opts = cudarc::nvrtc::CompileOptions { arch: Some(arch), ..Default::default() };
    cudarc::nvrtc::compile_ptx_with_opts(KERNELS_CU, opts)
        .map_err(|e| format!("NVRTC could not compile the kernels for {arch}: {e:?}"))
}

impl Device for CudaDevice {
    type Buf = CudaSlice<u8>;

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn alloc(&self, bytes: usize) -> Result<CudaSlice<u8>, DeviceError> {
        self.stream.alloc_zeros::<u8>(bytes.max(8)).map_err(err("cuMemAlloc"))
    }

    fn upload(&self, data: &[u8]) -> Result<CudaSlice<u8>, DeviceError> {
        if data.is_empty() {
            return self.alloc(8);
        }
        self.stream.clone_htod(data).map_err(err("copy to the device"))
    }

    fn download(&self, buf: &CudaSlice<u8>, out: &mut [u8]) -> Result<(), DeviceError> {
        if out.len() > buf.len() {
            return Err(DeviceError(format!("download of {} bytes from a {}-byte buffer", out.len(), buf.len())));
        }
        if out.is_empty() {
            return Ok(());
        }
        let view = buf.slice(0..out.len());
        self.stream.memcpy_dtoh(&view, out).map_err(err("copy from the device"))?;
        self.stream.synchronize().map_err(err("synchronize"))
    }

    fn launch(&self, kernel: Kernel, threads: u32, args: &[Arg<'_, CudaSlice<u8>>]) -> Result<(), DeviceError> {
        if threads == 0 {
            return Ok(());
        }
        let f = self
            .functions
            .get(kernel.name())
            .ok_or_else(|| DeviceError(format!("kernel {} not loaded", kernel.name())))?;
        let values: Vec<u32> = args.iter().map(|a| if let Arg::U32(v) = a { *v } else { 0 }).collect();
        let mut b = self.stream.launch_builder(f);
        for (a, v) in args.iter().zip(&values) {
            match a {
                Arg::Buf(buf) => {
                    b.arg(*buf);
                }
                Arg::U32(_) => {
                    b.arg(v);
                }
            }
        }
        let cfg =
            LaunchConfig { grid_dim: (threads.div_ceil(BLOCK), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
        // SAFETY: the argument lists match the kernels' signatures (see
        // `Kernel`); `accel` sizes every buffer for the thread count it launches.
        unsafe { b.launch(cfg) }.map(|_| ()).map_err(|e| DeviceError(format!("launch of {}: {e:?}", kernel.name())))
    }
}
