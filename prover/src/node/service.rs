//! The `zkinfer.v1.ProverService` implementation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use halo2curves::bn256::Fr;
use tokio::sync::{Notify, broadcast, watch};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use zkinfer_circuits::bundle::files;
use zkinfer_circuits::encoding::{binding_for, fr_from_hex, fr_to_hex, hex_array, hex_decode, to_hex};
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_server::ProverService;

use crate::node::Role;
use crate::node::models::{ServedModel, UPLOAD_PREFIX, check_name};
use crate::node::store::{ErrorKind, JobInput, JobRecord, JobState, JobStore, StoreError, StoreHealth};

/// Largest idempotency key or job reference accepted.
const MAX_KEY_LEN: usize = 128;
/// Most jobs one `ListJobs` returns.
const MAX_LIST: u32 = 10_000;
/// Jobs `ListJobs` returns without a limit.
const DEFAULT_LIST: u32 = 100;
/// Idempotency keys of this prefix belong to the chain watcher.
pub const CHAIN_KEY_PREFIX: &str = "chain:";

/// Shared state of the node.
pub struct NodeState {
    /// The job store.
    pub store: Arc<JobStore>,
    /// Served models.
    pub models: Arc<crate::node::models::Models>,
    /// Wakes a worker when a job is queued.
    pub queued: Arc<Notify>,
    /// Every job change, for `WatchJob`.
    pub changes: broadcast::Sender<JobRecord>,
    /// Where uploaded bundles go.
    pub data_dir: PathBuf,
    /// Most queued jobs before `SubmitJob` answers RESOURCE_EXHAUSTED.
    pub queue_capacity: u64,
    /// Worker count (for stats).
    pub workers: u32,
    /// Largest k of an uploaded model.
    pub max_upload_k: u32,
    /// Whether an admin token is configured (`RegisterModel` needs one).
    pub uploads_enabled: bool,
    /// The node's one shutdown signal, true once shutdown began: workers take
    /// no more jobs, `WatchJob` streams end, the chain watcher, the metrics
    /// server and the health reporter stop, the gRPC server drains its calls.
    pub shutdown: watch::Sender<bool>,
    /// Jobs whose result could not be stored yet, with the reason (shown in `Job.error`).
    pub unstored: Mutex<HashMap<String, String>>,
    /// Counters for `/metrics`.
    pub metrics: crate::node::metrics::Metrics,
}

impl NodeState {
    /// Reads a job back and tells watchers.
    pub fn publish(&self, id: &str) {
        if let Ok(job) = self.store.get(id) {
            let _ = self.changes.send(job);
        }
    }

    /// Starts shutdown (see [`NodeState::shutdown`]).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether shutdown began.
    pub fn is_stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Resolves once shutdown began (at once if it has).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// The proto form of a job, with the reason when its result is waiting to be stored.
    pub fn job_pb(&self, j: &JobRecord) -> pb::Job {
        let mut p = job_pb(j);
        if let Some(note) = self.unstored.lock().unwrap_or_else(|e| e.into_inner()).get(&j.id) {
            p.error = note.clone();
        }
        p
    }

    /// UNAVAILABLE while the store is corrupted (every job call), and for
    /// calls that write, RESOURCE_EXHAUSTED while it is full or UNAVAILABLE
    /// while it fails.
    fn check_store(&self, writes: bool) -> Result<(), Status> {
        match &*self.store.health().borrow() {
            StoreHealth::Ok => Ok(()),
            StoreHealth::Corrupt(_) => {
                Err(Status::unavailable("the node's job store is corrupted; see the node's log"))
            }
            StoreHealth::Full(_) if writes => Err(Status::resource_exhausted(
                "the node's disk is full: the job store cannot take new jobs; retry later",
            )),
            StoreHealth::Failing(_) if writes => {
                Err(Status::unavailable("the node's job store cannot write (I/O errors); retry later"))
            }
            _ => Ok(()),
        }
    }
}

/// The gRPC service.
pub struct Service {
    /// Shared state.
    pub state: Arc<NodeState>,
}

/// The status of a store error: RESOURCE_EXHAUSTED (disk full), UNAVAILABLE
/// (I/O errors, corruption, locked), NOT_FOUND, FAILED_PRECONDITION, and
/// INTERNAL only for what is a bug.
pub fn store_status(e: StoreError) -> Status {
    match e.kind() {
        ErrorKind::Request => match e {
            StoreError::NotFound(id) => Status::not_found(format!("no job `{id}`")),
            e => Status::failed_precondition(e.to_string()),
        },
        ErrorKind::Full => {
            tracing::error!(error = %e, "job store: disk full");
            Status::resource_exhausted("the node's disk is full: the job store cannot write; retry later")
        }
        ErrorKind::Unavailable => {
            tracing::error!(error = %e, "job store unavailable");
            Status::unavailable("the node's job store is unavailable; retry later")
        }
        ErrorKind::Other => {
            tracing::error!(error = %e, "job store");
            Status::internal("job store error")
        }
    }
}

/// The status of a failed file write: RESOURCE_EXHAUSTED when the disk (or a
/// quota, or the file size limit) is full, else UNAVAILABLE.
fn io_status(e: &std::io::Error, what: &str) -> Status {
    let full = matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded | std::io::ErrorKind::FileTooLarge
    ) || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG));
    tracing::error!(error = %e, what, "writing an upload");
    if full {
        Status::resource_exhausted(format!("the node's disk is full: {what} failed; retry later"))
    } else {
        Status::unavailable(format!("{what} failed: {}", e.kind()))
    }
}

/// The proto form of a job.
pub fn job_pb(j: &JobRecord) -> pb::Job {
    pb::Job {
        id: j.id.clone(),
        model_id: j.model_id.clone(),
        state: j.state as i32,
        error: j.error.clone().unwrap_or_default(),
        created_unix_ms: j.created_ms,
        updated_unix_ms: j.updated_ms,
        binding: fr_to_hex(&j.binding),
        job_ref: j.job_ref.clone().unwrap_or_default(),
        from_chain: j.from_chain(),
        bounty: j.chain.as_ref().map(|c| c.bounty.to_string()).unwrap_or_default(),
        tx_hash: j.tx_hash.map(|t| format!("{t:#x}")).unwrap_or_default(),
    }
}

fn model_pb(m: &ServedModel) -> pb::Model {
    let v = &m.prover.verifier;
    let input = v.model.input_tensor();
    let spec = |t: &zkinfer_quantize::QTensor| pb::TensorSpec {
        name: t.name.clone(),
        shape: t.shape.iter().map(|&d| d as u32).collect(),
        integer: t.integer,
    };
    pb::Model {
        id: m.id(),
        name: m.name.clone(),
        k: v.info.k,
        input_len: v.model.input_len() as u32,
        input_shape: input.shape.iter().map(|&d| d as u32).collect(),
        output_len: v.model.output_len() as u32,
        insecure_srs: v.info.insecure_srs,
        inputs: v.model.input_tensors().map(spec).collect(),
        outputs: v.model.output_tensors().map(spec).collect(),
    }
}

/// A new random job id (`0x` + 64 hex).
pub(crate) fn random_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    to_hex(b)
}

/// Quantizes the input of a submission (what the job stores and the prover
/// proves) after checking its length, and that every value is finite and
/// quantizes inside the model's input range (nothing is clamped: a clamped
/// input would be proved for a value the client did not send).
fn check_input(r: &pb::SubmitJobRequest, m: &ServedModel) -> Result<Vec<i64>, Status> {
    let model = &m.prover.verifier.model;
    let want = model.input_len();
    if r.input.len() != want {
        return Err(Status::invalid_argument(format!(
            "input has {} values, model {} takes {want} (inputs {})",
            r.input.len(),
            m.name,
            model.inputs_summary()
        )));
    }
    if let Some(i) = r.input.iter().position(|x| !x.is_finite()) {
        return Err(Status::invalid_argument(format!("input[{i}] is not a finite number")));
    }
    let (lo, hi) = zkinfer_quantize::fixed::signed_range(model.config.act_bits);
    let q = model.quantize_input(&r.input).map_err(|e| Status::invalid_argument(format!("input: {e}")))?;
    if q.clamped > 0 {
        let scales = model.input_scales();
        let out = r
            .input
            .iter()
            .zip(&scales)
            .position(|(&x, &s)| {
                let v = zkinfer_quantize::fixed::quantize_value(x, s) as i128;
                v < lo || v > hi
            })
            .unwrap_or(0);
        let scale = (scales[out] as f64).exp2();
        return Err(Status::invalid_argument(format!(
            "input[{out}] = {} is outside the model's input range [{}, {}] ({} values out of range; \
             the node does not clamp)",
            short(r.input[out]),
            lo as f64 / scale,
            hi as f64 / scale,
            q.clamped
        )));
    }
    Ok(q.values)
}

/// A number for a message: exponent notation when it is large.
fn short(x: f64) -> String {
    if x.abs() >= 1e9 { format!("{x:e}") } else { x.to_string() }
}

/// The binding of a submission for node job `job_id`; INVALID_ARGUMENT names the problem.
fn submission_binding(r: &pb::SubmitJobRequest, job_id: &str) -> Result<Fr, Status> {
    let bad = |e: zkinfer_circuits::CircuitError| Status::invalid_argument(e.to_string());
    let binding = if !r.binding.is_empty() {
        fr_from_hex(&r.binding).map_err(|e| Status::invalid_argument(format!("binding: {e}")))?
    } else if !r.prover_address.is_empty() {
        if r.job_ref.is_empty() {
            return Err(Status::invalid_argument("prover_address needs job_ref (the on-chain job id)"));
        }
        let job = hex_array::<32>(&r.job_ref, "job_ref").map_err(bad)?;
        let prover = hex_array::<20>(&r.prover_address, "prover_address").map_err(bad)?;
        binding_for(&job, &prover)
    } else {
        // Bound to this node's job id: the proof is worthless for any other job.
        binding_for(&hex_array::<32>(job_id, "job id").map_err(bad)?, &[0u8; 20])
    };
    Ok(binding)
}

/// Validates a submission: its quantized input and its binding; INVALID_ARGUMENT names the problem.
fn check_submission(r: &pb::SubmitJobRequest, m: &ServedModel, job_id: &str) -> Result<(Vec<i64>, Fr), Status> {
    if r.idempotency_key.len() > MAX_KEY_LEN || r.job_ref.len() > MAX_KEY_LEN || r.prover_address.len() > MAX_KEY_LEN {
        return Err(Status::invalid_argument(format!(
            "idempotency_key, job_ref and prover_address are limited to {MAX_KEY_LEN} bytes"
        )));
    }
    if r.idempotency_key.starts_with(CHAIN_KEY_PREFIX) {
        return Err(Status::invalid_argument(format!(
            "idempotency_key: keys starting with `{CHAIN_KEY_PREFIX}` are reserved for the node's chain watcher"
        )));
    }
    Ok((check_input(r, m)?, submission_binding(r, job_id)?))
}

/// Whether `existing` (found by the request's idempotency key) is the job this
/// request would have created: the same model, quantized input (`input`), job
/// reference and binding — the same statement to prove.
fn same_request(existing: &JobRecord, r: &pb::SubmitJobRequest, model_id: &str, input: &[i64]) -> bool {
    existing.model_id.eq_ignore_ascii_case(model_id)
        && matches!(&existing.input, JobInput::Quantized(q) if q == input)
        && existing.job_ref.as_deref().unwrap_or("") == r.job_ref
        && submission_binding(r, &existing.id).is_ok_and(|b| b == existing.binding)
}

/// A model upload being written: its directory is removed unless the upload
/// is committed (renamed to its name), so a failed or interrupted upload
/// leaves nothing behind (one interrupted by a crash is removed at the next start).
struct Upload {
    tmp: PathBuf,
    done: bool,
}

impl Upload {
    fn create(models_dir: &Path) -> Result<Upload, Status> {
        let tmp = models_dir.join(format!("{UPLOAD_PREFIX}{}", random_id()));
        std::fs::create_dir(&tmp).map_err(|e| io_status(&e, "creating the upload directory"))?;
        Ok(Upload { tmp, done: false })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), Status> {
        use std::io::Write;
        let what = format!("writing {name}");
        let mut f = std::fs::File::create(self.tmp.join(name)).map_err(|e| io_status(&e, &what))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io_status(&e, &what))
    }

    /// An error message about a file of the upload without the node's paths.
    fn relative(&self, message: &str) -> String {
        let prefix = format!("{}/", self.tmp.display());
        message.replace(&prefix, "").replace(&self.tmp.display().to_string(), "the bundle")
    }

    fn commit(mut self, dir: &Path) -> Result<(), Status> {
        std::fs::rename(&self.tmp, dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::DirectoryNotEmpty => {
                Status::already_exists("a model of this name was uploaded meanwhile")
            }
            _ => io_status(&e, "renaming the upload"),
        })?;
        self.done = true;
        if let Some(parent) = dir.parent()
            && let Ok(d) = std::fs::File::open(parent)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = std::fs::remove_dir_all(&self.tmp)
        {
            tracing::warn!(error = %e, dir = %self.tmp.display(), "removing a failed upload");
        }
    }
}

/// Checks and registers an uploaded bundle; every file is checked before it
/// is parsed, and every error names the file without the node's paths.
fn register_bundle(state: &NodeState, b: pb::ModelBundle) -> Result<Arc<ServedModel>, Status> {
    check_name(&b.name).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let models_dir = state.data_dir.join("models");
    let dir = models_dir.join(&b.name);
    if dir.exists() {
        return Err(Status::already_exists(format!("a model named `{}` was uploaded before", b.name)));
    }
    let up = Upload::create(&models_dir)?;
    for (f, bytes) in [
        (files::QMODEL, &b.qmodel),
        (files::SETUP_JSON, &b.setup_json),
        (files::VK, &b.vk),
        (files::PK, &b.pk),
        (files::SRS, &b.srs),
    ] {
        up.write(f, bytes)?;
    }
    let prover = zkinfer_circuits::bundle::Bundle::new(&up.tmp)
        .load_prover_within(state.max_upload_k)
        .map_err(|e| Status::invalid_argument(up.relative(&format!("the bundle does not load: {e}"))))?;
    up.commit(&dir)?;
    Ok(state.models.insert(&b.name, prover))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::Job, Status>> + Send>>;

#[tonic::async_trait]
impl ProverService for Service {
    async fn register_model(
        &self,
        req: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        use pb::register_model_request::Source;
        if !self.state.uploads_enabled {
            return Err(Status::permission_denied(
                "RegisterModel is disabled: the node has no admin token (--admin-token)",
            ));
        }
        if req.extensions().get::<Role>() != Some(&Role::Admin) {
            return Err(Status::permission_denied("RegisterModel needs an admin token"));
        }
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
                Source::Bundle(b) => register_bundle(&state, b),
            }
        })
        .await
        .map_err(|_| Status::internal("registering the model failed"))??;
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
        let (input, binding) = check_submission(&r, &model, &id)?;
        self.state.check_store(true)?;
        let state = self.state.clone();
        let (job, dedup) = tokio::task::spawn_blocking(move || {
            let rec = JobRecord {
                job_ref: Some(r.job_ref.clone()).filter(|s| !s.is_empty()),
                idempotency_key: Some(r.idempotency_key.clone()).filter(|s| !s.is_empty()),
                ..JobRecord::queued(id, model.id(), JobInput::Quantized(input.clone()), binding)
            };
            // The capacity check and the insert are one transaction: concurrent
            // submissions never exceed it.
            let (job, dedup) = state
                .store
                .insert_within(&rec, Some((state.queue_capacity, &[JobState::Queued])))
                .map_err(store_status)?
                .ok_or_else(|| {
                    Status::resource_exhausted(format!(
                        "the queue is full ({} jobs); retry later",
                        state.queue_capacity
                    ))
                })?;
            if dedup && !same_request(&job, &r, &model.id(), &input) {
                return Err(Status::already_exists(format!(
                    "idempotency_key `{}` was used for job {} with a different model, input or binding",
                    r.idempotency_key, job.id
                )));
            }
            Ok((job, dedup))
        })
        .await
        .map_err(|_| Status::internal("submitting the job failed"))??;
        if !dedup {
            tracing::info!(job = %job.id, model = %job.model_id, "job queued");
            self.state.queued.notify_one();
            let _ = self.state.changes.send(job.clone());
        }
        Ok(Response::new(pb::SubmitJobResponse { job: Some(self.state.job_pb(&job)), deduplicated: dedup }))
    }

    async fn get_job(&self, req: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        self.state.check_store(false)?;
        let job = self.state.store.get(&req.into_inner().id).map_err(store_status)?;
        Ok(Response::new(self.state.job_pb(&job)))
    }

    type WatchJobStream = WatchStream;

    async fn watch_job(&self, req: Request<pb::WatchJobRequest>) -> Result<Response<Self::WatchJobStream>, Status> {
        let id = req.into_inner().id;
        self.state.check_store(false)?;
        let mut shutdown = self.state.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return Err(Status::unavailable("the node is shutting down"));
        }
        // Subscribe before reading, so no change between the two is missed; the
        // stream ends once nothing more happens to the job (`JobRecord::is_done`),
        // or with UNAVAILABLE when the node shuts down.
        let mut changes = self.state.changes.subscribe();
        let first = self.state.store.get(&id).map_err(store_status)?;
        let state = self.state.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut last = first.state;
            if tx.send(Ok(state.job_pb(&first))).await.is_err() || first.is_done() {
                return;
            }
            loop {
                let next = tokio::select! {
                    c = changes.recv() => c,
                    _ = shutdown.changed() => {
                        let _ = tx
                            .send(Err(Status::unavailable("the node is shutting down; watch the job again after it restarts")))
                            .await;
                        return;
                    }
                    _ = tx.closed() => return,
                };
                let job = match next {
                    Ok(j) if j.id == id => j,
                    Ok(_) => continue,
                    // Missed changes: read the job's current state instead.
                    Err(broadcast::error::RecvError::Lagged(_)) => match state.store.get(&id) {
                        Ok(j) => j,
                        Err(_) => return,
                    },
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if job.state == last {
                    continue;
                }
                last = job.state;
                if tx.send(Ok(state.job_pb(&job))).await.is_err() || job.is_done() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn get_proof(&self, req: Request<pb::GetProofRequest>) -> Result<Response<pb::Proof>, Status> {
        let id = req.into_inner().id;
        self.state.check_store(false)?;
        let job = self.state.store.get(&id).map_err(store_status)?;
        let stored =
            self.state.store.proof(&id).map_err(store_status)?.ok_or_else(|| {
                Status::failed_precondition(format!("job {id} is {}, it has no proof", job.state.name()))
            })?;
        let file = zkinfer_circuits::proof_file::ProofFile::from_json(stored.proof_json.as_bytes())
            .map_err(|e| Status::internal(format!("stored proof: {e}")))?;
        let proof = hex_decode(&file.proof, "stored proof").map_err(|e| Status::internal(e.to_string()))?;
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
        self.state.check_store(false)?;
        let job = self.state.store.cancel(&id).map_err(store_status)?;
        let _ = self.state.changes.send(job.clone());
        Ok(Response::new(self.state.job_pb(&job)))
    }

    async fn list_jobs(&self, req: Request<pb::ListJobsRequest>) -> Result<Response<pb::ListJobsResponse>, Status> {
        self.state.check_store(false)?;
        let r = req.into_inner();
        let limit = if r.limit == 0 { DEFAULT_LIST } else { r.limit.min(MAX_LIST) };
        let state = match r.state {
            0 => None,
            s => Some(
                JobState::from_i64(s as i64).ok_or_else(|| Status::invalid_argument(format!("unknown state {s}")))?,
            ),
        };
        let jobs = self.state.store.list(limit, state).map_err(store_status)?;
        Ok(Response::new(pb::ListJobsResponse { jobs: jobs.iter().map(|j| self.state.job_pb(j)).collect() }))
    }

    async fn get_stats(&self, _: Request<pb::GetStatsRequest>) -> Result<Response<pb::Stats>, Status> {
        self.state.check_store(false)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits prover.proto documents are the ones the service applies.
    #[test]
    fn the_proto_documents_the_limits_the_service_applies() {
        let proto = include_str!("../../../proto/zkinfer/v1/prover.proto");
        let field_doc = |field: &str| -> String {
            let at = proto.find(&format!(" {field} = ")).unwrap_or_else(|| panic!("no field {field}"));
            let before = &proto[..at];
            let start = before.rfind(";\n").or_else(|| before.rfind("{\n")).unwrap();
            before[start..].to_string()
        };
        for field in ["idempotency_key", "job_ref", "prover_address"] {
            let doc = field_doc(&format!("string {field}"));
            assert!(doc.contains(&format!("at most {MAX_KEY_LEN} bytes")), "{field}: {doc}");
        }
        let doc = field_doc("uint32 limit");
        assert!(
            doc.contains(&format!("at most {MAX_LIST})")) && doc.contains(&format!("default {DEFAULT_LIST}")),
            "{doc}"
        );
        let cancel =
            proto.lines().skip_while(|l| !l.contains("Cancels a queued or proving job")).take(3).collect::<String>();
        assert!(cancel.contains("FAILED_PRECONDITION") && cancel.contains("NOT_FOUND"), "{cancel}");
    }
}
