//! Element-wise arithmetic: `Add`/`Sub`/`Mul` of two activations (numpy
//! broadcasting), `Sum`/`Mean` and `Extremum` (Max, Min) of n activations, and
//! `Affine` (`x · mul + add` with constants: Add, Sub, Mul, Div by a constant,
//! Neg, BatchNormalization not folded into a linear op).
//!
//! Each output element is one linear row with a product term and a rescale
//! (`circuits/src/layers/elementwise.rs`).

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{quantize_value, rescale};
use crate::onnx::Node;

/// A constant tensor broadcast against an activation (numpy rules, rank-aligned).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QConst {
    /// Shape with the activation's rank; each dim is 1 or the activation's.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<i64>,
}

impl QConst {
    /// The constant broadcast to `shape`.
    pub fn broadcast(&self, shape: &[usize]) -> Result<ArrayD<i64>, String> {
        let a = ArrayD::from_shape_vec(IxDyn(&self.shape), self.values.clone()).map_err(|e| e.to_string())?;
        a.broadcast(IxDyn(shape))
            .map(|v| v.to_owned())
            .ok_or_else(|| format!("constant of shape {:?} does not broadcast to {shape:?}", self.shape))
    }

    /// For each element of `out` (row-major), the index into `values` broadcast to it.
    pub fn index_map(&self, out: &[usize]) -> Vec<usize> {
        broadcast_index(&self.shape, out)
    }
}

/// For each element of `out` (row-major), the row-major index into a tensor of `shape`
/// broadcast to it (numpy rules: `shape` is right-aligned, dims of 1 repeat).
pub fn broadcast_index(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let rank = out.len();
    let shape: Vec<usize> =
        std::iter::repeat_n(1, rank.saturating_sub(shape.len())).chain(shape.iter().copied()).collect();
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

/// Checks that `shape` broadcasts to `out`.
pub(crate) fn broadcasts(shape: &[usize], out: &[usize]) -> bool {
    shape.len() <= out.len() && shape.iter().rev().zip(out.iter().rev()).all(|(&a, &b)| a == b || a == 1)
}

/// Float `a ± b`.
#[derive(Clone, Debug)]
pub struct FloatAdd {
    /// Subtract instead of add.
    pub sub: bool,
}

/// `y = rescale(a · 2^a_shift ± b · 2^b_shift, shift)` (broadcast): both inputs are first
/// aligned to the larger of their scales.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Add {
    /// Subtract `b`.
    pub sub: bool,
    /// Left shift of `a`.
    pub a_shift: u32,
    /// Left shift of `b`.
    pub b_shift: u32,
    /// `max(s_a, s_b) - out`.
    pub shift: i32,
}

impl FloatOp for FloatAdd {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_a, s_b, s_out) = (cx.s_in[0], cx.s_in[1], cx.calibrated());
        let m = s_a.max(s_b);
        let op = Add { sub: self.sub, a_shift: (m - s_a) as u32, b_shift: (m - s_b) as u32, shift: m - s_out };
        Ok((QOpKind::Add(op), s_out))
    }
}

impl QuantizedOp for Add {
    const NAME: &'static str = "add";

    fn arity(&self) -> usize {
        2
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        two_operands(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        broadcast2(cx, |a, b| {
            let a = (a as i128) << self.a_shift;
            let b = (b as i128) << self.b_shift;
            rescale(if self.sub { a - b } else { a + b }, self.shift)
        })
    }
}

/// Float `a · b`.
#[derive(Clone, Debug)]
pub struct FloatMul;

/// `y = rescale(a · b, shift)` (broadcast), `shift = s_a + s_b - out`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mul {
    /// `s_a + s_b - out`.
    pub shift: i32,
}

impl FloatOp for FloatMul {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_out = cx.calibrated();
        Ok((QOpKind::Mul(Mul { shift: cx.s_in[0] + cx.s_in[1] - s_out }), s_out))
    }
}

impl QuantizedOp for Mul {
    const NAME: &'static str = "mul";

    fn arity(&self) -> usize {
        2
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        two_operands(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        broadcast2(cx, |a, b| rescale(a as i128 * b as i128, self.shift))
    }
}

/// Every input broadcasts to the output's shape.
fn two_operands(cx: &ValidateCx<'_>) -> Result<(), String> {
    let out = &cx.output.shape;
    for t in &cx.inputs {
        if !broadcasts(&t.shape, out) {
            return Err(format!("input shape {:?} does not broadcast to {out:?}", t.shape));
        }
    }
    Ok(())
}

/// Applies `f` elementwise to the two inputs broadcast to the output shape.
fn broadcast2(cx: &ExecCx<'_>, f: impl Fn(i64, i64) -> i128) -> Result<Vec<i128>, String> {
    let shape = IxDyn(cx.out_shape);
    let (a, b) = (cx.inputs[0], cx.inputs[1]);
    let av = a
        .broadcast(shape.clone())
        .ok_or_else(|| format!("{:?} does not broadcast to {:?}", a.shape(), cx.out_shape))?;
    let bv = b.broadcast(shape).ok_or_else(|| format!("{:?} does not broadcast to {:?}", b.shape(), cx.out_shape))?;
    Ok(av.iter().zip(bv.iter()).map(|(&x, &y)| f(x, y)).collect())
}

/// Float `x · mul + add` with constants rank-aligned with the output.
#[derive(Clone, Debug)]
pub struct FloatAffine {
    /// Multiplier, rank-aligned with the output (leading 1s).
    pub mul: Option<ArrayD<f32>>,
    /// Addend, rank-aligned with the output.
    pub add: Option<ArrayD<f32>>,
}

/// `y = rescale(x · mul + add, shift)`; `mul` at `mul_scale_bits` (absent = 1 at scale 0),
/// `add` at scale `in + mul_scale_bits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affine {
    /// Multiplier.
    pub mul: Option<QConst>,
    /// Scale of `mul`.
    pub mul_scale_bits: i32,
    /// Addend.
    pub add: Option<QConst>,
    /// `in + mul_scale_bits - out`.
    pub shift: i32,
}

impl FloatOp for FloatAffine {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_in, s_out) = (cx.s_in[0], cx.calibrated());
        let s_m = self.mul.as_ref().map_or(0, |m| cx.weight_scale(QuantCx::max_abs(m)));
        let qc = |a: &ArrayD<f32>, s: i32| QConst {
            shape: a.shape().to_vec(),
            values: a.iter().map(|&v| quantize_value(v as f64, s)).collect(),
        };
        let op = Affine {
            mul: self.mul.as_ref().map(|m| qc(m, s_m)),
            mul_scale_bits: s_m,
            add: self.add.as_ref().map(|a| qc(a, s_in + s_m)),
            shift: s_in + s_m - s_out,
        };
        Ok((QOpKind::Affine(op), s_out))
    }
}

impl QuantizedOp for Affine {
    const NAME: &'static str = "affine";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let out = &cx.output.shape;
        if cx.inputs[0].shape != *out {
            return Err(format!("input shape {:?} differs from the output's {out:?}", cx.inputs[0].shape));
        }
        for c in [&self.mul, &self.add].into_iter().flatten() {
            if c.values.len() != c.shape.iter().product::<usize>() || !broadcasts(&c.shape, out) {
                return Err(format!("constant of shape {:?} does not broadcast to {out:?}", c.shape));
            }
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let m = self.mul.as_ref().map(|c| c.broadcast(cx.out_shape)).transpose()?;
        let a = self.add.as_ref().map(|c| c.broadcast(cx.out_shape)).transpose()?;
        Ok(cx.inputs[0]
            .indexed_iter()
            .map(|(idx, &v)| {
                let mv = m.as_ref().map_or(1, |m| m[idx.clone()] as i128);
                let av = a.as_ref().map_or(0, |a| a[idx.clone()] as i128);
                rescale(v as i128 * mv + av, self.shift)
            })
            .collect())
    }
}

/// Prepends 1s so `a` has `rank` dims (numpy broadcasting alignment).
pub(crate) fn align_rank(a: ArrayD<f32>, rank: usize) -> ArrayD<f32> {
    if a.ndim() >= rank {
        return a;
    }
    let mut shape = vec![1; rank - a.ndim()];
    shape.extend_from_slice(a.shape());
    a.into_shape_with_order(IxDyn(&shape)).expect("same number of elements")
}

/// Add, Sub, Mul, Div: of two activations, or of an activation and a constant.
pub(crate) fn import_arith(node: &Node<'_>) -> Result<Imported> {
    let op = node.op;
    let (ins, acts, out_shape) = (&node.ins, &node.acts, &node.out_shape);
    if acts.len() == 2 {
        return Ok(Imported::Op(match op {
            "Add" => FloatOpKind::Add(FloatAdd { sub: false }),
            "Sub" => FloatOpKind::Add(FloatAdd { sub: true }),
            "Mul" => FloatOpKind::Mul(FloatMul),
            _ => return Err(node.unsup("division by a non-constant tensor")),
        }));
    }
    let x_first = ins[0] == acts[0];
    let c_name = if x_first { &ins[1] } else { &ins[0] };
    let x_shape = node.shape(&acts[0])?;
    if x_shape != *out_shape {
        return Err(node.unsup(format!("the constant broadcasts the activation from {x_shape:?} to {out_shape:?}")));
    }
    let c = align_rank(node.const_array(c_name)?, out_shape.len());
    let affine = |mul, add| Ok(Imported::Op(FloatOpKind::Affine(FloatAffine { mul, add })));
    match (op, x_first) {
        ("Add", _) => affine(None, Some(c)),
        ("Sub", true) => affine(None, Some(c.mapv(|v| -v))),
        ("Sub", false) => affine(Some(ArrayD::from_elem(IxDyn(&vec![1; out_shape.len()]), -1.0)), Some(c)),
        ("Mul", _) => affine(Some(c), None),
        ("Div", true) => {
            if c.iter().any(|v| *v == 0.0) {
                return Err(node.unsup("division by a constant that contains 0"));
            }
            affine(Some(c.mapv(|v| 1.0 / v)), None)
        }
        _ => Err(node.unsup("a constant divided by an activation")),
    }
}

/// BatchNormalization in inference mode: a per-channel affine map.
pub(crate) fn import_batch_norm(node: &Node<'_>) -> Result<Imported> {
    if node.outputs.len() > 1 {
        return Err(node.unsup("training-mode outputs"));
    }
    let out_shape = &node.out_shape;
    let eps = node.attr_f("epsilon").unwrap_or(1e-5);
    let get = |i: usize| -> Result<Vec<f32>> {
        Ok(node.const_array(node.ins.get(i).map(String::as_str).unwrap_or(""))?.iter().copied().collect())
    };
    let (scale, bias, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let c = out_shape.get(1).copied().unwrap_or(0);
    if out_shape.len() < 2 || [&scale, &bias, &mean, &var].iter().any(|v| v.len() != c) {
        return Err(node.unsup(format!("parameters do not match {c} channels")));
    }
    let mut shape = vec![1; out_shape.len()];
    shape[1] = c;
    let mul: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
    let add: Vec<f32> = (0..c).map(|i| bias[i] - mean[i] * mul[i]).collect();
    let arr = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape holds c values");
    Ok(Imported::Op(FloatOpKind::Affine(FloatAffine { mul: Some(arr(mul)), add: Some(arr(add)) })))
}

/// For each output element, the index into each input broadcast to `out`.
pub fn broadcast_operands(in_shapes: &[&[usize]], out: &[usize]) -> Vec<Vec<usize>> {
    in_shapes.iter().map(|s| broadcast_index(s, out)).collect()
}

/// Float `Σ x_i` (Sum) or its mean (Mean) over n activations (numpy broadcasting).
#[derive(Clone, Debug)]
pub struct FloatSum {
    /// Divide by n.
    pub mean: bool,
}

/// `y = rescale(Σ_i x_i · 2^a_shifts[i], shift)`, or with `mean`
/// `y = div_round(Σ_i x_i · 2^a_shifts[i], n)` (inputs aligned to the finest of their
/// scales; broadcast).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum {
    /// Left shift of each input.
    pub a_shifts: Vec<u32>,
    /// `max(s_i) − out` (0 for a mean).
    pub shift: i32,
    /// Divide by the number of inputs.
    pub mean: bool,
}

impl FloatOp for FloatSum {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let m = cx.s_in.iter().copied().max().unwrap_or(0);
        let a_shifts = cx.s_in.iter().map(|s| (m - s) as u32).collect();
        if self.mean {
            return Ok((QOpKind::Sum(Sum { a_shifts, shift: 0, mean: true }), m));
        }
        let s_out = cx.calibrated().min(m);
        Ok((QOpKind::Sum(Sum { a_shifts, shift: m - s_out, mean: false }), s_out))
    }
}

impl QuantizedOp for Sum {
    const NAME: &'static str = "sum";

    fn arity(&self) -> usize {
        self.a_shifts.len()
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.mean && self.shift != 0 || self.a_shifts.iter().any(|&a| a > 64) {
            return Err("shifts".into());
        }
        two_operands(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let shapes: Vec<&[usize]> = cx.inputs.iter().map(|a| a.shape()).collect();
        let idx = broadcast_operands(&shapes, cx.out_shape);
        let flats: Vec<_> = cx.inputs.iter().map(|a| super::linear::flat(a)).collect();
        Ok((0..cx.numel())
            .map(|o| {
                let acc: i128 = (0..flats.len()).map(|i| (flats[i][idx[i][o]] as i128) << self.a_shifts[i]).sum();
                if self.mean { crate::fixed::div_round(acc, flats.len() as i128) } else { rescale(acc, self.shift) }
            })
            .collect())
    }
}

/// Float element-wise maximum (or minimum) of n activations.
#[derive(Clone, Debug)]
pub struct FloatExtremum {
    /// Minimum instead of maximum.
    pub min: bool,
}

/// `y = max_i(rescale(x_i, shifts[i]))` (or `min`), the inputs brought to the coarsest of
/// their scales (broadcast).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extremum {
    /// Minimum instead of maximum.
    pub min: bool,
    /// `s_i − out` per input (≥ 0).
    pub shifts: Vec<i32>,
}

impl FloatOp for FloatExtremum {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_out = cx.s_in.iter().copied().min().unwrap_or(0);
        let shifts = cx.s_in.iter().map(|s| s - s_out).collect();
        Ok((QOpKind::Extremum(Extremum { min: self.min, shifts }), s_out))
    }
}

impl QuantizedOp for Extremum {
    const NAME: &'static str = "extremum";

    fn arity(&self) -> usize {
        self.shifts.len()
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.shifts.iter().any(|&s| !(0..=64).contains(&s)) {
            return Err("shifts".into());
        }
        two_operands(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let shapes: Vec<&[usize]> = cx.inputs.iter().map(|a| a.shape()).collect();
        let idx = broadcast_operands(&shapes, cx.out_shape);
        let flats: Vec<_> = cx.inputs.iter().map(|a| super::linear::flat(a)).collect();
        Ok((0..cx.numel())
            .map(|o| {
                let vals = (0..flats.len()).map(|i| rescale(flats[i][idx[i][o]] as i128, self.shifts[i]));
                if self.min { vals.min().unwrap_or(0) } else { vals.max().unwrap_or(0) }
            })
            .collect())
    }
}

/// Sum, Mean, Max, Min of one or more activations.
pub(crate) fn import_nary(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() != node.ins.iter().filter(|s| !s.is_empty()).count() {
        return Err(node.unsup("a constant operand (only activations)"));
    }
    if node.acts.len() == 1 {
        return Ok(Imported::Alias(None));
    }
    Ok(Imported::Op(match node.op {
        "Sum" => FloatOpKind::Sum(FloatSum { mean: false }),
        "Mean" => FloatOpKind::Sum(FloatSum { mean: true }),
        "Max" => FloatOpKind::Extremum(FloatExtremum { min: false }),
        _ => FloatOpKind::Extremum(FloatExtremum { min: true }),
    }))
}
