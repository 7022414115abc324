//! `zkinfer node`: run a prover node.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::node::{self, NodeConfig};

/// Arguments of `zkinfer node`.
#[derive(Args)]
pub struct NodeArgs {
    /// TOML file with any of: listen, data_dir, models, tokens, admin_tokens,
    /// max_upload_k, workers, queue_capacity, max_message_bytes, max_connections,
    /// handshake_timeout_ms, idle_timeout_ms, shutdown_timeout_ms, tls_cert, tls_key,
    /// metrics_listen, log_json,
    /// and a [chain] table (rpc_url, market, key_file, key_env, start_block,
    /// poll_interval_ms, max_block_range, confirmations, reorg_depth, min_bounty,
    /// min_bounty_per_model, settle_gas, gas_price, max_jobs_per_poster); flags
    /// given here override it. See docs/node.md.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long)]
    listen: Option<String>,
    /// Directory of the job store (SQLite) and uploaded models [default: zkinfer-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Serve every set-up model directory found directly under DIR.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Accept requests carrying `authorization: Bearer TOKEN` (repeatable); without
    /// any token the node accepts every request.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// Accept RegisterModel (model uploads) from requests carrying this token
    /// (repeatable; it authorizes every other call too). Without one, uploads are refused.
    #[arg(long = "admin-token", value_name = "TOKEN")]
    admin_tokens: Vec<String>,
    /// Most open connections [default: the file-descriptor limit minus 64, at most 4096].
    #[arg(long)]
    max_connections: Option<usize>,
    /// On SIGTERM, wait at most this long for open calls and proofs in flight [default: 30000].
    #[arg(long, value_name = "MS")]
    shutdown_timeout_ms: Option<u64>,
    /// Proving workers [default: one per two cores].
    #[arg(long)]
    workers: Option<usize>,
    /// Most queued jobs before SubmitJob answers RESOURCE_EXHAUSTED [default: 10000].
    #[arg(long)]
    queue_capacity: Option<u64>,
    /// Run the chain watcher against this JSON-RPC URL: prove the jobs posted on
    /// the JobMarket (--market) for the models served here, submit the proofs and
    /// collect the bounties. The node's private key is read from $ZKINFER_CHAIN_KEY
    /// (or [chain] key_file / key_env in --config).
    #[arg(long, value_name = "URL", requires = "market")]
    chain_rpc: Option<String>,
    /// Serve over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address of the JobMarket contract for the chain watcher.
    #[arg(long, value_name = "ADDRESS")]
    market: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (no token: bind it to a private address).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// Log JSON objects, one per line, instead of text.
    #[arg(long)]
    log_json: bool,
}

/// Runs the node until SIGTERM or Ctrl-C.
pub fn run(a: NodeArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("[node] reading {}", p.display()))?;
            toml::from_str::<NodeConfig>(&text).with_context(|| format!("[node] {}", p.display()))?
        }
        None => NodeConfig::default(),
    };
    if let Some(v) = a.listen {
        cfg.listen = v;
    }
    if let Some(v) = a.data_dir {
        cfg.data_dir = v;
    }
    if a.models.is_some() {
        cfg.models = a.models;
    }
    if !a.tokens.is_empty() {
        cfg.tokens = a.tokens;
    }
    if !a.admin_tokens.is_empty() {
        cfg.admin_tokens = a.admin_tokens;
    }
    if let Some(v) = a.max_connections {
        cfg.max_connections = v;
    }
    if let Some(v) = a.shutdown_timeout_ms {
        cfg.shutdown_timeout_ms = v;
    }
    if let Some(v) = a.workers {
        cfg.workers = v;
    }
    if let Some(v) = a.queue_capacity {
        cfg.queue_capacity = v;
    }
    if a.tls_cert.is_some() {
        (cfg.tls_cert, cfg.tls_key) = (a.tls_cert, a.tls_key);
    }
    if a.chain_rpc.is_some() || a.market.is_some() {
        let c = cfg.chain.get_or_insert_with(Default::default);
        if let Some(v) = a.chain_rpc {
            c.rpc_url = v;
        }
        if let Some(v) = a.market {
            c.market = v;
        }
    }
    if a.metrics_listen.is_some() {
        cfg.metrics_listen = a.metrics_listen;
    }
    cfg.log_json |= a.log_json;
    cfg.check().context("[node]")?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr);
    if cfg.log_json {
        logs.json().with_current_span(false).init();
    } else {
        // No colour codes in log files and pipes.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let (incoming, addr) = node::bind(&cfg.listen).context("[node]")?;
        if cfg.tokens.is_empty() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "no --token given: anyone who can reach this address can use the node");
        }
        if cfg.tls_cert.is_none() && !cfg.tokens.is_empty() && !addr.ip().is_loopback() {
            tracing::warn!(%addr, "no TLS (--tls-cert): bearer tokens cross the network in clear text");
        }
        // Tests and scripts read this line to find the port.
        println!("listening on {addr}");
        let shutdown = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGTERM handler: only Ctrl-C stops the node gracefully");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        node::serve(cfg, incoming, shutdown).await.context("[node]")
    })
}
