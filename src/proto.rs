//! Generated gRPC types and service stubs of the `healthcode.v1` contract (proto/healthcode/v1).
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("healthcode.v1");

/// Encoded file descriptor set, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("healthcode_descriptor");
