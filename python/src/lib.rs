//! The native half of the `zkinfer` Python package (maturin builds it as
//! `zkinfer._native`; `python/zkinfer/__init__.py` is the typed API on top).
//!
//! Every command runs the CLI's own code (`zkinfer_prover::cli`), so a Python call and
//! the `zkinfer` command behave alike and fail with the same message, raised as
//! `zkinfer.ZkinferError`. The GIL is released while a command runs.

use clap::Parser;
use pyo3::create_exception;
use pyo3::prelude::*;
use zkinfer_prover::ModelDir;
use zkinfer_prover::cli::Cli;

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
    py.detach(|| cli.execute()).map_err(|e| ZkinferError::new_err(format!("{e:#}")))
}

/// Float vs quantized accuracy of a compiled directory on a dataset (JSON, .npy or .npz),
/// as the JSON of `zkinfer eval --json`.
#[pyfunction]
fn evaluate_json(py: Python<'_>, dir: String, dataset: String) -> PyResult<String> {
    py.detach(|| -> anyhow::Result<String> {
        let (_, r) =
            zkinfer_prover::commands::eval::report(&ModelDir::new(&dir), std::path::Path::new(&dataset), false)?;
        Ok(serde_json::to_string(&r)?)
    })
    .map_err(|e| ZkinferError::new_err(format!("{e:#}")))
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
    Ok(())
}
