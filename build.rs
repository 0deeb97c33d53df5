//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no system
//! `protoc` is needed) and generates the tonic services and prost messages.
//! The encoded descriptor set is written to `OUT_DIR` for server reflection.
//! Servers are generated apart from messages and clients: see
//! `ENCODED_ANSWERS`.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");

    let mut files: Vec<PathBuf> = std::fs::read_dir("proto/mcpregistry/v1")?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    files.sort();

    let fds = protox::compile(&files, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("mcpregistry_descriptor.bin"),
        fds.encode_to_vec(),
    )?;

    // Every (service, method) pair, so the metrics layer only ever labels
    // real RPCs and a client cannot grow the label sets with random paths.
    let mut rpcs =
        String::from("/// Every RPC this server answers: (full service name, method).\n");
    rpcs.push_str("pub const KNOWN_RPCS: &[(&str, &str)] = &[\n");
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                rpcs.push_str(&format!(
                    "    (\"{}.{}\", \"{}\"),\n",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    for (service, method) in [
        ("grpc.health.v1.Health", "Check"),
        ("grpc.health.v1.Health", "Watch"),
        (
            "grpc.reflection.v1.ServerReflection",
            "ServerReflectionInfo",
        ),
        (
            "grpc.reflection.v1alpha.ServerReflection",
            "ServerReflectionInfo",
        ),
    ] {
        rpcs.push_str(&format!("    (\"{service}\", \"{method}\"),\n"));
    }
    rpcs.push_str("];\n");
    std::fs::write(out_dir.join("known_rpcs.rs"), rpcs)?;

    // The format of the ResolvePack answers stored encoded in the database:
    // a digest of the contract and of the code that computes and encodes
    // them, so an answer stored by a binary that could answer differently is
    // computed again, not served.
    let mut shaped = fds.encode_to_vec();
    for source in RESOLUTION_SOURCES {
        println!("cargo:rerun-if-changed={source}");
        shaped.extend_from_slice(&std::fs::read(source)?);
    }
    std::fs::write(
        out_dir.join("resolution_format.rs"),
        format!(
            "/// Digest of the contract and of the code that shapes a stored ResolvePack answer.\n\
             pub const RESOLUTION_FORMAT: &str = \"{:016x}\";\n",
            fnv1a(&shaped)
        ),
    )?;

    // Messages and clients (`crate::pb`).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(fds.clone())?;

    // Servers, generated apart (`OUT_DIR/server`, included into `crate::pb`):
    // they use the messages above, except that the answers the read caches
    // keep encoded are `grpc::encoded::Encoded<…>`, so a handler can answer
    // with ready protobuf bytes (clients keep the plain messages).
    let server_dir = out_dir.join("server");
    std::fs::create_dir_all(&server_dir)?;
    let mut servers = tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        // RPCs that later work implements answer UNIMPLEMENTED until then.
        .generate_default_stubs(true)
        .out_dir(&server_dir)
        .extern_path(".mcpregistry.v1", "crate::pb");
    for (message, answer) in ENCODED_ANSWERS {
        servers = servers.extern_path(
            format!(".mcpregistry.v1.{message}"),
            format!("crate::grpc::encoded::{answer}"),
        );
    }
    servers.compile_fds(fds)?;
    Ok(())
}

/// Answers the servers send as `grpc::encoded::Encoded` values: (message,
/// the alias in `grpc::encoded`).
const ENCODED_ANSWERS: &[(&str, &str)] = &[
    ("McpServer", "McpServerAnswer"),
    ("ListMcpServersResponse", "ListMcpServersAnswer"),
    ("ResolvePackResponse", "ResolvePackAnswer"),
];

/// The sources that decide what a stored ResolvePack answer holds, given
/// the database: reading servers and tools, resolving, converting, encoding.
const RESOLUTION_SOURCES: &[&str] = &[
    "src/store/servers.rs",
    "src/registry/servers/model.rs",
    "src/registry/packs/model.rs",
    "src/registry/packs/resolve.rs",
    "src/grpc/convert/pack.rs",
    "src/grpc/json.rs",
];

/// FNV-1a (64 bits): stable across builds and platforms.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
