//! Replays the fuzzers' corpus (`fuzz/corpus/<target>/`, the committed seeds
//! and every input a fuzzing run saved there) and the inputs that once broke
//! a target (`fuzz/regressions/<target>/`) through the same entry points
//! cargo-fuzz drives, so a finding stays fixed.

use std::path::Path;

use mcp_registry::fuzz_targets::{TARGETS, run};

#[test]
fn every_saved_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for target in TARGETS {
        for folder in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let data = std::fs::read(entry.path()).expect("read input");
                run(target, &data);
                replayed += 1;
            }
        }
        // Every target has at least its seeds.
        assert!(
            root.join("corpus").join(target).exists(),
            "fuzz/corpus/{target} is missing"
        );
    }
    assert!(replayed >= TARGETS.len(), "replayed {replayed} inputs");
    println!("replayed {replayed} fuzz inputs");
}
