//! Conventions kept true mechanically (after rust-analyzer's `tidy`): the
//! layering ARCHITECTURE.md states, a `//!` doc on every source file, thin
//! gRPC handlers, and short lines in the documentation.

// Test code fails loudly: unwrap, expect and panic are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Lines of the files under `dir` that name `forbidden` in code.
fn mentions(dir: &str, forbidden: &str) -> Vec<String> {
    rust_files(&root().join(dir))
        .iter()
        .flat_map(|path| {
            read(path)
                .lines()
                .enumerate()
                .filter(|(_, line)| {
                    let code = line.trim_start();
                    !code.starts_with("//") && code.contains(forbidden)
                })
                .map(|(n, line)| format!("{}:{}: {}", relative(path), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_grpc_layer_names_nothing_from_the_store() {
    let found = mentions("src/grpc", "crate::store");
    assert!(
        found.is_empty(),
        "src/grpc uses the store:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_store_names_nothing_from_the_sync_engine() {
    let found = mentions("src/store", "crate::sync");
    assert!(
        found.is_empty(),
        "src/store uses sync:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_domain_names_no_protobuf_type() {
    let found = mentions("src/registry", "crate::pb");
    assert!(
        found.is_empty(),
        "src/registry uses protobuf:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let undocumented: Vec<String> = rust_files(&root().join("src"))
        .iter()
        .filter(|path| !read(path).starts_with("//!"))
        .map(|path| relative(path))
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a //! doc at the top:\n{}",
        undocumented.join("\n")
    );
}

/// Longest gRPC handler: authenticate, convert, call the domain, convert back.
const MAX_HANDLER_LINES: usize = 25;

/// The `async fn`s of `impl … for …` blocks in `source` that are longer
/// than [`MAX_HANDLER_LINES`], as `name (lines)`.
fn long_handlers(source: &str) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let mut long = Vec::new();
    let mut in_service = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("impl ") && line.contains(" for ") && line.contains("Api") {
            in_service = true;
        } else if line == "}" {
            in_service = false;
        }
        if in_service && line.starts_with("    async fn ") {
            let start = i;
            while i < lines.len() && lines[i] != "    }" {
                i += 1;
            }
            let length = i - start + 1;
            if length > MAX_HANDLER_LINES {
                let name = line.trim_start_matches("    async fn ");
                let name = name.split('(').next().unwrap_or(name);
                long.push(format!("{name} ({length} lines)"));
            }
        }
        i += 1;
    }
    long
}

#[test]
fn grpc_handlers_only_translate() {
    let mut long = Vec::new();
    for path in rust_files(&root().join("src/grpc")) {
        for handler in long_handlers(&read(&path)) {
            long.push(format!("{}: {handler}", relative(&path)));
        }
    }
    assert!(
        long.is_empty(),
        "handlers over {MAX_HANDLER_LINES} lines (move the logic to the domain or to convert):\n{}",
        long.join("\n")
    );
}

#[test]
fn a_long_handler_is_found() {
    let body = "        step();\n".repeat(30);
    let source = format!("impl S for SApi {{\n    async fn long(&self) {{\n{body}    }}\n}}\n");
    assert_eq!(long_handlers(&source), ["long (32 lines)"]);
    assert!(long_handlers("impl S for SApi {\n    async fn short() {\n    }\n}\n").is_empty());
}

/// Longest line of prose in the documentation.
const MAX_DOC_LINE: usize = 120;

#[test]
fn documentation_lines_are_at_most_120_characters() {
    let mut docs: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "RELIABILITY.md",
    ]
    .iter()
    .map(|name| root().join(name))
    .collect();
    if let Ok(entries) = fs::read_dir(root().join("docs")) {
        let mut pages: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        pages.sort();
        docs.extend(pages);
    }
    let mut long = Vec::new();
    for path in &docs {
        for (n, line) in read(path).lines().enumerate() {
            let length = line.chars().count();
            if length > MAX_DOC_LINE {
                long.push(format!("{}:{}: {length} characters", relative(path), n + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over {MAX_DOC_LINE} characters:\n{}",
        long.join("\n")
    );
}
