//! `zkinfer setup`: proving and verifying keys of a compiled model.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::srs::Srs;

use crate::commands::srs::INSECURE_WARNING;
use crate::progress::spinner;

/// Arguments of `zkinfer setup`.
#[derive(Args)]
pub struct SetupArgs {
    /// A directory written by `zkinfer compile`.
    dir: PathBuf,
    /// The SRS (from `zkinfer srs import` or `zkinfer srs dev`); a larger one is downsized.
    #[arg(long)]
    srs: PathBuf,
}

/// Runs `zkinfer setup`.
pub fn run(a: SetupArgs) -> Result<()> {
    let srs = Srs::read(&a.srs).context("[srs] reading the SRS")?;
    let bundle = Bundle::new(&a.dir);
    let pb = spinner("generating keys");
    let out = bundle.setup(&srs).context("[setup]")?;
    pb.finish_and_clear();
    if out.info.insecure_srs {
        eprintln!("{INSECURE_WARNING}");
    }
    println!("model id {}", out.info.model_id);
    println!(
        "  k {}, {} public instances, keygen {:.2} s, pk {} bytes, vk {} bytes",
        out.info.k, out.info.instances, out.keygen_secs, out.pk_bytes, out.vk_bytes
    );
    println!("  wrote {}/{{pk,vk,model_id,srs,setup.json}}", a.dir.display());
    Ok(())
}
