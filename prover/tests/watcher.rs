//! The chain watcher: jobs posted on the JobMarket are proved by the node,
//! bound to its address, submitted and paid — on the embedded chain (node
//! in-process) and on anvil (the `zkinfer node` binary).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use tonic::transport::Channel;
use zkinfer_circuits::bundle::{Bundle, Prover};
use zkinfer_circuits::statement::InstanceLayout;
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_client::ProverServiceClient;
use zkinfer_prover::node::watcher::{ChainAccess, ChainConfig};
use zkinfer_prover::node::{self, NodeConfig};
use zkinfer_verifier::chain::{Chain, DEV_KEYS, RpcChain};
use zkinfer_verifier::encoding::{binding, fr_from_int, fr_to_hex, fr_to_u256, int_to_u256};
use zkinfer_verifier::evm::{EvmVerifier, build_verifier};
use zkinfer_verifier::market::{JobStatus, Market};

mod common;

use common::{fixture, setup_models, start_node_with_env, text, zkinfer};

/// The set-up mlp, its EVM verifier and the fixture input as on-chain inputs.
struct Fixture {
    _dir: tempfile::TempDir,
    models: PathBuf,
    prover: Prover,
    evm: EvmVerifier,
    id: B256,
    digest: B256,
    q: Vec<i64>,
    inputs: Vec<U256>,
}

fn fx() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let models = setup_models(dir.path());
        let prover = Bundle::new(models.join("mlp")).load_prover().unwrap();
        let v = &prover.verifier;
        let evm = build_verifier(&v.srs.params, &v.vk, v.info.instances).unwrap();
        let x: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("models/mlp_digits/input.json")).unwrap()).unwrap();
        let x: Vec<f64> = x["input_data"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let q = v.model.quantize_input(&x).unwrap().values;
        let inputs = q.iter().map(|&v| int_to_u256(v)).collect();
        let digest = v.info.circuit_digest.parse().unwrap();
        Fixture { id: B256::from(v.model_id), digest, _dir: dir, models, prover, evm, q, inputs }
    })
}

/// Deploys the contracts and the verifier, registers the model, funds and
/// approves `poster`.
async fn market_with_model<'c>(chain: &'c Chain, poster: Address) -> Market<'c> {
    let fx = fx();
    let deployer = chain.accounts()[0];
    let (market, _) = Market::deploy(chain, deployer, U256::from(1_000_000u64)).await.unwrap();
    let v = market.deploy_verifier(deployer, &fx.evm).await.unwrap();
    let (n_in, n_out) = (fx.inputs.len() as u32, fx.prover.verifier.model.output_len() as u32);
    let (id, _) = market.register_model(deployer, fx.digest, n_in, n_out, v.address, "").await.unwrap();
    assert_eq!(id, fx.id);
    // Another model id with the same verifier: registered on chain, not served by the node.
    let (other, _) = market.register_model(deployer, B256::repeat_byte(9), n_in, n_out, v.address, "").await.unwrap();
    assert_eq!(other, unserved_id());
    market.transfer(deployer, poster, U256::from(10_000u64)).await.unwrap();
    market.approve(poster, U256::from(10_000u64)).await.unwrap();
    market
}

/// The id of the model registered with circuit digest 0x0909… (not served by the node).
fn unserved_id() -> B256 {
    let (n_in, n_out) = (fx().inputs.len() as u32, fx().prover.verifier.model.output_len() as u32);
    B256::from(zkinfer_circuits::prove::model_id_of(&[9; 32], n_in, n_out))
}

async fn client(url: &str) -> ProverServiceClient<Channel> {
    ProverServiceClient::new(Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap())
}

async fn jobs(c: &mut ProverServiceClient<Channel>) -> Vec<pb::Job> {
    let mut j = c.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs;
    j.reverse();
    j
}

/// Waits (2 min at most) until the node has a job for on-chain `job_id` that is done.
async fn wait_chain_job(c: &mut ProverServiceClient<Channel>, job_id: U256) -> pb::Job {
    let job_ref = format!("{job_id:#066x}");
    let t = Instant::now();
    loop {
        let done = [pb::JobState::Settled, pb::JobState::Failed, pb::JobState::Cancelled].map(|s| s as i32);
        if let Some(j) = jobs(c).await.into_iter().find(|j| j.job_ref == job_ref && done.contains(&j.state)) {
            return j;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "the node did not finish chain job {job_ref}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct InProcessNode {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

fn start_in_process(data: &Path, access: ChainAccess) -> InProcessNode {
    let cfg = NodeConfig {
        data_dir: data.to_path_buf(),
        models: Some(fx().models.clone()),
        workers: 1,
        chain: Some(ChainConfig {
            start_block: Some(0),
            poll_interval_ms: 100,
            max_block_range: 3,
            confirmations: 0,
            min_bounty: "50".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    start_with(cfg, access)
}

fn start_with(cfg: NodeConfig, access: ChainAccess) -> InProcessNode {
    let (incoming, addr) = node::bind("127.0.0.1:0").unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(node::serve_with_chain(
        cfg,
        incoming,
        async {
            let _ = stopped.await;
        },
        Some(access),
    ));
    InProcessNode { url: format!("http://{addr}"), stop, server }
}

impl InProcessNode {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_settles_chain_jobs_on_the_embedded_chain() {
    let _ = tracing_subscriber::fmt().with_env_filter("zkinfer_prover=info").with_test_writer().try_init();
    let fx = fx();
    let chain = Arc::new(Chain::embedded());
    let acc = chain.accounts();
    let (poster, node_addr, rival) = (acc[1], acc[2], acc[3]);
    let market = market_with_model(&chain, poster).await;
    let bounty = U256::from(100u64);
    let now = chain.timestamp().await.unwrap();
    let post = |model: B256, inputs: Vec<U256>, bounty: u64, deadline: u64| {
        let market = &market;
        let pin = B256::from(fx.evm.code_hash());
        async move { market.post_job(poster, model, pin, inputs, U256::from(bounty), deadline).await.unwrap().0 }
    };
    // Skipped by the node: expired before it looks, model not served, bounty below min_bounty (50).
    let expired = post(fx.id, fx.inputs.clone(), 100, now + 10).await;
    chain.advance_time(20).await.unwrap();
    let now = now + 20;
    let unserved = post(unserved_id(), fx.inputs.clone(), 100, now + 3600).await;
    let cheap = post(fx.id, fx.inputs.clone(), 10, now + 3600).await;
    // Taken and settled.
    let good = post(fx.id, fx.inputs.clone(), 100, now + 3600).await;
    // Taken, cannot be proved: an input outside the model's fixed-point range.
    let mut wide = fx.inputs.clone();
    wide[3] = U256::from(1u64) << 40;
    let bad = post(fx.id, wide, 100, now + 3600).await;
    // Settled by a rival before the node looks: skipped.
    let gone = post(fx.id, fx.inputs.clone(), 100, now + 3600).await;
    let rival_submit = |job: U256| {
        let p = fx.prover.prove(&fx.q, binding(job, rival)).unwrap();
        let layout = InstanceLayout::of(&fx.prover.verifier.model);
        let outs: Vec<U256> = p.instances[layout.output_range()].iter().map(fr_to_u256).collect();
        (outs, p.proof)
    };
    let (outs, proof) = rival_submit(gone);
    market.submit_proof(rival, gone, outs, proof).await.unwrap();
    // Taken, but the rival settles it while the node is proving: the node's submission is rejected.
    let raced = post(fx.id, fx.inputs.clone(), 100, now + 3600).await;
    let (raced_outs, raced_proof) = rival_submit(raced);

    let before = market.balance(node_addr).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let access = ChainAccess { chain: chain.clone(), prover: node_addr, market: market.contracts.market };
    let node = start_in_process(data.path(), access.clone());
    let mut c = client(&node.url).await;
    // The node proves one job at a time (~0.4 s each): `good` first, then `raced`.
    let raced_ref = format!("{raced:#066x}");
    let t = Instant::now();
    while !jobs(&mut c).await.iter().any(|j| j.job_ref == raced_ref) {
        assert!(t.elapsed() < Duration::from_secs(60), "the node did not take the raced job");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    market.submit_proof(rival, raced, raced_outs, raced_proof).await.unwrap();

    let g = wait_chain_job(&mut c, good).await;
    assert_eq!(pb::JobState::try_from(g.state), Ok(pb::JobState::Settled), "{g:?}");
    assert!(g.from_chain && g.bounty == "100" && g.tx_hash.len() == 66, "{g:?}");
    assert_eq!(g.binding, fr_to_hex(&binding(good, node_addr)));
    let b = wait_chain_job(&mut c, bad).await;
    assert_eq!(pb::JobState::try_from(b.state), Ok(pb::JobState::Failed));
    assert!(b.error.contains("input[3]") && b.error.contains("out of the model's input range"), "{}", b.error);
    let r = wait_chain_job(&mut c, raced).await;
    assert_eq!(pb::JobState::try_from(r.state), Ok(pb::JobState::Failed));
    assert!(r.error.contains("JobNotOpen"), "{}", r.error);
    let listed = jobs(&mut c).await;
    let refs: Vec<String> = listed.iter().map(|j| j.job_ref.clone()).collect();
    for skipped in [expired, unserved, cheap, gone] {
        assert!(!refs.contains(&format!("{skipped:#066x}")), "job {skipped} should have been skipped");
    }
    assert_eq!(listed.len(), 3, "{refs:?}");

    // Paid exactly the bounty; the chain has the outputs the node proved.
    assert_eq!(market.balance(node_addr).await.unwrap(), before + bounty);
    let on_chain = market.job(good).await.unwrap();
    assert_eq!((on_chain.state(), on_chain.prover), (JobStatus::Settled, node_addr));
    let proof = c.get_proof(pb::GetProofRequest { id: g.id.clone() }).await.unwrap().into_inner();
    let file: serde_json::Value = serde_json::from_str(&proof.proof_file_json).unwrap();
    let proved_out: Vec<U256> =
        file["output"].as_array().unwrap().iter().map(|v| int_to_u256(v.as_i64().unwrap())).collect();
    assert_eq!(market.outputs(good).await.unwrap(), proved_out);

    // Restart: nothing is taken twice; a new job is picked up from where it stopped.
    node.stop().await;
    let node = start_in_process(data.path(), access);
    let mut c = client(&node.url).await;
    let again = post(fx.id, fx.inputs.clone(), 100, now + 3600).await;
    let a = wait_chain_job(&mut c, again).await;
    assert_eq!(pb::JobState::try_from(a.state), Ok(pb::JobState::Settled), "{a:?}");
    assert_eq!(jobs(&mut c).await.len(), 4);
    assert_eq!(market.balance(node_addr).await.unwrap(), before + bounty + bounty);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_settles_a_job_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    let fx = fx();
    let keys: Vec<String> = DEV_KEYS.iter().map(|k| k.to_string()).collect();
    let chain = RpcChain::connect(&anvil.url, &keys).await.unwrap();
    let acc = chain.accounts();
    let (poster, node_addr) = (acc[1], acc[2]);
    let market = market_with_model(&chain, poster).await;
    let before = market.balance(node_addr).await.unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "workers = 1\n[chain]\nrpc_url = \"{}\"\nmarket = \"{}\"\nkey_env = \"NODE_KEY\"\nstart_block = 0\npoll_interval_ms = 200\nconfirmations = 0\nmin_bounty = \"1\"\n",
            anvil.url, market.contracts.market
        ),
    )
    .unwrap();
    let log = tmp.path().join("node.log");
    let node = start_node_with_env(
        &tmp.path().join("data"),
        &fx.models,
        &["--config", cfg.to_str().unwrap()],
        &[("NODE_KEY", DEV_KEYS[2]), ("RUST_LOG", "info")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let now = chain.timestamp().await.unwrap();
    let pin = B256::from(fx.evm.code_hash());
    let (job, _) =
        market.post_job(poster, fx.id, pin, fx.inputs.clone(), U256::from(100u64), now + 3600).await.unwrap();
    let mut c = client(&node.url).await;
    let j = wait_chain_job(&mut c, job).await;
    assert_eq!(pb::JobState::try_from(j.state), Ok(pb::JobState::Settled), "{j:?}");
    assert_eq!(market.balance(node_addr).await.unwrap(), before + U256::from(100u64));
    assert_eq!(market.job(job).await.unwrap().prover, node_addr);

    let o = zkinfer(&["jobs", "--node", &node.url, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed[0]["state"], "settled");
    assert_eq!(listed[0]["tx_hash"], j.tx_hash);
    drop(node);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("chain job settled"), "{logged}");
    assert!(!logged.contains(DEV_KEYS[2].trim_start_matches("0x")), "the node logged its private key");
}

/// Flooding the node with chain jobs: capacity applies to them (counted over
/// queued and proving jobs), the default minimum bounty is the settlement gas
/// at `gas_price`, one poster gets at most `max_jobs_per_poster`; a chain job
/// whose submission fails (here a broken record) does not stop the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_job_floods_are_bounded() {
    let fx = fx();
    let chain = Arc::new(Chain::embedded());
    let acc = chain.accounts();
    let (poster, node_addr, other) = (acc[1], acc[2], acc[3]);
    let market = market_with_model(&chain, poster).await;
    market.transfer(poster, other, U256::from(5_000u64)).await.unwrap();
    market.approve(other, U256::from(5_000u64)).await.unwrap();
    let now = chain.timestamp().await.unwrap();
    let post = |from: Address, bounty: u64| {
        let market = &market;
        async move {
            market
                .post_job(
                    from,
                    fx.id,
                    B256::from(fx.evm.code_hash()),
                    fx.inputs.clone(),
                    U256::from(bounty),
                    now + 3600,
                )
                .await
                .unwrap()
                .0
        }
    };
    // Settlement gas 1000 at price 1: the default minimum bounty is 1000.
    let cheap = post(poster, 999).await;
    let a1 = post(poster, 1000).await;
    let a2 = post(poster, 1000).await;
    let a3 = post(poster, 1000).await; // over max_jobs_per_poster = 2
    let b1 = post(other, 1000).await;
    let b2 = post(other, 1000).await; // over queue_capacity = 3 (queued + proving)

    // A broken chain record, proved and waiting for submission, comes first.
    let data = tempfile::tempdir().unwrap();
    {
        use zkinfer_prover::node::store::{ChainPosting, JobInput, JobRecord, JobStore, StoredProof};
        let path = data.path().join("jobs.db");
        let s = JobStore::open(&path).unwrap();
        let rec = JobRecord {
            idempotency_key: Some("chain:0x01:0x00".into()),
            chain: Some(ChainPosting { job_id: U256::ONE, bounty: U256::ONE, poster: Address::ZERO, block: 0 }),
            ..JobRecord::queued("0xbroken".into(), format!("{:#x}", fx.id), JobInput::Quantized(vec![]), Fr::ONE)
        };
        s.insert(&rec).unwrap();
        s.claim_next().unwrap().unwrap();
        s.complete("0xbroken", &StoredProof { proof_json: "{}".into(), prove_ms: 1.0, witness_ms: 1.0 }).unwrap();
        drop(s);
        // Written by something else than the store (the typed API cannot write it).
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute("UPDATE jobs SET job_ref = '0xnot-a-job-id' WHERE id = '0xbroken'", [])
            .unwrap();
    }
    let cfg = NodeConfig {
        data_dir: data.path().to_path_buf(),
        models: Some(fx.models.clone()),
        workers: 1,
        queue_capacity: 3,
        chain: Some(ChainConfig {
            start_block: Some(0),
            poll_interval_ms: 100,
            confirmations: 0,
            settle_gas: 1000,
            gas_price: "1".into(),
            max_jobs_per_poster: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let access = ChainAccess { chain: chain.clone(), prover: node_addr, market: market.contracts.market };
    let node = start_with(cfg, access);
    let mut c = client(&node.url).await;
    for job in [a1, a2, b1] {
        let j = wait_chain_job(&mut c, job).await;
        assert_eq!(pb::JobState::try_from(j.state), Ok(pb::JobState::Settled), "{j:?}");
    }
    // A few more polls: the skipped jobs stay untaken (the cursor moved past them).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = jobs(&mut c).await;
    let refs: Vec<String> = listed.iter().map(|j| j.job_ref.clone()).collect();
    for skipped in [cheap, a3, b2] {
        assert!(!refs.contains(&format!("{skipped:#066x}")), "job {skipped} should have been skipped: {refs:?}");
        assert_eq!(market.job(skipped).await.unwrap().state(), JobStatus::Open);
    }
    assert_eq!(listed.len(), 4, "{refs:?}");
    let broken = listed.iter().find(|j| j.id == "0xbroken").unwrap();
    assert_eq!(pb::JobState::try_from(broken.state), Ok(pb::JobState::Failed), "{broken:?}");
    assert!(broken.error.contains("not an on-chain job id"), "{}", broken.error);
    println!(
        "fault: 6 cheap chain jobs at capacity 3, 2 per poster, minimum bounty 1000: 3 taken and settled, 3 left open"
    );
    node.stop().await;
}

/// A reorganization on anvil: the job the node settled is reverted and the
/// same job id is posted again with other inputs. The node takes the new
/// posting, marks the orphaned one failed, and the job is settled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_on_anvil_takes_the_new_job_and_settles_once() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    let fx = fx();
    let keys: Vec<String> = DEV_KEYS.iter().map(|k| k.to_string()).collect();
    let chain = RpcChain::connect(&anvil.url, &keys).await.unwrap();
    let acc = chain.accounts();
    let (poster, node_addr) = (acc[1], acc[2]);
    let market = market_with_model(&chain, poster).await;
    let before = market.balance(node_addr).await.unwrap();
    use alloy::providers::{Provider, ProviderBuilder};
    let raw = ProviderBuilder::new().connect_http(anvil.url.parse().unwrap());
    let snapshot: U256 = raw.raw_request("evm_snapshot".into(), ()).await.unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("node.toml");
    std::fs::write(
        &cfg,
        format!(
            "workers = 1\n[chain]\nrpc_url = \"{}\"\nmarket = \"{}\"\nkey_env = \"NODE_KEY\"\nstart_block = 0\npoll_interval_ms = 100\nconfirmations = 0\nmin_bounty = \"1\"\n",
            anvil.url, market.contracts.market
        ),
    )
    .unwrap();
    let log = tmp.path().join("node.log");
    let node = start_node_with_env(
        &tmp.path().join("data"),
        &fx.models,
        &["--config", cfg.to_str().unwrap()],
        &[("NODE_KEY", DEV_KEYS[2]), ("RUST_LOG", "info")],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let mut c = client(&node.url).await;
    let now = chain.timestamp().await.unwrap();
    let (job, _) = market
        .post_job(poster, fx.id, B256::from(fx.evm.code_hash()), fx.inputs.clone(), U256::from(100u64), now + 3600)
        .await
        .unwrap();
    let first = wait_chain_job(&mut c, job).await;
    assert_eq!(pb::JobState::try_from(first.state), Ok(pb::JobState::Settled), "{first:?}");

    // Reorganize: back to before the posting, then the same job id with other inputs.
    let reverted: bool = raw.raw_request("evm_revert".into(), (snapshot,)).await.unwrap();
    assert!(reverted);
    let mut other = fx.inputs.clone();
    other[0] = int_to_u256(fx.q[0] + 1);
    let (again, _) = market
        .post_job(poster, fx.id, B256::from(fx.evm.code_hash()), other.clone(), U256::from(100u64), now + 3600)
        .await
        .unwrap();
    assert_eq!(again, job, "the job id is reused after the reorganization");
    let t = Instant::now();
    let second = loop {
        let listed = jobs(&mut c).await;
        if let Some(j) = listed
            .iter()
            .find(|j| j.job_ref == first.job_ref && j.id != first.id && j.state == pb::JobState::Settled as i32)
        {
            break j.clone();
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the new posting was not settled: {listed:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let reorg_s = t.elapsed().as_secs_f64();
    let listed = jobs(&mut c).await;
    let old = listed.iter().find(|j| j.id == first.id).unwrap();
    assert_eq!(pb::JobState::try_from(old.state), Ok(pb::JobState::Failed), "{old:?}");
    assert!(old.error.contains("reorganization"), "{}", old.error);
    assert_eq!(listed.len(), 2);
    // Settled once, with the new inputs; paid once.
    let on_chain = market.job(job).await.unwrap();
    assert_eq!((on_chain.state(), on_chain.prover), (JobStatus::Settled, node_addr));
    assert_eq!(market.inputs(job).await.unwrap(), other);
    assert_eq!(market.balance(node_addr).await.unwrap(), before + U256::from(100u64));
    let proof = c.get_proof(pb::GetProofRequest { id: second.id.clone() }).await.unwrap().into_inner();
    assert_eq!(proof.instances[0], fr_to_hex(&fr_from_int(fx.q[0] as i128 + 1)), "proved for the new inputs");
    drop(node);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("chain reorganization"), "{logged}");
    println!(
        "fault: reorg on anvil (evm_revert, same job id reposted): new posting settled {reorg_s:.1} s later, orphaned job failed, paid once"
    );
}

/// With `confirmations = 2`, a job is taken only once two more blocks are on top of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_taken_after_the_confirmations() {
    let fx = fx();
    let chain = Arc::new(Chain::embedded());
    let acc = chain.accounts();
    let (poster, node_addr) = (acc[1], acc[2]);
    let market = market_with_model(&chain, poster).await;
    let data = tempfile::tempdir().unwrap();
    let cfg = NodeConfig {
        data_dir: data.path().to_path_buf(),
        models: Some(fx.models.clone()),
        workers: 1,
        chain: Some(ChainConfig {
            start_block: Some(0),
            poll_interval_ms: 50,
            confirmations: 2,
            min_bounty: "1".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let access = ChainAccess { chain: chain.clone(), prover: node_addr, market: market.contracts.market };
    let node = start_with(cfg, access);
    let mut c = client(&node.url).await;
    let now = chain.timestamp().await.unwrap();
    let (job, _) = market
        .post_job(poster, fx.id, B256::from(fx.evm.code_hash()), fx.inputs.clone(), U256::from(100u64), now + 3600)
        .await
        .unwrap();
    // Many polls later, one block on top: not taken yet.
    chain.advance_time(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(jobs(&mut c).await.is_empty(), "taken with one confirmation");
    chain.advance_time(1).await.unwrap();
    let j = wait_chain_job(&mut c, job).await;
    assert_eq!(pb::JobState::try_from(j.state), Ok(pb::JobState::Settled), "{j:?}");
    node.stop().await;
}
