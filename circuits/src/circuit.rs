//! The halo2 circuit: columns and gates ([`ModelConfig`]) and the `Circuit`
//! impl that replays a [`Plan`]'s rows into one region.

use std::sync::Arc;

use halo2_proofs::circuit::{Cell, Layouter, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Expression, Fixed, Instance, TableColumn};
use halo2_proofs::poly::Rotation;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use serde::{Deserialize, Serialize};

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
}

impl ModelCircuit {
    /// The public instances: inputs, outputs, then the binding. `None` without a witness.
    pub fn instances(&self) -> Option<Vec<Fr>> {
        let vals = self.plan.values.as_ref()?;
        let mut out: Vec<Fr> = self.plan.inputs.iter().chain(&self.plan.outputs).map(|&w| fe(vals[w])).collect();
        out.push(self.binding?);
        Some(out)
    }
}

impl Circuit<Fr> for ModelCircuit {
    type Config = ModelConfig;
    type FloorPlanner = SimpleFloorPlanner;
    type Params = CircuitShape;

    fn without_witnesses(&self) -> Self {
        let mut plan = (*self.plan).clone();
        plan.values = None;
        ModelCircuit { plan: Arc::new(plan), binding: None, shape: self.shape }
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
                let val = |w: usize| match &plan.values {
                    Some(v) => Value::known(fe(v[w])),
                    None => Value::unknown(),
                };
                let mut put = |region: &mut halo2_proofs::circuit::Region<'_, Fr>, w: usize, col: usize, row: usize| {
                    let cell = region.assign_advice(cfg.advice[col], row, val(w)).cell();
                    match first[w] {
                        Some(c) => region.constrain_equal(c, cell),
                        None => first[w] = Some(cell),
                    }
                };
                // Row 0 is left empty so that `acc_prev` of the first Mac row is a real (zero-weighted) cell.
                for (r, row) in plan.rows.iter().enumerate() {
                    let r = r + 1;
                    match row {
                        Row::Mac { x, w, chain, acc } => {
                            region.assign_fixed(cfg.q_mac, r, Fr::ONE);
                            region.assign_fixed(cfg.q_chain, r, if *chain { Fr::ONE } else { Fr::ZERO });
                            for (i, (&xi, &wi)) in x.iter().zip(w).enumerate() {
                                put(&mut region, xi, i, r);
                                region.assign_fixed(cfg.fixed[i], r, fe(wi));
                            }
                            put(&mut region, *acc, cfg.shape.width, r);
                        }
                        Row::Lin { a, c, cm, cc, bits } => {
                            region.assign_fixed(cfg.q_lin, r, Fr::ONE);
                            let mut sum = 0i128;
                            for i in 0..3 {
                                if let Some(w) = a[i] {
                                    put(&mut region, w, i, r);
                                    sum += c[i] * plan.value(w).unwrap_or(0);
                                }
                                region.assign_fixed(cfg.fixed[i], r, fe(c[i]));
                            }
                            region.assign_fixed(cfg.fixed[3], r, fe(*cm));
                            region.assign_fixed(cfg.fixed[4], r, fe(*cc));
                            let a0 = a[0].and_then(|w| plan.value(w)).unwrap_or(0);
                            let a1 = a[1].and_then(|w| plan.value(w)).unwrap_or(0);
                            sum += cm * a0 * a1 + cc;
                            let mut left = *bits;
                            for j in 0..cfg.shape.limbs {
                                let t = left.min(LIMB_BITS);
                                left -= t;
                                region.assign_fixed(cfg.tags[j], r, Fr::from(t as u64));
                                let limb = (sum >> (LIMB_BITS as usize * j)) & ((1 << LIMB_BITS) - 1);
                                let v = if plan.values.is_some() { Value::known(fe(limb)) } else { Value::unknown() };
                                region.assign_advice(cfg.advice[3 + j], r, v);
                            }
                        }
                        Row::Sel { base, d, b, y } => {
                            region.assign_fixed(cfg.q_sel, r, Fr::ONE);
                            for (i, &w) in [*base, *d, *b, *y].iter().enumerate() {
                                put(&mut region, w, i, r);
                            }
                        }
                        Row::Func { tag, i, y } => {
                            region.assign_fixed(cfg.q_func, r, Fr::ONE);
                            region.assign_fixed(cfg.func_tag, r, Fr::from(*tag));
                            put(&mut region, *i, 0, r);
                            put(&mut region, *y, 1, r);
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
