//! A hostile audit of the circuit, the plan lowering and the soundness lint
//! (written by an attacker against 578da52; each `forged_*` test here was an
//! attack that worked then, kept as the regression test of its fix).
//!
//! * `forged_lint_*`: the lint's i128 arithmetic wrapped (`i128::MIN + i128::MIN`
//!   merged to 0) and accepted a plan whose circuit proves two outputs for one
//!   input. Coefficients are now bounded by `soundness::MAX_COEFFICIENT`.
//! * `forged_lookup_*`, `forged_add_*`: models the executor refuses but the
//!   circuit proved; `QModel::validate` (which `build_plan` runs) now refuses them.
//! * `completeness_*`: models the executor runs but the circuit could not prove.
//! * `rejected_*`, `inert_*`: attacks that failed, kept as tests.
//!
//! `cargo test -p zkinfer-circuits --test audit`

use zkinfer_testkit::onnx as common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::{Attr, Graph, Lcg};
use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use ndarray::{ArrayD, IxDyn};
use zkinfer_circuits::encoding::fr_from_int as fe;
use zkinfer_circuits::forge::Forgery;
use zkinfer_circuits::plan::{FuncTable, Plan, Row, Wire};
use zkinfer_circuits::{CircuitShape, ModelCircuit, build_plan, soundness};
use zkinfer_quantize::ops::activation::LeakyRelu;
use zkinfer_quantize::ops::elementwise::Add;
use zkinfer_quantize::ops::lookup::Lookup;
use zkinfer_quantize::ops::pool::{AvgPool, MaxPool};
use zkinfer_quantize::ops::shape::Reshape;
use zkinfer_quantize::qmodel::{LookupFn, QOp, QOpKind, QTensor};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, Trace, calibrate_and_quantize, import_onnx};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A hand-built plan (every field of `Plan` is public).
fn hand_plan(width: usize, rows: Vec<Row>, num_wires: usize, inputs: Vec<Wire>, outputs: Vec<Wire>) -> Plan {
    let max_bits = rows.iter().map(|r| if let Row::Lin { bits, .. } = r { *bits } else { 0 }).max().unwrap_or(0);
    let n_rows = rows.len();
    Plan {
        width,
        rows,
        num_wires,
        values: None,
        inputs,
        outputs,
        tables: vec![],
        func_slots: 1,
        max_bits,
        model_name: "hand".into(),
        wire_ops: vec![u32::MAX; num_wires],
        row_ops: vec![u32::MAX; n_rows],
        op_names: vec![],
    }
}

fn circuit_of(plan: Plan) -> (ModelCircuit, u32) {
    let k = plan.min_k();
    let shape = CircuitShape { width: plan.width.max(5), ..plan.shape() };
    (ModelCircuit::new(Arc::new(plan), Some(Fr::from(77)), shape), k)
}

fn mock(c: &ModelCircuit, k: u32) -> Result<(), String> {
    let inst = c.instances().expect("a witness");
    MockProver::run(k, c, vec![inst]).unwrap().verify().map_err(|e| format!("{} failures, first: {}", e.len(), e[0]))
}

/// Compiles an in-memory ONNX graph, calibrated on random rows, with the honest witness of one row.
fn compile(g: &Graph, input_len: usize, config: QuantConfig, width: usize) -> (QModel, ModelCircuit, u32) {
    let dir = tempfile::tempdir().unwrap();
    let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
    let mut rng = Lcg(11);
    let rows: Vec<Vec<f64>> = (0..16).map(|_| rng.vec(input_len, 2.0).into_iter().map(f64::from).collect()).collect();
    let (q, _) = calibrate_and_quantize(&model, &Dataset::new(rows.clone(), None), &config, || {}).unwrap();
    let input: Vec<f64> = rows[5].iter().map(|v| v * 0.9).collect();
    let x = q.quantize_input(&input).unwrap();
    let trace = q.execute(&x.values).unwrap();
    let plan = build_plan(&q, Some(&trace), width).unwrap();
    let k = plan.min_k();
    let shape = plan.shape();
    (q, ModelCircuit::new(Arc::new(plan), Some(Fr::from(77)), shape), k)
}

/// Advice columns a plan row assigns (the rest of the row's cells are free to the prover).
fn used_columns(plan: &Plan, shape: CircuitShape, row: &Row) -> Vec<usize> {
    let _ = plan;
    match row {
        Row::Mac { x, .. } => (0..x.len()).chain([shape.width]).collect(),
        Row::Dot { x, .. } => (0..2 * x.len()).chain([shape.width]).collect(),
        Row::Lin { a, .. } => (0..3).filter(|&i| a[i].is_some()).chain(3..3 + shape.limbs).collect(),
        Row::Sel { .. } => vec![0, 1, 2, 3],
        Row::Func { lookups } => lookups.iter().flat_map(|l| [2 * l.slot, 2 * l.slot + 1]).collect(),
    }
}

fn two_pow(n: u64) -> Fr {
    Fr::from(2).pow([n])
}

// ---------------------------------------------------------------------------
// 1. The soundness lint's coefficient arithmetic wraps (release builds)
// ---------------------------------------------------------------------------

/// The BN254 scalar modulus p split as `p = P_HI·2^128 + P_LO` (both below 2^127).
const P_HI: i128 = 0x30644e72e131a029b85045b68181585d;
const P_LO: i128 = 0x2833e84879b9709143e1f593f0000001;

/// A hand-built plan whose output `y = x + d` has a free summand `d`:
///
/// ```text
/// row 0  Lin  x + 128 ∈ [0, 2^8)                    (the input, range-checked)
/// row 1  Lin  MIN·d + MIN·d + z = 0                 (z = 2^128·d)
/// row 2  Lin  P_LO·d + P_HI·z = 0                   (P_LO·d + P_HI·2^128·d = p·d = 0: always true)
/// row 3  Lin  x + d − y = 0
/// row 4  Lin  y + 128 ∈ [0, 2^8)                    (the output, range-checked)
/// ```
///
/// The lint merges row 1's two coefficients of `d` with a plain `+=` on i128:
/// `i128::MIN + i128::MIN` wraps to 0 and `merge` drops `d`, so the lint reads
/// row 1 as `z = 0` (z "determined"), then row 2 as one equation in `d` (d
/// "determined"), then `y`. In the field the coefficient is −2^128 ≠ 0, and
/// rows 1–2 hold for every `d`: the output is `x + anything` in range.
fn wrapping_plan() -> Plan {
    let (x, d, z, y) = (0, 1, 2, 3);
    let rows = vec![
        Row::Lin { a: [Some(x), None, None], c: [1, 0, 0], cm: 0, cc: 128, bits: 8 },
        Row::Lin { a: [Some(d), Some(d), Some(z)], c: [i128::MIN, i128::MIN, 1], cm: 0, cc: 0, bits: 0 },
        Row::Lin { a: [Some(d), Some(z), None], c: [P_LO, P_HI, 0], cm: 0, cc: 0, bits: 0 },
        Row::Lin { a: [Some(x), Some(d), Some(y)], c: [1, 1, -1], cm: 0, cc: 0, bits: 0 },
        Row::Lin { a: [Some(y), None, None], c: [1, 0, 0], cm: 0, cc: 128, bits: 8 },
    ];
    let mut p = hand_plan(5, rows, 4, vec![x], vec![y]);
    // Honest: d = 0, z = 0, y = x.
    p.values = Some(vec![7, 0, 0, 7]);
    p
}

/// The circuit of [`wrapping_plan`] proves y = x + 0 AND y = x + 5 for the same public x = 7
/// (MockProver accepts both); the lint must therefore reject the plan (it used to panic in
/// debug builds and return Ok in release ones, where the sum wrapped).
#[test]
fn forged_lint_merge_overflow_hides_a_free_wire() {
    assert_eq!(fe(P_LO) + fe(P_HI) * two_pow(128), Fr::ZERO, "P_HI·2^128 + P_LO = p");
    let plan = wrapping_plan();
    let (c, k) = circuit_of(plan.clone());
    assert_eq!(mock(&c, k), Ok(()), "honest witness y = x");
    // The forgery: d = 5, z = 5·2^128, y = 12, claimed as the output for the same input 7.
    let mut f = Forgery::honest(&plan).unwrap();
    f.set(1, Fr::from(5)).set(2, Fr::from(5) * two_pow(128)).set(3, Fr::from(12));
    let forged = c.forged(f);
    assert_eq!(forged.instances().unwrap()[0], Fr::from(7), "same public input");
    assert_eq!(forged.instances().unwrap()[1], Fr::from(12), "another public output");
    assert_eq!(mock(&forged, k), Ok(()), "the circuit accepts y = x + 5");

    // So the lint must reject this plan.
    let verdict = catch_unwind(AssertUnwindSafe(|| soundness::check(&plan)));
    match verdict {
        Ok(Err(e)) => eprintln!("lint rejects (fixed): {e}"),
        Ok(Ok(r)) => panic!(
            "ACCEPTED: the lint says all {} wires are pinned (the i128 sum MIN + MIN wrapped to 0 in `merge`), \
             yet the circuit proves two outputs for one input",
            r.wires
        ),
        Err(_) => panic!(
            "the lint PANICS on this plan (overflow checks are on in this build); in a release build the \
             same `+=` wraps to 0 and the lint returns Ok: rerun with \
             --config 'profile.dev.package.zkinfer-circuits.overflow-checks=false'"
        ),
    }
}

/// The same hole through a Mac row: the lint negates each weight (`-wi`, which overflows for
/// `i128::MIN`) and merges the two copies of `d` (wraps to 0).
#[test]
fn forged_lint_mac_weight_negation_overflow() {
    let (x, d, z, y) = (0, 1, 2, 3);
    let rows = vec![
        Row::Lin { a: [Some(x), None, None], c: [1, 0, 0], cm: 0, cc: 128, bits: 8 },
        // z = MIN·d + MIN·d = −2^128·d; the lint's view: z − (−MIN)·d − (−MIN)·d, wrapped to z = 0.
        Row::Mac { x: vec![d, d], w: vec![i128::MIN, i128::MIN], chain: false, acc: z },
        // −P_LO·d − P_HI·z … as an exact Lin row: P_LO·d − P_HI·z = P_LO·d + P_HI·2^128·d = 0.
        Row::Lin { a: [Some(d), Some(z), None], c: [P_LO, -P_HI, 0], cm: 0, cc: 0, bits: 0 },
        Row::Lin { a: [Some(x), Some(d), Some(y)], c: [1, 1, -1], cm: 0, cc: 0, bits: 0 },
        Row::Lin { a: [Some(y), None, None], c: [1, 0, 0], cm: 0, cc: 128, bits: 8 },
    ];
    let mut plan = hand_plan(5, rows, 4, vec![x], vec![y]);
    plan.values = Some(vec![7, 0, 0, 7]);
    let (c, k) = circuit_of(plan.clone());
    assert_eq!(mock(&c, k), Ok(()), "honest");
    let mut f = Forgery::honest(&plan).unwrap();
    f.set(1, Fr::from(3)).set(2, -Fr::from(3) * two_pow(128)).set(3, Fr::from(10));
    assert_eq!(mock(&c.forged(f), k), Ok(()), "the circuit accepts y = x + 3");
    let verdict = catch_unwind(AssertUnwindSafe(|| soundness::check(&plan)));
    assert!(
        matches!(verdict, Ok(Err(_))),
        "the lint must reject the plan, got {}",
        match verdict {
            Ok(Ok(_)) => "Ok (ACCEPTED)".to_string(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "a panic (overflow checks on; Ok in release)".to_string(),
        }
    );
}

// ---------------------------------------------------------------------------
// 2. Semantics: a Lookup output is never range-checked
// ---------------------------------------------------------------------------

/// A hand-written QModel (valid per `QModel::validate`) whose Sigmoid table holds one entry
/// outside the 8-bit activation range. The executor refuses inputs that hit it
/// (`ActivationOverflow`: "a value outside is an error, not a clamp"); the circuit proves
/// the out-of-range value as the output, because a `Func` row's `y` gets no `range_act`.
fn lookup_model(bad_entry: i64) -> QModel {
    let config = QuantConfig { act_bits: 8, weight_bits: 8, headroom_bits: 1, table_bits: 4 };
    let table: Vec<Option<i64>> = (0..16).map(|i| Some(if i == 15 { bad_entry } else { 4 * i as i64 })).collect();
    QModel {
        format: zkinfer_quantize::qmodel::QMODEL_FORMAT.into(),
        version: zkinfer_quantize::qmodel::QMODEL_VERSION,
        name: "lookup_range".into(),
        config,
        tensors: vec![
            QTensor { name: "x".into(), shape: vec![1, 4], scale_bits: 4, integer: false },
            QTensor { name: "y".into(), shape: vec![1, 4], scale_bits: 6, integer: false },
        ],
        inputs: vec![0],
        outputs: vec![1],
        ops: vec![QOp {
            node: "sig".into(),
            op_type: "Sigmoid".into(),
            inputs: vec![0],
            output: 1,
            kind: QOpKind::Lookup(Lookup { func: LookupFn::Sigmoid, in_shift: 4, base: None, table }),
        }],
        notes: vec![],
    }
}

#[test]
fn forged_lookup_output_outside_the_activation_range() {
    let q = lookup_model(1000);
    let input = vec![120i64, 0, -5, 3];
    // The executor: 120 >> 4 = 7, index 7 + 8 = 15 → 1000, outside [-128, 127]: an error.
    let e = q.execute(&input).unwrap_err().to_string();
    assert!(e.contains("1000"), "{e}");
    // The circuit's witness for that input (a trace that holds 1000) used to prove: the model
    // is now refused before any row is built.
    let e = q.validate().unwrap_err();
    assert!(e.contains("table entry 1000 is outside the 8-bit activation range"), "{e}");
    let ys = [1000i64, 32, 28, 32];
    let trace = Trace {
        tensors: vec![
            ArrayD::from_shape_vec(IxDyn(&[1, 4]), input.clone()).unwrap(),
            ArrayD::from_shape_vec(IxDyn(&[1, 4]), ys.to_vec()).unwrap(),
        ],
    };
    let e = build_plan(&q, Some(&trace), 5).unwrap_err().to_string();
    assert!(e.contains("table entry 1000"), "{e}");
    // An in-range table compiles.
    let q = lookup_model(100);
    q.validate().unwrap();
    build_plan(&q, None, 5).unwrap();
}

// ---------------------------------------------------------------------------
// 3. Cells no row assigns: free, but never read
// ---------------------------------------------------------------------------

fn mixed_model() -> (QModel, ModelCircuit, u32) {
    // Gemm (13 inputs: a partial last Mac row at width 6) → Relu → MaxPool-free chain → Sigmoid,
    // plus LeakyRelu, so every row kind and every Lin shape appears.
    let mut g = Graph::new(&[1, 13], 31);
    let w = g.rand_init("w", &[13, 8], 0.5);
    let b = g.rand_init("b", &[8], 0.5);
    let d = g.node("Gemm", "fc", &["input", &w, &b], vec![]);
    let r = g.node("LeakyRelu", "lrelu", &[d.as_str()], vec![("alpha", Attr::F(0.1))]);
    let w2 = g.rand_init("w2", &[8, 4], 0.5);
    let d2 = g.node("MatMul", "fc2", &[r.as_str(), w2.as_str()], vec![]);
    let r2 = g.node("Relu", "relu", &[d2.as_str()], vec![]);
    g.node("Sigmoid", "sig", &[r2.as_str()], vec![]);
    let small = QuantConfig { act_bits: 12, table_bits: 8, ..QuantConfig::default() };
    compile(&g, 13, small, 6)
}

/// Every advice cell of every plan row that the row leaves unassigned (unused Mac slots, empty
/// Lin operand slots, the columns a Sel/Func row does not use, limb columns of Mac rows…) set
/// to random field elements: MockProver still accepts with the SAME outputs, i.e. these cells
/// are free but no gate or lookup reads them where it matters.
#[test]
fn inert_unassigned_cells_are_free_but_unread() {
    let (_, c, k) = mixed_model();
    let plan = c.plan.clone();
    let ncols = c.shape.advice_columns();
    let mut f = Forgery::honest(&plan).unwrap();
    let mut rng = Lcg(99);
    let mut n = 0;
    for (r, row) in plan.rows.iter().enumerate() {
        let used = used_columns(&plan, c.shape, row);
        for col in 0..ncols {
            if !used.contains(&col) {
                let v = Fr::from(rng.0) * two_pow(200) + Fr::from(col as u64 + 1);
                let _ = rng.next_f32();
                f.set_cell(r, col, v);
                n += 1;
            }
        }
    }
    assert!(n > 0);
    assert_eq!(mock(&c.forged(f.clone()), k), Ok(()), "{n} free cells filled with junk");
    // And with the junk in place, a wrong output is still rejected.
    let y = plan.outputs[0];
    f.set(y, f.get(y) + Fr::ONE);
    assert!(mock(&c.forged(f), k).is_err(), "junk in free cells + output + 1");
}

// ---------------------------------------------------------------------------
// 4. Lint structural rules (hand-built plans)
// ---------------------------------------------------------------------------

fn range(x: Wire, bits: u32) -> Row {
    Row::Lin { a: [Some(x), None, None], c: [1, 0, 0], cm: 0, cc: 1 << (bits - 1), bits }
}

/// A chained Mac as the very first plan row would read row 0's free accumulator cell.
#[test]
fn rejected_chained_mac_reading_row_zero() {
    let rows = vec![Row::Mac { x: vec![0], w: vec![3], chain: true, acc: 1 }, range(0, 8)];
    let p = hand_plan(5, rows, 2, vec![0], vec![1]);
    let e = soundness::check(&p).unwrap_err().to_string();
    assert!(e.contains("chained"), "{e}");
}

/// An empty operand slot whose cell is multiplied through `cm` (slot 1 empty, cm ≠ 0).
#[test]
fn rejected_empty_slot_with_product_coefficient() {
    let rows = vec![range(0, 8), Row::Lin { a: [Some(0), None, Some(1)], c: [1, 0, -1], cm: 5, cc: 0, bits: 0 }];
    let p = hand_plan(5, rows, 2, vec![0], vec![1]);
    let e = soundness::check(&p).unwrap_err().to_string();
    assert!(e.contains("free"), "{e}");
}

/// A Func row with tag 0 would match the function table's (0, 0, 0) padding row.
#[test]
fn rejected_function_tag_zero() {
    let mut p = hand_plan(5, vec![range(0, 8), Row::func(0, 0, 1)], 2, vec![0], vec![1]);
    p.tables = vec![FuncTable { tag: 0, entries: vec![(0, 0), (1, 1)], set: 0 }];
    assert!(soundness::check(&p).is_err());
    p.tables = vec![FuncTable { tag: 1, entries: vec![(0, 0), (1, 1)], set: 0 }];
    assert!(soundness::check(&p).is_err(), "tag 0 names no table");
}

/// A range check wider than the limbs the plan declares.
#[test]
fn rejected_range_check_wider_than_the_limbs() {
    let mut p = hand_plan(5, vec![range(0, 8), range(0, 16)], 1, vec![0], vec![0]);
    p.max_bits = 8;
    assert!(soundness::check(&p).unwrap_err().to_string().contains("limbs"));
}

/// Mixed radix at the no-wrap boundary: a 120-bit remainder window and a quotient whose
/// coefficient times its span would pass 2^127 is not accepted as pinned.
#[test]
fn rejected_mixed_radix_near_the_wrap_bound() {
    // x − 2^120·y ∈ [0, 2^120), y ∈ [−2^7, 2^7): cu·span = 2^120·255 > 2^127 → not determined.
    let rows = vec![
        range(0, 8),
        Row::Lin { a: [Some(0), Some(1), None], c: [1, -(1i128 << 120), 0], cm: 0, cc: 0, bits: 120 },
        range(1, 8),
    ];
    let p = hand_plan(5, rows, 2, vec![0], vec![1]);
    assert!(soundness::check(&p).is_err());
}

// ---------------------------------------------------------------------------
// 5. Instances
// ---------------------------------------------------------------------------

/// A model with no ops: the output tensor is the input tensor. Output cells are the input
/// cells, so claiming another output is rejected by the copy to the instance.
#[test]
fn rejected_identity_model_other_output() {
    let config = QuantConfig::default();
    let q = QModel {
        format: zkinfer_quantize::qmodel::QMODEL_FORMAT.into(),
        version: zkinfer_quantize::qmodel::QMODEL_VERSION,
        name: "identity".into(),
        config,
        tensors: vec![QTensor { name: "x".into(), shape: vec![1, 3], scale_bits: 4, integer: false }],
        inputs: vec![0],
        outputs: vec![0],
        ops: vec![],
        notes: vec![],
    };
    q.validate().unwrap();
    let trace = q.execute(&[5, -6, 7]).unwrap();
    let plan = build_plan(&q, Some(&trace), 5).unwrap();
    assert_eq!(plan.inputs, plan.outputs);
    let (c, k) = circuit_of(plan);
    assert_eq!(mock(&c, k), Ok(()));
    let mut inst = c.instances().unwrap();
    inst[3] += Fr::ONE; // first output
    assert!(MockProver::run(k, &c, vec![inst]).unwrap().verify().is_err());
}

// ---------------------------------------------------------------------------
// 6. Completeness gaps (an honest prover cannot prove what the executor computes;
//    not theft, but a model that keys fine and then never pays, or a crash)
// ---------------------------------------------------------------------------

fn one_op_model(config: QuantConfig, in_shape: Vec<usize>, out_shape: Vec<usize>, kind: QOpKind) -> QModel {
    QModel {
        format: zkinfer_quantize::qmodel::QMODEL_FORMAT.into(),
        version: zkinfer_quantize::qmodel::QMODEL_VERSION,
        name: "one_op".into(),
        config,
        tensors: vec![
            QTensor { name: "x".into(), shape: in_shape, scale_bits: 4, integer: false },
            QTensor { name: "y".into(), shape: out_shape, scale_bits: 4, integer: false },
        ],
        inputs: vec![0],
        outputs: vec![1],
        ops: vec![QOp { node: "op".into(), op_type: "Op".into(), inputs: vec![0], output: 1, kind }],
        notes: vec![],
    }
}

/// MaxPool whose padding is at least the kernel: some windows hold no input. `build_plan`
/// used to index the first element of an empty window and panic; such a model is now
/// refused by validation (the maximum of nothing is undefined), naming the op.
#[test]
fn completeness_max_pool_window_all_padding_is_refused() {
    use zkinfer_quantize::Window;
    let win = Window { kernel: vec![1, 1], strides: vec![1, 1], pads: vec![1, 1, 1, 1], dilations: vec![] };
    let q = one_op_model(
        QuantConfig::default(),
        vec![1, 1, 2, 2],
        vec![1, 1, 4, 4],
        QOpKind::MaxPool(MaxPool { window: win }),
    );
    let e = q.validate().unwrap_err();
    assert!(e.contains("op `op`: a window lies entirely in the padding"), "{e}");
    let r = catch_unwind(AssertUnwindSafe(|| build_plan(&q, None, 5).map(|_| ())));
    assert!(matches!(r, Ok(Err(_))), "build_plan must refuse, not panic");
}

/// AveragePool without count_include_pad on an all-padding window: the executor divides by
/// `max(count, 1)`, the plan by 0 (a 128-bit remainder range check the lint refuses).
#[test]
fn completeness_avg_pool_window_all_padding_compiles() {
    use zkinfer_quantize::Window;
    let win = Window { kernel: vec![1, 1], strides: vec![1, 1], pads: vec![1, 1, 1, 1], dilations: vec![] };
    let kind = QOpKind::AvgPool(AvgPool { window: win, count_include_pad: false });
    let q = one_op_model(QuantConfig::default(), vec![1, 1, 2, 2], vec![1, 1, 4, 4], kind);
    q.validate().unwrap();
    let t = q.execute(&[1, 2, 3, 4]).expect("the executor computes it");
    let plan = build_plan(&q, Some(&t), 5).expect("the model compiles with its witness");
    let (c, k) = circuit_of(plan);
    assert_eq!(mock(&c, k), Ok(()));
}

/// LeakyRelu with α > 1 (legal ONNX): the circuit range-checks rescale(α·x) for every x, also
/// where the executor outputs x itself (x ≥ 0), so valid inputs cannot be proved.
#[test]
fn completeness_leaky_relu_alpha_above_one() {
    let config = QuantConfig { act_bits: 8, weight_bits: 8, headroom_bits: 1, table_bits: 4 };
    let kind = QOpKind::LeakyRelu(LeakyRelu { alpha: 40, alpha_scale_bits: 2 }); // α = 10
    let q = one_op_model(config, vec![1, 2], vec![1, 2], kind);
    q.validate().unwrap();
    let t = q.execute(&[100, -3]).expect("the executor: [100, -30]");
    let plan = build_plan(&q, Some(&t), 5).expect("an executable input has a witness");
    let (c, k) = circuit_of(plan);
    assert_eq!(mock(&c, k), Ok(()));
    // The wider branch check does not let an out-of-range output through: y = 100 claimed as
    // the α-branch value 1000 for x = 100 is rejected.
    let mut f = Forgery::honest(&c.plan).unwrap();
    let y = c.plan.outputs[0];
    f.set(y, Fr::from(1000));
    assert!(mock(&c.forged(f), k).is_err());
}

// ---------------------------------------------------------------------------
// 7. QModel validation gap: non-broadcastable Add shapes
// ---------------------------------------------------------------------------

/// `QModel::validate` does not check that an Add's operand shapes broadcast to its output.
/// Here b has shape [2, 1] and the output [1, 2]: ndarray refuses the broadcast, so the
/// executor fails on EVERY input, but the plan's `broadcast_index` silently maps every
/// output element to b[0]: the model keys, and the circuit proves y = a + b[0] for any input.
#[test]
fn forged_add_with_shapes_the_executor_refuses() {
    let config = QuantConfig { act_bits: 8, weight_bits: 8, headroom_bits: 1, table_bits: 4 };
    let q = QModel {
        format: zkinfer_quantize::qmodel::QMODEL_FORMAT.into(),
        version: zkinfer_quantize::qmodel::QMODEL_VERSION,
        name: "bad_broadcast".into(),
        config,
        tensors: vec![
            QTensor { name: "x".into(), shape: vec![2, 1], scale_bits: 4, integer: false },
            QTensor { name: "a".into(), shape: vec![1, 2], scale_bits: 4, integer: false },
            QTensor { name: "y".into(), shape: vec![1, 2], scale_bits: 4, integer: false },
        ],
        inputs: vec![0],
        outputs: vec![2],
        ops: vec![
            QOp {
                node: "r".into(),
                op_type: "Reshape".into(),
                inputs: vec![0],
                output: 1,
                kind: QOpKind::Reshape(Reshape {}),
            },
            QOp {
                node: "add".into(),
                op_type: "Add".into(),
                inputs: vec![1, 0],
                output: 2,
                kind: QOpKind::Add(Add { sub: false, a_shift: 0, b_shift: 0, shift: 0 }),
            },
        ],
        notes: vec![],
    };
    let e = q.validate().unwrap_err();
    assert!(e.contains("op `add`: input shape [2, 1] does not broadcast to [1, 2]"), "{e}");
    let input = vec![5i64, 9];
    let e = q.execute(&input).unwrap_err().to_string();
    // The circuit's witness y = [5+5, 9+5] used to prove; the plan is now refused.
    let trace = Trace {
        tensors: vec![
            ArrayD::from_shape_vec(IxDyn(&[2, 1]), input.clone()).unwrap(),
            ArrayD::from_shape_vec(IxDyn(&[1, 2]), input.clone()).unwrap(),
            ArrayD::from_shape_vec(IxDyn(&[1, 2]), vec![10, 14]).unwrap(),
        ],
    };
    assert!(build_plan(&q, Some(&trace), 5).is_err(), "the executor refuses it ({e}); so must the circuit");
}
