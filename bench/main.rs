//! The benchmark load generator (being written; see BENCHMARKS.md when it lands).
fn main() {}
