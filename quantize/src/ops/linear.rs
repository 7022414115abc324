//! Linear ops: Gemm and MatMul by constant weights (`Dense`), and convolutions
//! (`Conv`: 1-D and 2-D, strides, dilations, groups, any padding).
//!
//! Both are a sum of products of activations with constant weights, plus a
//! bias at the accumulator's scale, rescaled once to the output's calibrated
//! scale. The circuit lowers each output to multiply-accumulate rows and one
//! rescale row (`circuits/src/layers/linear.rs`); [`Dense::for_each_output`]
//! and [`Conv::for_each_output`] enumerate the terms for both sides.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};

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

/// Float convolution, NCHW or NCL (1-D, viewed as height 1).
#[derive(Clone, Debug)]
pub struct FloatConv {
    /// `[C_out, C_in / groups, kh, kw]` (1-D: `kh = 1`).
    pub weight: ArrayD<f32>,
    /// `[C_out]`.
    pub bias: Option<Vec<f32>>,
    /// Strides, padding and dilations over `[h, w]`.
    pub window: ConvWindow,
    /// Channel groups.
    pub groups: usize,
}

/// Strides, explicit padding and dilations of a convolution over `[h, w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvWindow {
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[dh, dw]`.
    #[serde(default = "ones")]
    pub dilations: [usize; 2],
}

pub(crate) fn ones() -> [usize; 2] {
    [1, 1]
}

pub(crate) fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

fn is_ones(v: &[usize; 2]) -> bool {
    *v == [1, 1]
}

/// `y[n, c, i, j] = rescale(Σ_{c', di, dj} x[n, g·C'/G + c', i·sh + di·dh − pt, j·sw + dj·dw − pl]
/// · w[c, c', di, dj] + bias[c], shift)` with `g = c / (C_out / G)` the group of `c`,
/// `c' < C_in / G`, and out-of-bounds (padding) inputs equal to 0. A rank-3 (NCL) tensor is
/// the rank-4 one with height 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// `[C_out, C_in / groups, kh, kw]`.
    pub weight_shape: [usize; 4],
    /// Row-major weights, scale `weight_scale_bits`.
    pub weight: Vec<i64>,
    /// `[C_out]` at scale `in + weight_scale_bits`.
    pub bias: Option<Vec<i64>>,
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[dh, dw]`.
    #[serde(default = "ones", skip_serializing_if = "is_ones")]
    pub dilations: [usize; 2],
    /// Channel groups (`C_in` and `C_out` are multiples of it).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub groups: usize,
    /// Scale of the weights.
    pub weight_scale_bits: i32,
    /// `in + weight_scale_bits - out`.
    pub shift: i32,
}

/// `[n, c, h, w]` of an NCHW or NCL (height 1) shape.
pub fn nchw(shape: &[usize]) -> Option<[usize; 4]> {
    match *shape {
        [n, c, h, w] => Some([n, c, h, w]),
        [n, c, l] => Some([n, c, 1, l]),
        _ => None,
    }
}

impl Conv {
    /// Calls `f(output index, bias, terms)` for every output in row-major order; a term is
    /// `(input index, weight)` of an in-bounds input.
    pub fn for_each_output(
        &self,
        in_shape: &[usize],
        out_shape: &[usize],
        mut f: impl FnMut(usize, i64, &[(usize, i64)]),
    ) {
        let (Some([batch, ci_all, h, w]), Some([_, co, oh, ow])) = (nchw(in_shape), nchw(out_shape)) else {
            return;
        };
        let [_, ci, kh, kw] = self.weight_shape;
        let g = self.groups.max(1);
        let co_per_group = co / g;
        let (s, p, d) = (self.strides, self.pads, self.dilations);
        let mut terms = Vec::with_capacity(ci * kh * kw);
        let mut o = 0;
        for bt in 0..batch {
            for c in 0..co {
                let group = c / co_per_group.max(1);
                for i in 0..oh {
                    for j in 0..ow {
                        terms.clear();
                        for cc in 0..ci {
                            let channel = group * ci + cc;
                            for di in 0..kh {
                                let y = (i * s[0] + di * d[0]) as isize - p[0] as isize;
                                if y < 0 || y >= h as isize {
                                    continue;
                                }
                                for dj in 0..kw {
                                    let x = (j * s[1] + dj * d[1]) as isize - p[1] as isize;
                                    if x < 0 || x >= w as isize {
                                        continue;
                                    }
                                    let xi = ((bt * ci_all + channel) * h + y as usize) * w + x as usize;
                                    terms.push((xi, self.weight[((c * ci + cc) * kh + di) * kw + dj]));
                                }
                            }
                        }
                        let bias = self.bias.as_ref().map_or(0, |b| b[c]);
                        f(o, bias, &terms);
                        o += 1;
                    }
                }
            }
        }
    }
}

impl FloatOp for FloatConv {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let (s_in, s_out) = (cx.s_in[0], cx.calibrated());
        let s_w = cx.weight_scale(QuantCx::max_abs(&self.weight));
        let sh = self.weight.shape();
        let weight = self.weight.iter().map(|&v| quantize_value(v as f64, s_w)).collect();
        let bias = self.bias.as_ref().map(|b| b.iter().map(|&v| quantize_value(v as f64, s_in + s_w)).collect());
        let c = Conv {
            weight_shape: [sh[0], sh[1], sh[2], sh[3]],
            weight,
            bias,
            strides: self.window.strides,
            pads: self.window.pads,
            dilations: self.window.dilations,
            groups: self.groups,
            weight_scale_bits: s_w,
            shift: s_in + s_w - s_out,
        };
        Ok((QOpKind::Conv(c), s_out))
    }
}

impl QuantizedOp for Conv {
    const NAME: &'static str = "conv";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let [co, ci, kh, kw] = self.weight_shape;
        let (x, y) = (nchw(&cx.inputs[0].shape), nchw(&cx.output.shape));
        let (Some(x), Some(y)) = (x, y) else { return Err("input and output must be NCHW or NCL".into()) };
        let g = self.groups;
        let len = [co, ci, kh, kw].iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if len != Some(self.weight.len())
            || self.bias.as_ref().is_some_and(|b| b.len() != co)
            || self.strides.contains(&0)
            || self.dilations.contains(&0)
        {
            return Err("weight/bias length, stride or dilation".into());
        }
        if g == 0 || co % g != 0 || x[1] != ci * g || y[1] != co {
            return Err(format!(
                "channels: input {}, output {}, weight {:?}, groups {g}",
                x[1], y[1], self.weight_shape
            ));
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
        return Err(node.unsup("both operands are non-constant (only activation × constant weights)"));
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

/// Conv: 1-D or 2-D, any strides, dilations, groups and padding (3-D is refused).
pub(crate) fn import_conv(node: &Node<'_>) -> Result<Imported> {
    let x_shape = node.shape(&node.acts[0])?;
    if node.acts.len() != 1 || node.ins.first() != Some(&node.acts[0]) {
        return Err(node.unsup("the weights must be constant"));
    }
    let rank = x_shape.len();
    if rank != 3 && rank != 4 {
        return Err(node.unsup(format!("only 1-D and 2-D convolutions (input rank {rank})")));
    }
    let groups = node.attr_i("group").unwrap_or(1);
    let mut weight = node.const_array(&node.ins[1])?;
    if weight.ndim() != rank {
        return Err(node.unsup(format!("weight rank {} for input rank {rank}", weight.ndim())));
    }
    if rank == 3 {
        let s = weight.shape().to_vec();
        weight = weight.into_shape_with_order(ndarray::IxDyn(&[s[0], s[1], 1, s[2]])).expect("same length");
    }
    let ws = weight.shape().to_vec();
    if groups < 1 || x_shape[1] as i64 != ws[1] as i64 * groups || ws[0] as i64 % groups != 0 {
        return Err(node.unsup(format!("weight shape {ws:?} with group {groups} for input {x_shape:?}")));
    }
    let bias = match node.ins.get(2).filter(|s| !s.is_empty()) {
        Some(b) => Some(node.const_array(b)?.iter().copied().collect()),
        None => None,
    };
    let window = node.window_attrs([ws[2], ws[3]], &x_shape)?;
    Ok(Imported::Op(FloatOpKind::Conv(FloatConv { weight, bias, window, groups: groups as usize })))
}
