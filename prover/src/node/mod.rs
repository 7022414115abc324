//! The prover node: gRPC API (`zkinfer.v1.ProverService`, health, reflection),
//! SQLite job store, bounded worker pool, chain watcher.

pub mod metrics;
pub mod models;
pub mod net;
pub mod service;
pub mod status;
pub mod store;
pub mod watcher;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tokio::sync::{Notify, broadcast, watch};
use tonic::transport::Server;
use zkinfer_circuits::proof_file::ProofFile;
use zkinfer_proto::v1::prover_service_server::ProverServiceServer;

use self::models::{Models, remove_partial_uploads};
use self::net::{ActivityLayer, ConnLimits, Listener};
use self::service::{NodeState, Service};
use self::store::{JobRecord, JobStore, StoreHealth, StoredProof};
use self::watcher::{ChainAccess, ChainConfig, Watcher};

/// Default gRPC message limit: uploads carry proving keys.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Longest bearer token accepted in the config.
const MAX_TOKEN_LEN: usize = 4096;

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
    /// Bearer tokens that may also call `RegisterModel` (uploads are refused
    /// when there is none).
    pub admin_tokens: Vec<String>,
    /// Largest k (log2 of the rows) of an uploaded model's circuit.
    pub max_upload_k: u32,
    /// Proving workers (0 = from the machine's memory and cores).
    pub workers: usize,
    /// Most queued jobs before SubmitJob answers RESOURCE_EXHAUSTED; chain
    /// jobs are taken only while fewer jobs than this are queued or proving.
    pub queue_capacity: u64,
    /// Largest gRPC message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most open connections (0 = the file-descriptor limit minus 64, at most 4096).
    pub max_connections: usize,
    /// A connection must send its first request within this time (TLS and
    /// HTTP/2 handshakes included), in milliseconds.
    pub handshake_timeout_ms: u64,
    /// A connection without a request in flight for this long is closed, in milliseconds.
    pub idle_timeout_ms: u64,
    /// On SIGTERM, how long to wait for open calls and the proofs in flight
    /// before exiting anyway (an unfinished proof is redone at the next start), in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// TLS certificate chain (PEM); with `tls_key`, the node serves gRPC over
    /// TLS (rustls) only.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The chain watcher (off when absent).
    pub chain: Option<ChainConfig>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (no token: bind it to a private
    /// address); off when absent.
    pub metrics_listen: Option<String>,
    /// Log lines as JSON objects (one per line) instead of text.
    pub log_json: bool,
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

    /// Checks the settings that flags and TOML cannot check by type.
    pub fn check(&self) -> Result<()> {
        for (list, what) in [(&self.tokens, "token"), (&self.admin_tokens, "admin token")] {
            for t in list.iter() {
                if t.is_empty() {
                    bail!("an empty {what} is not allowed (it would let a bare `Bearer ` through)");
                }
                if t.len() > MAX_TOKEN_LEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                    bail!("a {what} must be 1-{MAX_TOKEN_LEN} printable ASCII characters without spaces");
                }
            }
        }
        if !(1..=zkinfer_circuits::prove::MAX_CIRCUIT_K).contains(&self.max_upload_k) {
            bail!("max_upload_k must be in 1..={}", zkinfer_circuits::prove::MAX_CIRCUIT_K);
        }
        for (v, what) in [
            (self.handshake_timeout_ms, "handshake_timeout_ms"),
            (self.idle_timeout_ms, "idle_timeout_ms"),
            (self.shutdown_timeout_ms, "shutdown_timeout_ms"),
        ] {
            if v == 0 {
                bail!("{what} must be at least 1");
            }
        }
        Ok(())
    }

    /// The connection limits.
    pub fn conn_limits(&self) -> ConnLimits {
        ConnLimits {
            max_connections: if self.max_connections == 0 {
                net::default_max_connections()
            } else {
                self.max_connections
            },
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: "127.0.0.1:50051".into(),
            data_dir: PathBuf::from("zkinfer-data"),
            models: None,
            tokens: Vec::new(),
            admin_tokens: Vec::new(),
            max_upload_k: 20,
            workers: 0,
            queue_capacity: 10_000,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: 0,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            shutdown_timeout_ms: 30_000,
            tls_cert: None,
            tls_key: None,
            chain: None,
            metrics_listen: None,
            log_json: false,
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
    workers: Vec<std::thread::JoinHandle<()>>,
}

/// Opens the store, re-queues interrupted jobs, loads the models and starts the workers.
pub fn start(cfg: &NodeConfig) -> Result<NodeHandle> {
    cfg.check()?;
    let uploaded = cfg.data_dir.join("models");
    std::fs::create_dir_all(&uploaded).with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let db = cfg.data_dir.join("jobs.db");
    let store = Arc::new(JobStore::open(&db).with_context(|| format!("opening the job store {}", db.display()))?);
    if let StoreHealth::Corrupt(reason) = &*store.health().borrow() {
        tracing::error!(%reason, "the job store is corrupted: health is NOT_SERVING and job calls answer UNAVAILABLE; \
            restore jobs.db from a backup (or `sqlite3 jobs.db .recover`) and restart");
    }
    if let Some(lost) = store.lost_jobs() {
        tracing::error!(
            acknowledged_seq = lost.acked_seq,
            store_seq = lost.store_seq,
            lost = lost.acked_seq - lost.store_seq,
            "the job store lost jobs it had acknowledged (jobs.db-wal truncated or removed?): \
             clients must resubmit them (their idempotency keys are free again)"
        );
    }
    match store.requeue_interrupted() {
        Ok(n) if n > 0 => tracing::warn!(requeued = n, "jobs interrupted by the last shutdown are queued again"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "re-queueing interrupted jobs"),
    }
    match remove_partial_uploads(&uploaded) {
        Ok(n) if n > 0 => tracing::warn!(removed = n, "unfinished model uploads removed"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "removing unfinished uploads"),
    }
    let backend = zkinfer_gpu::selected();
    tracing::info!(backend = backend.kind, reason = %backend.reason, "proving backend");
    let models = Arc::new(Models::default());
    let roots = cfg.models.iter().map(|r| (r, zkinfer_circuits::prove::MAX_CIRCUIT_K));
    for (root, max_k) in roots.chain(std::iter::once((&uploaded, cfg.max_upload_k))) {
        let (n, failed) = models.load_all(root, max_k)?;
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
        max_upload_k: cfg.max_upload_k,
        uploads_enabled: !cfg.admin_tokens.is_empty(),
        shutdown: watch::channel(false).0,
        unstored: Mutex::new(HashMap::new()),
        metrics: Default::default(),
    });
    let mut handles = Vec::new();
    for i in 0..workers {
        let state = state.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("prover-{i}"))
                .spawn(move || worker(state))
                .context("starting a worker thread")?,
        );
    }
    let probe = state.clone();
    handles.push(
        std::thread::Builder::new()
            .name("store-probe".into())
            .spawn(move || probe_store(probe))
            .context("starting the store probe thread")?,
    );
    Ok(NodeHandle { state, workers: handles })
}

impl NodeHandle {
    /// Stops taking queued jobs, lets in-flight proofs finish, then stops the workers.
    pub fn stop(self) {
        self.stop_within(Duration::MAX);
    }

    /// [`NodeHandle::stop`], waiting at most `limit` for the proofs in
    /// flight; returns whether every worker stopped (an unfinished proof is
    /// left `proving` and queued again at the next start).
    pub fn stop_within(self, limit: Duration) -> bool {
        self.state.begin_shutdown();
        let t = Instant::now();
        while !self.workers.iter().all(|w| w.is_finished()) {
            if t.elapsed() >= limit {
                let running = self.workers.iter().filter(|w| !w.is_finished()).count();
                tracing::warn!(
                    running,
                    limit_ms = limit.as_millis() as u64,
                    "proofs still running at the shutdown limit: exiting without them (they are redone at the next start)"
                );
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for w in self.workers {
            let _ = w.join();
        }
        true
    }
}

/// While the store is failing (disk full, I/O errors), probes it every second
/// until a probe write succeeds.
fn probe_store(state: Arc<NodeState>) {
    while !state.is_stopping() {
        // (The health borrow must end before the probe updates it.)
        let failing = matches!(*state.store.health().borrow(), StoreHealth::Full(_) | StoreHealth::Failing(_));
        if failing && state.store.probe() {
            tracing::info!("the job store takes writes again");
            state.queued.notify_waiters();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A worker: claims the oldest queued job, proves it, stores the proof. It
/// takes no job while the store cannot write or once shutdown began.
fn worker(state: Arc<NodeState>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "a worker could not start its runtime");
            return;
        }
    };
    let idle = |ms| {
        rt.block_on(async {
            let wake = async {
                tokio::select! {
                    _ = state.queued.notified() => {}
                    _ = state.stopped() => {}
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(ms), wake).await;
        })
    };
    while !state.is_stopping() {
        if !state.store.writable() {
            idle(500);
            continue;
        }
        let job = match state.store.claim_next() {
            Ok(Some(j)) => j,
            Ok(None) => {
                idle(500);
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "claiming a job");
                idle(1000);
                continue;
            }
        };
        state.publish(&job.id);
        let t = Instant::now();
        match prove_job(&state, &job) {
            Ok(p) => {
                let model = state.models.get(&job.model_id).map_or_else(|| job.model_id.clone(), |m| m.name.clone());
                state.metrics.proved(&model, (p.prove_ms + p.witness_ms) / 1e3);
                persist(&state, &job, || {
                    state.store.complete(&job.id, &p).map(|s| {
                        tracing::info!(job = %job.id, state = s.name(), prove_ms = p.prove_ms,
                            total_ms = t.elapsed().as_millis() as u64, "job proved");
                    })
                })
            }
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "job failed");
                state.metrics.failed(&e);
                persist(&state, &job, || state.store.fail(&job.id, &e));
            }
        }
        state.publish(&job.id);
    }
}

/// Records a proving outcome; when the store cannot take it, puts the job
/// back in the queue (so it never stays `proving`), and when not even that
/// can be written, retries both every second until one succeeds or shutdown
/// (a job left `proving` by a shutdown is queued again at the next start).
fn persist(state: &NodeState, job: &JobRecord, record: impl Fn() -> std::result::Result<(), store::StoreError>) {
    let mut logged = false;
    loop {
        let e = match record() {
            Ok(()) => break,
            Err(e) => e,
        };
        let reason = format!("the result could not be stored ({e}); the job is queued again");
        state.unstored.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id.clone(), reason.clone());
        if !logged {
            state.metrics.store_error();
            tracing::error!(job = %job.id, error = %e, "storing a job's result");
            logged = true;
        }
        if let Ok(requeued) = state.store.requeue(&job.id, &reason) {
            if requeued {
                tracing::warn!(job = %job.id, "job queued again: its result could not be stored");
            }
            break;
        }
        if state.is_stopping() {
            tracing::warn!(job = %job.id, "shutdown with a result not stored: the job is redone at the next start");
            break;
        }
        state.publish(&job.id);
        std::thread::sleep(Duration::from_secs(1));
    }
    state.unstored.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.id);
}

fn prove_job(state: &NodeState, job: &JobRecord) -> std::result::Result<StoredProof, String> {
    let m = state.models.get(&job.model_id).ok_or_else(|| format!("model {} is no longer served", job.model_id))?;
    let v = &m.prover.verifier;
    let t0 = Instant::now();
    let input = job.input.quantized(&v.model)?;
    let proved = m.prover.prove(&input, job.binding).map_err(|e| format!("proving: {e}"))?;
    let total_ms = t0.elapsed().as_secs_f64() * 1e3;
    let file =
        ProofFile::new(&v.model, &v.model_id, v.info.k, v.info.insecure_srs, input, &proved, job.binding, total_ms);
    let proof_json = serde_json::to_string(&file).map_err(|e| e.to_string())?;
    Ok(StoredProof {
        proof_json,
        prove_ms: proved.prove_time.as_secs_f64() * 1e3,
        witness_ms: proved.witness_time.as_secs_f64() * 1e3,
    })
}

/// What a request's token allows (set by [`Auth`] in the request's extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Every call but `RegisterModel`.
    User,
    /// Every call.
    Admin,
}

/// Checks `authorization: Bearer <token>` against the configured tokens and
/// records the caller's [`Role`].
#[derive(Clone)]
pub struct Auth {
    tokens: Arc<Vec<String>>,
    admin_tokens: Arc<Vec<String>>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: tonic::Request<()>) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        let header = req.metadata().get("authorization");
        let role =
            match header {
                None if self.tokens.is_empty() => Role::User,
                None => return Err(tonic::Status::unauthenticated("missing `authorization: Bearer <token>`")),
                Some(v) => {
                    let given =
                        v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).filter(|t| !t.is_empty()).ok_or_else(
                            || tonic::Status::unauthenticated("`authorization` must be `Bearer <token>`"),
                        )?;
                    let known = |list: &[String]| list.iter().any(|t| constant_time_eq(t.as_bytes(), given.as_bytes()));
                    if known(&self.admin_tokens) {
                        Role::Admin
                    } else if known(&self.tokens) {
                        Role::User
                    } else {
                        return Err(tonic::Status::unauthenticated("invalid token"));
                    }
                }
            };
        req.extensions_mut().insert(role);
        Ok(req)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves the node on `listener` until `shutdown` resolves. Then it takes no
/// more queued jobs (they wait for the next start), ends `WatchJob` streams
/// (UNAVAILABLE), and waits at most `shutdown_timeout_ms` for open calls and
/// the proofs in flight. With a `[chain]` config, the chain watcher runs too.
pub async fn serve(cfg: NodeConfig, listener: Listener, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    let access = match &cfg.chain {
        Some(c) => Some(c.connect().await?),
        None => None,
    };
    serve_with_chain(cfg, listener, shutdown, access).await
}

/// The node's tasks beside the gRPC server: the metrics and status page server
/// (when `metrics_listen` is set) and the chain watcher (when there is a chain);
/// both end on the node's shutdown signal.
#[allow(clippy::type_complexity)]
async fn start_tasks(
    cfg: &NodeConfig,
    state: &Arc<NodeState>,
    access: Option<ChainAccess>,
) -> Result<(Option<tokio::task::JoinHandle<std::io::Result<()>>>, Option<tokio::task::JoinHandle<()>>)> {
    let metrics_server = match &cfg.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("metrics address {addr}: {e}"))?;
            tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "metrics at /metrics");
            Some(tokio::spawn(metrics::serve(listener, state.clone(), state.stopped())))
        }
        None => None,
    };
    let watcher = match access {
        Some(a) => match Watcher::new(a, state.clone(), cfg.chain.clone().unwrap_or_default()).await {
            Ok(w) => Some(tokio::spawn(w.run(state.shutdown.subscribe()))),
            Err(e) => {
                if let Some(m) = metrics_server {
                    m.abort();
                }
                return Err(e);
            }
        },
        None => None,
    };
    Ok((metrics_server, watcher))
}

/// [`serve`] with the chain watcher on `access` (e.g. an embedded chain)
/// instead of the one `cfg.chain` would connect to; `cfg.chain` still gives
/// the watcher's settings (defaults when absent).
pub async fn serve_with_chain(
    cfg: NodeConfig,
    listener: Listener,
    shutdown: impl Future<Output = ()> + Send,
    access: Option<ChainAccess>,
) -> Result<()> {
    cfg.check()?;
    let tls = cfg.tls()?;
    let handle = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || start(&cfg)).await??
    };
    let state = handle.state.clone();
    let (metrics_server, watcher) = match start_tasks(&cfg, &state, access).await {
        Ok(t) => t,
        Err(e) => {
            tokio::task::spawn_blocking(move || handle.stop()).await?;
            return Err(e);
        }
    };
    let auth = Auth { tokens: Arc::new(cfg.tokens.clone()), admin_tokens: Arc::new(cfg.admin_tokens.clone()) };
    let svc = ProverServiceServer::new(Service { state: state.clone() })
        .max_decoding_message_size(cfg.max_message_bytes)
        .max_encoding_message_size(cfg.max_message_bytes);
    let svc = tonic::service::interceptor::InterceptedService::new(svc, auth);
    let (health, health_svc) = tonic_health::server::health_reporter();
    // The first status is set before the first connection is accepted.
    if state.store.health().borrow().problem().is_none() {
        health.set_serving::<ProverServiceServer<Service>>().await;
    } else {
        health.set_not_serving::<ProverServiceServer<Service>>().await;
    }
    let health_task = tokio::spawn(report_health(state.clone(), health));
    // Reflection in both versions: grpcurl and newer tools speak v1; the official Python
    // client (grpcio-reflection) and other older tools only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(zkinfer_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().context("reflection service")?;
    let reflection_v1alpha = reflection().build_v1alpha().context("reflection service (v1alpha)")?;
    let limits = cfg.conn_limits();
    tracing::info!(
        max_connections = limits.max_connections,
        fd_limit = net::fd_limit(),
        handshake_timeout_ms = cfg.handshake_timeout_ms,
        idle_timeout_ms = cfg.idle_timeout_ms,
        "connection limits"
    );
    let incoming = listener.accept_limited(limits).context("listening socket")?;
    let mut server = Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls).context("TLS certificate or key")?;
    }
    // The caller's shutdown future begins the node's shutdown; the server drains on the node's signal.
    let signalled = {
        let state = state.clone();
        async move {
            tokio::select! {
                _ = shutdown => {
                    tracing::info!("shutting down: no new jobs are started, WatchJob streams end, open calls finish");
                    state.begin_shutdown();
                }
                _ = state.stopped() => {}
            }
        }
    };
    let server = server
        .layer(ActivityLayer)
        .add_service(health_svc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, signalled);
    let limit = Duration::from_millis(cfg.shutdown_timeout_ms);
    let stopped = state.stopped();
    tokio::select! {
        r = server => r.context("gRPC server")?,
        _ = async { stopped.await; tokio::time::sleep(limit).await; } => {
            tracing::warn!(limit_ms = cfg.shutdown_timeout_ms, "calls still open at the shutdown limit: closing them");
        }
    }
    let t = Instant::now();
    // (The server ends only after shutdown began; the watcher has its signal.)
    state.begin_shutdown();
    if let Some(w) = watcher {
        let _ = tokio::time::timeout(limit, w).await;
    }
    health_task.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    let left = limit.saturating_sub(t.elapsed()).max(Duration::from_millis(100));
    tracing::info!("waiting for the proofs in flight");
    tokio::task::spawn_blocking(move || handle.stop_within(left)).await?;
    Ok(())
}

/// Keeps the health service's status in step with the store: SERVING while
/// it takes writes, NOT_SERVING (with the reason in the log) while it does
/// not, and from the start of shutdown on.
async fn report_health(state: Arc<NodeState>, health: tonic_health::server::HealthReporter) {
    let mut store = state.store.health();
    let mut shutdown = state.shutdown.subscribe();
    let mut last: Option<bool> = None;
    loop {
        let problem = store.borrow_and_update().problem().map(str::to_string);
        let serving = problem.is_none() && !*shutdown.borrow_and_update();
        if last != Some(serving) {
            if serving {
                health.set_serving::<ProverServiceServer<Service>>().await;
                if last.is_some() {
                    tracing::info!("health: SERVING");
                }
            } else {
                health.set_not_serving::<ProverServiceServer<Service>>().await;
                match &problem {
                    Some(p) => tracing::error!(reason = %p, "health: NOT_SERVING (the job store cannot write)"),
                    None => tracing::info!("health: NOT_SERVING (shutting down)"),
                }
            }
            last = Some(serving);
        }
        tokio::select! {
            r = store.changed() => if r.is_err() { return },
            r = shutdown.changed() => if r.is_err() { return },
        }
    }
}

/// Binds `addr` (port 0 picks a free one).
pub fn bind(addr: &str) -> Result<(Listener, SocketAddr)> {
    let addr: SocketAddr = addr.parse().with_context(|| format!("listen address `{addr}`"))?;
    let listener = Listener::bind(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((listener, local))
}
