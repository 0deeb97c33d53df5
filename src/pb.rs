//! Generated protobuf messages, clients and tonic services of `mcpregistry.v1`.
//! The services answer a few messages as `grpc::encoded::Encoded` values
//! (see `build.rs`); the clients and every message are the plain prost types.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("mcpregistry.v1");

include!(concat!(env!("OUT_DIR"), "/server/mcpregistry.v1.rs"));

include!(concat!(env!("OUT_DIR"), "/resolution_format.rs"));

/// Encoded `FileDescriptorSet` of `proto/`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mcpregistry_descriptor.bin"));
