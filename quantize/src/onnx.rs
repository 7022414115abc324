//! ONNX import: an ONNX file becomes a [`FloatModel`], a small graph of the
//! ops zkinfer can prove, with float weights.
//!
//! tract-onnx parses the protobuf and runs shape inference and constant
//! folding over the whole graph; every node whose outputs tract can compute
//! without the input (shape arithmetic, `Constant`, casts of initializers)
//! is folded away. Each remaining node must map to a [`FloatOpKind`]; any
//! other op fails with [`QuantizeError::UnsupportedOp`] naming the op type and
//! the node. Affine ops that follow a linear op (BatchNormalization, a bias
//! `Add` after `MatMul`) are folded into its weights.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use tract_onnx::pb;
use tract_onnx::prelude::{Datum, InferenceFact, InferenceModel, InferenceModelExt, OutletId, Tensor};
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::{QuantizeError, Result};
use crate::qmodel::Window;

/// Name and static shape of a tensor.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TensorSpec {
    /// ONNX tensor name.
    pub name: String,
    /// Static shape (symbolic dims such as a batch `N` are fixed to 1).
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One provable op of a [`FloatModel`].
#[derive(Clone, Debug)]
pub struct FloatOp {
    /// ONNX node name of the node this op came from (the first, when several were fused).
    pub node: String,
    /// ONNX op type(s), `+`-joined when several nodes were fused (e.g. `Conv+BatchNormalization`).
    pub op_type: String,
    /// Activation inputs (tensor names); constants live inside [`FloatOpKind`].
    pub inputs: Vec<String>,
    /// Output tensor.
    pub output: TensorSpec,
    /// What the op computes.
    pub kind: FloatOpKind,
}

/// The op set zkinfer quantizes and proves, with float parameters.
#[derive(Clone, Debug)]
pub enum FloatOpKind {
    /// `y[.., n] = Σ_k x[.., k] · weight[k, n] + bias[n]` (Gemm, MatMul with a constant right operand).
    Dense {
        /// `[K, N]`.
        weight: ArrayD<f32>,
        /// `[N]`.
        bias: Option<Vec<f32>>,
    },
    /// 2-D convolution, NCHW, group 1, dilation 1.
    Conv {
        /// `[C_out, C_in, kh, kw]`.
        weight: ArrayD<f32>,
        /// `[C_out]`.
        bias: Option<Vec<f32>>,
        /// `[sh, sw]`.
        strides: [usize; 2],
        /// `[top, left, bottom, right]`.
        pads: [usize; 4],
    },
    /// `y = a + b` or `y = a - b`, both activations (numpy broadcasting).
    Add {
        /// Subtract instead of add.
        sub: bool,
    },
    /// `y = a · b`, both activations (numpy broadcasting).
    Mul,
    /// `y = x · mul + add` with constants broadcast to `x`'s shape (Mul/Add/Sub/Div
    /// by a constant, BatchNormalization not fused into a linear op).
    Affine {
        /// Multiplier, rank-aligned with the output (leading 1s).
        mul: Option<ArrayD<f32>>,
        /// Addend, rank-aligned with the output.
        add: Option<ArrayD<f32>>,
    },
    /// `max(x, 0)`.
    Relu,
    /// `x` if `x ≥ 0` else `alpha · x`.
    LeakyRelu {
        /// Negative slope.
        alpha: f32,
    },
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// Average over `kernel` windows, NCHW.
    AvgPool {
        /// Kernel, strides and padding.
        window: Window,
        /// Divide by the full window size even where it overlaps padding.
        count_include_pad: bool,
    },
    /// Maximum over `kernel` windows, NCHW (padding never wins).
    MaxPool {
        /// Kernel, strides and padding.
        window: Window,
    },
    /// Mean over H and W, NCHW → `[N, C, 1, 1]`.
    GlobalAvgPool,
    /// Same values, new shape (Flatten, Reshape, Squeeze, Unsqueeze).
    Reshape,
}

/// A float model reduced to provable ops, plus the tract graph that runs it.
#[derive(Clone, Debug)]
pub struct FloatModel {
    /// Model name (the ONNX graph name, or the file stem).
    pub name: String,
    /// The single model input.
    pub input: TensorSpec,
    /// The tensor the quantized model outputs (before a dropped final Softmax).
    pub output: TensorSpec,
    /// Ops in execution order.
    pub ops: Vec<FloatOp>,
    /// What the import changed, for the report (folds, dropped Softmax, batch size).
    pub notes: Vec<String>,
    pub(crate) tract: InferenceModel,
    pub(crate) outlets: HashMap<String, OutletId>,
}

/// Options for [`import_onnx`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Input shape to use instead of the one declared in the file (required when it is symbolic
    /// in more than the batch dimension).
    pub input_shape: Option<Vec<usize>>,
}

/// ONNX ops that may appear as runtime ops.
pub const SUPPORTED_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Conv",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "AveragePool",
    "MaxPool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "BatchNormalization",
    "Softmax",
    "Identity",
    "Dropout",
];

/// ONNX ops accepted only when tract folds them into constants (shape arithmetic).
const FOLDABLE_OPS: &[&str] = &[
    "Constant",
    "Shape",
    "Gather",
    "Concat",
    "Cast",
    "Slice",
    "ConstantOfShape",
    "Range",
    "Transpose",
    "Size",
    "Expand",
];

/// The name tract gives a node: its own, else its first output's.
fn node_name(node: &pb::NodeProto, index: usize) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else if let Some(o) = node.output.first().filter(|o| !o.is_empty()) {
        o.clone()
    } else {
        format!("#{index}:{}", node.op_type)
    }
}

/// Reads an ONNX file and reduces it to a [`FloatModel`].
pub fn import_onnx(path: &Path, opts: &ImportOptions) -> Result<FloatModel> {
    let bytes = std::fs::read(path).map_err(|e| QuantizeError::io(path, e))?;
    import_onnx_bytes(&bytes, path, opts)
}

/// Like [`import_onnx`] on bytes in memory; `path` names the source in errors and
/// its parent directory resolves external tensor data.
pub fn import_onnx_bytes(bytes: &[u8], path: &Path, opts: &ImportOptions) -> Result<FloatModel> {
    use prost::Message;
    let corrupt = |reason: String| QuantizeError::CorruptModel { path: path.to_path_buf(), reason };
    let proto = pb::ModelProto::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let graph = proto.graph.as_ref().ok_or_else(|| corrupt("the file holds no graph".into()))?;
    if graph.node.is_empty() {
        return Err(corrupt("the graph has no nodes".into()));
    }

    // Refuse unknown ops before tract sees them, naming the first one.
    for (i, node) in graph.node.iter().enumerate() {
        let op = node.op_type.as_str();
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(QuantizeError::unsupported(
                op,
                &node_name(node, i),
                format!("custom domain `{}`", node.domain),
            ));
        }
        if !SUPPORTED_OPS.contains(&op) && !FOLDABLE_OPS.contains(&op) {
            return Err(QuantizeError::unsupported(op, &node_name(node, i), ""));
        }
    }

    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    if inputs.len() != 1 {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(QuantizeError::InvalidModel(format!(
            "the model has {} inputs {names:?}; zkinfer supports exactly one",
            inputs.len()
        )));
    }
    if graph.output.len() != 1 {
        return Err(QuantizeError::InvalidModel(format!(
            "the model has {} outputs; zkinfer supports exactly one",
            graph.output.len()
        )));
    }
    let mut notes = vec![];
    let input_name = inputs[0].name.clone();
    let input_shape = match &opts.input_shape {
        Some(s) => s.clone(),
        None => declared_shape(inputs[0], &mut notes)?,
    };

    let dir = path.parent().and_then(|p| p.to_str()).filter(|s| !s.is_empty());
    let parsed = tract_onnx::onnx().parse(&proto, dir).map_err(|e| tract_err("parsing the graph", e))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(QuantizeError::InvalidModel(format!(
            "tensors used but never defined: {:?}",
            parsed.unresolved_inputs
        )));
    }
    let mut tract = parsed.model;
    let outlets = parsed.outlets_by_name;
    tract
        .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), input_shape.clone()))
        .map_err(|e| tract_err("setting the input shape", e))?;
    tract.analyse(false).map_err(|e| tract_err("shape inference", e))?;

    let name = if graph.name.is_empty() {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    } else {
        graph.name.clone()
    };
    let mut b = Builder {
        tract: &tract,
        outlets: &outlets,
        alias: HashMap::new(),
        activations: HashSet::from([input_name.clone()]),
        ops: vec![],
        notes,
    };
    let graph_output = graph.output[0].name.clone();
    for (i, node) in graph.node.iter().enumerate() {
        b.node(node, &node_name(node, i), &graph_output)?;
    }
    let out_name = b.resolve(&graph_output);
    if out_name == input_name {
        return Err(QuantizeError::InvalidModel("the model output is its input; nothing to prove".into()));
    }
    if !b.activations.contains(&out_name) {
        return Err(QuantizeError::InvalidModel(format!(
            "the model output `{graph_output}` does not depend on the input"
        )));
    }
    let mut ops = b.ops;
    let mut notes = b.notes;
    fold_affine_into_linear(&mut ops, &out_name, &mut notes);
    let output_shape = ops
        .iter()
        .find(|o| o.output.name == out_name)
        .map(|o| o.output.shape.clone())
        .ok_or_else(|| QuantizeError::InvalidModel(format!("no op produces `{out_name}`")))?;
    Ok(FloatModel {
        name,
        input: TensorSpec { name: input_name, shape: input_shape },
        output: TensorSpec { name: out_name, shape: output_shape },
        ops,
        notes,
        tract,
        outlets,
    })
}

fn tract_err(stage: &str, e: impl std::fmt::Debug) -> QuantizeError {
    // tract errors are anyhow chains; `{:?}` prints the whole chain.
    QuantizeError::Tract(format!("{stage}: {e:?}"))
}

fn declared_shape(input: &pb::ValueInfoProto, notes: &mut Vec<String>) -> Result<Vec<usize>> {
    let missing = || {
        QuantizeError::InvalidModel(format!(
            "input `{}` declares no tensor shape; pass the input shape explicitly",
            input.name
        ))
    };
    let Some(pb::type_proto::Value::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(missing());
    };
    let shape = t.shape.as_ref().ok_or_else(missing)?;
    let mut dims = vec![];
    for (i, d) in shape.dim.iter().enumerate() {
        match &d.value {
            Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => dims.push(*v as usize),
            _ if i == 0 => {
                notes.push(format!("input `{}`: symbolic batch dimension fixed to 1", input.name));
                dims.push(1);
            }
            _ => {
                return Err(QuantizeError::InvalidModel(format!(
                    "input `{}` dimension {i} is symbolic; pass the input shape explicitly",
                    input.name
                )));
            }
        }
    }
    Ok(dims)
}

struct Builder<'a> {
    tract: &'a InferenceModel,
    outlets: &'a HashMap<String, OutletId>,
    /// Tensor renamings from Identity, Dropout and a dropped Softmax.
    alias: HashMap<String, String>,
    /// Tensors that depend on the model input.
    activations: HashSet<String>,
    ops: Vec<FloatOp>,
    notes: Vec<String>,
}

/// Reads an int attribute.
fn attr_i(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}
fn attr_f(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}
fn attr_ints(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone())
}
fn attr_s(node: &pb::NodeProto, name: &str) -> Option<String> {
    node.attribute.iter().find(|a| a.name == name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

impl Builder<'_> {
    fn resolve(&self, name: &str) -> String {
        let mut n = name.to_string();
        while let Some(a) = self.alias.get(&n) {
            n = a.clone();
        }
        n
    }

    fn fact(&self, tensor: &str) -> Option<&InferenceFact> {
        self.outlets.get(tensor).and_then(|o| self.tract.outlet_fact(*o).ok())
    }

    fn konst(&self, tensor: &str) -> Option<Arc<Tensor>> {
        self.fact(tensor).and_then(|f| f.value.concretize())
    }

    fn shape(&self, tensor: &str, node: &str) -> Result<Vec<usize>> {
        self.fact(tensor).and_then(|f| f.shape.as_concrete_finite().ok().flatten()).map(|s| s.to_vec()).ok_or_else(
            || QuantizeError::InvalidModel(format!("shape of tensor `{tensor}` (node `{node}`) could not be inferred")),
        )
    }

    fn const_array(&self, tensor: &str, node: &pb::NodeProto, name: &str) -> Result<ArrayD<f32>> {
        let t = self.konst(tensor).ok_or_else(|| {
            QuantizeError::unsupported(&node.op_type, name, format!("input `{tensor}` must be a constant"))
        })?;
        tensor_to_array(&t).map_err(|e| QuantizeError::InvalidModel(format!("constant `{tensor}`: {e}")))
    }

    fn node(&mut self, node: &pb::NodeProto, name: &str, graph_output: &str) -> Result<()> {
        let outputs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
        let Some(out) = outputs.first().map(|s| s.to_string()) else {
            return Ok(());
        };
        // Folded by tract: all outputs are known without the input.
        if outputs.iter().all(|o| self.konst(o).is_some()) {
            return Ok(());
        }
        let op = node.op_type.as_str();
        let ins: Vec<String> =
            node.input.iter().map(|i| if i.is_empty() { String::new() } else { self.resolve(i) }).collect();
        let is_act = |t: &str| self.activations.contains(t);
        let acts: Vec<String> = ins.iter().filter(|i| !i.is_empty() && is_act(i)).cloned().collect();
        if acts.is_empty() {
            // Not constant for tract yet independent of the input: unknowable statically.
            return Err(QuantizeError::unsupported(op, name, "its value could not be computed at import"));
        }
        if FOLDABLE_OPS.contains(&op) {
            return Err(QuantizeError::unsupported(op, name, "supported only on constants (shape arithmetic)"));
        }
        // Extra outputs of a runtime op (Dropout mask, MaxPool indices, BatchNorm stats) must be unused.
        let out_shape = self.shape(&out, name)?;
        let unsup = |detail: String| QuantizeError::unsupported(op, name, detail);
        let kind = match op {
            "Identity" | "Dropout" => {
                self.alias.insert(out.clone(), acts[0].clone());
                self.activations.insert(out);
                return Ok(());
            }
            "Softmax" => {
                if node.output[0] != graph_output {
                    return Err(unsup(
                        "Softmax is supported only as the final op (it is dropped: argmax is preserved)".into(),
                    ));
                }
                self.notes.push(format!(
                    "final Softmax `{name}` dropped: the proof covers its input `{}` (argmax is preserved)",
                    acts[0]
                ));
                self.alias.insert(out.clone(), acts[0].clone());
                self.activations.insert(out);
                return Ok(());
            }
            "Gemm" => {
                if attr_i(node, "transA").unwrap_or(0) != 0 {
                    return Err(unsup("transA=1 is not supported".into()));
                }
                if ins.first() != Some(&acts[0]) || acts.len() != 1 {
                    return Err(unsup("operand A must be the only non-constant input".into()));
                }
                let alpha = attr_f(node, "alpha").unwrap_or(1.0);
                let beta = attr_f(node, "beta").unwrap_or(1.0);
                let b = self.const_array(&ins[1], node, name)?;
                if b.ndim() != 2 {
                    return Err(unsup(format!("B has rank {}, expected 2", b.ndim())));
                }
                let mut w = if attr_i(node, "transB").unwrap_or(0) != 0 { b.t().to_owned() } else { b };
                w.mapv_inplace(|v| v * alpha);
                let n = w.shape()[1];
                let bias = match ins.get(2).filter(|s| !s.is_empty()) {
                    None => None,
                    Some(c) => {
                        let c = self.const_array(c, node, name)?;
                        let per_column = c.len() == n && c.shape().last() == Some(&n);
                        let scalar = c.len() == 1;
                        if !(per_column || scalar) {
                            return Err(unsup(format!("bias C of shape {:?} (only [N] or [1, N])", c.shape())));
                        }
                        Some(
                            (0..n)
                                .map(|j| {
                                    beta * if scalar {
                                        c.iter().next().copied().unwrap_or(0.0)
                                    } else {
                                        c.iter().nth(j).copied().unwrap_or(0.0)
                                    }
                                })
                                .collect(),
                        )
                    }
                };
                FloatOpKind::Dense { weight: w.into_dyn(), bias }
            }
            "MatMul" => {
                if acts.len() == 2 {
                    return Err(unsup("both operands are non-constant (only activation × constant weights)".into()));
                }
                if ins[0] != acts[0] {
                    return Err(unsup("the constant is the left operand (only activation × constant weights)".into()));
                }
                let w = self.const_array(&ins[1], node, name)?;
                if w.ndim() != 2 {
                    return Err(unsup(format!("constant operand has rank {}, expected 2", w.ndim())));
                }
                FloatOpKind::Dense { weight: w, bias: None }
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                if acts.len() == 2 {
                    match op {
                        "Add" => FloatOpKind::Add { sub: false },
                        "Sub" => FloatOpKind::Add { sub: true },
                        "Mul" => FloatOpKind::Mul,
                        _ => return Err(unsup("division by a non-constant tensor".into())),
                    }
                } else {
                    let x_first = ins[0] == acts[0];
                    let c_name = if x_first { &ins[1] } else { &ins[0] };
                    let x_shape = self.shape(&acts[0], name)?;
                    if x_shape != out_shape {
                        return Err(unsup(format!(
                            "the constant broadcasts the activation from {x_shape:?} to {out_shape:?}"
                        )));
                    }
                    let c = align_rank(self.const_array(c_name, node, name)?, out_shape.len());
                    match (op, x_first) {
                        ("Add", _) => FloatOpKind::Affine { mul: None, add: Some(c) },
                        ("Sub", true) => FloatOpKind::Affine { mul: None, add: Some(c.mapv(|v| -v)) },
                        ("Sub", false) => FloatOpKind::Affine {
                            mul: Some(ArrayD::from_elem(IxDyn(&vec![1; out_shape.len()]), -1.0)),
                            add: Some(c),
                        },
                        ("Mul", _) => FloatOpKind::Affine { mul: Some(c), add: None },
                        ("Div", true) => {
                            if c.iter().any(|v| *v == 0.0) {
                                return Err(unsup("division by a constant that contains 0".into()));
                            }
                            FloatOpKind::Affine { mul: Some(c.mapv(|v| 1.0 / v)), add: None }
                        }
                        _ => return Err(unsup("a constant divided by an activation".into())),
                    }
                }
            }
            "Conv" => {
                let x_shape = self.shape(&acts[0], name)?;
                if x_shape.len() != 4 {
                    return Err(unsup(format!("only 2-D convolutions (input rank {})", x_shape.len())));
                }
                if attr_i(node, "group").unwrap_or(1) != 1 {
                    return Err(unsup("group != 1".into()));
                }
                if attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|v| *v != 1)) {
                    return Err(unsup("dilations != 1".into()));
                }
                let weight = self.const_array(&ins[1], node, name)?;
                if weight.ndim() != 4 || weight.shape()[1] != x_shape[1] {
                    return Err(unsup(format!("weight shape {:?} for input {x_shape:?}", weight.shape())));
                }
                let kernel = [weight.shape()[2], weight.shape()[3]];
                let bias = match ins.get(2).filter(|s| !s.is_empty()) {
                    Some(b) => Some(self.const_array(b, node, name)?.iter().copied().collect()),
                    None => None,
                };
                let (strides, pads) = window_attrs(node, kernel, &x_shape).map_err(unsup)?;
                FloatOpKind::Conv { weight, bias, strides, pads }
            }
            "Relu" => FloatOpKind::Relu,
            "LeakyRelu" => FloatOpKind::LeakyRelu { alpha: attr_f(node, "alpha").unwrap_or(0.01) },
            "Sigmoid" => FloatOpKind::Sigmoid,
            "Tanh" => FloatOpKind::Tanh,
            "AveragePool" | "MaxPool" => {
                let x_shape = self.shape(&acts[0], name)?;
                if x_shape.len() != 4 {
                    return Err(unsup(format!("only 2-D pooling (input rank {})", x_shape.len())));
                }
                if attr_i(node, "ceil_mode").unwrap_or(0) != 0 {
                    return Err(unsup("ceil_mode=1".into()));
                }
                if attr_ints(node, "dilations").is_some_and(|d| d.iter().any(|v| *v != 1)) {
                    return Err(unsup("dilations != 1".into()));
                }
                if outputs.len() > 1 {
                    return Err(unsup("the indices output".into()));
                }
                let k = attr_ints(node, "kernel_shape").unwrap_or_default();
                if k.len() != 2 || k.iter().any(|v| *v <= 0) {
                    return Err(unsup(format!("kernel_shape {k:?}")));
                }
                let kernel = [k[0] as usize, k[1] as usize];
                let (strides, pads) = window_attrs(node, kernel, &x_shape).map_err(unsup)?;
                let window = Window { kernel, strides, pads };
                if op == "MaxPool" {
                    FloatOpKind::MaxPool { window }
                } else {
                    let count_include_pad = attr_i(node, "count_include_pad").unwrap_or(0) != 0;
                    FloatOpKind::AvgPool { window, count_include_pad }
                }
            }
            "GlobalAveragePool" => {
                if self.shape(&acts[0], name)?.len() != 4 {
                    return Err(unsup("only NCHW inputs".into()));
                }
                FloatOpKind::GlobalAvgPool
            }
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => FloatOpKind::Reshape,
            "BatchNormalization" => {
                if outputs.len() > 1 {
                    return Err(unsup("training-mode outputs".into()));
                }
                let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
                let get = |i: usize| -> Result<Vec<f32>> {
                    Ok(self
                        .const_array(ins.get(i).map(String::as_str).unwrap_or(""), node, name)?
                        .iter()
                        .copied()
                        .collect())
                };
                let (scale, bias, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
                let c = out_shape.get(1).copied().unwrap_or(0);
                if out_shape.len() < 2 || [&scale, &bias, &mean, &var].iter().any(|v| v.len() != c) {
                    return Err(unsup(format!("parameters do not match {c} channels")));
                }
                let mut shape = vec![1; out_shape.len()];
                shape[1] = c;
                let mul: Vec<f32> = (0..c).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
                let add: Vec<f32> = (0..c).map(|i| bias[i] - mean[i] * mul[i]).collect();
                let arr = |v: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&shape), v).expect("shape holds c values");
                FloatOpKind::Affine { mul: Some(arr(mul)), add: Some(arr(add)) }
            }
            other => return Err(QuantizeError::unsupported(other, name, "")),
        };
        self.activations.insert(out.clone());
        self.ops.push(FloatOp {
            node: name.to_string(),
            op_type: op.to_string(),
            inputs: acts,
            output: TensorSpec { name: out, shape: out_shape },
            kind,
        });
        Ok(())
    }
}

/// Strides and explicit pads of a Conv/Pool node, resolving `auto_pad`.
fn window_attrs(
    node: &pb::NodeProto,
    kernel: [usize; 2],
    x_shape: &[usize],
) -> Result<([usize; 2], [usize; 4]), String> {
    let s = attr_ints(node, "strides").unwrap_or_else(|| vec![1, 1]);
    if s.len() != 2 || s.iter().any(|v| *v <= 0) {
        return Err(format!("strides {s:?}"));
    }
    let strides = [s[0] as usize, s[1] as usize];
    let auto = attr_s(node, "auto_pad").unwrap_or_default();
    let pads = match auto.as_str() {
        "" | "NOTSET" => {
            let p = attr_ints(node, "pads").unwrap_or_else(|| vec![0; 4]);
            if p.len() != 4 || p.iter().any(|v| *v < 0) {
                return Err(format!("pads {p:?}"));
            }
            [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize]
        }
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = [0; 4];
            for d in 0..2 {
                let input = x_shape[2 + d];
                let out = input.div_ceil(strides[d]);
                let total = ((out - 1) * strides[d] + kernel[d]).saturating_sub(input);
                let (small, big) = (total / 2, total - total / 2);
                let (begin, end) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
                pads[d] = begin;
                pads[d + 2] = end;
            }
            pads
        }
        other => return Err(format!("auto_pad {other}")),
    };
    Ok((strides, pads))
}

/// Prepends 1s so `a` has `rank` dims (numpy broadcasting alignment).
fn align_rank(a: ArrayD<f32>, rank: usize) -> ArrayD<f32> {
    if a.ndim() >= rank {
        return a;
    }
    let mut shape = vec![1; rank - a.ndim()];
    shape.extend_from_slice(a.shape());
    a.into_shape_with_order(IxDyn(&shape)).expect("same number of elements")
}

/// Converts a tract constant to an f32 array.
pub(crate) fn tensor_to_array(t: &Tensor) -> Result<ArrayD<f32>, String> {
    let t = t.cast_to::<f32>().map_err(|e| format!("{e:?}"))?;
    let view = t.to_plain_array_view::<f32>().map_err(|e| format!("{e:?}"))?;
    Ok(view.to_owned())
}

/// Folds `Affine` ops into the linear op (Dense/Conv) that feeds them when the
/// constants are per output channel and nothing else reads the linear op's output.
fn fold_affine_into_linear(ops: &mut Vec<FloatOp>, model_output: &str, notes: &mut Vec<String>) {
    let mut i = 1;
    while i < ops.len() {
        let (head, tail) = ops.split_at_mut(i);
        let prev = &mut head[i - 1];
        let cur = &tail[0];
        let readers = tail.iter().filter(|o| o.inputs.contains(&prev.output.name)).count();
        let foldable = matches!(cur.kind, FloatOpKind::Affine { .. })
            && cur.inputs == [prev.output.name.clone()]
            && readers == 1
            && prev.output.name != model_output;
        if foldable && try_fold(prev, cur) {
            notes.push(format!("`{}` ({}) folded into `{}`", cur.node, cur.op_type, prev.node));
            prev.op_type = format!("{}+{}", prev.op_type, cur.op_type);
            prev.output = cur.output.clone();
            ops.remove(i);
        } else {
            i += 1;
        }
    }
}

/// Per-channel values of `c` along `axis` of a rank-aligned constant, if it varies only there.
fn per_channel(c: &ArrayD<f32>, axis: usize, channels: usize) -> Option<Vec<f32>> {
    if c.shape().iter().enumerate().any(|(d, &n)| n != 1 && d != axis) {
        return None;
    }
    let v: Vec<f32> = c.iter().copied().collect();
    match v.len() {
        1 => Some(vec![v[0]; channels]),
        n if n == channels => Some(v),
        _ => None,
    }
}

fn try_fold(prev: &mut FloatOp, cur: &FloatOp) -> bool {
    let FloatOpKind::Affine { mul, add } = &cur.kind else { return false };
    let rank = prev.output.shape.len();
    let (axis, channels) = match &prev.kind {
        FloatOpKind::Dense { weight, .. } => (rank - 1, weight.shape()[1]),
        FloatOpKind::Conv { weight, .. } => (1, weight.shape()[0]),
        _ => return false,
    };
    let m = match mul {
        Some(m) => match per_channel(m, axis, channels) {
            Some(v) => v,
            None => return false,
        },
        None => vec![1.0; channels],
    };
    let a = match add {
        Some(a) => match per_channel(a, axis, channels) {
            Some(v) => v,
            None => return false,
        },
        None => vec![0.0; channels],
    };
    let (weight, bias, out_axis) = match &mut prev.kind {
        FloatOpKind::Dense { weight, bias } => (weight, bias, 1),
        FloatOpKind::Conv { weight, bias, .. } => (weight, bias, 0),
        _ => return false,
    };
    for (ch, mut lane) in weight.axis_iter_mut(ndarray::Axis(out_axis)).enumerate() {
        lane.mapv_inplace(|w| w * m[ch]);
    }
    let b = bias.get_or_insert_with(|| vec![0.0; channels]);
    for ch in 0..channels {
        b[ch] = b[ch] * m[ch] + a[ch];
    }
    true
}
