//! `zkinfer verify`: check a proof file against a model directory.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::proof_file::ProofFile;

use crate::commands::srs::INSECURE_WARNING;

/// Arguments of `zkinfer verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// A directory after `zkinfer setup` (only model.qm, vk, srs and setup.json are read).
    dir: PathBuf,
    /// The proof file written by `zkinfer prove` or `zkinfer submit`.
    proof: PathBuf,
}

/// The outcome: `Ok(true)` valid, `Ok(false)` rejected (reason printed), `Err` could not check.
pub fn run(a: VerifyArgs) -> Result<bool> {
    let v = Bundle::new(&a.dir).load_verifier().context("[verify] loading the model")?;
    let file = match ProofFile::read(&a.proof) {
        Ok(f) => f,
        Err(e) => {
            println!("invalid: {e}");
            return Ok(false);
        }
    };
    if v.info.insecure_srs {
        eprintln!("{INSECURE_WARNING}");
    }
    let t = Instant::now();
    match v.verify_file(&file) {
        Ok(()) => {
            println!("valid");
            println!(
                "  model {}, prediction {}, output {:?}, binding {}; verified in {:.1} ms",
                file.model_id,
                file.prediction,
                file.output_float,
                file.binding,
                t.elapsed().as_secs_f64() * 1e3
            );
            Ok(true)
        }
        Err(e) => {
            println!("invalid: {e}");
            Ok(false)
        }
    }
}
