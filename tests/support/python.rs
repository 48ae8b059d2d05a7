//! Finds the real CPython interpreters the cross-checks run against.
//!
//! Interpreters are matched by minor version: any 3.11.x, 3.12.x and 3.13.x
//! will do. For each minor version, in order:
//!
//! 1. the environment variable `STDRPC_PYTHON_3_12` (for 3.12; likewise
//!    for the others), the path of an interpreter of that minor version;
//! 2. the newest `3.12.N` that `pyenv versions --bare` lists;
//! 3. `python3.12` on `PATH`.
//!
//! A missing interpreter is a test failure that says how to install or point
//! to one, never a silent skip.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The CPython minor versions every cross-check runs against.
pub const VERSIONS: &[&str] = &["3.11", "3.12", "3.13"];

/// `(full version, path to python3)` for every entry of [`VERSIONS`], e.g.
/// `("3.12.1", "/root/.pyenv/versions/3.12.1/bin/python3")`.
///
/// Panics with an explanation if any interpreter is missing.
pub fn interpreters() -> Vec<(String, PathBuf)> {
    VERSIONS
        .iter()
        .map(|&minor| find(minor).unwrap_or_else(|message| panic!("{message}")))
        .collect()
}

/// The minor version `3.12` of a full version `3.12.1`.
pub fn minor_of(version: &str) -> &str {
    match version.match_indices('.').nth(1) {
        Some((i, _)) => &version[..i],
        None => version,
    }
}

/// The environment variable that points at an interpreter of `minor`:
/// `STDRPC_PYTHON_3_12` for `3.12`.
pub fn env_var(minor: &str) -> String {
    format!("STDRPC_PYTHON_{}", minor.replace('.', "_"))
}

/// The newest final release of `minor` among pyenv's version names
/// (`3.12.10` is newer than `3.12.9`); pre-releases (`3.13.0rc1`),
/// free-threaded builds (`3.13.0t`), virtualenvs (`3.12.1/envs/x`) and
/// other implementations do not count.
pub fn newest_patch<'a>(
    minor: &str,
    versions: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    versions
        .into_iter()
        .map(str::trim)
        .filter_map(|v| {
            let patch = v.strip_prefix(minor)?.strip_prefix('.')?;
            let n: u32 = (!patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
                .then(|| patch.parse().ok())??;
            Some((n, v))
        })
        .max_by_key(|&(n, _)| n)
        .map(|(_, v)| v)
}

/// The interpreter of `minor` and its full version, or a message saying how
/// to install or point to one.
pub fn find(minor: &str) -> Result<(String, PathBuf), String> {
    find_with(minor, |var| std::env::var_os(var))
}

/// [`find`], with `env` standing in for the process environment.
pub fn find_with(
    minor: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<(String, PathBuf), String> {
    let var = env_var(minor);
    if let Some(path) = env(&var).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return check(&path, minor).map_err(|e| format!("{var}={}: {e}", path.display()));
    }
    if let Some(python) = from_pyenv(minor) {
        return check(&python, minor);
    }
    let on_path = PathBuf::from(format!("python{minor}"));
    if let Ok(found) = check(&on_path, minor) {
        return Ok(found);
    }
    Err(format!(
        "CPython {minor} not found. These tests compare against real interpreters \
         (any {minor}.x). Point {var} at one (`{var}=/path/to/python{minor}`), or install \
         one with `pyenv install {minor}` (the newest {minor}.x pyenv lists is used), or put \
         `python{minor}` on PATH."
    ))
}

/// `PATH/bin/python3` of the newest pyenv version of `minor`, if pyenv has one.
fn from_pyenv(minor: &str) -> Option<PathBuf> {
    let pyenv = find_pyenv()?;
    let out = Command::new(&pyenv)
        .args(["versions", "--bare"])
        .output()
        .ok()?;
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let version = newest_patch(minor, listed.lines())?;
    let out = Command::new(&pyenv)
        .args(["prefix", version])
        .output()
        .ok()?;
    let prefix = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let python = Path::new(&prefix).join("bin").join("python3");
    (out.status.success() && python.is_file()).then_some(python)
}

/// The full version `python --version` reports, if it is a `minor`.x.
fn check(python: &Path, minor: &str) -> Result<(String, PathBuf), String> {
    let output = Command::new(python)
        .arg("--version")
        .output()
        .map_err(|e| format!("could not run `{} --version`: {e}", python.display()))?;
    let reported = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let version = reported.trim().strip_prefix("Python ").unwrap_or("");
    if !output.status.success() || minor_of(version) != minor {
        return Err(format!(
            "{} should be CPython {minor}.x but `--version` printed {:?}",
            python.display(),
            reported.trim()
        ));
    }
    Ok((version.to_owned(), python.to_owned()))
}

/// The pyenv executable: `pyenv` on `PATH`, else `$PYENV_ROOT/bin/pyenv`, else
/// `~/.pyenv/bin/pyenv`.
fn find_pyenv() -> Option<PathBuf> {
    let on_path = Command::new("pyenv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return Some(PathBuf::from("pyenv"));
    }
    let candidates: [Option<OsString>; 2] = [
        std::env::var_os("PYENV_ROOT").map(|root| PathBuf::from(root).join("bin/pyenv").into()),
        std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv/bin/pyenv").into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Python source for a script that holds a connected `BaseManager` as `m`
/// and has imported `dispatch` from `multiprocessing.managers`:
/// `server_call(name, *args)` calls the server function `name` (`shutdown`,
/// `decref`, `stdrpc.methods`, ...) over a connection of its own, as
/// `BaseManager`'s own methods do.
pub const SERVER_CALL: &str = r#"def server_call(name, *args):
    conn = m._Client(m.address, authkey=m._authkey)
    try:
        return dispatch(conn, None, name, args)
    finally:
        conn.close()
"#;
