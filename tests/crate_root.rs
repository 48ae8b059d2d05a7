//! The crate root is a table of contents (ARCHITECTURE.md): `src/lib.rs`
//! holds docs, attributes, `mod` declarations and `pub use` re-exports, and
//! no code. A function, type, impl or constant there fails this test with
//! its line.

/// The lines of `src` that are neither docs, comments, attributes, module
/// declarations, re-exports nor the braces closing them.
fn code_lines(src: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_use = false;
    for (n, line) in src.lines().enumerate() {
        let line = line.trim();
        if in_use {
            in_use = !line.ends_with(';');
            continue;
        }
        let allowed = line.is_empty()
            || line.starts_with("//")
            || line.starts_with('#')
            || line == "}"
            || line.starts_with("mod ") && line.ends_with(';')
            || line.starts_with("pub mod ") && (line.ends_with('{') || line.ends_with("{}"));
        if line.starts_with("pub use ") {
            in_use = !line.ends_with(';');
        } else if !allowed {
            found.push((n + 1, line.to_string()));
        }
    }
    found
}

#[test]
fn lib_rs_is_only_a_table_of_contents() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs");
    let src = std::fs::read_to_string(path).unwrap();
    let code = code_lines(&src);
    assert!(code.is_empty(), "code in src/lib.rs: {code:?}");
}

#[test]
fn the_scan_finds_code() {
    let src = "//! Docs.\nmod a;\npub use a::{\n    B,\n};\nfn helper() {}\npub mod m {\n    pub const X: u8 = 1;\n}\n";
    assert_eq!(
        code_lines(src),
        vec![
            (6, "fn helper() {}".to_string()),
            (8, "pub const X: u8 = 1;".to_string())
        ]
    );
}
