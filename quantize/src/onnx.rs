//! ONNX import: an ONNX file becomes a [`FloatModel`], a small graph of the
//! ops zkinfer can prove, with float weights.
//!
//! tract-onnx parses the protobuf and runs shape inference and constant
//! folding over the whole graph; every node whose outputs tract can compute
//! without the input (shape arithmetic, `Constant`, casts of initializers)
//! is folded away. Each remaining node goes to its op family's importer
//! ([`crate::ops::IMPORTERS`]); an op type without one fails with
//! [`QuantizeError::UnsupportedOp`] naming the op type and the node. Affine ops that follow a linear op (BatchNormalization, a bias
//! `Add` after `MatMul`) are folded into its weights.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use ndarray::ArrayD;
use tract_onnx::pb;
use tract_onnx::prelude::{Datum, DatumType, InferenceFact, InferenceModel, InferenceModelExt, OutletId, Tensor};
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::{QuantizeError, Result};
use crate::ops::linear::ConvWindow;
use crate::ops::{FloatOpKind, Imported, composite, importer};

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

/// A float model reduced to provable ops, plus the tract graph that runs it.
#[derive(Clone, Debug)]
pub struct FloatModel {
    /// Model name (the ONNX graph name, or the file stem).
    pub name: String,
    /// The model inputs, in the ONNX graph's order.
    pub inputs: Vec<TensorSpec>,
    /// Per input: an integer-typed input (`int64`, `bool`, ...), whose values are whole numbers.
    pub integer_inputs: Vec<bool>,
    /// The tensors the quantized model outputs (before a dropped final Softmax), in the graph's order.
    pub outputs: Vec<TensorSpec>,
    /// Ops in execution order.
    pub ops: Vec<FloatOp>,
    /// What the import changed, for the report (folds, dropped Softmax, batch size).
    pub notes: Vec<String>,
    pub(crate) tract: InferenceModel,
    pub(crate) outlets: HashMap<String, OutletId>,
    /// The element type tract runs each input with.
    pub(crate) input_types: Vec<DatumType>,
}

/// Options for [`import_onnx`].
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Input shapes to use instead of the ones declared in the file, one per model input
    /// (required when a shape is symbolic in more than the batch dimension).
    pub input_shapes: Option<Vec<Vec<usize>>>,
    /// Prove a final Softmax too, instead of dropping it (the argmax is the same either way;
    /// keeping it costs an exp, a sum and a reciprocal table per output).
    pub keep_final_softmax: bool,
}

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
    let mut proto = pb::ModelProto::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let graph = proto.graph.as_ref().ok_or_else(|| corrupt("the file holds no graph".into()))?;
    if graph.node.is_empty() {
        return Err(corrupt("the graph has no nodes".into()));
    }

    check_ops(graph)?;
    if graph.output.is_empty() {
        return Err(QuantizeError::InvalidModel("the model has no outputs".into()));
    }
    let mut notes = vec![];
    let (input_names, input_shapes, input_types) = model_inputs(graph, opts, &mut notes)?;
    let facts: Vec<(DatumType, Vec<usize>)> =
        input_types.iter().zip(&input_shapes).map(|(t, s)| (t.0, s.clone())).collect();

    let dir = path.parent().and_then(|p| p.to_str()).filter(|s| !s.is_empty());
    let (mut tract, mut outlets) = analyse(&proto, dir, &facts)?;
    // Composite ops become ONNX nodes of other families; the expanded graph is analysed again.
    let tf = TractFacts { tract: &tract, outlets: &outlets };
    if let Some((expanded, expansions)) = composite::expand(&proto, &tf, opts.keep_final_softmax) {
        proto = expanded;
        notes.extend(expansions);
        (tract, outlets) = analyse(&proto, dir, &facts)?;
    }
    let graph = proto.graph.as_ref().expect("checked above");

    let name = if graph.name.is_empty() {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    } else {
        graph.name.clone()
    };
    let opset =
        proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    let graph_outputs: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut b = Builder {
        opset,
        quantized: HashMap::new(),
        tract: &tract,
        outlets: &outlets,
        alias: HashMap::new(),
        activations: input_names.iter().cloned().collect(),
        ops: vec![],
        notes,
        graph_outputs: &graph_outputs,
    };
    for (i, node) in graph.node.iter().enumerate() {
        b.node(node, &node_name(node, i))?;
    }
    let out_names = output_tensors(&b, graph, &input_names)?;
    let mut ops = b.ops;
    let mut notes = b.notes;
    fold_affine_into_linear(&mut ops, &out_names, &mut notes);
    let outputs = out_names
        .iter()
        .map(|out_name| {
            ops.iter()
                .find(|o| &o.output.name == out_name)
                .map(|o| TensorSpec { name: out_name.clone(), shape: o.output.shape.clone() })
                .ok_or_else(|| QuantizeError::InvalidModel(format!("no op produces `{out_name}`")))
        })
        .collect::<Result<_>>()?;
    Ok(FloatModel {
        name,
        inputs: input_names.into_iter().zip(input_shapes).map(|(name, shape)| TensorSpec { name, shape }).collect(),
        integer_inputs: input_types.iter().map(|t| t.1).collect(),
        outputs,
        ops,
        notes,
        tract,
        outlets,
        input_types: input_types.iter().map(|t| t.0).collect(),
    })
}

/// Refuses unknown ops and custom domains before tract sees them, naming the first one.
fn check_ops(graph: &pb::GraphProto) -> Result<()> {
    for (i, node) in graph.node.iter().enumerate() {
        let op = node.op_type.as_str();
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(QuantizeError::unsupported(
                op,
                &node_name(node, i),
                format!("custom domain `{}`", node.domain),
            ));
        }
        if importer(op).is_none() && !FOLDABLE_OPS.contains(&op) && !composite::EXPANDED.contains(&op) {
            return Err(QuantizeError::unsupported(op, &node_name(node, i), ""));
        }
    }
    Ok(())
}

/// The model's inputs (graph inputs that are not initializers): names, shapes (given,
/// or declared in the file) and element types.
#[allow(clippy::type_complexity)]
fn model_inputs(
    graph: &pb::GraphProto,
    opts: &ImportOptions,
    notes: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<Vec<usize>>, Vec<(DatumType, bool)>)> {
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> =
        graph.input.iter().filter(|i| !initializers.contains(i.name.as_str())).collect();
    if inputs.is_empty() {
        return Err(QuantizeError::InvalidModel("the model has no inputs; nothing to prove".into()));
    }
    let input_names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let input_shapes: Vec<Vec<usize>> = match &opts.input_shapes {
        Some(s) if s.len() != inputs.len() => {
            return Err(QuantizeError::InvalidModel(format!(
                "{} input shapes given, the model has {} inputs {input_names:?}",
                s.len(),
                inputs.len()
            )));
        }
        Some(s) => s.clone(),
        None => inputs.iter().map(|i| declared_shape(i, notes)).collect::<Result<_>>()?,
    };
    let input_types: Vec<(DatumType, bool)> = inputs.iter().map(|i| input_type(i)).collect::<Result<_>>()?;
    Ok((input_names, input_shapes, input_types))
}

/// The tensors the graph's outputs name, after aliases; an error for an output that is
/// an integer (QDQ) tensor, an input unchanged, independent of the input, or a duplicate.
fn output_tensors(b: &Builder<'_>, graph: &pb::GraphProto, input_names: &[String]) -> Result<Vec<String>> {
    let mut out_names = vec![];
    for o in &graph.output {
        let graph_output = &o.name;
        let out_name = b.resolve(graph_output);
        if b.quantized.contains_key(&out_name) {
            return Err(QuantizeError::InvalidModel(format!(
                "the model output `{graph_output}` is an integer tensor (a QuantizeLinear output without its \
                 DequantizeLinear); QDQ pairs are supported, integer outputs are not"
            )));
        }
        if input_names.contains(&out_name) {
            return Err(QuantizeError::InvalidModel(format!(
                "the model output `{graph_output}` is the input `{out_name}` unchanged; nothing to prove"
            )));
        }
        if !b.activations.contains(&out_name) {
            return Err(QuantizeError::InvalidModel(format!(
                "the model output `{graph_output}` does not depend on the input"
            )));
        }
        if out_names.contains(&out_name) {
            return Err(QuantizeError::InvalidModel(format!(
                "the model outputs `{graph_output}` and another output are the same tensor `{out_name}`"
            )));
        }
        out_names.push(out_name);
    }
    Ok(out_names)
}

/// The element type tract runs a model input with, and whether it is an integer type.
fn input_type(input: &pb::ValueInfoProto) -> Result<(DatumType, bool)> {
    use pb::tensor_proto::DataType as D;
    let elem = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => t.elem_type,
        // No declared type: a float input, as most exporters mean.
        _ => return Ok((f32::datum_type(), false)),
    };
    let Ok(dt) = D::try_from(elem) else {
        return Err(QuantizeError::InvalidModel(format!("input `{}` has element type {elem}", input.name)));
    };
    Ok(match dt {
        D::Float | D::Float16 | D::Bfloat16 | D::Undefined => (f32::datum_type(), false),
        D::Double => (f64::datum_type(), false),
        D::Int8 => (i8::datum_type(), true),
        D::Uint8 => (u8::datum_type(), true),
        D::Int16 => (i16::datum_type(), true),
        D::Uint16 => (u16::datum_type(), true),
        D::Int32 => (i32::datum_type(), true),
        D::Uint32 => (u32::datum_type(), true),
        D::Int64 => (i64::datum_type(), true),
        D::Uint64 => (u64::datum_type(), true),
        D::Bool => (bool::datum_type(), true),
        other => {
            return Err(QuantizeError::InvalidModel(format!(
                "input `{}` has element type {other:?}; zkinfer takes float, integer and bool inputs",
                input.name
            )));
        }
    })
}

/// Parses and analyses `proto` with tract, input `i` fixed to `inputs[i]` (type, shape).
fn analyse(
    proto: &pb::ModelProto,
    dir: Option<&str>,
    inputs: &[(DatumType, Vec<usize>)],
) -> Result<(InferenceModel, HashMap<String, OutletId>)> {
    let parsed = guarded("parsing the graph", || tract_onnx::onnx().parse(proto, dir))?;
    if !parsed.unresolved_inputs.is_empty() {
        return Err(QuantizeError::InvalidModel(format!(
            "tensors used but never defined: {:?}",
            parsed.unresolved_inputs
        )));
    }
    let mut tract = parsed.model;
    for (i, (dt, shape)) in inputs.iter().enumerate() {
        tract
            .set_input_fact(i, InferenceFact::dt_shape(*dt, shape.clone()))
            .map_err(|e| tract_err("setting the input shape", e))?;
    }
    guarded("shape inference", || tract.analyse(false))?;
    Ok((tract, parsed.outlets_by_name))
}

/// The analysed graph's facts, for [`composite::expand`].
struct TractFacts<'a> {
    tract: &'a InferenceModel,
    outlets: &'a HashMap<String, OutletId>,
}

impl composite::Facts for TractFacts<'_> {
    fn shape(&self, tensor: &str) -> Option<Vec<usize>> {
        let f = self.outlets.get(tensor).and_then(|o| self.tract.outlet_fact(*o).ok())?;
        f.shape.as_concrete_finite().ok().flatten().map(|s| s.to_vec())
    }

    fn is_const(&self, tensor: &str) -> bool {
        let f = self.outlets.get(tensor).and_then(|o| self.tract.outlet_fact(*o).ok());
        f.is_some_and(|f| f.value.concretize().is_some())
    }

    fn values(&self, tensor: &str) -> Option<Vec<f64>> {
        let f = self.outlets.get(tensor).and_then(|o| self.tract.outlet_fact(*o).ok())?;
        let t = f.value.concretize()?;
        tensor_to_array(&t).ok().map(|a| a.iter().map(|&v| v as f64).collect())
    }

    fn is_integer(&self, tensor: &str) -> bool {
        let f = self.outlets.get(tensor).and_then(|o| self.tract.outlet_fact(*o).ok());
        f.and_then(|f| f.datum_type.concretize()).is_some_and(|d| d.is_integer() || d == bool::datum_type())
    }
}

/// Runs a tract stage, turning its errors and its panics (tract indexes attributes
/// without checking them on some malformed nodes) into [`QuantizeError::Tract`].
pub(crate) fn guarded<T, E: std::fmt::Display>(stage: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| tract_err(stage, e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(QuantizeError::Tract(format!("{stage}: tract failed on a malformed node ({msg})")))
        }
    }
}

fn tract_err(stage: &str, e: impl std::fmt::Display) -> QuantizeError {
    // tract errors are anyhow chains; `{:#}` prints the causes (and no backtrace).
    QuantizeError::Tract(format!("{stage}: {e:#}"))
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
    /// The model's default-domain opset version.
    opset: i64,
    /// Outputs of QuantizeLinear nodes (integer tensors): the float tensor they quantize and how.
    quantized: HashMap<String, (String, crate::ops::QdqScale)>,
    tract: &'a InferenceModel,
    outlets: &'a HashMap<String, OutletId>,
    /// Tensor renamings from Identity, Dropout and a dropped Softmax.
    alias: HashMap<String, String>,
    /// Tensors that depend on the model input.
    activations: HashSet<String>,
    ops: Vec<FloatOp>,
    notes: Vec<String>,
    /// The graph's output tensors.
    graph_outputs: &'a HashSet<String>,
}

/// Ops that may read an integer-typed activation (a model's `int64`/`bool` input, or what
/// wiring made of it): they move, cast or compare values and never compute with their type.
const INTEGER_OPS: &[&str] = &[
    "Cast",
    "Identity",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Slice",
    "Split",
    "Concat",
    "Tile",
    "Expand",
    "Gather",
    "Pad",
    // Comparisons are exact on integers, and Where moves values.
    "Equal",
    "Less",
    "LessOrEqual",
    "Greater",
    "GreaterOrEqual",
    "Not",
    "Where",
];

/// Ops whose integer inputs after the data are parameters that must be constants.
const PARAMETER_OPS: &[&str] = &["TopK", "Pow", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "Resize"];

/// Ops whose inputs after the data set the output's shape (shape, starts/ends/axes/steps,
/// split sizes, axes, repeats, pads, sizes).
const SHAPE_PARAMETER_OPS: &[&str] =
    &["Reshape", "Slice", "Split", "Unsqueeze", "Squeeze", "Expand", "Tile", "Pad", "Resize", "TopK"];

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

    /// Whether tract types `tensor` as an integer or bool tensor.
    fn is_integer(&self, tensor: &str) -> bool {
        let dt = self.fact(tensor).and_then(|f| f.datum_type.concretize());
        dt.is_some_and(|d| d.is_integer() || d == bool::datum_type())
    }

    fn node(&mut self, node: &pb::NodeProto, name: &str) -> Result<()> {
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
        // An integer tensor (a QuantizeLinear's output) may only be read by its DequantizeLinear.
        if op != "DequantizeLinear"
            && let Some(q) = ins.iter().find(|i| self.quantized.contains_key(*i))
        {
            return Err(QuantizeError::unsupported(
                op,
                name,
                format!(
                    "its input `{q}` is an integer tensor (QuantizeLinear output); only a DequantizeLinear may read it"
                ),
            ));
        }
        // Integer activations (integer inputs) are only moved or cast: arithmetic on them has
        // integer semantics (truncating Div, wrapping) that fixed point does not share.
        // (The type is the unresolved name's: a Cast to float aliases its integer input.)
        // A recurrent op still here is one its expansion (ops/composite.rs) does not unroll.
        if let Some(why) = composite::not_expanded(op) {
            return Err(QuantizeError::unsupported(op, name, why));
        }
        if !INTEGER_OPS.contains(&op)
            && op != "DequantizeLinear"
            && let Some((at, t)) = node.input.iter().enumerate().find(|(_, i)| {
                let r = self.resolve(i);
                !i.is_empty() && is_act(&r) && !self.quantized.contains_key(&r) && self.is_integer(i)
            })
        {
            // An integer operand after the data of these ops is a parameter (k, an exponent,
            // axes, sizes): a Cast would not help, it must be known when compiling.
            let why = if at > 0 && PARAMETER_OPS.contains(&op) {
                format!(
                    "its input `{t}` is computed at run time; {op} takes it only as a constant (the circuit is fixed when compiling)"
                )
            } else {
                format!(
                    "its input `{t}` is an integer tensor; Cast it to float first (integer arithmetic is not supported)"
                )
            };
            return Err(QuantizeError::unsupported(op, name, why));
        }
        let Some(import) = importer(op) else {
            if FOLDABLE_OPS.contains(&op) {
                return Err(QuantizeError::unsupported(op, name, "supported only on constants (shape arithmetic)"));
            }
            return Err(QuantizeError::unsupported(op, name, ""));
        };
        let out_shape = match self.shape(&out, name) {
            Ok(s) => s,
            // A shape, axes or sizes input computed at run time leaves the output's shape
            // unknown: name that input, not only the shapeless output.
            Err(e) => match node.input.iter().skip(1).find(|i| !i.is_empty() && is_act(&self.resolve(i))) {
                Some(t) if SHAPE_PARAMETER_OPS.contains(&op) => {
                    return Err(QuantizeError::unsupported(
                        op,
                        name,
                        format!(
                            "its input `{t}` is computed at run time, so the shape of its output `{out}` is not known \
                             when compiling; {op} takes it only as a constant (the circuit is fixed when compiling)"
                        ),
                    ));
                }
                _ => return Err(e),
            },
        };
        let n = Node {
            proto: node,
            name,
            op,
            out_shape,
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            is_graph_output: self.graph_outputs.contains(&node.output[0]),
            opset: self.opset,
            ins,
            acts,
            b: self,
        };
        let imported = import(&n)?;
        let shapes: Vec<Vec<usize>> = match &imported {
            Imported::PerOutput(_) => n.outputs.iter().map(|o| n.shape(o)).collect::<Result<_>>()?,
            _ => vec![],
        };
        let Node { acts, out_shape, outputs, .. } = n;
        match imported {
            Imported::Alias(note) => {
                self.notes.extend(note);
                self.alias.insert(out.clone(), acts[0].clone());
                self.activations.insert(out);
            }
            Imported::Op(kind) => {
                let inputs = self.dequantized(&acts);
                self.push_op(name, op, inputs, out, out_shape, kind);
            }
            Imported::Quantized(q) => {
                self.quantized.insert(out.clone(), (acts[0].clone(), q));
                self.activations.insert(out);
            }
            Imported::Noted(kind, note) => {
                self.notes.push(note);
                let inputs = self.dequantized(&acts);
                self.push_op(name, op, inputs, out, out_shape, kind);
            }
            Imported::OpOn(kind, inputs) => self.push_op(name, op, inputs, out, out_shape, kind),
            Imported::PerOutput(kinds) => {
                for ((kind, output), shape) in kinds.into_iter().zip(outputs).zip(shapes) {
                    self.push_op(&format!("{name}:{output}"), op, acts.clone(), output, shape, kind);
                }
            }
        }
        Ok(())
    }

    /// `acts` with every integer tensor of a QDQ pair replaced by the float tensor its
    /// QuantizeLinear read (a DequantizeLinear reads what its QuantizeLinear quantized).
    fn dequantized(&self, acts: &[String]) -> Vec<String> {
        acts.iter().map(|a| self.quantized.get(a).map_or(a.clone(), |q| q.0.clone())).collect()
    }

    /// Adds the op `kind` of node `name` reading `inputs` and writing the activation `out`.
    fn push_op(
        &mut self,
        name: &str,
        op: &str,
        inputs: Vec<String>,
        out: String,
        shape: Vec<usize>,
        kind: FloatOpKind,
    ) {
        self.ops.push(FloatOp {
            node: name.to_string(),
            op_type: op.to_string(),
            inputs,
            output: TensorSpec { name: out.clone(), shape },
            kind,
        });
        self.activations.insert(out);
    }
}

/// One ONNX node as an importer sees it: attributes, inputs (constant or
/// activation) and shapes, with errors that name the op and the node.
pub(crate) struct Node<'a> {
    proto: &'a pb::NodeProto,
    /// Node name (or its first output's).
    pub name: &'a str,
    /// ONNX op type.
    pub op: &'a str,
    /// All inputs, resolved through aliases; `""` for an absent optional input.
    pub ins: Vec<String>,
    /// The inputs that depend on the model input, in order (at least one).
    pub acts: Vec<String>,
    /// The node's non-empty outputs.
    pub outputs: Vec<String>,
    /// Shape of the first output.
    pub out_shape: Vec<usize>,
    /// Whether the first output is one of the graph's outputs.
    pub is_graph_output: bool,
    /// The model's default-domain opset version.
    pub opset: i64,
    b: &'a Builder<'a>,
}

impl Node<'_> {
    /// An "unsupported use of this op" error.
    pub fn unsup(&self, detail: impl Into<String>) -> QuantizeError {
        QuantizeError::unsupported(self.op, self.name, detail)
    }

    /// An int attribute.
    pub fn attr_i(&self, name: &str) -> Option<i64> {
        self.proto.attribute.iter().find(|a| a.name == name).map(|a| a.i)
    }

    /// A float attribute.
    pub fn attr_f(&self, name: &str) -> Option<f32> {
        self.proto.attribute.iter().find(|a| a.name == name).map(|a| a.f)
    }

    /// An ints attribute.
    pub fn attr_ints(&self, name: &str) -> Option<Vec<i64>> {
        self.proto.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone())
    }

    /// A string attribute.
    pub fn attr_s(&self, name: &str) -> Option<String> {
        self.proto.attribute.iter().find(|a| a.name == name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// The static shape of a tensor.
    pub fn shape(&self, tensor: &str) -> Result<Vec<usize>> {
        self.b.shape(tensor, self.name)
    }

    /// The QuantizeLinear parameters of `tensor` when it is a QuantizeLinear's output.
    pub fn quantized(&self, tensor: &str) -> Option<crate::ops::QdqScale> {
        self.b.quantized.get(tensor).map(|q| q.1)
    }

    /// Whether tract types input `i` of the node (by its own name, before aliases) as an
    /// integer or bool tensor.
    pub fn input_is_integer(&self, i: usize) -> bool {
        self.proto.input.get(i).is_some_and(|t| !t.is_empty() && self.b.is_integer(t))
    }

    /// The element type of a tensor (`"f32"`, `"i8"`, `"u8"`, `"other"`).
    pub fn datum_type(&self, tensor: &str) -> Result<&'static str> {
        let dt = self.b.fact(tensor).and_then(|f| f.datum_type.concretize());
        Ok(match dt {
            Some(d) if d == i8::datum_type() => "i8",
            Some(d) if d == u8::datum_type() => "u8",
            Some(d) if d == f32::datum_type() => "f32",
            Some(_) => "other",
            None => return Err(self.unsup(format!("the type of `{tensor}` could not be inferred"))),
        })
    }

    /// A constant input as floats; an error naming it when it is not constant.
    pub fn const_array(&self, tensor: &str) -> Result<ArrayD<f32>> {
        let t = self.b.konst(tensor).ok_or_else(|| self.unsup(format!("input `{tensor}` must be a constant")))?;
        tensor_to_array(&t).map_err(|e| QuantizeError::InvalidModel(format!("constant `{tensor}`: {e}")))
    }

    /// Strides, explicit pads (begins ‖ ends) and dilations of a Conv/Pool node over the
    /// spatial axes of `x_shape`, resolving `auto_pad` (`SAME_*` only when `allow_same`).
    pub fn window_attrs(&self, kernel: &[usize], x_shape: &[usize], allow_same: bool) -> Result<ConvWindow> {
        window_attrs(self, kernel, x_shape, allow_same).map_err(|d| self.unsup(d))
    }
}

fn window_attrs(node: &Node<'_>, kernel: &[usize], x_shape: &[usize], allow_same: bool) -> Result<ConvWindow, String> {
    let r = x_shape.len().saturating_sub(2);
    if kernel.len() != r {
        return Err(format!("a kernel of {} axes for {r} spatial axes", kernel.len()));
    }
    let per_axis = |name: &str| -> Result<Vec<usize>, String> {
        let v = node.attr_ints(name).unwrap_or_else(|| vec![1; r]);
        if v.len() != r || v.iter().any(|x| *x <= 0) {
            return Err(format!("{name} {v:?} for {r} spatial axes"));
        }
        Ok(v.iter().map(|&x| x as usize).collect())
    };
    let strides = per_axis("strides")?;
    let dilations = per_axis("dilations")?;
    let auto = node.attr_s("auto_pad").unwrap_or_default();
    let pads = match auto.as_str() {
        "" | "NOTSET" => {
            let p = node.attr_ints("pads").unwrap_or_else(|| vec![0; 2 * r]);
            if p.len() != 2 * r || p.iter().any(|v| *v < 0) {
                return Err(format!("pads {p:?}"));
            }
            p.iter().map(|&v| v as usize).collect()
        }
        "VALID" => vec![0; 2 * r],
        "SAME_UPPER" | "SAME_LOWER" if allow_same => {
            let mut pads = vec![0; 2 * r];
            for a in 0..r {
                let input = x_shape[2 + a];
                let out = input.div_ceil(strides[a]);
                let span = (kernel[a] - 1) * dilations[a] + 1;
                let total = ((out - 1) * strides[a] + span).saturating_sub(input);
                let (small, big) = (total / 2, total - total / 2);
                let (begin, end) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
                pads[a] = begin;
                pads[a + r] = end;
            }
            pads
        }
        other => return Err(format!("auto_pad {other}")),
    };
    Ok(ConvWindow { strides, pads, dilations })
}

/// Converts a tract constant to an f32 array.
pub(crate) fn tensor_to_array(t: &Tensor) -> Result<ArrayD<f32>, String> {
    let t = t.cast_to::<f32>().map_err(|e| format!("{e:?}"))?;
    let view = t.to_plain_array_view::<f32>().map_err(|e| format!("{e:?}"))?;
    Ok(view.to_owned())
}

/// Folds `Affine` ops into the linear op (Dense/Conv) that feeds them when the
/// constants are per output channel and nothing else reads the linear op's output.
fn fold_affine_into_linear(ops: &mut Vec<FloatOp>, model_outputs: &[String], notes: &mut Vec<String>) {
    let mut i = 1;
    while i < ops.len() {
        let (head, tail) = ops.split_at_mut(i);
        let prev = &mut head[i - 1];
        let cur = &tail[0];
        let readers = tail.iter().filter(|o| o.inputs.contains(&prev.output.name)).count();
        let foldable = matches!(cur.kind, FloatOpKind::Affine(_))
            && cur.inputs == [prev.output.name.clone()]
            && readers == 1
            && !model_outputs.contains(&prev.output.name);
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
    let FloatOpKind::Affine(crate::ops::elementwise::FloatAffine { mul, add }) = &cur.kind else { return false };
    let rank = prev.output.shape.len();
    let (axis, channels) = match &prev.kind {
        FloatOpKind::Dense(d) => (rank - 1, d.weight.shape()[1]),
        // A grouped convolution's channels are still its weight's first axis.
        FloatOpKind::Conv(c) => (1, c.weight.shape()[0]),
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
        FloatOpKind::Dense(d) => (&mut d.weight, &mut d.bias, 1),
        FloatOpKind::Conv(c) => (&mut c.weight, &mut c.bias, 0),
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
