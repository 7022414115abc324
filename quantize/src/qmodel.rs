//! `QModel`: the quantized model IR that the circuit compiler consumes.
//!
//! Every tensor is fixed-point with a power-of-two scale (`scale_bits`), every
//! weight an integer, and every non-linearity an explicit table, so the model
//! means exactly one thing to the executor ([`crate::exec`]) and to the
//! circuit. The file format is versioned JSON; [`QModel::content_hash`] is the
//! keccak256 of its canonical serialization.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::error::{QuantizeError, Result};
pub use crate::ops::QOpKind;
use crate::ops::ValidateCx;
pub use crate::ops::elementwise::QConst;
pub use crate::ops::lookup::LookupFn;
pub use crate::ops::pool::Window;

/// Marker of the serialized format.
pub const QMODEL_FORMAT: &str = "zkinfer-qmodel";
/// Version of the serialized format; bumped on any change of meaning.
/// Version 2: several inputs and outputs (`inputs`, `outputs`), integer input tensors.
pub const QMODEL_VERSION: u32 = 2;

/// The largest tensor a model file may declare (2^28 elements: far beyond any provable circuit).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 28;

/// Index of a tensor in [`QModel::tensors`].
pub type TensorId = usize;

/// Bit budgets of a quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Every activation lies in `[-2^(act_bits-1), 2^(act_bits-1) - 1]`; the circuit range-checks it.
    pub act_bits: u32,
    /// Weights and constants lie in `[-2^(weight_bits-1), 2^(weight_bits-1) - 1]` (fixed columns: no
    /// range check, but larger weights widen the rescale remainders).
    pub weight_bits: u32,
    /// Calibrated maxima are mapped to at most `2^-headroom_bits` of the activation range.
    pub headroom_bits: u32,
    /// A function table (Sigmoid, Exp, Log, …) has at most `2^table_bits` entries: each is
    /// the smallest that meets the error target on its calibrated range
    /// ([`crate::ops::lookup::TABLE_ERROR`]), up to this.
    pub table_bits: u32,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig { act_bits: 16, weight_bits: 16, headroom_bits: 1, table_bits: 16 }
    }
}

impl QuantConfig {
    /// Checks the budgets are usable.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(QuantizeError::Config(m));
        if !(4..=32).contains(&self.act_bits) {
            return err(format!("act_bits {} (allowed 4..=32)", self.act_bits));
        }
        if !(2..=32).contains(&self.weight_bits) {
            return err(format!("weight_bits {} (allowed 2..=32)", self.weight_bits));
        }
        if self.headroom_bits + 2 > self.act_bits {
            return err(format!("headroom_bits {} leaves no room in {} act_bits", self.headroom_bits, self.act_bits));
        }
        if !(4..=20).contains(&self.table_bits) {
            return err(format!("table_bits {} (allowed 4..=20)", self.table_bits));
        }
        Ok(())
    }
}

/// An activation tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QTensor {
    /// ONNX tensor name.
    pub name: String,
    /// Static shape.
    pub shape: Vec<usize>,
    /// The integer `q` stands for `q · 2^-scale_bits`.
    pub scale_bits: i32,
    /// An integer-typed ONNX tensor (`int64`, `int32`, `bool`, ...): its values are the integers
    /// themselves (`scale_bits` is 0), and an input's values must be whole numbers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub integer: bool,
}

impl QTensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// An op with its place in the graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QOp {
    /// ONNX node it came from.
    pub node: String,
    /// ONNX op type(s), `+`-joined when fused.
    pub op_type: String,
    /// Input tensors.
    pub inputs: Vec<TensorId>,
    /// Output tensor.
    pub output: TensorId,
    /// What it computes.
    #[serde(flatten)]
    pub kind: QOpKind,
}

/// A quantized model: tensors, ops in execution order, and how it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QModel {
    /// Always [`QMODEL_FORMAT`].
    pub format: String,
    /// Always [`QMODEL_VERSION`] for files this build writes.
    pub version: u32,
    /// Model name.
    pub name: String,
    /// Bit budgets.
    pub config: QuantConfig,
    /// Activation tensors (inputs first).
    pub tensors: Vec<QTensor>,
    /// The model inputs, in the ONNX graph's order. Wherever a model takes one flat input (the
    /// executor, the circuit's instances, proof files, the node's jobs), it is these tensors'
    /// row-major values concatenated in this order, as EZKL flattens several inputs.
    pub inputs: Vec<TensorId>,
    /// The model outputs, in the ONNX graph's order; flattened the same way.
    pub outputs: Vec<TensorId>,
    /// Ops in execution order; each reads tensors written before it.
    pub ops: Vec<QOp>,
    /// What import and quantization changed (folds, dropped Softmax).
    pub notes: Vec<String>,
}

impl QModel {
    /// Serializes to the canonical JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("QModel serializes")
    }

    /// keccak256 of the canonical JSON form: equal models, equal hashes.
    pub fn content_hash(&self) -> [u8; 32] {
        Keccak256::digest(self.to_json()).into()
    }

    /// [`Self::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.content_hash())
    }

    /// Writes the model file.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| QuantizeError::io(path, e))
    }

    /// Reads and validates a model file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| QuantizeError::io(path, e))?;
        Self::from_json(&bytes).map_err(|reason| QuantizeError::BadQModel { path: path.to_path_buf(), reason })
    }

    /// Parses and validates model JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let h: Header = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if h.format != QMODEL_FORMAT {
            return Err(format!("format `{}`, expected `{QMODEL_FORMAT}`", h.format));
        }
        if h.version == 1 {
            return Err(format!(
                "format version 1 (before models with several inputs); this build reads version {QMODEL_VERSION}: \
                 compile the ONNX model again with `zkinfer compile`"
            ));
        }
        if h.version != QMODEL_VERSION {
            return Err(format!("format version {}, this build reads version {QMODEL_VERSION}", h.version));
        }
        let m: QModel = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        m.validate()?;
        Ok(m)
    }

    /// Structural checks: tensor ids in range, ops in dataflow order, parameter lengths.
    pub fn validate(&self) -> Result<(), String> {
        self.config.validate().map_err(|e| e.to_string())?;
        let nt = self.tensors.len();
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err("the model has no inputs or no outputs".into());
        }
        if self.inputs.iter().chain(&self.outputs).any(|&t| t >= nt) {
            return Err("input/output tensor id out of range".into());
        }
        for (i, &t) in self.inputs.iter().enumerate() {
            if self.inputs[..i].contains(&t) {
                return Err(format!("input tensor {t} is listed twice"));
            }
        }
        if let Some(t) = self.tensors.iter().find(|t| t.integer && t.scale_bits != 0) {
            return Err(format!("integer tensor `{}` has scale_bits {}, not 0", t.name, t.scale_bits));
        }
        for t in &self.tensors {
            let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if numel.is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
                return Err(format!(
                    "tensor `{}` of shape {:?} exceeds {MAX_TENSOR_ELEMENTS} elements",
                    t.name, t.shape
                ));
            }
        }
        let mut written = vec![false; nt];
        for &t in &self.inputs {
            written[t] = true;
        }
        for op in &self.ops {
            for &i in &op.inputs {
                if i >= nt || !written[i] {
                    return Err(format!("op `{}` reads tensor {i} before it is written", op.node));
                }
            }
            if op.output >= nt || written[op.output] {
                return Err(format!("op `{}` writes tensor {} twice or out of range", op.node, op.output));
            }
            written[op.output] = true;
            if op.inputs.len() != op.kind.arity() {
                return Err(format!("op `{}` has {} inputs, expected {}", op.node, op.inputs.len(), op.kind.arity()));
            }
            let cx = ValidateCx {
                inputs: op.inputs.iter().map(|&i| &self.tensors[i]).collect(),
                output: &self.tensors[op.output],
                config: &self.config,
            };
            op.kind.validate(&cx).map_err(|what| format!("op `{}`: {what}", op.node))?;
        }
        if let Some(&t) = self.outputs.iter().find(|&&t| !written[t]) {
            return Err(format!("the output tensor `{}` is never written", self.tensors[t].name));
        }
        let (n_in, n_out) = (self.input_len(), self.output_len());
        if n_in.checked_add(n_out).is_none_or(|n| n > MAX_TENSOR_ELEMENTS) {
            return Err(format!("{n_in} input and {n_out} output values exceed {MAX_TENSOR_ELEMENTS}"));
        }
        Ok(())
    }

    /// The first input tensor (the only one of a one-input model).
    pub fn input_tensor(&self) -> &QTensor {
        &self.tensors[self.inputs[0]]
    }

    /// The first output tensor (the only one of a one-output model; a classifier's scores).
    pub fn output_tensor(&self) -> &QTensor {
        &self.tensors[self.outputs[0]]
    }

    /// The input tensors, in order.
    pub fn input_tensors(&self) -> impl ExactSizeIterator<Item = &QTensor> + '_ {
        self.inputs.iter().map(|&t| &self.tensors[t])
    }

    /// The output tensors, in order.
    pub fn output_tensors(&self) -> impl ExactSizeIterator<Item = &QTensor> + '_ {
        self.outputs.iter().map(|&t| &self.tensors[t])
    }

    /// The inputs' names and shapes, in order (what [`crate::Dataset::samples`] takes).
    pub fn input_specs(&self) -> Vec<crate::onnx::TensorSpec> {
        self.input_tensors().map(|t| crate::onnx::TensorSpec { name: t.name.clone(), shape: t.shape.clone() }).collect()
    }

    /// Number of values of the flat input (all inputs' elements).
    pub fn input_len(&self) -> usize {
        self.input_tensors().map(QTensor::numel).sum()
    }

    /// Number of values of the flat output (all outputs' elements).
    pub fn output_len(&self) -> usize {
        self.output_tensors().map(QTensor::numel).sum()
    }

    /// The scale of each value of the flat input.
    pub fn input_scales(&self) -> Vec<i32> {
        self.input_tensors().flat_map(|t| std::iter::repeat_n(t.scale_bits, t.numel())).collect()
    }

    /// The scale of each value of the flat output.
    pub fn output_scales(&self) -> Vec<i32> {
        self.output_tensors().flat_map(|t| std::iter::repeat_n(t.scale_bits, t.numel())).collect()
    }

    /// Number of values of the first output: a classifier's scores, whose argmax is the prediction.
    pub fn first_output_len(&self) -> usize {
        self.tensors[self.outputs[0]].numel()
    }

    /// Whether the first output is one class index (an ArgMax/ArgMin's single element, as a
    /// language model's next token): then it is the prediction itself, not scores to argmax.
    pub fn first_output_is_index(&self) -> bool {
        self.first_output_len() == 1
            && self.ops.iter().any(|o| o.output == self.outputs[0] && matches!(o.kind, crate::QOpKind::ArgMax(_)))
    }

    /// The inputs as a `` `name` [shape], ... `` list, for messages.
    pub fn inputs_summary(&self) -> String {
        tensor_list(self.input_tensors())
    }

    /// The outputs as a `` `name` [shape], ... `` list, for messages.
    pub fn outputs_summary(&self) -> String {
        tensor_list(self.output_tensors())
    }
}

fn tensor_list<'a>(ts: impl Iterator<Item = &'a QTensor>) -> String {
    ts.map(|t| format!("`{}` {:?}", t.name, t.shape)).collect::<Vec<_>>().join(", ")
}
