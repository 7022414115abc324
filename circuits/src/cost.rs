//! The planner's cost report: the circuit's size, and what proving it costs.

use halo2_proofs::plonk::{Circuit, ConstraintSystem};
use halo2curves::bn256::Fr;
use serde::{Deserialize, Serialize};
use zkinfer_quantize::QModel;

use crate::circuit::{CircuitShape, ModelCircuit};
use crate::error::Result;
use crate::plan::{MAX_FUNC_SLOTS, Plan};
use crate::prove::shape_of;

/// MAC widths (products per row) the planner considers.
pub const WIDTH_CANDIDATES: &[usize] = &[5, 8, 12, 16, 24];

/// Plans `model` at every candidate width and keeps the cheapest circuit by the
/// cost model of [`estimate_memory`] (every polynomial the prover holds costs
/// FFTs and MSMs in proportion to its size, so the estimate tracks proving
/// work too). Wider rows mean fewer MAC rows (maybe a smaller k) but more
/// columns; ties go to the narrower circuit. A plan whose function tables are
/// taller than its rows is also tried with its tables split over 2 and 3
/// lookup slots ([`Plan::pack_lookups`]: half or a third of the height for one
/// or two more lookup arguments). Deterministic: the same model always gets
/// the same shape.
pub fn plan_circuit(model: &QModel) -> Result<(Plan, CircuitShape, CostReport)> {
    // Cost before work: a model far beyond any circuit is refused from its shapes alone.
    let best_estimate = estimate(model)?;
    if best_estimate.k > crate::prove::MAX_CIRCUIT_K {
        return Err(crate::error::CircuitError::TooLarge {
            k: best_estimate.k,
            max: crate::prove::MAX_CIRCUIT_K,
            detail: format!(": {}", best_estimate.summary()),
        });
    }
    // Small circuits: plan every width and keep the cheapest by the real rows; large ones:
    // only the width the estimate prefers (planning is linear in the rows).
    let widths: Vec<usize> = if best_estimate.k <= 18 { WIDTH_CANDIDATES.to_vec() } else { vec![best_estimate.width] };
    let mut best: Option<(Plan, CircuitShape, CostReport)> = None;
    for width in widths {
        let lowered = crate::plan::lower_model(model, None, width)?;
        for slots in 1..=MAX_FUNC_SLOTS {
            let plan = lowered.clone().pack_lookups(slots);
            let shape = plan.shape();
            if crate::keys::check_shape(shape).is_err() {
                break;
            }
            let report = report_for(model, &plan, shape);
            let table_bound = plan.table_rows() > plan.used_rows();
            if best.as_ref().is_none_or(|b| report.estimated_proving_memory_bytes < b.2.estimated_proving_memory_bytes)
            {
                best = Some((plan, shape, report));
            }
            if !table_bound {
                break;
            }
        }
    }
    let best = best.expect("at least one candidate width");
    // A plan that builds pins every wire down (see [`crate::soundness`]).
    crate::soundness::check(&best.0)?;
    Ok(best)
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
    let mut r = CostReport {
        k: plan.min_k(),
        rows: plan.used_rows(),
        table_rows: plan.table_rows(),
        rows_by_kind: RowsByKind { mac, linear, select, lookup },
        mac_width: shape.width,
        advice_columns: cs.num_advice_columns(),
        fixed_columns: cs.num_fixed_columns() + cs.num_selectors(),
        instance_columns: cs.num_instance_columns(),
        instances: crate::statement::InstanceLayout::of(model).len(),
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

/// The cost of a model's circuit predicted from its ops' shapes alone, before any row is
/// built (seconds even for ResNet-50 at 224×224).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The MAC width the estimate prefers.
    pub width: usize,
    /// Predicted rows (an upper bound where padding removes products).
    pub rows: u64,
    /// Rows of the lookup tables.
    pub table_rows: u64,
    /// Public instances.
    pub instances: u64,
    /// log2 of the circuit's rows.
    pub k: u32,
    /// Predicted peak proving memory, bytes (the model of [`estimate_memory`]).
    pub memory_bytes: u64,
    /// Predicted proving time on one core of a machine like this one's, seconds (memory
    /// model × a rate measured on the fixtures: rough, within ~2×).
    pub proving_seconds: f64,
    /// The ops with the most rows: (node, op type, rows), most first (at most 8).
    pub top_ops: Vec<(String, String, u64)>,
}

/// Seconds of proving per byte of the memory model, fitted on the fixtures' proofs
/// (benches/compare/RESULTS.md: cnn_medium, lenet on 2 cores of this machine, × 2 for one core).
const SECONDS_PER_MODEL_BYTE: f64 = 3.6e-8;

/// Predicts the circuit of `model` at the cheapest candidate width (see [`Estimate`]).
pub fn estimate(model: &QModel) -> Result<Estimate> {
    Ok(cheapest(model, true))
}

/// The estimate at the candidate width and lookup slots with the least memory.
fn cheapest(model: &QModel, count_tables: bool) -> Estimate {
    let slots = if count_tables { MAX_FUNC_SLOTS } else { 1 };
    WIDTH_CANDIDATES
        .iter()
        .flat_map(|&width| (1..=slots).map(move |s| (width, s)))
        .map(|(width, s)| estimate_with(model, width, s, count_tables))
        .min_by_key(|e| e.memory_bytes)
        .expect("at least one width")
}

/// [`estimate`] at one MAC width and number of function-lookup slots.
pub fn estimate_at(model: &QModel, width: usize, func_slots: usize) -> Estimate {
    estimate_with(model, width, func_slots, true)
}

/// A lower bound of [`estimate`] for a model whose tables calibration has not sized yet
/// (the sketch `compile` quantizes from shapes alone, every table at 2^table_bits
/// entries): the function tables are left out (the range table and embedding tables, which
/// are weights, count). Calibration sizes each table to the window its input really spans
/// (often 2^8 of 2^16 entries), so counting the sketch's tables overstated models with many of them by orders (an LSTM of
/// 120 tables: k 23 and 89 GiB estimated, k 18 and 0.6 GiB compiled). Refusing a model on
/// this bound is always right; the exact check comes after calibration.
pub fn estimate_before_calibration(model: &QModel) -> Result<Estimate> {
    Ok(cheapest(model, false))
}

fn estimate_with(model: &QModel, width: usize, func_slots: usize, count_tables: bool) -> Estimate {
    use crate::layers::{RowsCx, rows};
    let mut per_op: Vec<(String, String, u64)> = model
        .ops
        .iter()
        .map(|op| {
            let cx = RowsCx {
                op,
                in_shapes: op.inputs.iter().map(|&t| model.tensors[t].shape.as_slice()).collect(),
                out_shape: &model.tensors[op.output].shape,
                width: width as u64,
            };
            (op.node.clone(), op.op_type.clone(), rows(&cx))
        })
        .collect();
    let input_rows = model.input_len() as u64;
    // Input range checks, the empty first row and the binding row, and at most one constant
    // row (zero, a clip bound, a padding value) per op.
    let mut rows: u64 = per_op.iter().map(|o| o.2).sum::<u64>() + input_rows + 2 + model.ops.len() as u64;
    let range = (0..=crate::plan::LIMB_BITS).map(|b| 1u64 << b).sum::<u64>();
    // The function tables, each (entries, lookups into it): tables with the same sharing key
    // are one table over the union of their indices (as the plan builds them:
    // layers::lookup::share_key); an embedding is one table per column.
    let mut groups: Vec<(u64, u64)> = vec![];
    let mut shared: std::collections::HashMap<String, (usize, std::collections::HashSet<i64>)> = Default::default();
    for o in &model.ops {
        let lookups = model.tensors[o.output].numel() as u64;
        match &o.kind {
            zkinfer_quantize::QOpKind::Lookup(l) => {
                let (s_in, s_out) = (model.tensors[o.inputs[0]].scale_bits, model.tensors[o.output].scale_bits);
                let defined = l.table.iter().enumerate().filter(|(_, v)| v.is_some()).map(|(i, _)| l.base() + i as i64);
                let defined = defined.filter(|_| count_tables);
                match crate::layers::lookup::share_key(l, s_in, s_out, model.config.act_bits) {
                    Some(key) => {
                        let next = groups.len();
                        let (g, set) = shared.entry(key).or_insert_with(|| (next, Default::default()));
                        if *g == next {
                            groups.push((0, 0));
                        }
                        set.extend(defined);
                        groups[*g] = (set.len() as u64, groups[*g].1 + lookups);
                    }
                    None => groups.push((defined.count() as u64, lookups)),
                }
            }
            zkinfer_quantize::QOpKind::Embedding(e) => {
                let dim = e.dim.max(1) as u64;
                groups.extend((0..dim).map(|_| (e.vocab as u64, lookups / dim)));
            }
            _ => {}
        }
    }
    // Split over the lookup slots as Plan::pack_lookups does: the function rows become the
    // lookups of the busiest set.
    let sizes: Vec<usize> = groups.iter().map(|g| g.0 as usize).collect();
    let sets = crate::plan::assign_table_sets(&sizes, func_slots);
    let (mut heights, mut lookups) = (vec![1u64; func_slots.max(1)], vec![0u64; func_slots.max(1)]);
    for (g, &s) in groups.iter().zip(&sets) {
        heights[s] += g.0;
        lookups[s] += g.1;
    }
    if func_slots > 1 {
        rows = rows - lookups.iter().sum::<u64>() + lookups.iter().max().copied().unwrap_or(0);
    }
    let table_rows = range.max(heights.iter().copied().max().unwrap_or(1));
    let instances = crate::statement::InstanceLayout::of(model).len() as u64;
    let need = rows.max(table_rows).max(instances) + crate::plan::BLINDING_ROWS as u64;
    let k = need.next_power_of_two().trailing_zeros().max(4);
    // Limbs: the widest range check is an activation's, a rescale's remainder or a sign's.
    let max_shift = model
        .ops
        .iter()
        .filter_map(|o| serde_json::to_value(&o.kind).ok()?.get("shift")?.as_i64())
        .max()
        .unwrap_or(0)
        .max(0) as u32;
    // A comparison of two activations at other scales checks a difference `shift` bits wider.
    let compare_bits = model
        .ops
        .iter()
        .filter_map(|o| match &o.kind {
            zkinfer_quantize::QOpKind::Compare(c) => c.shifts.iter().max().map(|s| model.config.act_bits + s + 1),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let max_bits = (model.config.act_bits + 2).max(max_shift).max(compare_bits);
    let dot = model.ops.iter().any(|o| matches!(o.kind, zkinfer_quantize::QOpKind::MatMul(_)));
    let shape = CircuitShape {
        width,
        limbs: max_bits.div_ceil(crate::plan::LIMB_BITS) as usize,
        dot,
        extra_func_slots: func_slots.saturating_sub(1),
    };
    let mut cs = ConstraintSystem::<Fr>::default();
    let _ = <ModelCircuit as Circuit<Fr>>::configure_with_params(&mut cs, shape);
    let report = CostReport {
        k,
        rows: rows as usize,
        table_rows: table_rows as usize,
        rows_by_kind: RowsByKind { mac: 0, linear: 0, select: 0, lookup: 0 },
        mac_width: width,
        advice_columns: cs.num_advice_columns(),
        fixed_columns: cs.num_fixed_columns() + cs.num_selectors(),
        instance_columns: cs.num_instance_columns(),
        instances: instances as usize,
        lookups: cs.lookups().len(),
        degree: cs.degree(),
        estimated_proving_memory_bytes: 0,
    };
    let memory_bytes = estimate_memory(&report, cs.permutation().get_columns().len());
    per_op.sort_by_key(|o| std::cmp::Reverse(o.2));
    per_op.truncate(8);
    Estimate {
        width,
        rows,
        table_rows,
        instances,
        k,
        memory_bytes,
        proving_seconds: memory_bytes as f64 * SECONDS_PER_MODEL_BYTE,
        top_ops: per_op,
    }
}

impl Estimate {
    /// One line: rows, k, memory, time and the dominating ops.
    pub fn summary(&self) -> String {
        let gib = self.memory_bytes as f64 / (1u64 << 30) as f64;
        let total = self.rows.max(1) as f64;
        let top: Vec<String> = self
            .top_ops
            .iter()
            .take(3)
            .map(|(node, op, rows)| format!("`{node}` ({op}) {:.0}%", 100.0 * *rows as f64 / total))
            .collect();
        format!(
            "estimated {} rows (k = {}), {:.1} GiB and ~{:.0} s to prove one input; most rows in {}",
            self.rows,
            self.k,
            gib,
            self.proving_seconds,
            top.join(", ")
        )
    }
}
