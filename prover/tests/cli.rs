//! The `zkinfer` binary as a user runs it.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use zkinfer_verifier::chain::DEV_KEYS;

use common::{compile_mlp, fixture, text, zkinfer};

#[test]
fn compile_then_eval_json() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("mlp");
    let o = zkinfer(&[
        "compile",
        &fixture("models/mlp_digits/model.onnx"),
        "--calibration",
        &fixture("models/mlp_digits/calibration.json"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("argmax agreement"), "{}", text(&o));
    for f in ["model.qm", "report.json", "model.onnx"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["model"], "mlp_digits");
    assert_eq!(report["config"]["act_bits"], 16);
    assert_eq!(report["ops"].as_array().unwrap().len(), 3);
    assert_eq!(report["content_hash"].as_str().unwrap().len(), 64);

    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/mlp_digits/test.json"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["samples", "argmax_agreement", "float_accuracy", "quantized_accuracy", "max_abs_error"] {
        assert!(r.get(key).is_some(), "missing {key}: {r}");
    }
    assert_eq!(r["samples"], 450);
    assert!(r["argmax_agreement"].as_f64().unwrap() >= 0.99);

    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/mlp_digits/test.json")]);
    assert!(o.status.success());
    assert!(text(&o).contains("quantized accuracy"), "{}", text(&o));

    // A dataset for another model's input shape: exit 1 with the shape in the message (a
    // list of whole samples, 4 × 64 values, is EZKL's batching and is read as 4 samples).
    let other = dir.path().join("other.json");
    std::fs::write(&other, format!("{{\"input_data\": [{:?}]}}", vec![0.5; 100])).unwrap();
    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("100 values for input `input` of shape [1, 64]"), "{}", text(&o));
    let o = zkinfer(&["eval", out.to_str().unwrap(), "--dataset", &fixture("models/cnn_medium/input.json"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["samples"], 4);
}

#[test]
fn errors_exit_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let calib = fixture("models/mlp_digits/calibration.json");

    let o = zkinfer(&["compile", &fixture("bad/unsupported_random.onnx"), "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("[quantize]") && t.contains("unsupported ONNX op `RandomNormalLike` at node `noise`"), "{t}");

    let o = zkinfer(&["compile", &fixture("models/mlp_digits/meta.json"), "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("not a valid ONNX model"), "{}", text(&o));

    let o = zkinfer(&["compile", "/nonexistent/model.onnx", "--calibration", &calib, "-o", out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("/nonexistent/model.onnx"), "{}", text(&o));

    let o = zkinfer(&[
        "compile",
        &fixture("models/cnn_digits/model.onnx"),
        "--calibration",
        &fixture("models/cnn_medium/calibration.json"),
        "-o",
        out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has 256 values") && text(&o).contains("[1, 1, 8, 8] = 64 values"), "{}", text(&o));

    let o = zkinfer(&["eval", "/nonexistent-dir", "--dataset", &calib]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("model.qm"), "{}", text(&o));
    assert!(!Path::new(out).exists(), "a failed compile left output behind");
}

/// `zkinfer prove DIR --input <mlp input> -o OUT EXTRA...`.
fn prove_mlp(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let input = fixture("models/mlp_digits/input.json");
    let mut args = vec!["prove", dir.to_str().unwrap(), "--input", &input, "-o", out];
    args.extend_from_slice(extra);
    zkinfer(&args)
}

/// Adds one to the mlp's output 3 in `output`, `output_float`, the instances and the prediction.
fn tamper_output_consistently(v: &mut serde_json::Value) {
    let q = v["output"][3].as_i64().unwrap() + 1;
    assert!(q > 0, "the fixture's output 3 is expected non-negative");
    v["output"][3] = q.into();
    v["output_float"][3] = (q as f64 / 512.0).into();
    v["instances"][64 + 3] = format!("0x{q:064x}").into();
    let pred = v["output"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).enumerate();
    let best = pred.fold((0, i64::MIN), |b, (i, x)| if x > b.1 { (i, x) } else { b });
    v["prediction"] = best.0.into();
}

fn edit(src: &Path, dst: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(dst, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// compile → srs dev → setup → prove → verify, and every tampering rejected with exit 1 and a reason.
#[test]
fn setup_prove_verify_and_rejections() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();
    let dir = tmp.path().join("mlp");
    compile_mlp(&dir, &[]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    for key in ["k", "rows", "advice_columns", "fixed_columns", "lookups", "estimated_proving_memory_bytes"] {
        assert!(report[key].as_u64().is_some_and(|v| v > 0), "report.json lacks {key}");
    }
    let k = report["k"].as_u64().unwrap();

    let o = zkinfer(&["srs", "dev", "--k", &(k + 1).to_string(), "-o", &p("dev.srs")]);
    assert!(o.status.success() && text(&o).contains("INSECURE"), "{}", text(&o));
    // The dev SRS with its 14-byte header cut off (a bare halo2 params file) is still
    // recognised as the dev SRS, by its τ·G2.
    let stripped = std::fs::read(p("dev.srs")).unwrap()[14..].to_vec();
    std::fs::write(p("bare.srs"), &stripped).unwrap();
    let o = zkinfer(&["setup", dir.to_str().unwrap(), "--srs", &p("bare.srs")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("INSECURE"), "setup does not warn about the headerless dev SRS: {}", text(&o));
    let setup: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("setup.json")).unwrap()).unwrap();
    assert_eq!(setup["insecure_srs"], true);
    let keccak = |b: &[u8]| format!("0x{}", hex::encode(<sha3::Keccak256 as sha3::Digest>::digest(b)));
    assert_eq!(setup["srs_source_keccak256"], keccak(&stripped).as_str());
    let id = std::fs::read_to_string(dir.join("model_id")).unwrap().trim().to_string();
    assert!(id.starts_with("0x") && id.len() == 66 && text(&o).contains(&id), "{}", text(&o));
    // The model id: keccak256(circuit digest ‖ u32be(64 inputs) ‖ u32be(10 outputs)).
    let digest = zkinfer_circuits::encoding::hex_decode(setup["circuit_digest"].as_str().unwrap(), "digest").unwrap();
    let mut id_bytes = digest.clone();
    id_bytes.extend(64u32.to_be_bytes());
    id_bytes.extend(10u32.to_be_bytes());
    assert_eq!(keccak(&id_bytes), id);

    let o = prove_mlp(
        &dir,
        &p("proof.json"),
        &["--job-id", "0x2a", "--prover", "0x00000000000000000000000000000000000000aa"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let proof: serde_json::Value = serde_json::from_slice(&std::fs::read(p("proof.json")).unwrap()).unwrap();
    assert_eq!(proof["model_id"], id.as_str());
    assert_eq!(proof["insecure_srs"], true);
    assert_eq!(proof["instances"].as_array().unwrap().len(), 64 + 10 + 1);
    assert_eq!(proof["output_float"].as_array().unwrap().len(), 10);
    assert!(proof["timings_ms"]["prove"].as_f64().unwrap() > 0.0);

    let o = zkinfer(&["verify", dir.to_str().unwrap(), &p("proof.json")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("valid"), "{}", text(&o));

    let reject = |file: &str, why: &str| {
        let o = zkinfer(&["verify", dir.to_str().unwrap(), file]);
        assert_eq!(o.status.code(), Some(1), "{why}: {}", text(&o));
        let out = text(&o);
        assert!(out.contains("invalid"), "{why}: {out}");
        assert!(!out.contains("panicked"), "{why}: {out}");
        out
    };
    let bump = |v: &mut serde_json::Value, i: usize| {
        let s = v["instances"][i].as_str().unwrap().to_string();
        let last = u8::from_str_radix(&s[s.len() - 1..], 16).unwrap();
        v["instances"][i] = format!("{}{:x}", &s[..s.len() - 1], last ^ 1).into();
    };
    // A tampered output, consistently in `output`, `output_float` and the instances: the proof fails.
    edit(Path::new(&p("proof.json")), Path::new(&p("out.json")), tamper_output_consistently);
    let out = reject(&p("out.json"), "tampered output");
    assert!(out.contains("rejected"), "{out}");
    // Only the displayed output changed: the file contradicts its instances.
    edit(Path::new(&p("proof.json")), Path::new(&p("shown.json")), |v| v["output_float"][0] = 99.0.into());
    reject(&p("shown.json"), "tampered output_float");
    // A tampered input instance and a tampered binding.
    edit(Path::new(&p("proof.json")), Path::new(&p("in.json")), |v| {
        bump(v, 0);
        v["input"][0] = (v["input"][0].as_i64().unwrap() ^ 1).into();
    });
    reject(&p("in.json"), "tampered input");
    edit(Path::new(&p("proof.json")), Path::new(&p("bind.json")), |v| {
        bump(v, 74);
        v["binding"] = v["instances"][74].clone();
    });
    reject(&p("bind.json"), "tampered binding");
    // Truncated and corrupted proofs, malformed files.
    edit(Path::new(&p("proof.json")), Path::new(&p("trunc.json")), |v| {
        let s = v["proof"].as_str().unwrap().to_string();
        v["proof"] = s[..s.len() - 64].into();
    });
    reject(&p("trunc.json"), "truncated proof");
    edit(Path::new(&p("proof.json")), Path::new(&p("odd.json")), |v| v["proof"] = "0xabc".into());
    reject(&p("odd.json"), "odd-length proof");
    std::fs::write(p("junk.json"), b"{\"format\": \"zkinfer-proof\", \"version\": 1}").unwrap();
    reject(&p("junk.json"), "incomplete file");
    std::fs::write(p("bin.json"), [0xffu8, 0, 1, 2]).unwrap();
    reject(&p("bin.json"), "binary garbage");

    // Another model (other quantization, so other weights): the proof is not for it.
    let other = tmp.path().join("other");
    compile_mlp(&other, &["--act-bits", "14"]);
    let o = zkinfer(&["setup", other.to_str().unwrap(), "--srs", &p("dev.srs")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["verify", other.to_str().unwrap(), &p("proof.json")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is for model"), "{}", text(&o));
    // ... even when the file claims the other model's id.
    let other_id = std::fs::read_to_string(other.join("model_id")).unwrap().trim().to_string();
    edit(Path::new(&p("proof.json")), Path::new(&p("claim.json")), |v| v["model_id"] = other_id.into());
    let o = zkinfer(&["verify", other.to_str().unwrap(), &p("claim.json")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // An SRS too small, and a corrupted proving key: clear errors, exit 1.
    let o = zkinfer(&["srs", "dev", "--k", "4", "-o", &p("tiny.srs")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["setup", other.to_str().unwrap(), "--srs", &p("tiny.srs")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("needs k ="), "{}", text(&o));
    let pk = std::fs::read(dir.join("pk")).unwrap();
    std::fs::write(dir.join("pk"), &pk[..pk.len() / 2]).unwrap();
    let o = prove_mlp(&dir, &p("x.json"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("truncated or corrupted") && !text(&o).contains("panicked"), "{}", text(&o));
}

/// `srs import` of a snarkjs .ptau (made by scripts/test.sh), then a proof with it.
#[test]
fn srs_import_from_snarkjs_ptau() {
    let Some(ptau) = std::env::var_os("ZKINFER_TEST_PTAU") else {
        eprintln!("ZKINFER_TEST_PTAU is not set: srs import not tested (scripts/test.sh sets it)");
        return;
    };
    let ptau = ptau.to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();
    let o = zkinfer(&["srs", "import", &ptau, "-o", &p("pot.srs")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("INSECURE"), "{}", text(&o));
    let o = zkinfer(&["srs", "import", &ptau, "--k", "20", "-o", &p("big.srs")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let dir = tmp.path().join("mlp");
    compile_mlp(&dir, &[]);
    let o = zkinfer(&["setup", dir.to_str().unwrap(), "--srs", &p("pot.srs")]);
    assert!(o.status.success() && !text(&o).contains("INSECURE"), "{}", text(&o));
    let o = prove_mlp(&dir, &p("proof.json"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let proof: serde_json::Value = serde_json::from_slice(&std::fs::read(p("proof.json")).unwrap()).unwrap();
    assert_eq!(proof["insecure_srs"], false);
    let o = zkinfer(&["verify", dir.to_str().unwrap(), &p("proof.json")]);
    assert!(o.status.success(), "{}", text(&o));
}

/// evm export → evm verify in the embedded EVM: valid with its gas; a tampered proof,
/// or a consistently tampered output, reverts in the EVM and exits 1.
#[test]
fn evm_export_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_string_lossy().into_owned();
    let dir = tmp.path().join("mlp");
    compile_mlp(&dir, &[]);
    let d = dir.to_str().unwrap();
    let o = zkinfer(&["evm", "verify", d, &p("none.json")]);
    assert_eq!(o.status.code(), Some(1));
    let o = zkinfer(&["srs", "dev", "--k", "10", "-o", &p("dev.srs")]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(zkinfer(&["setup", d, "--srs", &p("dev.srs")]).status.success());
    let o = zkinfer(&["evm", "verify", d, &p("none.json")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("zkinfer evm export"), "{}", text(&o));

    let o = zkinfer(&["evm", "export", d]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("INSECURE"), "{}", text(&o));
    let sol = std::fs::read_to_string(dir.join("verifier.sol")).unwrap();
    assert!(sol.contains("contract Halo2Verifier"));
    let bin = std::fs::read_to_string(dir.join("verifier.bin")).unwrap();
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("verifier.json")).unwrap()).unwrap();
    assert_eq!(info["instances"], 75);
    let parts = info["parts"].as_array().unwrap();
    assert_eq!(bin.lines().count(), parts.len(), "one line of bytecode per part");
    for (line, part) in bin.lines().zip(parts) {
        assert_eq!(hex::decode(line).unwrap().len() as u64, part["bytecode_bytes"].as_u64().unwrap());
        assert!(part["runtime_bytes"].as_u64().unwrap() <= 24_576, "{part}");
    }
    assert!(info["unsplit_runtime_bytes"].as_u64().unwrap() > 10_000);
    assert_eq!(info["model_id"], std::fs::read_to_string(dir.join("model_id")).unwrap().trim());

    let o = prove_mlp(&dir, &p("proof.json"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["evm", "verify", d, &p("proof.json")]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.starts_with("valid") && t.contains(" gas"), "{t}");

    // A flipped proof byte: the EVM verifier reverts.
    edit(Path::new(&p("proof.json")), Path::new(&p("flipped.json")), |v| {
        let s = v["proof"].as_str().unwrap();
        let mut b = hex::decode(&s[2..]).unwrap();
        b[400] ^= 1;
        v["proof"] = format!("0x{}", hex::encode(b)).into();
    });
    let o = zkinfer(&["evm", "verify", d, &p("flipped.json")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid: the EVM verifier reverted"), "{}", text(&o));

    // The output changed everywhere the file states it (instances too): only the proof can tell.
    edit(Path::new(&p("proof.json")), Path::new(&p("output.json")), tamper_output_consistently);
    let o = zkinfer(&["evm", "verify", d, &p("output.json")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("invalid: the EVM verifier reverted"), "{}", text(&o));

    // On a real node: evm deploy, then evm verify against the deployed verifier.
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    let deploy = |key: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zkinfer"));
        c.args(["evm", "deploy", d, "--chain-rpc", &anvil.url]).env_remove("ZKINFER_CHAIN_KEY");
        if let Some(k) = key {
            c.env("ZKINFER_CHAIN_KEY", k);
        }
        c.output().unwrap()
    };
    let o = deploy(None);
    assert!(!o.status.success() && text(&o).contains("ZKINFER_CHAIN_KEY"), "{}", text(&o));
    let o = deploy(Some(DEV_KEYS[1]));
    assert!(o.status.success(), "{}", text(&o));
    let addr = text(&o).lines().next().unwrap().strip_prefix("verifier ").unwrap().to_string();
    // The deployed code hash is the one export computed from the key alone.
    let exported = format!("code hash {}", info["code_hash"].as_str().unwrap());
    assert!(text(&o).contains(&exported), "{}", text(&o));
    let on_chain = |proof: &str, addr: &str| {
        zkinfer(&["evm", "verify", d, &p(proof), "--chain-rpc", &anvil.url, "--address", addr])
    };
    let o = on_chain("proof.json", &addr);
    assert!(o.status.success() && text(&o).starts_with("valid"), "{}", text(&o));
    assert!(text(&o).contains(&format!("verified by the verifier at {addr}")), "{}", text(&o));
    for tampered in ["flipped.json", "output.json"] {
        let o = on_chain(tampered, &addr);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("invalid: the EVM verifier reverted"), "{}", text(&o));
    }
    let o = on_chain("proof.json", "0x000000000000000000000000000000000000dEaD");
    assert!(!o.status.success() && text(&o).contains("no contract at"), "{}", text(&o));

    // evm check: every deployed part is the code the verifying key generates.
    let check = |addr: &str, extra: &[&str]| {
        let mut args = vec!["evm", "check", addr, d, "--chain-rpc", &anvil.url];
        args.extend(extra);
        zkinfer(&args)
    };
    let o = check(&addr, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let code_hash = info["code_hash"].as_str().unwrap();
    assert!(text(&o).contains(code_hash) && text(&o).contains("ok: every part"), "{}", text(&o));
    assert_eq!(text(&o).matches(" ok (code hash").count(), parts.len(), "{}", text(&o));
    // ... and the model's registry entry.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let keys: Vec<String> = DEV_KEYS.iter().map(|k| k.to_string()).collect();
    let chain = rt.block_on(zkinfer_verifier::chain::RpcChain::connect(&anvil.url, &keys)).unwrap();
    let setup: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("setup.json")).unwrap()).unwrap();
    let verifier: alloy::primitives::Address = addr.parse().unwrap();
    let market = rt.block_on(async {
        let (m, _) = zkinfer_verifier::Market::deploy(&chain, chain.accounts()[0], alloy::primitives::U256::from(1u64))
            .await
            .unwrap();
        let digest = setup["circuit_digest"].as_str().unwrap().parse().unwrap();
        m.register_model(chain.accounts()[0], digest, 64, 10, verifier, "").await.unwrap();
        m.contracts.market
    });
    let o = check(&addr, &["--market", &market.to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("64 inputs, 10 outputs"), "{}", text(&o));
    // The entry's next-part address pointed at an account without code: MISMATCH,
    // and the deployed verifier no longer accepts the proof.
    rt.block_on(chain.dev_set_storage(
        verifier,
        alloy::primitives::U256::ZERO,
        alloy::primitives::U256::from_be_slice(chain.accounts()[4].as_slice()),
    ))
    .unwrap();
    let o = check(&addr, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("MISMATCH: part 1 (Halo2VerifierPart1)") && text(&o).contains("has no code"),
        "{}",
        text(&o)
    );
    let o = on_chain("proof.json", &addr);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn info_names_the_backend_and_why() {
    let run = |backend: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zkinfer"));
        c.args(["info", "--json"]).env_remove("ZKINFER_BACKEND");
        if let Some(b) = backend {
            c.env("ZKINFER_BACKEND", b);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(None);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["cuda_feature"], cfg!(feature = "cuda"));
    if !cfg!(feature = "cuda") {
        assert_eq!(v["backend"], "cpu");
        assert!(v["reason"].as_str().unwrap().contains("without the `cuda` feature"), "{v}");
    }
    let v = run(Some("cpu"));
    assert_eq!(v["backend"], "cpu");
    assert_eq!(v["reason"], "ZKINFER_BACKEND=cpu");
    let v = run(Some("tpu"));
    assert_eq!(v["backend"], "cpu");
    assert!(v["reason"].as_str().unwrap().contains("ZKINFER_BACKEND=tpu is not one of"), "{v}");
    // Text form.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkinfer")).arg("info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("proving backend: "), "{text}");
}

/// Cost before work: a model far beyond any circuit is refused in seconds, from its shapes,
/// with the estimate's numbers (before calibration runs it).
#[test]
fn compile_refuses_a_model_too_large_to_prove() {
    use zkinfer_testkit::onnx as graph;
    let dir = tempfile::tempdir().unwrap();
    let mut g = graph::Graph::new(&[1, 64, 512, 512], 3);
    let w = g.rand_init("w", &[64, 64, 3, 3], 0.1);
    g.node("Conv", "big_conv", &["input", &w], vec![("pads", graph::Attr::Ints(vec![1, 1, 1, 1]))]);
    let model = g.write(dir.path(), "big.onnx");
    let t = std::time::Instant::now();
    let o = zkinfer(&[
        "compile",
        model.to_str().unwrap(),
        "--calibration",
        "/nonexistent-calibration.json",
        "-o",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("too large to prove") && msg.contains("`big_conv` (Conv)") && msg.contains("GiB"), "{msg}");
    eprintln!("refused in {secs:.1} s: {msg}");
}

/// A model with two inputs and two outputs, from EZKL-form files (one list per input, the
/// samples concatenated): compile → eval → setup → prove → verify → the EVM verifier.
#[test]
fn two_inputs_two_outputs_from_ezkl_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("two");
    let d = out.to_str().unwrap();
    let fx = |f: &str| fixture(&format!("models/two_input_digits/{f}"));
    let o = zkinfer(&["compile", &fx("model.onnx"), "--calibration", &fx("calibration.json"), "-o", d]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("input        `top` [1, 32]") && t.contains("input        `bottom` [1, 32]"), "{t}");
    assert!(t.contains("output       `logits` [1, 10]") && t.contains("output       `embedding` [1, 32]"), "{t}");
    assert!(t.contains("calibration  32 samples"), "{t}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let names = |key: &str| -> Vec<String> {
        report[key].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(
        (names("inputs"), names("outputs")),
        (vec!["top".into(), "bottom".into()], vec!["logits".into(), "embedding".into()])
    );
    assert_eq!(report["instances"], 32 + 32 + 10 + 32 + 1);

    let o = zkinfer(&["eval", d, "--dataset", &fx("test.json"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["samples"], 450);
    assert!(r["argmax_agreement"].as_f64().unwrap() >= 0.99, "{r}");
    // The same dataset as a NumPy archive (np.savez_compressed, positional arrays, labels).
    let o = zkinfer(&["eval", d, "--dataset", &fixture("npy/two_input_digits_test_compressed.npz"), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["samples"], 50);
    assert!(r["quantized_accuracy"].as_f64().unwrap() >= 0.9, "{r}");

    let srs = dir.path().join("dev.srs");
    assert!(zkinfer(&["srs", "dev", "--k", "12", "-o", srs.to_str().unwrap()]).status.success());
    let o = zkinfer(&["setup", d, "--srs", srs.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let proof = dir.path().join("p.json");
    let o = zkinfer(&["prove", d, "--input", &fx("test.json"), "--row", "7", "-o", proof.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&proof).unwrap()).unwrap();
    assert_eq!((p["input"].as_array().unwrap().len(), p["output"].as_array().unwrap().len()), (64, 42));
    let test: serde_json::Value = serde_json::from_slice(&std::fs::read(fx("test.json")).unwrap()).unwrap();
    assert_eq!(p["prediction"], test["labels"][7], "the prediction is the argmax of `logits`");
    let o = zkinfer(&["verify", d, proof.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).starts_with("valid"), "{}", text(&o));
    let o = zkinfer(&["evm", "export", d]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["evm", "verify", d, proof.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).contains("valid"), "{}", text(&o));

    // One list for two inputs, and a sample that does not exist: exit 1, the inputs named.
    let one = dir.path().join("one.json");
    std::fs::write(&one, r#"{"input_data": [[0.5, 0.5]]}"#).unwrap();
    let o = zkinfer(&["prove", d, "--input", one.to_str().unwrap(), "-o", proof.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("1 lists, the model has 2 inputs (`top` [1, 32], `bottom` [1, 32])"), "{}", text(&o));
    let o = zkinfer(&["prove", d, "--input", &fx("input.json"), "--row", "1", "-o", proof.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("has 1 sample(s); --row 1 does not exist"), "{}", text(&o));
}
