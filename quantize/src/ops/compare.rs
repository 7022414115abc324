//! Comparisons and selection: Equal, Less, LessOrEqual, Greater, GreaterOrEqual of two
//! activations or of an activation and a constant, Not, and Where with an activation or
//! constant condition and activation or constant branches (attention masks, padding masks,
//! clamps written as `Where(x < c, c, x)`).
//!
//! A comparison's output is a boolean tensor held as the integers 0 and 1 at scale 0. It is
//! exact on the quantized values: two activations are compared at the finer of their
//! scales (the coarser one shifted left, no rounding), an activation and a constant `c`
//! against the integer threshold that gives the same answer as comparing with `c` itself
//! (`x < c·2^s ⇔ x < ⌈c·2^s⌉` for an integer `x`, …). Quantization error in its inputs can
//! flip a comparison whose operands are within a quantum of each other; this is the only
//! difference from the float model.
//!
//! The circuit proves each bit by one range-checked row (`(1 − b)·2^(n−1) + d ∈ [0, 2^(n−1))`
//! for the difference `d`) and one boolean row; Equal is the product of `d ≥ 0` and
//! `−d ≥ 0` (`circuits/src/layers/compare.rs`).

use serde::{Deserialize, Serialize};

use super::elementwise::{QConst, align_rank, broadcast_operands};
use super::{ExecCx, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{quantize_value, rescale, signed_range};
use crate::onnx::Node;
use ndarray::ArrayD;

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    /// `a == b`.
    Equal,
    /// `a < b`.
    Less,
    /// `a ≤ b`.
    LessOrEqual,
    /// `a > b`.
    Greater,
    /// `a ≥ b`.
    GreaterOrEqual,
}

impl CmpOp {
    /// The comparison with its operands swapped (`c < x ⇔ x > c`).
    pub fn swapped(self) -> CmpOp {
        match self {
            CmpOp::Equal => CmpOp::Equal,
            CmpOp::Less => CmpOp::Greater,
            CmpOp::LessOrEqual => CmpOp::GreaterOrEqual,
            CmpOp::Greater => CmpOp::Less,
            CmpOp::GreaterOrEqual => CmpOp::LessOrEqual,
        }
    }

    /// `a op b` on integers.
    pub fn eval(self, a: i128, b: i128) -> bool {
        match self {
            CmpOp::Equal => a == b,
            CmpOp::Less => a < b,
            CmpOp::LessOrEqual => a <= b,
            CmpOp::Greater => a > b,
            CmpOp::GreaterOrEqual => a >= b,
        }
    }
}

/// Float comparison; the constant operand, if any, rank-aligned with the output.
#[derive(Clone, Debug)]
pub struct FloatCompare {
    /// The comparison, with the activation on the left when one operand is constant.
    pub op: CmpOp,
    /// A constant right operand (`Not` of a boolean `x` is `x < ½`).
    pub constant: Option<ArrayD<f32>>,
}

/// `y = (a·2^shifts[0] op b·2^shifts[1]) ? 1 : 0` for two activations (broadcast), or
/// `y = (x op t) ? 1 : 0` against the integer thresholds `t` of a constant (broadcast).
/// Output at scale 0 (a boolean).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The comparison.
    pub op: CmpOp,
    /// Left shifts that bring two activations to the finer of their scales.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shifts: Vec<u32>,
    /// Integer thresholds of a constant right operand at the activation's scale, clamped to
    /// one beyond the activation range (the same answer for every activation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<QConst>,
}

/// The most a comparison may shift an operand left (so that its difference stays far
/// below the field and the range check's limbs).
pub const MAX_COMPARE_SHIFT: u32 = 48;

impl super::FloatOp for FloatCompare {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let op = match &self.constant {
            None => {
                let fine = cx.s_in.iter().copied().max().unwrap_or(0);
                let shifts = cx.s_in.iter().map(|&s| (fine - s) as u32).collect();
                Compare { op: self.op, shifts, threshold: None }
            }
            Some(c) => {
                let s = cx.s_in[0];
                let (lo, hi) = signed_range(cx.config.act_bits);
                let t = |v: f32| -> i64 {
                    let exact = v as f64 * (s as f64).exp2();
                    let int = match self.op {
                        CmpOp::Less | CmpOp::GreaterOrEqual => exact.ceil(),
                        CmpOp::LessOrEqual | CmpOp::Greater => exact.floor(),
                        // No integer equals a non-integer threshold: one beyond the range.
                        CmpOp::Equal if exact.fract() != 0.0 => (hi + 1) as f64,
                        CmpOp::Equal => exact,
                    };
                    // NaN compares false with everything but is refused at import; ±∞ clamp.
                    int.clamp((lo - 1) as f64, (hi + 1) as f64) as i64
                };
                let threshold = QConst { shape: c.shape().to_vec(), values: c.iter().map(|&v| t(v)).collect() };
                Compare { op: self.op, shifts: vec![], threshold: Some(threshold) }
            }
        };
        Ok((QOpKind::Compare(op), 0))
    }
}

impl QuantizedOp for Compare {
    const NAME: &'static str = "compare";

    fn arity(&self) -> usize {
        if self.threshold.is_some() { 1 } else { 2 }
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.threshold.is_none() && self.shifts.len() != 2 {
            return Err(format!("{} shifts for two operands", self.shifts.len()));
        }
        if self.shifts.iter().any(|&s| s > MAX_COMPARE_SHIFT) {
            return Err(format!("shifts {:?} (at most {MAX_COMPARE_SHIFT})", self.shifts));
        }
        let out = &cx.output.shape;
        if let Some(t) = &self.threshold {
            let (lo, hi) = signed_range(cx.config.act_bits);
            if t.values.len() != t.shape.iter().product::<usize>() || !super::elementwise::broadcasts(&t.shape, out) {
                return Err(format!("threshold of shape {:?} does not broadcast to {out:?}", t.shape));
            }
            if let Some(v) = t.values.iter().find(|&&v| (v as i128) < lo - 1 || (v as i128) > hi + 1) {
                return Err(format!("threshold {v} beyond the activation range"));
            }
        }
        if cx.output.scale_bits != 0 {
            return Err(format!("output scale 2^-{} (a boolean is at scale 0)", cx.output.scale_bits));
        }
        for t in &cx.inputs {
            if !super::elementwise::broadcasts(&t.shape, out) {
                return Err(format!("input shape {:?} does not broadcast to {out:?}", t.shape));
            }
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let shapes: Vec<&[usize]> = cx.inputs.iter().map(|a| a.shape()).collect();
        let idx = broadcast_operands(&shapes, cx.out_shape);
        let flats: Vec<_> = cx.inputs.iter().map(|a| super::linear::flat(a)).collect();
        let t = self.threshold.as_ref().map(|t| (t.index_map(cx.out_shape), &t.values));
        Ok((0..cx.numel())
            .map(|o| {
                let a = (flats[0][idx[0][o]] as i128) << self.shifts.first().copied().unwrap_or(0);
                let b = match &t {
                    Some((ti, tv)) => tv[ti[o]] as i128,
                    None => (flats[1][idx[1][o]] as i128) << self.shifts[1],
                };
                i128::from(self.op.eval(a, b))
            })
            .collect())
    }
}

/// One branch of a Where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Branch {
    /// An activation input, rescaled by `shift` (≥ 0) to the output's scale.
    Act {
        /// `s_in − s_out`.
        shift: i32,
    },
    /// A constant at the output's scale, saturated to the activation range.
    Const(QConst),
}

/// Float Where: constant operands rank-aligned with the output (`None`: an activation).
#[derive(Clone, Debug)]
pub struct FloatWhere {
    /// A constant condition.
    pub cond: Option<ArrayD<f32>>,
    /// A constant "then" branch.
    pub x: Option<ArrayD<f32>>,
    /// A constant "else" branch.
    pub y: Option<ArrayD<f32>>,
}

/// `out = cond ≠ 0 ? X : Y` (broadcast), each branch an activation rescaled to the
/// output's scale or a constant. The activation inputs are, in order, the condition (when
/// not constant) and the activation branches. A run-time condition must be 0 or 1 (a
/// comparison's output or a boolean input); any other value is an execution error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Where {
    /// A constant condition (0 or 1 per element).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cond: Option<QConst>,
    /// The "then" branch.
    pub x: Branch,
    /// The "else" branch.
    pub y: Branch,
}

impl super::FloatOp for FloatWhere {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        // The activation branches' scales: the output takes the coarsest (no branch can
        // overflow it); with constant branches only, the calibrated scale.
        let first_branch = usize::from(self.cond.is_none());
        let branch_scales: Vec<i32> = cx.s_in[first_branch..].to_vec();
        let s_out = branch_scales.iter().copied().min().unwrap_or_else(|| cx.calibrated());
        let (lo, hi) = signed_range(cx.config.act_bits);
        let mut next = branch_scales.iter();
        let mut branch = |c: &Option<ArrayD<f32>>| match c {
            Some(c) => Branch::Const(QConst {
                shape: c.shape().to_vec(),
                values: c.iter().map(|&v| (quantize_value(v as f64, s_out) as i128).clamp(lo, hi) as i64).collect(),
            }),
            None => Branch::Act { shift: next.next().copied().unwrap_or(s_out) - s_out },
        };
        let (x, y) = (branch(&self.x), branch(&self.y));
        let cond = self
            .cond
            .as_ref()
            .map(|c| QConst { shape: c.shape().to_vec(), values: c.iter().map(|&v| i64::from(v != 0.0)).collect() });
        Ok((QOpKind::Where(Where { cond, x, y }), s_out))
    }
}

impl Where {
    fn branches(&self) -> [&Branch; 2] {
        [&self.x, &self.y]
    }
}

impl QuantizedOp for Where {
    const NAME: &'static str = "where";

    fn arity(&self) -> usize {
        usize::from(self.cond.is_none()) + self.branches().iter().filter(|b| matches!(b, Branch::Act { .. })).count()
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let out = &cx.output.shape;
        let (lo, hi) = signed_range(cx.config.act_bits);
        let consts = self.cond.iter().chain(self.branches().into_iter().filter_map(|b| match b {
            Branch::Const(c) => Some(c),
            Branch::Act { .. } => None,
        }));
        for c in consts {
            if c.values.len() != c.shape.iter().product::<usize>() || !super::elementwise::broadcasts(&c.shape, out) {
                return Err(format!("constant of shape {:?} does not broadcast to {out:?}", c.shape));
            }
            if c.values.iter().any(|&v| (v as i128) < lo || (v as i128) > hi) {
                return Err("a constant beyond the activation range".into());
            }
        }
        if self.cond.as_ref().is_some_and(|c| c.values.iter().any(|&v| v != 0 && v != 1)) {
            return Err("a constant condition other than 0 or 1".into());
        }
        for b in self.branches() {
            if let Branch::Act { shift } = b
                && !(0..=64).contains(shift)
            {
                return Err(format!("branch shift {shift}"));
            }
        }
        if self.cond.is_none() && cx.inputs.first().is_some_and(|c| c.scale_bits != 0) {
            return Err(format!("condition at scale 2^-{} (a boolean is at scale 0)", cx.inputs[0].scale_bits));
        }
        for t in &cx.inputs {
            if !super::elementwise::broadcasts(&t.shape, out) {
                return Err(format!("input shape {:?} does not broadcast to {out:?}", t.shape));
            }
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let shapes: Vec<&[usize]> = cx.inputs.iter().map(|a| a.shape()).collect();
        let idx = broadcast_operands(&shapes, cx.out_shape);
        let flats: Vec<_> = cx.inputs.iter().map(|a| super::linear::flat(a)).collect();
        let mut at = 0;
        let mut source = |c: Option<&QConst>| -> Source {
            match c {
                Some(c) => Source::Const(c.index_map(cx.out_shape), c.values.clone()),
                None => {
                    at += 1;
                    Source::Input(at - 1)
                }
            }
        };
        let cond = source(self.cond.as_ref());
        let branch_src: Vec<(Source, i32)> = self
            .branches()
            .into_iter()
            .map(|b| match b {
                Branch::Const(c) => (source(Some(c)), 0),
                Branch::Act { shift } => (source(None), *shift),
            })
            .collect();
        let get = |s: &Source, o: usize| -> i128 {
            match s {
                Source::Const(ix, v) => v[ix[o]] as i128,
                Source::Input(i) => flats[*i][idx[*i][o]] as i128,
            }
        };
        (0..cx.numel())
            .map(|o| {
                let c = get(&cond, o);
                if c != 0 && c != 1 {
                    return Err(format!("Where condition {c} at element {o} is not 0 or 1"));
                }
                let (s, shift) = &branch_src[if c == 1 { 0 } else { 1 }];
                Ok(rescale(get(s, o), *shift))
            })
            .collect()
    }
}

/// Where a Where operand comes from, in [`Where::exec`].
enum Source {
    Const(Vec<usize>, Vec<i64>),
    Input(usize),
}

/// Equal, Less, LessOrEqual, Greater, GreaterOrEqual, Not.
pub(crate) fn import_compare(node: &Node<'_>) -> Result<Imported> {
    let op = match node.op {
        "Equal" => CmpOp::Equal,
        "Less" => CmpOp::Less,
        "LessOrEqual" => CmpOp::LessOrEqual,
        "Greater" => CmpOp::Greater,
        "GreaterOrEqual" => CmpOp::GreaterOrEqual,
        // Not of a boolean x: x < ½.
        "Not" => {
            let half = ArrayD::from_elem(ndarray::IxDyn(&vec![1; node.out_shape.len()]), 0.5f32);
            return Ok(Imported::Op(FloatOpKind::Compare(FloatCompare { op: CmpOp::Less, constant: Some(half) })));
        }
        _ => return Err(node.unsup("not a comparison")),
    };
    let (ins, acts, rank) = (&node.ins, &node.acts, node.out_shape.len());
    if ins.len() != 2 || ins.iter().any(|s| s.is_empty()) {
        return Err(node.unsup("two operands"));
    }
    if acts.len() == 2 {
        return Ok(Imported::Op(FloatOpKind::Compare(FloatCompare { op, constant: None })));
    }
    let x_first = ins[0] == acts[0];
    let c = align_rank(node.const_array(if x_first { &ins[1] } else { &ins[0] })?, rank);
    if c.iter().any(|v| v.is_nan()) {
        return Err(node.unsup("a NaN constant"));
    }
    let op = if x_first { op } else { op.swapped() };
    Ok(Imported::Op(FloatOpKind::Compare(FloatCompare { op, constant: Some(c) })))
}

/// Where(cond, x, y).
pub(crate) fn import_where(node: &Node<'_>) -> Result<Imported> {
    let (ins, acts, rank) = (&node.ins, &node.acts, node.out_shape.len());
    if ins.len() != 3 || ins.iter().any(|s| s.is_empty()) {
        return Err(node.unsup("three operands"));
    }
    let konst = |i: usize| -> Result<Option<ArrayD<f32>>> {
        if acts.contains(&ins[i]) { Ok(None) } else { Ok(Some(align_rank(node.const_array(&ins[i])?, rank))) }
    };
    let (cond, x, y) = (konst(0)?, konst(1)?, konst(2)?);
    if [&x, &y].into_iter().flatten().any(|c| c.iter().any(|v| v.is_nan())) {
        return Err(node.unsup("a NaN constant branch"));
    }
    if x.is_some() && y.is_some() && cond.is_some() {
        return Err(node.unsup("only constant operands"));
    }
    Ok(Imported::Op(FloatOpKind::Where(FloatWhere { cond, x, y })))
}
