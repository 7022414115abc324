//! The EVM verifier of a model: Solidity generated from its verifying key by
//! snark-verifier's EVM loader, compiled with the solc-js pinned in
//! `contracts/package.json`, and the calldata it expects.
//!
//! # Calldata layout
//!
//! The verifier has no ABI (no function selector): it is one `fallback` that
//! reads
//!
//! ```text
//! offset 0            : instance[0]   (32-byte big-endian word, < r)
//! offset 32·i         : instance[i]   i < n (n = inputs + outputs + 1)
//! offset 32·n         : proof bytes   (Keccak EVM transcript, uncompressed G1 points)
//! ```
//!
//! where the instances are the quantized inputs, then the quantized outputs,
//! then the binding element (negative numbers as `r − |x|`). It returns empty
//! data when the proof verifies and reverts with empty data otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;

use halo2_proofs::plonk::VerifyingKey;
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::bn256::{Bn256, Fq, Fr, G1Affine};
use serde::Deserialize;
use snark_verifier::loader::evm::EvmLoader;
use snark_verifier::pcs::kzg::{Bdfg21, KzgAs, KzgDecidingKey};
use snark_verifier::system::halo2::transcript::evm::EvmTranscript;
use snark_verifier::system::halo2::{Config, compile};
use snark_verifier::verifier::SnarkVerifier;
use snark_verifier::verifier::plonk::PlonkVerifier;

use crate::encoding::{fr_to_be_bytes, hex_decode};
use crate::error::{Result, VerifierError};

/// EIP-170: the largest runtime bytecode a contract may have.
pub const MAX_RUNTIME_SIZE: usize = 24_576;

type Shplonk = PlonkVerifier<KzgAs<Bn256, Bdfg21>>;

/// A compiled EVM verifier: one contract, or a chain of parts when one would
/// exceed EIP-170 (see [`crate::split`]).
#[derive(Clone, Debug)]
pub struct EvmVerifier {
    /// The Solidity source (inline assembly), pragma relaxed to `^0.8.19`;
    /// all parts when split.
    pub solidity: String,
    /// The contracts, entry (`Halo2Verifier`) first. Deploy the last first:
    /// every part but the last takes the next part's address as its
    /// constructor argument.
    pub parts: Vec<Part>,
    /// The compiler that built it (`solc-js <version>`).
    pub compiler: String,
    /// Public instances the verifier reads (inputs + outputs + binding).
    pub num_instances: usize,
    /// Runtime size of the unsplit verifier (what one contract would need).
    pub unsplit_runtime: usize,
}

/// One contract of a verifier.
#[derive(Clone, Debug)]
pub struct Part {
    /// Contract name.
    pub name: String,
    /// Creation bytecode, without the constructor argument.
    pub bytecode: Vec<u8>,
    /// Runtime bytecode: exactly the code a deployment of it has (a part holds
    /// the next part's address in storage, not in its code).
    pub runtime: Vec<u8>,
}

impl Part {
    /// `keccak256` of the runtime code: what `extcodehash` of a deployment returns.
    pub fn code_hash(&self) -> [u8; 32] {
        keccak256(&self.runtime)
    }
}

fn keccak256(bytes: &[u8]) -> [u8; 32] {
    use sha3::Digest;
    sha3::Keccak256::digest(bytes).into()
}

/// A deployed verifier.
#[derive(Clone, Debug)]
pub struct Deployed {
    /// The entry contract: the address to call and to register.
    pub address: alloy::primitives::Address,
    /// Every part's address, entry first.
    pub parts: Vec<alloy::primitives::Address>,
    /// Gas of all deployments together.
    pub gas: u64,
}

impl EvmVerifier {
    /// The entry's runtime code hash: what a requester pins in
    /// `JobMarket.postJob`. It commits to every part (see [`crate::split`]).
    pub fn code_hash(&self) -> [u8; 32] {
        self.parts[0].code_hash()
    }

    /// Largest runtime among the parts.
    pub fn max_runtime(&self) -> usize {
        self.parts.iter().map(|p| p.runtime.len()).max().unwrap_or(0)
    }

    /// Deploys every part from `from` (last first) and returns the entry.
    pub async fn deploy(&self, chain: &crate::Chain, from: alloy::primitives::Address) -> Result<Deployed> {
        let codes: Vec<&[u8]> = self.parts.iter().map(|p| p.bytecode.as_slice()).collect();
        deploy_parts(chain, from, &codes).await
    }
}

/// Deploys a verifier given as creation bytecodes, entry first (the lines of
/// `verifier.bin`): the last first, each earlier one with the next one's
/// address as its constructor argument.
pub async fn deploy_parts(
    chain: &crate::Chain,
    from: alloy::primitives::Address,
    bytecodes: &[&[u8]],
) -> Result<Deployed> {
    use alloy::sol_types::SolValue;
    if bytecodes.is_empty() {
        return Err(VerifierError::Invalid("a verifier has at least one contract".into()));
    }
    let mut next: Option<alloy::primitives::Address> = None;
    let mut addrs = Vec::new();
    let mut gas = 0;
    for code in bytecodes.iter().rev() {
        let mut code = code.to_vec();
        if let Some(n) = next {
            code.extend(n.abi_encode());
        }
        let r = chain.deploy(from, code).await?;
        gas += r.gas_used;
        let a = r.contract.expect("deploy returns an address");
        addrs.push(a);
        next = Some(a);
    }
    addrs.reverse();
    Ok(Deployed { address: addrs[0], parts: addrs, gas })
}

/// One part of a deployed verifier, as [`check_deployed`] found it.
#[derive(Clone, Debug)]
pub struct PartCheck {
    /// Contract name.
    pub name: String,
    /// Where it is (the entry's address, or what the previous part holds).
    pub address: alloy::primitives::Address,
    /// The code hash `evm export` generates for it.
    pub expected_code_hash: [u8; 32],
    /// The code hash found there; `None` when the address has no code.
    pub found_code_hash: Option<[u8; 32]>,
}

impl PartCheck {
    /// Whether the deployed code is exactly the generated one.
    pub fn matches(&self) -> bool {
        self.found_code_hash == Some(self.expected_code_hash)
    }
}

/// What [`check_deployed`] found: every part it could reach, entry first.
#[derive(Clone, Debug)]
pub struct DeployedCheck {
    /// The parts followed, entry first; it stops at the first that differs.
    pub parts: Vec<PartCheck>,
    /// Number of parts the generated verifier has.
    pub expected_parts: usize,
    /// Why the check failed; `None` when every part matches.
    pub problem: Option<String>,
}

impl DeployedCheck {
    /// Whether every part is deployed with exactly the generated code.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Compares the verifier deployed at `address` with `expected` (what `evm
/// export` generates from the verifying key), part by part: the code at
/// `address` must be the entry's runtime, and each part's next-part address
/// (storage slot 0) must hold the next part's runtime. A mismatch is reported
/// in the result, not as an error; errors are for a chain that fails.
pub async fn check_deployed(
    chain: &crate::Chain,
    address: alloy::primitives::Address,
    expected: &EvmVerifier,
) -> Result<DeployedCheck> {
    let n = expected.parts.len();
    let mut out = DeployedCheck { parts: Vec::new(), expected_parts: n, problem: None };
    let mut at = address;
    for (i, part) in expected.parts.iter().enumerate() {
        let code = chain.code(at).await?;
        let found = if code.is_empty() { None } else { Some(keccak256(&code)) };
        out.parts.push(PartCheck {
            name: part.name.clone(),
            address: at,
            expected_code_hash: part.code_hash(),
            found_code_hash: found,
        });
        let role =
            if i == 0 { "the verifier".to_string() } else { format!("part {i} ({}) of the verifier", part.name) };
        match found {
            None => {
                out.problem = Some(format!("{role} at {at} has no code"));
                return Ok(out);
            }
            Some(h) if h != part.code_hash() => {
                out.problem = Some(format!(
                    "{role} at {at} has other code than the one generated from the verifying key \
                     (code hash {}, expected {}; {} B, expected {} B)",
                    crate::encoding::to_hex(h),
                    crate::encoding::to_hex(part.code_hash()),
                    code.len(),
                    part.runtime.len()
                ));
                return Ok(out);
            }
            Some(_) => {}
        }
        if i + 1 < n {
            let word = chain.storage(at, alloy::primitives::U256::ZERO).await?.to_be_bytes::<32>();
            if word[..12].iter().any(|&b| b != 0) {
                out.problem = Some(format!(
                    "{role} at {at}: its next-part slot holds {}, not an address",
                    crate::encoding::to_hex(word)
                ));
                return Ok(out);
            }
            at = alloy::primitives::Address::from_slice(&word[12..]);
        }
    }
    Ok(out)
}

/// Runtime size each part of a split verifier aims at (EIP-170 leaves 24,576).
const PART_TARGET: usize = 20_000;

/// Generates the Solidity verifier of `vk` for `num_instances` public instances.
/// `params` may be larger than the key's k.
pub fn generate_solidity(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
) -> Result<String> {
    let params = zkinfer_circuits::prove::params_for(params, vk.get_domain().k())?;
    let params = params.as_ref();
    // snark-verifier asserts on malformed inputs; turn a panic into an error.
    let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let protocol = compile(params, vk, Config::kzg().with_num_instance(vec![num_instances]));
        let dk: KzgDecidingKey<Bn256> = (params.get_g()[0], params.g2(), params.s_g2()).into();
        let loader = EvmLoader::new::<Fq, Fr>();
        let protocol = protocol.loaded(&loader);
        let mut transcript = EvmTranscript::<_, Rc<EvmLoader>, _, _>::new(&loader);
        let instances = transcript.load_instances(vec![num_instances]);
        let proof = Shplonk::read_proof(&dk, &protocol, &instances, &mut transcript).map_err(|e| format!("{e:?}"))?;
        Shplonk::verify(&dk, &protocol, &instances, &proof).map_err(|e| format!("{e:?}"))?;
        Ok::<_, String>(loader.solidity_code())
    }))
    .map_err(|p| VerifierError::Generate(panic_message(&p)))?
    .map_err(VerifierError::Generate)?;
    // The generator pins `pragma solidity 0.8.19;` exactly; the pinned solc-js is newer.
    Ok(code.replacen("pragma solidity 0.8.19;", "pragma solidity ^0.8.19;", 1))
}

/// Generates and compiles the verifier of `vk` (see [`generate_solidity`]);
/// splits it into parts of at most [`MAX_RUNTIME_SIZE`] bytes when it is larger.
pub fn build_verifier(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
) -> Result<EvmVerifier> {
    build_verifier_with(params, vk, num_instances, 1)
}

/// [`build_verifier`] with at least `min_parts` parts (tests use it to make
/// chains longer than the size alone needs).
pub fn build_verifier_with(
    params: &ParamsKZG<Bn256>,
    vk: &VerifyingKey<G1Affine>,
    num_instances: usize,
    min_parts: usize,
) -> Result<EvmVerifier> {
    let solidity = generate_solidity(params, vk, num_instances)?;
    let single = compile_solidity(&solidity)?;
    let unsplit_runtime = single.parts.iter().map(|p| p.runtime.len()).sum();
    if unsplit_runtime <= MAX_RUNTIME_SIZE && min_parts <= 1 {
        return Ok(EvmVerifier {
            solidity,
            parts: single.parts,
            compiler: single.compiler,
            num_instances,
            unsplit_runtime,
        });
    }
    let mut n = unsplit_runtime.div_ceil(PART_TARGET).max(min_parts).max(2);
    loop {
        if let Some((source, parts, compiler)) = compile_split(&solidity, n)? {
            return Ok(EvmVerifier { solidity: source, parts, compiler, num_instances, unsplit_runtime });
        }
        n += 1;
        if n > 16 {
            return Err(VerifierError::Generate(format!(
                "the verifier ({unsplit_runtime} B of runtime) does not fit EIP-170 in 16 parts"
            )));
        }
    }
}

/// Splits `solidity` into `n` parts and compiles them from the last to the
/// first, each with the code hash of the one after it; `None` when a part
/// exceeds EIP-170. Returns the combined source, the parts (entry first) and
/// the compiler.
fn compile_split(solidity: &str, n: usize) -> Result<Option<(String, Vec<Part>, String)>> {
    let split = crate::split::plan(solidity, n)?;
    let mut parts = Vec::with_capacity(n);
    let mut contracts = Vec::with_capacity(n);
    let mut compiler = String::new();
    let mut next_hash = None;
    for i in (0..n).rev() {
        let contract = split.part_contract(i, next_hash)?;
        let compiled = compile_solidity(&format!("{}{contract}", split.preamble()))?;
        let name = crate::split::part_name(i);
        let part = compiled.parts.into_iter().find(|p| p.name == name).ok_or_else(|| {
            VerifierError::Generate(format!("solc-js returned no contract {name} for the split verifier"))
        })?;
        if part.runtime.len() > MAX_RUNTIME_SIZE {
            return Ok(None);
        }
        next_hash = Some(part.code_hash());
        compiler = compiled.compiler;
        parts.push(part);
        contracts.push(contract);
    }
    parts.reverse();
    contracts.reverse();
    Ok(Some((split.combined_source(&contracts), parts, compiler)))
}

/// Output of solc-js.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Every contract of the source.
    pub parts: Vec<Part>,
    /// `solc-js <version>`.
    pub compiler: String,
}

/// Compiles a Solidity source with the pinned solc-js
/// (`node contracts/compile.cjs --verifier`: optimizer off, no metadata
/// appended, so a contract's bytecode depends on its own source only),
/// installing the npm packages of `contracts/` first if they are missing.
pub fn compile_solidity(source: &str) -> Result<Compiled> {
    let dir = contracts_dir()?;
    ensure_npm_packages(&dir)?;
    let mut child = Command::new("node")
        .arg("compile.cjs")
        .arg("--verifier")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            VerifierError::Tool(format!("cannot run `node` (Node.js 18 or newer is needed for solc-js): {e}"))
        })?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(source.as_bytes())
            .map_err(|e| VerifierError::Tool(format!("writing the source to solc-js: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| VerifierError::Tool(format!("solc-js: {e}")))?;
    if !out.status.success() {
        return Err(VerifierError::Tool(format!(
            "solc-js failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Contract {
        bytecode: String,
        deployed_bytecode: String,
    }
    #[derive(Deserialize)]
    struct Out {
        compiler: String,
        contracts: std::collections::BTreeMap<String, Contract>,
    }
    let parsed: Out = serde_json::from_slice(&out.stdout)
        .map_err(|e| VerifierError::Tool(format!("unexpected solc-js output: {e}")))?;
    let mut parts = Vec::new();
    for (name, c) in parsed.contracts {
        parts.push(Part {
            name,
            bytecode: hex_decode(&c.bytecode, "bytecode")?,
            runtime: hex_decode(&c.deployed_bytecode, "runtime bytecode")?,
        });
    }
    Ok(Compiled { parts, compiler: parsed.compiler })
}

/// The calldata of the verifier: each instance as a 32-byte big-endian word, then the proof.
pub fn encode_calldata(instances: &[Fr], proof: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(instances.len() * 32 + proof.len());
    for x in instances {
        out.extend_from_slice(&fr_to_be_bytes(x));
    }
    out.extend_from_slice(proof);
    out
}

/// The `contracts/` directory: `$ZKINFER_CONTRACTS_DIR`, else the one in this
/// source tree.
pub fn contracts_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("ZKINFER_CONTRACTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("contracts"),
    };
    if !dir.join("compile.cjs").is_file() {
        return Err(VerifierError::Tool(format!(
            "{} has no compile.cjs: set ZKINFER_CONTRACTS_DIR to zkinfer's contracts/ directory",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Runs `npm ci` in `dir` when its pinned packages are not installed yet.
pub fn ensure_npm_packages(dir: &Path) -> Result<()> {
    if dir.join("node_modules").join("solc").join("package.json").is_file() {
        return Ok(());
    }
    eprintln!("installing the pinned solc-js and OpenZeppelin in {} (npm ci, one time) ...", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| VerifierError::Tool(format!("cannot run `npm` (Node.js 18 or newer is needed): {e}")))?;
    if !status.success() {
        return Err(VerifierError::Tool(format!("`npm ci` in {} failed ({status})", dir.display())));
    }
    Ok(())
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "snark-verifier panicked".into())
}
