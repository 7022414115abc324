//! Composite ops, expanded in the ONNX graph itself before import: each becomes
//! a few ops of the other families, as ONNX nodes, so that tract computes every
//! intermediate tensor in calibration and each gets its own scale.
//!
//! | ONNX op | expansion |
//! |---|---|
//! | `LogSoftmax(x)` | `d = x − ReduceMax(x)`, `y = d − Log(ReduceSum(Exp(d)))` |
//! | `Softmax(x)` (not the dropped final one) | `e = Exp(x − ReduceMax(x))`, `y = e · Reciprocal(ReduceSum(e))` |
//! | `Div(a, b)`, `b` an activation | `a · Reciprocal(b)` |
//! | `InstanceNormalization(x, γ, β)` | `d = x − ReduceMean(x)`, `y = d · Pow(ReduceMean(d·d) + ε, −½) · γ + β` |
//! | `LayerNormalization(x, γ, β)` over the axes from `axis` (only its first output used) | `d = x − ReduceMean(x)`, `y = d · Pow(ReduceMean(d·d) + ε, −½) · γ + β` |
//! | `RMSNormalization(x, γ)` over the axes from `axis` | `y = x · Pow(ReduceMean(x·x) + ε, −½) · γ` |
//! | `PRelu(x, slope[C])` on `[N, C, …]` (PyTorch's per-channel slope) | the slope reshaped to `[C, 1, …]` |
//! | `LRN(x)` on `[N, C, H, W]` | `x · Pow(bias + α·AveragePool_C(x·x), −β)` (the channel window as a pool over `[C, H·W]`) |
//! | `LSTM`, `GRU`, `RNN` (constant weights) | unrolled over the sequence: `X·Wᵀ + b` for all steps in one MatMul, then per step `H·Rᵀ`, a Slice per gate, the gates' activations, Mul and Add (see [`recurrent`]) |
//! | `ConstantOfShape(shape)` with a constant shape that tract did not fold (large weights) | an initializer |
//!
//! Numerical error: the expansions are exact in floats; in integers each
//! intermediate is quantized at its calibrated scale and the non-linear steps
//! (Exp, Log, Reciprocal, Pow) are tables (see [`super::lookup`]), so the error
//! is the sum of their bucket errors (measured by the conformance test).

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

/// ONNX op types that import only through an expansion.
pub(crate) const EXPANDED: &[&str] = &[
    "LogSoftmax",
    "InstanceNormalization",
    "LayerNormalization",
    "RMSNormalization",
    "LRN",
    "LSTM",
    "GRU",
    "RNN",
    "Einsum",
];

/// A tensor larger than this many elements is never read into an expansion's decision.
const MAX_CONST_OF_SHAPE: usize = 1 << 28;

/// What the expansion needs to know of the analysed graph.
pub(crate) trait Facts {
    /// The static shape of a tensor.
    fn shape(&self, tensor: &str) -> Option<Vec<usize>>;
    /// Whether a tensor is a constant (foldable without the input).
    fn is_const(&self, tensor: &str) -> bool;
    /// The values of a constant tensor, as floats.
    fn values(&self, tensor: &str) -> Option<Vec<f64>>;
    /// Whether a tensor's element type is an integer or bool.
    fn is_integer(&self, tensor: &str) -> bool;
}

/// The model's default-domain opset version.
fn opset(proto: &pb::ModelProto) -> i64 {
    proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(13, |o| o.version)
}

fn attr_i(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// Builds the replacement nodes of one expansion.
struct Emit<'a> {
    prefix: String,
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inits: &'a mut Vec<pb::TensorProto>,
    count: usize,
}

impl Emit<'_> {
    fn fresh(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{}/{what}.{}", self.prefix, self.count)
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: Option<&str>, attrs: Vec<pb::AttributeProto>) -> String {
        let out = output.map(String::from).unwrap_or_else(|| self.fresh(&op.to_lowercase()));
        let name = self.fresh(op);
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name,
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    /// A 1-D int64 initializer (a shape, axes).
    fn ints(&mut self, what: &str, values: Vec<i64>) -> String {
        let name = self.fresh(what);
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: 7,
            int64_data: values,
            ..Default::default()
        });
        name
    }

    fn scalar(&mut self, v: f32) -> String {
        let name = self.fresh("c");
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            data_type: 1,
            float_data: vec![v],
            ..Default::default()
        });
        name
    }

    /// The stable prefix of (Log)Softmax over `axes`: `d = x − max(x)`, `e = exp(d)` and
    /// `s = Σ e`, returned as (d, e, s).
    fn shifted_exp(&mut self, x: &str, axes: &[i64]) -> (String, String, String) {
        let m = self.reduce("ReduceMax", x, axes);
        let d = self.node("Sub", &[x, &m], None, vec![]);
        let e = self.node("Exp", &[&d], None, vec![]);
        let s = self.reduce("ReduceSum", &e, axes);
        (d, e, s)
    }

    /// A reduction over `axes` with kept dims, in the form the model's opset wants (axes as an
    /// input from opset 13 for ReduceSum and 18 for the others, an attribute before).
    fn reduce(&mut self, op: &str, x: &str, axes: &[i64]) -> String {
        let as_input = if op == "ReduceSum" { self.opset >= 13 } else { self.opset >= 18 };
        let keep = int_attr("keepdims", 1);
        if as_input {
            let name = self.ints("axes", axes.to_vec());
            self.node(op, &[x, &name], None, vec![keep])
        } else {
            self.node(op, &[x], None, vec![keep, ints_attr("axes", axes.to_vec())])
        }
    }
}

fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
}

fn ints_attr(name: &str, ints: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto { name: name.into(), ints, r#type: 7, ..Default::default() }
}

/// The axes a (Log)Softmax normalizes over: before opset 13 all axes from `axis` (default 1),
/// from 13 the single `axis` (default −1).
fn softmax_axes(node: &pb::NodeProto, rank: usize, opset: i64) -> Vec<i64> {
    let default = if opset >= 13 { -1 } else { 1 };
    let a = attr_i(node, "axis").unwrap_or(default);
    let a = if a < 0 { a + rank as i64 } else { a };
    if opset >= 13 { vec![a] } else { (a..rank as i64).collect() }
}

/// The expanded model and a note per expansion, or `None` when nothing needs expanding.
/// `keep_final_softmax` expands a final Softmax too (else import drops it).
pub(crate) fn expand(
    proto: &pb::ModelProto,
    facts: &dyn Facts,
    keep_final_softmax: bool,
) -> Option<(pb::ModelProto, Vec<String>)> {
    let graph = proto.graph.as_ref()?;
    let opset = opset(proto);
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let mut out = proto.clone();
    let g = out.graph.as_mut().expect("cloned graph");
    let mut nodes = vec![];
    let mut notes = vec![];
    for (i, node) in graph.node.iter().enumerate() {
        let x = node.input.first().map(String::as_str).unwrap_or("");
        let y = node.output.first().map(String::as_str).unwrap_or("");
        let rank = facts.shape(x).map_or(0, |s| s.len());
        let name = if node.name.is_empty() { format!("{y}#{i}") } else { node.name.clone() };
        let mut emit = Emit { prefix: name.clone(), opset, nodes: vec![], inits: &mut g.initializer, count: 0 };
        let expanded = match node.op_type.as_str() {
            "LogSoftmax" if rank > 0 => {
                let (d, _, s) = emit.shifted_exp(x, &softmax_axes(node, rank, opset));
                let l = emit.node("Log", &[&s], None, vec![]);
                emit.node("Sub", &[&d, &l], Some(y), vec![]);
                true
            }
            "Softmax" if rank > 0 && (keep_final_softmax || !outputs.contains(y)) && !facts.is_const(x) => {
                let (_, e, s) = emit.shifted_exp(x, &softmax_axes(node, rank, opset));
                let r = emit.node("Reciprocal", &[&s], None, vec![]);
                emit.node("Mul", &[&e, &r], Some(y), vec![]);
                true
            }
            "Div" if node.input.len() == 2 && !facts.is_const(&node.input[1]) && !facts.is_const(x) => {
                let r = emit.node("Reciprocal", &[&node.input[1]], None, vec![]);
                emit.node("Mul", &[x, &r], Some(y), vec![]);
                true
            }
            "InstanceNormalization" if rank > 2 && node.input.len() == 3 => {
                instance_norm(&mut emit, node, facts, (x, y), rank)
            }
            "LayerNormalization" | "RMSNormalization" if rank > 0 && node.input.len() >= 2 => {
                layer_norm(&mut emit, node, (x, y), rank)
            }
            "PRelu" if rank > 2 && node.input.len() == 2 && facts.is_const(&node.input[1]) => {
                prelu(&mut emit, node, facts, (x, y), rank)
            }
            "LRN" if rank == 4 => lrn(&mut emit, node, facts, (x, y)),
            "LSTM" | "GRU" | "RNN" => recurrent(&mut emit, node, facts),
            "Einsum" if (1..=2).contains(&node.input.len()) => einsum(&mut emit, node, facts).is_some(),
            "Gather"
                if node.input.len() == 2
                    && !facts.is_const(x)
                    && !facts.is_const(&node.input[1])
                    && !facts.is_integer(x) =>
            {
                gather(&mut emit, node, facts).is_some()
            }
            "ConstantOfShape" if facts.is_const(x) && !facts.is_const(y) => {
                constant_of_shape(&mut emit, node, facts, (x, y))
            }
            _ => false,
        };
        if expanded {
            let ops: Vec<&str> = emit.nodes.iter().map(|n| n.op_type.as_str()).collect();
            notes.push(format!("`{name}` ({}) expanded into {}", node.op_type, ops.join(", ")));
            nodes.extend(emit.nodes);
        } else {
            nodes.push(node.clone());
        }
    }
    if notes.is_empty() {
        return None;
    }
    g.node = nodes;
    Some((out, notes))
}

/// `(x − μ)·(mean((x − μ)²) + ε)^(−1/2)` over `axes` (without `μ` when not `center`):
/// the mean (when centred), the normalized tensor and the inverse deviation.
fn normalize(emit: &mut Emit<'_>, x: &str, axes: &[i64], eps: f32, center: bool) -> (Option<String>, String, String) {
    let mu = center.then(|| emit.reduce("ReduceMean", x, axes));
    let d = match &mu {
        Some(mu) => emit.node("Sub", &[x, mu], None, vec![]),
        None => x.to_string(),
    };
    let d2 = emit.node("Mul", &[&d, &d], None, vec![]);
    let var = emit.reduce("ReduceMean", &d2, axes);
    let e = emit.scalar(eps);
    let ve = emit.node("Add", &[&var, &e], None, vec![]);
    let h = emit.scalar(-0.5);
    let inv = emit.node("Pow", &[&ve, &h], None, vec![]);
    let n = emit.node("Mul", &[&d, &inv], None, vec![]);
    (mu, n, inv)
}

/// InstanceNormalization: `(x − μ)·(σ² + ε)^(−1/2)·γ + β` over the spatial axes, per channel.
fn instance_norm(
    emit: &mut Emit<'_>,
    node: &pb::NodeProto,
    facts: &dyn Facts,
    (x, y): (&str, &str),
    rank: usize,
) -> bool {
    let c = facts.shape(x).map_or(0, |s| s[1]);
    let axes: Vec<i64> = (2..rank as i64).collect();
    let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
    // γ and β as [C, 1, …] so they broadcast over the spatial axes.
    let per_channel = |emit: &mut Emit<'_>, t: &str| -> String {
        let mut dims = vec![c as i64];
        dims.extend(std::iter::repeat_n(1, rank - 2));
        let shape = emit.ints("shape", dims);
        emit.node("Reshape", &[t, &shape], None, vec![])
    };
    let (_, n, _) = normalize(emit, x, &axes, eps, true);
    let gamma = per_channel(emit, &node.input[1]);
    let beta = per_channel(emit, &node.input[2]);
    let sc = emit.node("Mul", &[&n, &gamma], None, vec![]);
    emit.node("Add", &[&sc, &beta], Some(y), vec![]);
    true
}

/// LayerNormalization `(x − μ)·(σ² + ε)^(−1/2)·γ + β` and RMSNormalization
/// `x·(mean(x²) + ε)^(−1/2)·γ`, both over the axes from `axis` (default −1) to the last;
/// `γ` and `β` have the normalized axes' shape and broadcast over the leading ones.
/// LayerNormalization's optional outputs `Mean` and `InvStdDev` (the normalized axes kept as
/// 1) are the expansion's intermediate tensors.
fn layer_norm(emit: &mut Emit<'_>, node: &pb::NodeProto, (x, y): (&str, &str), rank: usize) -> bool {
    let a = attr_i(node, "axis").unwrap_or(-1);
    let a = if a < 0 { a + rank as i64 } else { a };
    let extra = |i: usize| node.output.get(i).filter(|o| !o.is_empty());
    if !(0..rank as i64).contains(&a)
        || (node.op_type == "RMSNormalization" && (extra(1).is_some() || extra(2).is_some()))
    {
        return false;
    }
    let axes: Vec<i64> = (a..rank as i64).collect();
    let eps = attr_f(node, "epsilon").unwrap_or(1e-5);
    let rms = node.op_type == "RMSNormalization";
    let (mu, n, inv) = normalize(emit, x, &axes, eps, !rms);
    for (t, out) in [(mu, extra(1)), (Some(inv), extra(2))] {
        if let (Some(t), Some(out)) = (t, out) {
            emit.node("Identity", &[&t], Some(out), vec![]);
        }
    }
    match node.input.get(2).filter(|b| !b.is_empty() && !rms) {
        Some(beta) => {
            let sc = emit.node("Mul", &[&n, &node.input[1]], None, vec![]);
            emit.node("Add", &[&sc, beta], Some(y), vec![]);
        }
        None => {
            emit.node("Mul", &[&n, &node.input[1]], Some(y), vec![]);
        }
    }
    true
}

/// PRelu with a per-channel slope `[C]` on an NC… input: the slope reshaped to `[C, 1, …]`
/// (ONNX broadcasts a `[C]` slope over the last axis otherwise).
fn prelu(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts, (x, y): (&str, &str), rank: usize) -> bool {
    let x_shape = facts.shape(x).unwrap_or_default();
    match facts.shape(&node.input[1]) {
        Some(s) if s.len() == 1 && s[0] == x_shape[1] && x_shape[rank - 1] != s[0] => {
            let mut dims = vec![s[0] as i64];
            dims.extend(std::iter::repeat_n(1, rank - 2));
            let shape = emit.ints("shape", dims);
            let slope = emit.node("Reshape", &[&node.input[1], &shape], None, vec![]);
            emit.node("PRelu", &[x, &slope], Some(y), vec![]);
            true
        }
        _ => false,
    }
}

/// LRN: `x · (bias + α·mean of x² over `size` neighbouring channels)^(−β)`, the mean an
/// AveragePool over the channel axis of x² reshaped to `[N, 1, C, H·W]`.
fn lrn(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts, (x, y): (&str, &str)) -> bool {
    let d = facts.shape(x).unwrap_or_default();
    let size = attr_i(node, "size").unwrap_or(1).max(1);
    let (alpha, beta, bias) = (
        attr_f(node, "alpha").unwrap_or(1e-4),
        attr_f(node, "beta").unwrap_or(0.75),
        attr_f(node, "bias").unwrap_or(1.0),
    );
    let sq = emit.node("Mul", &[x, x], None, vec![]);
    let flat = emit.ints("shape", vec![d[0] as i64, 1, d[1] as i64, (d[2] * d[3]) as i64]);
    let r = emit.node("Reshape", &[&sq, &flat], None, vec![]);
    let (before, after) = ((size - 1) / 2, size - 1 - (size - 1) / 2);
    let attrs = vec![
        ints_attr("kernel_shape", vec![size, 1]),
        ints_attr("pads", vec![before, 0, after, 0]),
        int_attr("count_include_pad", 1),
    ];
    let pool = emit.node("AveragePool", &[&r], None, attrs);
    let back = emit.ints("shape", d.iter().map(|&v| v as i64).collect());
    let mean = emit.node("Reshape", &[&pool, &back], None, vec![]);
    let a = emit.scalar(alpha);
    let scaled = emit.node("Mul", &[&mean, &a], None, vec![]);
    let b = emit.scalar(bias);
    let base = emit.node("Add", &[&scaled, &b], None, vec![]);
    let e = emit.scalar(-beta);
    let p = emit.node("Pow", &[&base, &e], None, vec![]);
    emit.node("Mul", &[x, &p], Some(y), vec![]);
    true
}

/// ConstantOfShape of a constant shape: a float initializer (at most
/// [`MAX_CONST_OF_SHAPE`] values) in place of the node.
fn constant_of_shape(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts, (x, y): (&str, &str)) -> bool {
    let shape: Vec<i64> = facts.values(x).unwrap_or_default().iter().map(|&v| v as i64).collect();
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(usize::try_from(d).ok()?));
    let value = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
    let fill = value.map_or(0.0, |t| {
        t.float_data
            .first()
            .copied()
            .or_else(|| {
                (t.raw_data.len() >= 4)
                    .then(|| f32::from_le_bytes([t.raw_data[0], t.raw_data[1], t.raw_data[2], t.raw_data[3]]))
            })
            .unwrap_or(0.0)
    });
    let float = value.is_none_or(|t| t.data_type == 1);
    match n {
        Some(n) if n <= MAX_CONST_OF_SHAPE && float => {
            emit.inits.push(pb::TensorProto {
                name: y.to_string(),
                dims: shape,
                data_type: 1,
                float_data: vec![fill; n],
                ..Default::default()
            });
            true
        }
        _ => false,
    }
}

/// Why an op of [`EXPANDED`] that is still in the graph after expansion was not expanded
/// (None for the ops whose own importer takes the forms the expansion leaves).
pub(crate) fn not_expanded(op: &str) -> Option<&'static str> {
    match op {
        "LSTM" | "GRU" | "RNN" => Some(
            "this form is not unrolled: supported are static shapes, the activations Sigmoid, Tanh and Relu \
             without `activation_alpha`/`activation_beta`, no `input_forget`, and `sequence_lens` within the sequence",
        ),
        "Einsum" => Some("this equation is not expanded: one or two operands of static shapes are supported"),
        _ if EXPANDED.contains(&op) && super::importer(op).is_none() => {
            Some("this form is not expanded (docs/cli.md, \"Supported ONNX ops\", lists the forms)")
        }
        _ => None,
    }
}

/// The recurrent ops, unrolled over the sequence: LSTM (gates `i o f c`), GRU (`z r h`,
/// either `linear_before_reset`) and RNN, forward, reverse or bidirectional, with optional
/// biases, initial states (constants or activations), peepholes, `clip` and the activations
/// Sigmoid, Tanh and Relu, `layout` 0 or 1, and `sequence_lens` (constant or run-time; a row
/// whose sequence has ended keeps its state and gives Y = 0). The input projection of every step is one MatMul of the whole
/// sequence `X·Wᵀ + b` (`[seq, batch, G·H]`); each step adds `H·Rᵀ` (one MatMul, then a Slice
/// per gate) and combines the gates with Mul and Add of activations. W, R and B are sliced
/// and transposed by ONNX ops, which import folds when they are constants (a trained model)
/// and lowers as activations otherwise. Refused (left to import, which names the op):
/// `input_forget` and activations with parameters.
fn recurrent(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts) -> bool {
    recurrent_inner(emit, node, facts).is_some()
}

fn attr_strings(node: &pb::NodeProto, name: &str) -> Option<Vec<String>> {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

impl Emit<'_> {
    /// `x[lo..hi]` along `axis`.
    fn slice(&mut self, x: &str, axis: i64, lo: i64, hi: i64) -> String {
        if self.opset >= 10 {
            let (s, e, a) = (self.ints("starts", vec![lo]), self.ints("ends", vec![hi]), self.ints("axes", vec![axis]));
            self.node("Slice", &[x, &s, &e, &a], None, vec![])
        } else {
            let attrs = vec![ints_attr("starts", vec![lo]), ints_attr("ends", vec![hi]), ints_attr("axes", vec![axis])];
            self.node("Slice", &[x], None, attrs)
        }
    }

    fn reshape(&mut self, x: &str, dims: Vec<i64>, out: Option<&str>) -> String {
        let shape = self.ints("shape", dims);
        self.node("Reshape", &[x, &shape], out, vec![])
    }

    /// An activation of a recurrent cell, after the optional clip of its input.
    fn cell_act(&mut self, f: &str, x: &str, clip: Option<f32>) -> String {
        let x = match clip {
            Some(c) if self.opset >= 11 => {
                let (lo, hi) = (self.scalar(-c), self.scalar(c));
                self.node("Clip", &[x, &lo, &hi], None, vec![])
            }
            Some(c) => {
                let attrs = vec![
                    pb::AttributeProto { name: "min".into(), f: -c, r#type: 1, ..Default::default() },
                    pb::AttributeProto { name: "max".into(), f: c, r#type: 1, ..Default::default() },
                ];
                self.node("Clip", &[x], None, attrs)
            }
            None => x.to_string(),
        };
        self.node(f, &[&x], None, vec![])
    }
}

fn recurrent_inner(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts) -> Option<()> {
    let op = node.op_type.as_str();
    let gates: usize = match op {
        "LSTM" => 4,
        "GRU" => 3,
        _ => 1,
    };
    let input = |i: usize| node.input.get(i).map(String::as_str).filter(|s| !s.is_empty());
    let mut xs = facts.shape(input(0)?)?;
    let (w, r) = (input(1)?, input(2)?);
    // layout = 1: X [batch, seq, I], states [batch, dirs, H], Y [batch, seq, dirs, H].
    let batch_first = match attr_i(node, "layout").unwrap_or(0) {
        0 => false,
        1 => true,
        _ => return None,
    };
    if xs.len() != 3 || attr_i(node, "input_forget").unwrap_or(0) != 0 {
        return None;
    }
    let swap = |emit: &mut Emit<'_>, t: &str, perm: Vec<i64>, out: Option<&str>| {
        emit.node("Transpose", &[t], out, vec![ints_attr("perm", perm)])
    };
    let x_in = if batch_first {
        xs.swap(0, 1);
        swap(emit, input(0)?, vec![1, 0, 2], None)
    } else {
        input(0)?.to_string()
    };
    let state_in = |emit: &mut Emit<'_>, i: usize| -> Option<String> {
        let t = input(i)?;
        Some(if batch_first { swap(emit, t, vec![1, 0, 2], None) } else { t.to_string() })
    };
    let (init_h, init_c) = (state_in(emit, 5), if op == "LSTM" { state_in(emit, 6) } else { None });
    let (seq, batch, isz) = (xs[0], xs[1], xs[2]);
    let dirs: usize = match node.attribute.iter().find(|a| a.name == "direction").map(|a| a.s.as_slice()) {
        None | Some(b"forward") => 1,
        Some(b"reverse") => 1,
        Some(b"bidirectional") => 2,
        _ => return None,
    };
    let reverse = node.attribute.iter().any(|a| a.name == "direction" && a.s == b"reverse");
    let rs = facts.shape(r)?;
    let h = rs.get(2).copied()?;
    let gh = gates * h;
    if rs != [dirs, gh, h] || facts.shape(w)? != [dirs, gh, isz] || seq == 0 {
        return None;
    }
    if input(3).is_some_and(|b| facts.shape(b) != Some(vec![dirs, 2 * gh])) {
        return None;
    }
    // sequence_lens: absent or `seq` everywhere, every step of every row runs; otherwise
    // row b's steps run while t < len[b] (reverse: from step len[b] − 1 down to 0), its
    // state is held after them and its Y rows are 0, as onnxruntime does. A
    // constant length gives constant masks (wiring); a run-time one, comparisons.
    let lens = match input(4) {
        None => None,
        Some(sl) => {
            if facts.shape(sl)?.iter().product::<usize>() != batch {
                return None;
            }
            match facts.values(sl) {
                Some(v) if v.iter().all(|&v| v == seq as f64) => None,
                Some(v) if v.iter().any(|&v| !(0.0..=seq as f64).contains(&v) || v.fract() != 0.0) => return None,
                Some(v) => Some(Lens::Const(v.iter().map(|&v| v as usize).collect())),
                None => {
                    let f = emit.node("Cast", &[sl], None, vec![int_attr("to", 1)]);
                    Some(Lens::Run(emit.reshape(&f, vec![batch as i64, 1], None)))
                }
            }
        }
    };
    let peep = input(7).filter(|_| op == "LSTM");
    if peep.is_some_and(|p| facts.shape(p) != Some(vec![dirs, 3 * h])) {
        return None;
    }
    if node.attribute.iter().any(|a| a.name == "activation_alpha" || a.name == "activation_beta") {
        return None;
    }
    let per_dir = match op {
        "LSTM" => 3,
        "GRU" => 2,
        _ => 1,
    };
    let acts = attr_strings(node, "activations").filter(|a| !a.is_empty()).unwrap_or_else(|| {
        let d: &[&str] = match op {
            "LSTM" => &["Sigmoid", "Tanh", "Tanh"],
            "GRU" => &["Sigmoid", "Tanh"],
            _ => &["Tanh"],
        };
        (0..dirs).flat_map(|_| d.iter().map(|s| s.to_string())).collect()
    });
    if acts.len() != per_dir * dirs || acts.iter().any(|a| !["Sigmoid", "Tanh", "Relu"].contains(&a.as_str())) {
        return None;
    }
    let clip = attr_f(node, "clip");
    let lbr = attr_i(node, "linear_before_reset").unwrap_or(0) != 0;
    let (b, hh, ghh) = (batch as i64, h as i64, gh as i64);
    let mut ys: Vec<Vec<String>> = vec![];
    let (mut last_h, mut last_c) = (vec![], vec![]);
    // Step t's mask, shared by both directions.
    let masks: Vec<Option<String>> = (0..seq).map(|t| lens.as_ref().and_then(|l| l.mask(emit, t))).collect();
    for d in 0..dirs {
        let di = d as i64;
        let act = |k: usize| acts[d * per_dir + k].clone();
        // Direction d's weights as ONNX ops on W, R, B (folded by import when they are
        // constants, lowered as activations otherwise): Wᵀ [I, G·H], Rᵀ [H, G·H].
        let transposed = |emit: &mut Emit<'_>, t: &str, cols: i64| -> String {
            let s = emit.slice(t, 0, di, di + 1);
            let m = emit.reshape(&s, vec![ghh, cols], None);
            emit.node("Transpose", &[&m], None, vec![ints_attr("perm", vec![1, 0])])
        };
        let wt = transposed(emit, w, isz as i64);
        let rt_all = transposed(emit, r, hh);
        let biases = input(3).map(|bt| {
            let s = emit.slice(bt, 0, di, di + 1);
            let flat = emit.reshape(&s, vec![2 * ghh], None);
            (emit.slice(&flat, 0, 0, ghh), emit.slice(&flat, 0, ghh, 2 * ghh))
        });
        // The input bias: W's and R's, except for GRU's h gate (R's is added inside).
        let bias = biases.as_ref().map(|(wb, rb)| {
            if op == "GRU" {
                let (wzr, rzr) = (emit.slice(wb, 0, 0, 2 * hh), emit.slice(rb, 0, 0, 2 * hh));
                let zr = emit.node("Add", &[&wzr, &rzr], None, vec![]);
                let wh = emit.slice(wb, 0, 2 * hh, 3 * hh);
                emit.node("Concat", &[&zr, &wh], None, vec![int_attr("axis", 0)])
            } else {
                emit.node("Add", &[wb, rb], None, vec![])
            }
        });
        let xw = emit.node("MatMul", &[&x_in, &wt], None, vec![]);
        let xw = match &bias {
            Some(bias) => emit.node("Add", &[&xw, bias], None, vec![]),
            None => xw,
        };
        // R's columns used with H: all gates, or GRU's z and r (its h gate's R apart).
        let (rt, rt_h, rb_h) = if op == "GRU" {
            let rt = emit.slice(&rt_all, 1, 0, 2 * hh);
            let rt_h = emit.slice(&rt_all, 1, 2 * hh, 3 * hh);
            let rb_h = biases.as_ref().map(|(_, rb)| emit.slice(rb, 0, 2 * hh, 3 * hh));
            (rt, Some(rt_h), rb_h)
        } else {
            (rt_all, None, None)
        };
        let peeps: Vec<Option<String>> = match peep {
            Some(p) => {
                let s = emit.slice(p, 0, di, di + 1);
                let flat = emit.reshape(&s, vec![3 * hh], None);
                (0..3).map(|k| Some(emit.slice(&flat, 0, k * hh, (k + 1) * hh))).collect()
            }
            None => vec![None, None, None],
        };
        let init = |emit: &mut Emit<'_>, t: &Option<String>| -> Option<String> {
            let s = emit.slice(t.as_ref()?, 0, di, di + 1);
            Some(emit.reshape(&s, vec![b, hh], None))
        };
        let mut hs = init(emit, &init_h);
        let mut cs = init(emit, &init_c);
        let mut outs = vec![String::new(); seq];
        let order: Vec<usize> = if reverse || d == 1 { (0..seq).rev().collect() } else { (0..seq).collect() };
        for t in order {
            let (prev_h, prev_c) = (hs.clone(), cs.clone());
            let s = emit.slice(&xw, 0, t as i64, t as i64 + 1);
            let x_t = emit.reshape(&s, vec![b, ghh], None);
            let pre = match &hs {
                Some(hp) => {
                    let m = emit.node("MatMul", &[hp, &rt], None, vec![]);
                    if op == "GRU" {
                        // Only z and r get H·R here.
                        let xzr = emit.slice(&x_t, 1, 0, 2 * hh);
                        let zr = emit.node("Add", &[&xzr, &m], None, vec![]);
                        let xh = emit.slice(&x_t, 1, 2 * hh, 3 * hh);
                        emit.node("Concat", &[&zr, &xh], None, vec![int_attr("axis", 1)])
                    } else {
                        emit.node("Add", &[&x_t, &m], None, vec![])
                    }
                }
                None => x_t,
            };
            let gate = |emit: &mut Emit<'_>, k: i64| emit.slice(&pre, 1, k * hh, (k + 1) * hh);
            let h_new = match op {
                "LSTM" => {
                    let with_peep =
                        |emit: &mut Emit<'_>, g: String, p: &Option<String>, c: &Option<String>| match (p, c) {
                            (Some(p), Some(c)) => {
                                let pc = emit.node("Mul", &[c, p], None, vec![]);
                                emit.node("Add", &[&g, &pc], None, vec![])
                            }
                            _ => g,
                        };
                    let gi = gate(emit, 0);
                    let gi = with_peep(emit, gi, &peeps[0], &cs);
                    let i_t = emit.cell_act(&act(0), &gi, clip);
                    let gc = gate(emit, 3);
                    let c_t = emit.cell_act(&act(1), &gc, clip);
                    let ic = emit.node("Mul", &[&i_t, &c_t], None, vec![]);
                    let c_new = match &cs {
                        Some(c) => {
                            let gf = gate(emit, 2);
                            let gf = with_peep(emit, gf, &peeps[2], &cs);
                            let f_t = emit.cell_act(&act(0), &gf, clip);
                            let fc = emit.node("Mul", &[&f_t, c], None, vec![]);
                            emit.node("Add", &[&fc, &ic], None, vec![])
                        }
                        None => ic,
                    };
                    let go = gate(emit, 1);
                    let go = with_peep(emit, go, &peeps[1], &Some(c_new.clone()));
                    let o_t = emit.cell_act(&act(0), &go, clip);
                    let hc = emit.cell_act(&act(2), &c_new, None);
                    cs = Some(c_new);
                    emit.node("Mul", &[&o_t, &hc], None, vec![])
                }
                "GRU" => {
                    let gz = gate(emit, 0);
                    let z = emit.cell_act(&act(0), &gz, clip);
                    let gr = gate(emit, 1);
                    let rg = emit.cell_act(&act(0), &gr, clip);
                    let xh = gate(emit, 2);
                    let rt_h = rt_h.clone()?;
                    let add_rb = |emit: &mut Emit<'_>, m: String| match &rb_h {
                        Some(rb) => emit.node("Add", &[&m, rb], None, vec![]),
                        None => m,
                    };
                    // R's part of the h gate (H = 0 before the first step when no initial state).
                    let inner = match (&hs, lbr) {
                        (Some(hp), false) => {
                            let rh = emit.node("Mul", &[&rg, hp], None, vec![]);
                            let m = emit.node("MatMul", &[&rh, &rt_h], None, vec![]);
                            Some(add_rb(emit, m))
                        }
                        (Some(hp), true) => {
                            let m = emit.node("MatMul", &[hp, &rt_h], None, vec![]);
                            let m = add_rb(emit, m);
                            Some(emit.node("Mul", &[&rg, &m], None, vec![]))
                        }
                        (None, false) => rb_h.clone(),
                        (None, true) => rb_h.as_ref().map(|rb| emit.node("Mul", &[&rg, rb], None, vec![])),
                    };
                    let pre_h = match inner {
                        Some(i) => emit.node("Add", &[&xh, &i], None, vec![]),
                        None => xh,
                    };
                    let cand = emit.cell_act(&act(1), &pre_h, clip);
                    match &hs {
                        Some(hp) => {
                            let diff = emit.node("Sub", &[hp, &cand], None, vec![]);
                            let zd = emit.node("Mul", &[&z, &diff], None, vec![]);
                            emit.node("Add", &[&cand, &zd], None, vec![])
                        }
                        None => {
                            let zc = emit.node("Mul", &[&z, &cand], None, vec![]);
                            emit.node("Sub", &[&cand, &zc], None, vec![])
                        }
                    }
                }
                _ => emit.cell_act(&act(0), &pre, clip),
            };
            // Rows whose sequence has ended keep their state and give Y = 0.
            let h_new = match &masks[t] {
                Some(m) => {
                    let zero = emit.scalar(0.0);
                    let keep = |emit: &mut Emit<'_>, new: &str, prev: &Option<String>| {
                        emit.node("Where", &[m, new, prev.as_deref().unwrap_or(&zero)], None, vec![])
                    };
                    if let Some(c) = cs.take() {
                        cs = Some(keep(emit, &c, &prev_c));
                    }
                    let y = keep(emit, &h_new, &None);
                    outs[t] = emit.reshape(&y, vec![1, 1, b, hh], None);
                    keep(emit, &h_new, &prev_h)
                }
                None => {
                    outs[t] = emit.reshape(&h_new, vec![1, 1, b, hh], None);
                    h_new
                }
            };
            hs = Some(h_new);
        }
        // A row of length 0 ends with Y_h = Y_c = 0, not its initial state (onnxruntime);
        // step 0's mask is `len > 0`. Without an initial state such a row's state is 0 already.
        if let Some(m) = &masks[0] {
            let zero = emit.scalar(0.0);
            for (state, init) in [(&mut hs, &init_h), (&mut cs, &init_c)] {
                if let (Some(s), Some(_)) = (state.as_ref(), init) {
                    *state = Some(emit.node("Where", &[m, s, &zero], None, vec![]));
                }
            }
        }
        last_h.push(emit.reshape(hs.as_ref()?, vec![1, b, hh], None));
        if let Some(c) = &cs {
            last_c.push(emit.reshape(c, vec![1, b, hh], None));
        }
        ys.push(outs);
    }
    let out = |i: usize| node.output.get(i).map(String::as_str).filter(|s| !s.is_empty());
    let cat = |emit: &mut Emit<'_>, parts: &[String], axis: i64, y: Option<&str>| -> String {
        if parts.len() == 1 {
            match y {
                Some(y) => emit.node("Identity", &[&parts[0]], Some(y), vec![]),
                None => parts[0].clone(),
            }
        } else {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            emit.node("Concat", &refs, y, vec![int_attr("axis", axis)])
        }
    };
    // With layout = 1 each output is assembled under a fresh name, then transposed into place.
    let put = |emit: &mut Emit<'_>, parts: &[String], axis: i64, y: &str, perm: Vec<i64>| {
        if batch_first {
            let t = cat(emit, parts, axis, None);
            swap(emit, &t, perm, Some(y));
        } else {
            cat(emit, parts, axis, Some(y));
        }
    };
    if let Some(y) = out(0) {
        let steps: Vec<String> = (0..seq)
            .map(|t| {
                let parts: Vec<String> = ys.iter().map(|v| v[t].clone()).collect();
                cat(emit, &parts, 1, None)
            })
            .collect();
        put(emit, &steps, 0, y, vec![2, 0, 1, 3]);
    }
    if let Some(y) = out(1) {
        put(emit, &last_h, 0, y, vec![1, 0, 2]);
    }
    if let Some(y) = out(2) {
        if op != "LSTM" {
            return None;
        }
        put(emit, &last_c, 0, y, vec![1, 0, 2]);
    }
    Some(())
}

/// A recurrent op's `sequence_lens`: per-row lengths known at import, or a run-time input
/// (as floats, `[batch, 1]`).
enum Lens {
    Const(Vec<usize>),
    Run(String),
}

impl Lens {
    /// The boolean `[batch, 1]` mask `t < len[b]` of step `t`; None where every row runs.
    fn mask(&self, emit: &mut Emit<'_>, t: usize) -> Option<String> {
        match self {
            Lens::Const(lens) if lens.iter().all(|&l| t < l) => None,
            Lens::Const(lens) => {
                let name = emit.fresh("mask");
                emit.inits.push(pb::TensorProto {
                    name: name.clone(),
                    dims: vec![lens.len() as i64, 1],
                    data_type: 9,
                    int32_data: lens.iter().map(|&l| i32::from(t < l)).collect(),
                    ..Default::default()
                });
                Some(name)
            }
            Lens::Run(len) => {
                let step = emit.scalar(t as f32);
                Some(emit.node("Greater", &[len, &step], None, vec![]))
            }
        }
    }
}

/// An Einsum term: one letter per axis (an ellipsis already replaced by letters).
type Term = Vec<char>;

/// Parses an Einsum equation for operands of the given ranks: the terms of the operands
/// and of the output, an ellipsis (`...`) replaced by upper-case letters that the equation
/// does not use, aligned from the right; the implicit output (no `->`) is the letters that
/// occur once, in alphabetical order, after the ellipsis' letters.
fn einsum_terms(equation: &str, ranks: &[usize]) -> Option<(Vec<Term>, Term)> {
    let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match eq.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (eq.as_str(), None),
    };
    let parts: Vec<&str> = lhs.split(',').collect();
    if parts.len() != ranks.len() {
        return None;
    }
    let used: HashSet<char> = eq.chars().filter(char::is_ascii_alphabetic).collect();
    let spare: Vec<char> = ('A'..='Z').filter(|c| !used.contains(c)).collect();
    let mut ell_len = 0usize;
    let mut terms = vec![];
    let expand_term = |t: &str, n_ell: usize| -> Option<Term> {
        let mut out = vec![];
        let (head, tail) = match t.split_once("...") {
            Some((h, tl)) => (h, Some(tl)),
            None => (t, None),
        };
        let letters = |x: &str| x.chars().all(|c| c.is_ascii_alphabetic()).then(|| x.chars().collect::<Vec<_>>());
        out.extend(letters(head)?);
        if let Some(tl) = tail {
            out.extend(spare.get(spare.len().checked_sub(n_ell)?..)?.iter().copied());
            out.extend(letters(tl)?);
        }
        Some(out)
    };
    for (t, &rank) in parts.iter().zip(ranks) {
        let n_ell =
            if t.contains("...") { rank.checked_sub(t.chars().filter(char::is_ascii_alphabetic).count())? } else { 0 };
        ell_len = ell_len.max(n_ell);
        let term = expand_term(t, n_ell)?;
        if term.len() != rank {
            return None;
        }
        terms.push(term);
    }
    let out = match rhs {
        Some(r) => expand_term(r, ell_len)?,
        None => {
            let mut counts: std::collections::BTreeMap<char, usize> = Default::default();
            for c in terms.iter().flatten() {
                *counts.entry(*c).or_default() += 1;
            }
            let ell: Vec<char> = spare[spare.len() - ell_len..].to_vec();
            let once = counts.iter().filter(|&(c, &n)| n == 1 && !ell.contains(c)).map(|(&c, _)| c);
            ell.iter().copied().chain(once).collect()
        }
    };
    // Every output letter comes from an operand, once.
    let all: HashSet<char> = terms.iter().flatten().copied().collect();
    let distinct: HashSet<char> = out.iter().copied().collect();
    (distinct.len() == out.len() && out.iter().all(|c| all.contains(c))).then_some((terms, out))
}

/// Einsum of one or two operands as Transpose, Reshape, Gather (a repeated letter: the
/// diagonal), ReduceSum (a letter summed out of one operand) and one MatMul (batch letters
/// first, the contracted letters last), so that a constant operand folds into a Dense
/// layer and two activations use the dot gate. Broadcasting of size-1 axes between the
/// operands is not supported (the expansion declines and the op is refused).
fn einsum(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts) -> Option<()> {
    let equation =
        node.attribute.iter().find(|a| a.name == "equation").map(|a| String::from_utf8_lossy(&a.s).to_string())?;
    let y = node.output.first()?;
    let shapes: Vec<Vec<usize>> = node.input.iter().map(|i| facts.shape(i)).collect::<Option<_>>()?;
    let (terms, out) = einsum_terms(&equation, &shapes.iter().map(Vec::len).collect::<Vec<_>>())?;
    // The size of every letter, the same wherever it occurs.
    let mut size: HashMap<char, usize> = HashMap::new();
    for (t, s) in terms.iter().zip(&shapes) {
        for (&c, &d) in t.iter().zip(s) {
            if *size.entry(c).or_insert(d) != d {
                return None;
            }
        }
    }
    let mut ops: Vec<(String, Term)> = vec![];
    for (k, (input, term)) in node.input.iter().zip(&terms).enumerate() {
        let mut x = input.clone();
        let mut t = term.clone();
        // A repeated letter: its diagonal, as the two axes moved last, merged and gathered.
        while let Some((p, q)) = (0..t.len()).find_map(|p| (p + 1..t.len()).find(|&q| t[q] == t[p]).map(|q| (p, q))) {
            let n = size[&t[p]] as i64;
            let mut perm: Vec<usize> = (0..t.len()).filter(|&a| a != p && a != q).collect();
            perm.extend([p, q]);
            x = emit.transpose(&x, &perm);
            let mut rest: Vec<char> = perm[..perm.len() - 2].iter().map(|&a| t[a]).collect();
            let mut dims: Vec<i64> = rest.iter().map(|c| size[c] as i64).collect();
            dims.push(n * n);
            x = emit.reshape(&x, dims, None);
            let idx = emit.ints("diagonal", (0..n).map(|i| i * (n + 1)).collect());
            x = emit.node("Gather", &[&x, &idx], None, vec![int_attr("axis", rest.len() as i64)]);
            rest.push(t[p]);
            t = rest;
        }
        // Letters in neither the output nor the other operand: summed out here.
        let other: HashSet<char> =
            terms.iter().enumerate().filter(|&(j, _)| j != k).flat_map(|(_, t)| t.iter().copied()).collect();
        let summed: Vec<i64> =
            (0..t.len()).filter(|&a| !out.contains(&t[a]) && !other.contains(&t[a])).map(|a| a as i64).collect();
        if !summed.is_empty() {
            let axes = emit.ints("axes", summed.clone());
            let keep = int_attr("keepdims", 0);
            x = if emit.opset >= 13 {
                emit.node("ReduceSum", &[&x, &axes], None, vec![keep])
            } else {
                emit.node("ReduceSum", &[&x], None, vec![keep, ints_attr("axes", summed.clone())])
            };
            t = t.iter().enumerate().filter(|&(a, _)| !summed.contains(&(a as i64))).map(|(_, &c)| c).collect();
        }
        ops.push((x, t));
    }
    let dims_of = |t: &[char]| t.iter().map(|c| size[c] as i64).collect::<Vec<i64>>();
    let (x, t) = if ops.len() == 1 {
        ops.pop()?
    } else {
        let (b, bt) = ops.pop()?;
        let (a, at) = ops.pop()?;
        let in_out = |c: &char| out.contains(c);
        let batch: Vec<char> = out.iter().copied().filter(|c| at.contains(c) && bt.contains(c)).collect();
        let left: Vec<char> = out.iter().copied().filter(|c| at.contains(c) && !bt.contains(c)).collect();
        let right: Vec<char> = out.iter().copied().filter(|c| bt.contains(c) && !at.contains(c)).collect();
        let contract: Vec<char> = at.iter().copied().filter(|c| bt.contains(c) && !in_out(c)).collect();
        let prod = |cs: &[char]| cs.iter().map(|c| size[c] as i64).product::<i64>();
        let pos = |t: &[char], c: char| t.iter().position(|&x| x == c).expect("letter of the term");
        let order = |t: &[char], groups: &[&[char]]| {
            groups.iter().flat_map(|g| g.iter().map(|&c| pos(t, c))).collect::<Vec<_>>()
        };
        let a = emit.transpose(&a, &order(&at, &[&batch, &left, &contract]));
        let b = emit.transpose(&b, &order(&bt, &[&batch, &contract, &right]));
        let (nb, nl, nc, nr) = (prod(&batch), prod(&left), prod(&contract), prod(&right));
        let (ad, bd) =
            if batch.is_empty() { (vec![nl, nc], vec![nc, nr]) } else { (vec![nb, nl, nc], vec![nb, nc, nr]) };
        let a = emit.reshape(&a, ad, None);
        let b = emit.reshape(&b, bd, None);
        let m = emit.node("MatMul", &[&a, &b], None, vec![]);
        let t: Term = batch.iter().chain(&left).chain(&right).copied().collect();
        let m = emit.reshape(&m, dims_of(&t), None);
        (m, t)
    };
    let perm: Vec<usize> = out.iter().map(|c| t.iter().position(|x| x == c)).collect::<Option<_>>()?;
    let x = emit.transpose(&x, &perm);
    emit.reshape(&x, dims_of(&out), Some(y));
    Some(())
}

impl Emit<'_> {
    /// `x` with its axes permuted (itself when `perm` is the identity).
    fn transpose(&mut self, x: &str, perm: &[usize]) -> String {
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return x.to_string();
        }
        self.node("Transpose", &[x], None, vec![ints_attr("perm", perm.iter().map(|&p| p as i64).collect())])
    }
}

/// Gather of computed data by computed indices (an embedding's table and a constant index
/// are not expanded: they are a lookup and wiring): the indices, wrapped (`i < 0 ? i + n :
/// i`), compared with `0..n` give a one-hot matrix `[indices, n]`, and one MatMul of two
/// activations with the data (the gathered axis moved first, the rest flattened) picks the
/// rows; reshaped and transposed to the output's order. Exact: the comparisons and the
/// one-hot products are; an index outside `[−n, n)` selects no row (the output is 0), where
/// ONNX runtimes fail.
fn gather(emit: &mut Emit<'_>, node: &pb::NodeProto, facts: &dyn Facts) -> Option<()> {
    let (data, idx) = (node.input[0].as_str(), node.input[1].as_str());
    let y = node.output.first()?.as_str();
    let (ds, is) = (facts.shape(data)?, facts.shape(idx)?);
    let rank = ds.len() as i64;
    let a = attr_i(node, "axis").unwrap_or(0);
    let a = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&a) {
        return None;
    }
    let a = a as usize;
    let n = ds[a];
    let ni: usize = is.iter().product();
    let rest: usize = ds.iter().enumerate().filter(|(i, _)| *i != a).map(|(_, d)| d).product();
    if n == 0 || ni == 0 || rest == 0 || n > 1 << 16 {
        return None;
    }
    let f = emit.node("Cast", &[idx], None, vec![int_attr("to", 1)]);
    let zero = emit.scalar(0.0);
    let negative = emit.node("Less", &[&f, &zero], None, vec![]);
    let len = emit.scalar(n as f32);
    let up = emit.node("Add", &[&f, &len], None, vec![]);
    let wrapped = emit.node("Where", &[&negative, &up, &f], None, vec![]);
    let column = emit.reshape(&wrapped, vec![ni as i64, 1], None);
    let range = emit.fresh("range");
    emit.inits.push(pb::TensorProto {
        name: range.clone(),
        dims: vec![n as i64],
        data_type: 1,
        float_data: (0..n).map(|j| j as f32).collect(),
        ..Default::default()
    });
    let hit = emit.node("Equal", &[&column, &range], None, vec![]);
    let one_hot = emit.node("Cast", &[&hit], None, vec![int_attr("to", 1)]);
    let mut perm = vec![a];
    perm.extend((0..ds.len()).filter(|&i| i != a));
    let first = emit.transpose(data, &perm);
    let rows = emit.reshape(&first, vec![n as i64, rest as i64], None);
    let picked = emit.node("MatMul", &[&one_hot, &rows], None, vec![]);
    // [indices…, data axes before a…, after a…], then the before-axes moved first.
    let dims: Vec<i64> = is.iter().chain(&ds[..a]).chain(&ds[a + 1..]).map(|&d| d as i64).collect();
    if a == 0 {
        emit.reshape(&picked, dims, Some(y));
    } else {
        let shaped = emit.reshape(&picked, dims, None);
        let k = is.len();
        let perm: Vec<usize> = (k..k + a).chain(0..k).chain(k + a..k + a + ds.len() - 1 - a).collect();
        let t = emit.transpose(&shaped, &perm);
        emit.node("Identity", &[&t], Some(y), vec![]);
    }
    Some(())
}
