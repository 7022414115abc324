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
//!
//! Defences: only blocks `confirmations` deep are read; the hash of the last
//! block read is kept, and when it changes (a reorganization) the watcher
//! re-reads the last `reorg_depth` blocks and re-checks the jobs taken from
//! them; a job's posting (id, model, poster, bounty, deadline, inputs) is
//! hashed into its key and compared with the chain before its proof is sent,
//! so a job id that a reorganization gave to another posting is taken anew
//! and the orphaned job is never submitted. Jobs are taken only while the
//! queue has room, from posters with fewer than `max_jobs_per_poster` open
//! jobs, and for a bounty of at least the model's minimum (by default the
//! settlement gas at `gas_price`). One job's error never stops the others.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::sync::watch;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_quantize::QModel;
use zkinfer_verifier::chain::{Chain, RpcChain};
use zkinfer_verifier::encoding::{binding, fr_to_u256, to_hex, u256_to_int};
use zkinfer_verifier::market::{JobStatus, Market, PostedJob};
use zkinfer_verifier::{Contracts, VerifierError};

use super::service::{CHAIN_KEY_PREFIX, NodeState, random_id};
use super::store::{ChainPosting, JobInput, JobRecord, JobState, StoreError};

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
    /// Blocks a `JobPosted` event must be deep before the job is taken (0: the latest block).
    pub confirmations: u64,
    /// How many blocks to re-read when the last block read was replaced by a reorganization.
    pub reorg_depth: u64,
    /// Jobs with a smaller bounty (token base units, decimal) are ignored;
    /// empty: `settle_gas × gas_price`.
    pub min_bounty: String,
    /// Per model id (`0x` + 64 hex): the minimum bounty for that model, overriding `min_bounty`.
    pub min_bounty_per_model: HashMap<String, String>,
    /// Gas a settlement (`submitProof`) costs, for the default minimum bounty.
    pub settle_gas: u64,
    /// Price of one unit of gas in token base units (decimal), for the default minimum bounty.
    pub gas_price: String,
    /// Most jobs of one poster the node holds unfinished (queued to submitted).
    pub max_jobs_per_poster: u64,
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
            confirmations: 2,
            reorg_depth: 64,
            min_bounty: String::new(),
            min_bounty_per_model: HashMap::new(),
            settle_gas: 1_200_000,
            gas_price: "1000000000".into(),
            max_jobs_per_poster: 16,
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
        let chain = RpcChain::connect(&self.rpc_url, &[key.trim().to_string()])
            .await
            .map_err(|e| anyhow::anyhow!("[chain] {}", redact(&e.to_string(), &self.rpc_url)))?;
        let prover = chain.accounts()[0];
        Ok(ChainAccess { chain: Arc::new(chain), prover, market })
    }

    /// The minimum bounty for models without their own: `min_bounty`, or
    /// `settle_gas × gas_price` when it is empty.
    fn default_min_bounty(&self) -> Result<U256> {
        if !self.min_bounty.trim().is_empty() {
            return decimal(&self.min_bounty, "min_bounty");
        }
        let price = decimal(&self.gas_price, "gas_price")?;
        price.checked_mul(U256::from(self.settle_gas)).context("[chain] settle_gas × gas_price overflows")
    }

    fn min_bounties(&self) -> Result<HashMap<String, U256>> {
        self.min_bounty_per_model
            .iter()
            .map(|(id, v)| {
                let key = id.to_ascii_lowercase();
                if key.len() != 66 || !key.starts_with("0x") || !key[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("[chain] min_bounty_per_model: `{id}` is not a model id (0x + 64 hex)");
                }
                Ok((key, decimal(v, &format!("min_bounty_per_model.{id}"))?))
            })
            .collect()
    }
}

fn decimal(v: &str, what: &str) -> Result<U256> {
    U256::from_str_radix(v.trim(), 10).with_context(|| format!("[chain] {what} `{v}` is not a decimal integer"))
}

/// `url` without what may be a secret (user, password, path, query: RPC
/// providers put API keys there): `scheme://host:port/…`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<rpc url>".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let tail = if rest.len() > authority.len() + 1 { "/…" } else { "" };
    format!("{scheme}://{host}{tail}")
}

/// `message` with every secret-bearing part of `url` replaced (errors of
/// the HTTP client quote the URL they failed on).
pub fn redact(message: &str, url: &str) -> String {
    if url.is_empty() {
        return message.to_string();
    }
    let mut out = message.replace(url, &redact_url(url));
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let after = &rest[authority.len()..];
        let mut secrets: Vec<&str> = Vec::new();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            secrets.extend(userinfo.split(':').filter(|s| !s.is_empty()));
        }
        if after.len() > 1 {
            secrets.push(after);
            secrets.extend(after.split(['/', '?', '&', '=', '#']).filter(|s| s.len() >= 8));
        }
        for sec in secrets {
            out = out.replace(sec, "…");
        }
    }
    out
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
    min_bounty_per_model: HashMap<String, U256>,
}

/// Whether a watcher error is the chain's (transport: retry the same blocks
/// later) rather than one job's (log it and go on).
fn is_transport(e: &VerifierError) -> bool {
    matches!(e, VerifierError::Chain(_))
}

/// keccak256 of a posting's content: what identifies a job beyond its id
/// (which a reorganization can give to another posting).
pub fn posting_hash(
    job_id: U256,
    model_id: B256,
    poster: Address,
    bounty: U256,
    deadline: u64,
    inputs: &[U256],
) -> String {
    use sha3::{Digest, Keccak256};
    let mut h = Keccak256::new();
    h.update(job_id.to_be_bytes::<32>());
    h.update(model_id);
    h.update(poster);
    h.update(bounty.to_be_bytes::<32>());
    h.update(deadline.to_be_bytes());
    for x in inputs {
        h.update(x.to_be_bytes::<32>());
    }
    to_hex(h.finalize())
}

/// The idempotency key of a chain job: the on-chain id and the posting's hash.
fn chain_key(job_ref: &str, posting: &str) -> String {
    format!("{CHAIN_KEY_PREFIX}{job_ref}:{posting}")
}

/// The posting hash in a chain job's key (`None` for keys of older versions, `chain:<job id>`).
fn posting_of_key(key: &str) -> Option<&str> {
    key.strip_prefix(CHAIN_KEY_PREFIX)?.split_once(':').map(|(_, h)| h)
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
        let min_bounty = cfg.default_min_bounty()?;
        let min_bounty_per_model = cfg.min_bounties()?;
        if cfg.max_block_range == 0 {
            bail!("[chain] max_block_range must be at least 1");
        }
        Ok(Watcher { access, contracts, state, cfg, min_bounty, min_bounty_per_model })
    }

    fn cursor_key(&self) -> String {
        format!("chain.next_block.{:#x}", self.access.market)
    }

    /// Meta key of `number:hash` of the last block read.
    fn last_block_key(&self) -> String {
        format!("chain.last_block.{:#x}", self.access.market)
    }

    /// An error's text without the RPC URL's secrets.
    fn describe(&self, e: &anyhow::Error) -> String {
        redact(&format!("{e:#}"), &self.cfg.rpc_url)
    }

    fn min_bounty_for(&self, model_id: &str) -> U256 {
        self.min_bounty_per_model.get(&model_id.to_ascii_lowercase()).copied().unwrap_or(self.min_bounty)
    }

    /// Polls until `stop` (the node's shutdown signal) turns true; wakes early when a chain job is proved.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let chain = if self.cfg.rpc_url.is_empty() { "embedded".to_string() } else { redact_url(&self.cfg.rpc_url) };
        tracing::info!(%chain, market = %self.access.market, prover = %self.access.prover,
            confirmations = self.cfg.confirmations, min_bounty = %self.min_bounty, "chain watcher started");
        let mut changes = self.state.changes.subscribe();
        let poll = Duration::from_millis(self.cfg.poll_interval_ms.max(10));
        loop {
            if *stop.borrow_and_update() {
                tracing::info!("chain watcher stopped");
                return;
            }
            if let Err(e) = self.scan().await {
                tracing::warn!(error = %self.describe(&e), "chain watcher: reading new jobs (retrying)");
            }
            if let Err(e) = self.submit_ready().await {
                tracing::warn!(error = %self.describe(&e), "chain watcher: submitting proofs (retrying)");
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
                        Ok(j) if j.from_chain() && j.state == JobState::Proved => break,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    }

    /// Reads `JobPosted` events from the stored cursor up to the latest
    /// block `confirmations` deep, after checking that the last block read
    /// is still on the chain.
    async fn scan(&self) -> Result<()> {
        let head = self.access.chain.block_number().await?;
        let latest = head.saturating_sub(self.cfg.confirmations);
        let store = &self.state.store;
        let mut next = match store.meta(&self.cursor_key())? {
            Some(v) => v.parse::<u64>().context("stored chain cursor")?,
            None => self.cfg.start_block.unwrap_or(latest),
        };
        if let Some(rewound) = self.check_reorg(head).await? {
            next = rewound;
        }
        let m = market(&self.access, self.contracts);
        while next <= latest {
            let to = latest.min(next + self.cfg.max_block_range - 1);
            let posted = m.posted_jobs(next, Some(to)).await?;
            if !posted.is_empty() {
                let now = self.access.chain.timestamp().await?;
                for p in &posted {
                    match self.ingest(&m, p, now).await {
                        Ok(()) => {}
                        Err(IngestError::Retry(e)) => return Err(e),
                        Err(IngestError::Job(e)) => tracing::warn!(chain_job = %format!("{:#066x}", p.job_id),
                            error = %self.describe(&e), "chain job skipped"),
                    }
                }
            }
            let hash = self.access.chain.block_hash(to).await?;
            next = to + 1;
            store.set_meta(&self.cursor_key(), &next.to_string())?;
            if let Some(h) = hash {
                store.set_meta(&self.last_block_key(), &format!("{to}:{h:#x}"))?;
            }
        }
        Ok(())
    }

    /// When the last block read was replaced (or the chain is now shorter),
    /// rewinds the cursor by `reorg_depth` blocks and re-checks the jobs
    /// taken from them; returns the new cursor.
    async fn check_reorg(&self, head: u64) -> Result<Option<u64>> {
        let store = &self.state.store;
        let Some(last) = store.meta(&self.last_block_key())? else {
            return Ok(None);
        };
        let Some((number, hash)) = last.split_once(':') else {
            return Ok(None);
        };
        let number: u64 = number.parse().context("stored last block")?;
        let now = if number > head { None } else { self.access.chain.block_hash(number).await? };
        if now.map(|h| format!("{h:#x}")).as_deref() == Some(hash) {
            return Ok(None);
        }
        let from = number.saturating_sub(self.cfg.reorg_depth).max(self.cfg.start_block.unwrap_or(0));
        tracing::warn!(
            block = number,
            head,
            rewind_to = from,
            "chain reorganization: the last block read is no longer on the chain; re-reading"
        );
        let m = market(&self.access, self.contracts);
        for job in store.chain_jobs_since(from)? {
            if let Err(e) = self.recheck(&m, &job).await {
                tracing::warn!(job = %job.id, error = %self.describe(&e), "re-checking a chain job after a reorganization");
            }
        }
        store.set_meta(&self.cursor_key(), &from.to_string())?;
        store.set_meta(&self.last_block_key(), "")?;
        Ok(Some(from))
    }

    /// After a reorganization: a job whose posting is gone is failed (never
    /// submitted); one whose settlement is gone is submitted again.
    async fn recheck(&self, m: &Market<'_>, job: &JobRecord) -> Result<()> {
        let job_id = job.chain.as_ref().context("not a chain job")?.job_id;
        if !self.posting_matches(m, job, job_id).await? {
            tracing::warn!(job = %job.id, chain_job = %job_id, state = job.state.name(),
                "chain job orphaned by a reorganization");
            self.state
                .store
                .orphan(&job.id, "orphaned by a chain reorganization: the posting is no longer on chain")?;
        } else if matches!(job.state, JobState::Settled | JobState::Submitted) {
            let on_chain = m.job(job_id).await?;
            if on_chain.state() == JobStatus::Open {
                tracing::warn!(job = %job.id, chain_job = %job_id, "settlement undone by a reorganization: submitting again");
                self.state.store.unsettle(&job.id)?;
            }
        }
        self.state.publish(&job.id);
        Ok(())
    }

    /// Whether the chain's job `job_id` is still the posting `job` was taken from.
    async fn posting_matches(&self, m: &Market<'_>, job: &JobRecord, job_id: U256) -> Result<bool> {
        let Some(want) = job.idempotency_key.as_deref().and_then(posting_of_key) else {
            return Ok(true); // taken by an older node version: no hash to compare
        };
        let j = m.job(job_id).await?;
        if j.poster == Address::ZERO {
            return Ok(false);
        }
        let inputs = m.inputs(job_id).await?;
        Ok(posting_hash(job_id, j.modelId, j.poster, j.bounty, j.deadline, &inputs) == want)
    }

    /// Queues one posted job if this node serves its model and it is worth taking.
    async fn ingest(&self, m: &Market<'_>, p: &PostedJob, now: u64) -> std::result::Result<(), IngestError> {
        let job_ref = format!("{:#066x}", p.job_id);
        let posting = posting_hash(p.job_id, p.model_id, p.poster, p.bounty, p.deadline, &p.inputs);
        let key = chain_key(&job_ref, &posting);
        let store = &self.state.store;
        let taken = store.chain_jobs_for(&job_ref).map_err(IngestError::store)?;
        // The same posting (a re-read block), or a job taken by an older version (key without hash).
        let posting_of = |j: &JobRecord| j.idempotency_key.as_deref().and_then(posting_of_key).is_some();
        if taken.iter().any(|j| j.idempotency_key.as_deref() == Some(&*key) || !posting_of(j)) {
            return Ok(());
        }
        for old in taken.iter().filter(|j| !matches!(j.state, JobState::Failed | JobState::Cancelled)) {
            tracing::warn!(job = %old.id, chain_job = %job_ref, "chain job id now names another posting (reorganization): the old job is orphaned");
            store
                .orphan(&old.id, "orphaned by a chain reorganization: the job id names another posting now")
                .map_err(IngestError::store)?;
            self.state.publish(&old.id);
        }
        let model_id = to_hex(p.model_id);
        let Some(model) = self.state.models.get(&model_id) else {
            tracing::debug!(job = %job_ref, model = %model_id, "chain job for a model this node does not serve");
            return Ok(());
        };
        if p.deadline <= now {
            tracing::info!(job = %job_ref, deadline = p.deadline, "chain job already expired: skipped");
            return Ok(());
        }
        let min = self.min_bounty_for(&model_id);
        if p.bounty < min {
            tracing::info!(job = %job_ref, bounty = %p.bounty, min_bounty = %min, "chain job bounty below the minimum: skipped");
            return Ok(());
        }
        let open = store.open_chain_jobs_of(p.poster).map_err(IngestError::store)?;
        if open >= self.cfg.max_jobs_per_poster {
            tracing::info!(job = %job_ref, poster = %p.poster, open, "chain job skipped: its poster has max_jobs_per_poster jobs open here");
            return Ok(());
        }
        // Read from an old block (a first start, a node that was down): it may be gone.
        let status = match m.job(p.job_id).await {
            Ok(j) => j.state(),
            Err(e) if is_transport(&e) => return Err(IngestError::Retry(e.into())),
            Err(e) => return Err(IngestError::Job(e.into())),
        };
        if status != JobStatus::Open {
            tracing::info!(job = %job_ref, ?status, "chain job no longer open: skipped");
            return Ok(());
        }
        let input = chain_input(&model.prover.verifier.model, &p.inputs);
        let rec = JobRecord {
            job_ref: Some(job_ref.clone()),
            idempotency_key: Some(key),
            chain: Some(ChainPosting { job_id: p.job_id, bounty: p.bounty, poster: p.poster, block: p.block }),
            ..JobRecord::queued(
                random_id(),
                model_id,
                JobInput::Quantized(input.as_ref().cloned().unwrap_or_default()),
                binding(p.job_id, self.access.prover),
            )
        };
        // Room is counted over queued and proving jobs, in the insert's transaction.
        let limit = (self.state.queue_capacity, &[JobState::Queued, JobState::Proving][..]);
        let Some((rec, dup)) = store.insert_within(&rec, Some(limit)).map_err(IngestError::store)? else {
            tracing::info!(job = %job_ref, capacity = self.state.queue_capacity, "chain job skipped: the queue is full");
            return Ok(());
        };
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
                store.fail(&rec.id, &reason).map_err(IngestError::store)?;
            }
        }
        self.state.publish(&rec.id);
        Ok(())
    }

    /// Submits every proved chain job (and re-checks those left `submitted`).
    /// One job's error is logged and the others go on; a transport error
    /// ends the round (the next poll retries).
    async fn submit_ready(&self) -> Result<()> {
        for job in self.state.store.chain_pending()? {
            let r = self.submit(&job).await;
            self.state.publish(&job.id);
            if let Err(e) = r {
                let transport = e.downcast_ref::<VerifierError>().is_some_and(is_transport);
                if transport {
                    return Err(e);
                }
                tracing::warn!(job = %job.id, chain_job = ?job.job_ref, error = %self.describe(&e),
                    "submitting a chain job (the others go on)");
            }
        }
        Ok(())
    }

    async fn submit(&self, job: &JobRecord) -> Result<()> {
        let store = &self.state.store;
        let m = market(&self.access, self.contracts);
        let Some(ChainPosting { job_id, bounty, .. }) = job.chain.clone() else {
            return Ok(()); // chain_pending lists chain jobs only
        };
        if job.state == JobState::Submitted && self.settled_by_us(&m, job, job_id).await? {
            return Ok(());
        }
        if !self.posting_matches(&m, job, job_id).await? {
            tracing::warn!(job = %job.id, chain_job = %job_id, "the posting is no longer on chain (reorganization): not submitted");
            store.orphan(&job.id, "orphaned by a chain reorganization: the posting is no longer on chain")?;
            return Ok(());
        }
        let (outputs, proof) = match self.submission(job, store.proof(&job.id)?.map(|p| p.proof_json)) {
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
                store.settle(&job.id, Some(r.tx_hash))?;
                self.state.metrics.submission(true, r.gas_used);
                tracing::info!(job = %job.id, chain_job = %job_id, %bounty, gas = r.gas_used,
                    tx = %r.tx_hash, "chain job settled");
            }
            Err(VerifierError::Reverted { reason, .. }) => {
                if !self.settled_by_us(&m, job, job_id).await? {
                    tracing::warn!(job = %job.id, chain_job = %job_id, %reason, "the market rejected the proof");
                    self.state.metrics.submission(false, 0);
                    store.fail(&job.id, &format!("the market rejected the proof: {reason}"))?;
                }
            }
            // Transport errors: the job stays `submitted`; the next poll checks the chain first.
            Err(e) => return Err(e).context("submitProof"),
        }
        Ok(())
    }

    /// The outputs and proof bytes of a job's stored proof file, checked against the
    /// model it was proved for (the statement's layout is the model's).
    fn submission(
        &self,
        job: &JobRecord,
        proof_json: Option<String>,
    ) -> std::result::Result<(Vec<U256>, Vec<u8>), String> {
        let json = proof_json.ok_or("no proof stored")?;
        let file = ProofFile::from_json(json.as_bytes())?;
        let m = self
            .state
            .models
            .get(&job.model_id)
            .ok_or_else(|| format!("model {} is no longer served", job.model_id))?;
        let v = &m.prover.verifier;
        let st = file.check(&v.model, &v.model_id).map_err(|e| e.to_string())?;
        Ok((st.outputs().iter().map(fr_to_u256).collect(), st.proof))
    }

    /// Whether the market already paid this node for the job (a submission
    /// that landed before a crash or a lost receipt); records it if so.
    async fn settled_by_us(&self, m: &Market<'_>, job: &JobRecord, job_id: U256) -> Result<bool> {
        let on_chain = m.job(job_id).await?;
        if on_chain.state() == JobStatus::Settled && on_chain.prover == self.access.prover {
            if job.state == JobState::Proved {
                self.state.store.mark_submitted(&job.id)?;
            }
            self.state.store.settle(&job.id, None)?;
            tracing::info!(job = %job.id, chain_job = %job_id, "chain job was already settled to this node");
            return Ok(true);
        }
        Ok(false)
    }
}

/// Why a posted job was not ingested.
enum IngestError {
    /// The chain or the store failed: read the same blocks again later.
    Retry(anyhow::Error),
    /// Something about this job: skip it.
    Job(anyhow::Error),
}

impl IngestError {
    fn store(e: StoreError) -> IngestError {
        IngestError::Retry(e.into())
    }
}

/// The signed fixed-point input of a chain job: its on-chain inputs (field elements
/// `q mod r`) decoded, or why they are no input of `model` (a count that is not the
/// model's, a value outside its input range: the node proves exactly what was posted).
pub fn chain_input(model: &QModel, inputs: &[U256]) -> std::result::Result<Vec<i64>, String> {
    if inputs.len() != model.input_len() {
        return Err(format!("the job has {} inputs, the model takes {}", inputs.len(), model.input_len()));
    }
    let q = inputs
        .iter()
        .enumerate()
        .map(|(i, &x)| u256_to_int(x).map_err(|_| format!("input[{i}] is out of the model's input range")))
        .collect::<std::result::Result<Vec<i64>, String>>()?;
    JobInput::Quantized(q).quantized(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_urls_are_logged_without_secrets() {
        let url = "https://user:pa55word@eth.example.com:8545/v2/AbCdEf0123456789?key=sEcReT1234";
        assert_eq!(redact_url(url), "https://eth.example.com:8545/…");
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        let msg = format!("error sending request for url ({url}): connection refused");
        let r = redact(&msg, url);
        for secret in ["pa55word", "AbCdEf0123456789", "sEcReT1234", "user:"] {
            assert!(!r.contains(secret), "{r}");
        }
        assert!(r.contains("eth.example.com:8545") && r.contains("connection refused"), "{r}");
        // The HTTP client quotes the URL normalized: the path alone is redacted too.
        let r = redact("for url (https://eth.example.com:8545/v2/AbCdEf0123456789?key=sEcReT1234)", url);
        assert!(!r.contains("AbCdEf0123456789") && !r.contains("sEcReT1234"), "{r}");
    }

    #[test]
    fn the_default_minimum_bounty_covers_the_settlement_gas() {
        let c = ChainConfig::default();
        assert_eq!(c.default_min_bounty().unwrap(), U256::from(1_200_000u64) * U256::from(1_000_000_000u64));
        let c = ChainConfig { min_bounty: "7".into(), ..Default::default() };
        assert_eq!(c.default_min_bounty().unwrap(), U256::from(7u64));
        let id = format!("0x{}", "Ab".repeat(32));
        let c = ChainConfig { min_bounty_per_model: [(id.clone(), "42".into())].into(), ..Default::default() };
        assert_eq!(c.min_bounties().unwrap()[&id.to_ascii_lowercase()], U256::from(42u64));
        let c = ChainConfig { min_bounty_per_model: [("mlp".into(), "42".into())].into(), ..Default::default() };
        assert!(c.min_bounties().unwrap_err().to_string().contains("`mlp` is not a model id"));
        let c = ChainConfig { gas_price: "cheap".into(), ..Default::default() };
        assert!(c.default_min_bounty().unwrap_err().to_string().contains("gas_price `cheap`"));
    }
}
