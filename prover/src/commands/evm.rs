//! `zkinfer evm`: export a model's EVM verifier, run a proof through it,
//! deploy it, and check a deployed one against the verifying key.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use zkinfer_circuits::bundle::{Bundle, files};
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_verifier::chain::{DEV_KEYS, RpcChain};
use zkinfer_verifier::evm::{self, EvmVerifier, MAX_RUNTIME_SIZE};
use zkinfer_verifier::market::Market;
use zkinfer_verifier::{Chain, VerifierError};

use crate::commands::srs::INSECURE_WARNING;
use crate::progress;
use zkinfer_circuits::encoding::to_hex;
use zkinfer_circuits::statement::InstanceLayout;

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
    /// A verifier over EIP-170's 24,576 bytes is split into a chain of contracts
    /// (`Halo2Verifier`, `Halo2VerifierPart1`, ...): verifier.bin then holds one
    /// line per part, entry first; deploy the last line first and append the
    /// ABI-encoded address of the next part to each other line's bytecode. Each
    /// part checks the next one's code hash (baked in), so the entry's code hash,
    /// printed here and in verifier.json, pins the whole verifier: it is what a
    /// requester passes to `JobMarket.postJob`.
    ///
    /// Calldata layout the verifier expects (no function selector): each public
    /// instance as a 32-byte big-endian word — the quantized inputs, then the
    /// quantized outputs, then the binding element — followed by the proof bytes.
    /// It returns nothing when the proof verifies and reverts otherwise.
    Export(ExportArgs),
    /// Deploy DIR's exported verifier in an embedded EVM (revm) and run a proof file
    /// through it: prints `valid` and the gas used, or `invalid: REASON` and exits 1.
    /// With --chain-rpc and --address, call a verifier already deployed there instead.
    Verify(VerifyArgs),
    /// Deploy DIR's exported verifier (all its parts) on a JSON-RPC chain; prints the
    /// address to call and to register. The deployer's private key (hex) is read from
    /// $ZKINFER_CHAIN_KEY or --key-file.
    Deploy(DeployArgs),
    /// Check that the verifier deployed at ADDRESS is exactly the one DIR's
    /// verifying key generates: regenerates it (as `evm export` does) and compares
    /// the code of every part, following each part's next-part address; with
    /// --market, also the model's registry entry (verifier, instance counts,
    /// circuit digest, a waiting update). Prints `ok` or `MISMATCH: REASON` (exit 1).
    Check(CheckArgs),
}

/// Arguments of `zkinfer evm check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The deployed verifier: the entry part (`Halo2Verifier`), the address registered.
    address: String,
    /// A directory after `zkinfer setup`.
    dir: PathBuf,
    /// The chain's JSON-RPC URL (read only: nothing is signed or sent).
    #[arg(long, value_name = "URL")]
    chain_rpc: String,
    /// Also check the model's entry in the registry of the JobMarket at this address.
    #[arg(long, value_name = "ADDRESS")]
    market: Option<String>,
}

/// Arguments of `zkinfer evm deploy`.
#[derive(Args)]
pub struct DeployArgs {
    /// A directory after `zkinfer evm export`.
    dir: PathBuf,
    /// The chain's JSON-RPC URL.
    #[arg(long, value_name = "URL")]
    chain_rpc: String,
    /// File holding the deployer's private key [default: $ZKINFER_CHAIN_KEY].
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
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
    /// Call the verifier deployed at --address on this JSON-RPC chain (an
    /// `eth_call`: nothing is sent, no key is needed).
    #[arg(long, value_name = "URL", requires = "address")]
    chain_rpc: Option<String>,
    /// The verifier's address (printed by `zkinfer evm deploy`).
    #[arg(long, value_name = "ADDRESS", requires = "chain_rpc")]
    address: Option<String>,
}

/// `DIR/verifier.json`.
#[derive(Serialize, Deserialize)]
pub struct VerifierInfo {
    /// Always `zkinfer-evm-verifier`.
    pub format: String,
    /// The model id (setup.json's).
    pub model_id: String,
    /// The circuit digest (setup.json's): what `ModelRegistry.register` takes.
    pub circuit_digest: String,
    /// `0x` + the entry's runtime code hash: the verifier's identity, to pin in
    /// `JobMarket.postJob` (it commits to every part).
    pub code_hash: String,
    /// Public instances: inputs + outputs + 1 binding.
    pub instances: usize,
    /// Quantized inputs.
    pub inputs: usize,
    /// Quantized outputs.
    pub outputs: usize,
    /// solc-js version.
    pub compiler: String,
    /// The contracts, entry first (one unless the verifier had to be split).
    pub parts: Vec<PartInfo>,
    /// Runtime size the verifier would have as one contract.
    pub unsplit_runtime_bytes: usize,
    /// The calldata layout, in words.
    pub calldata: String,
}

/// One contract of the verifier in `DIR/verifier.json`.
#[derive(Serialize, Deserialize)]
pub struct PartInfo {
    /// Contract name.
    pub name: String,
    /// Creation bytecode size in bytes (without the constructor argument).
    pub bytecode_bytes: usize,
    /// Runtime bytecode size in bytes (EIP-170 limit: 24,576).
    pub runtime_bytes: usize,
    /// Whether its constructor takes the next part's address.
    pub takes_next_address: bool,
    /// `0x` + keccak256 of its runtime code (`extcodehash` once deployed).
    pub code_hash: String,
}

/// Runs `zkinfer evm`; `Ok(false)` when a proof was rejected.
pub fn run(a: EvmArgs) -> Result<bool> {
    match a.command {
        EvmCommand::Export(a) => export(&a.dir).map(|_| true),
        EvmCommand::Verify(a) => verify(&a),
        EvmCommand::Deploy(a) => deploy(&a).map(|_| true),
        EvmCommand::Check(a) => check(&a),
    }
}

/// Writes the verifier files of `dir`.
pub fn export(dir: &Path) -> Result<VerifierInfo> {
    let v = Bundle::new(dir).load_verifier().context("[evm export] loading the model")?;
    if v.info.insecure_srs {
        eprintln!("{INSECURE_WARNING}");
    }
    let InstanceLayout { inputs, outputs } = InstanceLayout::of(&v.model);
    let sp = progress::spinner("generating and compiling the Solidity verifier (solc-js)");
    let built = evm::build_verifier(&v.srs.params, &v.vk, v.info.instances).context("[evm export]")?;
    sp.finish_and_clear();
    let info = VerifierInfo {
        format: "zkinfer-evm-verifier".into(),
        model_id: v.info.model_id.clone(),
        circuit_digest: v.info.circuit_digest.clone(),
        code_hash: to_hex(built.code_hash()),
        instances: v.info.instances,
        inputs,
        outputs,
        compiler: built.compiler.clone(),
        parts: built
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| PartInfo {
                name: p.name.clone(),
                bytecode_bytes: p.bytecode.len(),
                runtime_bytes: p.runtime.len(),
                takes_next_address: i + 1 < built.parts.len(),
                code_hash: to_hex(p.code_hash()),
            })
            .collect(),
        unsplit_runtime_bytes: built.unsplit_runtime,
        calldata: format!(
            "{} × 32-byte big-endian words (inputs[0..{inputs}] ‖ outputs[0..{outputs}] ‖ binding), then the proof bytes; no selector",
            v.info.instances
        ),
    };
    let write = |name: &str, bytes: &[u8]| {
        let p = Bundle::new(dir).file(name);
        std::fs::write(&p, bytes).with_context(|| format!("[evm export] writing {}", p.display()))
    };
    write(files::VERIFIER_SOL, built.solidity.as_bytes())?;
    let lines: String = built.parts.iter().map(|p| format!("{}\n", hex::encode(&p.bytecode))).collect();
    write(files::VERIFIER_BIN, lines.as_bytes())?;
    write(files::VERIFIER_JSON, format!("{}\n", serde_json::to_string_pretty(&info)?).as_bytes())?;
    println!(
        "wrote {0}/{3}, {0}/{4}, {0}/{5}: {1} public instances, {2}",
        dir.display(),
        info.instances,
        info.compiler,
        files::VERIFIER_SOL,
        files::VERIFIER_BIN,
        files::VERIFIER_JSON
    );
    println!("  code hash {} (pin it in JobMarket.postJob)", info.code_hash);
    if built.parts.len() == 1 {
        println!("  one contract, runtime {} B (EIP-170 limit {MAX_RUNTIME_SIZE} B)", built.unsplit_runtime);
    } else {
        println!(
            "  {} B of runtime as one contract would exceed EIP-170 ({MAX_RUNTIME_SIZE} B): split into {} contracts of {:?} B",
            built.unsplit_runtime,
            built.parts.len(),
            built.parts.iter().map(|p| p.runtime.len()).collect::<Vec<_>>()
        );
    }
    Ok(info)
}

/// The creation bytecode of each part in `dir/verifier.bin`, entry first.
fn read_parts(dir: &Path, stage: &str) -> Result<Vec<Vec<u8>>> {
    let bin = Bundle::new(dir).file(files::VERIFIER_BIN);
    let text = std::fs::read_to_string(&bin).with_context(|| {
        format!("[{stage}] reading {} (run `zkinfer evm export {}` first)", bin.display(), dir.display())
    })?;
    let mut parts = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let bytecode = zkinfer_circuits::encoding::hex_decode(line, "bytecode")
            .with_context(|| format!("[{stage}] {} line {}", bin.display(), i + 1))?;
        parts.push(bytecode);
    }
    if parts.is_empty() {
        anyhow::bail!("[{stage}] {} is empty", bin.display());
    }
    Ok(parts)
}

fn deploy(a: &DeployArgs) -> Result<()> {
    let parts = read_parts(&a.dir, "evm deploy")?;
    let key = match &a.key_file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("[evm deploy] reading {}", p.display()))?,
        None => std::env::var("ZKINFER_CHAIN_KEY")
            .context("[evm deploy] set ZKINFER_CHAIN_KEY to the deployer's private key (hex), or pass --key-file")?,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let chain = RpcChain::connect(&a.chain_rpc, &[key.trim().to_string()]).await.context("[evm deploy]")?;
        let me = chain.accounts()[0];
        let codes: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let sp = progress::spinner(&format!("deploying {} contract(s) on {}", codes.len(), chain.describe()));
        let d = evm::deploy_parts(&chain, me, &codes).await.context("[evm deploy]")?;
        sp.finish_and_clear();
        println!("verifier {}", d.address);
        println!("  {} contract(s) {:?}, {} gas in all, deployed by {me}", d.parts.len(), d.parts, d.gas);
        let code = chain.code(d.address).await.context("[evm deploy]")?;
        let hash = <sha3::Keccak256 as sha3::Digest>::digest(&code);
        println!("  code hash {} (what `evm export` printed: pin it in JobMarket.postJob)", to_hex(hash));
        Ok(())
    })
}

/// The verifier DIR's verifying key generates (what `evm export` writes).
fn regenerate(dir: &Path, stage: &str) -> Result<(zkinfer_circuits::bundle::Verifier, EvmVerifier)> {
    let v = Bundle::new(dir).load_verifier().with_context(|| format!("[{stage}] loading the model"))?;
    let sp = progress::spinner("regenerating the verifier from the verifying key (solc-js)");
    let built = evm::build_verifier(&v.srs.params, &v.vk, v.info.instances).with_context(|| format!("[{stage}]"))?;
    sp.finish_and_clear();
    Ok((v, built))
}

fn check(a: &CheckArgs) -> Result<bool> {
    let addr: Address = a.address.parse().with_context(|| format!("[evm check] `{}` is not an address", a.address))?;
    let market: Option<Address> = match &a.market {
        Some(m) => Some(m.parse().with_context(|| format!("[evm check] --market `{m}` is not an address"))?),
        None => None,
    };
    let (v, built) = regenerate(&a.dir, "evm check")?;
    let hex32 = |h: [u8; 32]| to_hex(h);
    let InstanceLayout { inputs, outputs } = InstanceLayout::of(&v.model);
    println!("model {} ({} parts generated, {})", v.info.model_id, built.parts.len(), built.compiler);
    println!(
        "  calldata: {} words (inputs[0..{inputs}] ‖ outputs[0..{outputs}] ‖ binding), then the proof; code hash {}",
        built.num_instances,
        hex32(built.code_hash())
    );
    // An export on disk that no longer matches what the key generates is worth saying.
    if let Ok(text) = std::fs::read_to_string(Bundle::new(&a.dir).file(files::VERIFIER_JSON)) {
        let on_disk: Option<String> = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|j| j["code_hash"].as_str().map(String::from));
        if on_disk.as_deref() != Some(hex32(built.code_hash()).as_str()) {
            println!(
                "  note: {}/verifier.json is stale (it names another code hash): run `zkinfer evm export` again",
                a.dir.display()
            );
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        // Only the sender of eth_calls: nothing is signed or sent.
        let chain = RpcChain::connect(&a.chain_rpc, &[DEV_KEYS[0].to_string()]).await.context("[evm check]")?;
        let report = evm::check_deployed(&chain, addr, &built).await.context("[evm check]")?;
        for (i, p) in report.parts.iter().enumerate() {
            let found = p.found_code_hash.map_or("no code".to_string(), hex32);
            let verdict = if p.matches() { "ok" } else { "DIFFERS" };
            println!("  part {i} {:<20} {} {verdict} (code hash {found})", p.name, p.address);
        }
        if let Some(problem) = &report.problem {
            println!("MISMATCH: {problem}");
            return Ok(false);
        }
        if let Some(m) = market {
            let market = Market::at(&chain, m).await.context("[evm check] the market")?;
            let id: B256 = v.info.model_id.parse().context("[evm check] setup.json model_id")?;
            let entry = match market.model(id).await {
                Ok(e) => e,
                Err(VerifierError::Reverted { reason, .. }) => {
                    println!(
                        "MISMATCH: the registry {} has no entry for the model ({reason})",
                        market.contracts.registry
                    );
                    return Ok(false);
                }
                Err(e) => return Err(e).context("[evm check] reading the registry"),
            };
            let digest: B256 = v.info.circuit_digest.parse().context("[evm check] setup.json circuit_digest")?;
            let mut problems = Vec::new();
            if entry.verifier != addr {
                let other = evm::check_deployed(&chain, entry.verifier, &built).await.context("[evm check]")?;
                if let Some(p) = other.problem {
                    problems.push(format!("the registry's verifier for the model is {}: {p}", entry.verifier));
                }
            }
            if (entry.numInputs as usize, entry.numOutputs as usize) != (inputs, outputs) {
                problems.push(format!(
                    "the registry says {} inputs and {} outputs, the model has {inputs} and {outputs}",
                    entry.numInputs, entry.numOutputs
                ));
            }
            if entry.circuitDigest != digest {
                problems
                    .push(format!("the registry's circuit digest is {}, setup.json's {digest}", entry.circuitDigest));
            }
            println!(
                "  registry {}: verifier {}, owner {}, {} inputs, {} outputs",
                market.contracts.registry, entry.verifier, entry.owner, entry.numInputs, entry.numOutputs
            );
            if entry.pendingEffectiveAt != 0 {
                let same = chain.code(entry.pendingVerifier).await? == built.parts[0].runtime;
                println!(
                    "  {}an update to verifier {} takes effect at unix time {}{}",
                    if same { "" } else { "WARNING: " },
                    entry.pendingVerifier,
                    entry.pendingEffectiveAt,
                    if same { " (same code)" } else { ": its code is NOT the one generated from the key" }
                );
            }
            if !problems.is_empty() {
                println!("MISMATCH: {}", problems.join("; "));
                return Ok(false);
            }
        }
        println!("ok: every part at {addr} is the code generated from the verifying key");
        Ok(true)
    })
}

fn verify(a: &VerifyArgs) -> Result<bool> {
    let (dir, proof) = (a.dir.as_path(), a.proof.as_path());
    let parts = match &a.chain_rpc {
        Some(_) => Vec::new(),
        None => read_parts(dir, "evm verify")?,
    };
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
        let (chain, addr, deployed) = match (&a.chain_rpc, &a.address) {
            (Some(url), Some(addr)) => {
                let addr: Address = addr.parse().with_context(|| format!("[evm verify] `{addr}` is not an address"))?;
                // Only the sender of an eth_call: nothing is signed or sent.
                let chain = RpcChain::connect(url, &[DEV_KEYS[0].to_string()]).await.context("[evm verify]")?;
                if chain.code(addr).await?.is_empty() {
                    anyhow::bail!("[evm verify] no contract at {addr} on {url}");
                }
                (chain, addr, None)
            }
            _ => {
                let chain = Chain::embedded();
                let me = chain.accounts()[0];
                let codes: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
                let d = evm::deploy_parts(&chain, me, &codes).await.context("[evm verify] deploying the verifier")?;
                (chain, d.address, Some(d))
            }
        };
        let me = chain.accounts()[0];
        match chain.call(me, addr, evm::encode_calldata(&st.instances, &st.proof)).await {
            Ok((_, gas)) => {
                println!("valid");
                let calldata = st.instances.len() * 32 + st.proof.len();
                match deployed {
                    Some(d) => println!(
                        "  verified by the EVM verifier in revm: {gas} gas (transaction total, {calldata} B calldata); deployment {} gas ({} contracts)",
                        d.gas,
                        d.parts.len()
                    ),
                    None => println!("  verified by the verifier at {addr} on {}: {gas} gas ({calldata} B calldata)", chain.describe()),
                }
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
