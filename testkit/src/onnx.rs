//! Builds small ONNX models in memory for tests, with seeded random weights.

use std::path::{Path, PathBuf};

use prost::Message;
use tract_onnx::pb;

/// A deterministic xorshift generator: tests need no RNG crate and never flake.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) as f32
    }
    /// Uniform in `[-a, a)`.
    pub fn sym(&mut self, a: f32) -> f32 {
        (self.next_f32() * 2.0 - 1.0) * a
    }
    pub fn vec(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.sym(a)).collect()
    }
}

pub enum Attr {
    I(i64),
    F(f32),
    Ints(Vec<i64>),
    S(&'static str),
    Strings(Vec<&'static str>),
}

/// An ONNX graph under construction.
pub struct Graph {
    pub nodes: Vec<pb::NodeProto>,
    pub inits: Vec<pb::TensorProto>,
    pub input: (String, Vec<i64>),
    pub output: String,
    pub rng: Lcg,
    /// Further graph inputs after `input`: name, dims, ONNX element type (1 float, 7 int64, 9 bool).
    pub more_inputs: Vec<(String, Vec<i64>, i32)>,
    /// Further graph outputs before `output` (which stays the last).
    pub more_outputs: Vec<String>,
    /// The default-domain opset the model declares.
    pub opset: i64,
    /// The ONNX element type of `input` (1 float, 7 int64).
    pub input_elem: i32,
}

fn value_info(name: &str, dims: Option<&[i64]>, elem: i32) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as DV};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: dims.map(|dims| pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(if d > 0 { DV::DimValue(d) } else { DV::DimParam("N".into()) }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    pub fn new(input_dims: &[i64], seed: u64) -> Self {
        Graph {
            nodes: vec![],
            inits: vec![],
            input: ("input".into(), input_dims.to_vec()),
            output: String::new(),
            rng: Lcg(seed),
            more_inputs: vec![],
            more_outputs: vec![],
            opset: 13,
            input_elem: 1,
        }
    }

    /// The same graph declared at another default-domain opset (13 unless set).
    pub fn opset(mut self, version: i64) -> Self {
        self.opset = version;
        self
    }

    /// Adds a graph input of ONNX element type `elem` (1 float, 7 int64, 9 bool); returns its name.
    pub fn add_input(&mut self, name: &str, dims: &[i64], elem: i32) -> String {
        self.more_inputs.push((name.into(), dims.to_vec(), elem));
        name.into()
    }

    /// Makes `tensor` a graph output too (before the last node's output).
    pub fn add_output(&mut self, tensor: &str) {
        self.more_outputs.push(tensor.into());
    }

    /// A float initializer.
    pub fn init(&mut self, name: &str, dims: &[i64], values: Vec<f32>) -> String {
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: values,
            ..Default::default()
        });
        name.into()
    }

    /// A random float initializer in `[-a, a)`.
    pub fn rand_init(&mut self, name: &str, dims: &[i64], a: f32) -> String {
        let n = dims.iter().product::<i64>() as usize;
        let v = self.rng.vec(n, a);
        self.init(name, dims, v)
    }

    /// An int64 initializer (shapes).
    pub fn init_i64(&mut self, name: &str, dims: &[i64], values: Vec<i64>) -> String {
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: 7,
            int64_data: values,
            ..Default::default()
        });
        name.into()
    }

    /// An int8 (`data_type` 3) or uint8 (2) initializer.
    pub fn init_int8(&mut self, name: &str, dims: &[i64], data_type: i32, values: Vec<i32>) -> String {
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type,
            int32_data: values,
            ..Default::default()
        });
        name.into()
    }

    /// Adds a node; returns its output name (`<name>_out`), which becomes the graph output.
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = format!("{name}_out");
        let attribute = attrs
            .into_iter()
            .map(|(n, a)| {
                let mut p = pb::AttributeProto { name: n.into(), ..Default::default() };
                match a {
                    Attr::I(i) => {
                        p.i = i;
                        p.r#type = 2;
                    }
                    Attr::F(f) => {
                        p.f = f;
                        p.r#type = 1;
                    }
                    Attr::Ints(v) => {
                        p.ints = v;
                        p.r#type = 7;
                    }
                    Attr::S(s) => {
                        p.s = s.as_bytes().to_vec();
                        p.r#type = 3;
                    }
                    Attr::Strings(v) => {
                        p.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
                        p.r#type = 8;
                    }
                }
                p
            })
            .collect();
        self.nodes.push(pb::NodeProto {
            op_type: op.into(),
            name: name.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute,
            ..Default::default()
        });
        self.output = out.clone();
        out
    }

    /// A node with `n` outputs (`{name}_out`, then `{name}_out1`, …); the first becomes the
    /// graph's output (others can join with [`Graph::add_output`]).
    pub fn node_n(&mut self, op: &str, name: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>, n: usize) -> Vec<String> {
        let mut outs = vec![self.node(op, name, inputs, attrs)];
        for i in 1..n {
            let o = format!("{name}_out{i}");
            self.nodes.last_mut().expect("the node just added").output.push(o.clone());
            outs.push(o);
        }
        outs
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: self.opset }],
            producer_name: "zkinfer-tests".into(),
            graph: Some(pb::GraphProto {
                name: "test".into(),
                node: self.nodes.clone(),
                initializer: self.inits.clone(),
                input: std::iter::once(value_info(&self.input.0, Some(&self.input.1), self.input_elem))
                    .chain(self.more_inputs.iter().map(|(n, d, e)| value_info(n, Some(d), *e)))
                    .collect(),
                output: self
                    .more_outputs
                    .iter()
                    .chain(std::iter::once(&self.output))
                    .map(|o| value_info(o, None, 1))
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        model.encode_to_vec()
    }

    /// Writes the model into `dir` and returns its path.
    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, self.to_bytes()).unwrap();
        p
    }
}

/// Path of a bundled fixture model file.
pub fn fixture(model: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(model).join(file)
}

/// A transformer encoder block on an input `[1, seq, dim]` (opset 17, random weights of
/// seed `seed`): multi-head self-attention with `heads` heads (Q, K, V projections, `Q·Kᵀ`
/// scaled by `1/√d_h`, a Softmax over the keys, `A·V`, the output projection), a residual
/// and a LayerNormalization. Its MatMuls of two activations are batched over the heads.
pub fn attention_block(seq: i64, dim: i64, heads: i64, seed: u64) -> Graph {
    let dh = dim / heads;
    let mut g = Graph::new(&[1, seq, dim], seed).opset(17);
    let split = g.init_i64("split_heads", &[4], vec![1, seq, heads, dh]);
    let merge = g.init_i64("merge_heads", &[3], vec![1, seq, dim]);
    let project = |g: &mut Graph, p: &str, perm: Vec<i64>| -> String {
        let w = g.rand_init(&format!("w{p}"), &[dim, dim], 0.6);
        let y = g.node("MatMul", p, &["input", &w], vec![]);
        let r = g.node("Reshape", &format!("{p}_split"), &[&y, &split], vec![]);
        g.node("Transpose", &format!("{p}_heads"), &[&r], vec![("perm", Attr::Ints(perm))])
    };
    let q = project(&mut g, "q", vec![0, 2, 1, 3]);
    let kt = project(&mut g, "k", vec![0, 2, 3, 1]);
    let v = project(&mut g, "v", vec![0, 2, 1, 3]);
    let s = g.node("MatMul", "scores", &[&q, &kt], vec![]);
    let c = g.init("inv_sqrt_dh", &[], vec![1.0 / (dh as f32).sqrt()]);
    let s = g.node("Mul", "scaled", &[&s, &c], vec![]);
    let a = g.node("Softmax", "attn", &[&s], vec![("axis", Attr::I(-1))]);
    let o = g.node("MatMul", "context", &[&a, &v], vec![]);
    let o = g.node("Transpose", "unheads", &[&o], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let o = g.node("Reshape", "merge", &[&o, &merge], vec![]);
    let wo = g.rand_init("wo", &[dim, dim], 0.6);
    let o = g.node("MatMul", "out_proj", &[&o, &wo], vec![]);
    let r = g.node("Add", "residual", &["input", &o], vec![]);
    let gamma = g.rand_init("ln_gamma", &[dim], 1.0);
    let beta = g.rand_init("ln_beta", &[dim], 0.5);
    g.node("LayerNormalization", "ln", &[&r, &gamma, &beta], vec![("axis", Attr::I(-1)), ("epsilon", Attr::F(1e-5))]);
    g
}

/// Token ids `[1, seq]` (int64) → token embedding (`vocab × dim`) + learned positions →
/// one attention block ([`attention_block`]'s layers on the embedded sequence) → mean over
/// the sequence → a linear head of `classes`: a tiny text classifier (opset 20).
pub fn token_classifier(vocab: i64, seq: i64, dim: i64, classes: i64, seed: u64) -> Graph {
    let mut g = Graph::new(&[1, seq], seed).opset(20);
    g.input_elem = 7;
    let table = g.rand_init("tok_emb", &[vocab, dim], 1.0);
    let e = g.node("Gather", "embed", &[&table, "input"], vec![]);
    let pos = g.rand_init("pos_emb", &[1, seq, dim], 0.5);
    let x = g.node("Add", "with_pos", &[&e, &pos], vec![]);
    let gamma = g.rand_init("ln_gamma", &[dim], 1.0);
    let beta = g.rand_init("ln_beta", &[dim], 0.3);
    let x = g.node("LayerNormalization", "ln0", &[&x, &gamma, &beta], vec![("axis", Attr::I(-1))]);
    let wq = g.rand_init("wq", &[dim, dim], 0.6);
    let wk = g.rand_init("wk", &[dim, dim], 0.6);
    let q = g.node("MatMul", "q", &[&x, &wq], vec![]);
    let k = g.node("MatMul", "k", &[&x, &wk], vec![]);
    let kt = g.node("Transpose", "kt", &[&k], vec![("perm", Attr::Ints(vec![0, 2, 1]))]);
    let s = g.node("MatMul", "scores", &[&q, &kt], vec![]);
    let a = g.node("Softmax", "attn", &[&s], vec![("axis", Attr::I(-1))]);
    let c = g.node("MatMul", "context", &[&a, &x], vec![]);
    let h = g.node("Gelu", "gelu", &[&c], vec![]);
    let axes = g.init_i64("axes", &[1], vec![1]);
    let m = g.node("ReduceMean", "pool", &[&h, &axes], vec![("keepdims", Attr::I(0))]);
    let w = g.rand_init("head", &[dim, classes], 0.6);
    g.node("MatMul", "logits", &[&m, &w], vec![]);
    g
}
