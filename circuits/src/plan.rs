//! The row program: a `QModel` (and, when proving, its execution trace)
//! lowered to a list of circuit rows, with no halo2 types.
//!
//! Values flow through *wires*: a wire is one integer; the first row that
//! holds it defines it, every later row that reads it is copy-constrained to
//! that cell. Rows are one of four gate kinds (their gates: [`crate::circuit::ModelConfig`]):
//!
//! ```text
//! Mac  | x_0 .. x_{W-1} | acc |   acc = [chain] acc_prev + Σ x_i · w_i     (w_i fixed)
//! Lin  | a0 a1 a2 | l_0 .. l_{L-1} |  c0·a0 + c1·a1 + c2·a2 + cm·a0·a1 + cc = Σ l_j·2^(8j),
//!                                     l_j ∈ [0, 2^(t_j))                (c*, t_j fixed)
//! Sel  | base d b y |                 b·(1 - b) = 0,  y = base + b·d
//! Dot  | x_0 .. x_{P-1} | y_0 .. y_{P-1} | .. | acc |  acc = [chain] acc_prev + Σ x_i · y_i  (P = W/2)
//! Func | i y | i y | ..               (tag_s, i_s, y_s) ∈ function table set s, per slot s
//! ```
//!
//! A circuit has one function-lookup slot, or more when its function tables outgrow its
//! rows (see [`Plan::pack_lookups`]): slot `s` reads advice columns `2s, 2s + 1` and looks
//! into table set `s`, its own lookup argument.
//!
//! `Lin` rows carry every range check (activations, rescale remainders,
//! signs), so each op is a few rows of these. Building the plan with a trace
//! re-checks every equation on integers: a plan that builds is a witness
//! that satisfies the circuit. And every plan, with or without a trace, is
//! checked by the soundness lint ([`crate::soundness`]): a plan that builds
//! pins every wire down, so the honest witness is the only one.

use zkinfer_quantize::Trace;
use zkinfer_quantize::qmodel::QModel;

use crate::gadgets::Builder;
use crate::layers::LayerCx;

use crate::error::{CircuitError, Result};

/// Bits of one range-check limb (the range table holds `[0, 2^t)` for `t ≤ LIMB_BITS`).
pub const LIMB_BITS: u32 = 8;

/// Index of a wire.
pub type Wire = usize;

/// One circuit row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// `acc = (chain ? previous row's acc : 0) + Σ x_i · w_i`.
    Mac {
        /// Input wires (at most the circuit width).
        x: Vec<Wire>,
        /// Fixed weights, one per input.
        w: Vec<i128>,
        /// Continue the accumulator of the previous row.
        chain: bool,
        /// The accumulator wire this row defines.
        acc: Wire,
    },
    /// `c0·a0 + c1·a1 + c2·a2 + cm·a0·a1 + cc = Σ l_j·2^(8j)` with `l_j < 2^(bits_j)`.
    Lin {
        /// Operand wires (`None` = zero).
        a: [Option<Wire>; 3],
        /// Fixed coefficients of `a`.
        c: [i128; 3],
        /// Fixed coefficient of `a0·a1`.
        cm: i128,
        /// Fixed constant.
        cc: i128,
        /// Total bits of the range-checked sum (split into limbs of [`LIMB_BITS`]).
        bits: u32,
    },
    /// `b·(1-b) = 0`, `y = base + b·d`.
    Sel {
        /// Base wire.
        base: Wire,
        /// Difference wire.
        d: Wire,
        /// Boolean wire.
        b: Wire,
        /// Output wire.
        y: Wire,
    },
    /// `acc = (chain ? previous row's acc : 0) + Σ x_i · y_i`: products of two wires (a
    /// MatMul of two activations), `width / 2` pairs per row. A row always holds exactly
    /// `width / 2` pairs: a short chunk is padded with the shared zero wire, so that no
    /// cell of the row is left for a prover to fill.
    Dot {
        /// Left factors.
        x: Vec<Wire>,
        /// Right factors, one per left factor.
        y: Vec<Wire>,
        /// Continue the accumulator of the previous (`Dot`) row.
        chain: bool,
        /// The accumulator wire this row defines.
        acc: Wire,
    },
    /// Each lookup `(tag, i, y)` is a row of the function table `tag`, which lies in the
    /// table set of the lookup's slot.
    Func {
        /// The row's lookups, at most one per slot.
        lookups: Vec<FuncLookup>,
    },
}

/// One function lookup of a `Func` row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncLookup {
    /// The slot (lookup argument) it uses: advice columns `2·slot`, `2·slot + 1`.
    pub slot: usize,
    /// Table tag (1-based).
    pub tag: u64,
    /// Input index wire.
    pub i: Wire,
    /// Output wire.
    pub y: Wire,
}

impl Row {
    /// A `Func` row with one lookup, in slot 0 (what the layers emit; packing may move it).
    pub fn func(tag: u64, i: Wire, y: Wire) -> Row {
        Row::Func { lookups: vec![FuncLookup { slot: 0, tag, i, y }] }
    }

    /// The lookup of this `Func` row whose output is `y`, if any.
    pub fn lookup_of(&self, y: Wire) -> Option<&FuncLookup> {
        match self {
            Row::Func { lookups } => lookups.iter().find(|l| l.y == y),
            _ => None,
        }
    }
}

/// A function table: `(tag, index, value)` rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncTable {
    /// 1-based tag.
    pub tag: u64,
    /// `(index, value)` pairs.
    pub entries: Vec<(i128, i128)>,
    /// The table set (lookup slot) that holds it.
    pub set: usize,
}

/// The lowered model.
#[derive(Clone, Debug)]
pub struct Plan {
    /// MAC width (inputs per `Mac` row).
    pub width: usize,
    /// Rows in order.
    pub rows: Vec<Row>,
    /// Number of wires.
    pub num_wires: usize,
    /// Wire values, when built from a trace.
    pub values: Option<Vec<i128>>,
    /// Wires of the input tensor, row-major.
    pub inputs: Vec<Wire>,
    /// Wires of the output tensor, row-major.
    pub outputs: Vec<Wire>,
    /// Function tables used by `Func` rows.
    pub tables: Vec<FuncTable>,
    /// Function-lookup slots per `Func` row (table sets): 1, or more after
    /// [`Plan::pack_lookups`].
    pub func_slots: usize,
    /// The widest `Lin` range check, in bits.
    pub max_bits: u32,
    /// The model's name (for messages).
    pub model_name: String,
    /// For each wire, the index in `op_names` of the op that made it (`u32::MAX`: the model input).
    pub wire_ops: Vec<u32>,
    /// For each row, the index in `op_names` of the op that made it.
    pub row_ops: Vec<u32>,
    /// Each op of the model as ``"`node` (OpType)"``.
    pub op_names: Vec<String>,
}

impl Plan {
    /// Limb columns needed for the widest range check.
    pub fn limbs(&self) -> usize {
        self.max_bits.div_ceil(LIMB_BITS).max(1) as usize
    }

    /// Value of a wire (witness mode only).
    pub fn value(&self, w: Wire) -> Option<i128> {
        self.values.as_ref().map(|v| v[w])
    }

    /// What made wire `w`, for messages: ``"wire 7 (made by op `fc1` (Gemm))"``.
    pub fn describe_wire(&self, w: Wire) -> String {
        match self.wire_ops.get(w).and_then(|&o| self.op_names.get(o as usize)) {
            Some(op) => format!("wire {w} (made by op {op})"),
            None if self.inputs.contains(&w) => format!("wire {w} (a model input)"),
            None => format!("wire {w}"),
        }
    }

    /// What made plan row `r`, for messages.
    pub fn describe_row(&self, r: usize) -> String {
        match self.row_ops.get(r).and_then(|&o| self.op_names.get(o as usize)) {
            Some(op) => format!("op {op}"),
            None => "the model input".to_string(),
        }
    }

    /// Whether the plan has `Dot` rows (its circuit then has the dot gate, see
    /// [`crate::CircuitShape::dot`]).
    pub fn has_dot(&self) -> bool {
        self.rows.iter().any(|r| matches!(r, Row::Dot { .. }))
    }

    /// The circuit shape of this plan: its width, its limbs, and the dot gate if it needs one.
    pub fn shape(&self) -> crate::CircuitShape {
        crate::CircuitShape {
            width: self.width,
            limbs: self.limbs(),
            dot: self.has_dot(),
            extra_func_slots: self.func_slots.saturating_sub(1),
        }
    }

    /// Rows used by each gate kind: (mac and dot, lin, sel, func).
    pub fn row_counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.rows {
            match r {
                Row::Mac { .. } | Row::Dot { .. } => c.0 += 1,
                Row::Lin { .. } => c.1 += 1,
                Row::Sel { .. } => c.2 += 1,
                Row::Func { .. } => c.3 += 1,
            }
        }
        c
    }
}

/// Lowers `model` to rows with one function-lookup slot; with `trace`, also computes and
/// checks every wire value.
pub fn build_plan(model: &QModel, trace: Option<&Trace>, width: usize) -> Result<Plan> {
    build_plan_in(model, trace, width, 1)
}

/// [`build_plan`] with `func_slots` function-lookup slots ([`Plan::pack_lookups`]): the
/// plan of a circuit of shape `(width, func_slots)`.
pub fn build_plan_in(model: &QModel, trace: Option<&Trace>, width: usize, func_slots: usize) -> Result<Plan> {
    let plan = lower_model(model, trace, width)?.pack_lookups(func_slots);
    // A plan that builds pins every wire down (see [`crate::soundness`]).
    crate::soundness::check(&plan)?;
    Ok(plan)
}

/// The rows of `model` (one lookup slot), not yet linted.
pub(crate) fn lower_model(model: &QModel, trace: Option<&Trace>, width: usize) -> Result<Plan> {
    // A model the executor would refuse must not compile either (an in-memory model may
    // not have passed through `QModel::read`).
    model.validate().map_err(|e| CircuitError::Invalid(format!("model `{}`: {e}", model.name)))?;
    let mut b = Builder {
        width,
        rows: vec![],
        values: trace.map(|_| vec![]),
        num_wires: 0,
        tables: vec![],
        max_bits: 0,
        act_bits: model.config.act_bits,
        consts: Default::default(),
        shared_tables: Default::default(),
    };
    let value_of = |t: usize, i: usize| -> Option<i128> { trace.map(|tr| elem(&tr.tensors[t], i)) };
    // Wires per tensor, row-major.
    let mut tensor_wires: Vec<Option<Vec<Wire>>> = vec![None; model.tensors.len()];
    // The flat input: every input's elements, in order, each range-checked.
    let mut inputs: Vec<Wire> = vec![];
    for &t in &model.inputs {
        let wires: Vec<Wire> = (0..model.tensors[t].numel())
            .map(|i| {
                let w = b.wire(value_of(t, i));
                b.range_act(w)?;
                Ok(w)
            })
            .collect::<Result<_>>()?;
        inputs.extend(&wires);
        tensor_wires[t] = Some(wires);
    }
    let mut wire_ops = vec![u32::MAX; b.num_wires];
    let mut row_ops = vec![u32::MAX; b.rows.len()];

    for (op_index, op) in model.ops.iter().enumerate() {
        let inputs: Vec<&[Wire]> =
            op.inputs.iter().map(|&t| tensor_wires[t].as_deref().expect("validated: inputs written first")).collect();
        let cx = LayerCx {
            op,
            inputs,
            in_shapes: op.inputs.iter().map(|&t| model.tensors[t].shape.as_slice()).collect(),
            out_shape: &model.tensors[op.output].shape,
            scales: (
                op.inputs.iter().map(|&t| model.tensors[t].scale_bits).collect(),
                model.tensors[op.output].scale_bits,
            ),
        };
        let out = crate::layers::lower(&mut b, &cx)?;
        if let Some(tr) = trace {
            // The plan recomputes every value: it must agree with the executor, bit for bit.
            for (i, &w) in out.iter().enumerate() {
                let want = elem(&tr.tensors[op.output], i);
                let got = b.values.as_ref().map(|v| v[w]).unwrap_or(want);
                if got != want {
                    return Err(CircuitError::Witness(format!(
                        "op `{}`: circuit value {got} differs from the executor's {want} at element {i}",
                        op.node
                    )));
                }
            }
        }
        tensor_wires[op.output] = Some(out);
        wire_ops.resize(b.num_wires, op_index as u32);
        row_ops.resize(b.rows.len(), op_index as u32);
    }
    let outputs: Vec<Wire> =
        model.outputs.iter().flat_map(|&t| tensor_wires[t].clone().expect("validated: outputs written")).collect();
    let plan = Plan {
        width,
        rows: b.rows,
        num_wires: b.num_wires,
        values: b.values,
        inputs,
        outputs,
        tables: b.tables,
        func_slots: 1,
        max_bits: b.max_bits,
        model_name: model.name.clone(),
        wire_ops,
        row_ops,
        op_names: model.ops.iter().map(|o| format!("`{}` ({})", o.node, o.op_type)).collect(),
    };
    Ok(plan)
}

/// Most function-lookup slots a circuit may have.
pub const MAX_FUNC_SLOTS: usize = 3;

/// Splits table sizes (entries, without the zero row) into `sets` sets, largest first into
/// the lowest set (LPT): the set of each table, in the order given.
pub fn assign_table_sets(sizes: &[usize], sets: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(sizes[t]), t));
    let mut height = vec![0usize; sets.max(1)];
    let mut set = vec![0; sizes.len()];
    for t in order {
        let s = (0..height.len()).min_by_key(|&s| (height[s], s)).expect("one set");
        height[s] += sizes[t];
        set[t] = s;
    }
    set
}

/// Element `i` of a tensor in row-major order.
fn elem(a: &ndarray::ArrayD<i64>, i: usize) -> i128 {
    match a.as_slice() {
        Some(s) => s[i] as i128,
        None => a.iter().nth(i).copied().unwrap_or(0) as i128,
    }
}

/// Rows halo2 keeps back for blinding at the end of the domain (an upper bound for this circuit).
pub const BLINDING_ROWS: usize = 10;

impl Plan {
    /// Rows of each table set: its zero row and its tables' entries.
    pub fn table_set_rows(&self) -> Vec<usize> {
        let mut rows = vec![1usize; self.func_slots.max(1)];
        for t in &self.tables {
            rows[t.set] += t.entries.len();
        }
        rows
    }

    /// This plan with `slots` function-lookup slots per `Func` row (a plan of one slot, as
    /// the layers build it, is returned unchanged for `slots ≤ 1`). Every function table
    /// goes to one of `slots` table sets ([`assign_table_sets`]), each the table of its own
    /// lookup argument, so that the tables of a model whose tables outgrow its rows take
    /// `1/slots` of the height; and the lookups are regrouped into `Func` rows holding one
    /// lookup per set (slot `s` ↔ set `s`), appended after the other rows (a `Func` row
    /// reads no neighbour). Costs one lookup argument and two fixed columns per extra slot.
    pub fn pack_lookups(mut self, slots: usize) -> Plan {
        if slots <= 1 {
            return self;
        }
        let sizes: Vec<usize> = self.tables.iter().map(|t| t.entries.len()).collect();
        let sets = assign_table_sets(&sizes, slots);
        let set_of: std::collections::HashMap<u64, usize> =
            self.tables.iter().zip(&sets).map(|(t, &s)| (t.tag, s)).collect();
        for (t, &s) in self.tables.iter_mut().zip(&sets) {
            t.set = s;
        }
        let mut queues: Vec<std::collections::VecDeque<(FuncLookup, u32)>> = vec![Default::default(); slots];
        let (mut rows, mut row_ops) = (Vec::with_capacity(self.rows.len()), Vec::with_capacity(self.rows.len()));
        for (row, op) in std::mem::take(&mut self.rows).into_iter().zip(std::mem::take(&mut self.row_ops)) {
            match row {
                Row::Func { lookups } => {
                    for l in lookups {
                        // A tag without a table stays in slot 0 (the lint refuses it).
                        let slot = set_of.get(&l.tag).copied().unwrap_or(0);
                        queues[slot].push_back((FuncLookup { slot, ..l }, op));
                    }
                }
                other => {
                    rows.push(other);
                    row_ops.push(op);
                }
            }
        }
        while queues.iter().any(|q| !q.is_empty()) {
            let taken: Vec<(FuncLookup, u32)> = queues.iter_mut().filter_map(|q| q.pop_front()).collect();
            row_ops.push(taken[0].1);
            rows.push(Row::Func { lookups: taken.into_iter().map(|t| t.0).collect() });
        }
        self.rows = rows;
        self.row_ops = row_ops;
        self.func_slots = slots;
        self
    }

    /// Rows the circuit uses: one empty row, the plan's rows, the binding row.
    pub fn used_rows(&self) -> usize {
        self.rows.len() + 2
    }

    /// Rows of the lookup tables (range table plus function tables, each with their zero row).
    pub fn table_rows(&self) -> usize {
        let range = (0..=LIMB_BITS).map(|b| 1usize << b).sum::<usize>();
        range.max(self.table_set_rows().into_iter().max().unwrap_or(1))
    }

    /// The smallest `k` whose domain holds the rows, the tables, the instances and the blinding rows.
    pub fn min_k(&self) -> u32 {
        // The instance column holds inputs, outputs and the binding in the usable rows too.
        let instances = self.inputs.len() + self.outputs.len() + 1;
        let need = self.used_rows().max(self.table_rows()).max(instances) + BLINDING_ROWS;
        need.next_power_of_two().trailing_zeros().max(4)
    }
}
