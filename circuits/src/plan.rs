//! The row program: a `QModel` (and, when proving, its execution trace)
//! lowered to a list of circuit rows, with no halo2 types.
//!
//! Values flow through *wires*: a wire is one integer; the first row that
//! holds it defines it, every later row that reads it is copy-constrained to
//! that cell. Rows are one of four gate kinds (see [`crate::layout`]):
//!
//! ```text
//! Mac  | x_0 .. x_{W-1} | acc |   acc = [chain] acc_prev + Σ x_i · w_i     (w_i fixed)
//! Lin  | a0 a1 a2 | l_0 .. l_{L-1} |  c0·a0 + c1·a1 + c2·a2 + cm·a0·a1 + cc = Σ l_j·2^(8j),
//!                                     l_j ∈ [0, 2^(t_j))                (c*, t_j fixed)
//! Sel  | base d b y |                 b·(1 - b) = 0,  y = base + b·d
//! Func | i y |                        (tag, i, y) ∈ function table       (tag fixed)
//! ```
//!
//! `Lin` rows carry every range check (activations, rescale remainders,
//! signs), so each op is a few rows of these. Building the plan with a trace
//! re-checks every equation on integers: a plan that builds is a witness
//! that satisfies the circuit. And every plan, with or without a trace, is
//! checked by the soundness lint ([`crate::soundness`]): a plan that builds
//! pins every wire down, so the honest witness is the only one.

use zkinfer_quantize::Trace;
use zkinfer_quantize::qmodel::{QModel, QOpKind, Window};

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
    /// `(tag, i, y)` is a row of the function table `tag`.
    Func {
        /// Table tag (1-based).
        tag: u64,
        /// Input index wire.
        i: Wire,
        /// Output wire.
        y: Wire,
    },
}

/// A function table: `(tag, index, value)` rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncTable {
    /// 1-based tag.
    pub tag: u64,
    /// `(index, value)` pairs.
    pub entries: Vec<(i128, i128)>,
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

    /// Rows used by each gate kind: (mac, lin, sel, func).
    pub fn row_counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.rows {
            match r {
                Row::Mac { .. } => c.0 += 1,
                Row::Lin { .. } => c.1 += 1,
                Row::Sel { .. } => c.2 += 1,
                Row::Func { .. } => c.3 += 1,
            }
        }
        c
    }
}

/// Lowers `model` to rows; with `trace`, also computes and checks every wire value.
pub fn build_plan(model: &QModel, trace: Option<&Trace>, width: usize) -> Result<Plan> {
    let mut b = Builder {
        width,
        rows: vec![],
        values: trace.map(|_| vec![]),
        num_wires: 0,
        tables: vec![],
        max_bits: 0,
        act_bits: model.config.act_bits,
        zero: None,
    };
    let value_of = |t: usize, i: usize| -> Option<i128> { trace.map(|tr| elem(&tr.tensors[t], i)) };
    // Wires per tensor, row-major.
    let mut tensor_wires: Vec<Option<Vec<Wire>>> = vec![None; model.tensors.len()];
    let input_t = &model.tensors[model.input];
    let inputs: Vec<Wire> = (0..input_t.numel())
        .map(|i| {
            let w = b.wire(value_of(model.input, i));
            b.range_act(w)?;
            Ok(w)
        })
        .collect::<Result<_>>()?;
    tensor_wires[model.input] = Some(inputs.clone());
    let mut wire_ops = vec![u32::MAX; b.num_wires];
    let mut row_ops = vec![u32::MAX; b.rows.len()];

    for (op_index, op) in model.ops.iter().enumerate() {
        let xin = tensor_wires[op.inputs[0]].clone().expect("validated: inputs written first");
        let in_shape = &model.tensors[op.inputs[0]].shape;
        let out_t = &model.tensors[op.output];
        let out: Vec<Wire> = match &op.kind {
            QOpKind::Dense { k, n, weight, bias, shift, .. } => {
                let rows = xin.len() / k;
                let mut out = vec![];
                for m in 0..rows {
                    for j in 0..*n {
                        let terms: Vec<(Wire, i128)> =
                            (0..*k).map(|kk| (xin[m * k + kk], weight[kk * n + j] as i128)).collect();
                        let acc = b.mac(&terms);
                        let bias = bias.as_ref().map_or(0, |bb| bb[j] as i128);
                        let y = b.rescale(acc, bias, *shift, &op.node)?;
                        out.push(y);
                    }
                }
                out
            }
            QOpKind::Conv { weight_shape, weight, bias, strides, pads, shift, .. } => {
                let [co, ci, kh, kw] = *weight_shape;
                let (batch, h, w) = (in_shape[0], in_shape[2], in_shape[3]);
                let (oh, ow) = (out_t.shape[2], out_t.shape[3]);
                let mut out = vec![];
                for bt in 0..batch {
                    for c in 0..co {
                        for i in 0..oh {
                            for j in 0..ow {
                                let mut terms = vec![];
                                for cc in 0..ci {
                                    for di in 0..kh {
                                        let y = (i * strides[0] + di) as isize - pads[0] as isize;
                                        for dj in 0..kw {
                                            let x = (j * strides[1] + dj) as isize - pads[1] as isize;
                                            if y < 0 || y >= h as isize || x < 0 || x >= w as isize {
                                                continue;
                                            }
                                            let xi = ((bt * ci + cc) * h + y as usize) * w + x as usize;
                                            let wv = weight[((c * ci + cc) * kh + di) * kw + dj] as i128;
                                            terms.push((xin[xi], wv));
                                        }
                                    }
                                }
                                let acc = b.mac(&terms);
                                let bias = bias.as_ref().map_or(0, |bb| bb[c] as i128);
                                let y = b.rescale(acc, bias, *shift, &op.node)?;
                                out.push(y);
                            }
                        }
                    }
                }
                out
            }
            QOpKind::Add { sub, a_shift, b_shift, shift } => {
                let yin = tensor_wires[op.inputs[1]].clone().expect("validated");
                let b_shape = &model.tensors[op.inputs[1]].shape;
                let (ia, ib) = (broadcast_index(in_shape, &out_t.shape), broadcast_index(b_shape, &out_t.shape));
                let sign = if *sub { -1 } else { 1 };
                (0..out_t.numel())
                    .map(|i| {
                        let (ca, cb) = (1i128 << a_shift, sign << b_shift);
                        b.combine([Some(xin[ia[i]]), Some(yin[ib[i]])], [ca, cb], 0, 0, *shift, &op.node)
                    })
                    .collect::<Result<_>>()?
            }
            QOpKind::Mul { shift } => {
                let yin = tensor_wires[op.inputs[1]].clone().expect("validated");
                let b_shape = &model.tensors[op.inputs[1]].shape;
                let (ia, ib) = (broadcast_index(in_shape, &out_t.shape), broadcast_index(b_shape, &out_t.shape));
                (0..out_t.numel())
                    .map(|i| b.combine([Some(xin[ia[i]]), Some(yin[ib[i]])], [0, 0], 1, 0, *shift, &op.node))
                    .collect::<Result<_>>()?
            }
            QOpKind::Affine { mul, add, shift, .. } => {
                let mi = mul.as_ref().map(|c| broadcast_index(&c.shape, &out_t.shape));
                let ai = add.as_ref().map(|c| broadcast_index(&c.shape, &out_t.shape));
                (0..out_t.numel())
                    .map(|i| {
                        let m = match (&mul, &mi) {
                            (Some(c), Some(idx)) => c.values[idx[i]] as i128,
                            _ => 1,
                        };
                        let a = match (&add, &ai) {
                            (Some(c), Some(idx)) => c.values[idx[i]] as i128,
                            _ => 0,
                        };
                        b.combine([Some(xin[i]), None], [m, 0], 0, a, *shift, &op.node)
                    })
                    .collect::<Result<_>>()?
            }
            QOpKind::Relu => xin.iter().map(|&x| b.relu(x)).collect::<Result<_>>()?,
            QOpKind::LeakyRelu { alpha, alpha_scale_bits } => xin
                .iter()
                .map(|&x| b.leaky_relu(x, *alpha as i128, *alpha_scale_bits, &op.node))
                .collect::<Result<_>>()?,
            QOpKind::Lookup { in_shift, table, .. } => {
                let half = 1i128 << (model.config.table_bits - 1);
                let tag = b.tables.len() as u64 + 1;
                b.tables.push(FuncTable {
                    tag,
                    entries: table.iter().enumerate().map(|(i, &v)| (i as i128 - half, v as i128)).collect(),
                });
                xin.iter().map(|&x| b.lookup(x, *in_shift, tag, table, half, &op.node)).collect::<Result<_>>()?
            }
            QOpKind::AvgPool { window, count_include_pad } => pool_windows(in_shape, &out_t.shape, window)
                .into_iter()
                .map(|idx| {
                    let terms: Vec<(Wire, i128)> = idx.iter().map(|&i| (xin[i], 1)).collect();
                    let count = if *count_include_pad { window.kernel[0] * window.kernel[1] } else { idx.len() };
                    let acc = b.mac(&terms);
                    b.div_round(acc, count as i128, &op.node)
                })
                .collect::<Result<_>>()?,
            QOpKind::GlobalAvgPool => {
                let hw = in_shape[2] * in_shape[3];
                xin.chunks(hw)
                    .map(|ch| {
                        let terms: Vec<(Wire, i128)> = ch.iter().map(|&w| (w, 1)).collect();
                        let acc = b.mac(&terms);
                        b.div_round(acc, hw as i128, &op.node)
                    })
                    .collect::<Result<_>>()?
            }
            QOpKind::MaxPool { window } => pool_windows(in_shape, &out_t.shape, window)
                .into_iter()
                .map(|idx| {
                    let mut m = xin[idx[0]];
                    for &i in &idx[1..] {
                        m = b.max(m, xin[i])?;
                    }
                    Ok(m)
                })
                .collect::<Result<_>>()?,
            QOpKind::Reshape => xin,
        };
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
    let outputs = tensor_wires[model.output].clone().expect("validated: output written");
    let plan = Plan {
        width,
        rows: b.rows,
        num_wires: b.num_wires,
        values: b.values,
        inputs,
        outputs,
        tables: b.tables,
        max_bits: b.max_bits,
        model_name: model.name.clone(),
        wire_ops,
        row_ops,
        op_names: model.ops.iter().map(|o| format!("`{}` ({})", o.node, o.op_type)).collect(),
    };
    // A plan that builds pins every wire down (see [`crate::soundness`]).
    crate::soundness::check(&plan)?;
    Ok(plan)
}

/// Element `i` of a tensor in row-major order.
fn elem(a: &ndarray::ArrayD<i64>, i: usize) -> i128 {
    match a.as_slice() {
        Some(s) => s[i] as i128,
        None => a.iter().nth(i).copied().unwrap_or(0) as i128,
    }
}

/// For each element of `out` (row-major), the row-major index into a tensor of `shape` broadcast to it.
fn broadcast_index(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let rank = out.len();
    let shape: Vec<usize> = std::iter::repeat_n(1, rank - shape.len()).chain(shape.iter().copied()).collect();
    (0..n)
        .map(|mut flat| {
            let mut idx = 0;
            let mut stride = 1;
            for d in (0..rank).rev() {
                let coord = flat % out[d];
                flat /= out[d];
                if shape[d] != 1 {
                    idx += coord * stride;
                }
                stride *= shape[d];
            }
            idx
        })
        .collect()
}

/// In-bounds input indices (row-major NCHW) of each pooling window, in output order.
fn pool_windows(in_shape: &[usize], out_shape: &[usize], win: &Window) -> Vec<Vec<usize>> {
    let (h, w) = (in_shape[2] as isize, in_shape[3] as isize);
    let mut all = vec![];
    for b in 0..in_shape[0] {
        for c in 0..in_shape[1] {
            for i in 0..out_shape[2] {
                for j in 0..out_shape[3] {
                    let mut idx = vec![];
                    for di in 0..win.kernel[0] {
                        let y = (i * win.strides[0] + di) as isize - win.pads[0] as isize;
                        for dj in 0..win.kernel[1] {
                            let x = (j * win.strides[1] + dj) as isize - win.pads[1] as isize;
                            if y >= 0 && y < h && x >= 0 && x < w {
                                idx.push(((b * in_shape[1] + c) * in_shape[2] + y as usize) * in_shape[3] + x as usize);
                            }
                        }
                    }
                    all.push(idx);
                }
            }
        }
    }
    all
}

struct Builder {
    width: usize,
    rows: Vec<Row>,
    values: Option<Vec<i128>>,
    num_wires: usize,
    tables: Vec<FuncTable>,
    max_bits: u32,
    act_bits: u32,
    zero: Option<Wire>,
}

impl Builder {
    fn wire(&mut self, v: Option<i128>) -> Wire {
        if let Some(vals) = &mut self.values {
            vals.push(v.unwrap_or(0));
        }
        self.num_wires += 1;
        self.num_wires - 1
    }

    fn val(&self, w: Option<Wire>) -> i128 {
        match (w, &self.values) {
            (Some(w), Some(v)) => v[w],
            _ => 0,
        }
    }

    fn witness(&self) -> bool {
        self.values.is_some()
    }

    /// New wire whose value is computed by `f` in witness mode.
    fn derived(&mut self, f: impl FnOnce(&Self) -> i128) -> Wire {
        let v = if self.witness() { Some(f(self)) } else { None };
        self.wire(v)
    }

    /// `Σ x_i·w_i` over as many `Mac` rows as needed; returns the accumulator wire.
    fn mac(&mut self, terms: &[(Wire, i128)]) -> Wire {
        let mut acc: Option<Wire> = None;
        let chunks: Vec<&[(Wire, i128)]> =
            if terms.is_empty() { vec![&[]] } else { terms.chunks(self.width).collect() };
        for chunk in chunks {
            let prev = acc.map_or(0, |a| self.val(Some(a)));
            let new = self.derived(|s| prev + chunk.iter().map(|(x, w)| s.val(Some(*x)) * w).sum::<i128>());
            self.rows.push(Row::Mac {
                x: chunk.iter().map(|t| t.0).collect(),
                w: chunk.iter().map(|t| t.1).collect(),
                chain: acc.is_some(),
                acc: new,
            });
            acc = Some(new);
        }
        acc.expect("at least one row")
    }

    /// Adds a `Lin` row after checking (in witness mode) that its sum lies in `[0, 2^bits)`.
    fn lin(&mut self, a: [Option<Wire>; 3], c: [i128; 3], cm: i128, cc: i128, bits: u32, what: &str) -> Result<()> {
        if self.witness() {
            let v = c[0] * self.val(a[0])
                + c[1] * self.val(a[1])
                + c[2] * self.val(a[2])
                + cm * self.val(a[0]) * self.val(a[1])
                + cc;
            if v < 0 || (bits < 127 && v >= 1i128 << bits) {
                return Err(CircuitError::Witness(format!("{what}: {v} is outside [0, 2^{bits})")));
            }
        }
        self.max_bits = self.max_bits.max(bits);
        self.rows.push(Row::Lin { a, c, cm, cc, bits });
        Ok(())
    }

    /// Range-checks an activation: `x + 2^(B-1) ∈ [0, 2^B)`.
    fn range_act(&mut self, x: Wire) -> Result<()> {
        let half = 1i128 << (self.act_bits - 1);
        self.lin([Some(x), None, None], [1, 0, 0], 0, half, self.act_bits, "activation range")
    }

    /// `y = rescale(c0·a0 + c1·a1 + cm·a0·a1 + add, shift)`, range-checked as an activation.
    fn combine(
        &mut self,
        a: [Option<Wire>; 2],
        c: [i128; 2],
        cm: i128,
        add: i128,
        shift: i32,
        node: &str,
    ) -> Result<Wire> {
        let z = |s: &Self| c[0] * s.val(a[0]) + c[1] * s.val(a[1]) + cm * s.val(a[0]) * s.val(a[1]) + add;
        let y = self.derived(|s| zkinfer_quantize::fixed::rescale(z(s), shift));
        if shift > 0 {
            // z + 2^(s-1) - 2^s·y ∈ [0, 2^s)
            let half = 1i128 << (shift - 1);
            self.lin([a[0], a[1], Some(y)], [c[0], c[1], -(1i128 << shift)], cm, add + half, shift as u32, node)?;
        } else {
            // z · 2^-s - y = 0 exactly
            let m = 1i128 << (-shift);
            self.lin([a[0], a[1], Some(y)], [c[0] * m, c[1] * m, -1], cm * m, add * m, 0, node)?;
        }
        self.range_act(y)?;
        Ok(y)
    }

    /// `y = rescale(acc + bias, shift)` for linear layers.
    fn rescale(&mut self, acc: Wire, bias: i128, shift: i32, node: &str) -> Result<Wire> {
        self.combine([Some(acc), None], [1, 0], 0, bias, shift, node)
    }

    /// Boolean `b` with `b = 1 ⇔ x ≥ 0`, for `x ∈ [-2^(bits-1), 2^(bits-1))`.
    fn sign(&mut self, x: Wire, bits: u32) -> Result<Wire> {
        let b = self.derived(|s| i128::from(s.val(Some(x)) >= 0));
        // x + (1 - b)·2^(bits-1) ∈ [0, 2^(bits-1))
        let half = 1i128 << (bits - 1);
        self.lin([Some(x), Some(b), None], [1, -half, 0], 0, half, bits - 1, "sign")?;
        Ok(b)
    }

    /// The shared wire constrained to 0.
    fn zero(&mut self) -> Result<Wire> {
        if let Some(z) = self.zero {
            return Ok(z);
        }
        let z = self.wire(Some(0));
        self.lin([Some(z), None, None], [1, 0, 0], 0, 0, 0, "zero")?;
        self.zero = Some(z);
        Ok(z)
    }

    /// `y = base + b·d` with boolean `b`.
    fn select(&mut self, base: Wire, d: Wire, b: Wire) -> Wire {
        let y = self.derived(|s| s.val(Some(base)) + s.val(Some(b)) * s.val(Some(d)));
        self.rows.push(Row::Sel { base, d, b, y });
        y
    }

    fn relu(&mut self, x: Wire) -> Result<Wire> {
        let b = self.sign(x, self.act_bits)?;
        let z = self.zero()?;
        Ok(self.select(z, x, b))
    }

    fn leaky_relu(&mut self, x: Wire, alpha: i128, s: u32, node: &str) -> Result<Wire> {
        let neg = self.combine([Some(x), None], [alpha, 0], 0, 0, s as i32, node)?;
        let b = self.sign(x, self.act_bits)?;
        // d = x - neg
        let d = self.derived(|st| st.val(Some(x)) - st.val(Some(neg)));
        self.lin([Some(x), Some(neg), Some(d)], [1, -1, -1], 0, 0, 0, node)?;
        Ok(self.select(neg, d, b))
    }

    fn lookup(&mut self, x: Wire, in_shift: u32, tag: u64, table: &[i64], half: i128, node: &str) -> Result<Wire> {
        let i = self.derived(|s| s.val(Some(x)) >> in_shift);
        // x - 2^d·i ∈ [0, 2^d)
        self.lin([Some(x), Some(i), None], [1, -(1i128 << in_shift), 0], 0, 0, in_shift, node)?;
        let y = self.derived(|s| table.get((s.val(Some(i)) + half) as usize).copied().unwrap_or(0) as i128);
        self.rows.push(Row::Func { tag, i, y });
        Ok(y)
    }

    /// `y = div_round(acc, n)`: `2·acc + n − 2n·y − r = 0` with the remainder `r ∈ [0, 2n)`
    /// and `y` range-checked as an activation. The range check on `y` is what pins it:
    /// without it, `y′ = (2·acc + n − r′)/(2n) mod p` satisfies the division for any `r′`.
    fn div_round(&mut self, acc: Wire, n: i128, node: &str) -> Result<Wire> {
        let y = self.derived(|s| zkinfer_quantize::fixed::div_round(s.val(Some(acc)), n));
        let r = self.derived(|s| 2 * s.val(Some(acc)) + n - 2 * n * s.val(Some(y)));
        self.lin([Some(acc), Some(y), Some(r)], [2, -2 * n, -1], 0, n, 0, node)?;
        let bits = (128 - (2 * n - 1).leading_zeros()).max(1);
        // r ∈ [0, 2^bits), and when 2^bits > 2n also (2n − 1) − r ∈ [0, 2^bits).
        self.lin([Some(r), None, None], [1, 0, 0], 0, 0, bits, node)?;
        if (2 * n).count_ones() != 1 {
            self.lin([Some(r), None, None], [-1, 0, 0], 0, 2 * n - 1, bits, node)?;
        }
        self.range_act(y)?;
        Ok(y)
    }

    /// `max(m, v)` via `d = v - m`, its sign, and a select.
    fn max(&mut self, m: Wire, v: Wire) -> Result<Wire> {
        let d = self.derived(|s| s.val(Some(v)) - s.val(Some(m)));
        self.lin([Some(v), Some(m), Some(d)], [1, -1, -1], 0, 0, 0, "max")?;
        let b = self.sign(d, self.act_bits + 1)?;
        Ok(self.select(m, d, b))
    }
}

/// Rows halo2 keeps back for blinding at the end of the domain (an upper bound for this circuit).
pub const BLINDING_ROWS: usize = 10;

impl Plan {
    /// Rows the circuit uses: one empty row, the plan's rows, the binding row.
    pub fn used_rows(&self) -> usize {
        self.rows.len() + 2
    }

    /// Rows of the lookup tables (range table plus function tables, each with their zero row).
    pub fn table_rows(&self) -> usize {
        let range = (0..=LIMB_BITS).map(|b| 1usize << b).sum::<usize>();
        let funcs = 1 + self.tables.iter().map(|t| t.entries.len()).sum::<usize>();
        range.max(funcs)
    }

    /// The smallest `k` whose domain holds the rows, the tables and the blinding rows.
    pub fn min_k(&self) -> u32 {
        let need = self.used_rows().max(self.table_rows()) + BLINDING_ROWS;
        need.next_power_of_two().trailing_zeros().max(4)
    }
}
