//! `zkinfer prove`: run a model on an input and prove the output.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::encoding::{binding_for, fr_from_hex, fr_from_int, hex_array};
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_quantize::Dataset;

use crate::commands::srs::INSECURE_WARNING;
use crate::progress::spinner;

/// Arguments of `zkinfer prove`.
#[derive(Args)]
pub struct ProveArgs {
    /// A directory after `zkinfer setup`.
    dir: PathBuf,
    /// The input, EZKL JSON: {"input_data": [[...]]} (floats, row-major; one list per model input).
    #[arg(long)]
    input: PathBuf,
    /// Which sample of the input file to prove.
    #[arg(long, default_value_t = 0)]
    row: usize,
    /// The binding element (hex field element below the BN254 scalar modulus). Default 0.
    #[arg(long, conflicts_with_all = ["job_id", "prover"])]
    binding: Option<String>,
    /// Compute the binding as keccak256(job id ‖ prover address) mod r: the job id (32-byte hex).
    #[arg(long, requires = "prover")]
    job_id: Option<String>,
    /// The prover's address (20-byte hex), with --job-id.
    #[arg(long, requires = "job_id")]
    prover: Option<String>,
    /// Output proof file.
    #[arg(short, long)]
    out: PathBuf,
}

/// Runs `zkinfer prove`.
pub fn run(a: ProveArgs) -> Result<()> {
    let t0 = Instant::now();
    let binding = match (&a.binding, &a.job_id, &a.prover) {
        (Some(b), _, _) => fr_from_hex(b).context("--binding")?,
        (None, Some(job), Some(prover)) => binding_for(&hex_array(job, "--job-id")?, &hex_array(prover, "--prover")?),
        _ => fr_from_int(0),
    };
    let bundle = Bundle::new(&a.dir);
    let pb = spinner("loading keys");
    let prover = bundle.load_prover().context("[prove] loading the model")?;
    pb.finish_and_clear();
    let v = &prover.verifier;
    if v.info.insecure_srs {
        eprintln!("{INSECURE_WARNING}");
    }
    let data = Dataset::read(&a.input).context("[prove] reading the input")?;
    let samples = data.samples(&v.model.input_specs()).context("[prove] input")?;
    let Some(row) = samples.get(a.row) else {
        bail!("[prove] {} has {} sample(s); --row {} does not exist", a.input.display(), samples.len(), a.row);
    };
    let q = v.model.quantize_input(row).context("[prove] input")?;
    if q.clamped > 0 {
        eprintln!("note: {} input value(s) were outside the calibrated range and were clamped", q.clamped);
    }
    let pb = spinner("proving");
    let proved = prover.prove(&q.values, binding).context("[prove]")?;
    pb.finish_and_clear();
    let total_ms = t0.elapsed().as_secs_f64() * 1e3;
    let file =
        ProofFile::new(&v.model, &v.model_id, v.info.k, v.info.insecure_srs, q.values, &proved, binding, total_ms);
    file.write(&a.out).context("[prove] writing the proof")?;
    println!("proved {} -> {}", a.dir.display(), a.out.display());
    println!("  model id   {}", file.model_id);
    println!("  prediction {} (output {:?})", file.prediction, file.output_float);
    println!(
        "  proof      {} bytes, {} instances; witness {:.0} ms, prove {:.0} ms, total {:.0} ms",
        proved.proof.len(),
        file.instances.len(),
        file.timings_ms.witness,
        file.timings_ms.prove,
        total_ms
    );
    Ok(())
}
