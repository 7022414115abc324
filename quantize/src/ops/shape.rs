//! Wiring: ops that move values without computing (`Reshape` for Flatten,
//! Reshape, Squeeze, Unsqueeze), and nodes that vanish at import (Identity,
//! Dropout in inference, a final Softmax). They cost no rows: the circuit
//! reuses the input's wires (`circuits/src/layers/shape.rs`).

use serde::{Deserialize, Serialize};

use super::{ExecCx, FloatOp, FloatOpKind, Imported, QOpKind, QuantCx, QuantizedOp, ValidateCx};
use crate::error::Result;
use crate::onnx::Node;

/// Float: same values, new shape.
#[derive(Clone, Debug)]
pub struct FloatReshape;

/// Same values in row-major order, the output tensor's shape; same scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {}

impl FloatOp for FloatReshape {
    fn quantize(&self, cx: &QuantCx<'_>) -> Result<(QOpKind, i32)> {
        Ok((QOpKind::Reshape(Reshape {}), cx.s_in[0]))
    }
}

impl QuantizedOp for Reshape {
    const NAME: &'static str = "reshape";

    fn validate(&self, cx: &ValidateCx<'_>) -> Result<(), String> {
        if cx.inputs[0].numel() != cx.output.numel() {
            return Err(format!("reshape of {:?} into {:?}", cx.inputs[0].shape, cx.output.shape));
        }
        Ok(())
    }

    fn exec(&self, cx: &ExecCx<'_>) -> Result<Vec<i128>, String> {
        Ok(cx.inputs[0].iter().map(|&v| v as i128).collect())
    }
}

pub(crate) fn import_reshape(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Op(FloatOpKind::Reshape(FloatReshape)))
}

pub(crate) fn import_identity(_: &Node<'_>) -> Result<Imported> {
    Ok(Imported::Alias(None))
}

/// Softmax as the model's final op is dropped: it preserves the argmax, and the proof
/// covers its input.
pub(crate) fn import_final_softmax(node: &Node<'_>) -> Result<Imported> {
    if !node.is_graph_output {
        return Err(node.unsup("Softmax is supported only as the final op (it is dropped: argmax is preserved)"));
    }
    Ok(Imported::Alias(Some(format!(
        "final Softmax `{}` dropped: the proof covers its input `{}` (argmax is preserved)",
        node.name, node.acts[0]
    ))))
}
