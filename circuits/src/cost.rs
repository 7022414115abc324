//! The planner's cost report: the circuit's size, and what proving it costs.

use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use halo2curves::bn256::Fr;
use serde::{Deserialize, Serialize};
use zkinfer_quantize::QModel;

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::Result;
use crate::plan::{Plan, build_plan};
use crate::prove::shape_of;

/// MAC widths (products per row) the planner considers.
pub const WIDTH_CANDIDATES: &[usize] = &[5, 8, 12, 16, 24];

/// Plans `model` at every candidate width and keeps the cheapest circuit by the
/// cost model of [`estimate_memory`] (every polynomial the prover holds costs
/// FFTs and MSMs in proportion to its size, so the estimate tracks proving
/// work too). Wider rows mean fewer MAC rows (maybe a smaller k) but more
/// columns; ties go to the narrower circuit. Deterministic: the same model
/// always gets the same shape.
pub fn plan_circuit(model: &QModel) -> Result<(Plan, CircuitShape, CostReport)> {
    let mut best: Option<(Plan, CircuitShape, CostReport)> = None;
    for &width in WIDTH_CANDIDATES {
        let plan = build_plan(model, None, width)?;
        let shape = CircuitShape { width, limbs: plan.limbs() };
        let report = report_for(model, &plan, shape);
        if best.as_ref().is_none_or(|b| report.estimated_proving_memory_bytes < b.2.estimated_proving_memory_bytes) {
            best = Some((plan, shape, report));
        }
    }
    Ok(best.expect("at least one candidate width"))
}

/// Size of a model's circuit, as `zkinfer compile` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// log2 of the circuit's rows.
    pub k: u32,
    /// Rows the model's constraints use (before padding to 2^k).
    pub rows: usize,
    /// Rows of the lookup tables (range limbs and function tables).
    pub table_rows: usize,
    /// Rows by kind: multiply-accumulate, linear (rescale, pooling sums, adds), select, function lookup.
    pub rows_by_kind: RowsByKind,
    /// Products per multiply-accumulate row.
    pub mac_width: usize,
    /// Advice (witness) columns.
    pub advice_columns: usize,
    /// Fixed columns (weights, selectors, tags).
    pub fixed_columns: usize,
    /// Instance columns (one: inputs, outputs, binding).
    pub instance_columns: usize,
    /// Public instances: inputs + outputs + 1 binding element.
    pub instances: usize,
    /// Lookup arguments.
    pub lookups: usize,
    /// Maximum constraint degree (halo2-axiom caps it at 5).
    pub degree: usize,
    /// Estimated peak memory of one proof, in bytes (see [`estimate_memory`]).
    pub estimated_proving_memory_bytes: u64,
}

/// Row counts per row kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsByKind {
    /// Multiply-accumulate rows (Gemm, MatMul, Conv).
    pub mac: usize,
    /// Linear rows with a range check (rescale, sums, adds).
    pub linear: usize,
    /// Select rows (ReLU, max-pool comparisons).
    pub select: usize,
    /// Function-lookup rows (Sigmoid, Tanh, ...).
    pub lookup: usize,
}

/// Plans `model`'s circuit (without a witness) and reports its size.
pub fn cost_report(model: &QModel) -> Result<CostReport> {
    let (circuit, _) = shape_of(model)?;
    Ok(report_for(model, &circuit.plan, circuit.shape))
}

fn report_for(model: &QModel, plan: &Plan, shape: CircuitShape) -> CostReport {
    let mut cs = ConstraintSystem::<Fr>::default();
    let _ = <ModelCircuit as Circuit<Fr>>::configure_with_params(&mut cs, shape);
    let (mac, linear, select, lookup) = plan.row_counts();
    let n_in = model.input_tensor().numel();
    let n_out = model.output_tensor().numel();
    let mut r = CostReport {
        k: plan.min_k(),
        rows: plan.used_rows(),
        table_rows: plan.table_rows(),
        rows_by_kind: RowsByKind { mac, linear, select, lookup },
        mac_width: shape.width,
        advice_columns: cs.num_advice_columns(),
        fixed_columns: cs.num_fixed_columns() + cs.num_selectors(),
        instance_columns: cs.num_instance_columns(),
        instances: n_in + n_out + 1,
        lookups: cs.lookups().len(),
        degree: cs.degree(),
        estimated_proving_memory_bytes: 0,
    };
    r.estimated_proving_memory_bytes = estimate_memory(&r, cs.permutation().get_columns().len());
    r
}

/// A coarse model of the halo2 KZG prover's peak memory, in bytes.
///
/// With n = 2^k rows and an extended domain of e·n points (e = the next power of two
/// ≥ degree − 1), every polynomial the prover holds is kept in up to three forms
/// (Lagrange n, coefficients n, extended coset e·n) of 32-byte scalars:
/// fixed and permutation polynomials in the proving key, advice and instance
/// columns, three polynomials per lookup (permuted input, permuted table, product),
/// the permutation's product polynomials (one per degree − 2 columns), the
/// vanishing argument's quotient, plus the SRS (2n G1 points of 64 bytes, monomial
/// and Lagrange).
pub fn estimate_memory(r: &CostReport, permutation_columns: usize) -> u64 {
    let n = 1u64 << r.k;
    let e = (r.degree.saturating_sub(1).max(1) as u64).next_power_of_two();
    let per_poly = (2 + e) * n * 32;
    let chunk = r.degree.saturating_sub(2).max(1);
    let perm_products = permutation_columns.div_ceil(chunk) as u64;
    let polys = r.fixed_columns as u64
        + permutation_columns as u64
        + r.advice_columns as u64
        + r.instance_columns as u64
        + 3 * r.lookups as u64
        + perm_products
        + 3 // l_0, l_last, l_active_row
        + 2; // quotient and its pieces
    polys * per_poly + 2 * n * 64
}
