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
use zkinfer_circuits::srs::Srs;
use zkinfer_circuits::statement::InstanceLayout;
use zkinfer_proto::v1 as pb;
use zkinfer_quantize::report::argmax;
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, evaluate, import_onnx};
use zkinfer_verifier::VerifierError;
use zkinfer_verifier::chain::{Chain, RpcChain};
use zkinfer_verifier::encoding::{fr_to_u256, int_to_u256};
use zkinfer_verifier::evm::{build_verifier, encode_calldata};
use zkinfer_verifier::market::{JobStatus, Market};

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
    let model = prepare_model(dir, &mut st)?;
    let (market, roles) = deploy_market(&chain, &model, &mut st).await?;
    let mut node = start_node(dir, &chain, &market, roles.prover, &mut st).await?;
    let job = post_job(a, &chain, &market, &model, &roles, &mut st).await?;
    let settled = match settle(&mut node.client, &chain, &market, &model, &roles, &job, &mut st).await {
        Ok(s) => s,
        Err(e) => {
            let _ = node.stop().await;
            return Err(e);
        }
    };
    st.begin("an attacker tries forged submissions on a new job");
    node.stop().await.context("[demo] node")?;
    let rejections = forgeries(&market, &model, &roles, &job, &settled).await?;
    st.done("all rejected, no tokens moved, the job is still open");
    print_summary(&model, &job, &settled, &rejections, &st);
    Ok(())
}

/// The demo's model after stages 1–3: compiled, with keys, its EVM verifier built.
struct DemoModel {
    qmodel: zkinfer_quantize::QModel,
    runner: zkinfer_quantize::FloatRunner,
    verifier: zkinfer_circuits::bundle::Verifier,
    setup: zkinfer_circuits::bundle::SetupOutcome,
    evm: zkinfer_verifier::evm::EvmVerifier,
    model_id: B256,
}

/// Stages 1–3: ONNX → fixed-point model, dev SRS and keys, the Solidity verifier.
fn prepare_model(dir: &Path, st: &mut Stages) -> Result<DemoModel> {
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
    let model_dir = Bundle::new(dir.join("models").join(MODEL_NAME));
    std::fs::create_dir_all(&model_dir.dir)?;
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

    st.begin("INSECURE dev SRS and keygen");
    let srs = Srs::dev(cost.k)?;
    let setup = model_dir.setup(&srs).context("[demo] setup")?;
    let verifier = model_dir.load_verifier()?;
    let model_id = B256::from(verifier.model_id);
    st.done(&format!("model id {}", setup.info.model_id));

    st.begin("generate and compile the Solidity verifier (snark-verifier, solc-js)");
    let evm = build_verifier(&verifier.srs.params, &verifier.vk, verifier.info.instances)?;
    st.done(&format!(
        "{} contract(s), {} bytes of runtime code, {}",
        evm.parts.len(),
        evm.parts.iter().map(|p| p.runtime.len()).sum::<usize>(),
        evm.compiler
    ));
    Ok(DemoModel { qmodel, runner, verifier, setup, evm, model_id })
}

/// The demo's accounts, and what requesters pin.
struct Roles {
    deployer: Address,
    requester: Address,
    prover: Address,
    attacker: Address,
    /// The deployed verifier.
    verifier: Address,
    /// Its code hash, generated from the key: what a requester pins in postJob.
    code_hash: B256,
}

/// Stages 4–5: the three contracts, the model's verifier and its registration.
async fn deploy_market<'c>(chain: &'c Chain, m: &DemoModel, st: &mut Stages) -> Result<(Market<'c>, Roles)> {
    st.begin("deploy RewardToken, ModelRegistry, JobMarket");
    let acc = chain.accounts();
    let role = |i: usize| acc[i % acc.len()];
    let (deployer, requester, prover, attacker) = (role(0), role(1), role(2), role(3));
    let (market, gas) = Market::deploy(chain, deployer, tokens(1_000_000)).await?;
    st.done(&format!(
        "{}; market {} (deploy gas: token {}, registry {}, market {})",
        chain.describe(),
        market.contracts.market,
        gas.token,
        gas.registry,
        gas.market
    ));

    st.begin("deploy the verifier and register the model");
    let deployed = market.deploy_verifier(deployer, &m.evm).await?;
    let layout = InstanceLayout::of(&m.qmodel);
    let digest: B256 = m.setup.info.circuit_digest.parse().context("[demo] setup.json circuit_digest")?;
    let (inputs, outputs) = (layout.inputs as u32, layout.outputs as u32);
    let (registered, _) =
        market.register_model(deployer, digest, inputs, outputs, deployed.address, "zkinfer-demo:mlp_digits").await?;
    if registered != m.model_id {
        bail!("the registry computed model id {registered}, setup.json says {}", m.model_id);
    }
    st.done(&format!("verifier at {} ({} gas)", deployed.address, deployed.gas));
    let code_hash = B256::from(m.evm.code_hash());
    Ok((market, Roles { deployer, requester, prover, attacker, verifier: deployed.address, code_hash }))
}

/// The prover node the demo runs in-process, and a client of it.
struct DemoNode {
    client: client::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<()>>,
}

impl DemoNode {
    /// Stops the node and waits for it.
    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        self.server.await?
    }
}

/// Stage 6: a prover node on loopback with its chain watcher on the demo's market.
async fn start_node(
    dir: &Path,
    chain: &Arc<Chain>,
    market: &Market<'_>,
    prover: Address,
    st: &mut Stages,
) -> Result<DemoNode> {
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
    let (stop, node_stopped) = tokio::sync::oneshot::channel::<()>();
    let access = ChainAccess { chain: chain.clone(), prover, market: market.contracts.market };
    let stopped = async move {
        let _ = node_stopped.await;
    };
    let server = tokio::spawn(node::serve_with_chain(cfg, incoming, stopped, Some(access)));
    let client = connect_retrying(&format!("http://{addr}")).await?;
    st.done(&format!("listening on {addr}, proving as {prover}"));
    Ok(DemoNode { client, stop, server })
}

/// The posted job, with the balances around it.
struct PostedDemoJob {
    job_id: U256,
    inputs: Vec<U256>,
    bounty: U256,
    deadline: u64,
    label: Option<i64>,
    float_prediction: usize,
    /// Requester, prover, market.
    who: [Address; 3],
    before: [U256; 3],
    escrowed: [U256; 3],
}

/// The token balances of `who`.
async fn balances(market: &Market<'_>, who: [Address; 3]) -> Result<[U256; 3]> {
    let mut b = [U256::ZERO; 3];
    for (i, w) in who.iter().enumerate() {
        b[i] = market.balance(*w).await?;
    }
    Ok(b)
}

/// Stage 7: the requester posts a job for a digit of the test set.
async fn post_job(
    a: &DemoArgs,
    chain: &Chain,
    market: &Market<'_>,
    m: &DemoModel,
    r: &Roles,
    st: &mut Stages,
) -> Result<PostedDemoJob> {
    st.begin("a requester posts a job with a 100 ZKR bounty");
    let test: Dataset = serde_json::from_slice(TEST_SET)?;
    let x = test
        .input_data
        .get(a.sample)
        .with_context(|| format!("--sample {}: the test set has {} rows", a.sample, test.input_data.len()))?
        .clone();
    let label = test.labels.as_ref().and_then(|l| l.get(a.sample)).copied();
    let float_prediction = m.runner.run(&x)?.first().map(|o| argmax(o.as_slice().unwrap_or(&[]))).unwrap_or(0);
    let inputs: Vec<U256> = m.qmodel.quantize_input(&x)?.values.iter().map(|&v| int_to_u256(v)).collect();
    let bounty = tokens(100);
    market.transfer(r.deployer, r.requester, tokens(1000)).await?;
    market.approve(r.requester, tokens(1000)).await?;
    let who = [r.requester, r.prover, market.contracts.market];
    let before = balances(market, who).await?;
    let deadline = chain.timestamp().await? + 3600;
    let (job_id, posted) =
        market.post_job(r.requester, m.model_id, r.code_hash, inputs.clone(), bounty, deadline).await?;
    let escrowed = balances(market, who).await?;
    st.done(&format!(
        "job {job_id:#x} ({} gas; digit sample {}, label {})",
        posted.gas_used,
        a.sample,
        label.map_or("?".into(), |l| l.to_string())
    ));
    Ok(PostedDemoJob { job_id, inputs, bounty, deadline, label, float_prediction, who, before, escrowed })
}

/// What settling the job showed.
struct Settled {
    proof: pb::Proof,
    k: u32,
    statement: zkinfer_circuits::statement::Statement,
    verify_gas: u64,
    after: [U256; 3],
}

/// Stage 8: the node picks the job up, proves it and is paid; its proof is checked
/// against the model and verified by a call to the verifier contract.
async fn settle(
    c: &mut client::Client,
    chain: &Chain,
    market: &Market<'_>,
    m: &DemoModel,
    r: &Roles,
    job: &PostedDemoJob,
    st: &mut Stages,
) -> Result<Settled> {
    st.begin("the node picks the job up, proves it, submits the proof");
    let node_job = wait_settled(c, job.job_id, st).await?;
    let after = balances(market, job.who).await?;
    let proof = c
        .get_proof(pb::GetProofRequest { id: node_job.id.clone() })
        .await
        .map_err(|e| anyhow!("GetProof: {}", e.message()))?
        .into_inner();
    let file =
        ProofFile::from_json(proof.proof_file_json.as_bytes()).map_err(|e| anyhow!("the node's proof file: {e}"))?;
    let statement = file.check(&m.qmodel, &m.verifier.model_id).context("[demo] the node's proof file")?;
    let calldata = encode_calldata(&statement.instances, &statement.proof);
    let (_, verify_gas) = chain.call(r.attacker, r.verifier, calldata).await?;
    let on_chain = market.job(job.job_id).await?;
    if on_chain.state() != JobStatus::Settled || on_chain.prover != r.prover {
        bail!("the market did not settle job {:#x} to the node: {:?}", job.job_id, on_chain.state());
    }
    st.done(&format!("settled in tx {} — the verifier contract accepted the proof", node_job.tx_hash));
    Ok(Settled { proof, k: file.k, statement, verify_gas, after })
}

/// Stage 9: an attacker replays the node's proof, forges the outputs and flips a
/// byte of the proof on a second job; each must revert and move nothing.
async fn forgeries(
    market: &Market<'_>,
    m: &DemoModel,
    r: &Roles,
    job: &PostedDemoJob,
    s: &Settled,
) -> Result<Vec<(String, String)>> {
    let (job2, _) =
        market.post_job(r.requester, m.model_id, r.code_hash, job.inputs.clone(), job.bounty, job.deadline).await?;
    let mid = balances(market, job.who).await?;
    let outputs: Vec<U256> = s.statement.outputs().iter().map(fr_to_u256).collect();
    let prediction = s.proof.prediction as usize;
    let wrong = (prediction + 1) % outputs.len();
    let mut forged_outputs = outputs.clone();
    forged_outputs[wrong] = forged_outputs[prediction] + U256::from(1u64);
    let proof = &s.statement.proof;
    let mut flipped = proof.clone();
    flipped[proof.len() / 2] ^= 1;
    let attempts = [
        ("replay the node's proof (bound to job 1 and the node's address)".to_string(), outputs.clone(), proof.clone()),
        (format!("claim the digit is {wrong} (forged outputs)"), forged_outputs, proof.clone()),
        ("a proof with one flipped byte".to_string(), outputs, flipped),
    ];
    let mut rejections = Vec::new();
    for (what, o, p) in attempts {
        match market.submit_proof(r.attacker, job2, o, p).await {
            Err(VerifierError::Reverted { reason, .. }) => rejections.push((what, reason)),
            Err(e) => return Err(e).context("[demo] submitting a forged proof"),
            Ok(_) => bail!("SECURITY FAILURE: the market accepted a forged submission ({what})"),
        }
    }
    if balances(market, job.who).await? != mid || market.job(job2).await?.state() != JobStatus::Open {
        bail!("SECURITY FAILURE: a rejected submission changed the market's state");
    }
    Ok(rejections)
}

fn print_summary(m: &DemoModel, job: &PostedDemoJob, s: &Settled, rejections: &[(String, String)], st: &Stages) {
    let fmt_b = |b: [U256; 3]| b.map(fmt_tokens);
    let (b0, b1, b2) = (fmt_b(job.before), fmt_b(job.escrowed), fmt_b(s.after));
    println!();
    println!("model        {MODEL_NAME} (bundled ONNX), id {}", m.setup.info.model_id);
    println!(
        "prediction   proved {} | float model {} | label {}",
        s.proof.prediction,
        job.float_prediction,
        job.label.map_or("unknown".into(), |l| l.to_string())
    );
    println!(
        "proof        {} bytes, k = {}, proved in {:.0} ms by the node",
        s.statement.proof.len(),
        s.k,
        s.proof.prove_ms
    );
    println!("verification {} gas for a call to the verifier contract (21,000 base included)", s.verify_gas);
    println!("balances     before the job → posted (escrowed) → settled:");
    println!("  requester  {} → {} → {}", b0[0], b1[0], b2[0]);
    let paid = fmt_tokens(s.after[1] - job.before[1]);
    println!("  prover     {} → {} → {}  (paid {paid})", b0[1], b1[1], b2[1]);
    println!("  market     {} → {} → {}", b0[2], b1[2], b2[2]);
    println!("forgeries    rejected on chain:");
    for (what, reason) in rejections {
        println!("  ✗ {what}: {}", short_reason(reason));
    }
    println!("total        {:.1} s", st.started.elapsed().as_secs_f64());
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
