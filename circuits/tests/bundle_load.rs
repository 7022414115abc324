//! Crafted model bundles: every length in a key file, and the shape and k in
//! setup.json, are checked before anything is allocated from them. Before
//! these checks, several of these cases aborted the process (a 137 GB
//! allocation, a stack overflow), so this test process dying is the failure.

use std::path::{Path, PathBuf};

use sha3::{Digest, Keccak256};
use zkinfer_circuits::bundle::Bundle;
use zkinfer_circuits::srs::Srs;
use zkinfer_quantize::{Dataset, ImportOptions, QuantConfig, calibrate_and_quantize, import_onnx};

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/mlp_digits").join(file)
}

/// The mlp set up in `dir` with a dev SRS.
fn set_up(dir: &Path) -> Bundle {
    let m = import_onnx(&fixture("model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&fixture("calibration.json")).unwrap();
    let q = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("model.qm"), q.to_json()).unwrap();
    let b = Bundle::new(dir);
    let (_, k) = zkinfer_circuits::prove::shape_of(&q).unwrap();
    b.setup(&Srs::dev(k).unwrap()).unwrap();
    b
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A pk file with `patch` applied to its body and the checksum recomputed.
fn patch_pk(pk: &[u8], patch: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = pk[44..].to_vec();
    patch(&mut body);
    let mut out = pk[..12].to_vec();
    out.extend_from_slice(&Keccak256::digest(&body));
    out.extend_from_slice(&body);
    out
}

fn set_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("setup.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(p, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Changes the files of a copied bundle.
type Craft<'a> = Box<dyn Fn(&Path) + 'a>;

#[test]
fn crafted_bundles_are_errors_not_aborts() {
    let tmp = tempfile::tempdir().unwrap();
    let good = set_up(&tmp.path().join("good"));
    good.load_prover().expect("the untouched bundle loads");
    let info = good.info().unwrap();
    let n = 1usize << info.k;
    let pk = std::fs::read(good.pk()).unwrap();
    let vk_len = std::fs::read(good.vk()).unwrap().len();
    // Offsets in the pk body (halo2-axiom 0.5.3 raw format): the vk, then
    // l0, l_last, l_active_row (u32 BE length + n·32 bytes each), then the
    // fixed value polynomials (u32 BE count, then each polynomial).
    let l0 = vk_len;
    let fixed_count = vk_len + 3 * (4 + n * 32);
    let first_fixed = fixed_count + 4;
    assert_eq!(&pk[44 + l0..44 + l0 + 4], &(n as u32).to_be_bytes(), "layout assumption: l0's length");

    let cases: Vec<(&str, Craft, &str)> = vec![
        (
            "fixed-values count 0xFFFFFFFF",
            Box::new(|d| {
                let p = patch_pk(&pk, |b| b[fixed_count..fixed_count + 4].copy_from_slice(&u32::MAX.to_be_bytes()));
                std::fs::write(d.join("pk"), p).unwrap()
            }),
            "fixed value polynomials",
        ),
        (
            "first polynomial length 0xFFFFFFFF",
            Box::new(|d| {
                let p = patch_pk(&pk, |b| b[l0..l0 + 4].copy_from_slice(&u32::MAX.to_be_bytes()));
                std::fs::write(d.join("pk"), p).unwrap()
            }),
            "l0 has length 4294967295",
        ),
        (
            "first fixed polynomial length 0xFFFFFFFF",
            Box::new(|d| {
                let p = patch_pk(&pk, |b| b[first_fixed..first_fixed + 4].copy_from_slice(&u32::MAX.to_be_bytes()));
                std::fs::write(d.join("pk"), p).unwrap()
            }),
            "fixed value polynomials[0] has length 4294967295",
        ),
        (
            "pk with k = 0xFFFFFFFF in its vk part",
            Box::new(|d| {
                let p = patch_pk(&pk, |b| b[1..5].copy_from_slice(&u32::MAX.to_le_bytes()));
                std::fs::write(d.join("pk"), p).unwrap()
            }),
            "k = 4294967295",
        ),
        (
            "pk with trailing bytes",
            Box::new(|d| std::fs::write(d.join("pk"), patch_pk(&pk, |b| b.extend_from_slice(&[0; 32]))).unwrap()),
            "32 bytes follow the proving key",
        ),
        (
            "truncated pk, checksum recomputed",
            Box::new(|d| std::fs::write(d.join("pk"), patch_pk(&pk, |b| b.truncate(b.len() - 1000))).unwrap()),
            "truncated",
        ),
        (
            "pk with a stale checksum",
            Box::new(|d| {
                let mut p = pk.clone();
                let last = p.len() - 1;
                p[last] ^= 1;
                std::fs::write(d.join("pk"), p).unwrap()
            }),
            "checksum mismatch",
        ),
        (
            "setup.json shape.width = 100000",
            Box::new(|d| set_json(d, |v| v["shape"]["width"] = 100_000.into())),
            "shape.width = 100000",
        ),
        (
            "setup.json shape.limbs = 1000000",
            Box::new(|d| set_json(d, |v| v["shape"]["limbs"] = 1_000_000.into())),
            "shape.limbs = 1000000",
        ),
        ("setup.json k = 40", Box::new(|d| set_json(d, |v| v["k"] = 40.into())), "k = 40"),
        (
            "setup.json with another valid width (same k and limbs)",
            Box::new(|d| set_json(d, |v| v["shape"]["width"] = 24.into())),
            "fixed columns, the circuit of this shape has",
        ),
    ];
    for (i, (what, craft, want)) in cases.iter().enumerate() {
        let d = tmp.path().join(format!("case{i}"));
        copy_dir(&good.dir, &d);
        craft(&d);
        let e = match Bundle::new(&d).load_prover() {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(want), "{what}: the error `{e}` does not say `{want}`");
        eprintln!("{what}: {e}");
    }
}

/// A model whose tensors are far larger than its k allows is refused before planning:
/// past the format's element bound when the model file is read, and below it by the
/// bundle's k (from the ops' shapes alone) before any plan is built.
#[test]
fn a_model_larger_than_its_k_is_refused_before_planning() {
    let tmp = tempfile::tempdir().unwrap();
    let good = set_up(&tmp.path().join("good"));

    // A batch of 10^9 inputs: 6.4·10^10 values, refused by the model file's own bound.
    let d = tmp.path().join("huge");
    copy_dir(&good.dir, &d);
    let path = d.join("model.qm");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m["tensors"][0]["shape"], serde_json::json!([1, 64]));
    m["tensors"][0]["shape"][0] = 1_000_000_000u64.into();
    let bytes = serde_json::to_vec(&m).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    // The model's hash changed: put the new one in setup.json, as an attacker would.
    set_json(&d, |v| v["qmodel_hash"] = hex::encode(<sha3::Keccak256 as sha3::Digest>::digest(&bytes)).into());
    let e = Bundle::new(&d).load_prover().err().expect("a huge model loaded").to_string();
    assert!(e.contains("exceeds") && e.contains("`input`"), "{e}");
    eprintln!("huge: {e}");

    // A valid model of 2^14+ rows put into this 2^10-row bundle: refused by the estimate.
    let d = tmp.path().join("big");
    copy_dir(&good.dir, &d);
    let cnn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/cnn_medium");
    let m = import_onnx(&cnn.join("model.onnx"), &ImportOptions::default()).unwrap();
    let calib = Dataset::read(&cnn.join("calibration.json")).unwrap();
    let q = calibrate_and_quantize(&m, &calib, &QuantConfig::default(), || {}).unwrap().0;
    std::fs::write(d.join("model.qm"), q.to_json()).unwrap();
    set_json(&d, |v| v["qmodel_hash"] = q.content_hash_hex().into());
    let e = Bundle::new(&d).load_prover().err().expect("a big model loaded").to_string();
    assert!(e.contains("rows") && e.contains("not 2^10"), "{e}");
    eprintln!("big: {e}");
}
