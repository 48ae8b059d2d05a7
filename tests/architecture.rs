//! The invariants of ARCHITECTURE.md that are about the source tree, and a
//! check that every invariant there names a test or CI step that exists.
//!
//! The scans walk all of `src/` and `tests/`, so they hold whatever files
//! the tree gains or loses; each fails naming the file and line.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .map(|e| e.expect("a directory entry").path());
            for entry in entries {
                walk(&entry, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_owned());
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// `path` relative to the crate root, with forward slashes.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .expect("under the crate root")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code of a line: empty for comments, the text before a trailing `//`
/// comment otherwise (near enough: no scanned line has `//` in a string).
fn code(line: &str) -> &str {
    let t = line.trim();
    if t.starts_with("//") {
        return "";
    }
    t.split(" //").next().unwrap_or(t)
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
}

const MAX_LINES: usize = 900;

/// Files allowed over [`MAX_LINES`] for now, matched by the end of their
/// path, with the length they may not exceed: none since the Python layer's
/// split. A file that must grow past the limit is split instead.
const OVERLONG: &[(&str, usize)] = &[];

#[test]
fn no_source_file_exceeds_900_lines() {
    let mut offences = Vec::new();
    let files = rust_files(&root().join("src"));
    assert!(files.len() >= 30, "too few files: {files:?}");
    for file in &files {
        let name = relative(file);
        let lines = read(file).lines().count();
        let limit = OVERLONG
            .iter()
            .find(|(end, _)| name.ends_with(&format!("/{end}")))
            .map_or(MAX_LINES, |&(_, n)| n);
        if lines > limit {
            offences.push(format!("{name}: {lines} lines (at most {limit})"));
        }
    }
    assert!(
        offences.is_empty(),
        "one concept per file: split these (ARCHITECTURE.md)\n{}",
        offences.join("\n")
    );
}

/// The one file allowed `unsafe`.
const UNSAFE_FILE: &str = "src/quickack.rs";

#[test]
fn unsafe_lives_only_in_quickack() {
    let mut offences = Vec::new();
    let mut seen = false;
    for file in rust_files(&root().join("src")) {
        let name = relative(&file);
        let text = read(&file);
        for (i, line) in text.lines().enumerate() {
            let c = code(line);
            let unsafe_here = words(c).any(|w| w == "unsafe") || c.contains("allow(unsafe_code)");
            if !unsafe_here {
                continue;
            }
            if name == UNSAFE_FILE {
                seen = true;
            } else {
                offences.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "`unsafe` outside {UNSAFE_FILE} (ARCHITECTURE.md):\n{}",
        offences.join("\n")
    );
    assert!(
        seen,
        "{UNSAFE_FILE} no longer has its `unsafe`: update this test"
    );
    // Every `unsafe` block there says why it is sound.
    let quickack = read(&root().join(UNSAFE_FILE));
    let blocks = quickack.matches("unsafe {").count();
    let safety = quickack.matches("// SAFETY:").count();
    assert!(
        safety >= blocks,
        "{UNSAFE_FILE}: {blocks} unsafe blocks, {safety} SAFETY comments"
    );
    // And the rest of the crate is denied it.
    let manifest = read(&root().join("Cargo.toml"));
    assert!(
        manifest.contains("unsafe_code = \"deny\"")
            || manifest.contains("unsafe_code = \"forbid\""),
        "Cargo.toml's [lints] no longer denies unsafe_code"
    );
}

/// Words that start an item with code in it.
const CODE_ITEMS: &[&str] = &[
    "fn",
    "struct",
    "enum",
    "union",
    "impl",
    "trait",
    "static",
    "const",
    "type",
    "let",
    "macro_rules",
];

/// The lines of `lib.rs` that are code rather than a table of contents.
fn code_in_lib(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let c = code(line);
        if c.starts_with('#') {
            continue;
        }
        if words(c).any(|w| CODE_ITEMS.contains(&w)) {
            found.push((i + 1, line.trim().to_owned()));
        }
    }
    found
}

#[test]
fn lib_rs_is_a_table_of_contents() {
    let lib = read(&root().join("src/lib.rs"));
    let found = code_in_lib(&lib);
    assert!(
        found.is_empty(),
        "src/lib.rs holds code; move it to a file of its own (ARCHITECTURE.md):\n{}",
        found
            .iter()
            .map(|(n, l)| format!("src/lib.rs:{n}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_lib_rs_scan_finds_what_it_looks_for() {
    for bad in [
        "fn helper() {}",
        "pub struct Thing;",
        "impl Foo for Bar {}",
        "const N: usize = 1;",
        "macro_rules! m { () => {} }",
    ] {
        assert_eq!(code_in_lib(bad).len(), 1, "{bad:?} not found");
    }
    let fine = "//! The crate.\n#![doc = include_str!(\"../README.md\")]\nmod frame;\n\
                pub use frame::Frame;\npub mod docs {\n    #[doc = include_str!(\"../A.md\")]\n    \
                pub mod a {}\n}\n/// Not the fn keyword in a doc.\nmod after;\n";
    assert_eq!(code_in_lib(fine), [] as [(usize, String); 0]);
    // Code inside an inline module is found too.
    assert_eq!(
        code_in_lib("pub mod fuzz {\n    pub fn read() {}\n}\n").len(),
        1
    );
}

/// A message type constant of the envelope: `const NAME: u8 = 0xNN;`.
fn message_types(envelope: &str) -> Vec<(String, u8)> {
    envelope
        .lines()
        .filter_map(|line| {
            let rest = code(line).split("const ").nth(1)?;
            let (name, value) = rest.split_once(": u8 = 0x")?;
            let value = u8::from_str_radix(value.trim_end_matches(';'), 16).ok()?;
            Some((name.to_owned(), value))
        })
        .collect()
}

#[test]
fn no_message_type_starts_like_a_pickle() {
    let path = root().join("src/envelope.rs");
    let types = message_types(&read(&path));
    let flag = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("src/envelope.rs has no {name}: update this test"))
            .1
    };
    let has_ext = flag("HAS_EXT");
    let kinds: Vec<(&str, u8)> = [
        "CALL",
        "NOTIFY",
        "OK",
        "ERROR",
        "TYPED_CALL",
        "TYPED_NOTIFY",
    ]
    .into_iter()
    .map(|n| (n, flag(n)))
    .collect();
    for (name, value) in kinds {
        // With or without the extension flag, the first byte stays below
        // 0x80, where a pickle's PROTO opcode is.
        for first in [value, value | has_ext] {
            assert!(first < 0x80, "{name} can start a message with {first:#04x}");
        }
    }
}

#[test]
fn tests_have_one_support_module() {
    let tests = root().join("tests");
    let dirs: Vec<String> = std::fs::read_dir(&tests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, ["support"], "tests/ has one support folder");
    let mut offences = Vec::new();
    for file in rust_files(&tests) {
        let name = relative(&file);
        if name.starts_with("tests/support/") {
            continue;
        }
        for (i, line) in read(&file).lines().enumerate() {
            let c = code(line);
            // Top-level `mod NAME;` declarations load a file of helpers.
            if line.starts_with("mod ") && c.ends_with(';') && c != "mod support;" {
                offences.push(format!("{name}:{}: {c}", i + 1));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "helpers go in tests/support/:\n{}",
        offences.join("\n")
    );
}

/// What starts or waits for a child process other than through
/// `support::child::Proc`.
const RAW_CHILD: &[&str] = &[
    ".output()",
    ".status()",
    "wait_with_output",
    "Stdio::",
    "process::Child",
    "Child,",
];

#[test]
fn test_children_go_through_one_wrapper() {
    let mut offences = Vec::new();
    for file in rust_files(&root().join("tests")) {
        let name = relative(&file);
        if name.starts_with("tests/support/") || name == "tests/architecture.rs" {
            continue;
        }
        for (i, line) in read(&file).lines().enumerate() {
            let c = code(line);
            if RAW_CHILD.iter().any(|r| c.contains(r)) {
                offences.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "start child processes with support::child::Proc (killed when the test \
         ends, every wait bounded):\n{}",
        offences.join("\n")
    );
}

/// The `**Architecture Invariant:**` paragraphs of ARCHITECTURE.md.
fn invariants(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|p| p.trim_start().starts_with("**Architecture Invariant:**"))
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn every_architecture_invariant_names_its_check() {
    let text = read(&root().join("ARCHITECTURE.md"));
    let all = invariants(&text);
    assert!(all.len() >= 20, "{} invariants found", all.len());
    let src = rust_files(&root().join("src"));
    let src_text: Vec<String> = src.iter().map(|f| read(f)).collect();
    let ci = read(&root().join(".ci/run"));
    for invariant in &all {
        let (_, checks) = invariant
            .split_once("Checked by")
            .unwrap_or_else(|| panic!("no \"Checked by\" in: {invariant}"));
        let mut named = 0;
        for reference in checks.split('`').skip(1).step_by(2) {
            let (path, test) = match reference.split_once("::") {
                Some((p, t)) => (p, Some(t)),
                None => (reference, None),
            };
            if path == ".ci/run" {
                named += 1;
            } else if let Some(file) = path.strip_prefix("tests/") {
                let file = root().join("tests").join(file);
                assert!(file.is_file(), "{path} does not exist; in: {invariant}");
                if let Some(test) = test {
                    let body = read(&file);
                    assert!(
                        body.contains(&format!("fn {test}(")),
                        "{path} has no test {test}; in: {invariant}"
                    );
                }
                named += 1;
            } else if path.starts_with("src/") && path.ends_with(".rs") {
                // Unit tests are found by name anywhere under src/, since
                // their files may move.
                let test = test.unwrap_or_else(|| panic!("name the unit test in {reference}"));
                assert!(
                    src_text.iter().any(|t| t.contains(&format!("fn {test}("))),
                    "no unit test {test} under src/; in: {invariant}"
                );
                named += 1;
            }
        }
        assert!(named > 0, "no test or CI step named in: {invariant}");
    }
    // The CI steps the invariants rely on.
    for step in [
        "cargo fmt --all -- --check",
        "-D warnings",
        "cargo doc",
        "--features",
        "cargo fuzz run",
    ] {
        assert!(ci.contains(step), ".ci/run no longer runs {step:?}");
    }
}
