//! The `zkinfer.v1.ProverService` implementation.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use zkinfer_circuits::prove::{binding_for, fr_from_hex, fr_to_hex};
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_server::ProverService;

use crate::commands::prove::hex_bytes;
use crate::node::models::{Models, ServedModel, check_name};
use crate::node::store::{JobRecord, JobState, JobStore, StoreError, now_ms};

/// Largest idempotency key or job reference accepted.
const MAX_KEY_LEN: usize = 128;
/// Most jobs one `ListJobs` returns.
const MAX_LIST: u32 = 10_000;

/// Shared state of the node.
pub struct NodeState {
    /// The job store.
    pub store: Arc<JobStore>,
    /// Served models.
    pub models: Arc<Models>,
    /// Wakes a worker when a job is queued.
    pub queued: Arc<Notify>,
    /// Every job change, for `WatchJob`.
    pub changes: broadcast::Sender<JobRecord>,
    /// Where uploaded bundles go.
    pub data_dir: std::path::PathBuf,
    /// Most queued jobs before `SubmitJob` answers RESOURCE_EXHAUSTED.
    pub queue_capacity: u64,
    /// Worker count (for stats).
    pub workers: u32,
}

impl NodeState {
    /// Reads a job back and tells watchers.
    pub fn publish(&self, id: &str) {
        if let Ok(job) = self.store.get(id) {
            let _ = self.changes.send(job);
        }
    }
}

/// The gRPC service.
pub struct Service {
    /// Shared state.
    pub state: Arc<NodeState>,
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::NotFound(id) => Status::not_found(format!("no job `{id}`")),
        StoreError::BadState { .. } => Status::failed_precondition(e.to_string()),
        StoreError::Sqlite(_) => {
            tracing::error!(error = %e, "job store");
            Status::internal("job store error")
        }
    }
}

/// The proto form of a job.
pub fn job_pb(j: &JobRecord) -> pb::Job {
    pb::Job {
        id: j.id.clone(),
        model_id: j.model_id.clone(),
        state: j.state as i32,
        error: j.error.clone(),
        created_unix_ms: j.created_ms,
        updated_unix_ms: j.updated_ms,
        binding: j.binding.clone(),
        job_ref: j.job_ref.clone(),
        from_chain: j.from_chain,
        bounty: j.bounty.clone(),
        tx_hash: j.tx_hash.clone(),
    }
}

fn model_pb(m: &ServedModel) -> pb::Model {
    let v = &m.prover.verifier;
    let input = v.model.input_tensor();
    pb::Model {
        id: m.id(),
        name: m.name.clone(),
        k: v.info.k,
        input_len: input.numel() as u32,
        input_shape: input.shape.iter().map(|&d| d as u32).collect(),
        output_len: v.model.output_tensor().numel() as u32,
        insecure_srs: v.info.insecure_srs,
    }
}

/// A new random job id (`0x` + 64 hex).
pub(crate) fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("0x{}", hex::encode(b))
}

/// Validates a submission and computes its binding; INVALID_ARGUMENT names the problem.
fn check_submission(r: &pb::SubmitJobRequest, m: &ServedModel, job_id: &str) -> Result<String, Status> {
    let want = m.prover.verifier.model.input_tensor().numel();
    if r.input.len() != want {
        return Err(Status::invalid_argument(format!(
            "input has {} values, model {} takes {want} (shape {:?})",
            r.input.len(),
            m.name,
            m.prover.verifier.model.input_tensor().shape
        )));
    }
    if let Some(i) = r.input.iter().position(|x| !x.is_finite()) {
        return Err(Status::invalid_argument(format!("input[{i}] is not a finite number")));
    }
    if r.idempotency_key.len() > MAX_KEY_LEN || r.job_ref.len() > MAX_KEY_LEN {
        return Err(Status::invalid_argument(format!(
            "idempotency_key and job_ref are limited to {MAX_KEY_LEN} bytes"
        )));
    }
    m.prover.verifier.model.quantize_input(&r.input).map_err(|e| Status::invalid_argument(format!("input: {e}")))?;
    let bad = |e: anyhow::Error| Status::invalid_argument(format!("{e:#}"));
    let binding = if !r.binding.is_empty() {
        fr_from_hex(&r.binding).map_err(|e| Status::invalid_argument(format!("binding: {e}")))?
    } else if !r.prover_address.is_empty() {
        if r.job_ref.is_empty() {
            return Err(Status::invalid_argument("prover_address needs job_ref (the on-chain job id)"));
        }
        let job = hex_bytes::<32>(&r.job_ref, "job_ref").map_err(bad)?;
        let prover = hex_bytes::<20>(&r.prover_address, "prover_address").map_err(bad)?;
        binding_for(&job, &prover)
    } else {
        // Bound to this node's job id: the proof is worthless for any other job.
        binding_for(&hex_bytes::<32>(job_id, "job id").map_err(bad)?, &[0u8; 20])
    };
    Ok(fr_to_hex(&binding))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::Job, Status>> + Send>>;

#[tonic::async_trait]
impl ProverService for Service {
    async fn register_model(
        &self,
        req: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        use pb::register_model_request::Source;
        let state = self.state.clone();
        let source = req.into_inner().source.ok_or_else(|| Status::invalid_argument("source is required"))?;
        let model = tokio::task::spawn_blocking(move || -> Result<Arc<ServedModel>, Status> {
            match source {
                Source::LocalName(name) => {
                    check_name(&name).map_err(|e| Status::invalid_argument(e.to_string()))?;
                    state
                        .models
                        .by_name(&name)
                        .ok_or_else(|| Status::not_found(format!("no served model named `{name}`")))
                }
                Source::Bundle(b) => {
                    check_name(&b.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
                    let dir = state.data_dir.join("models").join(&b.name);
                    if dir.exists() {
                        return Err(Status::already_exists(format!("a model named `{}` was uploaded before", b.name)));
                    }
                    let tmp = state.data_dir.join("models").join(format!(".upload-{}", random_id()));
                    std::fs::create_dir_all(&tmp).map_err(|e| Status::internal(e.to_string()))?;
                    for (f, bytes) in [
                        ("model.qm", &b.qmodel),
                        ("setup.json", &b.setup_json),
                        ("vk", &b.vk),
                        ("pk", &b.pk),
                        ("srs", &b.srs),
                    ] {
                        std::fs::write(tmp.join(f), bytes).map_err(|e| Status::internal(e.to_string()))?;
                    }
                    if let Err(e) = zkinfer_circuits::bundle::Bundle::new(&tmp).load_prover() {
                        let _ = std::fs::remove_dir_all(&tmp);
                        return Err(Status::invalid_argument(format!("the bundle does not load: {e}")));
                    }
                    std::fs::rename(&tmp, &dir).map_err(|e| Status::internal(e.to_string()))?;
                    state.models.load(&dir, &b.name).map_err(|e| Status::invalid_argument(format!("{e:#}")))
                }
            }
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        tracing::info!(model = %model.id(), name = %model.name, "model registered");
        Ok(Response::new(pb::RegisterModelResponse { model: Some(model_pb(&model)) }))
    }

    async fn list_models(&self, _: Request<pb::ListModelsRequest>) -> Result<Response<pb::ListModelsResponse>, Status> {
        let models = self.state.models.all().iter().map(|m| model_pb(m)).collect();
        Ok(Response::new(pb::ListModelsResponse { models }))
    }

    async fn submit_job(&self, req: Request<pb::SubmitJobRequest>) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let r = req.into_inner();
        let model = self
            .state
            .models
            .get(&r.model_id)
            .ok_or_else(|| Status::not_found(format!("model `{}` is not served by this node", r.model_id)))?;
        let id = random_id();
        let binding = check_submission(&r, &model, &id)?;
        let state = self.state.clone();
        let (job, dedup) = tokio::task::spawn_blocking(move || {
            if r.idempotency_key.is_empty()
                || state.store.get_by_key(&r.idempotency_key).map_err(store_status)?.is_none()
            {
                let queued = state.store.queued().map_err(store_status)?;
                if queued >= state.queue_capacity {
                    return Err(Status::resource_exhausted(format!("the queue is full ({queued} jobs); retry later")));
                }
            }
            let now = now_ms();
            let rec = JobRecord {
                id,
                model_id: model.id(),
                state: JobState::Queued,
                input: r.input,
                binding,
                job_ref: r.job_ref,
                idempotency_key: r.idempotency_key,
                error: String::new(),
                created_ms: now,
                updated_ms: now,
                attempts: 0,
                from_chain: false,
                bounty: String::new(),
                tx_hash: String::new(),
            };
            state.store.insert(&rec).map_err(store_status)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        if !dedup {
            tracing::info!(job = %job.id, model = %job.model_id, "job queued");
            self.state.queued.notify_one();
            let _ = self.state.changes.send(job.clone());
        }
        Ok(Response::new(pb::SubmitJobResponse { job: Some(job_pb(&job)), deduplicated: dedup }))
    }

    async fn get_job(&self, req: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let job = self.state.store.get(&req.into_inner().id).map_err(store_status)?;
        Ok(Response::new(job_pb(&job)))
    }

    type WatchJobStream = WatchStream;

    async fn watch_job(&self, req: Request<pb::WatchJobRequest>) -> Result<Response<Self::WatchJobStream>, Status> {
        let id = req.into_inner().id;
        // Subscribe before reading, so no change between the two is missed; the
        // stream ends once nothing more happens to the job (`JobRecord::is_done`).
        let mut changes = self.state.changes.subscribe();
        let first = self.state.store.get(&id).map_err(store_status)?;
        let store = self.state.store.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = first.state;
            if tx.send(Ok(job_pb(&first))).await.is_err() || first.is_done() {
                return;
            }
            loop {
                let job = match changes.recv().await {
                    Ok(j) if j.id == id => j,
                    Ok(_) => continue,
                    // Missed changes: read the job's current state instead.
                    Err(broadcast::error::RecvError::Lagged(_)) => match store.get(&id) {
                        Ok(j) => j,
                        Err(_) => return,
                    },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if job.state == last {
                    continue;
                }
                last = job.state;
                if tx.send(Ok(job_pb(&job))).await.is_err() || job.is_done() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn get_proof(&self, req: Request<pb::GetProofRequest>) -> Result<Response<pb::Proof>, Status> {
        let id = req.into_inner().id;
        let job = self.state.store.get(&id).map_err(store_status)?;
        let stored =
            self.state.store.proof(&id).map_err(store_status)?.ok_or_else(|| {
                Status::failed_precondition(format!("job {id} is {}, it has no proof", job.state.name()))
            })?;
        let file = zkinfer_circuits::proof_file::ProofFile::from_json(stored.proof_json.as_bytes())
            .map_err(|e| Status::internal(format!("stored proof: {e}")))?;
        let proof = hex::decode(file.proof.trim_start_matches("0x")).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::Proof {
            job_id: id,
            model_id: file.model_id.clone(),
            output: file.output.clone(),
            output_float: file.output_float.clone(),
            prediction: file.prediction as u32,
            instances: file.instances.clone(),
            proof,
            witness_ms: stored.witness_ms,
            prove_ms: stored.prove_ms,
            proof_file_json: stored.proof_json,
        }))
    }

    async fn cancel_job(&self, req: Request<pb::CancelJobRequest>) -> Result<Response<pb::Job>, Status> {
        let id = req.into_inner().id;
        let job = self.state.store.cancel(&id).map_err(store_status)?;
        let _ = self.state.changes.send(job.clone());
        Ok(Response::new(job_pb(&job)))
    }

    async fn list_jobs(&self, req: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        let r = req.into_inner();
        let limit = if r.limit == 0 { 100 } else { r.limit.min(MAX_LIST) };
        let state = match r.state {
            0 => None,
            s => Some(
                JobState::from_i64(s as i64).ok_or_else(|| Status::invalid_argument(format!("unknown state {s}")))?,
            ),
        };
        let jobs = self.state.store.list(limit, state).map_err(store_status)?;
        Ok(Response::new(pb::ListJobsResponse { jobs: jobs.iter().map(job_pb).collect() }))
    }

    async fn get_stats(&self, _: Request<pb::GetStatsRequest>) -> Result<Response<pb::Stats>, Status> {
        let s = &self.state.store;
        let counts = s.counts().map_err(store_status)?;
        let mut times = s.prove_times(1000).map_err(store_status)?;
        times.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| if times.is_empty() { 0.0 } else { times[((times.len() - 1) as f64 * p).round() as usize] };
        Ok(Response::new(pb::Stats {
            jobs_by_state: JobState::ALL
                .iter()
                .map(|st| (st.name().to_string(), counts.iter().find(|c| c.0 == *st).map(|c| c.1).unwrap_or(0)))
                .collect(),
            prove_ms_p50: pct(0.5),
            prove_ms_p90: pct(0.9),
            prove_ms_p99: pct(0.99),
            workers: self.state.workers,
            queue_len: s.queued().map_err(store_status)? as u32,
            queue_capacity: self.state.queue_capacity.min(u32::MAX as u64) as u32,
        }))
    }
}
