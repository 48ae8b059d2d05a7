//! CPython reference rows: the stock interpreters found through pyenv run
//! `bench.py` (embedded in this binary), which times itself.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{err, temp_dir};

const SCRIPT: &str = include_str!("bench.py");
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// The interpreter of a pyenv version (`pyenv prefix VERSION`/bin/python3).
pub fn interpreter(version: &str) -> Result<PathBuf, String> {
    let out = Command::new("pyenv")
        .args(["prefix", version])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("pyenv not found: {e}"))?;
    if !out.status.success() {
        return Err(format!("CPython {version} is not installed in pyenv"));
    }
    let prefix = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let python = PathBuf::from(prefix).join("bin/python3");
    if !python.exists() {
        return Err(format!("{} does not exist", python.display()));
    }
    Ok(python)
}

/// Runs `bench.py MODE N` and returns seconds per operation.
pub fn run(python: &std::path::Path, mode: &str, n: u64) -> Result<f64, String> {
    run_with(python, mode, n, &[])
}

/// Runs `bench.py MODE N EXTRA...` and returns seconds per operation.
pub fn run_with(
    python: &std::path::Path,
    mode: &str,
    n: u64,
    extra: &[String],
) -> Result<f64, String> {
    let script = temp_dir().join("bench.py");
    if !script.exists() {
        std::fs::write(&script, SCRIPT).map_err(err("write bench.py"))?;
    }
    let mut child = Command::new(python)
        .arg(&script)
        .arg(mode)
        .arg(n.to_string())
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(err("spawn python"))?;
    let start = Instant::now();
    loop {
        if child.try_wait().map_err(err("wait python"))?.is_some() {
            break;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("python {mode} took over {TIME_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().map_err(err("python output"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").to_string();
        return Err(format!("python {mode} failed: {last}"));
    }
    let us: f64 = stdout
        .trim()
        .parse()
        .map_err(|_| format!("python {mode} printed {stdout:?}"))?;
    Ok(us * 1e-6)
}
