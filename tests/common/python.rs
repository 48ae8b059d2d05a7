//! Finds the real CPython interpreters the cross-checks run against.
//!
//! The interpreters are located through pyenv (`pyenv prefix <version>`).
//! A missing pyenv or interpreter is a test failure, never a silent skip.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The CPython versions every cross-check runs against.
pub const VERSIONS: &[&str] = &["3.11.7", "3.12.1", "3.13.0"];

/// `(version, path to python3)` for every entry of [`VERSIONS`].
///
/// Panics with an explanation if pyenv or any of the interpreters is missing,
/// or if an interpreter reports a different version than expected.
pub fn interpreters() -> Vec<(String, PathBuf)> {
    let pyenv = find_pyenv();
    VERSIONS
        .iter()
        .map(|&version| (version.to_owned(), interpreter(&pyenv, version)))
        .collect()
}

/// The path of one interpreter, found with `pyenv prefix <version>`.
pub fn interpreter(pyenv: &Path, version: &str) -> PathBuf {
    let output = Command::new(pyenv)
        .args(["prefix", version])
        .output()
        .unwrap_or_else(|e| panic!("could not run `{} prefix {version}`: {e}", pyenv.display()));
    if !output.status.success() {
        panic!(
            "CPython {version} is not installed in pyenv (`{} prefix {version}` failed: {}). \
             These tests compare against real Python interpreters; install it with \
             `pyenv install {version}`.",
            pyenv.display(),
            String::from_utf8_lossy(&output.stderr).trim(),
        );
    }
    let prefix = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let python = Path::new(&prefix).join("bin").join("python3");
    if !python.is_file() {
        panic!(
            "pyenv says CPython {version} lives in {prefix}, but {} does not exist",
            python.display()
        );
    }

    let output = Command::new(&python)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("could not run `{} --version`: {e}", python.display()));
    let reported = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = format!("Python {version}");
    if !output.status.success() || reported.trim() != expected {
        panic!(
            "{} should be CPython {version} but `--version` printed {:?}",
            python.display(),
            reported.trim()
        );
    }
    python
}

/// The pyenv executable: `pyenv` on `PATH`, else `$PYENV_ROOT/bin/pyenv`, else
/// `~/.pyenv/bin/pyenv`.
fn find_pyenv() -> PathBuf {
    let on_path = Command::new("pyenv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return PathBuf::from("pyenv");
    }
    let candidates = [
        std::env::var_os("PYENV_ROOT").map(|root| PathBuf::from(root).join("bin/pyenv")),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv/bin/pyenv")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "pyenv not found (not on PATH, nor in $PYENV_ROOT/bin or ~/.pyenv/bin). \
                 These tests compare against real CPython interpreters {VERSIONS:?} \
                 installed with pyenv."
            )
        })
}
