//! Compiles the CUDA kernels (src/cuda/kernels.cu) for the CPU, with
//! src/cuda/emu.cpp, into the kernel emulator the tests run them on. A machine
//! without a C++ compiler still builds the crate; the emulator tests then say
//! they were skipped.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(zkinfer_gpu_emu)");
    println!("cargo::rerun-if-changed=src/cuda/kernels.cu");
    println!("cargo::rerun-if-changed=src/cuda/emu.cpp");
    let built = cc::Build::new()
        .cpp(true)
        .std("c++17")
        .opt_level(2)
        .warnings(true)
        .file("src/cuda/emu.cpp")
        .try_compile("zkinfer_kernel_emu");
    match built {
        Ok(()) => println!("cargo::rustc-cfg=zkinfer_gpu_emu"),
        Err(e) => println!("cargo::warning=kernel emulator not built (no C++ compiler?): {e}"),
    }
}
