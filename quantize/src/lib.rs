//! zkinfer-quantize: from a float ONNX model to a fixed-point integer model.
//!
//! * [`onnx`] imports an ONNX file (tract-onnx: parsing, shape inference,
//!   constant folding) into a [`FloatModel`] of provable ops.
//! * [`ops`] is the op registry: one file per op family with its import,
//!   quantization rule and integer semantics.
//! * [`calibrate`] runs the float model on a calibration set and picks a
//!   power-of-two scale per tensor, producing a [`QModel`].
//! * [`exec`] is the integer reference executor: exactly the semantics the
//!   circuit proves, with the rounding rules of [`fixed`].
//! * [`report`] compares float and quantized outputs on a dataset; [`dataset`]
//!   reads datasets (EZKL JSON, NumPy `.npy`/`.npz` through [`npy`]).
//!
//! Nothing here knows about halo2; the circuit compiler consumes [`QModel`].

pub mod calibrate;
pub mod dataset;
pub mod error;
pub mod exec;
pub mod fixed;
pub mod npy;
pub mod onnx;
pub mod ops;
pub mod qmodel;
pub mod report;

pub use calibrate::{Calibration, FloatRunner, TensorCalibration, calibrate_and_quantize};
pub use dataset::Dataset;
pub use error::{QuantizeError, Result};
pub use exec::{QuantizedInput, Trace};
pub use onnx::{FloatModel, FloatOp, ImportOptions, TensorSpec, import_onnx};
pub use ops::{FloatOpKind, supported_op_types};
pub use qmodel::{QModel, QOp, QOpKind, QTensor, QuantConfig, TensorId, Window};
pub use report::{AccuracyReport, evaluate};
