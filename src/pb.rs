//! Generated protobuf messages and tonic services of `mcpregistry.v1`.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("mcpregistry.v1");

/// Encoded `FileDescriptorSet` of `proto/`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mcpregistry_descriptor.bin"));
