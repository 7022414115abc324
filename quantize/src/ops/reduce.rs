//! Reductions over axes: ReduceSum, ReduceMean, ReduceMax, ReduceMin (any
//! axes, with or without kept dims) and GlobalMaxPool; ArgMax, ArgMin and
//! TopK with k = 1 over one axis.
//!
//! A sum is multiply-accumulate rows (weight 1) and a rescale; a mean a sum
//! and a rounded division; a maximum or minimum a chain of comparisons; the
//! index of an extremum the same chain carrying its index along
//! (`circuits/src/layers/reduce.rs`).

use serde::{Deserialize, Serialize};

use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx, grid};
use crate::error::Result;
use crate::fixed::{div_round, rescale};
use crate::onnx::Node;

/// What a [`Reduce`] computes over each group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReduceKind {
    /// The sum, rescaled.
    Sum,
    /// The rounded mean.
    Mean,
    /// The maximum.
    Max,
    /// The minimum.
    Min,
}

/// Float reduction over `axes`.
#[derive(Clone, Debug)]
pub struct FloatReduce {
    /// What is computed.
    pub kind: ReduceKind,
    /// The reduced axes of the input (sorted).
    pub axes: Vec<usize>,
}

/// Over each group of input elements that agree on every axis outside `axes`, in row-major
/// order of the kept axes: `rescale(Σ, shift)` (sum), `div_round(Σ, count)` (mean), or the
/// maximum / minimum. The output's shape is the model's (kept dims of 1 or not); scale: the
/// input's, except a sum's (`in − shift`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduce {
    /// What is computed.
    pub kind: ReduceKind,
    /// The reduced axes of the input (sorted).
    pub axes: Vec<usize>,
    /// `in − out` (sums only).
    pub shift: i32,
}

impl Reduce {
    /// The input indices of every output element, row-major.
    pub fn groups(&self, in_shape: &[usize]) -> Vec<Vec<usize>> {
        let st = grid::strides(in_shape);
        let kept: Vec<usize> =
            (0..in_shape.len()).map(|a| if self.axes.contains(&a) { 1 } else { in_shape[a] }).collect();
        let red: Vec<usize> =
            (0..in_shape.len()).map(|a| if self.axes.contains(&a) { in_shape[a] } else { 1 }).collect();
        let mut out = vec![];
        grid::for_each_index(&kept, |k| {
            let mut g = vec![];
            grid::for_each_index(&red, |r| {
                g.push((0..k.len()).map(|a| (k[a] + r[a]) * st[a]).sum());
            });
            out.push(g);
        });
        out
    }
}

impl FloatOp for FloatReduce {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_in = cx.s_in[0];
        let (shift, s_out) = match self.kind {
            ReduceKind::Sum => {
                let s = cx.calibrated().min(s_in);
                (s_in - s, s)
            }
            _ => (0, s_in),
        };
        Ok((QOpKind::Reduce(Reduce { kind: self.kind, axes: self.axes.clone(), shift }), s_out))
    }
}

impl QuantizedOp for Reduce {
    const NAME: &'static str = "reduce";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let x = &cx.inputs[0].shape;
        if self.axes.iter().any(|&a| a >= x.len()) || self.axes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("axes {:?} of {x:?}", self.axes));
        }
        let kept: usize = (0..x.len()).filter(|a| !self.axes.contains(a)).map(|a| x[a]).product();
        if kept != cx.output.numel() || (self.kind != ReduceKind::Sum && self.shift != 0) {
            return Err(format!("reducing {x:?} over {:?} into {:?}", self.axes, cx.output.shape));
        }
        if self.axes.iter().any(|&a| x[a] == 0) {
            return Err("an empty reduced axis".into());
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = super::linear::flat(cx.inputs[0]);
        Ok(self
            .groups(cx.inputs[0].shape())
            .iter()
            .map(|g| {
                let vals = g.iter().map(|&i| x[i] as i128);
                match self.kind {
                    ReduceKind::Sum => rescale(vals.sum(), self.shift),
                    ReduceKind::Mean => div_round(vals.sum(), g.len() as i128),
                    ReduceKind::Max => vals.max().unwrap_or(0),
                    ReduceKind::Min => vals.min().unwrap_or(0),
                }
            })
            .collect())
    }
}

/// Float ArgMax / ArgMin over one axis.
#[derive(Clone, Debug)]
pub struct FloatArgMax {
    /// The reduced axis of the input.
    pub axis: usize,
    /// The maximum (ArgMax, TopK's default) or the minimum (ArgMin, TopK with `largest = 0`).
    pub largest: bool,
    /// The last index among equal extrema (`select_last_index = 1`) instead of the first.
    pub last: bool,
}

/// Over each group of input elements that agree on every axis but `axis` (row-major order of
/// the others), the index `j` along `axis` of the maximum (`largest`) or the minimum: the
/// smallest such `j` or, with `last`, the largest. The output is the integer index itself
/// (scale 0), in the model's shape (kept dim of 1 or not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgMax {
    /// The reduced axis of the input.
    pub axis: usize,
    /// Maximum (`true`) or minimum.
    pub largest: bool,
    /// Last index among ties (`true`) or first.
    pub last: bool,
}

impl ArgMax {
    /// The input indices of every output element, in order along the axis, row-major.
    pub fn groups(&self, in_shape: &[usize]) -> Vec<Vec<usize>> {
        Reduce { kind: ReduceKind::Max, axes: vec![self.axis], shift: 0 }.groups(in_shape)
    }

    /// The selected position in `vals`.
    pub fn select(&self, vals: &[i128]) -> usize {
        let mut best = 0;
        for (j, &v) in vals.iter().enumerate().skip(1) {
            let b = vals[best];
            let better = if self.largest { v > b || (self.last && v == b) } else { v < b || (self.last && v == b) };
            if better {
                best = j;
            }
        }
        best
    }
}

impl FloatOp for FloatArgMax {
    fn quantize(&self, _cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::ArgMax(ArgMax { axis: self.axis, largest: self.largest, last: self.last }), 0))
    }
}

impl QuantizedOp for ArgMax {
    const NAME: &'static str = "argmax";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let x = &cx.inputs[0].shape;
        if self.axis >= x.len() || x[self.axis] == 0 {
            return Err(format!("axis {} of {x:?}", self.axis));
        }
        if x.iter().product::<usize>() / x[self.axis] != cx.output.numel() {
            return Err(format!("the indices over axis {} of {x:?} into {:?}", self.axis, cx.output.shape));
        }
        if cx.output.scale_bits != 0 {
            return Err(format!("the indices have scale 2^{}, not 1", cx.output.scale_bits));
        }
        if x[self.axis] as u128 > 1u128 << (cx.config.act_bits - 1) {
            return Err(format!("{} indices do not fit {} activation bits", x[self.axis], cx.config.act_bits));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = super::linear::flat(cx.inputs[0]);
        Ok(self
            .groups(cx.inputs[0].shape())
            .iter()
            .map(|g| self.select(&g.iter().map(|&i| x[i] as i128).collect::<Vec<_>>()) as i128)
            .collect())
    }
}

/// ArgMax and ArgMin (`axis`, `keepdims`, `select_last_index`), and TopK with k = 1: its
/// values as a ReduceMax (ReduceMin with `largest = 0`) over the axis, its indices as an
/// ArgMax (ArgMin), first index among ties as ONNX specifies.
pub(crate) fn import_arg(node: &Node<'_>) -> Result<Imported> {
    let x = node.shape(&node.acts[0])?;
    let rank = x.len() as i64;
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("only the data may depend on the input (k must be a constant)"));
    }
    let default_axis = if node.op == "TopK" { -1 } else { 0 };
    let a = node.attr_i("axis").unwrap_or(default_axis);
    let axis = if a < 0 { a + rank } else { a };
    if axis < 0 || axis >= rank {
        return Err(node.unsup(format!("axis {a} of a rank-{rank} input")));
    }
    let axis = axis as usize;
    if node.op != "TopK" {
        let largest = node.op == "ArgMax";
        let last = node.attr_i("select_last_index").unwrap_or(0) != 0;
        return Ok(Imported::Op(FloatOpKind::ArgMax(FloatArgMax { axis, largest, last })));
    }
    let k = match node.ins.get(1).filter(|s| !s.is_empty()) {
        Some(t) => node.const_array(t)?.iter().map(|&v| v as i64).collect::<Vec<_>>(),
        None => node.attr_ints("k").or_else(|| node.attr_i("k").map(|k| vec![k])).unwrap_or_default(),
    };
    if k != [1] {
        return Err(node.unsup(format!("k = {k:?}: only k = 1 (the top element and its index) is supported")));
    }
    if node.outputs.len() != 2 {
        return Err(node.unsup("TopK needs its values and indices outputs"));
    }
    let largest = node.attr_i("largest").unwrap_or(1) != 0;
    let kind = if largest { ReduceKind::Max } else { ReduceKind::Min };
    Ok(Imported::PerOutput(vec![
        FloatOpKind::Reduce(FloatReduce { kind, axes: vec![axis] }),
        FloatOpKind::ArgMax(FloatArgMax { axis, largest, last: false }),
    ]))
}

/// ReduceSum/Mean/Max/Min (axes from the attribute or, from opset 13/18, a constant input)
/// and GlobalMaxPool.
pub(crate) fn import_reduce(node: &Node<'_>) -> Result<Imported> {
    let x = node.shape(&node.acts[0])?;
    let rank = x.len();
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("the axes must be constants"));
    }
    let kind = match node.op {
        "ReduceSum" => ReduceKind::Sum,
        "ReduceMean" => ReduceKind::Mean,
        "ReduceMax" | "GlobalMaxPool" => ReduceKind::Max,
        _ => ReduceKind::Min,
    };
    // Axes are an input from opset 13 (ReduceSum) or 18 (the others), an attribute before.
    let from_input = node.opset >= if node.op == "ReduceSum" { 13 } else { 18 };
    let given = match node.ins.get(1).filter(|s| !s.is_empty()) {
        Some(a) if from_input => Some(node.const_array(a)?.iter().map(|&v| v as i64).collect::<Vec<_>>()),
        _ if from_input => None,
        _ => node.attr_ints("axes"),
    };
    let mut axes: Vec<usize> = match given {
        _ if node.op == "GlobalMaxPool" => (2..rank).collect(),
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|&v| {
                let a = if v < 0 { v + rank as i64 } else { v };
                if a < 0 || a >= rank as i64 { Err(node.unsup(format!("axis {v}"))) } else { Ok(a as usize) }
            })
            .collect::<Result<_>>()?,
        _ if node.attr_i("noop_with_empty_axes").unwrap_or(0) != 0 => return Ok(Imported::Alias(None)),
        _ => (0..rank).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    Ok(Imported::Op(FloatOpKind::Reduce(FloatReduce { kind, axes })))
}
