//! A local anvil for the chain tests.

use std::path::Path;

use zkinfer_verifier::anvil::{Anvil, anvil_binary};

/// Anvil from this source tree's `contracts/node_modules`, started; `None`
/// (after printing `SKIPPED`) when it is not installed, unless
/// `ZKINFER_REQUIRE_ANVIL` is set (the test script sets it): then it panics.
pub fn start_for_tests() -> Option<Anvil> {
    let bin = anvil_binary(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts"));
    if !bin.is_file() {
        assert!(
            std::env::var_os("ZKINFER_REQUIRE_ANVIL").is_none(),
            "ZKINFER_REQUIRE_ANVIL is set but {} is missing (npm ci in contracts/)",
            bin.display()
        );
        eprintln!("SKIPPED: anvil not installed ({}); scripts/test.sh installs it", bin.display());
        return None;
    }
    Some(Anvil::start(&bin).expect("start anvil"))
}
