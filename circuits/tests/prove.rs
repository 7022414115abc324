//! Real keygen → prove → verify on the smallest fixture, with every negative twin.

use std::path::Path;

use halo2curves::bn256::Fr;
use zkinfer_circuits::prove::{keygen, model_id, model_id_for, prove, shape_of, verify};
use zkinfer_circuits::srs::Srs;
use zkinfer_quantize::{Dataset, ImportOptions, QModel, QuantConfig, calibrate_and_quantize, import_onnx};

fn fixture(model: &str, file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models").join(model).join(file)
}

fn compile(name: &str, config: QuantConfig) -> QModel {
    let m = import_onnx(&fixture(name, "model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture(name, "calibration.json")).unwrap();
    calibrate_and_quantize(&m, &calib, &config, || {}).unwrap().0
}

#[test]
fn mlp_proof_verifies_and_tampering_is_rejected() {
    let q = compile("mlp_digits", QuantConfig::default());
    let (_, k) = shape_of(&q).unwrap();
    let params = Srs::dev(k).unwrap().params;
    let pk = keygen(&params, &q).unwrap();
    let vk = pk.get_vk();
    let input = Dataset::read(&fixture("mlp_digits", "input.json")).unwrap();
    let x = q.quantize_input(&input.input_data[0]).unwrap().values;
    let p = prove(&params, &pk, &q, &x, Fr::from(777)).unwrap();
    assert_eq!(p.instances.len(), 64 + 10 + 1);
    verify(&params, vk, &p.instances, &p.proof).unwrap();

    let tamper = |i: usize| {
        let mut inst = p.instances.clone();
        inst[i] += Fr::from(1);
        inst
    };
    assert!(verify(&params, vk, &tamper(0), &p.proof).is_err(), "tampered input accepted");
    assert!(verify(&params, vk, &tamper(64), &p.proof).is_err(), "tampered output accepted");
    assert!(verify(&params, vk, &tamper(74), &p.proof).is_err(), "tampered binding accepted");
    assert!(verify(&params, vk, &p.instances, &p.proof[..p.proof.len() - 32]).is_err(), "truncated proof accepted");
    let mut flipped = p.proof.clone();
    flipped[100] ^= 1;
    assert!(verify(&params, vk, &p.instances, &flipped).is_err(), "corrupted proof accepted");

    // Another model (same architecture, other quantization, so other weights): its key rejects the proof.
    let other = compile("mlp_digits", QuantConfig { act_bits: 14, ..QuantConfig::default() });
    let other_pk = keygen(&params, &other).unwrap();
    let (c, _) = shape_of(&q).unwrap();
    assert_ne!(model_id_for(vk, c.shape, &q), model_id_for(other_pk.get_vk(), c.shape, &other));
    assert!(verify(&params, other_pk.get_vk(), &p.instances, &p.proof).is_err(), "proof accepted by another model");
}

#[test]
fn constraint_degree_stays_within_the_cap() {
    // halo2-axiom silently caps the degree at 5: a higher one would pass MockProver and fail real proofs.
    let q = compile("cnn_digits", QuantConfig::default());
    let (c, _) = shape_of(&q).unwrap();
    let mut cs = halo2_proofs::plonk::ConstraintSystem::<Fr>::default();
    <zkinfer_circuits::ModelCircuit as halo2_proofs::plonk::Circuit<Fr>>::configure_with_params(&mut cs, c.shape);
    // Recompute the uncapped degrees: gates, and lookups at 2 + input degree + table degree.
    let gates = cs.gates().iter().flat_map(|g| g.polynomials().iter().map(|p| p.degree())).max().unwrap();
    let lookups = cs
        .lookups()
        .iter()
        .map(|l| {
            let i = l.input_expressions().iter().map(|e| e.degree()).max().unwrap_or(0);
            let t = l.table_expressions().iter().map(|e| e.degree()).max().unwrap_or(0);
            2 + i + t
        })
        .max()
        .unwrap();
    assert_eq!(gates, 4, "gate degree");
    assert_eq!(lookups, 5, "lookup degree");
    assert_eq!(cs.degree(), 5);
}

/// The larger fixtures: real proofs, outputs equal the executor's, tampering rejected.
/// Slow in debug builds (cnn_medium is k = 15): `cargo test -p zkinfer-circuits --release -- --ignored`.
#[test]
#[ignore]
fn larger_fixtures_prove_and_reject_tampering() {
    for name in ["cnn_digits", "cnn_medium"] {
        let q = compile(name, QuantConfig::default());
        let (_, k) = shape_of(&q).unwrap();
        let params = Srs::dev(k).unwrap().params;
        let pk = keygen(&params, &q).unwrap();
        let input = Dataset::read(&fixture(name, "input.json")).unwrap();
        let x = q.quantize_input(&input.input_data[0]).unwrap().values;
        let p = prove(&params, &pk, &q, &x, Fr::from(9)).unwrap();
        let trace = q.execute(&x).unwrap();
        assert_eq!(p.outputs, trace.tensors[q.outputs[0]].iter().copied().collect::<Vec<_>>(), "{name}");
        verify(&params, pk.get_vk(), &p.instances, &p.proof).unwrap();
        let n_in = x.len();
        for i in [0, n_in, p.instances.len() - 1] {
            let mut bad = p.instances.clone();
            bad[i] += Fr::from(1);
            assert!(verify(&params, pk.get_vk(), &bad, &p.proof).is_err(), "{name}: instance {i} tampered, accepted");
        }
    }
}

/// The model id is keccak256 over exactly the bytes its docs list, and a
/// bundle whose files would name another circuit under the same id does not load.
#[test]
fn model_id_commits_to_the_circuit_and_is_checked_on_load() {
    use halo2_proofs::SerdeFormat;
    use halo2curves::ff::PrimeField;
    use sha3::{Digest, Keccak256};
    use zkinfer_circuits::bundle::Bundle;
    use zkinfer_circuits::prove::{circuit_digest, model_id_of};

    let q = compile("mlp_digits", QuantConfig::default());
    let (c, k) = shape_of(&q).unwrap();
    let dir = tempfile::tempdir().unwrap();
    q.write(&dir.path().join("model.qm")).unwrap();
    let srs_file = dir.path().join("dev.srs");
    Srs::dev(k + 1).unwrap().write(&srs_file).unwrap();
    let srs = Srs::read(&srs_file).unwrap();
    let bundle = Bundle::new(dir.path());
    let out = bundle.setup(&srs).unwrap();
    let v = bundle.load_verifier().unwrap();
    let vk = &v.vk;

    // The documented byte strings, spelled out.
    let mut pre = b"zkinfer.circuit.v1".to_vec();
    pre.extend((c.shape.width as u32).to_be_bytes());
    pre.extend((c.shape.limbs as u32).to_be_bytes());
    let mut repr = vk.transcript_repr().to_repr();
    repr.as_mut().reverse();
    pre.extend_from_slice(repr.as_ref());
    let vk_file = std::fs::read(dir.path().join("vk")).unwrap();
    assert_eq!(vk_file, vk.to_bytes(SerdeFormat::RawBytes));
    pre.extend(&vk_file);
    let digest: [u8; 32] = Keccak256::digest(&pre).into();
    assert_eq!(digest, circuit_digest(vk, c.shape));
    let mut id_bytes = digest.to_vec();
    id_bytes.extend(64u32.to_be_bytes());
    id_bytes.extend(10u32.to_be_bytes());
    let id: [u8; 32] = Keccak256::digest(&id_bytes).into();
    assert_eq!(id, v.model_id);
    assert_eq!(id, model_id(vk, c.shape, 64, 10));
    assert_eq!(out.info.model_id, format!("0x{}", hex::encode(id)));
    assert_eq!(out.info.circuit_digest, format!("0x{}", hex::encode(digest)));
    assert_eq!(std::fs::read_to_string(dir.path().join("model_id")).unwrap(), format!("{}\n", out.info.model_id));
    // Other instance counts, other id; the vk hash alone is not the id.
    assert_ne!(model_id_of(&digest, 63, 11), id);
    assert_ne!(<[u8; 32]>::from(Keccak256::digest(&vk_file)), id);
    // setup.json records the SRS file setup was given.
    let srs_hash: [u8; 32] = Keccak256::digest(std::fs::read(&srs_file).unwrap()).into();
    assert_eq!(out.info.srs_source_keccak256, Some(format!("0x{}", hex::encode(srs_hash))));
    assert_eq!((out.info.srs_source_k, out.info.k, out.info.insecure_srs), (k + 1, k, true));

    // A setup.json that names another shape, id or digest: the bundle does not load.
    let json = std::fs::read_to_string(bundle.setup_json()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j: serde_json::Value = serde_json::from_str(&json).unwrap();
        f(&mut j);
        std::fs::write(bundle.setup_json(), serde_json::to_string(&j).unwrap()).unwrap();
        bundle.load_verifier().err().map(|e| e.to_string())
    };
    let w = c.shape.width as u64;
    let e = edit(&|j| j["shape"]["width"] = (w + 1).into()).expect("another shape loaded");
    assert!(e.contains("vk"), "{e}");
    let e = edit(&|j| j["model_id"] = format!("0x{}", hex::encode(model_id_of(&digest, 63, 11))).into())
        .expect("another id loaded");
    assert!(e.contains("is not the one in setup.json"), "{e}");
    let e = edit(&|j| j["circuit_digest"] = format!("0x{}", "00".repeat(32)).into()).expect("another digest loaded");
    assert!(e.contains("is not the one in setup.json"), "{e}");
    let e = edit(&|j| j["version"] = 1.into()).expect("a version-1 setup.json loaded");
    assert!(e.contains("run `zkinfer setup` again"), "{e}");
    assert_eq!(edit(&|_| {}), None, "the untouched setup.json does not load");
}
