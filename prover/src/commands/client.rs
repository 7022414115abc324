//! `zkinfer submit` and `zkinfer jobs`: gRPC clients of a prover node.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_client::ProverServiceClient;
use zkinfer_quantize::{Dataset, TensorSpec};

use crate::progress;

/// A node client with its bearer token.
pub type Client = ProverServiceClient<InterceptedService<Channel, BearerToken>>;

/// Adds `authorization: Bearer TOKEN` to every request.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// Connects to `url` (`http://127.0.0.1:50051`, or `https://...` for a node
/// serving TLS: its certificate is checked against `ca_cert` (PEM) when given,
/// else against the Mozilla root certificates).
pub async fn connect(url: &str, token: Option<&str>, ca_cert: Option<&Path>) -> Result<Client> {
    let token = match token {
        Some(t) => Some(format!("Bearer {t}").parse().context("the token is not a valid header value")?),
        None => None,
    };
    let mut endpoint = Channel::from_shared(url.to_string()).with_context(|| format!("node URL `{url}`"))?;
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(ca) = ca_cert {
            let pem = std::fs::read(ca).with_context(|| format!("reading the CA certificate {}", ca.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        endpoint = endpoint.tls_config(tls).context("TLS settings")?;
    } else if ca_cert.is_some() {
        bail!("--ca-cert needs an https:// node URL");
    }
    let channel = endpoint.connect().await.with_context(|| format!("connecting to {url}"))?;
    Ok(ProverServiceClient::with_interceptor(channel, BearerToken(token)).max_decoding_message_size(64 << 20))
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

/// Arguments of `zkinfer submit`.
#[derive(Args)]
pub struct SubmitArgs {
    /// The node's URL (https://... when it serves TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    node: String,
    /// Bearer token.
    #[arg(long)]
    token: Option<String>,
    /// With an https:// node URL: trust this CA certificate (PEM) besides the
    /// Mozilla roots.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Model id (`zkinfer setup` prints it) or the name of a model served by the node.
    #[arg(long)]
    model: String,
    /// Input file (`{"input_data": [[...]]}`: one list per model input, EZKL's form).
    #[arg(long)]
    input: PathBuf,
    /// Which sample of the input file to submit.
    #[arg(long, default_value_t = 0)]
    row: usize,
    /// Binding element (hex); default: bound to the node's job id.
    #[arg(long)]
    binding: Option<String>,
    /// Idempotency key: submitting again with it returns the first job.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Wait until the proof is ready (progress on stderr).
    #[arg(long)]
    wait: bool,
    /// With --wait: write the proof file here (the format `zkinfer verify` reads).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

/// Where a node is and how to reach it: its URL, bearer token and CA certificate.
#[derive(Clone, Debug, Default)]
pub struct Node {
    /// `http://HOST:PORT`, or `https://...` for a node serving TLS.
    pub url: String,
    /// Bearer token.
    pub token: Option<String>,
    /// With an https:// URL: a CA certificate (PEM) trusted besides the Mozilla roots.
    pub ca_cert: Option<PathBuf>,
}

impl Node {
    async fn connect(&self) -> Result<Client> {
        connect(&self.url, self.token.as_deref(), self.ca_cert.as_deref()).await
    }
}

/// One job to submit: sample `row` of the EZKL-form `input` file for `model` (id or name).
#[derive(Clone, Debug, Default)]
pub struct JobRequest {
    pub model: String,
    pub input: PathBuf,
    pub row: usize,
    pub binding: Option<String>,
    pub idempotency_key: Option<String>,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Submits a job; returns it and whether the node returned an existing job for the
/// idempotency key.
pub fn submit_job(node: &Node, req: &JobRequest) -> Result<(pb::Job, bool)> {
    runtime()?.block_on(async {
        let mut c = node.connect().await.context("[submit]")?;
        submit_on(&mut c, req).await
    })
}

async fn submit_on(c: &mut Client, req: &JobRequest) -> Result<(pb::Job, bool)> {
    let data = Dataset::read(&req.input).context("[submit] input")?;
    // The model's inputs tell how the file's lists split into samples (EZKL's form).
    let models = c.list_models(pb::ListModelsRequest {}).await.map_err(status).context("[submit]")?;
    let model = models
        .into_inner()
        .models
        .into_iter()
        .find(|m| m.name == req.model || m.id.eq_ignore_ascii_case(&req.model))
        .with_context(|| format!("[submit] the node serves no model with the id or name `{}`", req.model))?;
    let specs: Vec<TensorSpec> = if model.inputs.is_empty() {
        // A node from before several inputs: one input of `input_shape`.
        vec![TensorSpec { name: "input".into(), shape: model.input_shape.iter().map(|&d| d as usize).collect() }]
    } else {
        model
            .inputs
            .iter()
            .map(|t| TensorSpec { name: t.name.clone(), shape: t.shape.iter().map(|&d| d as usize).collect() })
            .collect()
    };
    let samples = data.samples(&specs).context("[submit] input")?;
    let row = samples
        .get(req.row)
        .with_context(|| {
            format!("[submit] {} has {} sample(s), no --row {}", req.input.display(), samples.len(), req.row)
        })?
        .clone();
    let r = c
        .submit_job(pb::SubmitJobRequest {
            model_id: model.id,
            input: row,
            binding: req.binding.clone().unwrap_or_default(),
            idempotency_key: req.idempotency_key.clone().unwrap_or_default(),
            ..Default::default()
        })
        .await
        .map_err(status)
        .context("[submit]")?
        .into_inner();
    Ok((r.job.context("[submit] the node returned no job")?, r.deduplicated))
}

/// Follows job `id` (`WatchJob`): calls `on_update` with the job now and at every state
/// change until nothing more will happen to it, or until `on_update` returns false;
/// returns the last state seen.
pub fn watch_job(node: &Node, id: &str, on_update: impl FnMut(&pb::Job) -> bool) -> Result<pb::Job> {
    runtime()?.block_on(async {
        let mut c = node.connect().await.context("[watch]")?;
        watch_on(&mut c, id, on_update).await
    })
}

async fn watch_on(c: &mut Client, id: &str, mut on_update: impl FnMut(&pb::Job) -> bool) -> Result<pb::Job> {
    let mut stream =
        c.watch_job(pb::WatchJobRequest { id: id.to_string() }).await.map_err(status).context("[watch]")?.into_inner();
    let mut last = None;
    while let Some(j) = stream.message().await.map_err(status).context("[watch]")? {
        let go_on = on_update(&j);
        last = Some(j);
        if !go_on {
            break;
        }
    }
    last.with_context(|| format!("[watch] the node sent no state of job {id}"))
}

/// The proof of job `id` (`GetProof`; FAILED_PRECONDITION before it exists).
pub fn get_proof(node: &Node, id: &str) -> Result<pb::Proof> {
    runtime()?.block_on(async {
        let mut c = node.connect().await.context("[proof]")?;
        Ok(c.get_proof(pb::GetProofRequest { id: id.to_string() })
            .await
            .map_err(status)
            .context("[proof]")?
            .into_inner())
    })
}

/// The node's newest `limit` jobs (`ListJobs`), newest first.
pub fn list_jobs(node: &Node, limit: u32) -> Result<Vec<pb::Job>> {
    runtime()?.block_on(async {
        let mut c = node.connect().await.context("[jobs]")?;
        Ok(c.list_jobs(pb::ListJobsRequest { limit, state: 0 })
            .await
            .map_err(status)
            .context("[jobs]")?
            .into_inner()
            .jobs)
    })
}

/// A job as JSON, the form `zkinfer jobs --json` prints (and the Python package returns).
pub fn job_json(j: &pb::Job) -> serde_json::Value {
    serde_json::json!({
        "id": j.id, "model": j.model_id, "state": state_name(j.state), "error": j.error,
        "created_unix_ms": j.created_unix_ms, "updated_unix_ms": j.updated_unix_ms,
        "binding": j.binding, "job_ref": j.job_ref, "from_chain": j.from_chain, "bounty": j.bounty,
        "tx_hash": j.tx_hash,
    })
}

/// A proof as JSON: outputs (quantized and float), prediction, instances, timings and
/// the proof file (the object `zkinfer verify` reads).
pub fn proof_json(p: &pb::Proof) -> Result<serde_json::Value> {
    let file: serde_json::Value =
        serde_json::from_str(&p.proof_file_json).context("[proof] the node's proof file is not JSON")?;
    Ok(serde_json::json!({
        "job_id": p.job_id, "model": p.model_id, "output": p.output, "output_float": p.output_float,
        "prediction": p.prediction, "instances": p.instances, "witness_ms": p.witness_ms,
        "prove_ms": p.prove_ms, "proof_file": file,
    }))
}

/// Whether a job in state `s` has a proof.
fn has_proof(s: i32) -> bool {
    matches!(state_name(s), "proved" | "submitted" | "settled")
}

/// Runs `zkinfer submit`.
pub fn submit(a: SubmitArgs) -> Result<()> {
    if a.out.is_some() && !a.wait {
        bail!("-o needs --wait");
    }
    let node = Node { url: a.node, token: a.token, ca_cert: a.ca_cert };
    let req = JobRequest {
        model: a.model,
        input: a.input,
        row: a.row,
        binding: a.binding,
        idempotency_key: a.idempotency_key,
    };
    runtime()?.block_on(async move {
        let mut c = node.connect().await.context("[submit]")?;
        let (job, deduplicated) = submit_on(&mut c, &req).await?;
        println!("job {}{}", job.id, if deduplicated { " (existing job for this idempotency key)" } else { "" });
        if !a.wait {
            return Ok(());
        }
        let sp = progress::spinner("queued");
        let last = watch_on(&mut c, &job.id, |j| {
            sp.set_message(state_name(j.state).to_string());
            true
        })
        .await?;
        sp.finish_and_clear();
        if !has_proof(last.state) {
            bail!("[submit] job {} ended {}: {}", last.id, state_name(last.state), last.error);
        }
        let p = c.get_proof(pb::GetProofRequest { id: last.id.clone() }).await.map_err(status)?.into_inner();
        println!("proved: prediction {}, output {:?}; prove {:.0} ms", p.prediction, p.output_float, p.prove_ms);
        if let Some(out) = a.out {
            std::fs::write(&out, &p.proof_file_json).with_context(|| format!("[submit] writing {}", out.display()))?;
            println!("wrote {}", out.display());
        }
        Ok(())
    })
}

/// The proto state's lower-case name.
pub fn state_name(s: i32) -> &'static str {
    crate::node::store::JobState::from_i64(s as i64).map_or("unspecified", |s| s.name())
}

/// Arguments of `zkinfer jobs`.
#[derive(Args)]
pub struct JobsArgs {
    /// The node's URL (https://... when it serves TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    node: String,
    /// Bearer token.
    #[arg(long)]
    token: Option<String>,
    /// With an https:// node URL: trust this CA certificate (PEM) besides the
    /// Mozilla roots.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<PathBuf>,
    /// Most jobs to list (newest first).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Print a JSON list of {id, model, state, error, created_unix_ms, updated_unix_ms,
    /// binding, job_ref, from_chain, bounty, tx_hash}.
    #[arg(long)]
    json: bool,
}

/// Runs `zkinfer jobs`.
pub fn jobs(a: JobsArgs) -> Result<()> {
    let node = Node { url: a.node, token: a.token, ca_cert: a.ca_cert };
    let jobs = list_jobs(&node, a.limit)?;
    if a.json {
        let v: Vec<serde_json::Value> = jobs.iter().map(job_json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{:<68} {:<10} {:<14} error", "job", "state", "model");
        for j in &jobs {
            println!(
                "{:<68} {:<10} {:<14} {}",
                j.id,
                state_name(j.state),
                &j.model_id[..j.model_id.len().min(12)],
                j.error
            );
        }
    }
    Ok(())
}
