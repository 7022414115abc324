//! `zkinfer evm`: export a model's EVM verifier, run a proof through it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_verifier::evm::{self, MAX_RUNTIME_SIZE};
use zkinfer_verifier::{Chain, VerifierError};

use crate::commands::srs::INSECURE_WARNING;
use crate::progress;

/// Arguments of `zkinfer evm`.
#[derive(Args)]
pub struct EvmArgs {
    #[command(subcommand)]
    command: EvmCommand,
}

#[derive(Subcommand)]
enum EvmCommand {
    /// Generate the Solidity verifier of a set-up DIR and compile it with the pinned
    /// solc-js: writes DIR/verifier.sol, DIR/verifier.bin (creation bytecode, hex)
    /// and DIR/verifier.json (sizes, compiler, calldata layout).
    ///
    /// Calldata layout the verifier expects (no function selector): each public
    /// instance as a 32-byte big-endian word — the quantized inputs, then the
    /// quantized outputs, then the binding element — followed by the proof bytes.
    /// It returns nothing when the proof verifies and reverts otherwise.
    Export(ExportArgs),
    /// Deploy DIR's exported verifier in an embedded EVM (revm) and run a proof file
    /// through it: prints `valid` and the gas used, or `invalid: REASON` and exits 1.
    Verify(VerifyArgs),
}

/// Arguments of `zkinfer evm export`.
#[derive(Args)]
pub struct ExportArgs {
    /// A directory after `zkinfer setup`.
    dir: PathBuf,
}

/// Arguments of `zkinfer evm verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// A directory after `zkinfer setup` and `zkinfer evm export`.
    dir: PathBuf,
    /// The proof file written by `zkinfer prove` or `zkinfer submit`.
    proof: PathBuf,
}

/// `DIR/verifier.json`.
#[derive(Serialize, Deserialize)]
pub struct VerifierInfo {
    /// Always `zkinfer-evm-verifier`.
    pub format: String,
    /// The model id (`0x` + keccak256 of the verifying key).
    pub model_id: String,
    /// Public instances: inputs + outputs + 1 binding.
    pub instances: usize,
    /// Quantized inputs.
    pub inputs: usize,
    /// Quantized outputs.
    pub outputs: usize,
    /// solc-js version.
    pub compiler: String,
    /// Creation bytecode size in bytes.
    pub bytecode_bytes: usize,
    /// Runtime bytecode size in bytes (EIP-170 limit: 24,576).
    pub runtime_bytes: usize,
    /// `0x` + keccak256 of the runtime bytecode (the `extcodehash` once deployed).
    pub runtime_codehash: String,
    /// The calldata layout, in words.
    pub calldata: String,
}

/// Runs `zkinfer evm`; `Ok(false)` when a proof was rejected.
pub fn run(a: EvmArgs) -> Result<bool> {
    match a.command {
        EvmCommand::Export(a) => export(&a.dir).map(|_| true),
        EvmCommand::Verify(a) => verify(&a.dir, &a.proof),
    }
}

/// Writes the verifier files of `dir`.
pub fn export(dir: &Path) -> Result<VerifierInfo> {
    let v = Bundle::new(dir).load_verifier().context("[evm export] loading the model")?;
    if v.info.insecure_srs {
        eprintln!("{INSECURE_WARNING}");
    }
    let (inputs, outputs) = (v.model.input_tensor().numel(), v.model.output_tensor().numel());
    let sp = progress::spinner("generating and compiling the Solidity verifier (solc-js)");
    let built = evm::build_verifier(&v.srs.params, &v.vk, v.info.instances).context("[evm export]")?;
    sp.finish_and_clear();
    let info = VerifierInfo {
        format: "zkinfer-evm-verifier".into(),
        model_id: v.info.model_id.clone(),
        instances: v.info.instances,
        inputs,
        outputs,
        compiler: built.compiler.clone(),
        bytecode_bytes: built.bytecode.len(),
        runtime_bytes: built.runtime.len(),
        runtime_codehash: format!("0x{}", hex::encode(Keccak256::digest(&built.runtime))),
        calldata: format!(
            "{} × 32-byte big-endian words (inputs[0..{inputs}] ‖ outputs[0..{outputs}] ‖ binding), then the proof bytes; no selector",
            v.info.instances
        ),
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("[evm export] writing {}", p.display()))
    };
    write("verifier.sol", built.solidity.as_bytes())?;
    write("verifier.bin", format!("{}\n", hex::encode(&built.bytecode)).as_bytes())?;
    write("verifier.json", format!("{}\n", serde_json::to_string_pretty(&info)?).as_bytes())?;
    println!(
        "wrote {0}/verifier.sol, {0}/verifier.bin, {0}/verifier.json: {1} public instances, runtime {2} B (limit {MAX_RUNTIME_SIZE}), {3}",
        dir.display(),
        info.instances,
        info.runtime_bytes,
        info.compiler
    );
    if built.runtime.len() > MAX_RUNTIME_SIZE {
        eprintln!(
            "WARNING: the verifier's runtime is {} bytes, over the EIP-170 limit of {MAX_RUNTIME_SIZE}: chains that \
             enforce it (Ethereum mainnet and most L2s) refuse to deploy it; development chains (the embedded one, \
             anvil --disable-code-size-limit) accept it. The model has {} public instances (~160 bytes of verifier \
             code each) and {} fixed + advice columns.",
            built.runtime.len(),
            info.instances,
            v.vk.cs().num_fixed_columns() + v.vk.cs().num_advice_columns()
        );
    }
    Ok(info)
}

fn verify(dir: &Path, proof: &Path) -> Result<bool> {
    let bin = dir.join("verifier.bin");
    let text = std::fs::read_to_string(&bin).with_context(|| {
        format!("[evm verify] reading {} (run `zkinfer evm export {}` first)", bin.display(), dir.display())
    })?;
    let bytecode = evm::decode_hex(&text).with_context(|| format!("[evm verify] {}", bin.display()))?;
    let v = Bundle::new(dir).load_verifier().context("[evm verify] loading the model")?;
    let file = match ProofFile::read(proof) {
        Ok(f) => f,
        Err(e) => {
            println!("invalid: {e}");
            return Ok(false);
        }
    };
    let st = match file.check(&v.model, &v.model_id) {
        Ok(st) => st,
        Err(e) => {
            println!("invalid: {e}");
            return Ok(false);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let chain = Chain::embedded();
        let me = chain.accounts()[0];
        let deployed = chain.deploy(me, bytecode).await.context("[evm verify] deploying the verifier")?;
        let addr = deployed.contract.expect("deploy returns an address");
        match chain.call(me, addr, evm::encode_calldata(&st.instances, &st.proof)).await {
            Ok((_, gas)) => {
                println!("valid");
                println!(
                    "  verified by the EVM verifier in revm: {gas} gas (transaction total, {} B calldata); deployment {} gas",
                    st.instances.len() * 32 + st.proof.len(),
                    deployed.gas_used
                );
                Ok(true)
            }
            Err(VerifierError::Reverted { gas_used, .. }) => {
                println!("invalid: the EVM verifier reverted (after {gas_used} gas)");
                Ok(false)
            }
            Err(e) => Err(e).context("[evm verify]"),
        }
    })
}
