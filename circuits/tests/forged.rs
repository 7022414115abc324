//! Forged-witness tests: for every op, the assignments a malicious prover
//! would choose (another quotient or remainder, a limb out of range, a wrong
//! select bit, a value aliased as p − x, a huge wrap-around value, an output
//! off by the rescale's granularity), each claimed as the public output, and
//! each rejected by the constraint named in the test. Every test first checks
//! that the honest witness passes, so a rejection is the forgery's doing.
//!
//! `cargo test -p zkinfer-circuits forged` runs them all.

#[path = "../../quantize/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::{Attr, Graph, Lcg};
use halo2_proofs::dev::MockProver;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use zkinfer_circuits::forge::Forgery;
use zkinfer_circuits::plan::{Plan, Row, Wire};
use zkinfer_circuits::{CircuitShape, ModelCircuit, build_plan};
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
        let dir = tempfile::tempdir().unwrap();
        let model = import_onnx(&g.write(dir.path(), "m.onnx"), &ImportOptions::default()).unwrap();
        let mut rng = Lcg(11);
        let rows: Vec<Vec<f64>> =
            (0..16).map(|_| rng.vec(input_len, 2.0).into_iter().map(f64::from).collect()).collect();
        let (q, _) = calibrate_and_quantize(&model, &Dataset { input_data: rows.clone(), labels: None }, &config, || {})
            .unwrap();
        let input = input.unwrap_or_else(|| rows[5].iter().map(|v| v * 0.9).collect());
        let x = q.quantize_input(&input).unwrap();
        let trace = q.execute(&x.values).unwrap();
        let plan = build_plan(&q, Some(&trace), 6).unwrap();
        let k = plan.min_k();
        let shape = CircuitShape { width: 6, limbs: plan.limbs() };
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
    /// `Err` lists each failure as `kind@plan-row` (kind: a gate or lookup name, or `copy`).
    fn check(&self, f: Forgery) -> Result<(), Vec<String>> {
        let c = self.c.forged(f);
        let inst = c.instances().unwrap();
        MockProver::run(self.k, &c, vec![inst]).unwrap().verify().map_err(|fails| {
            fails
                .iter()
                .map(|e| {
                    let s = e.to_string();
                    let kind = if s.contains("('mac')") {
                        "mac"
                    } else if s.contains("('lin')") {
                        "lin"
                    } else if s.contains("('select')") {
                        "select"
                    } else if s.contains("limb range") {
                        "limb range"
                    } else if s.contains("function") {
                        "function"
                    } else if s.contains("ermutation") || s.contains("equality") {
                        "copy"
                    } else {
                        "other"
                    };
                    let row = s
                        .split("at offset ")
                        .nth(1)
                        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                        .and_then(|t| t.parse::<usize>().ok())
                        .map_or("?".to_string(), |r| (r as isize - 1).to_string());
                    format!("{kind}@{row}")
                })
                .collect()
        })
    }

    /// Asserts that `f` is rejected, with a failure of `kind` on one of `rows`.
    fn assert_rejected(&self, what: &str, f: Forgery, kind: &str, rows: &[usize]) {
        let fails = match self.check(f) {
            Ok(()) => panic!("{what}: the forgery was ACCEPTED"),
            Err(fails) => fails,
        };
        let want: Vec<String> = rows.iter().map(|r| format!("{kind}@{r}")).collect();
        assert!(
            fails.iter().any(|f| want.contains(f)),
            "{what}: rejected, but not by {kind} on rows {rows:?}: {fails:?}"
        );
    }

    /// Plan rows that read or define wire `w`.
    fn rows_of(&self, w: Wire) -> Vec<usize> {
        self.plan().rows.iter().enumerate().filter(|(_, r)| row_wires(r).contains(&w)).map(|(i, _)| i).collect()
    }
}

fn row_wires(r: &Row) -> Vec<Wire> {
    match r {
        Row::Mac { x, acc, .. } => x.iter().copied().chain([*acc]).collect(),
        Row::Lin { a, .. } => a.iter().flatten().copied().collect(),
        Row::Sel { base, d, b, y } => vec![*base, *d, *b, *y],
        Row::Func { i, y, .. } => vec![*i, *y],
    }
}

fn fr(v: i128) -> Fr {
    zkinfer_circuits::circuit::fe(v)
}

fn gap_case() -> Case {
    let mut g = Graph::new(&[1, 1, 4, 4], 21);
    g.node("GlobalAveragePool", "gap", &["input"], vec![]);
    Case::new(&g, 16, QuantConfig::default(), None)
}

/// The review's forgery: `y′ = (2·acc + n − r′)/(2n) mod p` satisfies the
/// division row for any remainder `r′`; only a range check on `y` stops it.
#[test]
fn forged_global_average_pool_field_quotient() {
    let c = gap_case();
    let y = c.plan().outputs[0];
    let n = 16i128;
    // The Mac row that sums the window defines acc; the division row reads acc and y.
    let div_rows: Vec<usize> = c
        .rows_of(y)
        .into_iter()
        .filter(|&r| matches!(&c.plan().rows[r], Row::Lin { c: co, .. } if co.contains(&(-2 * n))))
        .collect();
    assert!(!div_rows.is_empty(), "no division row for the output");
    let acc = match &c.plan().rows[div_rows[0]] {
        Row::Lin { a, .. } => a[0].unwrap(),
        _ => unreachable!(),
    };
    let acc_v = c.value(acc);
    for r_forged in [0i128, 7, 31] {
        let y_forged = (fr(2 * acc_v + n - r_forged)) * fr(2 * n).invert().unwrap();
        assert_ne!(y_forged, fr(c.value(y)));
        let mut f = c.honest();
        f.set(y, y_forged);
        let fails = c.check(f);
        eprintln!("r' = {r_forged}: y' = {y_forged:?}: {fails:?}");
        assert!(fails.is_err(), "GlobalAveragePool: forged output y' = {y_forged:?} (remainder {r_forged}) was ACCEPTED");
    }
    let _ = &c.q;
}
