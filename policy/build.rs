//! Compiles the one-function C shim that sets libpg_query's scanner mode
//! (`standard_conforming_strings`) for a scan; pg_query links libpg_query itself.

fn main() {
    println!("cargo:rerun-if-changed=csrc/scanner_mode.c");
    cc::Build::new()
        .file("csrc/scanner_mode.c")
        .warnings(true)
        .compile("pgward_scanner_mode");
}
