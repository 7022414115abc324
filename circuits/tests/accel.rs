//! The prover hook (zkinfer_gpu::halo2): a proof whose commitments run through
//! the device backend (the CUDA kernels, here on the kernel emulator) commits to
//! the same points as the CPU prover for the same randomness, and the unchanged
//! verifier accepts it and rejects it tampered.

use std::path::Path;

use halo2_proofs::plonk::ProvingKey;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::bn256::{Bn256, Fr, G1Affine};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer_circuits::circuit::CircuitShape;
use zkinfer_circuits::prove::{Commit, keygen, prove_seeded, shape_of, verify};
use zkinfer_circuits::srs::Srs;
use zkinfer_gpu::halo2::AccelParams;
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

/// `$ZKINFER_FIXTURES` (for the test binary run on another machine) or the repository's fixtures/models.
fn fixture(model: &str, file: &str) -> std::path::PathBuf {
    let root = std::env::var_os("ZKINFER_FIXTURES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models"));
    root.join(model).join(file)
}

struct Mlp {
    q: QModel,
    shape: CircuitShape,
    params: ParamsKZG<Bn256>,
    pk: ProvingKey<G1Affine>,
    x: Vec<i64>,
}

/// The mlp fixture compiled, with dev-SRS keys and its first input.
fn mlp() -> Mlp {
    let m = import_onnx(&fixture("mlp_digits", "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("mlp_digits", "calibration.json")).unwrap();
    let q = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0;
    let (empty, k) = shape_of(&q).unwrap();
    let params = Srs::dev(k).unwrap().params;
    let pk = keygen(&params, &q).unwrap();
    let input = Dataset::read(&fixture("mlp_digits", "input.json")).unwrap();
    let x = q.quantize_input(&input.input_data[0]).unwrap().values;
    Mlp { q, shape: empty.shape, params, pk, x }
}

#[test]
fn device_backend_proof_commits_alike_and_verifies() {
    let Some(backend) = zkinfer_gpu::emulated_backend(0) else {
        eprintln!("skipped: the kernel emulator was not built (no C++ compiler at build time)");
        return;
    };
    let Mlp { q, shape, params, pk, x } = mlp();

    let accel = AccelParams::new(params.clone(), backend);
    let seed = || ChaCha20Rng::seed_from_u64(42);
    let on_device = prove_seeded(Commit::Accel(&accel), &pk, shape, &q, &x, Fr::from(5), seed()).unwrap();
    let on_cpu = prove_seeded(Commit::Cpu(&params), &pk, shape, &q, &x, Fr::from(5), seed()).unwrap();
    assert_eq!(on_device.instances, on_cpu.instances);
    // The proof opens with the advice commitments (64-byte points, in column
    // order), drawn from the seeded rng: they must be the same bytes. Later
    // parts differ run to run even on the CPU (halo2-axiom's lookup argument
    // draws its own randomness), so the rest is checked by verification.
    let advice = 64 * pk.get_vk().cs().num_advice_columns();
    assert!(advice > 0 && on_device.proof.len() == on_cpu.proof.len());
    assert!(
        on_device.proof[..advice] == on_cpu.proof[..advice],
        "the device backend's commitments differ from the CPU prover's"
    );
    verify(&params, pk.get_vk(), &on_device.instances, &on_device.proof).unwrap();

    // Negative twins: tampered output, tampered proof.
    let mut inst = on_device.instances.clone();
    inst[64] += Fr::from(1);
    assert!(verify(&params, pk.get_vk(), &inst, &on_device.proof).is_err(), "tampered output accepted");
    let mut flipped = on_device.proof.clone();
    flipped[200] ^= 1;
    assert!(verify(&params, pk.get_vk(), &on_device.instances, &flipped).is_err(), "corrupted proof accepted");
    // Another seed gives another (valid) proof: the comparison above is not vacuous.
    let other =
        prove_seeded(Commit::Accel(&accel), &pk, shape, &q, &x, Fr::from(5), ChaCha20Rng::seed_from_u64(43)).unwrap();
    assert_ne!(other.proof, on_device.proof);
    verify(&params, pk.get_vk(), &other.instances, &other.proof).unwrap();
}

/// The same on a CUDA GPU, every MSM on the device (runs where one is found:
/// `cargo test -p zkinfer-circuits --features zkinfer-gpu/cuda --test accel`;
/// skipped otherwise, a failure if `ZKINFER_REQUIRE_GPU` is set).
#[test]
fn gpu_backend_proof_verifies() {
    let backend = match zkinfer_gpu::gpu_backend(0) {
        Ok(b) => b,
        Err(why) if std::env::var_os("ZKINFER_REQUIRE_GPU").is_some() => panic!("no GPU backend: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let Mlp { q, shape, params, pk, x } = mlp();
    let accel = AccelParams::new(params.clone(), backend);
    let seed = || ChaCha20Rng::seed_from_u64(42);
    let on_gpu = prove_seeded(Commit::Accel(&accel), &pk, shape, &q, &x, Fr::from(5), seed()).unwrap();
    let on_cpu = prove_seeded(Commit::Cpu(&params), &pk, shape, &q, &x, Fr::from(5), seed()).unwrap();
    let advice = 64 * pk.get_vk().cs().num_advice_columns();
    assert!(on_gpu.proof[..advice] == on_cpu.proof[..advice], "the GPU's commitments differ from the CPU prover's");
    verify(&params, pk.get_vk(), &on_gpu.instances, &on_gpu.proof).unwrap();
    let mut inst = on_gpu.instances.clone();
    inst[64] += Fr::from(1);
    assert!(verify(&params, pk.get_vk(), &inst, &on_gpu.proof).is_err(), "tampered output accepted");
}
