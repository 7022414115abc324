//! The native half of the `zkinfer` Python package (maturin builds it as
//! `zkinfer._native`; `python/zkinfer/__init__.py` is the typed API on top).
//!
//! Every command runs the CLI's own code (`zkinfer_prover::cli`), so a Python call and
//! the `zkinfer` command behave alike and fail with the same message, raised as
//! `zkinfer.ZkinferError`. The GIL is released while a command runs.

use clap::Parser;
use pyo3::create_exception;
use pyo3::prelude::*;
use std::path::PathBuf;

use zkinfer_circuits::bundle::Bundle;
use zkinfer_prover::cli::Cli;
use zkinfer_prover::commands::client::{self, JobRequest, Node};

create_exception!(
    zkinfer,
    ZkinferError,
    pyo3::exceptions::PyException,
    "A zkinfer command failed; the message is the CLI's."
);

/// Runs `zkinfer ARGS...`; True on success, False when `verify`/`evm verify` rejected
/// the proof (the reason is printed), `ZkinferError` with the CLI's message otherwise.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> PyResult<bool> {
    let cli = Cli::try_parse_from(std::iter::once("zkinfer".to_string()).chain(args))
        .map_err(|e| ZkinferError::new_err(e.render().to_string().trim_end().to_string()))?;
    py.detach(|| cli.execute()).map_err(err)
}

/// Float vs quantized accuracy of a compiled directory on a dataset (JSON, .npy or .npz),
/// as the JSON of `zkinfer eval --json`.
#[pyfunction]
fn evaluate_json(py: Python<'_>, dir: String, dataset: String) -> PyResult<String> {
    py.detach(|| -> anyhow::Result<String> {
        let (_, r) = zkinfer_prover::commands::eval::report(&Bundle::new(&dir), std::path::Path::new(&dataset), false)?;
        Ok(serde_json::to_string(&r)?)
    })
    .map_err(err)
}

fn node(url: String, token: Option<String>, ca_cert: Option<String>) -> Node {
    Node { url, token, ca_cert: ca_cert.map(PathBuf::from) }
}

fn err(e: anyhow::Error) -> PyErr {
    ZkinferError::new_err(format!("{e:#}"))
}

/// Submits sample `row` of `input` for `model`; the job as JSON (`zkinfer jobs --json`'s
/// form) with `deduplicated`.
#[pyfunction]
#[pyo3(signature = (url, model, input, row, token=None, ca_cert=None, binding=None, idempotency_key=None))]
#[allow(clippy::too_many_arguments)]
fn submit_job(
    py: Python<'_>,
    url: String,
    model: String,
    input: String,
    row: usize,
    token: Option<String>,
    ca_cert: Option<String>,
    binding: Option<String>,
    idempotency_key: Option<String>,
) -> PyResult<String> {
    let n = node(url, token, ca_cert);
    let req = JobRequest { model, input: PathBuf::from(input), row, binding, idempotency_key };
    py.detach(|| -> anyhow::Result<String> {
        let (job, deduplicated) = client::submit_job(&n, &req)?;
        let mut v = client::job_json(&job);
        v["deduplicated"] = deduplicated.into();
        Ok(v.to_string())
    })
    .map_err(err)
}

/// Follows job `id`: calls `callback(job_json)` with the job now and at each state change
/// until the job is final or the callback returns False; the last state as JSON.
#[pyfunction]
#[pyo3(signature = (url, id, callback, token=None, ca_cert=None))]
fn watch_job(
    py: Python<'_>,
    url: String,
    id: String,
    callback: Py<PyAny>,
    token: Option<String>,
    ca_cert: Option<String>,
) -> PyResult<String> {
    let n = node(url, token, ca_cert);
    let mut raised: Option<PyErr> = None;
    let last = py.detach(|| {
        client::watch_job(&n, &id, |j| {
            Python::attach(|py| match callback.call1(py, (client::job_json(j).to_string(),)) {
                Ok(r) => r.is_truthy(py).unwrap_or(true),
                Err(e) => {
                    raised = Some(e);
                    false
                }
            })
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    Ok(client::job_json(&last.map_err(err)?).to_string())
}

/// The proof of job `id` as JSON (outputs, prediction, instances, timings, proof file).
#[pyfunction]
#[pyo3(signature = (url, id, token=None, ca_cert=None))]
fn get_proof(
    py: Python<'_>,
    url: String,
    id: String,
    token: Option<String>,
    ca_cert: Option<String>,
) -> PyResult<String> {
    let n = node(url, token, ca_cert);
    py.detach(|| -> anyhow::Result<String> { Ok(client::proof_json(&client::get_proof(&n, &id)?)?.to_string()) })
        .map_err(err)
}

/// The node's newest `limit` jobs as a JSON list.
#[pyfunction]
#[pyo3(signature = (url, limit, token=None, ca_cert=None))]
fn list_jobs(
    py: Python<'_>,
    url: String,
    limit: u32,
    token: Option<String>,
    ca_cert: Option<String>,
) -> PyResult<String> {
    let n = node(url, token, ca_cert);
    py.detach(|| -> anyhow::Result<String> {
        let v: Vec<serde_json::Value> = client::list_jobs(&n, limit)?.iter().map(client::job_json).collect();
        Ok(serde_json::to_string(&v)?)
    })
    .map_err(err)
}

/// This build's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ZkinferError", m.py().get_type::<ZkinferError>())?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_json, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(submit_job, m)?)?;
    m.add_function(wrap_pyfunction!(watch_job, m)?)?;
    m.add_function(wrap_pyfunction!(get_proof, m)?)?;
    m.add_function(wrap_pyfunction!(list_jobs, m)?)?;
    Ok(())
}
