//! Real keygen → prove → verify on the smallest fixture, with every negative twin.

use std::path::Path;

use halo2curves::bn256::Fr;
use zkinfer_circuits::prove::{keygen, model_id, prove, shape_of, verify};
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
    assert_ne!(model_id(vk), model_id(other_pk.get_vk()));
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
/// Slow in debug builds (cnn_medium is k = 15): `cargo test --release -- --ignored`.
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
        assert_eq!(p.outputs, trace.tensors[q.output].iter().copied().collect::<Vec<_>>(), "{name}");
        verify(&params, pk.get_vk(), &p.instances, &p.proof).unwrap();
        let n_in = x.len();
        for i in [0, n_in, p.instances.len() - 1] {
            let mut bad = p.instances.clone();
            bad[i] += Fr::from(1);
            assert!(verify(&params, pk.get_vk(), &bad, &p.proof).is_err(), "{name}: instance {i} tampered, accepted");
        }
    }
}
