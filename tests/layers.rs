//! The layering invariant of ARCHITECTURE.md: the RPC core never imports
//! the Python layer (`src/python.rs`, `src/python/`). The Python layer
//! builds on the core, guided by shapes, and reaches connections through
//! the core's first-frame upgrade (`src/upgrade.rs`); the core knows nothing
//! of Python.
//!
//! The one wiring point is `src/wiring.rs`, a file of neither layer, whose
//! `default_upgrade` `Server::shared` installs (the start every way of
//! serving goes through: `bind`, `accept_from`, `serve_one`): it may name
//! that upgrade, `crate::python::ManagerUpgrade`, and nothing else of the
//! layer.

use std::path::{Path, PathBuf};

/// The core's files and folders, relative to `src/`. A folder stands for
/// every `.rs` file under it.
const CORE: &[&str] = &[
    "frame.rs",
    "auth.rs",
    "envelope.rs",
    "codec.rs",
    "codec",
    "registry.rs",
    "server.rs",
    "server",
    "client.rs",
    "client",
    "outbox.rs",
    "stream.rs",
    "pool.rs",
    "config.rs",
    "sync.rs",
    "fuzz.rs",
    "upgrade.rs",
    // Built on the core and free of Python too.
    "message.rs",
    "message",
    "service.rs",
    "service",
    "compat.rs",
    "compat",
];

/// The single file allowed to name the Python layer: the wiring point,
/// scanned with the core.
const WIRING_POINT: &str = "wiring.rs";

/// The one item of the Python layer the wiring point names.
const WIRED: &str = "crate::python::ManagerUpgrade";

/// The Python layer's public items (`stdrpc::python::*`) and the names of
/// its modules.
const PYTHON_NAMES: &[&str] = &[
    "Value",
    "Object",
    "BigInt",
    "PickleLimits",
    "Manager",
    "Proxy",
    "ManagerUpgrade",
    "from_pickle",
    "from_pickle_with",
    "to_pickle",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The offending lines of one file: `(line number, text)`.
fn python_imports(text: &str, wiring: bool) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // Inside a `use crate::{...}` group spanning lines.
    let mut in_group = false;
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let names_python = |s: &str| {
            s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| PYTHON_NAMES.contains(&word))
        };
        let group_start = code.contains("use crate::{");
        // The wiring point's one line, without the item it may name.
        let code = &if wiring {
            code.replacen(WIRED, "", 1)
        } else {
            code.to_owned()
        };
        let bad = code.contains("pickle::")
            || code.contains("manager::")
            || code.contains("python::")
            || code.contains("crate::python")
            || PYTHON_NAMES
                .iter()
                .any(|n| code.contains(&format!("crate::{n}")))
            || ((group_start || in_group) && names_python(code));
        if group_start && !code.contains('}') {
            in_group = true;
        } else if in_group && code.contains('}') {
            in_group = false;
        }
        if bad {
            found.push((i + 1, line.trim().to_owned()));
        }
    }
    found
}

#[test]
fn the_core_never_imports_the_python_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in CORE.iter().chain([&WIRING_POINT]) {
        let path = src.join(entry);
        assert!(path.exists(), "{} is listed but missing", path.display());
        rust_files(&path, &mut files);
    }
    assert!(files.len() >= 20, "too few files scanned: {files:?}");
    let mut offences = Vec::new();
    let mut wiring_point_seen = false;
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).expect("read a source file");
        let wiring = relative == WIRING_POINT;
        if wiring {
            wiring_point_seen = true;
            assert_eq!(
                text.matches(WIRED).count(),
                1,
                "{WIRING_POINT} should wire {WIRED} exactly once: update this test and ARCHITECTURE.md"
            );
        }
        for (line, code) in python_imports(&text, wiring) {
            offences.push(format!("src/{relative}:{line}: {code}"));
        }
    }
    assert!(wiring_point_seen, "{WIRING_POINT} was not scanned");
    assert!(
        offences.is_empty(),
        "the RPC core imports the Python layer (src/python); convert through shapes in the Python layer instead:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scan_finds_what_it_looks_for() {
    let bad = [
        "use crate::pickle::Value;",
        "use crate::python::pickle::Value;",
        "use crate::python;",
        "use crate::python::manager;",
        "let v = crate::Value::None;",
        "let v = crate::python::Value::None;",
        "use crate::{Error, Result, Value};",
        "use crate::{\n    Error,\n    Value,\n};",
        "    x.pickle::thing()",
    ];
    for text in bad {
        assert!(
            !python_imports(text, false).is_empty(),
            "{text:?} not found"
        );
    }
    let fine = [
        "// use crate::pickle::Value;",
        "/// See `crate::python::manager::serve`.",
        "use crate::{Error, Result};",
        "type Value = Self;",
        "pub(crate) python_shutdown: bool,",
    ];
    for text in fine {
        assert!(python_imports(text, false).is_empty(), "{text:?} flagged");
    }
    // The wiring point may name the upgrade, nothing else of the layer.
    let wiring = "Arc::new(crate::python::ManagerUpgrade::default())";
    assert!(python_imports(wiring, true).is_empty());
    assert!(!python_imports(wiring, false).is_empty());
    assert!(!python_imports("use crate::python::pickle;", true).is_empty());
    assert!(!python_imports("use crate::python::Value;", true).is_empty());
}
