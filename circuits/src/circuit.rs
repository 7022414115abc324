//! The halo2 circuit: columns and gates ([`ModelConfig`]) and the `Circuit`
//! impl that replays a [`Plan`]'s rows into one region.

use std::sync::Arc;

use halo2_proofs::circuit::{Cell, Layouter, Region, SimpleFloorPlanner, Value};
use halo2_proofs::plonk::{Advice, Circuit, Column, ConstraintSystem, Error, Expression, Fixed, Instance, TableColumn};
use halo2_proofs::poly::Rotation;
use halo2curves::bn256::Fr;
use halo2curves::ff::Field;
use serde::{Deserialize, Serialize};

use crate::forge::{self, Forgery};
use crate::plan::{LIMB_BITS, Plan, Row};
use crate::statement::InstanceLayout;

/// The circuit's shape: what `configure` needs to know, saved beside the keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitShape {
    /// Products per multiply-accumulate row (≥ 5: Lin rows reuse these fixed columns).
    pub width: usize,
    /// Range-check limbs per Lin row.
    pub limbs: usize,
    /// Whether the circuit has the dot gate (products of two wires, for a MatMul of two
    /// activations): one more fixed column and gate, so only circuits that use it have it,
    /// and the shapes (and verifying keys) of circuits without it are what they were.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dot: bool,
    /// Function-lookup slots beyond the first ([`crate::plan::Plan::pack_lookups`]): each
    /// one more lookup argument with its own table set, for models whose function tables
    /// outgrow their rows. 0 in every circuit made before there were more, so that their
    /// shapes and verifying keys are what they were.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extra_func_slots: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl CircuitShape {
    /// Function-lookup slots per `Func` row.
    pub fn func_slots(&self) -> usize {
        1 + self.extra_func_slots
    }

    /// Advice columns: the MAC inputs plus the accumulator, or a Lin row's operands plus limbs.
    pub fn advice_columns(&self) -> usize {
        (self.width + 1).max(3 + self.limbs).max(4)
    }
}

/// The columns the gates share.
#[derive(Clone, Debug)]
struct Columns {
    /// A Mac row's inputs and accumulator; a Lin row's operands and limbs; a Sel
    /// row's base, difference, bit and output; a Func row's input and output.
    advice: Vec<Column<Advice>>,
    /// A Mac row's weights; a Lin row's coefficients.
    fixed: Vec<Column<Fixed>>,
    /// The bit width of each limb of a Lin row.
    tags: Vec<Column<Fixed>>,
}

/// Columns, gates and lookups: one gate per [`Row`] kind, each below with its
/// `configure` (the constraint) and its `assign` (one row of it) side by side,
/// as in halo2's examples, and the two lookup tables.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    cols: Columns,
    mac: MacGate,
    lin: LinGate,
    sel: SelGate,
    func: FuncGate,
    dot: Option<DotGate>,
    /// The lookups of slots 1, 2, … (advice columns 2s, 2s + 1; table set s).
    extra_func: Vec<FuncGate>,
    range_table: RangeTable,
    instance: Column<Instance>,
}

impl ModelConfig {
    /// Declares columns, gates and lookups for `shape`.
    pub fn configure(meta: &mut ConstraintSystem<Fr>, shape: CircuitShape) -> Self {
        assert!(shape.width >= 5, "circuit width {} < 5", shape.width);
        // The order columns are made in is part of the verifying key (and so of the model
        // id): advice, the weights/coefficients, the limb tags, the gates' selectors, the
        // instance, the tables; then the gates and lookups in the order below.
        let advice: Vec<_> = (0..shape.advice_columns()).map(|_| meta.advice_column()).collect();
        for &a in &advice {
            meta.enable_equality(a);
        }
        let fixed: Vec<_> = (0..shape.width).map(|_| meta.fixed_column()).collect();
        let tags: Vec<_> = (0..shape.limbs).map(|_| meta.fixed_column()).collect();
        let [q_mac, q_chain, q_lin, q_sel, q_func, func_tag] = [(); 6].map(|_| meta.fixed_column());
        let instance = meta.instance_column();
        meta.enable_equality(instance);
        let range_table = RangeTable { tag: meta.lookup_table_column(), value: meta.lookup_table_column() };
        let func_table = FuncTable {
            tag: meta.lookup_table_column(),
            input: meta.lookup_table_column(),
            output: meta.lookup_table_column(),
        };
        let cols = Columns { advice, fixed, tags };
        let mac = MacGate::configure(meta, &cols, q_mac, q_chain, shape.width);
        let lin = LinGate::configure(meta, &cols, q_lin, &range_table, shape.limbs);
        let sel = SelGate::configure(meta, &cols, q_sel);
        let func = FuncGate::configure(meta, &cols, q_func, func_tag, func_table, 0);
        // Last, so that a circuit without them has the columns and gates it always had.
        let dot = shape.dot.then(|| {
            let q_dot = meta.fixed_column();
            DotGate::configure(meta, &cols, q_dot, q_chain, shape.width)
        });
        let extra_func = (1..shape.func_slots())
            .map(|slot| {
                let (q, tag) = (meta.fixed_column(), meta.fixed_column());
                let table = FuncTable {
                    tag: meta.lookup_table_column(),
                    input: meta.lookup_table_column(),
                    output: meta.lookup_table_column(),
                };
                FuncGate::configure(meta, &cols, q, tag, table, slot)
            })
            .collect();
        ModelConfig { cols, mac, lin, sel, func, dot, extra_func, range_table, instance }
    }
}

/// Writes one plan row into the model region: wires (each copy-constrained to
/// the first cell that holds it), limb cells and fixed cells, with a forgery's
/// cells in their place when the circuit is forged.
struct RowWriter<'a, 'r> {
    circuit: &'a ModelCircuit,
    advice: &'a [Column<Advice>],
    region: &'a mut Region<'r, Fr>,
    /// The first cell of each wire.
    first: &'a mut [Option<Cell>],
    /// The advice columns this row assigned.
    used: Vec<bool>,
    /// The plan row (the region row is one more: row 0 stays empty).
    pr: usize,
}

impl RowWriter<'_, '_> {
    fn fixed(&mut self, col: Column<Fixed>, v: Fr) {
        self.region.assign_fixed(col, self.pr + 1, v);
    }

    /// Wire `w` in advice column `col`; returns the value the cell holds.
    fn wire(&mut self, w: usize, col: usize) -> Value<Fr> {
        self.used[col] = true;
        let v = self.circuit.cell_value(self.pr, col, self.circuit.wire_value(w));
        let cell = self.region.assign_advice(self.advice[col], self.pr + 1, v).cell();
        match self.first[w] {
            Some(c) => self.region.constrain_equal(c, cell),
            None => self.first[w] = Some(cell),
        }
        v
    }

    /// A cell of advice column `col` that holds no wire (a limb): `value`, unless forged.
    fn cell(&mut self, col: usize, value: Value<Fr>) {
        self.used[col] = true;
        let v = self.circuit.cell_value(self.pr, col, value);
        self.region.assign_advice(self.advice[col], self.pr + 1, v);
    }

    /// A forgery may also fill the cells the row leaves empty (unused slots).
    fn forged_rest(&mut self) {
        if let Some(f) = &self.circuit.forgery {
            for (&(_, col), &v) in f.cells.range((self.pr, 0)..(self.pr + 1, 0)) {
                if col < self.advice.len() && !self.used[col] {
                    self.region.assign_advice(self.advice[col], self.pr + 1, Value::known(v));
                }
            }
        }
    }
}

/// Mac row: `acc = q_chain·acc_prev + Σ x_i·w_i` (the weights fixed).
#[derive(Clone, Debug)]
struct MacGate {
    q: Column<Fixed>,
    chain: Column<Fixed>,
    width: usize,
}

impl MacGate {
    fn configure(
        meta: &mut ConstraintSystem<Fr>,
        cols: &Columns,
        q: Column<Fixed>,
        chain: Column<Fixed>,
        width: usize,
    ) -> MacGate {
        let (advice, fixed) = (cols.advice.clone(), cols.fixed.clone());
        meta.create_gate("mac", |m| {
            let q = m.query_fixed(q, Rotation::cur());
            let chain = m.query_fixed(chain, Rotation::cur());
            let acc = m.query_advice(advice[width], Rotation::cur());
            let prev = m.query_advice(advice[width], Rotation::prev());
            let sum = (0..width).fold(Expression::Constant(Fr::ZERO), |s, i| {
                s + m.query_advice(advice[i], Rotation::cur()) * m.query_fixed(fixed[i], Rotation::cur())
            });
            vec![q * (acc - chain * prev - sum)]
        });
        MacGate { q, chain, width }
    }

    fn assign(&self, cols: &Columns, rw: &mut RowWriter<'_, '_>, x: &[usize], w: &[i128], chain: bool, acc: usize) {
        rw.fixed(self.q, Fr::ONE);
        rw.fixed(self.chain, if chain { Fr::ONE } else { Fr::ZERO });
        for (i, (&xi, &wi)) in x.iter().zip(w).enumerate() {
            rw.wire(xi, i);
            rw.fixed(cols.fixed[i], fe(wi));
        }
        rw.wire(acc, self.width);
    }
}

/// Dot row: `acc = q_chain·acc_prev + Σ x_i·y_i` over `width / 2` pairs of wires (the
/// accumulator in the Mac row's column, the chain flag in its fixed column).
#[derive(Clone, Debug)]
struct DotGate {
    q: Column<Fixed>,
    chain: Column<Fixed>,
    width: usize,
}

impl DotGate {
    fn configure(
        meta: &mut ConstraintSystem<Fr>,
        cols: &Columns,
        q: Column<Fixed>,
        chain: Column<Fixed>,
        width: usize,
    ) -> DotGate {
        let advice = cols.advice.clone();
        let pairs = width / 2;
        meta.create_gate("dot", |m| {
            let q = m.query_fixed(q, Rotation::cur());
            let chain = m.query_fixed(chain, Rotation::cur());
            let acc = m.query_advice(advice[width], Rotation::cur());
            let prev = m.query_advice(advice[width], Rotation::prev());
            let sum = (0..pairs).fold(Expression::Constant(Fr::ZERO), |s, i| {
                s + m.query_advice(advice[i], Rotation::cur()) * m.query_advice(advice[pairs + i], Rotation::cur())
            });
            vec![q * (acc - chain * prev - sum)]
        });
        DotGate { q, chain, width }
    }

    fn assign(&self, rw: &mut RowWriter<'_, '_>, x: &[usize], y: &[usize], chain: bool, acc: usize) {
        let pairs = self.width / 2;
        rw.fixed(self.q, Fr::ONE);
        rw.fixed(self.chain, if chain { Fr::ONE } else { Fr::ZERO });
        for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
            rw.wire(xi, i);
            rw.wire(yi, pairs + i);
        }
        rw.wire(acc, self.width);
    }
}

/// Lin row: `c0·a0 + c1·a1 + c2·a2 + cm·a0·a1 + cc = Σ l_j·2^(8j)`, each limb
/// range-checked: `(t_j, q·l_j) ∈ {(t, v) : 0 ≤ v < 2^t}`.
#[derive(Clone, Debug)]
struct LinGate {
    q: Column<Fixed>,
    limbs: usize,
}

impl LinGate {
    fn configure(
        meta: &mut ConstraintSystem<Fr>,
        cols: &Columns,
        q: Column<Fixed>,
        range: &RangeTable,
        limbs: usize,
    ) -> LinGate {
        let (advice, fixed) = (cols.advice.clone(), cols.fixed.clone());
        meta.create_gate("lin", |m| {
            let q = m.query_fixed(q, Rotation::cur());
            let a: Vec<_> = (0..3).map(|i| m.query_advice(advice[i], Rotation::cur())).collect();
            let c: Vec<_> = (0..5).map(|i| m.query_fixed(fixed[i], Rotation::cur())).collect();
            let lhs = c[0].clone() * a[0].clone()
                + c[1].clone() * a[1].clone()
                + c[2].clone() * a[2].clone()
                + c[3].clone() * a[0].clone() * a[1].clone()
                + c[4].clone();
            let sum = (0..limbs).fold(Expression::Constant(Fr::ZERO), |s, j| {
                s + m.query_advice(advice[3 + j], Rotation::cur())
                    * Expression::Constant(Fr::from(2).pow([(LIMB_BITS as u64) * j as u64]))
            });
            vec![q * (lhs - sum)]
        });
        for j in 0..limbs {
            let (tag, limb) = (cols.tags[j], cols.advice[3 + j]);
            meta.lookup("limb range", |m| {
                let q = m.query_fixed(q, Rotation::cur());
                let t = m.query_fixed(tag, Rotation::cur());
                let l = m.query_advice(limb, Rotation::cur());
                vec![(t, range.tag), (q * l, range.value)]
            });
        }
        LinGate { q, limbs }
    }

    #[allow(clippy::too_many_arguments)]
    fn assign(
        &self,
        cols: &Columns,
        rw: &mut RowWriter<'_, '_>,
        a: &[Option<usize>; 3],
        c: &[i128; 3],
        cm: i128,
        cc: i128,
        bits: u32,
    ) {
        rw.fixed(self.q, Fr::ONE);
        let mut ops = [Value::known(Fr::ZERO); 3];
        for i in 0..3 {
            if let Some(w) = a[i] {
                ops[i] = rw.wire(w, i);
            }
            rw.fixed(cols.fixed[i], fe(c[i]));
        }
        rw.fixed(cols.fixed[3], fe(cm));
        rw.fixed(cols.fixed[4], fe(cc));
        // The limbs are the left-hand side's low bits, as the field element it is.
        let lhs = ops[0] * Value::known(fe(c[0]))
            + ops[1] * Value::known(fe(c[1]))
            + ops[2] * Value::known(fe(c[2]))
            + ops[0] * ops[1] * Value::known(fe(cm))
            + Value::known(fe(cc));
        let mut left = bits;
        for j in 0..self.limbs {
            let t = left.min(LIMB_BITS);
            left -= t;
            rw.fixed(cols.tags[j], Fr::from(t as u64));
            rw.cell(3 + j, lhs.map(|v| forge::limb_of(v, j, LIMB_BITS)));
        }
    }
}

/// Sel row: `b·(1 - b) = 0`, `y = base + b·d`.
#[derive(Clone, Debug)]
struct SelGate {
    q: Column<Fixed>,
}

impl SelGate {
    fn configure(meta: &mut ConstraintSystem<Fr>, cols: &Columns, q: Column<Fixed>) -> SelGate {
        let advice = cols.advice.clone();
        meta.create_gate("select", |m| {
            let q = m.query_fixed(q, Rotation::cur());
            let [base, d, b, y] = [0, 1, 2, 3].map(|i| m.query_advice(advice[i], Rotation::cur()));
            let one = Expression::Constant(Fr::ONE);
            vec![q.clone() * b.clone() * (one - b.clone()), q * (y - base - b * d)]
        });
        SelGate { q }
    }

    fn assign(&self, rw: &mut RowWriter<'_, '_>, wires: [usize; 4]) {
        rw.fixed(self.q, Fr::ONE);
        for (i, w) in wires.into_iter().enumerate() {
            rw.wire(w, i);
        }
    }
}

/// Func row, one slot `s`: `(tag, i, y)` is a row of table set `s`, with `i` and `y` in
/// advice columns `2s`, `2s + 1`.
#[derive(Clone, Debug)]
struct FuncGate {
    q: Column<Fixed>,
    tag: Column<Fixed>,
    table: FuncTable,
    slot: usize,
}

impl FuncGate {
    fn configure(
        meta: &mut ConstraintSystem<Fr>,
        cols: &Columns,
        q: Column<Fixed>,
        tag: Column<Fixed>,
        table: FuncTable,
        slot: usize,
    ) -> FuncGate {
        let (input, output) = (cols.advice[2 * slot], cols.advice[2 * slot + 1]);
        meta.lookup("function", |m| {
            let q = m.query_fixed(q, Rotation::cur());
            let t = m.query_fixed(tag, Rotation::cur());
            let i = m.query_advice(input, Rotation::cur());
            let y = m.query_advice(output, Rotation::cur());
            vec![(t, table.tag), (q.clone() * i, table.input), (q * y, table.output)]
        });
        FuncGate { q, tag, table, slot }
    }

    fn assign(&self, rw: &mut RowWriter<'_, '_>, tag: u64, i: usize, y: usize) {
        rw.fixed(self.q, Fr::ONE);
        rw.fixed(self.tag, Fr::from(tag));
        rw.wire(i, 2 * self.slot);
        rw.wire(y, 2 * self.slot + 1);
    }
}

/// The range table: `(t, v)` for every `t ≤ LIMB_BITS` and `0 ≤ v < 2^t`.
#[derive(Clone, Copy, Debug)]
struct RangeTable {
    tag: TableColumn,
    value: TableColumn,
}

impl RangeTable {
    fn assign(&self, layouter: &mut impl Layouter<Fr>) -> Result<(), Error> {
        layouter.assign_table(
            || "range",
            |mut t| {
                let mut row = 0;
                for bits in 0..=LIMB_BITS {
                    for v in 0..(1u64 << bits) {
                        t.assign_cell(|| "tag", self.tag, row, || Value::known(Fr::from(bits as u64)))?;
                        t.assign_cell(|| "value", self.value, row, || Value::known(Fr::from(v)))?;
                        row += 1;
                    }
                }
                Ok(())
            },
        )
    }
}

/// A function table set: `(0, 0, 0)`, then `(tag, i, f(i))` for every entry of the plan's
/// tables in the set.
#[derive(Clone, Copy, Debug)]
struct FuncTable {
    tag: TableColumn,
    input: TableColumn,
    output: TableColumn,
}

impl FuncTable {
    fn assign(&self, layouter: &mut impl Layouter<Fr>, plan: &Plan, set: usize) -> Result<(), Error> {
        layouter.assign_table(
            || format!("functions {set}"),
            |mut t| {
                let mut row = 0;
                let mut put = |tag: u64, i: i128, y: i128, row: &mut usize| -> Result<(), Error> {
                    t.assign_cell(|| "tag", self.tag, *row, || Value::known(Fr::from(tag)))?;
                    t.assign_cell(|| "in", self.input, *row, || Value::known(fe(i)))?;
                    t.assign_cell(|| "out", self.output, *row, || Value::known(fe(y)))?;
                    *row += 1;
                    Ok(())
                };
                put(0, 0, 0, &mut row)?;
                for table in plan.tables.iter().filter(|t| t.set == set) {
                    for &(i, y) in &table.entries {
                        put(table.tag, i, y, &mut row)?;
                    }
                }
                Ok(())
            },
        )
    }
}

/// A signed integer as a field element (short for [`crate::encoding::fr_from_int`] in the chips).
pub(crate) use crate::encoding::fr_from_int as fe;

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

    /// The public instances, in [`InstanceLayout`]'s order. `None` without a witness.
    /// A forged circuit claims its forged inputs and outputs.
    pub fn instances(&self) -> Option<Vec<Fr>> {
        let value = |w: &usize| -> Option<Fr> {
            match &self.forgery {
                Some(f) => Some(f.wires[*w]),
                None => Some(fe(self.plan.values.as_ref()?[*w])),
            }
        };
        let inputs = self.plan.inputs.iter().map(value).collect::<Option<Vec<_>>>()?;
        let outputs = self.plan.outputs.iter().map(value).collect::<Option<Vec<_>>>()?;
        Some(InstanceLayout::assemble(inputs, outputs, self.binding?))
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
        ModelConfig::configure(meta, CircuitShape { width: 8, limbs: 3, dot: false, extra_func_slots: 0 })
    }

    fn synthesize(&self, cfg: ModelConfig, mut layouter: impl Layouter<Fr>) -> Result<(), Error> {
        cfg.range_table.assign(&mut layouter)?;
        cfg.func.table.assign(&mut layouter, &self.plan, 0)?;
        for gate in &cfg.extra_func {
            gate.table.assign(&mut layouter, &self.plan, gate.slot)?;
        }
        // A plan packed for more slots than the shape has would leave tables unassigned.
        if self.plan.func_slots.max(1) != self.shape.func_slots() {
            return Err(Error::Synthesis);
        }
        let plan = &self.plan;
        let mut io_cells: Vec<Cell> = vec![];
        layouter.assign_region(
            || "model",
            |mut region| {
                let mut first: Vec<Option<Cell>> = vec![None; plan.num_wires];
                // Row 0 is left empty so that `acc_prev` of the first Mac row is a real (zero-weighted) cell.
                for (pr, row) in plan.rows.iter().enumerate() {
                    let mut rw = RowWriter {
                        circuit: self,
                        advice: &cfg.cols.advice,
                        region: &mut region,
                        first: &mut first,
                        used: vec![false; cfg.cols.advice.len()],
                        pr,
                    };
                    match row {
                        Row::Mac { x, w, chain, acc } => cfg.mac.assign(&cfg.cols, &mut rw, x, w, *chain, *acc),
                        Row::Lin { a, c, cm, cc, bits } => cfg.lin.assign(&cfg.cols, &mut rw, a, c, *cm, *cc, *bits),
                        Row::Sel { base, d, b, y } => cfg.sel.assign(&mut rw, [*base, *d, *b, *y]),
                        Row::Func { lookups } => {
                            for l in lookups {
                                let gate = match l.slot {
                                    0 => &cfg.func,
                                    s => cfg.extra_func.get(s - 1).ok_or(Error::Synthesis)?,
                                };
                                gate.assign(&mut rw, l.tag, l.i, l.y);
                            }
                        }
                        Row::Dot { x, y, chain, acc } => match &cfg.dot {
                            Some(dot) => dot.assign(&mut rw, x, y, *chain, *acc),
                            // A plan with products of two wires in a shape without their gate:
                            // refuse to lay it out rather than leave the rows unconstrained.
                            None => return Err(Error::Synthesis),
                        },
                    }
                    rw.forged_rest();
                }
                // The binding row: a plain advice cell tied to the last instance.
                let binding = match self.binding {
                    Some(b) => Value::known(b),
                    None => Value::unknown(),
                };
                let bcell = region.assign_advice(cfg.cols.advice[0], plan.rows.len() + 1, binding).cell();
                let cell = |w: &usize| first[*w].expect("io wires are assigned");
                io_cells = InstanceLayout::assemble(plan.inputs.iter().map(cell), plan.outputs.iter().map(cell), bcell);
                Ok(())
            },
        )?;
        for (i, cell) in io_cells.into_iter().enumerate() {
            layouter.constrain_instance(cell, cfg.instance, i);
        }
        Ok(())
    }
}
