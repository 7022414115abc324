//! The proof file (`zkinfer prove` writes it, `zkinfer verify` and the node read it).
//!
//! JSON object, version 2 (version 1 proofs used a Blake2b transcript and are
//! not read: version 2 proofs use the Keccak EVM transcript):
//!
//! | key | meaning |
//! |---|---|
//! | `format`, `version` | `"zkinfer-proof"`, `2` |
//! | `model_id` | `0x` + the model id ([`crate::prove::model_id`]) |
//! | `k` | log2 of the circuit's rows |
//! | `insecure_srs` | true when the keys come from the INSECURE dev SRS |
//! | `binding` | the binding element, `0x` + 64 hex digits (big-endian) |
//! | `input`, `output` | the quantized input and output (integers; a model with several inputs or outputs has their values concatenated in the model's order) |
//! | `output_float` | the output in float units (`q · 2^-scale`) |
//! | `prediction` | argmax of the (first) output |
//! | `instances` | the public instances (inputs ‖ outputs ‖ binding), big-endian hex |
//! | `proof` | `0x` + the proof bytes (Keccak EVM transcript, uncompressed points) |
//! | `timings_ms` | `witness`, `prove`, `total` |
//!
//! `instances` is what the proof is checked against; [`ProofFile::check`]
//! rejects a file whose `input`, `output`, `output_float` or `binding` say
//! something else than its instances.

use halo2curves::bn256::Fr;
use serde::{Deserialize, Serialize};
use zkinfer_quantize::QModel;
use zkinfer_quantize::fixed::dequantize_value;

use crate::encoding::{fr_from_hex, fr_from_int, fr_to_hex, hex_decode, to_hex};
use crate::error::{CircuitError, Result};
use crate::statement::InstanceLayout;
pub use crate::statement::Statement;

/// `format` of proof files.
pub const PROOF_FORMAT: &str = "zkinfer-proof";
/// `version` of the proof files this build writes and reads.
pub const PROOF_VERSION: u32 = 2;
/// Largest proof file read (bytes).
pub const MAX_PROOF_FILE: u64 = 16 << 20;

/// Timings of one proof, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Running the model and building the witness.
    pub witness: f64,
    /// The halo2 prover.
    pub prove: f64,
    /// Everything, including loading keys when the command did.
    pub total: f64,
}

/// A proof with its public statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofFile {
    /// Always [`PROOF_FORMAT`].
    pub format: String,
    /// Always [`PROOF_VERSION`].
    pub version: u32,
    /// `0x` + the model id ([`crate::prove::model_id`]).
    pub model_id: String,
    /// log2 of the circuit's rows.
    pub k: u32,
    /// True when the keys come from the INSECURE dev SRS.
    pub insecure_srs: bool,
    /// The binding element (field element hex).
    pub binding: String,
    /// Quantized input.
    pub input: Vec<i64>,
    /// Quantized output.
    pub output: Vec<i64>,
    /// Output in float units.
    pub output_float: Vec<f64>,
    /// Argmax of the output.
    pub prediction: usize,
    /// Public instances (field element hex).
    pub instances: Vec<String>,
    /// `0x` + proof bytes.
    pub proof: String,
    /// Timings.
    pub timings_ms: Timings,
}

impl ProofFile {
    /// Builds the file for a proof of `model`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &QModel,
        model_id: &[u8; 32],
        k: u32,
        insecure_srs: bool,
        input: Vec<i64>,
        proved: &crate::prove::Proved,
        binding: Fr,
        total_ms: f64,
    ) -> ProofFile {
        let output_float = model.dequantize_outputs(&proved.outputs);
        ProofFile {
            format: PROOF_FORMAT.into(),
            version: PROOF_VERSION,
            model_id: to_hex(model_id),
            k,
            insecure_srs,
            binding: fr_to_hex(&binding),
            prediction: zkinfer_quantize::report::argmax(&proved.outputs[..model.first_output_len()]),
            input,
            output: proved.outputs.clone(),
            output_float,
            instances: proved.instances.iter().map(fr_to_hex).collect(),
            proof: to_hex(&proved.proof),
            timings_ms: Timings {
                witness: proved.witness_time.as_secs_f64() * 1e3,
                prove: proved.prove_time.as_secs_f64() * 1e3,
                total: total_ms,
            },
        }
    }

    /// Reads a proof file (at most [`MAX_PROOF_FILE`] bytes).
    pub fn read(path: &std::path::Path) -> Result<ProofFile> {
        let io = |source| CircuitError::Io { path: path.display().to_string(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_PROOF_FILE {
            return Err(CircuitError::Invalid(format!(
                "{}: {len} bytes, larger than the {MAX_PROOF_FILE}-byte limit of a proof file",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_json(&bytes).map_err(|e| CircuitError::Invalid(format!("{}: {e}", path.display())))
    }

    /// Parses proof-file JSON.
    pub fn from_json(bytes: &[u8]) -> std::result::Result<ProofFile, String> {
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let h: Header = serde_json::from_slice(bytes).map_err(|e| format!("not a proof file: {e}"))?;
        if h.format != PROOF_FORMAT {
            return Err(format!("format `{}`, expected `{PROOF_FORMAT}`", h.format));
        }
        if h.version != PROOF_VERSION {
            return Err(format!("proof file version {}, this build reads version {PROOF_VERSION}", h.version));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("malformed proof file: {e}"))
    }

    /// Writes the file (pretty JSON).
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("proof file serializes");
        std::fs::write(path, json).map_err(|source| CircuitError::Io { path: path.display().to_string(), source })
    }

    /// Checks the file against `model` and `model_id` and returns what the proof must be
    /// verified against. Rejects a proof for another model, and any field that
    /// disagrees with the instances.
    pub fn check(&self, model: &QModel, model_id: &[u8; 32]) -> Result<Statement> {
        let bad = |m: String| CircuitError::Rejected(m);
        let want_id = to_hex(model_id);
        if !self.model_id.eq_ignore_ascii_case(&want_id) {
            return Err(bad(format!("the proof is for model {}, not for this model {want_id}", self.model_id)));
        }
        let layout = InstanceLayout::of(model);
        layout.split(&self.instances)?;
        let instances: Vec<Fr> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, s)| fr_from_hex(s).map_err(|e| bad(format!("instance {i}: {e}"))))
            .collect::<Result<_>>()?;
        let (inputs, outputs, binding) = layout.split(&instances)?;
        let same = |values: &[i64], instances: &[Fr]| {
            values.len() == instances.len() && values.iter().zip(instances).all(|(&x, i)| fr_from_int(x as i128) == *i)
        };
        if !same(&self.input, inputs) {
            return Err(bad("`input` does not match the instances".into()));
        }
        if !same(&self.output, outputs) {
            return Err(bad("`output` does not match the instances".into()));
        }
        if self.output_float.len() != layout.outputs
            || self
                .output
                .iter()
                .zip(&self.output_float)
                .zip(model.output_scales())
                .any(|((&q, &f), s)| dequantize_value(q, s) != f)
            || self.prediction != zkinfer_quantize::report::argmax(&self.output[..model.first_output_len()])
        {
            return Err(bad("`output_float` or `prediction` does not match `output`".into()));
        }
        if fr_from_hex(&self.binding).ok() != Some(*binding) {
            return Err(bad("`binding` does not match the last instance".into()));
        }
        let proof = hex_decode(&self.proof, "proof").map_err(|e| bad(e.to_string()))?;
        Statement::new(layout, instances, proof)
    }
}
