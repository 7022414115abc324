//! `zkinfer demo` end to end: on the embedded chain, and on anvil with --chain-rpc.

use zkinfer_verifier::chain::DEV_KEYS;

mod common;

use common::{text, zkinfer};

/// The summary shows the bounty paid to the node and every forgery rejected.
fn check_summary(out: &str) {
    assert!(out.contains("prover     0 ZKR → 0 ZKR → 100 ZKR  (paid 100 ZKR)"), "{out}");
    assert!(out.contains("requester  1000 ZKR → 900 ZKR → 900 ZKR"), "{out}");
    assert_eq!(out.matches(": JobMarket.InvalidProof").count(), 3, "{out}");
    assert!(out.contains("INSECURE dev SRS"), "{out}");
    assert!(out.contains("prediction   proved 2 | float model 2 | label 2"), "{out}");
}

#[test]
fn demo_on_the_embedded_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let o = zkinfer(&["demo", "--dir", tmp.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    check_summary(&text(&o));
    assert!(tmp.path().join("models/mlp_digits/vk").is_file(), "--dir keeps the files");
    let o = zkinfer(&["demo", "--sample", "450"]);
    assert!(!o.status.success() && text(&o).contains("--sample 450: the test set has 450 rows"), "{}", text(&o));
}

#[test]
fn demo_on_anvil() {
    let Some(anvil) = zkinfer_testkit::anvil::start_for_tests() else { return };
    let mut args = vec!["demo", "--chain-rpc", &anvil.url];
    for k in &DEV_KEYS[..4] {
        args.extend(["--key", k]);
    }
    let o = zkinfer(&args);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    check_summary(&out);
    assert!(out.contains(&format!("JSON-RPC {}", anvil.url)), "{out}");
}
