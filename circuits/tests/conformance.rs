//! ONNX's own backend test data, through zkinfer: import → calibrate →
//! quantize → integer execution, compared with ONNX's expected output; the
//! compiled models' circuits are checked with MockProver (honest witness
//! accepted, a tampered output rejected), and a representative subset is
//! really proved and verified.
//!
//! The data ships inside the `onnx` pip package (`onnx/backend/test/data`),
//! written by the ONNX project, not by us; `scripts/test.sh` installs the
//! package and sets `ZKINFER_ONNX_TESTDATA`. Without it the test is skipped
//! (and fails with `ZKINFER_REQUIRE_ONNX=1`).
//!
//! It prints a table (test, ops, outcome, relative error, argmax, proved) and
//! fails on any WRONG result (compiled, but the output is off by more than the
//! quantization error) or when a test listed in `conformance_baseline.txt` no
//! longer passes. The table is also written to `target/conformance.md`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use prost::Message;
use tract_onnx::pb;
use zkinfer_circuits::{CircuitShape, ModelCircuit, build_plan};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// The sets of single models (the `light/` architectures are checked separately).
const SETS: &[&str] = &["pytorch-converted", "pytorch-operator", "simple"];

/// Tests really proved (keygen → prove → verify, and a tampered proof rejected).
const PROVED: &[&str] =
    &["test_Conv2d", "test_MaxPool2d", "test_Linear", "test_Sigmoid", "test_operator_add_broadcast"];

/// Largest circuit checked with MockProver (2^k rows).
const MOCK_MAX_K: u32 = 15;

/// A test's result.
enum Outcome {
    /// Compiled and matches ONNX's output.
    Pass { rel_err: f64, argmax: bool, checked: &'static str },
    /// Compiled, but the output is off by more than the quantization error.
    Wrong { rel_err: f64, detail: String },
    /// Refused with a reason (an unsupported op or use).
    Refused(String),
}

/// A float tensor from a TensorProto file.
fn read_tensor(path: &Path) -> Result<(Vec<usize>, Vec<f32>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = pb::TensorProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match t.data_type {
        1 if !t.float_data.is_empty() => t.float_data.clone(),
        1 => t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        11 if !t.double_data.is_empty() => t.double_data.iter().map(|&v| v as f32).collect(),
        11 => t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        other => return Err(format!("data type {other} (not float)")),
    };
    if data.len() != dims.iter().product::<usize>() {
        return Err(format!("{} values for dims {dims:?}", data.len()));
    }
    Ok((dims, data))
}

/// Whether a test is in scope: one float input, one float output (a test data set present).
fn in_scope(dir: &Path) -> Result<(), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let m = pb::ModelProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let g = m.graph.ok_or("no graph")?;
    let inits: BTreeSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<_> = g.input.iter().filter(|i| !inits.contains(i.name.as_str())).collect();
    if inputs.len() != 1 || g.output.len() != 1 {
        return Err(format!("{} inputs, {} outputs", inputs.len(), g.output.len()));
    }
    let set = dir.join("test_data_set_0");
    read_tensor(&set.join("input_0.pb"))?;
    let (_, out) = read_tensor(&set.join("output_0.pb"))?;
    if out.iter().any(|v| !v.is_finite()) {
        return Err("the expected output holds NaN or infinities".into());
    }
    Ok(())
}

fn run_case(dir: &Path, name: &str) -> (Outcome, String) {
    let set = dir.join("test_data_set_0");
    let (in_dims, input) = read_tensor(&set.join("input_0.pb")).expect("in scope");
    let (_, expected) = read_tensor(&set.join("output_0.pb")).expect("in scope");
    let opts = ImportOptions { input_shape: Some(in_dims), keep_final_softmax: true };
    let model = match import_onnx(&dir.join("model.onnx"), &opts) {
        Ok(m) => m,
        Err(e) => return (Outcome::Refused(e.to_string()), String::new()),
    };
    let ops: Vec<String> = model.ops.iter().map(|o| o.op_type.clone()).collect();
    let ops = ops.join(" ");
    let x: Vec<f64> = input.iter().map(|&v| v as f64).collect();
    // Calibrate on the test input (and a scaled copy, so ranges are not fit to one point only).
    let calib = Dataset { input_data: vec![x.clone(), x.iter().map(|v| v * 0.5).collect()], labels: None };
    let q = match calibrate_and_quantize(&model, &calib, &QuantConfig::default(), || {}) {
        Ok((q, _)) => q,
        Err(e) => return (Outcome::Refused(e.to_string()), ops),
    };
    let (got, trace) = match q.quantize_input(&x).and_then(|qi| q.execute(&qi.values)) {
        Ok(t) => (q.dequantize_output(&t), t),
        Err(e) => return (Outcome::Refused(format!("execution: {e}")), ops),
    };
    if got.len() != expected.len() {
        let detail = format!("{} outputs, ONNX has {}", got.len(), expected.len());
        return (Outcome::Wrong { rel_err: f64::INFINITY, detail }, ops);
    }
    let mag = expected.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let err = got.iter().zip(&expected).fold(0.0f64, |m, (&g, &e)| m.max((g - e as f64).abs()));
    let rel_err = err / mag.max(1e-9);
    // The quantization error: a few output quanta, plus 2% of the output's magnitude for the
    // rounding that compounds through the layers.
    let quantum = (-q.output_tensor().scale_bits as f64).exp2();
    if err > 4.0 * quantum + 0.02 * mag {
        let detail = format!("max error {err:.4} vs magnitude {mag:.4} (quantum {quantum})");
        return (Outcome::Wrong { rel_err, detail }, ops);
    }
    let argmax = |v: &mut dyn Iterator<Item = f64>| {
        v.enumerate().fold((0, f64::NEG_INFINITY), |b, (i, x)| if x > b.1 { (i, x) } else { b }).0
    };
    let am = argmax(&mut got.iter().copied()) == argmax(&mut expected.iter().map(|&v| v as f64));
    let checked = match check_circuit(&q, &trace, name) {
        Ok(c) => c,
        Err(e) => return (Outcome::Wrong { rel_err, detail: format!("circuit: {e}") }, ops),
    };
    (Outcome::Pass { rel_err, argmax: am, checked }, ops)
}

/// MockProver on the honest witness and a tampered output; a real proof for [`PROVED`].
fn check_circuit(q: &QModel, trace: &zkinfer_quantize::Trace, name: &str) -> Result<&'static str, String> {
    if PROVED.contains(&name) {
        use zkinfer_circuits::prove::{keygen, prove, shape_of, verify};
        let (_, k) = shape_of(q).map_err(|e| e.to_string())?;
        let params = zkinfer_circuits::srs::Srs::dev(k).map_err(|e| e.to_string())?.params;
        let pk = keygen(&params, q).map_err(|e| e.to_string())?;
        let x: Vec<i64> = trace.tensors[q.input].iter().copied().collect();
        let p = prove(&params, &pk, q, &x, Fr::from(9)).map_err(|e| e.to_string())?;
        verify(&params, pk.get_vk(), &p.instances, &p.proof).map_err(|e| e.to_string())?;
        let mut bad = p.instances.clone();
        bad[x.len()] += Fr::from(1);
        if verify(&params, pk.get_vk(), &bad, &p.proof).is_ok() {
            return Err("a tampered output verified".into());
        }
        return Ok("proof");
    }
    let estimate = zkinfer_circuits::cost::estimate_at(q, 8);
    if estimate.k > MOCK_MAX_K {
        return Ok("eval only (estimated k > 15)");
    }
    let plan = build_plan(q, Some(trace), 8).map_err(|e| e.to_string())?;
    let k = plan.min_k();
    let shape = CircuitShape { width: 8, limbs: plan.limbs() };
    let c = ModelCircuit::new(Arc::new(plan), Some(Fr::from(9)), shape);
    let inst = c.instances().ok_or("no witness")?;
    MockProver::run(k, &c, vec![inst.clone()])
        .map_err(|e| format!("{e:?}"))?
        .verify()
        .map_err(|e| format!("honest witness rejected: {}", e[0]))?;
    let mut bad = inst;
    bad[c.plan.inputs.len()] += Fr::from(1);
    if MockProver::run(k, &c, vec![bad]).map_err(|e| format!("{e:?}"))?.verify().is_ok() {
        return Err("a tampered output was accepted".into());
    }
    Ok("mock")
}

fn baseline() -> BTreeSet<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance_baseline.txt");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[test]
fn onnx_backend_conformance() {
    let Some(root) = std::env::var_os("ZKINFER_ONNX_TESTDATA").map(PathBuf::from) else {
        assert!(
            std::env::var_os("ZKINFER_REQUIRE_ONNX").is_none(),
            "ZKINFER_REQUIRE_ONNX is set but ZKINFER_ONNX_TESTDATA is not"
        );
        eprintln!("skipped: set ZKINFER_ONNX_TESTDATA to onnx/backend/test/data");
        return;
    };
    let mut table =
        String::from("| test | ops | outcome | rel. error | argmax | circuit |\n|---|---|---|---|---|---|\n");
    let (mut total, mut passed, mut wrong, mut refused) = (0, 0, vec![], 0);
    let mut passing = BTreeSet::new();
    for set in SETS {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(set))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(set).display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").exists())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if let Err(why) = in_scope(&dir) {
                table.push_str(&format!("| {name} | | out of scope: {why} | | | |\n"));
                continue;
            }
            total += 1;
            let t = std::time::Instant::now();
            let (outcome, ops) = run_case(&dir, &name);
            let secs = t.elapsed().as_secs_f64();
            let row = match &outcome {
                Outcome::Pass { rel_err, argmax, checked } => {
                    passed += 1;
                    passing.insert(name.clone());
                    format!("| {name} | {ops} | ok ({secs:.1} s) | {rel_err:.4} | {argmax} | {checked} |")
                }
                Outcome::Wrong { rel_err, detail } => {
                    wrong.push(name.clone());
                    format!("| {name} | {ops} | **WRONG**: {detail} | {rel_err:.4} | | |")
                }
                Outcome::Refused(why) => {
                    refused += 1;
                    format!("| {name} | {ops} | refused: {} | | | |", why.replace('|', "/").replace('\n', " "))
                }
            };
            eprintln!("{row}");
            table.push_str(&row);
            table.push('\n');
        }
    }
    // The real architectures in light/: each compiles to a cost estimate, or is refused by it
    // with its numbers, never by a missing op.
    table.push_str("\n| light/ model | ops | outcome |\n|---|---|---|\n");
    let mut light_failures = vec![];
    let mut light: Vec<PathBuf> = std::fs::read_dir(root.join("light"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "onnx")).collect()
        })
        .unwrap_or_default();
    light.sort();
    for path in light {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let row = match light_estimate(&path) {
            Ok((ops, summary)) => format!("| {name} | {ops} | {summary} |"),
            Err(e) => {
                light_failures.push(format!("{name}: {e}"));
                format!("| {name} | | **refused**: {} |", e.replace('|', "/"))
            }
        };
        eprintln!("{row}");
        table.push_str(&row);
        table.push('\n');
    }
    let summary = format!(
        "\n{passed} of {total} in-scope tests compile and match ONNX's outputs; {} WRONG; {refused} refused.\n",
        wrong.len()
    );
    table.push_str(&summary);
    eprintln!("{summary}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance.md");
    let _ = std::fs::write(&out, &table);
    assert!(wrong.is_empty(), "WRONG results: {wrong:?} (table in {})", out.display());
    assert!(light_failures.is_empty(), "light/ architectures refused by a missing op: {light_failures:?}");
    let lost: Vec<String> = baseline().into_iter().filter(|b| !passing.contains(b)).collect();
    assert!(lost.is_empty(), "tests in conformance_baseline.txt that no longer pass: {lost:?}");
}

/// Imports a light/ architecture and estimates its circuit from shapes alone (weights
/// quantized with placeholder ranges: rows do not depend on them).
fn light_estimate(path: &Path) -> Result<(usize, String), String> {
    let model = import_onnx(path, &ImportOptions::default()).map_err(|e| e.to_string())?;
    let q = zkinfer_quantize::calibrate::quantize(&model, &Default::default(), &QuantConfig::default())
        .map_err(|e| e.to_string())?
        .0;
    let e = zkinfer_circuits::cost::estimate(&q).map_err(|e| e.to_string())?;
    let verdict =
        if e.k > zkinfer_circuits::prove::MAX_CIRCUIT_K { "refused by the cost estimate" } else { "compiles" };
    Ok((model.ops.len(), format!("{verdict}: {}", e.summary())))
}
