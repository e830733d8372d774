//! Compiles the gRPC contract under `proto/` with a pure-Rust protobuf compiler, so that a fresh
//! machine builds healthcode with `cargo` alone (no system `protoc`).
//!
//! The contract is compiled twice: once whole (messages, clients and servers: `crate::proto`),
//! and once more for the server side of `HealthCode` only, whose answer messages are the
//! server's own pre-encoded types (`crate::serve::wire`) while every other type is the first
//! compilation's.

use prost::Message;

/// The answer messages the server writes itself, and the types that stand for them.
const SERVER_ENCODED: [(&str, &str); 2] = [
    ("CodeResponse", "crate::serve::wire::EncodedCode"),
    ("BatchCodeResponse", "crate::serve::wire::EncodedBatch"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/healthcode/v1/healthcode.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for server reflection (tonic::include_file_descriptor_set!).
    std::fs::write(out.join("healthcode_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds.clone())?;

    let server_dir = out.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let mut server = tonic_prost_build::configure()
        .build_client(false)
        .out_dir(&server_dir);
    for file in &fds.file {
        let package = file.package();
        let names = file
            .message_type
            .iter()
            .map(|m| m.name())
            .chain(file.enum_type.iter().map(|e| e.name()));
        for name in names {
            let rust = SERVER_ENCODED
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| format!("crate::proto::{name}"), |(_, r)| r.to_string());
            server = server.extern_path(format!(".{package}.{name}"), rust);
        }
    }
    server.compile_fds(fds)?;
    Ok(())
}
