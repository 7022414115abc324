//! A compiled model directory after `zkinfer setup`: everything needed to prove and verify.
//!
//! | file | content |
//! |---|---|
//! | `model.qm` | the quantized model (from `zkinfer compile`) |
//! | `pk` | proving key ([`crate::keys`]) |
//! | `vk` | verifying key, raw bytes |
//! | `model_id` | the model id ([`crate::prove::model_id`]: keccak256 over the circuit digest and the instance counts), `0x` + 64 hex digits and a newline |
//! | `srs` | the SRS downsized to the circuit's k (zkinfer SRS format, [`crate::srs`]) |
//! | `setup.json` | k, circuit shape, circuit digest, SRS provenance, the model file's content hash |

use std::path::PathBuf;
use std::time::Instant;

use halo2_proofs::plonk::{ProvingKey, VerifyingKey};
use halo2curves::bn256::{G1Affine, G2Affine};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};
use zkinfer_quantize::QModel;

use crate::circuit::CircuitShape;
use crate::encoding::to_hex;
use crate::error::{CircuitError, Result};
use crate::keys::{check_shape, read_pk, vk_from_bytes, write_pk, write_vk};
use crate::plan::build_plan_in;
use crate::prove::{MAX_CIRCUIT_K, circuit_digest, keygen, model_id_for, shape_of};
use crate::srs::Srs;

/// `format` of setup.json.
pub const SETUP_FORMAT: &str = "zkinfer-setup";
/// `version` of setup.json: 2 since the model id commits to the circuit digest
/// and the instance counts (version 1 hashed the vk bytes only).
pub const SETUP_VERSION: u32 = 2;

/// DIR/setup.json.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInfo {
    /// Always [`SETUP_FORMAT`].
    pub format: String,
    /// Always [`SETUP_VERSION`].
    pub version: u32,
    /// `0x` + the model id ([`crate::prove::model_id`]).
    pub model_id: String,
    /// `0x` + the circuit digest ([`crate::prove::circuit_digest`]): what the
    /// model id commits to besides the instance counts, and what
    /// `ModelRegistry.register` takes.
    pub circuit_digest: String,
    /// log2 of the circuit's rows.
    pub k: u32,
    /// The circuit's shape (needed to read the keys).
    pub shape: CircuitShape,
    /// True when the SRS's τ is known to be public (the INSECURE dev SRS,
    /// recognised by its τ·G2; [`Srs::insecure`]). False means only that: it
    /// is not known to be insecure.
    pub insecure_srs: bool,
    /// keccak256 of the G2 points of the SRS (τ·G2 identifies the ceremony).
    pub srs_fingerprint: String,
    /// keccak256 of the SRS file given to setup (before it was cut to k), when
    /// it was read from a file.
    pub srs_source_keccak256: Option<String>,
    /// The k of that file.
    pub srs_source_k: u32,
    /// Content hash of model.qm at setup time.
    pub qmodel_hash: String,
    /// Public instances per proof.
    pub instances: usize,
}

/// The files of a model directory (the one definition of its layout), by the
/// command that writes them.
pub mod files {
    /// `compile`: the source ONNX model, copied.
    pub const ONNX: &str = "model.onnx";
    /// `compile`: the quantized model.
    pub const QMODEL: &str = "model.qm";
    /// `compile`: the accuracy report.
    pub const REPORT: &str = "report.json";
    /// `setup`: the proving key.
    pub const PK: &str = "pk";
    /// `setup`: the verifying key.
    pub const VK: &str = "vk";
    /// `setup`: the model id, one line.
    pub const MODEL_ID: &str = "model_id";
    /// `setup`: the SRS of the circuit's k.
    pub const SRS: &str = "srs";
    /// `setup`: [`super::SetupInfo`].
    pub const SETUP_JSON: &str = "setup.json";
    /// `evm export`: the Solidity verifier.
    pub const VERIFIER_SOL: &str = "verifier.sol";
    /// `evm export`: the creation bytecode of each part, hex, one line each, entry first.
    pub const VERIFIER_BIN: &str = "verifier.bin";
    /// `evm export`: what was exported (code hash, parts, calldata layout).
    pub const VERIFIER_JSON: &str = "verifier.json";
}

/// A model directory ([`files`]: what `compile`, `setup` and `evm export` write there).
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The directory.
    pub dir: PathBuf,
}

/// What `setup` made, with timings.
#[derive(Debug)]
pub struct SetupOutcome {
    /// setup.json's content.
    pub info: SetupInfo,
    /// Seconds spent in key generation.
    pub keygen_secs: f64,
    /// Bytes of the proving key file.
    pub pk_bytes: u64,
    /// Bytes of the verifying key file.
    pub vk_bytes: u64,
}

/// A loaded verifier: the model, its verifying key and the SRS at its k.
pub struct Verifier {
    /// The model.
    pub model: QModel,
    /// Setup metadata.
    pub info: SetupInfo,
    /// Verifying key.
    pub vk: VerifyingKey<G1Affine>,
    /// The model id ([`crate::prove::model_id`]), checked against setup.json.
    pub model_id: [u8; 32],
    /// SRS at k.
    pub srs: Srs,
}

/// A loaded prover: a [`Verifier`] plus the proving key.
pub struct Prover {
    /// The verifier half.
    pub verifier: Verifier,
    /// Proving key.
    pub pk: ProvingKey<G1Affine>,
    /// The SRS wrapped for the process's accelerated backend ([`zkinfer_gpu::selected`]),
    /// made on the first proof; `None` when the CPU is used.
    accel: std::sync::OnceLock<Option<zkinfer_gpu::halo2::AccelParams>>,
}

impl Bundle {
    /// The bundle in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Bundle {
        Bundle { dir: dir.into() }
    }
    /// DIR/`name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// DIR/model.onnx
    pub fn onnx(&self) -> PathBuf {
        self.file(files::ONNX)
    }
    /// DIR/model.qm
    pub fn qmodel(&self) -> PathBuf {
        self.file(files::QMODEL)
    }
    /// DIR/report.json
    pub fn report(&self) -> PathBuf {
        self.file(files::REPORT)
    }
    /// DIR/pk
    pub fn pk(&self) -> PathBuf {
        self.file(files::PK)
    }
    /// DIR/vk
    pub fn vk(&self) -> PathBuf {
        self.file(files::VK)
    }
    /// DIR/model_id
    pub fn model_id(&self) -> PathBuf {
        self.file(files::MODEL_ID)
    }
    /// DIR/srs
    pub fn srs(&self) -> PathBuf {
        self.file(files::SRS)
    }
    /// DIR/setup.json
    pub fn setup_json(&self) -> PathBuf {
        self.file(files::SETUP_JSON)
    }

    /// Generates the keys of DIR/model.qm from `srs` (downsized to the circuit's k) and writes them.
    pub fn setup(&self, srs: &Srs) -> Result<SetupOutcome> {
        let model = QModel::read(&self.qmodel())?;
        let (circuit, k) = shape_of(&model)?;
        let source_k = srs.k();
        let srs = srs.downsized(k).map_err(|_| {
            CircuitError::Invalid(format!("the SRS has k = {}, this model's circuit needs k = {k}", srs.k()))
        })?;
        let t = Instant::now();
        let pk = keygen(&srs.params, &model)?;
        let keygen_secs = t.elapsed().as_secs_f64();
        let id = model_id_for(pk.get_vk(), circuit.shape, &model);
        let info = SetupInfo {
            format: SETUP_FORMAT.into(),
            version: SETUP_VERSION,
            model_id: to_hex(id),
            circuit_digest: to_hex(circuit_digest(pk.get_vk(), circuit.shape)),
            k,
            shape: circuit.shape,
            insecure_srs: srs.insecure,
            srs_fingerprint: srs_fingerprint(srs.params.g2(), srs.params.s_g2()),
            srs_source_keccak256: srs.source_keccak256.map(to_hex),
            srs_source_k: source_k,
            qmodel_hash: model.content_hash_hex(),
            instances: crate::statement::InstanceLayout::of(&model).len(),
        };
        write_pk(&self.pk(), &pk)?;
        write_vk(&self.vk(), pk.get_vk())?;
        srs.write(&self.srs())?;
        let io = |p: PathBuf| move |source| CircuitError::Io { path: p.display().to_string(), source };
        std::fs::write(self.model_id(), format!("{}\n", info.model_id)).map_err(io(self.model_id()))?;
        let json = serde_json::to_vec_pretty(&info).expect("setup info serializes");
        std::fs::write(self.setup_json(), json).map_err(io(self.setup_json()))?;
        let size = |p: PathBuf| std::fs::metadata(&p).map(|m| m.len()).map_err(io(p));
        Ok(SetupOutcome { info, keygen_secs, pk_bytes: size(self.pk())?, vk_bytes: size(self.vk())? })
    }

    /// Reads setup.json; its k and shape are bounded ([`check_shape`],
    /// [`MAX_CIRCUIT_K`]) before anything is built from them.
    pub fn info(&self) -> Result<SetupInfo> {
        let path = self.setup_json();
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => CircuitError::Invalid(format!(
                "{} has no setup.json: run `zkinfer setup {} --srs FILE` first",
                self.dir.display(),
                self.dir.display()
            )),
            _ => CircuitError::Io { path: path.display().to_string(), source },
        })?;
        let bad = |what: String| CircuitError::Invalid(format!("{}: {what}", path.display()));
        let info: SetupInfo = serde_json::from_slice(&bytes).map_err(|e| bad(format!("malformed: {e}")))?;
        if info.format != SETUP_FORMAT {
            return Err(bad("not a zkinfer setup file".into()));
        }
        if info.version != SETUP_VERSION {
            return Err(bad(format!(
                "setup file version {}, this zkinfer reads version {SETUP_VERSION} (the model id changed): \
                 run `zkinfer setup` again",
                info.version
            )));
        }
        check_shape(info.shape).map_err(bad)?;
        if !(1..=MAX_CIRCUIT_K).contains(&info.k) {
            return Err(bad(format!("k = {} is outside 1..={MAX_CIRCUIT_K}", info.k)));
        }
        Ok(info)
    }

    /// Loads what verifying needs, checking that the files belong together.
    pub fn load_verifier(&self) -> Result<Verifier> {
        self.load_verifier_within(MAX_CIRCUIT_K)
    }

    /// [`Bundle::load_verifier`] of a model whose circuit has at most 2^`max_k`
    /// rows. Every file is checked before it is parsed: setup.json's k and
    /// shape must be the ones the model's plan needs (the model's size is
    /// bounded by k first, so planning is bounded too), and each key's layout
    /// must be the circuit's ([`crate::keys`]). A panic while reading a
    /// malformed file is an error here, not a crash.
    pub fn load_verifier_within(&self, max_k: u32) -> Result<Verifier> {
        guarded(|| self.load_verifier_unguarded(max_k))
    }

    fn load_verifier_unguarded(&self, max_k: u32) -> Result<Verifier> {
        let info = self.info()?;
        if info.k > max_k {
            return Err(CircuitError::TooLarge { k: info.k, max: max_k, detail: String::new() });
        }
        let model = QModel::read(&self.qmodel())?;
        if model.content_hash_hex() != info.qmodel_hash {
            return Err(CircuitError::Invalid(format!(
                "{} changed after setup (content hash differs): run `zkinfer setup` again",
                self.qmodel().display()
            )));
        }
        let setup = self.setup_json();
        let mismatch = |what: String| {
            CircuitError::Invalid(format!(
                "{}: {what} (setup.json does not belong to model.qm: run `zkinfer setup` again)",
                setup.display()
            ))
        };
        check_model_size(&model, info.k, info.shape).map_err(mismatch)?;
        let plan = build_plan_in(&model, None, info.shape.width, info.shape.func_slots())?;
        if plan.limbs() != info.shape.limbs || plan.min_k() != info.k {
            return Err(mismatch(format!(
                "k = {}, limbs = {}, but the model's circuit at width {} has k = {}, limbs = {}",
                info.k,
                info.shape.limbs,
                info.shape.width,
                plan.min_k(),
                plan.limbs()
            )));
        }
        let instances = crate::statement::InstanceLayout::of(&model).len();
        if info.instances != instances {
            return Err(mismatch(format!("{} instances, the model has {instances}", info.instances)));
        }
        let vk_bytes = std::fs::read(self.vk())
            .map_err(|source| CircuitError::Io { path: self.vk().display().to_string(), source })?;
        let vk = vk_from_bytes(&vk_bytes, info.k, info.shape)
            .map_err(|e| CircuitError::Invalid(format!("{}: {e}", self.vk().display())))?;
        // The id is recomputed from what was loaded: the key read under setup.json's
        // shape (whose constraint system is in the transcript digest) and the model's
        // instance counts. Another shape, key or model gives another id.
        let id = model_id_for(&vk, info.shape, &model);
        let digest = to_hex(circuit_digest(&vk, info.shape));
        if to_hex(id) != info.model_id || digest != info.circuit_digest {
            return Err(CircuitError::Invalid(format!(
                "{}: the model id of the verifying key, the circuit shape and the model's instance counts \
                 is not the one in setup.json",
                self.vk().display()
            )));
        }
        let srs = Srs::read(&self.srs())?;
        if srs.k() != info.k {
            return Err(CircuitError::Invalid(format!(
                "{}: k = {}, the keys need k = {}",
                self.srs().display(),
                srs.k(),
                info.k
            )));
        }
        Ok(Verifier { model, info, vk, model_id: id, srs })
    }

    /// Loads what proving needs (the verifier half and the proving key).
    pub fn load_prover(&self) -> Result<Prover> {
        self.load_prover_within(MAX_CIRCUIT_K)
    }

    /// [`Bundle::load_prover`] of a model of at most 2^`max_k` rows, checked
    /// as [`Bundle::load_verifier_within`] checks.
    pub fn load_prover_within(&self, max_k: u32) -> Result<Prover> {
        guarded(|| {
            let verifier = self.load_verifier_unguarded(max_k)?;
            let pk = read_pk(&self.pk(), verifier.info.k, verifier.info.shape)?;
            if model_id_for(pk.get_vk(), verifier.info.shape, &verifier.model) != verifier.model_id {
                return Err(CircuitError::Invalid(format!(
                    "{}: the proving key does not belong to the verifying key",
                    self.pk().display()
                )));
            }
            Ok(Prover { verifier, pk, accel: Default::default() })
        })
    }
}

/// Runs a loader, turning a panic (a malformed file hitting an assertion deep
/// inside a parser) into an error. Aborts (allocation failure, stack overflow)
/// cannot be caught: the checks before each parser exist to rule them out.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        Err(CircuitError::Invalid(format!("malformed model files ({what})")))
    })
}

/// `model` fits a circuit of 2^`k` rows and `shape`: checked from its ops' shapes alone
/// ([`crate::cost::estimate_at`], linear in the ops, overflow-safe) before planning, which
/// allocates per wire and per product.
fn check_model_size(model: &QModel, k: u32, shape: CircuitShape) -> std::result::Result<(), String> {
    let e = crate::cost::estimate_at(model, shape.width, shape.func_slots());
    // The estimate may overcount a little (padded convolutions): one k of slack.
    if e.k > k + 1 {
        return Err(format!("the model needs about 2^{} rows ({}), not 2^{k}", e.k, e.summary()));
    }
    Ok(())
}

/// keccak256 of (G2, τ·G2) in raw form: names the ceremony an SRS comes from.
pub fn srs_fingerprint(g2: G2Affine, s_g2: G2Affine) -> String {
    use halo2curves::serde::SerdeObject;
    let mut bytes = Vec::new();
    g2.write_raw(&mut bytes).expect("in-memory write");
    s_g2.write_raw(&mut bytes).expect("in-memory write");
    to_hex(Keccak256::digest(&bytes))
}

impl Verifier {
    /// Checks a proof file against this model and verifies its proof.
    pub fn verify_file(&self, file: &crate::proof_file::ProofFile) -> Result<()> {
        let st = file.check(&self.model, &self.model_id)?;
        crate::prove::verify(&self.srs.params, &self.vk, &st.instances, &st.proof)
    }
}

impl Prover {
    /// Proves the model on a quantized input.
    pub fn prove(&self, input: &[i64], binding: halo2curves::bn256::Fr) -> Result<crate::prove::Proved> {
        let v = &self.verifier;
        let accel = self.accel.get_or_init(|| {
            let msm = zkinfer_gpu::selected().msm.clone()?;
            Some(zkinfer_gpu::halo2::AccelParams::new(v.srs.params.clone(), msm))
        });
        match accel {
            Some(a) => crate::prove::prove_accel(a, &self.pk, v.info.shape, &v.model, input, binding),
            None => crate::prove::prove_with_shape(&v.srs.params, &self.pk, v.info.shape, &v.model, input, binding),
        }
    }
}
