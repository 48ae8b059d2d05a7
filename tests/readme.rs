//! The README is the crate's front page (src/lib.rs includes it): its code
//! compiles when pasted as it stands, and its links work both in a checkout
//! and in the crate documentation (docs.rs), where there is no checkout.

use std::path::Path;

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The Rust code blocks of a Markdown text: `(line of the fence, code)`.
fn rust_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut open, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) => {
                let lang = info.split(',').next().unwrap_or("").trim();
                open = Some((i + 1, lang == "rust" || lang.is_empty(), String::new()));
            }
            (Some(_), Some(_)) => {
                let (at, is_rust, code) = open.take().unwrap();
                if is_rust {
                    blocks.push((at, code));
                }
            }
            (Some((_, _, code)), None) => {
                code.push_str(line);
                code.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    blocks
}

#[test]
fn rust_blocks_are_whole_programs_without_hidden_lines() {
    let readme = read("README.md");
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 4, "{} blocks", blocks.len());
    for (at, code) in blocks {
        // rustdoc hides lines starting with `# `, so what the reader copies
        // would differ from what the doctest compiled.
        for line in code.lines() {
            let t = line.trim_start();
            assert!(
                !(t == "#" || t.starts_with("# ")),
                "README.md block at line {at}: hidden line {line:?}"
            );
        }
        assert!(
            code.contains("fn main() -> Result<(), stdrpc::Error> {"),
            "README.md block at line {at} is not a whole program:\n{code}"
        );
    }
}

/// `[label]: target` lines.
fn definitions(text: &str, prefix: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix)?.strip_prefix('['))
        .filter_map(|l| {
            let (label, target) = l.split_once("]: ")?;
            Some((label.to_owned(), target.trim().to_owned()))
        })
        .collect()
}

#[test]
fn links_work_in_a_checkout_and_in_the_crate_docs() {
    let readme = read("README.md");
    let lib = read("src/lib.rs");
    // Inline links would go to one place in both; documents are linked by
    // label instead.
    for (i, line) in readme.lines().enumerate() {
        if let Some((_, rest)) = line.split_once("](") {
            let target = rest.split(')').next().unwrap();
            assert!(
                target.starts_with("http") || target.starts_with('#'),
                "README.md line {}: inline relative link {target:?}; use a labelled \
                 link defined at the end and in src/lib.rs",
                i + 1
            );
        }
    }
    let in_readme = definitions(&readme, "");
    let in_lib = definitions(&lib, "//! ");
    assert!(in_readme.len() >= 3, "{in_readme:?}");
    for (label, file) in &in_readme {
        // In a checkout: the file is there, and the label is used.
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(file).is_file(),
            "[{label}]: {file} does not exist"
        );
        assert!(readme.contains(&format!("][{label}]")), "[{label}] unused");
        // In rustdoc: src/lib.rs defines the label first, as a module whose
        // documentation is that very file.
        let (_, path) = in_lib
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("src/lib.rs does not define [{label}]"));
        let module = path
            .strip_prefix("crate::docs::")
            .unwrap_or_else(|| panic!("[{label}]: {path} is not in crate::docs"));
        let include = format!("#[doc = include_str!(\"../{file}\")]\n    pub mod {module} {{}}");
        assert!(lib.contains(&include), "src/lib.rs lacks {include:?}");
    }
    let readme_at = lib.find("include_str!(\"../README.md\")").unwrap();
    let last_definition = lib.rfind("//! [").unwrap();
    assert!(
        last_definition < readme_at,
        "the definitions must come before the README to win"
    );
}

#[test]
fn the_manifest_names_the_documentation() {
    let manifest = read("Cargo.toml");
    assert!(
        manifest
            .lines()
            .any(|l| l == "documentation = \"https://docs.rs/stdrpc\""),
        "Cargo.toml has no documentation field"
    );
}
