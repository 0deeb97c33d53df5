//! Compiles `proto/` with protox (a pure-Rust protobuf compiler, so no system
//! `protoc` is needed) and generates the tonic services and prost messages.
//! The encoded descriptor set is written to `OUT_DIR` for server reflection.

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

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs that later work implements answer UNIMPLEMENTED until then.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
