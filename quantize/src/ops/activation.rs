//! Piecewise-linear activations: `Relu` and `LeakyRelu`.
//!
//! Each output is a sign bit of the input and a select between two branches
//! (`circuits/src/layers/activation.rs`); the scale is the input's.

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
