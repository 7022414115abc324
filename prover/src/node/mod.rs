//! The prover node: gRPC API (`zkinfer.v1.ProverService`, health, reflection),
//! SQLite job store, bounded worker pool, chain watcher.

pub mod models;
pub mod service;
pub mod store;
pub mod watcher;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_circuits::prove::fr_from_hex;
use zkinfer_proto::v1::prover_service_server::ProverServiceServer;

use self::models::Models;
use self::service::{NodeState, Service};
use self::store::{JobRecord, JobStore, StoredProof};
use self::watcher::{ChainAccess, ChainConfig, Watcher};

/// Default gRPC message limit: uploads carry proving keys.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Node settings: flags, or a TOML file with the same keys.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Address to listen on.
    pub listen: String,
    /// Job store and uploaded models.
    pub data_dir: PathBuf,
    /// Set-up model directories found directly under it are served.
    pub models: Option<PathBuf>,
    /// Bearer tokens; when empty, no authentication (only sensible on loopback).
    pub tokens: Vec<String>,
    /// Proving workers (0 = from the machine's memory and cores).
    pub workers: usize,
    /// Most queued jobs before SubmitJob answers RESOURCE_EXHAUSTED.
    pub queue_capacity: u64,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// TLS certificate chain (PEM); with `tls_key`, the node serves gRPC over
    /// TLS (rustls) only.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The chain watcher (off when absent).
    pub chain: Option<ChainConfig>,
}

impl NodeConfig {
    /// The TLS settings, or `None` for plaintext; an error names a missing or
    /// unreadable file.
    pub fn tls(&self) -> Result<Option<tonic::transport::ServerTlsConfig>> {
        use tonic::transport::{Identity, ServerTlsConfig};
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).with_context(|| format!("reading the TLS {what} {}", p.display()))
        };
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (read(c, "certificate")?, read(k, "key")?),
            _ => anyhow::bail!("TLS needs both tls_cert and tls_key"),
        };
        Ok(Some(ServerTlsConfig::new().identity(Identity::from_pem(cert, key))))
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: "127.0.0.1:50051".into(),
            data_dir: PathBuf::from("zkinfer-data"),
            models: None,
            tokens: Vec::new(),
            workers: 0,
            queue_capacity: 10_000,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            tls_cert: None,
            tls_key: None,
            chain: None,
        }
    }
}

/// Workers that fit the machine: one per 2 cores, at least one.
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores / 2).max(1)
}

/// A running node's shared state and how to stop its workers.
pub struct NodeHandle {
    /// Shared state.
    pub state: Arc<NodeState>,
    stopping: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// Opens the store, re-queues interrupted jobs, loads the models and starts the workers.
pub fn start(cfg: &NodeConfig) -> Result<NodeHandle> {
    std::fs::create_dir_all(cfg.data_dir.join("models"))
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store = Arc::new(JobStore::open(&cfg.data_dir.join("jobs.db")).context("opening the job store")?);
    let requeued = store.requeue_interrupted()?;
    if requeued > 0 {
        tracing::warn!(requeued, "jobs interrupted by the last shutdown are queued again");
    }
    let backend = zkinfer_gpu::selected();
    tracing::info!(backend = backend.kind, reason = %backend.reason, "proving backend");
    let models = Arc::new(Models::default());
    let uploaded = cfg.data_dir.join("models");
    for root in cfg.models.iter().chain(std::iter::once(&uploaded)) {
        let (n, failed) = models.load_all(root)?;
        tracing::info!(dir = %root.display(), models = n, "models loaded");
        for f in failed {
            tracing::warn!(problem = %f, "model not served");
        }
    }
    let workers = if cfg.workers == 0 { default_workers() } else { cfg.workers };
    let (changes, _) = broadcast::channel(1024);
    let state = Arc::new(NodeState {
        store,
        models,
        queued: Arc::new(Notify::new()),
        changes,
        data_dir: cfg.data_dir.clone(),
        queue_capacity: cfg.queue_capacity,
        workers: workers as u32,
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let handles = (0..workers)
        .map(|i| {
            let (state, stopping) = (state.clone(), stopping.clone());
            std::thread::Builder::new()
                .name(format!("prover-{i}"))
                .spawn(move || worker(state, stopping))
                .expect("spawn a worker thread")
        })
        .collect();
    Ok(NodeHandle { state, stopping, workers: handles })
}

impl NodeHandle {
    /// Lets in-flight proofs finish, then stops the workers.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.state.queued.notify_waiters();
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// A worker: claims the oldest queued job, proves it, stores the proof.
fn worker(state: Arc<NodeState>, stopping: Arc<AtomicBool>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("worker runtime");
    while !stopping.load(Ordering::SeqCst) {
        let job = match state.store.claim_next() {
            Ok(Some(j)) => j,
            Ok(None) => {
                // Sleep until a job is queued (or poll again after a while).
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_millis(500), state.queued.notified()).await;
                });
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a job");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        state.publish(&job.id);
        let t = Instant::now();
        match prove_job(&state, &job) {
            Ok(p) => match state.store.complete(&job.id, &p) {
                Ok(s) => {
                    tracing::info!(job = %job.id, state = s.name(), prove_ms = p.prove_ms, total_ms = t.elapsed().as_millis() as u64, "job proved")
                }
                Err(e) => tracing::error!(job = %job.id, error = %e, "storing a proof"),
            },
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "job failed");
                if let Err(e) = state.store.fail(&job.id, &e) {
                    tracing::error!(job = %job.id, error = %e, "marking a job failed");
                }
            }
        }
        state.publish(&job.id);
    }
}

fn prove_job(state: &NodeState, job: &JobRecord) -> std::result::Result<StoredProof, String> {
    let m = state.models.get(&job.model_id).ok_or_else(|| format!("model {} is no longer served", job.model_id))?;
    let v = &m.prover.verifier;
    let t0 = Instant::now();
    let q = v.model.quantize_input(&job.input).map_err(|e| format!("input: {e}"))?;
    let binding = fr_from_hex(&job.binding).map_err(|e| format!("binding: {e}"))?;
    let proved = m.prover.prove(&q.values, binding).map_err(|e| format!("proving: {e}"))?;
    let total_ms = t0.elapsed().as_secs_f64() * 1e3;
    let file =
        ProofFile::new(&v.model, &v.model_id, v.info.k, v.info.insecure_srs, q.values, &proved, binding, total_ms);
    let proof_json = serde_json::to_string(&file).map_err(|e| e.to_string())?;
    Ok(StoredProof {
        proof_json,
        prove_ms: proved.prove_time.as_secs_f64() * 1e3,
        witness_ms: proved.witness_time.as_secs_f64() * 1e3,
    })
}

/// Checks `authorization: Bearer <token>` against the configured tokens.
#[derive(Clone)]
pub struct Auth {
    tokens: Arc<Vec<String>>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, req: tonic::Request<()>) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if self.tokens.is_empty() {
            return Ok(req);
        }
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| tonic::Status::unauthenticated("missing `authorization: Bearer <token>`"))?;
        if self.tokens.iter().any(|t| constant_time_eq(t.as_bytes(), given.as_bytes())) {
            Ok(req)
        } else {
            Err(tonic::Status::unauthenticated("invalid token"))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the node on `incoming` until `shutdown` resolves, then lets the
/// workers finish their proofs (queued jobs stay queued for the next start).
/// With a `[chain]` config, the chain watcher runs too.
pub async fn serve(cfg: NodeConfig, incoming: TcpIncoming, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    let access = match &cfg.chain {
        Some(c) => Some(c.connect().await?),
        None => None,
    };
    serve_with_chain(cfg, incoming, shutdown, access).await
}

/// [`serve`] with the chain watcher on `access` (e.g. an embedded chain)
/// instead of the one `cfg.chain` would connect to; `cfg.chain` still gives
/// the watcher's settings (defaults when absent).
pub async fn serve_with_chain(
    cfg: NodeConfig,
    incoming: TcpIncoming,
    shutdown: impl Future<Output = ()> + Send,
    access: Option<ChainAccess>,
) -> Result<()> {
    let tls = cfg.tls()?;
    let handle = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || start(&cfg)).await??
    };
    let (stop_watcher, stopped) = tokio::sync::watch::channel(false);
    let watcher = match access {
        Some(a) => {
            let w = match Watcher::new(a, handle.state.clone(), cfg.chain.clone().unwrap_or_default()).await {
                Ok(w) => w,
                Err(e) => {
                    tokio::task::spawn_blocking(move || handle.stop()).await?;
                    return Err(e);
                }
            };
            Some(tokio::spawn(w.run(stopped)))
        }
        None => None,
    };
    let auth = Auth { tokens: Arc::new(cfg.tokens.clone()) };
    let svc = ProverServiceServer::new(Service { state: handle.state.clone() })
        .max_decoding_message_size(cfg.max_message_bytes)
        .max_encoding_message_size(cfg.max_message_bytes);
    let svc = tonic::service::interceptor::InterceptedService::new(svc, auth);
    let (health, health_svc) = tonic_health::server::health_reporter();
    health.set_serving::<ProverServiceServer<Service>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zkinfer_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("reflection service")?;
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).context("TLS certificate or key")?;
    }
    let result = server
        .add_service(health_svc)
        .add_service(reflection)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    tracing::info!("stopped accepting requests; waiting for in-flight proofs");
    let _ = stop_watcher.send(true);
    if let Some(w) = watcher {
        let _ = w.await;
    }
    tokio::task::spawn_blocking(move || handle.stop()).await?;
    result.context("gRPC server")
}

/// Binds `addr` (port 0 picks a free one).
pub fn bind(addr: &str) -> Result<(TcpIncoming, SocketAddr)> {
    let addr: SocketAddr = addr.parse().with_context(|| format!("listen address `{addr}`"))?;
    let incoming = TcpIncoming::bind(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    let local = incoming.local_addr().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((incoming, local))
}
