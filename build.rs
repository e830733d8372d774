//! Compiles the gRPC contract under `proto/` with a pure-Rust protobuf compiler, so that a fresh
//! machine builds healthcode with `cargo` alone (no system `protoc`).

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/healthcode/v1/healthcode.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for server reflection (tonic::include_file_descriptor_set!).
    std::fs::write(out.join("healthcode_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
