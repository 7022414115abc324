//! Forged-witness tests: for every op, the assignments a malicious prover
//! would choose (another quotient or remainder, a limb out of range, a wrong
//! select bit, a value aliased as p − x, a huge wrap-around value, an output
//! off by the rescale's granularity), each claimed as the public output, and
//! each rejected by the constraint named in the test. Every test first checks
//! that the honest witness passes, so a rejection is the forgery's doing.
//!
//! `cargo test -p zkinfer-circuits forged` runs them all.

use zkinfer_testkit::onnx as common;

use std::sync::Arc;

use common::{Attr, Graph, Lcg};
use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use zkinfer_circuits::ModelCircuit;
use zkinfer_circuits::forge::Forgery;
use zkinfer_circuits::plan::{Plan, Row, Wire};
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// A compiled one-model case with an honest witness.
struct Case {
    q: QModel,
    c: ModelCircuit,
    k: u32,
}

impl Case {
    /// Compiles `g` (calibrated on random rows), runs `input` (or a calibration row) through it.
    fn new(g: &Graph, input_len: usize, config: QuantConfig, input: Option<Vec<f64>>) -> Case {
        let mut rng = Lcg(11);
        let rows: Vec<Vec<f64>> =
            (0..16).map(|_| rng.vec(input_len, 2.0).into_iter().map(f64::from).collect()).collect();
        let input = input.unwrap_or_else(|| rows[5].iter().map(|v| v * 0.9).collect());
        Case::on(g, rows, &input, config)
    }

    /// Compiles `g` calibrated on `rows` (one sample each), with the honest witness of `input`.
    fn on(g: &Graph, rows: Vec<Vec<f64>>, input: &[f64], config: QuantConfig) -> Case {
        Case::on_slots(g, rows, input, config, 1)
    }

    /// [`Case::on`] in a circuit of `slots` function-lookup slots.
    fn on_slots(g: &Graph, rows: Vec<Vec<f64>>, input: &[f64], config: QuantConfig, slots: usize) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
        let (q, _) = calibrate_and_quantize(&model, &Dataset::new(rows, None), &config, || {}).unwrap();
        let x = q.quantize_input(input).unwrap();
        let trace = q.execute(&x.values).unwrap();
        let plan = zkinfer_circuits::plan::build_plan_in(&q, Some(&trace), 6, slots).unwrap();
        let k = plan.min_k();
        let shape = plan.shape();
        let c = ModelCircuit::new(Arc::new(plan), Some(Fr::from(77)), shape);
        let case = Case { q, c, k };
        assert_eq!(case.check(case.honest()), Ok(()), "the honest witness must pass");
        case
    }

    fn plan(&self) -> &Plan {
        &self.c.plan
    }

    fn honest(&self) -> Forgery {
        Forgery::honest(self.plan()).unwrap()
    }

    fn value(&self, w: Wire) -> i128 {
        self.plan().value(w).unwrap()
    }

    /// Runs MockProver on the forged witness, with the instances it claims.
    /// `Err` lists each failure as `kind@plan-row` (kind: a gate or lookup name, or `copy`;
    /// the region starts at circuit row 1, so its offsets are plan rows).
    fn check(&self, f: Forgery) -> Result<(), Vec<String>> {
        let c = self.c.forged(f);
        let inst = c.instances().unwrap();
        MockProver::run(self.k, &c, vec![inst]).unwrap().verify().map_err(|fails| {
            fails
                .iter()
                .map(|e| {
                    let s = e.to_string();
                    let kind = if s.starts_with("Equality constraint") {
                        "copy"
                    } else if s.contains("('mac')") {
                        "mac"
                    } else if s.contains("('dot')") {
                        "dot"
                    } else if s.contains("('lin')") {
                        "lin"
                    } else if s.contains("('select')") {
                        "select"
                    } else if s.contains("limb range") {
                        "limb range"
                    } else if s.contains("function") {
                        "function"
                    } else {
                        "other"
                    };
                    let row = s
                        .split("at offset ")
                        .nth(1)
                        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|t| t.parse::<usize>().ok())
                        .map_or("?".to_string(), |r| r.to_string());
                    format!("{kind}@{row}")
                })
                .collect()
        })
    }
}

fn fr(v: i128) -> Fr {
    zkinfer_circuits::encoding::fr_from_int(v)
}

/// Which constraints can reject a wrong range-checked sum: the row's gate (the limbs
/// cannot add up to a huge field element) or the limb table (a limb out of range).
const RANGE: &[&str] = &["lin", "limb range"];

impl Case {
    fn lin(&self, r: usize) -> (&[Option<Wire>; 3], &[i128; 3], i128, i128, u32) {
        match &self.plan().rows[r] {
            Row::Lin { a, c, cm, cc, bits } => (a, c, *cm, *cc, *bits),
            other => panic!("row {r} is not a Lin row: {other:?}"),
        }
    }

    fn find(&self, what: &str, pred: impl Fn(&Row) -> bool) -> usize {
        self.plan().rows.iter().position(pred).unwrap_or_else(|| panic!("no {what} row"))
    }

    /// The row that range-checks `w` as an activation: `w + 2^(B-1) ∈ [0, 2^B)`.
    /// (`usize::MAX` when there is none, so that a forgery it should stop is reported ACCEPTED.)
    fn range_row(&self, w: Wire) -> usize {
        let bits = self.q.config.act_bits;
        self.plan()
            .rows
            .iter()
            .position(|r| {
                matches!(r, Row::Lin { a, c, cc, bits: b, .. }
                if *a == [Some(w), None, None] && *c == [1, 0, 0] && *cc == 1 << (bits - 1) && *b == bits)
            })
            .unwrap_or(usize::MAX)
    }

    /// The rescale row `c0·a0 + c1·a1 + cm·a0·a1 + cc − 2^s·y ∈ [0, 2^s)` that defines `y`
    /// (or the exact row `… − y = 0` when the op shifts left).
    fn rescale_row(&self, y: Wire) -> usize {
        self.find("rescale", |r| matches!(r, Row::Lin { a, c, .. } if a[2] == Some(y) && c[2] < 0))
    }

    /// The value of a Lin row's left-hand side without its `a2` term.
    fn lhs_without_a2(&self, r: usize) -> i128 {
        let (a, c, cm, cc, _) = self.lin(r);
        let v = |i: usize| a[i].map_or(0, |w| self.value(w));
        c[0] * v(0) + c[1] * v(1) + cm * v(0) * v(1) + cc
    }

    /// The Sel row that defines `y`: (row, base, d, b).
    fn select_row(&self, y: Wire) -> (usize, Wire, Wire, Wire) {
        let r = self.find("select", |r| matches!(r, Row::Sel { y: yy, .. } if *yy == y));
        match &self.plan().rows[r] {
            Row::Sel { base, d, b, .. } => (r, *base, *d, *b),
            _ => unreachable!(),
        }
    }

    /// The sign row `x + (1 − b)·2^(t) ∈ [0, 2^t)` of bit `b`.
    fn sign_row(&self, b: Wire) -> usize {
        self.find("sign", |r| matches!(r, Row::Lin { a, c, .. } if a[1] == Some(b) && c[1] < 0))
    }

    /// The output wires' honest values.
    fn outputs(&self) -> Vec<(Wire, i128)> {
        self.plan().outputs.iter().map(|&w| (w, self.value(w))).collect()
    }

    fn assert_rejected_by(&self, what: &str, f: Forgery, kinds: &[&str], row: usize) {
        let fails = match self.check(f) {
            Ok(()) => panic!("{what}: the forgery was ACCEPTED"),
            Err(fails) => fails,
        };
        let want: Vec<String> = kinds.iter().map(|k| format!("{k}@{row}")).collect();
        assert!(
            fails.iter().any(|f| want.contains(f)),
            "{what}: rejected, but not by {kinds:?} on row {row}: {fails:?}"
        );
    }

    fn failures(&self, f: Forgery) -> Vec<String> {
        self.check(f).err().unwrap_or_default()
    }
}

/// The attacks on a rescaled output `y` (any op that ends in `combine`/`rescale`).
fn attack_rescale(c: &Case, y: Wire, op: &str) {
    let rr = c.rescale_row(y);
    let yr = c.range_row(y);
    let (_, co, _, _, bits) = c.lin(rr);
    let yv = c.value(y);
    // Another quotient: y ± 1 (the output off by the rescale's granularity), limbs from the row.
    for delta in [1, -1] {
        let mut f = c.honest();
        f.set(y, fr(yv + delta));
        c.assert_rejected_by(&format!("{op}: y{delta:+}"), f, RANGE, rr);
    }
    // Aliased: the field element p − y (i.e. −y).
    if yv != 0 {
        let mut f = c.honest();
        f.set(y, -fr(yv));
        c.assert_rejected_by(&format!("{op}: p − y"), f, RANGE, rr);
    }
    if bits == 0 {
        // An exact row (the op shifts left): its one solution is the honest y.
        assert_eq!(co[2], -1);
        return;
    }
    let two_s = 1i128 << bits;
    let rest = c.lhs_without_a2(rr);
    let r = rest - two_s * yv;
    assert!((0..two_s).contains(&r));
    // A huge field quotient that satisfies the rescale row with any remainder r′:
    // only the range check on y rejects it.
    for r2 in [0, two_s - 1, (r + 1) % two_s] {
        if r2 == r {
            continue;
        }
        let y2 = fr(rest - r2) * fr(two_s).invert().unwrap();
        let mut f = c.honest();
        f.set(y, y2);
        let fails = c.failures(f.clone());
        assert!(
            !fails.iter().any(|e| e.ends_with(&format!("@{rr}"))),
            "{op}: the rescale row alone should accept y′ for r′ = {r2}: {fails:?}"
        );
        c.assert_rejected_by(&format!("{op}: field quotient for r′ = {r2}"), f, RANGE, yr);
    }
    // y − 1 with the remainder r + 2^s written in limbs that add up but leave their range:
    // all in limb 0, or limb 1 = p − 1 with limb 0 compensating.
    let lhs = r + two_s;
    let mut f = c.honest();
    f.set(y, fr(yv - 1)).set_cell(rr, 3, fr(lhs));
    for j in 1..c.c.shape.limbs {
        f.set_cell(rr, 3 + j, Fr::ZERO);
    }
    c.assert_rejected_by(&format!("{op}: remainder in one limb"), f, &["limb range"], rr);
    let mut f = c.honest();
    f.set(y, fr(yv - 1)).set_cell(rr, 3, fr((lhs & 0xff) + 256)).set_cell(rr, 4, fr((lhs >> 8) - 1));
    for j in 2..c.c.shape.limbs {
        f.set_cell(rr, 3 + j, fr((lhs >> (8 * j)) & 0xff));
    }
    c.assert_rejected_by(&format!("{op}: limb 1 = p − 1"), f, &["limb range"], rr);
}

/// The attacks on a select `y = base + b·d` whose bit `b` comes from a sign row.
fn attack_select(c: &Case, y: Wire, op: &str) {
    let (sr, base, d, b) = c.select_row(y);
    let sign = c.sign_row(b);
    let (bv, dv, basev) = (c.value(b), c.value(d), c.value(base));
    // The other branch (a wrong select bit): stopped by the sign row.
    if dv != 0 {
        let mut f = c.honest();
        f.set(b, fr(1 - bv)).set(y, fr(basev + (1 - bv) * dv));
        c.assert_rejected_by(&format!("{op}: select bit flipped"), f, RANGE, sign);
    }
    // Non-boolean bits: 2, p − 1, and the field element that satisfies the sign row
    // with another remainder.
    let (_, sc, _, scc, sbits) = c.lin(sign);
    let x = c.lin(sign).0[0].unwrap();
    let t = 1i128 << sbits;
    let r_honest = sc[0] * c.value(x) + sc[1] * bv + scc;
    let b_field = (fr(sc[0] * c.value(x) + scc - (r_honest + 1) % t)) * (-fr(sc[1])).invert().unwrap();
    for (name, b2) in [("2", fr(2)), ("p − 1", -Fr::ONE), ("a field solution of the sign row", b_field)] {
        let mut f = c.honest();
        f.set(b, b2).set(y, fr(basev) + b2 * fr(dv));
        if dv == 0 && name == "2" {
            // y is unchanged, but the bit is still not boolean.
        }
        c.assert_rejected_by(&format!("{op}: select bit {name}"), f, &["select"], sr);
    }
    // y aliased as p − y, and y off by one, with the bit honest.
    let yv = c.value(y);
    for (name, y2) in [("p − y", -fr(yv)), ("y + 1", fr(yv + 1))] {
        if y2 == fr(yv) {
            continue;
        }
        let mut f = c.honest();
        f.set(y, y2);
        c.assert_rejected_by(&format!("{op}: {name}"), f, &["select"], sr);
    }
}

fn cfg() -> QuantConfig {
    QuantConfig::default()
}

fn gap_case() -> Case {
    let mut g = Graph::new(&[1, 1, 4, 4], 21);
    g.node("GlobalAveragePool", "gap", &["input"], vec![]);
    Case::new(&g, 16, cfg(), None)
}

/// The division rows of an average: (exact row, remainder rows, acc, r, n).
fn division_rows(c: &Case, y: Wire) -> (usize, Vec<usize>, Wire, Wire, i128) {
    let dr = c.find("division", |r| matches!(r, Row::Lin { a, c: co, .. } if a[1] == Some(y) && co[0] == 2));
    let (a, co, _, _, _) = c.lin(dr);
    let (acc, r) = (a[0].unwrap(), a[2].unwrap());
    let n = -co[1] / 2;
    let rem: Vec<usize> = c
        .plan()
        .rows
        .iter()
        .enumerate()
        .filter(|(_, row)| matches!(row, Row::Lin { a, .. } if *a == [Some(r), None, None]))
        .map(|(i, _)| i)
        .collect();
    (dr, rem, acc, r, n)
}

/// The attacks on an average `y = div_round(acc, n)`.
fn attack_average(c: &Case, y: Wire, op: &str) {
    let (dr, rem, acc, r, n) = division_rows(c, y);
    let yr = c.range_row(y);
    let (accv, yv, rv) = (c.value(acc), c.value(y), c.value(r));
    assert_eq!(2 * accv + n - 2 * n * yv, rv);
    // The review's forgery: y′ = (2·acc + n − r′)/(2n) mod p with an in-range remainder r′.
    for r2 in [0, 2 * n - 1, (rv + 1) % (2 * n)] {
        if r2 == rv {
            continue;
        }
        let y2 = fr(2 * accv + n - r2) * fr(2 * n).invert().unwrap();
        assert_ne!(y2, fr(yv));
        let mut f = c.honest();
        f.set(y, y2).set(r, fr(r2));
        let fails = c.failures(f.clone());
        assert!(
            !fails.iter().any(|e| e.ends_with(&format!("@{dr}")) || rem.iter().any(|q| e.ends_with(&format!("@{q}")))),
            "{op}: the division rows alone should accept y′ for r′ = {r2}: {fails:?}"
        );
        c.assert_rejected_by(&format!("{op}: field quotient for r′ = {r2}"), f, RANGE, yr);
    }
    // Another quotient with the matching remainder: r + 2n (too large) or r − 2n (negative).
    let mut f = c.honest();
    f.set(y, fr(yv - 1)).set(r, fr(rv + 2 * n));
    let upper = *rem.last().unwrap();
    c.assert_rejected_by(&format!("{op}: y − 1 with remainder r + 2n"), f, RANGE, upper);
    let mut f = c.honest();
    f.set(y, fr(yv + 1)).set(r, fr(rv - 2 * n));
    c.assert_rejected_by(&format!("{op}: y + 1 with remainder r − 2n"), f, RANGE, rem[0]);
    // Another quotient with the honest remainder: the exact division row.
    let mut f = c.honest();
    f.set(y, fr(yv + 1));
    c.assert_rejected_by(&format!("{op}: y + 1"), f, RANGE, dr);
    // A sum that makes y + 1 exact: the Mac row.
    let mac = c.find("sum", |row| matches!(row, Row::Mac { acc: a, .. } if *a == acc));
    let mut f = c.honest();
    f.set(acc, fr(accv + n)).set(y, fr(yv + 1));
    c.assert_rejected_by(&format!("{op}: sum + n"), f, &["mac"], mac);
}

/// The review's forgery, on the tiny model it names: [1,1,4,4] → GlobalAveragePool.
/// Seen ACCEPTED before div_round range-checked its output (commit c0f4b04).
#[test]
fn forged_global_average_pool() {
    let c = gap_case();
    let y = c.plan().outputs[0];
    attack_average(&c, y, "GlobalAveragePool");
}

#[test]
fn forged_average_pool_with_padding() {
    // 3×3 windows with padding: divisors 4, 6 and 9 (2n = 12 and 18 need the upper bound row).
    let mut g = Graph::new(&[1, 1, 4, 4], 9);
    g.node(
        "AveragePool",
        "avg",
        &["input"],
        vec![("kernel_shape", Attr::Ints(vec![3, 3])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    let c = Case::new(&g, 16, cfg(), None);
    let mut divisors = vec![];
    for (y, _) in c.outputs() {
        let (_, rem, _, _, n) = division_rows(&c, y);
        if !divisors.contains(&n) {
            assert_eq!(rem.len(), if (2 * n).count_ones() == 1 { 1 } else { 2 }, "n = {n}");
            divisors.push(n);
            attack_average(&c, y, &format!("AveragePool (n = {n})"));
        }
    }
    divisors.sort();
    assert_eq!(divisors, [4, 6, 9]);
}

fn dense_case() -> Case {
    let mut g = Graph::new(&[1, 13], 1);
    let w = g.rand_init("w", &[4, 13], 0.5);
    let b = g.rand_init("b", &[4], 0.5);
    g.node("Gemm", "fc", &["input", &w, &b], vec![("transB", Attr::I(1))]);
    Case::new(&g, 13, cfg(), None)
}

/// Dense: every rescale attack, a shifted accumulator (Mac gate), and one copy of an
/// input changed in a Mac row (copy constraint).
#[test]
fn forged_dense() {
    let c = dense_case();
    for (y, _) in c.outputs().into_iter().take(2) {
        attack_rescale(&c, y, "Gemm");
    }
    let y = c.plan().outputs[0];
    let rr = c.rescale_row(y);
    let (a, co, _, _, bits) = c.lin(rr);
    let acc = a[0].unwrap();
    assert_eq!(co[0], 1);
    let mac = c.find("mac", |row| matches!(row, Row::Mac { acc: a, .. } if *a == acc));
    let mut f = c.honest();
    f.set(acc, fr(c.value(acc) + (1 << bits))).set(y, fr(c.value(y) + 1));
    c.assert_rejected_by("Gemm: accumulator + 2^s", f, &["mac"], mac);
    // One copy of x_0 in the first Mac row made larger by 2^s / w_0-ish: the copy constraint.
    let first_mac = c.find("mac", |row| matches!(row, Row::Mac { .. }));
    let x0 = match &c.plan().rows[first_mac] {
        Row::Mac { x, .. } => x[0],
        _ => unreachable!(),
    };
    let mut f = c.honest();
    f.set_cell(first_mac, 0, fr(c.value(x0) + 1000));
    let fails = c.failures(f);
    assert!(fails.iter().any(|e| e.starts_with("copy")), "Gemm: a changed copy of an input: {fails:?}");
}

/// `[3, 8] @ [8, 2]` of two activations (the right one a projection of the input): with
/// width 6, three pairs per dot row, so each output's eight products take three rows, the
/// last padded with the zero wire.
fn matmul_case() -> Case {
    let mut g = Graph::new(&[1, 24], 31);
    let w = g.rand_init("w", &[24, 16], 0.4);
    let p = g.node("MatMul", "proj", &["input", &w], vec![]);
    let sa = g.init_i64("sa", &[2], vec![3, 8]);
    let sb = g.init_i64("sb", &[2], vec![8, 2]);
    let a = g.node("Reshape", "ra", &["input", &sa], vec![]);
    let b = g.node("Reshape", "rb", &[&p, &sb], vec![]);
    g.node("MatMul", "mm", &[&a, &b], vec![]);
    Case::new(&g, 24, cfg(), None)
}

/// The dot rows that accumulate `acc` (the chain ending in the row that defines it).
fn dot_chain(c: &Case, acc: Wire) -> Vec<usize> {
    let last = c.find("dot", |row| matches!(row, Row::Dot { acc: a, .. } if *a == acc));
    let mut rows = vec![last];
    while let Row::Dot { chain: true, .. } = &c.plan().rows[*rows.last().unwrap()] {
        rows.push(rows.last().unwrap() - 1);
    }
    rows.reverse();
    rows
}

/// MatMul of two activations: every rescale attack on its outputs; an accumulator shifted
/// by the rescale's granularity (final and intermediate, the chain compensating); a
/// padding slot filled with a product that pays for another output; a factor's copy
/// aliased as p − x; the two factors of a pair swapped (same product, wrong wires).
#[test]
fn forged_matmul_of_activations() {
    let c = matmul_case();
    assert!(c.c.shape.dot && c.plan().has_dot());
    let outs = c.outputs();
    for &(y, _) in [&outs[0], &outs[outs.len() - 1]] {
        attack_rescale(&c, y, "MatMul");
    }
    let y = c.plan().outputs[0];
    let rr = c.rescale_row(y);
    let (a, _, _, _, bits) = c.lin(rr);
    let acc = a[0].unwrap();
    let chain = dot_chain(&c, acc);
    assert_eq!(chain.len(), 3, "eight products at three per row");
    let dot_of = |r: usize| match &c.plan().rows[r] {
        Row::Dot { x, y, acc, .. } => (x.clone(), y.clone(), *acc),
        _ => unreachable!(),
    };
    // The final accumulator + 2^s, the output + 1 (the rescale row then holds).
    let mut f = c.honest();
    f.set(acc, fr(c.value(acc) + (1 << bits))).set(y, fr(c.value(y) + 1));
    c.assert_rejected_by("MatMul: accumulator + 2^s", f, &["dot"], chain[2]);
    // An intermediate accumulator + 2^s and everything after it too: the first row breaks.
    let mut f = c.honest();
    for &r in &chain {
        let w = dot_of(r).2;
        f.set(w, fr(c.value(w) + (1 << bits)));
    }
    f.set(y, fr(c.value(y) + 1));
    c.assert_rejected_by("MatMul: the whole chain + 2^s", f, &["dot"], chain[0]);
    // The padding slot of the last row (x_2 and y_2 hold the zero wire): 2^s worth of product.
    let (x, yw, last_acc) = dot_of(chain[2]);
    assert_eq!(c.value(x[2]), 0, "the padding is the zero wire");
    assert_eq!((x[2], yw[2]), (x[2], x[2]), "both padding factors are the zero wire");
    let mut f = c.honest();
    f.set_cell(chain[2], 2, fr(1 << bits)).set_cell(chain[2], 5, Fr::ONE);
    f.set(last_acc, fr(c.value(last_acc) + (1 << bits))).set(y, fr(c.value(y) + 1));
    let fails = c.failures(f);
    assert!(fails.iter().any(|e| e.starts_with("copy")), "MatMul: a filled padding slot: {fails:?}");
    assert!(!fails.iter().any(|e| e.starts_with("dot")), "the gate alone accepts the padded product: {fails:?}");
    // One copy of x_0 in the first row aliased as p − x_0, the accumulator compensating.
    let (x, yw, first_acc) = dot_of(chain[0]);
    let (xv, yv) = (c.value(x[0]), c.value(yw[0]));
    if xv != 0 && yv != 0 {
        let mut f = c.honest();
        f.set_cell(chain[0], 0, -fr(xv)).set_cell(chain[0], 6, fr(c.value(first_acc) - 2 * xv * yv));
        let fails = c.failures(f);
        assert!(fails.iter().any(|e| e.starts_with("copy")), "MatMul: a factor's copy as p − x: {fails:?}");
    }
    // The factors of pair 0 swapped in their cells: the product is the same, the wires are not.
    if xv != yv {
        let mut f = c.honest();
        f.set_cell(chain[0], 0, fr(yv)).set_cell(chain[0], 3, fr(xv));
        let fails = c.failures(f);
        assert!(fails.iter().any(|e| e.starts_with("copy")), "MatMul: swapped factors: {fails:?}");
    }
}

/// Embedding by token ids: an output taken from another row of the table, from another
/// column, aliased as p − y; an index outside the table (the public input claims it), and
/// the index aliased as p − i — each rejected by the lookup of the element.
#[test]
fn forged_embedding() {
    let mut g = Graph::new(&[1, 4], 41);
    g.input_elem = 7;
    let table = g.rand_init("emb", &[9, 3], 1.0);
    g.node("Gather", "embed", &[&table, "input"], vec![]);
    let rows: Vec<Vec<f64>> = (0..6).map(|r| (0..4).map(|j| ((r * 4 + j) % 9) as f64).collect()).collect();
    let c = Case::on(&g, rows, &[3.0, 8.0, 0.0, 5.0], cfg());
    let op = match &c.q.ops[0].kind {
        zkinfer_quantize::QOpKind::Embedding(e) => e.clone(),
        other => panic!("{other:?}"),
    };
    let (ids, outs) = (c.plan().inputs.clone(), c.outputs());
    let lookup_of = |y: Wire| c.find("function", |r| r.lookup_of(y).is_some());
    // Element (token 0, column 1): index 3.
    let (y, yv) = outs[1];
    let fr_row = lookup_of(y);
    for (name, v) in [
        ("another row's value", fr(op.table[4 * op.dim + 1] as i128)),
        ("another column's value", fr(op.table[3 * op.dim + 2] as i128)),
        ("p − y", -fr(yv)),
        ("y + 1", fr(yv + 1)),
    ] {
        if v == fr(yv) {
            continue;
        }
        let mut f = c.honest();
        f.set(y, v);
        c.assert_rejected_by(&format!("Embedding: {name}"), f, &["function"], fr_row);
    }
    // The index claimed as 9 (no such row) with any output, and as p − 3.
    for (name, i) in [("index 9", fr(9)), ("index p − 3", -fr(3))] {
        let mut f = c.honest();
        f.set(ids[0], i);
        c.assert_rejected_by(&format!("Embedding: {name}"), f, &["function"], fr_row);
    }
}

#[test]
fn forged_conv() {
    let mut g = Graph::new(&[1, 2, 5, 5], 2);
    let w = g.rand_init("w", &[2, 2, 3, 3], 0.5);
    let b = g.rand_init("b", &[2], 0.2);
    g.node(
        "Conv",
        "conv",
        &["input", &w, &b],
        vec![("strides", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![1, 1, 1, 1]))],
    );
    let c = Case::new(&g, 50, cfg(), None);
    let outs = c.outputs();
    attack_rescale(&c, outs[0].0, "Conv");
    attack_rescale(&c, outs[outs.len() - 1].0, "Conv");
}

#[test]
fn forged_add_sub_mul() {
    for op in ["Add", "Sub", "Mul"] {
        let mut g = Graph::new(&[1, 6], 3);
        let w = g.rand_init("w", &[6, 6], 0.9);
        let d = g.node("MatMul", "mm", &["input", &w], vec![]);
        g.node(op, "op", &["input", &d], vec![]);
        let c = Case::new(&g, 6, cfg(), None);
        for (y, _) in c.outputs().into_iter().take(2) {
            attack_rescale(&c, y, op);
        }
        // The product/sum read through a changed copy of the MatMul output: copy constraint.
        let y = c.plan().outputs[0];
        let rr = c.rescale_row(y);
        let (a, ..) = c.lin(rr);
        let mut f = c.honest();
        f.set_cell(rr, 1, fr(c.value(a[1].unwrap()) + 1));
        let fails = c.failures(f);
        assert!(fails.iter().any(|e| e.starts_with("copy")), "{op}: changed operand copy: {fails:?}");
    }
}

#[test]
fn forged_affine() {
    let mut g = Graph::new(&[1, 2, 3], 4);
    let k = g.init("c", &[2, 1], vec![0.75, -1.25]);
    let m = g.node("Mul", "mul", &["input", &k], vec![]);
    let d = g.init("d", &[3], vec![0.5, -0.5, 0.25]);
    g.node("Sub", "sub", &[&m, &d], vec![]);
    let c = Case::new(&g, 6, cfg(), None);
    for (y, _) in c.outputs().into_iter().take(3) {
        attack_rescale(&c, y, "Mul+Sub (affine)");
    }
}

#[test]
fn forged_relu() {
    let mut g = Graph::new(&[1, 8], 5);
    g.node("Relu", "relu", &["input"], vec![]);
    let c = Case::new(&g, 8, cfg(), None);
    let outs = c.outputs();
    let neg = outs.iter().position(|&(y, _)| c.value(c.select_row(y).2) < 0).expect("a negative input");
    let pos = outs.iter().position(|&(y, _)| c.value(c.select_row(y).2) > 0).expect("a positive input");
    for i in [neg, pos] {
        attack_select(&c, outs[i].0, "Relu");
    }
    // The shared zero wire set to the negative input: y = x for x < 0 with b = 0.
    let (_, base, d, _) = c.select_row(outs[neg].0);
    let zr = c.find("zero", |r| matches!(r, Row::Lin { a, bits: 0, .. } if *a == [Some(base), None, None]));
    let mut f = c.honest();
    f.set(base, fr(c.value(d)));
    for &(y, _) in &outs {
        let (_, _, dd, bb) = c.select_row(y);
        f.set(y, fr(c.value(d)) + fr(c.value(bb) * c.value(dd)));
    }
    c.assert_rejected_by("Relu: zero wire forged", f, RANGE, zr);
}

#[test]
fn forged_leaky_relu() {
    let mut g = Graph::new(&[1, 8], 6);
    g.node("LeakyRelu", "lrelu", &["input"], vec![("alpha", Attr::F(0.2))]);
    let c = Case::new(&g, 8, cfg(), None);
    let outs = c.outputs();
    for &(y, _) in outs.iter().take(4) {
        attack_select(&c, y, "LeakyRelu");
    }
    // The negative branch's rescale α·x, forged where it is the output (x < 0, b = 0).
    let (_, base, d, b) =
        c.select_row(outs.iter().find(|&&(y, _)| c.value(c.select_row(y).3) == 0).expect("a negative input").0);
    assert_eq!(c.value(b), 0);
    let _ = d;
    attack_rescale(&c, base, "LeakyRelu α·x");
}

#[test]
fn forged_lookup() {
    let small = QuantConfig { act_bits: 12, table_bits: 8, ..QuantConfig::default() };
    for op in ["Sigmoid", "Tanh"] {
        let mut g = Graph::new(&[1, 8], 7);
        g.node(op, "f", &["input"], vec![]);
        let c = Case::new(&g, 8, small, None);
        let table = &c.plan().tables[0];
        let entry = |i: i128| table.entries.iter().find(|e| e.0 == i).map(|e| e.1);
        for &(y, yv) in c.outputs().iter().take(3) {
            let fr_row = c.find("function", |r| r.lookup_of(y).is_some());
            let i = c.plan().rows[fr_row].lookup_of(y).unwrap().i;
            let ir = c.find("index", |r| matches!(r, Row::Lin { a, .. } if a[1] == Some(i)));
            let (a, co, _, _, bits) = c.lin(ir);
            let x = a[0].unwrap();
            let iv = c.value(i);
            // A neighbouring table entry: the index decomposition rejects it.
            for delta in [1, -1] {
                if let Some(y2) = entry(iv + delta) {
                    let mut f = c.honest();
                    f.set(i, fr(iv + delta)).set(y, fr(y2));
                    c.assert_rejected_by(&format!("{op}: index {delta:+}"), f, RANGE, ir);
                }
            }
            // A field index satisfying the decomposition with another remainder: not in the table.
            let two_d = -co[1];
            assert_eq!(two_d, 1 << bits);
            let r = c.value(x) - two_d * iv;
            let i2 = fr(c.value(x) - (r + 1) % two_d) * fr(two_d).invert().unwrap();
            let mut f = c.honest();
            f.set(i, i2);
            c.assert_rejected_by(&format!("{op}: field index"), f, &["function"], fr_row);
            // Another output for the honest index, and its negation.
            for y2 in [fr(yv + 1), -fr(yv)] {
                if y2 == fr(yv) {
                    continue;
                }
                let mut f = c.honest();
                f.set(y, y2);
                c.assert_rejected_by(&format!("{op}: output not in the table"), f, &["function"], fr_row);
            }
        }
    }
}

#[test]
fn forged_max_pool() {
    let mut g = Graph::new(&[1, 1, 4, 4], 8);
    g.node(
        "MaxPool",
        "max",
        &["input"],
        vec![("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))],
    );
    let c = Case::new(&g, 16, cfg(), None);
    // Each output is the last select of its window's chain.
    for (y, _) in c.outputs() {
        attack_select(&c, y, "MaxPool");
        // The difference d = v − m made one larger (so y = v + 1): its exact row.
        let (_, _, d, b) = c.select_row(y);
        if c.value(b) == 1 {
            let dr = c.find("difference", |r| matches!(r, Row::Lin { a, .. } if a[2] == Some(d)));
            let mut f = c.honest();
            f.set(d, fr(c.value(d) + 1)).set(y, fr(c.value(y) + 1));
            c.assert_rejected_by("MaxPool: d + 1", f, RANGE, dr);
        }
    }
}

/// Reshape is wiring: claiming two outputs swapped breaks the rows that define them.
#[test]
fn forged_reshape() {
    let mut g = Graph::new(&[1, 6], 12);
    let w = g.rand_init("w", &[6, 4], 0.9);
    let d = g.node("MatMul", "mm", &["input", &w], vec![]);
    let s = g.init_i64("shape", &[2], vec![2, 2]);
    g.node("Reshape", "reshape", &[&d, &s], vec![]);
    let c = Case::new(&g, 6, cfg(), None);
    let outs = c.outputs();
    let (i, j) = (0..outs.len())
        .flat_map(|i| (0..outs.len()).map(move |j| (i, j)))
        .find(|&(i, j)| outs[i].1 != outs[j].1)
        .expect("two different outputs");
    let mut f = c.honest();
    f.set(outs[i].0, fr(outs[j].1)).set(outs[j].0, fr(outs[i].1));
    c.assert_rejected_by("Reshape: swapped outputs", f, RANGE, c.rescale_row(outs[i].0));
}

/// Public inputs outside the activation range (a wrapped value, p − 2^40) are rejected
/// by the input's range check, whatever the prover does with the rest.
#[test]
fn forged_input_out_of_range() {
    let c = dense_case();
    let x = c.plan().inputs[0];
    let xr = c.range_row(x);
    for v in [fr(1 << 40), -fr(1 << 40), fr(1 << 15)] {
        let mut f = c.honest();
        f.set(x, v);
        c.assert_rejected_by("input out of range", f, RANGE, xr);
    }
}

/// The same forgery through the real prover: halo2's `create_proof` does not check
/// constraints, so it writes a proof for the forged witness; the verifier rejects it
/// (and accepts the honest one made the same way).
#[test]
fn forged_global_average_pool_real_proof_is_rejected() {
    use halo2_proofs::plonk::Circuit;
    use halo2_proofs::plonk::{create_proof, keygen_pk, keygen_vk};
    use halo2_proofs::poly::kzg::commitment::KZGCommitmentScheme;
    use halo2_proofs::poly::kzg::multiopen::ProverSHPLONK;
    use halo2_proofs::transcript::TranscriptWriterBuffer;
    use halo2curves::bn256::{Bn256, G1Affine};
    use rand::SeedableRng;
    use snark_verifier::system::halo2::transcript::evm::{ChallengeEvm, EvmTranscript};

    let c = gap_case();
    let params = zkinfer_circuits::srs::Srs::dev(c.k).unwrap().params;
    let empty = c.c.without_witnesses();
    let vk = keygen_vk(&params, &empty).unwrap();
    let pk = keygen_pk(&params, vk, &empty).unwrap();
    let prove = |circuit: ModelCircuit| {
        let inst = circuit.instances().unwrap();
        let mut tr = <EvmTranscript<G1Affine, _, _, _> as TranscriptWriterBuffer<_, G1Affine, _>>::init(Vec::new());
        create_proof::<KZGCommitmentScheme<Bn256>, ProverSHPLONK<'_, Bn256>, ChallengeEvm<G1Affine>, _, _, _>(
            &params,
            &pk,
            &[circuit],
            &[&[&inst]],
            rand_chacha::ChaCha20Rng::seed_from_u64(5),
            &mut tr,
        )
        .unwrap();
        (inst, tr.finalize())
    };
    let (inst, proof) = prove(c.c.forged(c.honest()));
    zkinfer_circuits::prove::verify(&params, pk.get_vk(), &inst, &proof).expect("the honest proof verifies");

    let y = c.plan().outputs[0];
    let (_, _, acc, r, n) = division_rows(&c, y);
    let y2 = fr(2 * c.value(acc) + n) * fr(2 * n).invert().unwrap();
    let mut f = c.honest();
    f.set(y, y2).set(r, Fr::ZERO);
    let (inst, proof) = prove(c.c.forged(f));
    assert_eq!(inst[c.plan().inputs.len()], y2, "the forged proof claims y′");
    let e = zkinfer_circuits::prove::verify(&params, pk.get_vk(), &inst, &proof).unwrap_err();
    assert!(e.to_string().contains("proof rejected"), "{e}");
}

/// Every attack that applies to each output wire, chosen by the row that defines it:
/// a rescale or exact row (another quotient, a field quotient, limbs out of range), a select
/// (wrong and non-boolean bits), a lookup (neighbouring entries, a field index), a division
/// (the review's attack); and for every output `y + 1`, `p − y` and `y + 2^100`.
fn attack_outputs(c: &Case, op: &str, max_outputs: usize) -> usize {
    let mut attacked = 0;
    for (y, yv) in c.outputs().into_iter().take(max_outputs) {
        let rows = c.plan().rows.iter();
        let defining = rows.enumerate().find(|(_, r)| match r {
            Row::Sel { y: yy, .. } => *yy == y,
            Row::Func { .. } => r.lookup_of(y).is_some(),
            Row::Lin { a, c: co, .. } => a[2] == Some(y) && co[2] < 0 || a[1] == Some(y) && co[0] == 2,
            Row::Mac { acc, .. } | Row::Dot { acc, .. } => *acc == y,
        });
        match defining.map(|(_, r)| r) {
            Some(Row::Sel { .. }) => attack_select(c, y, op),
            Some(Row::Lin { c: co, .. }) if co[0] == 2 && co[2] == -1 => attack_average(c, y, op),
            Some(Row::Lin { .. }) => attack_rescale(c, y, op),
            _ => {}
        }
        for (name, y2) in [("y + 1", fr(yv + 1)), ("p − y", -fr(yv)), ("y + 2^100", fr(yv) + Fr::from(2).pow([100]))]
        {
            if y2 == fr(yv) {
                continue;
            }
            let mut f = c.honest();
            f.set(y, y2);
            assert!(c.check(f).is_err(), "{op}: output {y} = {name} was ACCEPTED");
        }
        attacked += 1;
    }
    attacked
}

fn graph_case(g: &Graph, input_len: usize, amp: f64, config: QuantConfig) -> Case {
    let mut rng = Lcg(5);
    let input: Vec<f64> = rng.vec(input_len, amp as f32).into_iter().map(f64::from).collect();
    Case::new(g, input_len, config, Some(input.iter().map(|v| v * 0.45).collect()))
}

#[test]
fn forged_clip_abs_sign_prelu() {
    let mut g = Graph::new(&[1, 8], 30);
    let lo = g.init("lo", &[], vec![-0.5]);
    let hi = g.init("hi", &[], vec![0.75]);
    g.node("Clip", "clip", &["input", &lo, &hi], vec![]);
    let c = graph_case(&g, 8, 2.0, cfg());
    assert!(attack_outputs(&c, "Clip", 8) > 0);
    for op in ["Abs", "Sign"] {
        let mut g = Graph::new(&[1, 8], 31);
        g.node(op, "op", &["input"], vec![]);
        let c = graph_case(&g, 8, 2.0, cfg());
        assert!(attack_outputs(&c, op, 8) > 0);
    }
    let mut g = Graph::new(&[1, 3, 2, 2], 32);
    let s = g.init("slope", &[3, 1, 1], vec![0.25, -0.5, 1.5]);
    g.node("PRelu", "prelu", &["input", &s], vec![]);
    let c = graph_case(&g, 12, 2.0, cfg());
    assert!(attack_outputs(&c, "PRelu", 12) > 0);
}

#[test]
fn forged_sum_mean_max_min_and_reductions() {
    for op in ["Sum", "Mean", "Max", "Min"] {
        let mut g = Graph::new(&[1, 6], 33);
        let w = g.rand_init("w", &[6, 6], 0.9);
        let d = g.node("MatMul", "mm", &["input", &w], vec![]);
        let r = g.node("Relu", "r", &[&d], vec![]);
        g.node(op, "op", &["input", &d, &r], vec![]);
        let c = graph_case(&g, 6, 1.0, cfg());
        assert!(attack_outputs(&c, op, 6) > 0, "{op}");
    }
    for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin"] {
        let mut g = Graph::new(&[1, 3, 4], 34);
        // Opset 13: ReduceSum takes its axes as an input, the others as an attribute.
        if op == "ReduceSum" {
            let axes = g.init_i64("axes", &[1], vec![2]);
            g.node(op, "op", &["input", &axes], vec![("keepdims", Attr::I(0))]);
        } else {
            g.node(op, "op", &["input"], vec![("axes", Attr::Ints(vec![2])), ("keepdims", Attr::I(0))]);
        }
        let c = graph_case(&g, 12, 1.0, cfg());
        assert!(attack_outputs(&c, op, 3) > 0, "{op}");
    }
}

#[test]
fn forged_grouped_dilated_and_transposed_convolutions() {
    let mut g = Graph::new(&[1, 4, 6], 35);
    let w = g.rand_init("w", &[4, 2, 3], 0.5);
    g.node("Conv", "conv1d", &["input", &w], vec![("group", Attr::I(2)), ("dilations", Attr::Ints(vec![2]))]);
    let c = graph_case(&g, 24, 1.0, cfg());
    assert!(attack_outputs(&c, "Conv1d", 4) > 0);
    let mut g = Graph::new(&[1, 2, 3, 3, 3], 36);
    let w = g.rand_init("w", &[2, 2, 2, 2, 2], 0.5);
    g.node("Conv", "conv3d", &["input", &w], vec![]);
    let c = graph_case(&g, 54, 1.0, cfg());
    assert!(attack_outputs(&c, "Conv3d", 4) > 0);
    let mut g = Graph::new(&[1, 2, 3, 3], 37);
    let w = g.rand_init("w", &[2, 3, 3, 3], 0.5);
    g.node("ConvTranspose", "deconv", &["input", &w], vec![("strides", Attr::Ints(vec![2, 2]))]);
    let c = graph_case(&g, 18, 1.0, cfg());
    assert!(attack_outputs(&c, "ConvTranspose", 6) > 0);
}

/// Wiring: outputs are input wires, so every attack on them is an attack on the rows that
/// pin the input (range checks, the instance copy); a constant fill is pinned by its row.
#[test]
fn forged_wiring() {
    let mut g = Graph::new(&[1, 2, 3], 38);
    let w = g.rand_init("w", &[3, 3], 0.9);
    let d = g.node("MatMul", "mm", &["input", &w], vec![]);
    let t = g.node("Transpose", "t", &[&d], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let p = g.init_i64("pads", &[6], vec![0, 1, 0, 0, 1, 1]);
    let v = g.init("v", &[], vec![0.625]);
    g.node("Pad", "pad", &[&t, &p, &v], vec![]);
    let c = graph_case(&g, 6, 1.0, cfg());
    assert!(attack_outputs(&c, "Transpose+Pad", 20) > 0);
    // The padding constant: its row pins it.
    let fill = c
        .plan()
        .rows
        .iter()
        .position(|r| matches!(r, Row::Lin { a, bits: 0, cc, .. } if a[1].is_none() && *cc != 0))
        .expect("a constant row");
    let w_fill = match &c.plan().rows[fill] {
        Row::Lin { a, .. } => a[0].unwrap(),
        _ => unreachable!(),
    };
    let mut f = c.honest();
    f.set(w_fill, fr(c.value(w_fill) + 1));
    c.assert_rejected_by("Pad: fill value", f, RANGE, fill);
    let mut g = Graph::new(&[1, 4], 39);
    let w = g.rand_init("w", &[4, 4], 0.9);
    let d = g.node("MatMul", "mm", &["input", &w], vec![]);
    g.node("Concat", "cat", &["input", &d], vec![("axis", Attr::I(1))]);
    let c = graph_case(&g, 4, 1.0, cfg());
    assert!(attack_outputs(&c, "Concat", 8) > 0);
}

#[test]
fn forged_tables_and_composites() {
    let small = QuantConfig { act_bits: 12, table_bits: 8, ..QuantConfig::default() };
    for op in ["Exp", "Softplus", "Elu", "Erf", "HardSwish"] {
        let mut g = Graph::new(&[1, 8], 40);
        g.node(op, "f", &["input"], vec![]);
        let c = graph_case(&g, 8, 2.0, small);
        assert!(attack_outputs(&c, op, 4) > 0, "{op}");
    }
    // Softmax in the middle of a network: exp, sum, reciprocal, product.
    let mut g = Graph::new(&[1, 6], 41);
    let s = g.node("Softmax", "sm", &["input"], vec![("axis", Attr::I(1))]);
    g.node("Relu", "r", &[&s], vec![]);
    let c = graph_case(&g, 6, 1.0, small);
    assert!(attack_outputs(&c, "Softmax", 6) > 0);
}

/// A table sized to calibration holds only its window `[base, base + len)` of indices: an
/// input beyond the window, claimed with the index its decomposition gives (base − 1 or
/// base + len) and the nearest entry's value (what a saturating table would answer), or
/// far below the window, is rejected by the lookup; inside the window the same
/// forgery with another entry is stopped by the decomposition (see `forged_lookup`).
#[test]
fn forged_index_outside_a_sized_table() {
    let mut g = Graph::new(&[1, 4], 43);
    g.node("Sigmoid", "f", &["input"], vec![]);
    // Calibrated on [0, 1]: the table covers [0, 1] widened by the headroom, not the whole range.
    let rows: Vec<Vec<f64>> = (0..8).map(|r| (0..4).map(|j| ((r * 4 + j) % 11) as f64 / 10.0).collect()).collect();
    let c = Case::on(&g, rows, &[0.2, 0.5, 0.9, 0.0], cfg());
    let table = &c.plan().tables[0];
    let (lo, lo_y) = *table.entries.first().unwrap();
    let (hi, hi_y) = *table.entries.last().unwrap();
    let act = 1i128 << (c.q.config.act_bits - 1);
    let x = c.plan().inputs[1];
    let (y, _) = c.outputs()[1];
    let fr_row = c.find("function", |r| r.lookup_of(y).is_some());
    let i = c.plan().rows[fr_row].lookup_of(y).unwrap().i;
    let ir = c.find("index", |r| matches!(r, Row::Lin { a, .. } if a[1] == Some(i)));
    let shift = c.lin(ir).4;
    let two_d = 1i128 << shift;
    assert!(
        lo * two_d > -act && (hi + 1) * two_d < act - two_d,
        "the table must be narrower than the activation range: [{lo}, {hi}] × 2^{shift} vs ±{act}"
    );
    for (name, idx, yv) in [("base − 1", lo - 1, lo_y), ("base + len", hi + 1, hi_y)] {
        // An input in that bucket, in the activation range: the decomposition holds.
        let xv = idx * two_d + two_d / 2;
        let mut f = c.honest();
        f.set(x, fr(xv)).set(i, fr(idx)).set(y, fr(yv));
        let fails = c.failures(f.clone());
        assert!(!fails.iter().any(|e| e.starts_with("lin@") || e.starts_with("limb range@")), "{name}: {fails:?}");
        c.assert_rejected_by(&format!("Sigmoid: index {name}"), f, &["function"], fr_row);
    }
    // An index far below the window, −(hi + 2) (a field element near p), with an input in the
    // activation range that decomposes to it: not an entry either.
    let wrap = -(hi + 2);
    assert!(wrap < lo && wrap * two_d > -act, "[{lo}, {hi}]");
    let mut f = c.honest();
    f.set(x, fr(wrap * two_d)).set(i, fr(wrap)).set(y, fr(lo_y));
    c.assert_rejected_by("Sigmoid: wrapped index", f, &["function"], fr_row);
}

/// The chain of an ArgMax over one group: per element `j ≥ 1`, (x_j, d, bit, m_j, dk, k_j).
type ArgStep = (Wire, Wire, Wire, Wire, Wire, Wire);

fn arg_steps(c: &Case) -> Vec<ArgStep> {
    let sels: Vec<(Wire, Wire, Wire, Wire)> = c
        .plan()
        .rows
        .iter()
        .filter_map(|r| match r {
            Row::Sel { base, d, b, y } if base != d => Some((*base, *d, *b, *y)),
            _ => None,
        })
        .collect();
    sels.chunks(2)
        .map(|p| {
            let ((_, d, bit, m), (_, dk, bit2, k)) = (p[0], p[1]);
            assert_eq!(bit, bit2, "the index select shares the extremum's bit");
            let r = c.find("difference", |r| matches!(r, Row::Lin { a, .. } if a[2] == Some(d)));
            let x = c.lin(r).0[0].unwrap();
            (x, d, bit, m, dk, k)
        })
        .collect()
}

/// A whole chain re-derived from chosen bits (the malicious prover's consistent witness): every
/// difference, extremum, index difference and index follows the bits, so only the rows that
/// check a bit against its difference can object.
/// Also returns the first step whose bit disagrees with its difference (`±d − t ≥ 0`).
fn arg_chain(c: &Case, steps: &[ArgStep], x0: i128, bits: &[i128], sign: i128, t: i128) -> (Forgery, i128, usize) {
    let mut f = c.honest();
    let (mut m, mut k) = (x0, 0i128);
    let mut bad = usize::MAX;
    for (j, (&(x, d, bit, mw, dk, kw), &b)) in steps.iter().zip(bits).enumerate() {
        let dv = c.value(x) - m;
        if bad == usize::MAX && i128::from(sign * dv - t >= 0) != b {
            bad = j;
        }
        let dkv = (j as i128 + 1) - k;
        m += b * dv;
        k += b * dkv;
        f.set(d, fr(dv)).set(bit, fr(b)).set(mw, fr(m)).set(dk, fr(dkv)).set(kw, fr(k));
    }
    (f, k, bad)
}

/// ArgMax / ArgMin as an output: the index of another tie, of a non-extremum, a chain that
/// skips the extremum, non-boolean bits (2, p − 1, a field solution of the sign row), the
/// index as p − k or k + 1 — each rejected by the row named.
#[test]
fn forged_argmax() {
    // Ties at positions 1 and 3 (the maximum) and 2 and 4 (the minimum).
    let input = [0.5, 1.0, -0.25, 1.0, -0.25, 0.75];
    for (op, last) in [("ArgMax", false), ("ArgMax", true), ("ArgMin", false), ("ArgMin", true)] {
        let mut g = Graph::new(&[1, 6], 44);
        g.node(
            op,
            "arg",
            &["input"],
            vec![("axis", Attr::I(1)), ("keepdims", Attr::I(0)), ("select_last_index", Attr::I(last as i64))],
        );
        let rows: Vec<Vec<f64>> = (0..6).map(|r| input.iter().map(|v| v * (1.0 - r as f64 * 0.1)).collect()).collect();
        let c = Case::on(&g, rows, &input, cfg());
        let what = format!("{op} (last index: {last})");
        let steps = arg_steps(&c);
        assert_eq!(steps.len(), 5);
        let x0 = c.value(c.plan().inputs[0]);
        let honest_k = c.value(c.outputs()[0].0);
        let (first, second, other): (usize, usize, usize) = if op == "ArgMax" { (1, 3, 5) } else { (2, 4, 0) };
        assert_eq!(honest_k, if last { second } else { first } as i128, "{what}");
        let (sg, t) = (if op == "ArgMax" { 1 } else { -1 }, i128::from(!last));
        // Bits that select index `t` (the chain takes t and nothing after it) — `t = 0` takes none.
        let select = |t: usize| -> Vec<i128> { (1..6).map(|j| i128::from(j == t)).collect() };
        let (tie, wrong_tie) = if last { (second, first) } else { (first, second) };
        let honest_bits: Vec<i128> = steps.iter().map(|s| c.value(s.2)).collect();
        let (_, k, bad) = arg_chain(&c, &steps, x0, &honest_bits, sg, t);
        assert_eq!((k, bad), (honest_k, usize::MAX), "{what}: the model of the chain");
        let mut skip = honest_bits.clone();
        skip[tie - 1] = 0;
        for (name, bits) in [("the other tie", select(wrong_tie)), ("a non-extremum", select(other)), ("none", skip)] {
            let (f, k, bad) = arg_chain(&c, &steps, x0, &bits, sg, t);
            assert!(bad < steps.len() && k != honest_k, "{what}: {name} is not a forgery");
            let sign = c.sign_row(steps[bad].2);
            c.assert_rejected_by(&format!("{what}: index of {name} ({k})"), f, RANGE, sign);
        }
        // Non-boolean bits on the step that takes the extremum.
        let (_, d, bit, mw, dk, kw) = steps[tie - 1];
        let sel = c.select_row(mw).0;
        let sign = c.sign_row(bit);
        let (_, sc, _, scc, sbits) = c.lin(sign);
        let lhs = sc[0] * c.value(d) + sc[1] * c.value(bit) + scc;
        let field_bit = fr(sc[0] * c.value(d) + scc - (lhs + 1) % (1 << sbits)) * (-fr(sc[1])).invert().unwrap();
        for (name, b2) in [("2", fr(2)), ("p − 1", -Fr::ONE), ("a field solution of the sign row", field_bit)] {
            let mut f = c.honest();
            f.set(bit, b2)
                .set(mw, fr(c.value(steps[tie - 1].3) - c.value(d)) + b2 * fr(c.value(d)))
                .set(kw, fr(c.value(kw) - c.value(dk)) + b2 * fr(c.value(dk)));
            c.assert_rejected_by(&format!("{what}: bit {name}"), f, &["select"], sel);
        }
        // The output index itself, aliased or off by one.
        let (kw, kv) = c.outputs()[0];
        let ksel = c.select_row(kw).0;
        for (name, k2) in [("p − k", -fr(kv)), ("k + 1", fr(kv + 1)), ("k − 1", fr(kv - 1))] {
            let mut f = c.honest();
            f.set(kw, k2);
            c.assert_rejected_by(&format!("{what}: output {name}"), f, &["select"], ksel);
        }
    }
}

/// Tables are shared only between ops that tabulate one function at one scale: two Sigmoids
/// of the same tensor share a table; a Tanh of it and a Sigmoid of 16× it (another input
/// scale) have their own. A malicious prover who answers the Tanh, or the Sigmoid of 16×,
/// with the shared Sigmoid table's value at its index (what a table keyed by the function
/// alone, or by nothing, would accept) is rejected by the lookup.
#[test]
fn forged_value_from_another_shared_table() {
    let mut g = Graph::new(&[1, 4], 45);
    let a = g.node("Sigmoid", "s1", &["input"], vec![]);
    let b = g.node("Sigmoid", "s2", &["input"], vec![]);
    let t = g.node("Tanh", "t", &["input"], vec![]);
    let k = g.init("k", &[1], vec![16.0]);
    let m = g.node("Mul", "m", &["input", &k], vec![]);
    let s = g.node("Sigmoid", "s16", &[&m], vec![]);
    g.node("Concat", "cat", &[&a, &b, &t, &s], vec![("axis", Attr::I(1))]);
    let rows: Vec<Vec<f64>> =
        (0..8).map(|r| (0..4).map(|j| ((r * 4 + j) % 11) as f64 / 10.0 - 0.5).collect()).collect();
    let c = Case::on(&g, rows, &[0.2, -0.4, 0.3, 0.0], cfg());
    let funcs: Vec<(u64, Wire, Wire, usize)> = c
        .plan()
        .rows
        .iter()
        .enumerate()
        .filter_map(|(n, r)| match r {
            Row::Func { lookups } => Some((lookups[0].tag, lookups[0].i, lookups[0].y, n)),
            _ => None,
        })
        .collect();
    // Four ops of four elements each, in the order of the graph.
    assert_eq!(funcs.len(), 16);
    let tag_of = |op: usize| funcs[op * 4].0;
    assert_eq!(tag_of(0), tag_of(1), "the two Sigmoids of one tensor share a table");
    assert_ne!(tag_of(0), tag_of(2), "Tanh has its own table");
    assert_ne!(tag_of(0), tag_of(3), "a Sigmoid at another input scale has its own table");
    assert_eq!(c.plan().tables.len(), 3);
    let sigmoid = &c.plan().tables.iter().find(|t| t.tag == tag_of(0)).unwrap().entries;
    for op in [2, 3] {
        let mut attacked = 0;
        for &(_, i, y, row) in &funcs[op * 4..op * 4 + 4] {
            let Some(&(_, v)) = sigmoid.iter().find(|(idx, _)| *idx == c.value(i)) else { continue };
            if v == c.value(y) {
                continue;
            }
            let mut f = c.honest();
            f.set(y, fr(v));
            c.assert_rejected_by(&format!("op {op}: the shared Sigmoid table's value"), f, &["function"], row);
            attacked += 1;
        }
        assert!(attacked >= 1, "op {op}: no element whose index is in the Sigmoid table with another value");
    }
}

/// Tables split over two lookup slots (`Plan::pack_lookups`): a Sigmoid's and a Tanh's
/// table in different table sets, each lookup slot with its own argument. A prover who
/// answers a lookup of one slot with the other set's entry at the same index (or with a
/// neighbouring entry of its own table, or `p − y`) is rejected by that slot's lookup; and
/// a plan whose lookup names a table of another set is refused by the lint.
#[test]
fn forged_lookup_in_a_second_slot() {
    let mut g = Graph::new(&[1, 4], 5);
    let s = g.node("Sigmoid", "s", &["input"], vec![]);
    let t = g.node("Tanh", "t", &["input"], vec![]);
    g.node("Concat", "cat", &[&s, &t], vec![("axis", Attr::I(1))]);
    let rows: Vec<Vec<f64>> = (0..8).map(|r| (0..4).map(|j| ((r * 4 + j) % 11) as f64 / 5.0 - 1.0).collect()).collect();
    let c = Case::on_slots(&g, rows, &[0.3, -0.6, 0.9, 0.0], cfg(), 2);
    let plan = c.plan();
    assert_eq!(plan.func_slots, 2);
    assert_eq!(plan.shape().extra_func_slots, 1);
    let sets: Vec<usize> = plan.tables.iter().map(|t| t.set).collect();
    assert_eq!(plan.tables.len(), 2);
    assert_ne!(sets[0], sets[1], "two tables, one per set: {sets:?}");
    // Packed: 4 rows of two lookups (slot 0: one table's, slot 1: the other's).
    let funcs: Vec<(usize, &Row)> =
        plan.rows.iter().enumerate().filter(|(_, r)| matches!(r, Row::Func { .. })).collect();
    assert_eq!(funcs.len(), 4, "8 lookups in 4 rows of 2");
    let table = |tag: u64| &plan.tables.iter().find(|t| t.tag == tag).unwrap().entries;
    let mut attacked = 0;
    for &(row, r) in &funcs {
        let Row::Func { lookups } = r else { unreachable!() };
        assert_eq!(lookups.len(), 2);
        for l in lookups {
            assert_eq!(plan.tables.iter().find(|t| t.tag == l.tag).unwrap().set, l.slot);
            let (iv, yv) = (c.value(l.i), c.value(l.y));
            let other = plan.tables.iter().find(|t| t.tag != l.tag).unwrap();
            let mut forged: Vec<(String, Fr)> = vec![("p − y".into(), -fr(yv)), ("y + 1".into(), fr(yv + 1))];
            if let Some(&(_, v)) = other.entries.iter().find(|e| e.0 == iv).filter(|e| e.1 != yv) {
                forged.push(("the other set's entry".into(), fr(v)));
            }
            if let Some(&(_, v)) = table(l.tag).iter().find(|e| e.0 == iv + 1).filter(|e| e.1 != yv) {
                forged.push(("the next entry's value".into(), fr(v)));
            }
            for (name, v) in forged {
                let mut f = c.honest();
                f.set(l.y, v);
                c.assert_rejected_by(&format!("slot {} ({name})", l.slot), f, &["function"], row);
                attacked += 1;
            }
        }
    }
    assert!(attacked >= 24, "{attacked} attacks");
    // A lookup moved to the other slot (its table is not in that slot's set): the lint refuses.
    let mut moved = plan.clone();
    let at = funcs[0].0;
    if let Row::Func { lookups } = &mut moved.rows[at] {
        lookups.truncate(1);
        lookups[0].slot = 1 - lookups[0].slot;
    }
    let err = zkinfer_circuits::soundness::check(&moved).unwrap_err().to_string();
    assert!(err.contains("is not in the set of slot"), "{err}");
}

/// The row that proves comparison bit `b`: `d + (1 − b)·2^t ∈ [0, 2^t)`, `b` in slot 2.
fn compare_row(c: &Case, b: Wire) -> usize {
    c.find("comparison", |r| matches!(r, Row::Lin { a, c, .. } if a[2] == Some(b) && c[2] < 0))
}

/// The boolean row of `b` (a select row whose other wires are the zero wire).
fn boolean_row(c: &Case, b: Wire) -> usize {
    c.find("boolean", |r| matches!(r, Row::Sel { b: bb, base, d, y } if *bb == b && base == d && d == y))
}

/// Comparison bits (Less against a constant, Greater of two activations at different
/// scales, Equal) and Where (a run-time condition): the flipped bit is stopped by its range
/// row; a non-boolean bit that satisfies the range row (the field solution
/// `b = 1 + (d − r)/2^t` for another remainder `r`), 2 and p − 1 by the boolean row; Equal's
/// output and Where's output off the select by the select row; Where's difference by its
/// exact row; and every output `y + 1`, `p − y`, `y + 2^100`.
#[test]
fn forged_comparisons_and_where() {
    let rows: Vec<Vec<f64>> = (0..8).map(|r| (0..8).map(|j| ((r * 8 + j) % 13) as f64 / 6.0 - 1.0).collect()).collect();
    let input: Vec<f64> = (0..8).map(|j| j as f64 / 4.0 - 1.0).collect();
    // Less against a constant and Equal of two activations, as booleans.
    let mut g = Graph::new(&[1, 8], 60);
    let k = g.init("k", &[1], vec![0.1]);
    let lt = g.node("Less", "lt", &["input", &k], vec![]);
    let r = g.node("Relu", "r", &["input"], vec![]);
    let eq = g.node("Equal", "eq", &["input", &r], vec![]);
    let c0 = g.node("Cast", "c0", &[&lt], vec![("to", Attr::I(1))]);
    let c1 = g.node("Cast", "c1", &[&eq], vec![("to", Attr::I(1))]);
    g.node("Concat", "cat", &[&c0, &c1], vec![("axis", Attr::I(1))]);
    let bools = Case::on(&g, rows.clone(), &input, cfg());
    // Where(x > x/2, x, −2): Greater of two activations at different scales as the condition.
    let mut g = Graph::new(&[1, 8], 61);
    let h = g.init("h", &[1], vec![0.5]);
    let half = g.node("Mul", "half", &["input", &h], vec![]);
    let gt = g.node("Greater", "gt", &["input", &half], vec![]);
    let m = g.init("m", &[1], vec![-2.0]);
    g.node("Where", "w", &[&gt, "input", &m], vec![]);
    let sel = Case::on(&g, rows, &input, cfg());
    let mut attacked = 0;
    for (c, bits, wheres) in [
        (&bools, bools.outputs()[..8].iter().map(|o| o.0).collect::<Vec<_>>(), vec![]),
        (&sel, vec![], sel.outputs().iter().map(|o| sel.select_row(o.0)).collect::<Vec<_>>()),
    ] {
        let mut bits = bits;
        bits.extend(wheres.iter().map(|w| w.3));
        for &b in &bits {
            let row = compare_row(c, b);
            let bool_row = boolean_row(c, b);
            let bv = c.value(b);
            // A Where output that reads this bit moves with it (otherwise its select row,
            // not the comparison, would be what rejects).
            let follow = |f: &mut Forgery, v: Fr| {
                for &(sr, base, d, bb) in &wheres {
                    if bb == b {
                        let Row::Sel { y, .. } = &c.plan().rows[sr] else { unreachable!() };
                        f.set(*y, fr(c.value(base)) + v * fr(c.value(d)));
                    }
                }
            };
            let mut f = c.honest();
            f.set(b, fr(1 - bv));
            follow(&mut f, fr(1 - bv));
            c.assert_rejected_by("comparison bit flipped", f, RANGE, row);
            let (a, co, _, cc, tbits) = c.lin(row);
            let d = co[0] * c.value(a[0].unwrap()) + a[1].map_or(0, |y| co[1] * c.value(y)) + cc;
            let t = 1i128 << tbits;
            let r_honest = d + co[2] * bv;
            let b_field = fr(d - (r_honest + 1) % t) * (-fr(co[2])).invert().unwrap();
            for (name, b2) in [("2", fr(2)), ("p − 1", -Fr::ONE), ("the range row's field solution", b_field)] {
                let mut f = c.honest();
                f.set(b, b2);
                follow(&mut f, b2);
                c.assert_rejected_by(&format!("comparison bit {name}"), f, &["select"], bool_row);
                attacked += 1;
            }
        }
        // Where: its difference row is exact.
        for &(sr, base, d, b) in &wheres {
            let Row::Sel { y, .. } = &c.plan().rows[sr] else { unreachable!() };
            let dr = c.find("difference", |r| matches!(r, Row::Lin { a, .. } if a[2] == Some(d)));
            let d2 = c.value(d) + 5;
            let mut f = c.honest();
            f.set(d, fr(d2)).set(*y, fr(c.value(base) + c.value(b) * d2));
            c.assert_rejected_by("Where difference + 5", f, &["lin"], dr);
            attacked += 1;
        }
    }
    // Equal (outputs 8..16): the product of two bits in a select row.
    for &(y, yv) in &bools.outputs()[8..16] {
        let (sr, _, _, _) = bools.select_row(y);
        let mut f = bools.honest();
        f.set(y, fr(1 - yv));
        bools.assert_rejected_by("Equal output flipped", f, &["select"], sr);
        attacked += 1;
    }
    assert!(attacked >= 64, "{attacked} attacks");
    for (c, what) in [(&bools, "Less/Equal"), (&sel, "Where")] {
        for (y, yv) in c.outputs() {
            for (name, y2) in
                [("y + 1", fr(yv + 1)), ("p − y", -fr(yv)), ("y + 2^100", fr(yv) + Fr::from(2).pow([100]))]
            {
                if y2 != fr(yv) {
                    let mut f = c.honest();
                    f.set(y, y2);
                    assert!(c.check(f).is_err(), "{what}: output {y} = {name} was ACCEPTED");
                }
            }
        }
    }
}
