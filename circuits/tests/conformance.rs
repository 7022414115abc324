//! ONNX's own backend test data, through zkinfer: import → calibrate →
//! quantize → integer execution, compared with ONNX's expected output; the
//! compiled models' circuits are checked with MockProver (honest witness
//! accepted, a tampered output rejected), and a representative subset is
//! really proved and verified.
//!
//! Every input and output of a test is used (models with several inputs and outputs
//! included); float, integer and bool tensors are in scope (integer and bool outputs are
//! compared exactly).
//!
//! The data ships inside the `onnx` pip package (`onnx/backend/test/data`),
//! written by the ONNX project, not by us; `scripts/test.sh` installs the
//! package and sets `ZKINFER_ONNX_TESTDATA`. Without it the test is skipped
//! (and fails with `ZKINFER_REQUIRE_ONNX=1`). The package ships its *node*
//! tests (one op each) as generators only: `tests/onnx_node_data.py` serializes
//! those of the ops of sequence models (MatMul, Softmax, LayerNormalization,
//! Gelu, Gather, LSTM, …) into `ZKINFER_ONNX_NODE_TESTDATA`, a further set.
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
use zkinfer_circuits::{ModelCircuit, build_plan};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// The sets of single models (the `light/` architectures are checked separately).
const SETS: &[&str] = &["pytorch-converted", "pytorch-operator", "simple"];

/// Tests really proved (keygen → prove → verify, and a tampered proof rejected).
const PROVED: &[&str] =
    &["test_Conv2d", "test_MaxPool2d", "test_Linear", "test_Sigmoid", "test_operator_concat2", "test_operator_chunk"];

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

/// A float or integer tensor from a TensorProto file, as floats.
fn read_tensor(path: &Path) -> Result<(Vec<usize>, Vec<f32>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let t = pb::TensorProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match t.data_type {
        1 if !t.float_data.is_empty() => t.float_data.clone(),
        1 => t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        11 if !t.double_data.is_empty() => t.double_data.iter().map(|&v| v as f32).collect(),
        11 => t.raw_data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        7 if !t.int64_data.is_empty() => t.int64_data.iter().map(|&v| v as f32).collect(),
        7 => t.raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        // Integer and bool types held in int32_data (uint8, int8, uint16, int16, int32, bool).
        2..=6 | 9 if !t.int32_data.is_empty() => t.int32_data.iter().map(|&v| v as f32).collect(),
        2 | 9 => t.raw_data.iter().map(|&v| v as f32).collect(),
        3 => t.raw_data.iter().map(|&v| v as i8 as f32).collect(),
        4 => t.raw_data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as f32).collect(),
        5 => t.raw_data.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32).collect(),
        6 => t.raw_data.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        12 | 13 if !t.uint64_data.is_empty() => t.uint64_data.iter().map(|&v| v as f32).collect(),
        12 => t.raw_data.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        13 => t.raw_data.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
        other => return Err(format!("data type {other} (not a float, integer or bool type)")),
    };
    if data.len() != dims.iter().product::<usize>() {
        return Err(format!("{} values for dims {dims:?}", data.len()));
    }
    Ok((dims, data))
}

/// The test's inputs and expected outputs (`input_i.pb`, `output_j.pb` of its first data set).
struct Case {
    inputs: Vec<(Vec<usize>, Vec<f32>)>,
    /// Whether each input is an integer tensor (its calibration copy is not halved).
    integer: Vec<bool>,
    outputs: Vec<Vec<f32>>,
    /// Whether each output is an integer tensor (indices: compared exactly).
    out_integer: Vec<bool>,
}

/// Reads a test's first data set; `Err` says why the test is out of scope (a tensor that is
/// neither float nor int64, a sequence, an expected output that is not finite).
fn read_case(dir: &Path) -> Result<Case, String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let m = pb::ModelProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let g = m.graph.ok_or("no graph")?;
    let inits: BTreeSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let model_inputs: Vec<_> = g.input.iter().filter(|i| !inits.contains(i.name.as_str())).collect();
    let set = dir.join("test_data_set_0");
    let inputs = (0..model_inputs.len())
        .map(|i| read_tensor(&set.join(format!("input_{i}.pb"))))
        .collect::<Result<Vec<_>, _>>()?;
    // Integer and bool tensors (every type read_tensor reads but float, double): exact.
    let is_int = |i: &pb::ValueInfoProto| matches!(&i.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(pb::type_proto::Value::TensorType(t)) if matches!(t.elem_type, 2..=7 | 9 | 12 | 13));
    let integer = model_inputs.iter().map(|i| is_int(i)).collect();
    let out_integer = g.output.iter().map(is_int).collect();
    let outputs = (0..g.output.len())
        .map(|j| read_tensor(&set.join(format!("output_{j}.pb"))).map(|t| t.1))
        .collect::<Result<Vec<_>, _>>()?;
    if outputs.iter().flatten().any(|v| !v.is_finite()) {
        return Err("the expected output holds NaN or infinities".into());
    }
    Ok(Case { inputs, integer, outputs, out_integer })
}

fn run_case(dir: &Path, name: &str, case: &Case) -> (Outcome, String) {
    let expected: Vec<f32> = case.outputs.concat();
    let opts = ImportOptions {
        input_shapes: Some(case.inputs.iter().map(|t| t.0.clone()).collect()),
        keep_final_softmax: true,
    };
    let model = match import_onnx(&dir.join("model.onnx"), &opts) {
        Ok(m) => m,
        Err(e) => return (Outcome::Refused(e.to_string()), String::new()),
    };
    let ops: Vec<String> = model.ops.iter().map(|o| o.op_type.clone()).collect();
    let ops = ops.join(" ");
    let x: Vec<f64> = case.inputs.iter().flat_map(|t| t.1.iter().map(|&v| v as f64)).collect();
    // Calibrate on the test input and a halved copy (so ranges are not fit to one point only),
    // in EZKL's form: one list per input, the two samples concatenated.
    let lists = case
        .inputs
        .iter()
        .zip(&case.integer)
        .map(|(t, &int)| {
            let v: Vec<f64> = t.1.iter().map(|&v| v as f64).collect();
            let half: Vec<f64> = v.iter().map(|x| if int { *x } else { x * 0.5 }).collect();
            [v, half].concat()
        })
        .collect();
    let calib = Dataset::new(lists, None);
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
    // Integer outputs (indices) must be exact.
    let mut at = 0;
    for (out, &int) in case.outputs.iter().zip(&case.out_integer) {
        let wrong = (at..at + out.len()).filter(|&i| int && (got[i] - expected[i] as f64).abs() > 1e-9).count();
        if wrong > 0 {
            let detail = format!("{wrong} of {} integer outputs differ", out.len());
            return (Outcome::Wrong { rel_err: f64::INFINITY, detail }, ops);
        }
        at += out.len();
    }
    let mag = expected.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let err = got.iter().zip(&expected).fold(0.0f64, |m, (&g, &e)| m.max((g - e as f64).abs()));
    let rel_err = err / mag.max(1e-9);
    // The quantization error: a few output quanta, plus 2% of the output's magnitude for the
    // rounding that compounds through the layers.
    let quantum = (-q.output_scales().into_iter().min().unwrap_or(0) as f64).exp2();
    if err > 4.0 * quantum + 0.02 * mag {
        let detail = format!("max error {err:.4} vs magnitude {mag:.4} (quantum {quantum})");
        return (Outcome::Wrong { rel_err, detail }, ops);
    }
    let argmax = |v: &mut dyn Iterator<Item = f64>| {
        v.enumerate().fold((0, f64::NEG_INFINITY), |b, (i, x)| if x > b.1 { (i, x) } else { b }).0
    };
    let first = case.outputs[0].len();
    let am = argmax(&mut got[..first].iter().copied()) == argmax(&mut expected[..first].iter().map(|&v| v as f64));
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
        let x: Vec<i64> = q.trace_inputs(trace);
        let p = prove(&params, &pk, q, &x, Fr::from(9)).map_err(|e| e.to_string())?;
        verify(&params, pk.get_vk(), &p.instances, &p.proof).map_err(|e| e.to_string())?;
        let mut bad = p.instances.clone();
        bad[x.len()] += Fr::from(1);
        if verify(&params, pk.get_vk(), &bad, &p.proof).is_ok() {
            return Err("a tampered output verified".into());
        }
        return Ok("proof");
    }
    let estimate = zkinfer_circuits::cost::estimate_at(q, 8, 1);
    if estimate.k > MOCK_MAX_K {
        return Ok("eval only (estimated k > 15)");
    }
    let plan = build_plan(q, Some(trace), 8).map_err(|e| e.to_string())?;
    let k = plan.min_k();
    let shape = plan.shape();
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
    // Tests with several inputs or outputs: (in scope, passing).
    let mut multi = (0, 0);
    let mut sets: Vec<PathBuf> = SETS.iter().map(|s| root.join(s)).collect();
    match std::env::var_os("ZKINFER_ONNX_NODE_TESTDATA") {
        Some(node) => sets.push(PathBuf::from(node)),
        None => assert!(
            std::env::var_os("ZKINFER_REQUIRE_ONNX").is_none(),
            "ZKINFER_REQUIRE_ONNX is set but ZKINFER_ONNX_NODE_TESTDATA is not (circuits/tests/onnx_node_data.py writes it)"
        ),
    }
    for set in &sets {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(set)
            .unwrap_or_else(|e| panic!("{}: {e}", set.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").exists())
            .collect();
        dirs.sort();
        for dir in dirs {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let case = match read_case(&dir) {
                Ok(c) => c,
                Err(why) => {
                    table.push_str(&format!("| {name} | | out of scope: {why} | | | |\n"));
                    continue;
                }
            };
            let several = case.inputs.len() > 1 || case.outputs.len() > 1;
            total += 1;
            multi.0 += several as usize;
            let t = std::time::Instant::now();
            let (outcome, ops) = run_case(&dir, &name, &case);
            let secs = t.elapsed().as_secs_f64();
            let row = match &outcome {
                Outcome::Pass { rel_err, argmax, checked } => {
                    passed += 1;
                    multi.1 += several as usize;
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
        "\n{passed} of {total} in-scope tests compile and match ONNX's outputs; {} WRONG; {refused} refused. \
         Of them with several inputs or outputs: {} of {}.\n",
        wrong.len(),
        multi.1,
        multi.0
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
