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
        }
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

    pub fn to_bytes(&self) -> Vec<u8> {
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
            producer_name: "zkinfer-tests".into(),
            graph: Some(pb::GraphProto {
                name: "test".into(),
                node: self.nodes.clone(),
                initializer: self.inits.clone(),
                input: std::iter::once(value_info(&self.input.0, Some(&self.input.1), 1))
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
