//! `zkinfer demo`: the whole product on one machine, end to end, on the real
//! path — ONNX → fixed-point model → keys → EVM verifier → contracts on a chain
//! → a requester posts a job with a bounty → a prover node's chain watcher
//! proves and submits → the verifier contract accepts → the bounty is paid;
//! then forged submissions are rejected on chain.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use indicatif::ProgressBar;
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::cost::cost_report;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_circuits::prove::fr_from_hex;
use zkinfer_circuits::srs::Srs;
use zkinfer_proto::v1 as pb;
use zkinfer_quantize::report::argmax;
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, evaluate, import_onnx};
use zkinfer_verifier::VerifierError;
use zkinfer_verifier::chain::{Chain, RpcChain};
use zkinfer_verifier::evm::{build_verifier, encode_calldata};
use zkinfer_verifier::market::{JobMarket, Market, fr_to_u256};

use crate::ModelDir;
use crate::commands::client;
use crate::commands::srs::INSECURE_WARNING;
use crate::node::watcher::{ChainAccess, ChainConfig};
use crate::node::{self, NodeConfig};
use crate::progress;

const ONNX: &[u8] = include_bytes!("../../../fixtures/models/mlp_digits/model.onnx");
const CALIBRATION: &[u8] = include_bytes!("../../../fixtures/models/mlp_digits/calibration.json");
const TEST_SET: &[u8] = include_bytes!("../../../fixtures/models/mlp_digits/test.json");
const MODEL_NAME: &str = "mlp_digits";

/// One token in base units (the RewardToken has 18 decimals).
fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn fmt_tokens(x: U256) -> String {
    let one = tokens(1);
    let (whole, frac) = (x / one, x % one);
    if frac.is_zero() { format!("{whole} ZKR") } else { format!("{whole}.{:018} ZKR", frac) }
}

/// Arguments of `zkinfer demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's files (model, keys, verifier, node data) in DIR
    /// [default: a temporary directory, deleted at the end].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Row of the bundled digits test set (450 rows) to prove.
    #[arg(long, default_value_t = 0)]
    sample: usize,
    /// Run on this JSON-RPC chain (e.g. anvil) instead of the embedded EVM.
    #[arg(long, value_name = "URL", requires = "keys")]
    chain_rpc: Option<String>,
    /// Private key for --chain-rpc (hex; repeatable). The 1st deploys the
    /// contracts and funds the requester, the 2nd posts the job, the 3rd runs
    /// the prover node, the 4th plays the attacker; with fewer keys they are
    /// reused in turn.
    #[arg(long = "key", value_name = "KEY", requires = "chain_rpc")]
    keys: Vec<String>,
}

/// Numbered stages with a spinner each and a one-line result.
struct Stages {
    n: usize,
    total: usize,
    started: Instant,
    current: Option<(ProgressBar, Instant, String)>,
}

impl Stages {
    fn begin(&mut self, what: &str) {
        self.n += 1;
        let label = format!("[{}/{}] {what}", self.n, self.total);
        self.current = Some((progress::spinner(&label), Instant::now(), label));
    }

    fn set(&self, msg: &str) {
        if let Some((sp, _, label)) = &self.current {
            sp.set_message(format!("{label}: {msg}"));
        }
    }

    fn done(&mut self, detail: &str) {
        if let Some((sp, t, label)) = self.current.take() {
            sp.finish_and_clear();
            println!("{label} — {detail} ({:.1} s)", t.elapsed().as_secs_f64());
        }
    }
}

/// Runs `zkinfer demo`.
pub fn run(a: DemoArgs) -> Result<()> {
    let tmp;
    let dir = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(demo(&a, &dir))
}

async fn demo(a: &DemoArgs, dir: &Path) -> Result<()> {
    let mut st = Stages { n: 0, total: 9, started: Instant::now(), current: None };
    println!("zkinfer demo: verifiable inference end to end, in {}", dir.display());
    println!("{INSECURE_WARNING}");
    println!(
        "(the demo uses a dev SRS so that it needs no download; `zkinfer srs import` takes a real ceremony's .ptau)\n"
    );

    // The chain first, so that a wrong URL or key fails before any work.
    let chain = Arc::new(match &a.chain_rpc {
        Some(url) => RpcChain::connect(url, &a.keys).await.context("[demo] connecting to the chain")?,
        None => Chain::embedded(),
    });

    // 1. ONNX → fixed-point model.
    st.begin("compile the bundled ONNX model (digits MLP) to a fixed-point model");
    let src = dir.join("source");
    std::fs::create_dir_all(&src)?;
    let (onnx, calib_path) = (src.join("model.onnx"), src.join("calibration.json"));
    std::fs::write(&onnx, ONNX)?;
    std::fs::write(&calib_path, CALIBRATION)?;
    let float = import_onnx(&onnx, &ImportOptions::default()).context("[demo] importing the ONNX model")?;
    let calib = Dataset::read(&calib_path)?;
    let (qmodel, _) = calibrate_and_quantize(&float, &calib, &QuantConfig::default(), || {})?;
    let runner = float.runner(&[qmodel.output_tensor().name.clone()])?;
    let accuracy = evaluate(&qmodel, &runner, &calib, || {})?;
    let model_dir = ModelDir::new(dir.join("models").join(MODEL_NAME));
    std::fs::create_dir_all(&model_dir.root)?;
    std::fs::write(model_dir.onnx(), ONNX)?;
    qmodel.write(&model_dir.qmodel())?;
    let cost = cost_report(&qmodel)?;
    st.done(&format!(
        "{} ops, k = {} ({} rows), argmax agreement with the float model {:.1}% on {} calibration samples",
        qmodel.ops.len(),
        cost.k,
        cost.rows,
        100.0 * accuracy.argmax_agreement,
        accuracy.samples
    ));

    // 2. SRS and keys.
    st.begin("INSECURE dev SRS and keygen");
    let srs = Srs::dev(cost.k)?;
    let setup = Bundle::new(&model_dir.root).setup(&srs).context("[demo] setup")?;
    let verifier = Bundle::new(&model_dir.root).load_verifier()?;
    let model_id = B256::from(verifier.model_id);
    st.done(&format!("model id {}", setup.info.model_id));

    // 3. EVM verifier.
    st.begin("generate and compile the Solidity verifier (snark-verifier, solc-js)");
    let evm = build_verifier(&verifier.srs.params, &verifier.vk, verifier.info.instances)?;
    st.done(&format!(
        "{} contract(s), {} bytes of runtime code, {}",
        evm.parts.len(),
        evm.parts.iter().map(|p| p.runtime.len()).sum::<usize>(),
        evm.compiler
    ));

    // 4. Chain and contracts.
    st.begin("deploy RewardToken, ModelRegistry, JobMarket");
    let acc = chain.accounts();
    let role = |i: usize| acc[i % acc.len()];
    let (deployer, requester, prover, attacker) = (role(0), role(1), role(2), role(3));
    let (market, gas) = Market::deploy(&chain, deployer, tokens(1_000_000)).await?;
    st.done(&format!(
        "{}; market {} (deploy gas: token {}, registry {}, market {})",
        chain.describe(),
        market.contracts.market,
        gas.token,
        gas.registry,
        gas.market
    ));

    st.begin("deploy the verifier and register the model");
    let deployed = market.deploy_verifier(deployer, &evm).await?;
    let (n_in, n_out) = (qmodel.input_len(), qmodel.output_len());
    let digest: B256 = setup.info.circuit_digest.parse().context("[demo] setup.json circuit_digest")?;
    let (registered, _) = market
        .register_model(deployer, digest, n_in as u32, n_out as u32, deployed.address, "zkinfer-demo:mlp_digits")
        .await?;
    if registered != model_id {
        bail!("the registry computed model id {registered}, setup.json says {model_id}");
    }
    // What a requester pins: the code hash of the verifier generated from the key.
    let code_hash = B256::from(evm.code_hash());
    st.done(&format!("verifier at {} ({} gas)", deployed.address, deployed.gas));

    // 5. The prover node with its chain watcher.
    st.begin("start a prover node (gRPC on loopback) with its chain watcher");
    let start_block = chain.block_number().await?;
    let cfg = NodeConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("node"),
        models: Some(dir.join("models")),
        workers: 1,
        // A development chain mines a block per transaction: no confirmations to wait for.
        chain: Some(ChainConfig {
            start_block: Some(start_block + 1),
            poll_interval_ms: 200,
            confirmations: 0,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (incoming, addr) = node::bind(&cfg.listen)?;
    let (stop_node, node_stopped) = tokio::sync::oneshot::channel::<()>();
    let access = ChainAccess { chain: chain.clone(), prover, market: market.contracts.market };
    let server = tokio::spawn(node::serve_with_chain(
        cfg,
        incoming,
        async {
            let _ = node_stopped.await;
        },
        Some(access),
    ));
    let url = format!("http://{addr}");
    let mut c = connect_retrying(&url).await?;
    st.done(&format!("listening on {addr}, proving as {prover}"));

    // 6. A requester posts a job.
    st.begin("a requester posts a job with a 100 ZKR bounty");
    let test: Dataset = serde_json::from_slice(TEST_SET)?;
    let x = test
        .input_data
        .get(a.sample)
        .with_context(|| format!("--sample {}: the test set has {} rows", a.sample, test.input_data.len()))?
        .clone();
    let label = test.labels.as_ref().and_then(|l| l.get(a.sample)).copied();
    let float_prediction = runner.run(&x)?.first().map(|o| argmax(o.as_slice().unwrap_or(&[]))).unwrap_or(0);
    let q = qmodel.quantize_input(&x)?.values;
    let inputs: Vec<U256> = q.iter().map(|&v| fr_to_u256(&zkinfer_circuits::circuit::fe(v as i128))).collect();
    let bounty = tokens(100);
    market.transfer(deployer, requester, tokens(1000)).await?;
    market.approve(requester, tokens(1000)).await?;
    let balances = |who: [Address; 3]| {
        let market = &market;
        async move {
            let mut b = [U256::ZERO; 3];
            for (i, w) in who.iter().enumerate() {
                b[i] = market.balance(*w).await?;
            }
            Ok::<_, VerifierError>(b)
        }
    };
    let who = [requester, prover, market.contracts.market];
    let before = balances(who).await?;
    let deadline = chain.timestamp().await? + 3600;
    let (job_id, posted) = market.post_job(requester, model_id, code_hash, inputs.clone(), bounty, deadline).await?;
    let escrowed = balances(who).await?;
    st.done(&format!(
        "job {job_id:#x} ({} gas; digit sample {}, label {})",
        posted.gas_used,
        a.sample,
        label.map_or("?".into(), |l| l.to_string())
    ));

    // 7. The node proves, submits, gets paid.
    st.begin("the node picks the job up, proves it, submits the proof");
    let job = wait_settled(&mut c, job_id, &st).await;
    let job = match job {
        Ok(j) => j,
        Err(e) => {
            let _ = stop_node.send(());
            let _ = server.await;
            return Err(e);
        }
    };
    let after = balances(who).await?;
    let proof = c
        .get_proof(pb::GetProofRequest { id: job.id.clone() })
        .await
        .map_err(|e| anyhow!("GetProof: {}", e.message()))?
        .into_inner();
    let file =
        ProofFile::from_json(proof.proof_file_json.as_bytes()).map_err(|e| anyhow!("the node's proof file: {e}"))?;
    let proof_bytes = hex::decode(file.proof.trim_start_matches("0x"))?;
    let instances = file.instances.iter().map(|s| fr_from_hex(s)).collect::<std::result::Result<Vec<_>, _>>()?;
    let (_, verify_gas) = chain.call(attacker, deployed.address, encode_calldata(&instances, &proof_bytes)).await?;
    let on_chain = market.job(job_id).await?;
    if on_chain.status != JobMarket::Status::Settled || on_chain.prover != prover {
        bail!("the market did not settle job {job_id:#x} to the node: {:?}", on_chain.status);
    }
    st.done(&format!("settled in tx {} — the verifier contract accepted the proof", job.tx_hash));

    // 8. Forgeries are rejected on chain.
    st.begin("an attacker tries forged submissions on a new job");
    let _ = stop_node.send(());
    server.await?.context("[demo] node")?;
    let (job2, _) = market.post_job(requester, model_id, code_hash, inputs, bounty, deadline).await?;
    let mid = balances(who).await?;
    let outputs: Vec<U256> = instances[n_in..instances.len() - 1].iter().map(fr_to_u256).collect();
    let mut forged_outputs = outputs.clone();
    let wrong = (proof.prediction as usize + 1) % n_out;
    forged_outputs[wrong] = forged_outputs[proof.prediction as usize] + U256::from(1u64);
    let mut flipped = proof_bytes.clone();
    flipped[proof_bytes.len() / 2] ^= 1;
    let attempts = [
        ("replay the node's proof (bound to job 1 and the node's address)", outputs.clone(), proof_bytes.clone()),
        (&*format!("claim the digit is {wrong} (forged outputs)"), forged_outputs, proof_bytes.clone()),
        ("a proof with one flipped byte", outputs, flipped),
    ]
    .map(|(w, o, p)| (w.to_string(), o, p));
    let mut rejections = Vec::new();
    for (what, o, p) in attempts {
        match market.submit_proof(attacker, job2, o, p).await {
            Err(VerifierError::Reverted { reason, .. }) => rejections.push((what, reason)),
            Err(e) => return Err(e).context("[demo] submitting a forged proof"),
            Ok(_) => bail!("SECURITY FAILURE: the market accepted a forged submission ({what})"),
        }
    }
    if balances(who).await? != mid || market.job(job2).await?.status != JobMarket::Status::Open {
        bail!("SECURITY FAILURE: a rejected submission changed the market's state");
    }
    st.done("all rejected, no tokens moved, the job is still open");

    // Summary.
    let fmt_b = |b: [U256; 3]| b.map(fmt_tokens);
    let (b0, b1, b2) = (fmt_b(before), fmt_b(escrowed), fmt_b(after));
    println!();
    println!("model        {MODEL_NAME} (bundled ONNX), id {}", setup.info.model_id);
    println!(
        "prediction   proved {} | float model {} | label {}",
        proof.prediction,
        float_prediction,
        label.map_or("unknown".into(), |l| l.to_string())
    );
    println!(
        "proof        {} bytes, k = {}, proved in {:.0} ms by the node",
        proof_bytes.len(),
        file.k,
        proof.prove_ms
    );
    println!("verification {verify_gas} gas for a call to the verifier contract (21,000 base included)");
    println!("balances     before the job → posted (escrowed) → settled:");
    println!("  requester  {} → {} → {}", b0[0], b1[0], b2[0]);
    println!("  prover     {} → {} → {}  (paid {})", b0[1], b1[1], b2[1], fmt_tokens(after[1] - before[1]));
    println!("  market     {} → {} → {}", b0[2], b1[2], b2[2]);
    println!("forgeries    rejected on chain:");
    for (what, reason) in &rejections {
        println!("  ✗ {what}: {}", short_reason(reason));
    }
    println!("total        {:.1} s", st.started.elapsed().as_secs_f64());
    Ok(())
}

/// `JobMarket.InvalidProof(InvalidProof { jobId: .. })` → `JobMarket.InvalidProof`.
fn short_reason(r: &str) -> &str {
    r.split('(').next().unwrap_or(r)
}

async fn connect_retrying(url: &str) -> Result<client::Client> {
    let t = Instant::now();
    loop {
        match client::connect(url, None, None).await {
            Ok(c) => return Ok(c),
            Err(e) if t.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Follows the node's job for on-chain `job_id` until it is settled.
async fn wait_settled(c: &mut client::Client, job_id: U256, st: &Stages) -> Result<pb::Job> {
    let job_ref = format!("{job_id:#066x}");
    let t = Instant::now();
    let job = loop {
        let jobs = c
            .list_jobs(pb::ListJobsRequest { limit: 100, state: 0 })
            .await
            .map_err(|e| anyhow!("ListJobs: {}", e.message()))?
            .into_inner()
            .jobs;
        if let Some(j) = jobs.into_iter().find(|j| j.job_ref == job_ref) {
            break j;
        }
        if t.elapsed() > Duration::from_secs(120) {
            bail!("the node's chain watcher did not pick up job {job_ref} within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut stream = c
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .map_err(|e| anyhow!("{}", e.message()))?
        .into_inner();
    let mut last = job;
    while let Some(j) = stream.message().await.map_err(|e| anyhow!("WatchJob: {}", e.message()))? {
        st.set(client::state_name(j.state));
        last = j;
    }
    if last.state != pb::JobState::Settled as i32 {
        bail!("the node's job ended {}: {}", client::state_name(last.state), last.error);
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_amounts_print_in_whole_tokens() {
        assert_eq!(fmt_tokens(tokens(100)), "100 ZKR");
        assert_eq!(fmt_tokens(tokens(1) / U256::from(4u64)), "0.250000000000000000 ZKR");
        assert_eq!(short_reason("JobMarket.InvalidProof(InvalidProof { jobId: 1 })"), "JobMarket.InvalidProof");
    }
}
