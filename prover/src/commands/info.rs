//! `zkinfer info`: version, proving backend and why it was chosen.

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let sel = zkinfer_gpu::selected();
    let threads = rayon_threads();
    let cuda_built = cfg!(feature = "cuda");
    if args.json {
        let v = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backend": sel.kind,
            "reason": sel.reason,
            "cuda_feature": cuda_built,
            "cpu_threads": threads,
            "msm": sel.msm.as_ref().map(|m| m.name()).unwrap_or("halo2 (CPU)"),
            "ntt": "halo2 (CPU)",
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("zkinfer {}", env!("CARGO_PKG_VERSION"));
    println!("proving backend: {} ({})", sel.kind, sel.reason);
    match &sel.msm {
        Some(_) => println!(
            "  commitments (MSM ≥ {} points): GPU; smaller MSMs, FFTs and witness generation: CPU, {threads} threads",
            zkinfer_gpu::GPU_MIN_LEN
        ),
        None => println!("  commitments, FFTs and witness generation: CPU, {threads} threads"),
    }
    println!("  CUDA support compiled in: {}", if cuda_built { "yes (feature `cuda`)" } else { "no" });
    println!("  force the CPU with ZKINFER_BACKEND=cpu");
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
