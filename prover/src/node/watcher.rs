//! The chain watcher: follows `JobPosted` events of a `JobMarket`, queues the
//! jobs of the models this node serves — bound to the node's own address, so
//! nobody else can submit the proof — and submits each proof once it is ready.
//!
//! Job states of a chain job: `queued → proving → proved → submitted →
//! settled`, or `failed` with the market's reason (another prover was first,
//! the deadline passed, the input does not fit the model). The next block to
//! read is kept in the job store, and the on-chain job id is the job's
//! idempotency key, so a restart neither misses nor repeats a job; a job left
//! `submitted` by a crash is checked on chain before it is sent again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use anyhow::{Context, Result, bail};
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use serde::Deserialize;
use tokio::sync::watch;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_circuits::prove::{fr_from_hex, fr_to_hex};
use zkinfer_quantize::QModel;
use zkinfer_verifier::chain::{Chain, RpcChain};
use zkinfer_verifier::market::{JobMarket, Market, PostedJob, binding, fr_to_u256, u256_to_fr};
use zkinfer_verifier::{Contracts, VerifierError};

use super::service::{NodeState, random_id};
use super::store::{JobRecord, JobState, now_ms};

/// Environment variable read for the node's private key by default.
pub const DEFAULT_KEY_ENV: &str = "ZKINFER_CHAIN_KEY";

/// The `[chain]` table of the node's config: where to watch and how to pay gas.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// JSON-RPC URL of the chain (e.g. `http://127.0.0.1:8545`).
    pub rpc_url: String,
    /// Address of the `JobMarket` contract.
    pub market: String,
    /// File holding the node's private key (hex); it pays the gas of
    /// `submitProof` and receives the bounties. Without it, the key is read
    /// from the environment variable named by `key_env`.
    pub key_file: Option<PathBuf>,
    /// Environment variable with the private key when `key_file` is not set.
    pub key_env: String,
    /// First block to read on the first start (later starts go on from where
    /// the last one stopped); default: the chain's current block.
    pub start_block: Option<u64>,
    /// How often to look for new blocks, in milliseconds.
    pub poll_interval_ms: u64,
    /// Most blocks asked for in one `eth_getLogs` call.
    pub max_block_range: u64,
    /// Jobs with a smaller bounty (token base units, decimal) are ignored.
    pub min_bounty: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            rpc_url: String::new(),
            market: String::new(),
            key_file: None,
            key_env: DEFAULT_KEY_ENV.into(),
            start_block: None,
            poll_interval_ms: 1000,
            max_block_range: 1000,
            min_bounty: "1".into(),
        }
    }
}

impl ChainConfig {
    /// Reads the key and connects to the chain (checking that it answers).
    pub async fn connect(&self) -> Result<ChainAccess> {
        if self.rpc_url.is_empty() {
            bail!("[chain] rpc_url is required");
        }
        let market: Address =
            self.market.parse().with_context(|| format!("[chain] market `{}` is not an address", self.market))?;
        let key = match &self.key_file {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("[chain] reading key_file {}", p.display()))?
            }
            None => std::env::var(&self.key_env).with_context(|| {
                format!("the chain watcher needs the node's private key: set {} or [chain] key_file", self.key_env)
            })?,
        };
        let chain = RpcChain::connect(&self.rpc_url, &[key.trim().to_string()]).await.context("[chain]")?;
        let prover = chain.accounts()[0];
        Ok(ChainAccess { chain: Arc::new(chain), prover, market })
    }

    fn min_bounty(&self) -> Result<U256> {
        U256::from_str_radix(self.min_bounty.trim(), 10)
            .with_context(|| format!("[chain] min_bounty `{}` is not a decimal integer", self.min_bounty))
    }
}

/// A chain, the account the node proves and submits as, and the market to watch.
#[derive(Clone)]
pub struct ChainAccess {
    /// The chain (its first account is usually `prover`).
    pub chain: Arc<Chain>,
    /// The node's address: proofs are bound to it and bounties paid to it.
    pub prover: Address,
    /// The `JobMarket` address.
    pub market: Address,
}

/// The running watcher.
pub struct Watcher {
    access: ChainAccess,
    contracts: Contracts,
    state: Arc<NodeState>,
    cfg: ChainConfig,
    min_bounty: U256,
}

fn market(access: &ChainAccess, contracts: Contracts) -> Market<'_> {
    Market { chain: &access.chain, contracts }
}

impl Watcher {
    /// Checks the market (it must hold code and name its token and registry).
    pub async fn new(access: ChainAccess, state: Arc<NodeState>, cfg: ChainConfig) -> Result<Watcher> {
        let contracts = Market::at(&access.chain, access.market)
            .await
            .with_context(|| format!("[chain] the JobMarket at {}", access.market))?
            .contracts;
        let min_bounty = cfg.min_bounty()?;
        if cfg.max_block_range == 0 {
            bail!("[chain] max_block_range must be at least 1");
        }
        Ok(Watcher { access, contracts, state, cfg, min_bounty })
    }

    fn cursor_key(&self) -> String {
        format!("chain.next_block.{:#x}", self.access.market)
    }

    /// Polls until `stop` turns true; wakes early when a chain job is proved.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(chain = %self.access.chain.describe(), market = %self.access.market,
            prover = %self.access.prover, "chain watcher started");
        let mut changes = self.state.changes.subscribe();
        let poll = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        loop {
            if let Err(e) = self.scan().await {
                tracing::warn!(error = %format!("{e:#}"), "chain watcher: reading new jobs (retrying)");
            }
            if let Err(e) = self.submit_ready().await {
                tracing::warn!(error = %format!("{e:#}"), "chain watcher: submitting proofs (retrying)");
            }
            let sleep = tokio::time::sleep(poll);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    _ = stop.changed() => {
                        tracing::info!("chain watcher stopped");
                        return;
                    }
                    c = changes.recv() => match c {
                        Ok(j) if j.from_chain && j.state == JobState::Proved => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    }

    /// Reads `JobPosted` events from the stored cursor up to the latest block.
    async fn scan(&self) -> Result<()> {
        let latest = self.access.chain.block_number().await?;
        let store = &self.state.store;
        let mut next = match store.meta(&self.cursor_key())? {
            Some(v) => v.parse::<u64>().context("stored chain cursor")?,
            None => self.cfg.start_block.unwrap_or(latest),
        };
        let m = market(&self.access, self.contracts);
        while next <= latest {
            let to = latest.min(next + self.cfg.max_block_range - 1);
            let posted = m.posted_jobs(next, Some(to)).await?;
            if !posted.is_empty() {
                let now = self.access.chain.timestamp().await?;
                for p in &posted {
                    self.ingest(&m, p, now).await?;
                }
            }
            next = to + 1;
            store.set_meta(&self.cursor_key(), &next.to_string())?;
        }
        Ok(())
    }

    /// Queues one posted job if this node serves its model and it is worth taking.
    async fn ingest(&self, m: &Market<'_>, p: &PostedJob, now: u64) -> Result<()> {
        let job_ref = format!("{:#066x}", p.job_id);
        let key = format!("chain:{job_ref}");
        let store = &self.state.store;
        if store.get_by_key(&key)?.is_some() {
            return Ok(());
        }
        let model_id = format!("0x{}", hex::encode(p.model_id));
        let Some(model) = self.state.models.get(&model_id) else {
            tracing::debug!(job = %job_ref, model = %model_id, "chain job for a model this node does not serve");
            return Ok(());
        };
        if p.deadline <= now {
            tracing::info!(job = %job_ref, deadline = p.deadline, "chain job already expired: skipped");
            return Ok(());
        }
        if p.bounty < self.min_bounty {
            tracing::info!(job = %job_ref, bounty = %p.bounty, "chain job bounty below min_bounty: skipped");
            return Ok(());
        }
        // Read from an old block (a first start, a node that was down): it may be gone.
        let status = m.job(p.job_id).await?.status;
        if status != JobMarket::Status::Open {
            tracing::info!(job = %job_ref, ?status, "chain job no longer open: skipped");
            return Ok(());
        }
        let input = chain_input(&model.prover.verifier.model, &p.inputs);
        let rec = JobRecord {
            id: random_id(),
            model_id,
            state: JobState::Queued,
            input: input.as_ref().cloned().unwrap_or_default(),
            binding: fr_to_hex(&binding(p.job_id, self.access.prover)),
            job_ref: job_ref.clone(),
            idempotency_key: key,
            error: String::new(),
            created_ms: now_ms(),
            updated_ms: now_ms(),
            attempts: 0,
            from_chain: true,
            bounty: p.bounty.to_string(),
            tx_hash: String::new(),
        };
        let (rec, dup) = store.insert(&rec)?;
        if dup {
            return Ok(());
        }
        match input {
            Ok(_) => {
                tracing::info!(job = %rec.id, chain_job = %job_ref, bounty = %p.bounty, "chain job queued");
                self.state.queued.notify_one();
            }
            Err(reason) => {
                tracing::warn!(job = %rec.id, chain_job = %job_ref, %reason, "chain job cannot be proved");
                store.fail(&rec.id, &reason)?;
            }
        }
        self.state.publish(&rec.id);
        Ok(())
    }

    /// Submits every proved chain job (and re-checks those left `submitted`).
    async fn submit_ready(&self) -> Result<()> {
        for job in self.state.store.chain_pending()? {
            let r = self.submit(&job).await;
            self.state.publish(&job.id);
            r?;
        }
        Ok(())
    }

    async fn submit(&self, job: &JobRecord) -> Result<()> {
        let store = &self.state.store;
        let m = market(&self.access, self.contracts);
        let job_id = U256::from_str_radix(job.job_ref.trim_start_matches("0x"), 16).context("stored job_ref")?;
        if job.state == JobState::Submitted && self.settled_by_us(&m, job, job_id).await? {
            return Ok(());
        }
        let (outputs, proof) = match submission(store.proof(&job.id)?.map(|p| p.proof_json)) {
            Ok(x) => x,
            Err(e) => {
                store.fail(&job.id, &format!("stored proof: {e}"))?;
                return Ok(());
            }
        };
        store.mark_submitted(&job.id)?;
        self.state.publish(&job.id);
        match m.submit_proof(self.access.prover, job_id, outputs, proof).await {
            Ok(r) => {
                store.settle(&job.id, &format!("{:#x}", r.tx_hash))?;
                tracing::info!(job = %job.id, chain_job = %job.job_ref, bounty = %job.bounty, gas = r.gas_used,
                    tx = %r.tx_hash, "chain job settled");
            }
            Err(VerifierError::Reverted { reason, .. }) => {
                if !self.settled_by_us(&m, job, job_id).await? {
                    tracing::warn!(job = %job.id, chain_job = %job.job_ref, %reason, "the market rejected the proof");
                    store.fail(&job.id, &format!("the market rejected the proof: {reason}"))?;
                }
            }
            // Transport errors: the job stays `submitted`; the next poll checks the chain first.
            Err(e) => return Err(e).context("submitProof"),
        }
        Ok(())
    }

    /// Whether the market already paid this node for the job (a submission
    /// that landed before a crash or a lost receipt); records it if so.
    async fn settled_by_us(&self, m: &Market<'_>, job: &JobRecord, job_id: U256) -> Result<bool> {
        let on_chain = m.job(job_id).await?;
        if on_chain.status == JobMarket::Status::Settled && on_chain.prover == self.access.prover {
            if job.state == JobState::Proved {
                self.state.store.mark_submitted(&job.id)?;
            }
            self.state.store.settle(&job.id, "")?;
            tracing::info!(job = %job.id, chain_job = %job.job_ref, "chain job was already settled to this node");
            return Ok(true);
        }
        Ok(false)
    }
}

/// The outputs (the instances between the inputs and the binding) and proof
/// bytes of a stored proof file.
fn submission(proof_json: Option<String>) -> std::result::Result<(Vec<U256>, Vec<u8>), String> {
    let json = proof_json.ok_or("no proof stored")?;
    let file = ProofFile::from_json(json.as_bytes())?;
    let instances =
        file.instances.iter().map(|s| fr_from_hex(s).map_err(|e| e.to_string())).collect::<Result<Vec<Fr>, _>>()?;
    let n_in = file.input.len();
    if instances.len() != n_in + file.output.len() + 1 {
        return Err(format!("{} instances for {} inputs and {} outputs", instances.len(), n_in, file.output.len()));
    }
    let outputs = instances[n_in..instances.len() - 1].iter().map(fr_to_u256).collect();
    let proof = hex::decode(file.proof.trim_start_matches("0x")).map_err(|e| format!("proof hex: {e}"))?;
    Ok((outputs, proof))
}

/// The float input whose quantization is exactly the job's on-chain inputs
/// (field elements holding signed fixed-point values), or why there is none.
pub fn chain_input(model: &QModel, inputs: &[U256]) -> std::result::Result<Vec<f64>, String> {
    let t = model.input_tensor();
    if inputs.len() != t.numel() {
        return Err(format!("the job has {} inputs, the model takes {}", inputs.len(), t.numel()));
    }
    let half = (Fr::ZERO - Fr::ONE) * Fr::from(2).invert().expect("2 is invertible");
    let half = fr_to_u256(&half);
    let scale = (t.scale_bits as f64).exp2();
    let mut q = Vec::with_capacity(inputs.len());
    for (i, &x) in inputs.iter().enumerate() {
        let f = u256_to_fr(x).map_err(|e| format!("input[{i}]: {e}"))?;
        let (neg, mag) = if x <= half { (false, x) } else { (true, fr_to_u256(&-f)) };
        let mag = i64::try_from(mag).map_err(|_| format!("input[{i}] is out of the model's input range"))?;
        q.push(if neg { -mag } else { mag });
    }
    let floats: Vec<f64> = q.iter().map(|&v| v as f64 / scale).collect();
    let back = model.quantize_input(&floats).map_err(|e| e.to_string())?;
    if let Some(i) = (0..q.len()).find(|&i| back.values[i] != q[i]) {
        return Err(format!("input[{i}] = {} is out of the model's input range", q[i]));
    }
    Ok(floats)
}
