//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while importing, quantizing or executing a model.
///
/// Each variant carries the context an operator needs to act on it: the ONNX
/// node and op type, the tensor, the shape, or the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuantizeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf model.
    #[error("{}: not a valid ONNX model: {reason}", path.display())]
    CorruptModel {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The ONNX graph uses an operator zkinfer cannot quantize or prove.
    #[error("unsupported ONNX op `{op}` at node `{node}`{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    UnsupportedOp {
        /// ONNX op type, e.g. `Erf`.
        op: String,
        /// ONNX node name (or its first output's name when the node is unnamed).
        node: String,
        /// Why, when the op type is known but this use of it is not supported.
        detail: String,
    },
    /// The graph is well-formed ONNX but not a shape zkinfer can handle.
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// tract failed to analyse or run the float model.
    #[error("float model (tract): {0}")]
    Tract(String),
    /// An input has the wrong number of values for the model's input shape.
    #[error("input {index}: has {got} values, but model input `{input}` has shape {shape:?} = {expected} values")]
    InputShape {
        /// Row of the input or dataset file (0-based).
        index: usize,
        /// Model input name.
        input: String,
        /// Model input shape.
        shape: Vec<usize>,
        /// Number of values the shape holds.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// A flat input has the wrong number of values for a model with several inputs.
    #[error(
        "input {index}: has {got} values, but the model's inputs {inputs} hold {expected} values \
         (all inputs' values, concatenated in this order)"
    )]
    InputsLength {
        /// Row of the input or dataset file (0-based).
        index: usize,
        /// The model's inputs, as `name [shape]`.
        inputs: String,
        /// Number of values the inputs hold.
        expected: usize,
        /// Number of values given.
        got: usize,
    },
    /// An input value the input's type cannot take (a fraction for an integer input).
    #[error("model input `{input}`, value {index}: {reason}")]
    InputValue {
        /// Model input name.
        input: String,
        /// Index of the value within that input.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An input or dataset file is not in the expected JSON shape.
    #[error("{}: {reason}", path.display())]
    BadData {
        /// The file (or `<memory>`).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// During integer execution a value left the range the circuit range-checks.
    #[error(
        "value {value} of tensor `{tensor}` (op `{node}`) is outside the {bits}-bit activation range; \
         recompile with a larger --act-bits or a calibration set that covers this input"
    )]
    ActivationOverflow {
        /// ONNX node that produced the tensor.
        node: String,
        /// Tensor name.
        tensor: String,
        /// The offending value.
        value: i128,
        /// The activation budget in bits.
        bits: u32,
    },
    /// A serialized QModel could not be read.
    #[error("{}: not a zkinfer quantized model: {reason}", path.display())]
    BadQModel {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A quantization parameter is out of its allowed range.
    #[error("invalid quantization config: {0}")]
    Config(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = QuantizeError> = std::result::Result<T, E>;

impl QuantizeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QuantizeError::Io { path: path.into(), source }
    }

    pub(crate) fn unsupported(op: &str, node: &str, detail: impl Into<String>) -> Self {
        QuantizeError::UnsupportedOp { op: op.to_string(), node: node.to_string(), detail: detail.into() }
    }
}
