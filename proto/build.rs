//! Compiles proto/zkinfer/v1/*.proto with protox (no system protoc) and generates
//! the tonic code; also writes the file descriptor set (for server reflection).

use prost::Message;

fn main() {
    let protos = ["zkinfer/v1/prover.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."]).expect("compiling the .proto files");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("zkinfer_descriptor.bin"), fds.encode_to_vec()).expect("writing the descriptor set");
    tonic_prost_build::configure().compile_fds(fds).expect("generating the tonic code");
}
