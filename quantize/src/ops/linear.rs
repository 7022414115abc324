//! Linear ops: Gemm and MatMul by constant weights (`Dense`), MatMul of two
//! activations (`MatMul`, attention's products), convolutions
//! (`Conv`) and transposed convolutions (`ConvTranspose`) over 1, 2 or 3
//! spatial axes with any strides, dilations, groups and padding.
//!
//! Both are a sum of products of activations with constant weights, plus a
//! bias at the accumulator's scale, rescaled once to the output's calibrated
//! scale. The circuit lowers each output to multiply-accumulate rows and one
//! rescale row (`circuits/src/layers/linear.rs`); [`Dense::for_each_output`]
//! [`Conv::for_each_output`] and
//! [`ConvTranspose::for_each_output`] enumerate the terms for both sides.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

use super::grid::{self, Geometry};
use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{quantize_value, rescale};
use crate::onnx::Node;

/// Float `y[.., n] = Σ_k x[.., k] · weight[k, n] + bias[n]`.
#[derive(Clone, Debug)]
pub struct FloatDense {
    /// `[K, N]`.
    pub weight: ArrayD<f32>,
    /// `[N]`.
    pub bias: Option<Vec<f32>>,
}

/// `y[m, n] = rescale(Σ_k x[m, k] · weight[k, n] + bias[n], shift)`, `x` viewed as `[M, K]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dense {
    /// `K`.
    pub k: usize,
    /// `N`.
    pub n: usize,
    /// `[K, N]` row-major, scale `weight_scale_bits`.
    pub weight: Vec<i64>,
    /// `[N]` at scale `in + weight_scale_bits`.
    pub bias: Option<Vec<i64>>,
    /// Scale of the weights.
    pub weight_scale_bits: i32,
    /// `in + weight_scale_bits - out`.
    pub shift: i32,
}

impl Dense {
    /// Calls `f(output index, bias, terms)` for every output in row-major order; a term is
    /// `(input index, weight)`.
    pub fn for_each_output(&self, numel_in: usize, mut f: impl FnMut(usize, i64, &[(usize, i64)])) {
        let rows = numel_in / self.k.max(1);
        let mut terms = Vec::with_capacity(self.k);
        for m in 0..rows {
            for j in 0..self.n {
                terms.clear();
                terms.extend((0..self.k).map(|kk| (m * self.k + kk, self.weight[kk * self.n + j])));
                let bias = self.bias.as_ref().map_or(0, |b| b[j]);
                f(m * self.n + j, bias, &terms);
            }
        }
    }
}

impl FloatOp for FloatDense {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_in, s_out) = (cx.s_in[0], cx.calibrated());
        let s_w = cx.weight_scale(QuantCx::max_abs(&self.weight));
        let (k, n) = (self.weight.shape()[0], self.weight.shape()[1]);
        let weight = self.weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
        let bias = self.bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
        let d = Dense { k, n, weight, bias, weight_scale_bits: s_w, shift: s_in + s_w - s_out };
        Ok((QOpKind::Dense(d), s_out))
    }
}

impl QuantizedOp for Dense {
    const NAME: &'static str = "dense";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if self.k.checked_mul(self.n) != Some(self.weight.len())
            || self.bias.as_ref().is_some_and(|b| b.len() != self.n)
        {
            return Err("weight/bias length".into());
        }
        if cx.inputs[0].shape.last() != Some(&self.k) {
            return Err("input shape does not end in K".into());
        }
        if cx.output.numel() != cx.inputs[0].numel() / self.k * self.n {
            return Err(format!(
                "output shape {:?} for input {:?} and N = {}",
                cx.output.shape, cx.inputs[0].shape, self.n
            ));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = flat(cx.inputs[0]);
        let mut out = vec![0i128; cx.numel()];
        self.for_each_output(x.len(), |o, bias, terms| {
            let acc = terms.iter().fold(bias as i128, |a, &(i, w)| a + x[i] as i128 * w as i128);
            out[o] = rescale(acc, self.shift);
        });
        Ok(out)
    }
}

/// Float `a @ b` of two activations (numpy's `matmul`).
#[derive(Clone, Debug)]
pub struct FloatMatMul;

/// `y[β, i, j] = rescale(Σ_t a[β_a, i, t] · b[β_b, t, j], shift)`, numpy's `matmul` of two
/// activations: `a` is `[…, N, K]` (a 1-D `a` is `[1, K]` and its `N` axis is dropped from
/// the output), `b` is `[…, K, M]` (a 1-D `b` is `[K, 1]`, its `M` axis dropped), and the
/// batch axes `β` broadcast (`β_a`, `β_b` are `β` with broadcast axes at 0).
/// `shift = s_a + s_b − out`. [`MatMul::for_each_output`] enumerates the products for the
/// executor and the circuit alike.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatMul {
    /// `s_a + s_b − out`.
    pub shift: i32,
}

/// The index arithmetic of one [`MatMul`]: operand and output sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatMulGeometry {
    /// Rows of `a`.
    pub n: usize,
    /// The contracted axis.
    pub k: usize,
    /// Columns of `b`.
    pub m: usize,
    /// For each output batch (flat), the batch of `a` and of `b` it reads.
    pub batches: Vec<(usize, usize)>,
}

impl MatMul {
    /// Checks the operand shapes against the output's and returns the index arithmetic;
    /// `Err` says which axis disagrees.
    pub fn geometry(a: &[usize], b: &[usize], out: &[usize]) -> Result<MatMulGeometry, String> {
        if a.is_empty() || b.is_empty() {
            return Err(format!("a scalar operand (shapes {a:?} and {b:?})"));
        }
        let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
        let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
        let (n, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (kb, m) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != kb {
            return Err(format!("the contracted axes differ: {a:?} @ {b:?}"));
        }
        let (ba, bb) = (&a2[..a2.len() - 2], &b2[..b2.len() - 2]);
        let rank = ba.len().max(bb.len());
        let pad =
            |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
        let (pa, pb) = (pad(ba), pad(bb));
        let mut batch = Vec::with_capacity(rank);
        for (&x, &y) in pa.iter().zip(&pb) {
            if x != y && x != 1 && y != 1 {
                return Err(format!("the batch axes do not broadcast: {a:?} @ {b:?}"));
            }
            batch.push(x.max(y));
        }
        let mut expect = batch.clone();
        if a.len() > 1 {
            expect.push(n);
        }
        if b.len() > 1 {
            expect.push(m);
        }
        if expect != out {
            return Err(format!("{a:?} @ {b:?} is {expect:?}, the output is {out:?}"));
        }
        let ia = super::elementwise::broadcast_index(&pa, &batch);
        let ib = super::elementwise::broadcast_index(&pb, &batch);
        Ok(MatMulGeometry { n, k, m, batches: ia.into_iter().zip(ib).collect() })
    }

    /// Calls `f(output index, terms)` for every output in row-major order; a term is
    /// `(index into a, index into b)`, one product each.
    pub fn for_each_output(
        &self,
        a: &[usize],
        b: &[usize],
        out: &[usize],
        mut f: impl FnMut(usize, &[(usize, usize)]),
    ) -> Result<(), String> {
        let g = Self::geometry(a, b, out)?;
        let (n, k, m) = (g.n, g.k, g.m);
        let mut terms = Vec::with_capacity(k);
        for (bo, &(ba, bb)) in g.batches.iter().enumerate() {
            for i in 0..n {
                for j in 0..m {
                    terms.clear();
                    terms.extend((0..k).map(|t| ((ba * n + i) * k + t, (bb * k + t) * m + j)));
                    f((bo * n + i) * m + j, &terms);
                }
            }
        }
        Ok(())
    }
}

impl FloatOp for FloatMatMul {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_out = cx.calibrated();
        Ok((QOpKind::MatMul(MatMul { shift: cx.s_in[0] + cx.s_in[1] - s_out }), s_out))
    }
}

impl QuantizedOp for MatMul {
    const NAME: &'static str = "matmul";

    fn arity(&self) -> usize {
        2
    }

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        Self::geometry(&cx.inputs[0].shape, &cx.inputs[1].shape, &cx.output.shape).map(|_| ())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let (a, b) = (flat(cx.inputs[0]), flat(cx.inputs[1]));
        let mut out = vec![0i128; cx.numel()];
        self.for_each_output(cx.inputs[0].shape(), cx.inputs[1].shape(), cx.out_shape, |o, terms| {
            let acc = terms.iter().fold(0i128, |s, &(i, j)| s + a[i] as i128 * b[j] as i128);
            out[o] = rescale(acc, self.shift);
        })?;
        Ok(out)
    }
}

/// Float convolution over 1, 2 or 3 spatial axes (`[N, C, spatial…]`).
#[derive(Clone, Debug)]
pub struct FloatConv {
    /// `[C_out, C_in / groups, k…]`.
    pub weight: ArrayD<f32>,
    /// `[C_out]`.
    pub bias: Option<Vec<f32>>,
    /// Strides, padding and dilations.
    pub window: ConvWindow,
    /// Channel groups.
    pub groups: usize,
}

/// Strides, explicit padding (begins ‖ ends) and dilations over the spatial axes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvWindow {
    /// One per spatial axis.
    pub strides: Vec<usize>,
    /// The begins of every spatial axis, then the ends.
    pub pads: Vec<usize>,
    /// One per spatial axis.
    pub dilations: Vec<usize>,
}

pub(crate) fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// `y[n, c, o…] = rescale(Σ_{c', k…} x[n, g·C'/G + c', o·s + k·d − p_begin] · w[c, c', k…] + bias[c], shift)`
/// with `g = c / (C_out / G)` the group of `c`, `c' < C_in / G`, and out-of-bounds (padding)
/// inputs equal to 0; over 1, 2 or 3 spatial axes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// `[C_out, C_in / groups, k…]`.
    pub weight_shape: Vec<usize>,
    /// Row-major weights, scale `weight_scale_bits`.
    pub weight: Vec<i64>,
    /// `[C_out]` at scale `in + weight_scale_bits`.
    pub bias: Option<Vec<i64>>,
    /// One per spatial axis.
    pub strides: Vec<usize>,
    /// The begins of every spatial axis, then the ends.
    pub pads: Vec<usize>,
    /// One per spatial axis (absent: all 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
    /// Channel groups (`C_in` and `C_out` are multiples of it).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub groups: usize,
    /// Scale of the weights.
    pub weight_scale_bits: i32,
    /// `in + weight_scale_bits - out`.
    pub shift: i32,
}

impl Conv {
    fn geometry(&self) -> Geometry<'_> {
        Geometry {
            kernel: &self.weight_shape[2..],
            strides: &self.strides,
            pads: &self.pads,
            dilations: &self.dilations,
        }
    }

    /// Calls `f(output index, bias, terms)` for every output in row-major order; a term is
    /// `(input index, weight)` of an in-bounds input.
    pub fn for_each_output(
        &self,
        in_shape: &[usize],
        out_shape: &[usize],
        mut f: impl FnMut(usize, i64, &[(usize, i64)]),
    ) {
        if in_shape.len() < 3 || out_shape.len() != in_shape.len() || self.weight_shape.len() != in_shape.len() {
            return;
        }
        let (batch, ci_all, co) = (in_shape[0], in_shape[1], out_shape[1]);
        let ci = self.weight_shape[1];
        let ksize: usize = self.weight_shape[2..].iter().product();
        let in_size: usize = in_shape[2..].iter().product();
        let co_per_group = (co / self.groups.max(1)).max(1);
        let geometry = self.geometry();
        let mut terms = Vec::with_capacity(ci * ksize);
        let mut o = 0;
        for bt in 0..batch {
            for c in 0..co {
                let group = c / co_per_group;
                geometry.for_each_window(&in_shape[2..], &out_shape[2..], |taps, _| {
                    terms.clear();
                    for cc in 0..ci {
                        let base = (bt * ci_all + group * ci + cc) * in_size;
                        for &(i, k) in taps {
                            terms.push((base + i, self.weight[(c * ci + cc) * ksize + k]));
                        }
                    }
                    f(o, self.bias.as_ref().map_or(0, |b| b[c]), &terms);
                    o += 1;
                });
            }
        }
    }
}

impl FloatOp for FloatConv {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_in, s_out) = (cx.s_in[0], cx.calibrated());
        let s_w = cx.weight_scale(QuantCx::max_abs(&self.weight));
        let weight = self.weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
        let bias = self.bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
        let c = Conv {
            weight_shape: self.weight.shape().to_vec(),
            weight,
            bias,
            strides: self.window.strides.clone(),
            pads: self.window.pads.clone(),
            dilations: self.window.dilations.clone(),
            groups: self.groups,
            weight_scale_bits: s_w,
            shift: s_in + s_w - s_out,
        };
        Ok((QOpKind::Conv(c), s_out))
    }
}

/// Checks weight and bias lengths, groups and channels of a (transposed) convolution whose
/// weight has `w_in` input channels per group and `w_out` output channels per group.
fn check_conv(
    cx: &ValidateCx<'_>,
    weight_shape: &[usize],
    weight: &[i64],
    bias: Option<&Vec<i64>>,
    groups: usize,
    (w_in, w_out): (usize, usize),
    geometry: Geometry<'_>,
) -> Result<(), String> {
    let (x, y) = (&cx.inputs[0].shape, &cx.output.shape);
    let rank = x.len();
    if !(3..=5).contains(&rank) || y.len() != rank || weight_shape.len() != rank {
        return Err(format!("input {x:?}, output {y:?} and weight {weight_shape:?} must be [N, C, 1–3 spatial axes]"));
    }
    geometry.validate(rank - 2)?;
    let len = weight_shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if len != Some(weight.len()) || bias.is_some_and(|b| b.len() != y[1]) {
        return Err("weight/bias length".into());
    }
    if groups == 0 || x[1] != w_in * groups || y[1] != w_out * groups || x[0] != y[0] {
        return Err(format!("channels: input {x:?}, output {y:?}, weight {weight_shape:?}, groups {groups}"));
    }
    Ok(())
}

impl QuantizedOp for Conv {
    const NAME: &'static str = "conv";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let w = &self.weight_shape;
        if w.len() < 3 {
            return Err(format!("weight shape {w:?}"));
        }
        check_conv(
            cx,
            w,
            &self.weight,
            self.bias.as_ref(),
            self.groups,
            (w[1], w[0] / self.groups.max(1)),
            self.geometry(),
        )
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = flat(cx.inputs[0]);
        let mut out = vec![0i128; cx.numel()];
        self.for_each_output(cx.inputs[0].shape(), cx.out_shape, |o, bias, terms| {
            let acc = terms.iter().fold(bias as i128, |a, &(i, w)| a + x[i] as i128 * w as i128);
            out[o] = rescale(acc, self.shift);
        });
        Ok(out)
    }
}

/// Float transposed convolution.
#[derive(Clone, Debug)]
pub struct FloatConvTranspose {
    /// `[C_in, C_out / groups, k…]`.
    pub weight: ArrayD<f32>,
    /// `[C_out]`.
    pub bias: Option<Vec<f32>>,
    /// Strides, padding (begins ‖ ends) and dilations.
    pub window: ConvWindow,
    /// Channel groups.
    pub groups: usize,
}

/// `y[n, c, o…] = rescale(Σ x[n, g·C_in/G + c', i…] · w[g·C_in/G + c', c mod (C_out/G), k…] + bias[c], shift)`
/// over the input positions `i` and kernel offsets `k` with `o = i·s + k·d − p_begin` on every
/// spatial axis (`g` the group of output channel `c`); the output shape (with any output
/// padding) is the model's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvTranspose {
    /// `[C_in, C_out / groups, k…]`.
    pub weight_shape: Vec<usize>,
    /// Row-major weights, scale `weight_scale_bits`.
    pub weight: Vec<i64>,
    /// `[C_out]` at scale `in + weight_scale_bits`.
    pub bias: Option<Vec<i64>>,
    /// One per spatial axis.
    pub strides: Vec<usize>,
    /// The begins of every spatial axis, then the ends.
    pub pads: Vec<usize>,
    /// One per spatial axis (absent: all 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
    /// Channel groups.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub groups: usize,
    /// Scale of the weights.
    pub weight_scale_bits: i32,
    /// `in + weight_scale_bits - out`.
    pub shift: i32,
}

impl ConvTranspose {
    fn geometry(&self) -> Geometry<'_> {
        Geometry {
            kernel: &self.weight_shape[2..],
            strides: &self.strides,
            pads: &self.pads,
            dilations: &self.dilations,
        }
    }

    /// Calls `f(output index, bias, terms)` for every output in row-major order.
    pub fn for_each_output(
        &self,
        in_shape: &[usize],
        out_shape: &[usize],
        mut f: impl FnMut(usize, i64, &[(usize, i64)]),
    ) {
        if in_shape.len() < 3 || out_shape.len() != in_shape.len() || self.weight_shape.len() != in_shape.len() {
            return;
        }
        let r = in_shape.len() - 2;
        let (batch, ci_all, co) = (in_shape[0], in_shape[1], out_shape[1]);
        let g = self.groups.max(1);
        let (ci_pg, co_pg) = (ci_all / g, self.weight_shape[1]);
        let kernel = &self.weight_shape[2..];
        let ksize: usize = kernel.iter().product();
        let in_sp = &in_shape[2..];
        let in_strides = grid::strides(in_sp);
        let in_size: usize = in_sp.iter().product();
        let k_strides = grid::strides(kernel);
        let geometry = self.geometry();
        let mut taps: Vec<(usize, usize)> = vec![];
        let mut terms = vec![];
        let mut o = 0;
        for bt in 0..batch {
            for c in 0..co {
                let (group, cl) = (c / co_pg.max(1), c % co_pg.max(1));
                grid::for_each_index(&out_shape[2..], |op| {
                    taps.clear();
                    grid::for_each_index(kernel, |k| {
                        let mut i = 0;
                        for a in 0..r {
                            // o = i·s + k·d − p  ⇔  i = (o + p − k·d) / s
                            let num = geometry.input_coord(a, 0, k[a]);
                            let num = op[a] as isize - num;
                            let s = self.strides[a] as isize;
                            if num < 0 || num % s != 0 || num / s >= in_sp[a] as isize {
                                return;
                            }
                            i += (num / s) as usize * in_strides[a];
                        }
                        taps.push((i, grid::flat_index(k, &k_strides)));
                    });
                    terms.clear();
                    for cc in 0..ci_pg {
                        let channel = group * ci_pg + cc;
                        for &(i, k) in &taps {
                            let w = self.weight[(channel * co_pg + cl) * ksize + k];
                            terms.push(((bt * ci_all + channel) * in_size + i, w));
                        }
                    }
                    f(o, self.bias.as_ref().map_or(0, |b| b[c]), &terms);
                    o += 1;
                });
            }
        }
    }
}

impl FloatOp for FloatConvTranspose {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_in, s_out) = (cx.s_in[0], cx.calibrated());
        let s_w = cx.weight_scale(QuantCx::max_abs(&self.weight));
        let weight = self.weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
        let bias = self.bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
        let c = ConvTranspose {
            weight_shape: self.weight.shape().to_vec(),
            weight,
            bias,
            strides: self.window.strides.clone(),
            pads: self.window.pads.clone(),
            dilations: self.window.dilations.clone(),
            groups: self.groups,
            weight_scale_bits: s_w,
            shift: s_in + s_w - s_out,
        };
        Ok((QOpKind::ConvTranspose(c), s_out))
    }
}

impl QuantizedOp for ConvTranspose {
    const NAME: &'static str = "conv_transpose";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let w = &self.weight_shape;
        if w.len() < 3 {
            return Err(format!("weight shape {w:?}"));
        }
        let g = self.groups.max(1);
        check_conv(cx, w, &self.weight, self.bias.as_ref(), self.groups, (w[0] / g, w[1]), self.geometry())?;
        if !w[0].is_multiple_of(g) {
            return Err(format!("weight {w:?} for {g} groups"));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let x = flat(cx.inputs[0]);
        let mut out = vec![0i128; cx.numel()];
        self.for_each_output(cx.inputs[0].shape(), cx.out_shape, |o, bias, terms| {
            let acc = terms.iter().fold(bias as i128, |a, &(i, w)| a + x[i] as i128 * w as i128);
            out[o] = rescale(acc, self.shift);
        });
        Ok(out)
    }
}

/// A tensor's values in row-major order.
pub(crate) fn flat(a: &ArrayD<i64>) -> std::borrow::Cow<'_, [i64]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// Gemm: `alpha · A · op(B) + beta · C` with A the activation, B and C constant.
pub(crate) fn import_gemm(node: &Node<'_>) -> Result<Imported> {
    if node.attr_i("transA").unwrap_or(0) != 0 {
        return Err(node.unsup("transA=1 is not supported"));
    }
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("operand A must be the only non-constant input"));
    }
    let alpha = node.attr_f("alpha").unwrap_or(1.0);
    let beta = node.attr_f("beta").unwrap_or(1.0);
    let b = node.const_array(&node.ins[1])?;
    if b.ndim() != 2 {
        return Err(node.unsup(format!("B has rank {}, expected 2", b.ndim())));
    }
    let mut w = if node.attr_i("transB").unwrap_or(0) != 0 { b.t().to_owned() } else { b };
    w.mapv_inplace(|v| v * alpha);
    let n = w.shape()[1];
    let bias = match node.ins.get(2).filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => {
            let c = node.const_array(c)?;
            let per_column = c.len() == n && c.shape().last() == Some(&n);
            let scalar = c.len() == 1;
            if !(per_column || scalar) {
                return Err(node.unsup(format!("bias C of shape {:?} (only [N] or [1, N])", c.shape())));
            }
            let vals: Vec<f32> = c.iter().copied().collect();
            Some((0..n).map(|j| beta * if scalar { vals[0] } else { vals[j] }).collect())
        }
    };
    Ok(Imported::Op(FloatOpKind::Dense(FloatDense { weight: w.into_dyn(), bias })))
}

/// MatMul of an activation by a constant matrix.
pub(crate) fn import_matmul(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() == 2 {
        // Both operands activations (attention's Q·Kᵀ and A·V): a product of two wires per term.
        let (a, b) = (node.shape(&node.acts[0])?, node.shape(&node.acts[1])?);
        MatMul::geometry(&a, &b, &node.out_shape).map_err(|e| node.unsup(e))?;
        return Ok(Imported::Op(FloatOpKind::MatMul(FloatMatMul)));
    }
    if node.ins[0] != node.acts[0] {
        return Err(node.unsup("the constant is the left operand (only activation × constant weights)"));
    }
    let w = node.const_array(&node.ins[1])?;
    if w.ndim() != 2 {
        return Err(node.unsup(format!("constant operand has rank {}, expected 2", w.ndim())));
    }
    Ok(Imported::Op(FloatOpKind::Dense(FloatDense { weight: w, bias: None })))
}

/// Conv and ConvTranspose over 1, 2 or 3 spatial axes, any strides, dilations, groups
/// and padding.
pub(crate) fn import_conv(node: &Node<'_>) -> Result<Imported> {
    let x_shape = node.shape(&node.acts[0])?;
    if node.acts.len() != 1 || node.ins.first() != Some(&node.acts[0]) {
        return Err(node.unsup("the weights must be constant"));
    }
    let rank = x_shape.len();
    if !(3..=5).contains(&rank) {
        return Err(node.unsup(format!("only 1-D, 2-D and 3-D convolutions (input rank {rank})")));
    }
    let groups = node.attr_i("group").unwrap_or(1);
    let weight = node.const_array(&node.ins[1])?;
    let ws = weight.shape().to_vec();
    let transposed = node.op == "ConvTranspose";
    let in_channels_ok = if transposed { x_shape[1] == ws[0] } else { x_shape[1] as i64 == ws[1] as i64 * groups };
    if groups < 1 || weight.ndim() != rank || ws[0] as i64 % groups != 0 || !in_channels_ok {
        return Err(node.unsup(format!("weight shape {ws:?} with group {groups} for input {x_shape:?}")));
    }
    let bias = match node.ins.get(2).filter(|s| !s.is_empty()) {
        Some(b) => Some(node.const_array(b)?.iter().copied().collect()),
        None => None,
    };
    let groups = groups as usize;
    if transposed {
        if node.attr_s("auto_pad").is_some_and(|a| a != "NOTSET" && a != "VALID") {
            return Err(node.unsup("auto_pad SAME_* (give explicit pads)"));
        }
        // Output padding and an explicit output shape only change the output's shape, which
        // shape inference has fixed; the begins of the padding place the kernel.
        let window = node.window_attrs(&ws[2..], &x_shape, false)?;
        return Ok(Imported::Op(FloatOpKind::ConvTranspose(FloatConvTranspose { weight, bias, window, groups })));
    }
    let window = node.window_attrs(&ws[2..], &x_shape, true)?;
    Ok(Imported::Op(FloatOpKind::Conv(FloatConv { weight, bias, window, groups })))
}
