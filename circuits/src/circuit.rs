//! The halo2 circuit: columns and gates ([`ModelConfig`]) and the `Circuit`
//! impl that replays a [`Plan`]'s rows into one region.

use std::sync::Arc;

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Expression, Fixed, Instance, TableColumn};
use halo2_proofs::poly::Rotation;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use serde::{Deserialize, Serialize};

use crate::forge::{self, Forgery};
use crate::plan::{LIMB_BITS, Plan, Row};

/// The circuit's shape: what `configure` needs to know, saved beside the keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitShape {
    /// Products per multiply-accumulate row (≥ 5: Lin rows reuse these fixed columns).
    pub width: usize,
    /// Range-check limbs per Lin row.
    pub limbs: usize,
}

impl CircuitShape {
    /// Advice columns: the MAC inputs plus the accumulator, or a Lin row's operands plus limbs.
    pub fn advice_columns(&self) -> usize {
        (self.width + 1).max(3 + self.limbs).max(4)
    }
}

/// Columns, gates and lookups.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    advice: Vec<Column<Advice>>,
    fixed: Vec<Column<Fixed>>,
    tags: Vec<Column<Fixed>>,
    q_mac: Column<Fixed>,
    q_chain: Column<Fixed>,
    q_lin: Column<Fixed>,
    q_sel: Column<Fixed>,
    q_func: Column<Fixed>,
    func_tag: Column<Fixed>,
    range_table: (TableColumn, TableColumn),
    func_table: (TableColumn, TableColumn, TableColumn),
    instance: Column<Instance>,
    shape: CircuitShape,
}

impl ModelConfig {
    /// Declares columns, gates and lookups for `shape`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> Self {
        assert!(shape.width >= 5, "circuit width {} < 5", shape.width);
        let advice: Vec<_> = (0..shape.advice_columns()).map(|_| meta.advice_column()).collect();
        for &a in &advice {
            meta.enable_equality(a);
        }
        let fixed: Vec<_> = (0..shape.width).map(|_| meta.fixed_column()).collect();
        let tags: Vec<_> = (0..shape.limbs).map(|_| meta.fixed_column()).collect();
        let [q_mac, q_chain, q_lin, q_sel, q_func, func_tag] = [(); 6].map(|_| meta.fixed_column());
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let range_table = (meta.lookup_table_column(), meta.lookup_table_column());
        let func_table = (meta.lookup_table_column(), meta.lookup_table_column(), meta.lookup_table_column());
        let w = shape.width;

        // Mac row:  acc = q_chain·acc_prev + Σ x_i·w_i
        meta.create_gate("mac", |m| {
            let q = m.query_fixed(q_mac, Rotation::cur());
            let chain = m.query_fixed(q_chain, Rotation::cur());
            let acc = m.query_advice(advice[w], Rotation::cur());
            let prev = m.query_advice(advice[w], Rotation::prev());
            let sum = (0..w).fold(Expression::Constant(Fr::ZERO), |s, i| {
                s + m.query_advice(advice[i], Rotation::cur()) * m.query_fixed(fixed[i], Rotation::cur())
            });
            vec![q * (acc - chain * prev - sum)]
        });

        // Lin row:  c0·a0 + c1·a1 + c2·a2 + cm·a0·a1 + cc = Σ l_j·2^(8j)
        meta.create_gate("lin", |m| {
            let q = m.query_fixed(q_lin, Rotation::cur());
            let a: Vec<_> = (0..3).map(|i| m.query_advice(advice[i], Rotation::cur())).collect();
            let c: Vec<_> = (0..5).map(|i| m.query_fixed(fixed[i], Rotation::cur())).collect();
            let lhs = c[0].clone() * a[0].clone()
                + c[1].clone() * a[1].clone()
                + c[2].clone() * a[2].clone()
                + c[3].clone() * a[0].clone() * a[1].clone()
                + c[4].clone();
            let limbs = (0..shape.limbs).fold(Expression::Constant(Fr::ZERO), |s, j| {
                s + m.query_advice(advice[3 + j], Rotation::cur())
                    * Expression::Constant(Fr::from(2).pow([(LIMB_BITS as u64) * j as u64]))
            });
            vec![q * (lhs - limbs)]
        });

        // Each limb: (t_j, q·l_j) ∈ {(t, v) : 0 ≤ v < 2^t}
        for j in 0..shape.limbs {
            meta.lookup("limb range", |m| {
                let q = m.query_fixed(q_lin, Rotation::cur());
                let t = m.query_fixed(tags[j], Rotation::cur());
                let l = m.query_advice(advice[3 + j], Rotation::cur());
                vec![(t, range_table.0), (q * l, range_table.1)]
            });
        }

        // Sel row:  b·(1 - b) = 0,  y = base + b·d
        meta.create_gate("select", |m| {
            let q = m.query_fixed(q_sel, Rotation::cur());
            let [base, d, b, y] = [0, 1, 2, 3].map(|i| m.query_advice(advice[i], Rotation::cur()));
            let one = Expression::Constant(Fr::ONE);
            vec![q.clone() * b.clone() * (one - b.clone()), q * (y - base - b * d)]
        });

        // Func row: (tag, i, y) ∈ function table
        meta.lookup("function", |m| {
            let q = m.query_fixed(q_func, Rotation::cur());
            let tag = m.query_fixed(func_tag, Rotation::cur());
            let i = m.query_advice(advice[0], Rotation::cur());
            let y = m.query_advice(advice[1], Rotation::cur());
            vec![(tag, func_table.0), (q.clone() * i, func_table.1), (q * y, func_table.2)]
        });

        ModelConfig {
            advice,
            fixed,
            tags,
            q_mac,
            q_chain,
            q_lin,
            q_sel,
            q_func,
            func_tag,
            range_table,
            func_table,
            instance,
            shape,
        }
    }
}

/// A signed integer as a field element.
pub fn fe(v: i128) -> Fr {
    let m = v.unsigned_abs();
    let f = Fr::from_raw([m as u64, (m >> 64) as u64, 0, 0]);
    if v >= 0 { f } else { -f }
}

/// The circuit of one model: its plan, and when proving, the binding element.
#[derive(Clone, Debug)]
pub struct ModelCircuit {
    /// Rows (with values when proving).
    pub plan: Arc<Plan>,
    /// The binding instance (keccak(job ‖ prover) mod r), when proving.
    pub binding: Option<Fr>,
    /// Column shape.
    pub shape: CircuitShape,
    /// An attacker's assignment to use instead of the plan's values (soundness tests only).
    pub forgery: Option<Arc<Forgery>>,
}

impl ModelCircuit {
    /// The circuit of `plan` in `shape`, bound to `binding` when proving.
    pub fn new(plan: Arc<Plan>, binding: Option<Fr>, shape: CircuitShape) -> ModelCircuit {
        ModelCircuit { plan, binding, shape, forgery: None }
    }

    /// This circuit with the attacker's assignment `forgery` (see [`crate::forge`]).
    pub fn forged(&self, forgery: Forgery) -> ModelCircuit {
        ModelCircuit { forgery: Some(Arc::new(forgery)), ..self.clone() }
    }

    /// The public instances: inputs, outputs, then the binding. `None` without a witness.
    /// A forged circuit claims its forged inputs and outputs.
    pub fn instances(&self) -> Option<Vec<Fr>> {
        let io = self.plan.inputs.iter().chain(&self.plan.outputs);
        let mut out: Vec<Fr> = match &self.forgery {
            Some(f) => io.map(|&w| f.wires[w]).collect(),
            None => {
                let vals = self.plan.values.as_ref()?;
                io.map(|&w| fe(vals[w])).collect()
            }
        };
        out.push(self.binding?);
        Some(out)
    }

    /// The value every cell of wire `w` holds.
    fn wire_value(&self, w: usize) -> Value<Fr> {
        match (&self.forgery, &self.plan.values) {
            (Some(f), _) => Value::known(f.wires[w]),
            (None, Some(v)) => Value::known(fe(v[w])),
            (None, None) => Value::unknown(),
        }
    }

    /// The value of the advice cell of plan row `row`, column `col`, that would hold `default`.
    fn cell_value(&self, row: usize, col: usize, default: Value<Fr>) -> Value<Fr> {
        match self.forgery.as_ref().and_then(|f| f.cells.get(&(row, col))) {
            Some(&v) => Value::known(v),
            None => default,
        }
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitShape;

    fn without_witnesses(&self) -> Self {
        let mut plan = (*self.plan).clone();
        plan.values = None;
        ModelCircuit::new(Arc::new(plan), None, self.shape)
    }

    fn params(&self) -> CircuitShape {
        self.shape
    }

    fn configure_with_params(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> ModelConfig {
        ModelConfig::configure(meta, shape)
    }

    fn configure(meta: &mut ConstraintSystem<Fr>) -> ModelConfig {
        ModelConfig::configure(meta, CircuitShape { width: 8, limbs: 3 })
    }

    fn synthesize(&self, cfg: ModelConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range",
            |mut t| {
                let mut row = 0;
                for bits in 0..=LIMB_BITS {
                    for v in 0..(1u64 << bits) {
                        t.assign_cell(|| "tag", cfg.range_table.0, row, || Value::known(Fr::from(bits as u64)))?;
                        t.assign_cell(|| "value", cfg.range_table.1, row, || Value::known(Fr::from(v)))?;
                        row += 1;
                    }
                }
                Ok(())
            },
        )?;
        layouter.assign_table(
            || "functions",
            |mut t| {
                let mut row = 0;
                let mut put = |tag: u64, i: i128, y: i128, row: &mut usize| -> Result<(), Error> {
                    t.assign_cell(|| "tag", cfg.func_table.0, *row, || Value::known(Fr::from(tag)))?;
                    t.assign_cell(|| "in", cfg.func_table.1, *row, || Value::known(fe(i)))?;
                    t.assign_cell(|| "out", cfg.func_table.2, *row, || Value::known(fe(y)))?;
                    *row += 1;
                    Ok(())
                };
                put(0, 0, 0, &mut row)?;
                for table in &self.plan.tables {
                    for &(i, y) in &table.entries {
                        put(table.tag, i, y, &mut row)?;
                    }
                }
                Ok(())
            },
        )?;

        let plan = &self.plan;
        let mut io_cells: Vec<Cell> = vec![];
        layouter.assign_region(
            || "model",
            |mut region| {
                let mut first: Vec<Option<Cell>> = vec![None; plan.num_wires];
                // Assigns wire `w` to column `col` of plan row `r`; returns the value the cell holds.
                let mut put = |region: &mut halo2_proofs::circuit::Region<'_, Fr>,
                               w: usize,
                               col: usize,
                               r: usize,
                               used: &mut [bool]| {
                    used[col] = true;
                    let v = self.cell_value(r, col, self.wire_value(w));
                    let cell = region.assign_advice(cfg.advice[col], r + 1, v).cell();
                    match first[w] {
                        Some(c) => region.constrain_equal(c, cell),
                        None => first[w] = Some(cell),
                    }
                    v
                };
                // Advice columns the current row assigns.
                let mut used = vec![false; cfg.advice.len()];
                // Row 0 is left empty so that `acc_prev` of the first Mac row is a real (zero-weighted) cell.
                for (pr, row) in plan.rows.iter().enumerate() {
                    let r = pr + 1;
                    used.fill(false);
                    match row {
                        Row::Mac { x, w, chain, acc } => {
                            region.assign_fixed(cfg.q_mac, r, Fr::ONE);
                            region.assign_fixed(cfg.q_chain, r, if *chain { Fr::ONE } else { Fr::ZERO });
                            for (i, (&xi, &wi)) in x.iter().zip(w).enumerate() {
                                put(&mut region, xi, i, pr, &mut used[..]);
                                region.assign_fixed(cfg.fixed[i], r, fe(wi));
                            }
                            put(&mut region, *acc, cfg.shape.width, pr, &mut used[..]);
                        }
                        Row::Lin { a, c, cm, cc, bits } => {
                            region.assign_fixed(cfg.q_lin, r, Fr::ONE);
                            let mut ops = [Value::known(Fr::ZERO); 3];
                            for i in 0..3 {
                                if let Some(w) = a[i] {
                                    ops[i] = put(&mut region, w, i, pr, &mut used[..]);
                                }
                                region.assign_fixed(cfg.fixed[i], r, fe(c[i]));
                            }
                            region.assign_fixed(cfg.fixed[3], r, fe(*cm));
                            region.assign_fixed(cfg.fixed[4], r, fe(*cc));
                            // The limbs are the left-hand side's low bits, as the field element it is.
                            let lhs = ops[0] * Value::known(fe(c[0]))
                                + ops[1] * Value::known(fe(c[1]))
                                + ops[2] * Value::known(fe(c[2]))
                                + ops[0] * ops[1] * Value::known(fe(*cm))
                                + Value::known(fe(*cc));
                            let mut left = *bits;
                            for j in 0..cfg.shape.limbs {
                                let t = left.min(LIMB_BITS);
                                left -= t;
                                region.assign_fixed(cfg.tags[j], r, Fr::from(t as u64));
                                let limb = lhs.map(|v| forge::limb_of(v, j, LIMB_BITS));
                                region.assign_advice(cfg.advice[3 + j], r, self.cell_value(pr, 3 + j, limb));
                                used[3 + j] = true;
                            }
                        }
                        Row::Sel { base, d, b, y } => {
                            region.assign_fixed(cfg.q_sel, r, Fr::ONE);
                            for (i, &w) in [*base, *d, *b, *y].iter().enumerate() {
                                put(&mut region, w, i, pr, &mut used[..]);
                            }
                        }
                        Row::Func { tag, i, y } => {
                            region.assign_fixed(cfg.q_func, r, Fr::ONE);
                            region.assign_fixed(cfg.func_tag, r, Fr::from(*tag));
                            put(&mut region, *i, 0, pr, &mut used[..]);
                            put(&mut region, *y, 1, pr, &mut used[..]);
                        }
                    }
                    // A forgery may also fill cells the row leaves empty (unused slots).
                    if let Some(f) = &self.forgery {
                        for (&(_, col), &v) in f.cells.range((pr, 0)..(pr + 1, 0)) {
                            if col < cfg.advice.len() && !used[col] {
                                region.assign_advice(cfg.advice[col], r, Value::known(v));
                            }
                        }
                    }
                }
                // The binding row: a plain advice cell tied to the last instance.
                let r = plan.rows.len() + 1;
                let binding = match self.binding {
                    Some(b) => Value::known(b),
                    None => Value::unknown(),
                };
                let bcell = region.assign_advice(cfg.advice[0], r, binding).cell();
                io_cells = plan
                    .inputs
                    .iter()
                    .chain(&plan.outputs)
                    .map(|&w| first[w].expect("io wires are assigned"))
                    .collect();
                io_cells.push(bcell);
                Ok(())
            },
        )?;
        for (i, cell) in io_cells.into_iter().enumerate() {
            layouter.constrain_instance(cell, cfg.instance, i);
        }
        Ok(())
    }
}
