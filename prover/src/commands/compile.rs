//! `zkinfer compile`: ONNX → calibrated QModel + report.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use zkinfer_circuits::cost::{cost_report, estimate, estimate_before_calibration};
use zkinfer_circuits::prove::MAX_CIRCUIT_K;
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, evaluate, import_onnx};

use crate::progress::bar;
use zkinfer_circuits::bundle::Bundle;

/// Arguments of `zkinfer compile`.
#[derive(Args)]
pub struct CompileArgs {
    /// The float ONNX model (one or more inputs and outputs).
    model: PathBuf,
    /// Calibration inputs, EZKL JSON: one list per model input, {"input_data": [[...], ...]}, the
    /// samples concatenated in each (or, for a one-input model, one list per sample).
    #[arg(long)]
    calibration: PathBuf,
    /// Output directory (created if missing).
    #[arg(short, long)]
    out: PathBuf,
    /// Activation budget in bits: every activation the circuit range-checks fits in this many signed bits.
    #[arg(long, default_value_t = QuantConfig::default().act_bits)]
    act_bits: u32,
    /// Weight and constant budget in bits.
    #[arg(long, default_value_t = QuantConfig::default().weight_bits)]
    weight_bits: u32,
    /// Bits of headroom between the calibrated maximum and the activation range.
    #[arg(long, default_value_t = QuantConfig::default().headroom_bits)]
    headroom_bits: u32,
    /// Function tables (Sigmoid, Exp, Log, ...) have at most 2^table_bits entries, each the
    /// smallest that meets its error target on the calibrated range.
    #[arg(long, default_value_t = QuantConfig::default().table_bits)]
    table_bits: u32,
    /// Input shape, comma-separated, when the model's is symbolic (e.g. 1,3,32,32); once per
    /// model input, in order, for a model with several.
    #[arg(long, value_parser = parse_shape)]
    input_shape: Vec<Vec<usize>>,
    /// Prove a final Softmax instead of dropping it (the argmax is the same; keeping it costs
    /// an exp, a sum and a reciprocal table per output).
    #[arg(long)]
    keep_softmax: bool,
    /// Go on when the cost estimate says proving needs more memory than this machine has.
    #[arg(long)]
    force: bool,
}

/// A comma-separated shape such as `1,3,32,32`.
fn parse_shape(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|d| match d.trim().parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(format!("`{d}` is not a positive dimension (expected e.g. 1,3,32,32)")),
        })
        .collect()
}

/// This machine's physical memory, bytes (from /proc/meminfo; `None` elsewhere).
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `zkinfer compile`.
pub fn run(a: CompileArgs) -> Result<()> {
    let config = QuantConfig {
        act_bits: a.act_bits,
        weight_bits: a.weight_bits,
        headroom_bits: a.headroom_bits,
        table_bits: a.table_bits,
    };
    let input_shapes = (!a.input_shape.is_empty()).then(|| a.input_shape.clone());
    let opts = ImportOptions { input_shapes, keep_final_softmax: a.keep_softmax };
    let float = import_onnx(&a.model, &opts).context("[quantize] importing the ONNX model")?;
    estimate_first(&a, &float, &config)?;
    let calib = Dataset::read(&a.calibration).context("[quantize] reading the calibration set")?;
    let samples = calib.samples(&float.inputs).context("[quantize] calibration set")?.len();

    let pb = bar(samples, "calibrating");
    let (qmodel, calibration) =
        calibrate_and_quantize(&float, &calib, &config, || pb.inc(1)).context("[quantize] calibrating")?;
    pb.finish_and_clear();
    // The tables are sized now: the estimate is the circuit's (within a few percent).
    let estimate = estimate(&qmodel).context("[circuit] estimating the circuit")?;
    check_estimate(&a, &estimate)?;

    let outputs: Vec<String> = qmodel.output_tensors().map(|t| t.name.clone()).collect();
    let runner = float.runner(&outputs).context("[quantize] float model")?;
    let pb = bar(samples, "checking");
    let accuracy = evaluate(&qmodel, &runner, &calib, || pb.inc(1)).context("[quantize] evaluating")?;
    pb.finish_and_clear();

    let dir = Bundle::new(&a.out);
    std::fs::create_dir_all(&dir.dir).with_context(|| format!("creating {}", dir.dir.display()))?;
    std::fs::copy(&a.model, dir.onnx()).with_context(|| format!("copying the model to {}", dir.onnx().display()))?;
    qmodel.write(&dir.qmodel()).context("[quantize] writing the model")?;
    let cost = cost_report(&qmodel).context("[circuit] planning the circuit")?;
    let report = report_json(&a, &qmodel, &calibration, &accuracy, &estimate, &cost)?;
    std::fs::write(dir.report(), serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("writing {}", dir.report().display()))?;
    println!("compiled {} -> {}", a.model.display(), dir.dir.display());
    print_summary(&qmodel, &config, &accuracy, &cost);
    Ok(())
}

/// Cost before work: a lower bound of the circuit's size from shapes alone (placeholder
/// scales, the function tables not yet sized), in seconds, before calibration runs the
/// model or any row is built; an error when even that is too large to prove, or to prove
/// on this machine without `--force`. [`check_estimate`] repeats the check on the
/// calibrated model, whose tables are sized.
fn estimate_first(
    a: &CompileArgs,
    float: &zkinfer_quantize::FloatModel,
    config: &QuantConfig,
) -> Result<zkinfer_circuits::cost::Estimate> {
    let sketch = zkinfer_quantize::calibrate::quantize(float, &Default::default(), config)
        .context("[quantize] sizing the model")?
        .0;
    let estimate = estimate_before_calibration(&sketch).context("[circuit] estimating the circuit")?;
    println!("estimate     {} (before calibration sizes the tables)", estimate.summary());
    check_estimate(a, &estimate)?;
    Ok(estimate)
}

/// An error when a circuit of `estimate` is too large to prove, or needs more memory than
/// this machine has (unless `--force`).
fn check_estimate(a: &CompileArgs, estimate: &zkinfer_circuits::cost::Estimate) -> Result<()> {
    if estimate.k > MAX_CIRCUIT_K {
        anyhow::bail!(
            "[circuit] {} is too large to prove: {} (the largest circuit is 2^{MAX_CIRCUIT_K} rows)",
            a.model.display(),
            estimate.summary()
        );
    }
    if let Some(mem) = physical_memory().filter(|&m| estimate.memory_bytes > m && !a.force) {
        anyhow::bail!(
            "[circuit] proving {} would need ~{:.1} GiB, this machine has {:.1} GiB ({}); pass --force to compile anyway",
            a.model.display(),
            estimate.memory_bytes as f64 / (1u64 << 30) as f64,
            mem as f64 / (1u64 << 30) as f64,
            estimate.summary()
        );
    }
    Ok(())
}

/// DIR/report.json: the model's tensors and ops, calibration, accuracy, the estimate and the cost.
fn report_json(
    a: &CompileArgs,
    qmodel: &zkinfer_quantize::QModel,
    calibration: &zkinfer_quantize::Calibration,
    accuracy: &zkinfer_quantize::report::AccuracyReport,
    estimate: &zkinfer_circuits::cost::Estimate,
    cost: &zkinfer_circuits::cost::CostReport,
) -> Result<serde_json::Value> {
    let ops: Vec<_> = qmodel
        .ops
        .iter()
        .map(|o| {
            let t = &qmodel.tensors[o.output];
            json!({"node": o.node, "op_type": o.op_type, "family": o.kind.family(),
                   "output": t.name, "shape": t.shape, "scale_bits": t.scale_bits})
        })
        .collect();
    let input = qmodel.input_tensor();
    let output = qmodel.output_tensor();
    let spec = |t: &zkinfer_quantize::QTensor| json!({"name": t.name, "shape": t.shape, "scale_bits": t.scale_bits, "integer": t.integer});
    let mut report = json!({
        "model": qmodel.name,
        "source": a.model.display().to_string(),
        "content_hash": qmodel.content_hash_hex(),
        "config": qmodel.config,
        "input": spec(input),
        "output": spec(output),
        "inputs": qmodel.input_tensors().map(spec).collect::<Vec<_>>(),
        "outputs": qmodel.output_tensors().map(spec).collect::<Vec<_>>(),
        "ops": ops,
        "calibration": calibration,
        "calibration_accuracy": accuracy,
        "notes": qmodel.notes,
    });
    report["estimate"] = serde_json::to_value(estimate)?;
    // The circuit's cost report: k, rows, advice_columns, fixed_columns, lookups, estimated memory, ...
    if let (Some(obj), serde_json::Value::Object(c)) = (report.as_object_mut(), serde_json::to_value(cost)?) {
        obj.extend(c);
    }
    Ok(report)
}

fn print_summary(
    qmodel: &zkinfer_quantize::QModel,
    config: &QuantConfig,
    accuracy: &zkinfer_quantize::report::AccuracyReport,
    cost: &zkinfer_circuits::cost::CostReport,
) {
    println!(
        "  model        {} ({} ops), content hash {}",
        qmodel.name,
        qmodel.ops.len(),
        &qmodel.content_hash_hex()[..16]
    );
    println!(
        "  budget       {} activation bits, {} weight bits, {} headroom bit(s)",
        config.act_bits, config.weight_bits, config.headroom_bits
    );
    for t in qmodel.input_tensors() {
        let kind = if t.integer { " (integer)" } else { "" };
        println!("  input        `{}` {:?} at scale 2^-{}{kind}", t.name, t.shape, t.scale_bits);
    }
    for t in qmodel.output_tensors() {
        println!("  output       `{}` {:?} at scale 2^-{}", t.name, t.shape, t.scale_bits);
    }
    println!(
        "  calibration  {} samples; argmax agreement {:.2}%, max |error| {:.5}",
        accuracy.samples,
        100.0 * accuracy.argmax_agreement,
        accuracy.max_abs_error
    );
    println!(
        "  circuit      k = {}: {} rows ({} MAC, {} linear, {} select, {} lookup), {} advice + {} fixed columns, {} lookups",
        cost.k,
        cost.rows,
        cost.rows_by_kind.mac,
        cost.rows_by_kind.linear,
        cost.rows_by_kind.select,
        cost.rows_by_kind.lookup,
        cost.advice_columns,
        cost.fixed_columns,
        cost.lookups
    );
    println!(
        "               {} public instances; estimated proving memory {:.0} MiB",
        cost.instances,
        cost.estimated_proving_memory_bytes as f64 / (1 << 20) as f64
    );
    for n in &qmodel.notes {
        println!("  note         {n}");
    }
}
