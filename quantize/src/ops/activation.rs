//! Piecewise-linear activations, exact: `Relu`, `LeakyRelu`, `PRelu`,
//! `Clip` (ReLU6 and friends), `Abs`, `Sign` (and Neg, as an affine map).
//!
//! Each output is a sign bit and a select between branches
//! (`circuits/src/layers/activation.rs`); the scale is the input's (Sign's is 0).

use serde::{Deserialize, Serialize};

use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::fixed::{quantize_value, rescale};
use crate::onnx::Node;

/// Float `max(x, 0)`.
#[derive(Clone, Debug)]
pub struct FloatRelu;

/// `y = max(x, 0)`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relu {}

impl FloatOp for FloatRelu {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::Relu(Relu {}), cx.s_in[0]))
    }
}

impl QuantizedOp for Relu {
    const NAME: &'static str = "relu";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0].iter().map(|&v| (v as i128).max(0)).collect())
    }
}

/// Float `x` if `x ≥ 0` else `alpha · x`.
#[derive(Clone, Debug)]
pub struct FloatLeakyRelu {
    /// Negative slope.
    pub alpha: f32,
}

/// `y = x` if `x ≥ 0`, else `rescale(x · alpha, alpha_scale_bits)`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakyRelu {
    /// `round(α · 2^alpha_scale_bits)`.
    pub alpha: i64,
    /// Scale of `alpha`.
    pub alpha_scale_bits: u32,
}

impl FloatOp for FloatLeakyRelu {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_a = cx.weight_scale(self.alpha.abs() as f64).max(0);
        let op = LeakyRelu { alpha: quantize_value(self.alpha as f64, s_a), alpha_scale_bits: s_a as u32 };
        Ok((QOpKind::LeakyRelu(op), cx.s_in[0]))
    }
}

impl QuantizedOp for LeakyRelu {
    const NAME: &'static str = "leaky_relu";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let s = self.alpha_scale_bits as i32;
        Ok(cx.inputs[0]
            .iter()
            .map(|&v| if v >= 0 { v as i128 } else { rescale(v as i128 * self.alpha as i128, s) })
            .collect())
    }
}

/// An element-wise op keeps its input's shape.
pub(crate) fn same_shape(cx: &ValidateCx<'_>) -> Result<(), String> {
    if cx.inputs[0].shape != cx.output.shape {
        return Err(format!("input shape {:?} differs from the output's {:?}", cx.inputs[0].shape, cx.output.shape));
    }
    Ok(())
}

pub(crate) fn import_relu(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::Relu(FloatRelu)))
}

pub(crate) fn import_leaky_relu(node: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::LeakyRelu(FloatLeakyRelu { alpha: node.attr_f("alpha").unwrap_or(0.01) })))
}

/// Float `|x|`.
#[derive(Clone, Debug)]
pub struct FloatAbs;

/// `y = |x|`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abs {}

impl FloatOp for FloatAbs {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::Abs(Abs {}), cx.s_in[0]))
    }
}

impl QuantizedOp for Abs {
    const NAME: &'static str = "abs";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0].iter().map(|&v| (v as i128).abs()).collect())
    }
}

/// Float `sign(x)`.
#[derive(Clone, Debug)]
pub struct FloatSign;

/// `y = sign(x) ∈ {−1, 0, 1}` at scale 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sign {}

impl FloatOp for FloatSign {
    fn quantize(&self, _: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::Sign(Sign {}), 0))
    }
}

impl QuantizedOp for Sign {
    const NAME: &'static str = "sign";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0].iter().map(|&v| (v as i128).signum()).collect())
    }
}

/// Float `min(max(x, lo), hi)`.
#[derive(Clone, Debug)]
pub struct FloatClip {
    /// Lower bound.
    pub lo: Option<f32>,
    /// Upper bound.
    pub hi: Option<f32>,
    /// The output's scale when the model fixes it (a QuantizeLinear/DequantizeLinear pair);
    /// else the input's.
    pub scale_bits: Option<i32>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// `y = min(max(rescale(x, shift), lo), hi)` with the bounds at the output's scale (each
/// optional); the output's scale is the input's minus `shift` (0 but for a QDQ pair).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    /// Lower bound.
    pub lo: Option<i64>,
    /// Upper bound.
    pub hi: Option<i64>,
    /// `in − out`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shift: i32,
}

impl FloatOp for FloatClip {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s_out = self.scale_bits.unwrap_or(cx.s_in[0]);
        let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
        // A bound beyond the activation range never binds.
        let q = |v: Option<f32>| {
            v.map(|v| quantize_value(v as f64, s_out) as i128).filter(|&b| (lo..=hi).contains(&b)).map(|b| b as i64)
        };
        let op = Clip { lo: q(self.lo), hi: q(self.hi), shift: cx.s_in[0] - s_out };
        Ok((QOpKind::Clip(op), s_out))
    }
}

impl QuantizedOp for Clip {
    const NAME: &'static str = "clip";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        let (lo, hi) = crate::fixed::signed_range(cx.config.act_bits);
        for b in [self.lo, self.hi].into_iter().flatten() {
            if !(lo..=hi).contains(&(b as i128)) {
                return Err(format!("bound {b} outside the activation range"));
            }
        }
        if let (Some(a), Some(b)) = (self.lo, self.hi)
            && a > b
        {
            return Err(format!("lower bound {a} above the upper bound {b}"));
        }
        same_shape(cx)
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0]
            .iter()
            .map(|&v| {
                let v = rescale(v as i128, self.shift);
                let v = self.lo.map_or(v, |l| v.max(l as i128));
                self.hi.map_or(v, |h| v.min(h as i128))
            })
            .collect())
    }
}

/// Float `x ≥ 0 ? x : slope · x` with a constant slope broadcast to `x`.
#[derive(Clone, Debug)]
pub struct FloatPRelu {
    /// Slope, rank-aligned with the input.
    pub slope: ndarray::ArrayD<f32>,
}

/// `y = x` if `x ≥ 0`, else `rescale(x · slope, slope_scale_bits)` with the constant `slope`
/// broadcast to `x`; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PRelu {
    /// Slope at `slope_scale_bits`.
    pub slope: super::elementwise::QConst,
    /// Scale of the slope.
    pub slope_scale_bits: u32,
}

impl FloatOp for FloatPRelu {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        let s = cx.weight_scale(QuantCx::max_abs(&self.slope)).max(0);
        let slope = super::elementwise::QConst {
            shape: self.slope.shape().to_vec(),
            values: self.slope.iter().map(|&v| quantize_value(v as f64, s)).collect(),
        };
        Ok((QOpKind::PRelu(PRelu { slope, slope_scale_bits: s as u32 }), cx.s_in[0]))
    }
}

impl QuantizedOp for PRelu {
    const NAME: &'static str = "prelu";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        same_shape(cx)?;
        self.slope.broadcast(&cx.output.shape).map(|_| ())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        let slopes = self.slope.index_map(cx.out_shape);
        let s = self.slope_scale_bits as i32;
        Ok(cx.inputs[0]
            .iter()
            .zip(slopes)
            .map(|(&v, i)| if v >= 0 { v as i128 } else { rescale(v as i128 * self.slope.values[i] as i128, s) })
            .collect())
    }
}

pub(crate) fn import_abs(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::Abs(FloatAbs)))
}

pub(crate) fn import_sign(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::Sign(FloatSign)))
}

/// Clip: bounds from attributes (opset < 11) or constant inputs.
pub(crate) fn import_clip(node: &Node<'_>) -> Result<Imported> {
    if node.ins.first() != Some(&node.acts[0]) || node.acts.len() != 1 {
        return Err(node.unsup("the bounds must be constants"));
    }
    let bound = |i: usize, attr: &str| -> Result<Option<f32>> {
        match node.ins.get(i).filter(|s| !s.is_empty()) {
            Some(name) => Ok(node.const_array(name)?.iter().next().copied()),
            None => Ok(node.attr_f(attr)),
        }
    };
    let (lo, hi) = (bound(1, "min")?, bound(2, "max")?);
    Ok(Imported::Op(FloatOpKind::Clip(FloatClip { lo, hi, scale_bits: None })))
}

pub(crate) fn import_prelu(node: &Node<'_>) -> Result<Imported> {
    if node.acts.len() != 1 || node.ins.first() != Some(&node.acts[0]) {
        return Err(node.unsup("the slope must be a constant"));
    }
    let x = node.shape(&node.acts[0])?;
    let mut slope = node.const_array(&node.ins[1])?;
    // ONNX broadcasts the slope unidirectionally; PyTorch's per-channel [C] slope is [C, 1, …].
    if slope.ndim() == 1 && x.len() > 2 && slope.len() == x[1] && x[x.len() - 1] != x[1] {
        let mut shape = vec![1; x.len() - 1];
        shape[0] = x[1];
        slope = slope.into_shape_with_order(ndarray::IxDyn(&shape)).expect("same length");
    }
    let slope = super::elementwise::align_rank(slope, x.len());
    if slope.shape().iter().zip(&x).any(|(&s, &d)| s != 1 && s != d) {
        return Err(node.unsup(format!("slope of shape {:?} for input {x:?}", slope.shape())));
    }
    Ok(Imported::Op(FloatOpKind::PRelu(FloatPRelu { slope })))
}

/// Neg: an affine map by −1.
pub(crate) fn import_neg(node: &Node<'_>) -> Result<Imported> {
    let rank = node.out_shape.len();
    let mul = ndarray::ArrayD::from_elem(ndarray::IxDyn(&vec![1; rank]), -1.0f32);
    Ok(Imported::Op(FloatOpKind::Affine(super::elementwise::FloatAffine { mul: Some(mul), add: None })))
}

/// The per-tensor scale and zero point of a QuantizeLinear or DequantizeLinear node.
fn qdq_params(node: &Node<'_>) -> Result<super::QdqScale> {
    if node.acts.len() != 1 || node.ins.first() != Some(&node.acts[0]) {
        return Err(node.unsup("the scale and zero point must be constants"));
    }
    let s = node.const_array(&node.ins[1])?;
    let scale = s.iter().next().copied().unwrap_or(0.0) as f64;
    if s.len() != 1 || scale.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(node.unsup(format!("a scale of shape {:?} (only one positive per-tensor scale)", s.shape())));
    }
    let zp = node.ins.get(2).filter(|z| !z.is_empty());
    let zero = match zp {
        Some(z) => node.const_array(z)?.iter().next().copied().unwrap_or(0.0) as f64,
        None => 0.0,
    };
    let range = match zp.map(|z| node.datum_type(z)).transpose()?.unwrap_or("u8") {
        "i8" => (-128.0, 127.0),
        "u8" => (0.0, 255.0),
        other => return Err(node.unsup(format!("zero point of type {other} (only int8 and uint8)"))),
    };
    Ok(super::QdqScale { scale, zero, range })
}

/// QuantizeLinear of an activation: the start of a QDQ pair (its DequantizeLinear makes
/// the op).
pub(crate) fn import_quantize(node: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Quantized(qdq_params(node)?))
}

/// DequantizeLinear of a QuantizeLinear's output: the pair
/// `(saturate(round(x / s) + z) − z) · s` is a clip to `[(q_min − z)·s, (q_max − z)·s]` of `x`
/// rounded to the grid of `s`. It is imported exactly when `s` is a power of two (as a clip
/// whose output scale is `−log₂ s`, rounding ties half up where ONNX rounds them to even),
/// else at the nearest power of two, which the model's notes say.
pub(crate) fn import_dequantize(node: &Node<'_>) -> Result<Imported> {
    let q = qdq_params(node)?;
    let Some(pair) = node.quantized(&node.acts[0]) else {
        return Err(node.unsup(
            "not the second half of a QuantizeLinear → DequantizeLinear pair (integer inputs are not supported)",
        ));
    };
    if pair.scale != q.scale || pair.zero != q.zero {
        return Err(node.unsup("a scale or zero point other than its QuantizeLinear's"));
    }
    let k = (-q.scale.log2()).round() as i32;
    let grid = (k as f64).exp2().recip();
    let lo = ((q.range.0 - q.zero) * q.scale) as f32;
    let hi = ((q.range.1 - q.zero) * q.scale) as f32;
    let clip = FloatOpKind::Clip(FloatClip { lo: Some(lo), hi: Some(hi), scale_bits: Some(k) });
    if (grid - q.scale).abs() > 1e-12 * q.scale {
        let note = format!(
            "QDQ pair at `{}`: scale {} is not a power of two; quantized at 2^-{k} = {grid} instead",
            node.name, q.scale
        );
        return Ok(Imported::Noted(clip, note));
    }
    Ok(Imported::Op(clip))
}
