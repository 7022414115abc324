//! Relu and LeakyRelu: a sign bit of the input and a select.

use zkinfer_quantize::ops::activation::LeakyRelu;

use super::LayerCx;
use crate::error::Result;
use crate::gadgets::Builder;
use crate::plan::Wire;

pub(crate) fn relu(b: &mut Builder, cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    cx.inputs[0].iter().map(|&x| b.relu(x)).collect()
}

pub(crate) fn leaky_relu(b: &mut Builder, cx: &LayerCx<'_>, op: &LeakyRelu) -> Result<Vec<Wire>> {
    cx.inputs[0].iter().map(|&x| b.leaky_relu(x, op.alpha as i128, op.alpha_scale_bits, cx.node())).collect()
}
