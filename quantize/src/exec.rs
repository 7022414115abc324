//! The integer reference executor: the exact semantics the circuit proves.
//!
//! Each op follows the doc comment of its [`QOpKind`] variant, with the
//! rounding rules of [`crate::fixed`]. Accumulators are `i128`; every output
//! value must fit the activation range ([`QuantConfig::act_bits`]) or
//! execution fails with [`QuantizeError::ActivationOverflow`] (the circuit
//! could not prove it either).
//!
//! [`QuantConfig::act_bits`]: crate::QuantConfig::act_bits

use ndarray::{ArrayD, IxDyn};

use crate::error::{QuantizeError, Result};
use crate::fixed::{div_round, floor_shift, quantize_value, rescale, signed_range};
use crate::qmodel::{QConst, QModel, QOp, QOpKind, Window};

/// Every tensor's value after one execution, indexed by tensor id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// `tensors[id]`, with the shape of `QModel::tensors[id]`.
    pub tensors: Vec<ArrayD<i64>>,
}

/// A quantized input and how many of its values were clamped to the activation range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantizedInput {
    /// Row-major values at the input's scale.
    pub values: Vec<i64>,
    /// Values that fell outside the range and were clamped.
    pub clamped: usize,
}

impl QModel {
    /// Quantizes a flattened float input: `q = ⌊x · 2^s + 1/2⌋`, clamped to the activation range.
    pub fn quantize_input(&self, x: &[f64]) -> Result<QuantizedInput> {
        let t = self.input_tensor();
        self.check_input_len(x.len())?;
        let (lo, hi) = signed_range(self.config.act_bits);
        let mut clamped = 0;
        let values = x
            .iter()
            .map(|&v| {
                let q = quantize_value(v, t.scale_bits) as i128;
                if q < lo || q > hi {
                    clamped += 1;
                }
                q.clamp(lo, hi) as i64
            })
            .collect();
        Ok(QuantizedInput { values, clamped })
    }

    /// Fails with [`QuantizeError::InputShape`] unless `len` values fill the input tensor.
    pub fn check_input_len(&self, len: usize) -> Result<()> {
        let t = self.input_tensor();
        if len == t.numel() {
            return Ok(());
        }
        Err(QuantizeError::InputShape {
            index: 0,
            input: t.name.clone(),
            shape: t.shape.clone(),
            expected: t.numel(),
            got: len,
        })
    }

    /// Runs the model on a quantized input.
    pub fn execute(&self, input: &[i64]) -> Result<Trace> {
        let t = self.input_tensor();
        self.check_input_len(input.len())?;
        let (lo, hi) = signed_range(self.config.act_bits);
        if let Some(&v) = input.iter().find(|&&v| (v as i128) < lo || (v as i128) > hi) {
            return Err(QuantizeError::ActivationOverflow {
                node: "<input>".into(),
                tensor: t.name.clone(),
                value: v as i128,
                bits: self.config.act_bits,
            });
        }
        let mut tensors: Vec<ArrayD<i64>> = self.tensors.iter().map(|t| ArrayD::zeros(IxDyn(&t.shape))).collect();
        tensors[self.input] = ArrayD::from_shape_vec(IxDyn(&t.shape), input.to_vec()).expect("length checked");
        for op in &self.ops {
            let out = self.run_op(op, &tensors)?;
            let out_t = &self.tensors[op.output];
            let values: Vec<i64> = out
                .into_iter()
                .map(|v| {
                    if v < lo || v > hi {
                        Err(QuantizeError::ActivationOverflow {
                            node: op.node.clone(),
                            tensor: out_t.name.clone(),
                            value: v,
                            bits: self.config.act_bits,
                        })
                    } else {
                        Ok(v as i64)
                    }
                })
                .collect::<Result<_>>()?;
            tensors[op.output] = ArrayD::from_shape_vec(IxDyn(&out_t.shape), values)
                .map_err(|e| QuantizeError::InvalidModel(format!("op `{}`: output shape: {e}", op.node)))?;
        }
        Ok(Trace { tensors })
    }

    /// The output of a trace as floats (`q · 2^-s`).
    pub fn dequantize_output(&self, trace: &Trace) -> Vec<f64> {
        let s = self.output_tensor().scale_bits;
        trace.tensors[self.output].iter().map(|&q| crate::fixed::dequantize_value(q, s)).collect()
    }

    /// Computes one op's output values (row-major, before the range check).
    fn run_op(&self, op: &QOp, tensors: &[ArrayD<i64>]) -> Result<Vec<i128>> {
        let x = &tensors[op.inputs[0]];
        let out_shape = &self.tensors[op.output].shape;
        let numel: usize = out_shape.iter().product();
        let bad = |m: String| QuantizeError::InvalidModel(format!("op `{}`: {m}", op.node));
        Ok(match &op.kind {
            QOpKind::Dense { k, n, weight, bias, shift, .. } => {
                let xs: Vec<i64> = x.iter().copied().collect();
                let rows = xs.len() / k;
                let mut out = Vec::with_capacity(rows * n);
                for m in 0..rows {
                    let row = &xs[m * k..(m + 1) * k];
                    for j in 0..*n {
                        let mut acc: i128 = bias.as_ref().map_or(0, |b| b[j] as i128);
                        for (kk, &xv) in row.iter().enumerate() {
                            acc += xv as i128 * weight[kk * n + j] as i128;
                        }
                        out.push(rescale(acc, *shift));
                    }
                }
                out
            }
            QOpKind::Conv { weight_shape, weight, bias, strides, pads, shift, .. } => {
                let [co, ci, kh, kw] = *weight_shape;
                let xs = x.shape();
                if xs.len() != 4 || xs[1] != ci || out_shape.len() != 4 {
                    return Err(bad(format!("input shape {xs:?} for weight {weight_shape:?}")));
                }
                let (batch, h, w) = (xs[0], xs[2] as isize, xs[3] as isize);
                let (oh, ow) = (out_shape[2], out_shape[3]);
                let mut out = Vec::with_capacity(numel);
                for b in 0..batch {
                    for c in 0..co {
                        for i in 0..oh {
                            for j in 0..ow {
                                let mut acc: i128 = bias.as_ref().map_or(0, |bb| bb[c] as i128);
                                for cc in 0..ci {
                                    for di in 0..kh {
                                        let y = (i * strides[0] + di) as isize - pads[0] as isize;
                                        if y < 0 || y >= h {
                                            continue;
                                        }
                                        for dj in 0..kw {
                                            let xx = (j * strides[1] + dj) as isize - pads[1] as isize;
                                            if xx < 0 || xx >= w {
                                                continue;
                                            }
                                            let wv = weight[((c * ci + cc) * kh + di) * kw + dj];
                                            acc += x[[b, cc, y as usize, xx as usize]] as i128 * wv as i128;
                                        }
                                    }
                                }
                                out.push(rescale(acc, *shift));
                            }
                        }
                    }
                }
                out
            }
            QOpKind::Add { sub, a_shift, b_shift, shift } => {
                let b = &tensors[op.inputs[1]];
                broadcast2(x, b, out_shape, |a, b| {
                    let a = (a as i128) << a_shift;
                    let b = (b as i128) << b_shift;
                    rescale(if *sub { a - b } else { a + b }, *shift)
                })
                .map_err(bad)?
            }
            QOpKind::Mul { shift } => {
                let b = &tensors[op.inputs[1]];
                broadcast2(x, b, out_shape, |a, b| rescale(a as i128 * b as i128, *shift)).map_err(bad)?
            }
            QOpKind::Affine { mul, add, shift, .. } => {
                let m = mul.as_ref().map(|c| const_array(c, out_shape)).transpose().map_err(bad)?;
                let a = add.as_ref().map(|c| const_array(c, out_shape)).transpose().map_err(bad)?;
                x.indexed_iter()
                    .map(|(idx, &v)| {
                        let mv = m.as_ref().map_or(1, |m| m[idx.clone()] as i128);
                        let av = a.as_ref().map_or(0, |a| a[idx.clone()] as i128);
                        rescale(v as i128 * mv + av, *shift)
                    })
                    .collect()
            }
            QOpKind::Relu => x.iter().map(|&v| (v as i128).max(0)).collect(),
            QOpKind::LeakyRelu { alpha, alpha_scale_bits } => x
                .iter()
                .map(
                    |&v| if v >= 0 { v as i128 } else { rescale(v as i128 * *alpha as i128, *alpha_scale_bits as i32) },
                )
                .collect(),
            QOpKind::Lookup { in_shift, table, .. } => {
                let offset = 1i128 << (self.config.table_bits - 1);
                x.iter()
                    .map(|&v| {
                        let idx = floor_shift(v as i128, *in_shift) + offset;
                        table.get(idx as usize).map(|&t| t as i128).ok_or_else(|| bad(format!("table index {idx}")))
                    })
                    .collect::<Result<_>>()?
            }
            QOpKind::AvgPool { window, count_include_pad } => pool(x, out_shape, window, |vals, size| {
                let count = if *count_include_pad { size } else { vals.len() };
                div_round(vals.iter().map(|&v| v as i128).sum(), count.max(1) as i128)
            })
            .map_err(bad)?,
            QOpKind::MaxPool { window } => {
                pool(x, out_shape, window, |vals, _| vals.iter().copied().max().unwrap_or(0) as i128).map_err(bad)?
            }
            QOpKind::GlobalAvgPool => {
                let xs = x.shape();
                if xs.len() != 4 {
                    return Err(bad(format!("input shape {xs:?}")));
                }
                let hw = xs[2] * xs[3];
                let flat: Vec<i64> = x.iter().copied().collect();
                flat.chunks(hw.max(1)).map(|c| div_round(c.iter().map(|&v| v as i128).sum(), hw as i128)).collect()
            }
            QOpKind::Reshape => {
                if x.len() != numel {
                    return Err(bad(format!("reshape of {} values into {out_shape:?}", x.len())));
                }
                x.iter().map(|&v| v as i128).collect()
            }
        })
    }
}

/// A constant broadcast to `shape`.
fn const_array(c: &QConst, shape: &[usize]) -> Result<ArrayD<i64>, String> {
    let a = ArrayD::from_shape_vec(IxDyn(&c.shape), c.values.clone()).map_err(|e| e.to_string())?;
    a.broadcast(IxDyn(shape))
        .map(|v| v.to_owned())
        .ok_or_else(|| format!("constant of shape {:?} does not broadcast to {shape:?}", c.shape))
}

/// Applies `f` elementwise to `a` and `b` broadcast to `shape`.
fn broadcast2(
    a: &ArrayD<i64>,
    b: &ArrayD<i64>,
    shape: &[usize],
    f: impl Fn(i64, i64) -> i128,
) -> Result<Vec<i128>, String> {
    let av = a.broadcast(IxDyn(shape)).ok_or_else(|| format!("{:?} does not broadcast to {shape:?}", a.shape()))?;
    let bv = b.broadcast(IxDyn(shape)).ok_or_else(|| format!("{:?} does not broadcast to {shape:?}", b.shape()))?;
    Ok(av.iter().zip(bv.iter()).map(|(&x, &y)| f(x, y)).collect())
}

/// Window reduction over NCHW: `f(in-bounds values, full window size)`.
fn pool(
    x: &ArrayD<i64>,
    out_shape: &[usize],
    window: &Window,
    f: impl Fn(&[i64], usize) -> i128,
) -> Result<Vec<i128>, String> {
    let Window { kernel, strides, pads } = *window;
    let xs = x.shape();
    if xs.len() != 4 || out_shape.len() != 4 {
        return Err(format!("pooling needs NCHW, got {xs:?}"));
    }
    let (h, w) = (xs[2] as isize, xs[3] as isize);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    let mut vals = Vec::with_capacity(kernel[0] * kernel[1]);
    for b in 0..xs[0] {
        for c in 0..xs[1] {
            for i in 0..out_shape[2] {
                for j in 0..out_shape[3] {
                    vals.clear();
                    for di in 0..kernel[0] {
                        let y = (i * strides[0] + di) as isize - pads[0] as isize;
                        for dj in 0..kernel[1] {
                            let xx = (j * strides[1] + dj) as isize - pads[1] as isize;
                            if y >= 0 && y < h && xx >= 0 && xx < w {
                                vals.push(x[[b, c, y as usize, xx as usize]]);
                            }
                        }
                    }
                    out.push(f(&vals, kernel[0] * kernel[1]));
                }
            }
        }
    }
    Ok(out)
}
