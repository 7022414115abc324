//! SRS: dev, file round trip, downsizing, and import of a snarkjs `.ptau`.
//!
//! The `.ptau` tests read `$ZKINFER_TEST_PTAU` (a power-10 file made by snarkjs) and the
//! points snarkjs's own libraries read from it (`$ZKINFER_TEST_PTAU` with
//! `.points.json` instead of `.ptau`); scripts/test.sh makes both.

use std::path::{Path, PathBuf};

use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::bn256::Bn256;
use halo2curves::bn256::{Fq, Fq2, Fr, G1Affine, G2Affine};
use halo2curves::ff::PrimeField;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zkinfer_circuits::CircuitError;
use zkinfer_circuits::prove::{keygen, prove, shape_of, verify};
use zkinfer_circuits::srs::{Srs, SrsError, known_public_tau};
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, import_onnx};

fn ptau() -> Option<PathBuf> {
    match std::env::var_os("ZKINFER_TEST_PTAU") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("ZKINFER_TEST_PTAU is not set: .ptau import not tested (scripts/test.sh sets it)");
            None
        }
    }
}

fn fq(hex: &str) -> Fq {
    let mut b = zkinfer_circuits::encoding::hex_array::<32>(hex, "coordinate").unwrap();
    b.reverse();
    Fq::from_repr(b).unwrap()
}

fn g1(v: &serde_json::Value) -> G1Affine {
    G1Affine { x: fq(v[0].as_str().unwrap()), y: fq(v[1].as_str().unwrap()) }
}

fn g2(v: &serde_json::Value) -> G2Affine {
    let f2 = |c: &serde_json::Value| Fq2 { c0: fq(c[0].as_str().unwrap()), c1: fq(c[1].as_str().unwrap()) };
    G2Affine { x: f2(&v[0]), y: f2(&v[1]) }
}

#[test]
fn imported_points_equal_the_ptau_and_a_proof_verifies() {
    let Some(path) = ptau() else { return };
    let points: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path.with_extension("points.json")).unwrap()).unwrap();
    let srs = Srs::import_ptau(&path, None).unwrap();
    assert!(!srs.insecure);
    assert_eq!(srs.k(), 10);
    let g = srs.params.get_g();
    let tau_g1 = points["tauG1"].as_array().unwrap();
    assert_eq!(g.len(), 1024);
    for (i, p) in tau_g1.iter().enumerate() {
        assert_eq!(g[i], g1(p), "tauG1[{i}]");
    }
    assert_eq!(srs.params.g2(), g2(&points["tauG2"][0]));
    assert_eq!(srs.params.s_g2(), g2(&points["tauG2"][1]));

    // Downsizing: importing k = 9 equals downsizing the k = 10 import, Lagrange basis included.
    let small = Srs::import_ptau(&path, Some(9)).unwrap();
    let down = srs.downsized(9).unwrap();
    let bytes = |s: &Srs| {
        let mut v = Vec::new();
        s.params.write_custom(&mut v, halo2_proofs::SerdeFormat::RawBytes).unwrap();
        v
    };
    assert_eq!(bytes(&small), bytes(&down));
    assert!(Srs::import_ptau(&path, Some(11)).is_err(), "k above the file's power accepted");

    // Round trip through the zkinfer SRS file.
    let dir = tempfile::tempdir().unwrap();
    srs.write(&dir.path().join("srs")).unwrap();
    let back = Srs::read(&dir.path().join("srs")).unwrap();
    assert_eq!(back.params.get_g(), srs.params.get_g());
    assert!(!back.insecure);

    // A real proof with the imported SRS.
    let q = mlp();
    let (_, k) = shape_of(&q).unwrap();
    assert!(k <= 10);
    let params = srs.downsized(k).unwrap().params;
    let pk = keygen(&params, &q).unwrap();
    let x = q.quantize_input(&input()).unwrap().values;
    let p = prove(&params, &pk, &q, &x, Fr::from(5)).unwrap();
    verify(&params, pk.get_vk(), &p.instances, &p.proof).unwrap();
    let mut bad = p.instances.clone();
    bad[64] += Fr::from(1);
    assert!(verify(&params, pk.get_vk(), &bad, &p.proof).is_err(), "tampered output accepted");
    // The same proof under another SRS (the dev one) is rejected.
    let dev = Srs::dev(k).unwrap();
    assert!(verify(&dev.params, pk.get_vk(), &p.instances, &p.proof).is_err(), "proof accepted under another SRS");
}

#[test]
fn corrupted_ptau_files_are_rejected() {
    let Some(path) = ptau() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    // Locate section 2 (tauG1) as the reader does.
    let n_sections = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    let mut pos = 12usize;
    let mut tau_g1 = 0;
    for _ in 0..n_sections {
        let ty = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        let size = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap()) as usize;
        if ty == 2 {
            tau_g1 = pos + 12;
        }
        pos += 12 + size;
    }
    assert!(tau_g1 > 0);

    // A point off the curve.
    let mut off_curve = bytes.clone();
    off_curve[tau_g1 + 64 * 7 + 3] ^= 1;
    let e = Srs::import_ptau(&write("off.ptau", &off_curve), None).unwrap_err().to_string();
    assert!(e.contains("tauG1[7]"), "{e}");

    // Valid points, but not powers of one τ: swap two of them.
    let mut swapped = bytes.clone();
    let (a, b) = (tau_g1 + 64 * 5, tau_g1 + 64 * 6);
    let tmp: Vec<u8> = swapped[a..a + 64].to_vec();
    swapped.copy_within(b..b + 64, a);
    swapped[b..b + 64].copy_from_slice(&tmp);
    let e = Srs::import_ptau(&write("swap.ptau", &swapped), None).unwrap_err().to_string();
    assert!(e.contains("not consecutive powers"), "{e}");

    // Truncated, and not a ptau at all.
    let e = Srs::import_ptau(&write("trunc.ptau", &bytes[..bytes.len() / 3]), None).unwrap_err().to_string();
    assert!(e.contains("past the end") || e.contains("missing"), "{e}");
    let e = Srs::import_ptau(&write("junk.ptau", b"hello world, not a ptau"), None).unwrap_err().to_string();
    assert!(e.contains("not a .ptau file"), "{e}");
}

#[test]
fn dev_srs_is_marked_insecure_and_srs_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let srs = Srs::dev(5).unwrap();
    assert!(srs.insecure);
    let path = dir.path().join("dev.srs");
    srs.write(&path).unwrap();
    let back = Srs::read(&path).unwrap();
    assert!(back.insecure, "the insecure mark was lost");
    assert_eq!(back.params.get_g(), srs.params.get_g());
    // Same seed, same SRS.
    assert_eq!(Srs::dev(5).unwrap().params.get_g(), srs.params.get_g());

    // Downsizing keeps the mark and the first powers.
    let d = srs.downsized(4).unwrap();
    assert!(d.insecure);
    assert_eq!(d.params.get_g()[..], srs.params.get_g()[..16]);
    assert!(srs.downsized(6).is_err());

    // Truncated and corrupted files: clear errors.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let e = Srs::read(&path).unwrap_err().to_string();
    assert!(e.contains("truncated"), "{e}");
    let mut bad = bytes.clone();
    bad[14 + 4 + 64 * 3 + 5] ^= 0x40;
    std::fs::write(&path, &bad).unwrap();
    assert!(Srs::read(&path).is_err(), "a corrupted point was accepted");
    let e = Srs::read(Path::new("/nonexistent/srs")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/srs"), "{e}");
}

/// Offsets in a zkinfer SRS file of k: the G1 powers, the Lagrange points, G2 and τ·G2.
fn offsets(k: u32) -> (usize, usize, usize, usize) {
    let n = 1usize << k;
    let g = 14 + 4;
    (g, g + 64 * n, g + 128 * n, g + 128 * n + 128)
}

fn swap(bytes: &mut [u8], a: usize, b: usize, len: usize) {
    let tmp = bytes[a..a + len].to_vec();
    bytes.copy_within(b..b + len, a);
    bytes[b..b + len].copy_from_slice(&tmp);
}

fn refused(path: &Path) -> SrsError {
    match Srs::read(path) {
        Err(CircuitError::Srs { path: p, error }) => {
            assert_eq!(p, path.display().to_string());
            error
        }
        other => panic!("{} was not refused as an SRS: {:?}", path.display(), other.map(|s| s.k())),
    }
}

#[test]
fn dev_srs_is_recognised_by_its_tau_not_by_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dev.srs");
    Srs::dev(6).unwrap().write(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    // The 14-byte header cut off: a bare halo2 ParamsKZG file, still the dev τ.
    let bare = dir.path().join("bare.srs");
    std::fs::write(&bare, &bytes[14..]).unwrap();
    let s = Srs::read(&bare).unwrap();
    assert!(s.insecure, "a headerless dev SRS was reported secure");
    assert_eq!(s.params.get_g(), Srs::read(&path).unwrap().params.get_g());
    assert!(known_public_tau(&s.params.s_g2()).unwrap().contains("dev"));
    // The insecure flag cleared in the header: still insecure.
    let mut cleared = bytes.clone();
    cleared[13] = 0;
    std::fs::write(&bare, &cleared).unwrap();
    assert!(Srs::read(&bare).unwrap().insecure, "clearing the flag byte made the dev SRS secure");
    // halo2-base's gen_srs (zero seed) is public too.
    let zero = ParamsKZG::<Bn256>::setup(5, ChaCha20Rng::from_seed([0; 32]));
    let mut raw = Vec::new();
    zero.write_custom(&mut raw, halo2_proofs::SerdeFormat::RawBytes).unwrap();
    std::fs::write(&bare, &raw).unwrap();
    let s = Srs::read(&bare).unwrap();
    assert!(s.insecure && known_public_tau(&s.params.s_g2()).unwrap().contains("gen_srs"));
    // Another τ is not known to be public; the file's hash is recorded.
    let other = ParamsKZG::<Bn256>::setup(5, ChaCha20Rng::from_seed([7; 32]));
    let mut raw = Vec::new();
    other.write_custom(&mut raw, halo2_proofs::SerdeFormat::RawBytes).unwrap();
    std::fs::write(&bare, &raw).unwrap();
    let s = Srs::read(&bare).unwrap();
    assert!(!s.insecure);
    use sha3::Digest;
    assert_eq!(s.source_keccak256, Some(sha3::Keccak256::digest(&raw).into()));
    assert_eq!(s.downsized(4).unwrap().source_keccak256, s.source_keccak256);
}

#[test]
fn srs_files_that_are_not_a_kzg_setup_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = 6;
    let path = dir.path().join("dev.srs");
    Srs::dev(k).unwrap().write(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (g, gl, g2, s_g2) = offsets(k);
    let file = |name: &str, b: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    // Control: the untouched file loads.
    Srs::read(&path).unwrap();

    // Two Lagrange points swapped (both valid points): keygen would commit to another circuit.
    let mut b = bytes.clone();
    swap(&mut b, gl, gl + 64, 64);
    assert_eq!(refused(&file("lagrange-swap.srs", &b)), SrsError::LagrangeBasisMismatch);
    // One Lagrange point replaced by another valid point (the last power).
    let mut b = bytes.clone();
    b.copy_within(g + 64 * 63..g + 64 * 64, gl + 64 * 17);
    assert_eq!(refused(&file("lagrange-one.srs", &b)), SrsError::LagrangeBasisMismatch);
    let e = Srs::read(&file("lagrange-one.srs", &b)).unwrap_err().to_string();
    assert!(e.contains("lagrange-one.srs") && e.contains("Lagrange"), "{e}");
    // Two powers swapped.
    let mut b = bytes.clone();
    swap(&mut b, g + 64 * 5, g + 64 * 6, 64);
    assert_eq!(refused(&file("powers-swap.srs", &b)), SrsError::NotPowersOfTau);
    // τ·G2 of another τ (a valid subgroup point).
    let other = ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([9; 32]));
    let mut b = bytes.clone();
    let mut p = Vec::new();
    halo2curves::serde::SerdeObject::write_raw(&other.s_g2(), &mut p).unwrap();
    b[s_g2..s_g2 + 128].copy_from_slice(&p);
    assert_eq!(refused(&file("tau.srs", &b)), SrsError::NotPowersOfTau);
    // τ = 1: τ·G2 = G2.
    let mut b = bytes.clone();
    b.copy_within(g2..g2 + 128, s_g2);
    assert_eq!(refused(&file("one.srs", &b)), SrsError::TrivialTau);
    // The first power is not the generator.
    let mut b = bytes.clone();
    swap(&mut b, g, g + 64, 64);
    assert_eq!(refused(&file("gen.srs", &b)), SrsError::NotGenerators);
}

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/mlp_digits").join(file)
}

fn mlp() -> zkinfer_quantize::QModel {
    let m = import_onnx(&fixture("model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("calibration.json")).unwrap();
    calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0
}

fn input() -> Vec<f64> {
    Dataset::read(&fixture("input.json")).unwrap().input_data[0].clone()
}
