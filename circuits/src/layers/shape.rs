//! Wiring ops: no rows. A reshape's output wires are its input's wires.

use super::LayerCx;
use crate::error::Result;
use crate::plan::Wire;

pub(crate) fn reshape(cx: &LayerCx<'_>) -> Result<Vec<Wire>> {
    Ok(cx.inputs[0].to_vec())
}
