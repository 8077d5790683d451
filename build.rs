//! rstest's `#[files]` expands its glob at compile time: rebuild the tests when scenarios
//! are added or removed.
fn main() {
    println!("cargo::rerun-if-changed=scenarios");
}
