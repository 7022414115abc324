//! `zkinfer eval`: float vs quantized accuracy on a dataset.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use zkinfer_quantize::{AccuracyReport, Dataset, ImportOptions, QModel, evaluate, import_onnx};

use crate::progress::bar;
use zkinfer_circuits::bundle::Bundle;

/// Arguments of `zkinfer eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A directory written by `zkinfer compile`.
    dir: PathBuf,
    /// Dataset, EZKL JSON: {"input_data": [[...], ...], "labels": [...]} (one list per model
    /// input, samples concatenated; or one list per sample for a one-input model).
    #[arg(long)]
    dataset: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The float model against the quantized model of the compiled `dir` on `dataset`
/// (`zkinfer eval`; the Python package's `evaluate`), with a progress bar when `progress`.
pub fn report(dir: &Bundle, dataset: &Path, progress: bool) -> Result<(QModel, AccuracyReport)> {
    let qmodel = QModel::read(&dir.qmodel()).context("[quantize] reading the compiled model")?;
    let shapes = qmodel.input_tensors().map(|t| t.shape.clone()).collect();
    let opts = ImportOptions { input_shapes: Some(shapes), ..Default::default() };
    let float = import_onnx(&dir.onnx(), &opts).context("[quantize] importing the float model")?;
    let data = Dataset::read(dataset).context("[quantize] reading the dataset")?;
    let outputs: Vec<String> = qmodel.output_tensors().map(|t| t.name.clone()).collect();
    let runner = float.runner(&outputs).context("[quantize] float model")?;
    let pb = if progress {
        bar(data.samples(&qmodel.input_specs()).context("[quantize] dataset")?.len(), "evaluating")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let r = evaluate(&qmodel, &runner, &data, || pb.inc(1)).context("[quantize] evaluating")?;
    pb.finish_and_clear();
    Ok((qmodel, r))
}

/// Runs `zkinfer eval`.
pub fn run(a: EvalArgs) -> Result<()> {
    let dir = Bundle::new(&a.dir);
    let (qmodel, r) = report(&dir, &a.dataset, true)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let pct = |v: Option<f64>| v.map_or("n/a (no labels)".to_string(), |v| format!("{:.2}%", 100.0 * v));
    println!("model               {} ({})", qmodel.name, dir.dir.display());
    println!("samples             {}", r.samples);
    println!("argmax agreement    {:.2}%", 100.0 * r.argmax_agreement);
    println!("float accuracy      {}", pct(r.float_accuracy));
    println!("quantized accuracy  {}", pct(r.quantized_accuracy));
    println!("max |error|         {:.6}", r.max_abs_error);
    println!("mean |error|        {:.6}", r.mean_abs_error);
    if r.overflows > 0 {
        println!("overflows           {} rows left the activation range (counted as wrong)", r.overflows);
    }
    if r.clamped_inputs > 0 {
        println!("clamped inputs      {} values", r.clamped_inputs);
    }
    Ok(())
}
