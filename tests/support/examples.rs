//! The example binaries, built once per test run in this test's profile and
//! target directory (as `tests/examples.rs` does), so a test never runs a
//! stale binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of example `name`.
pub fn example(name: &str) -> PathBuf {
    examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// This test runs as `TARGET/[TRIPLE/]PROFILE/deps/NAME-HASH`; the examples
/// go to `TARGET/[TRIPLE/]PROFILE/examples`.
pub fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from PROFILE/deps");
        // A runner that cannot start cargo (a Windows build under Wine:
        // scripts/windows-wine.sh) builds the examples itself just before.
        if std::env::var_os("STDRPC_EXAMPLES_PREBUILT").is_some() {
            return profile_dir.join("examples");
        }
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a profile directory");
        // Cargo sets CARGO_TARGET_TMPDIR to TARGET/tmp for integration tests.
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("TARGET/tmp");

        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "--examples", "--quiet", "--manifest-path"]);
        cargo.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        cargo.arg("--target-dir").arg(target_dir);
        match profile {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            custom => {
                cargo.args(["--profile", custom]);
            }
        }
        // With `--target TRIPLE`, the profile directory sits in TARGET/TRIPLE.
        let parent = profile_dir.parent().expect("a target directory");
        if !same_dir(parent, target_dir) {
            cargo
                .arg("--target")
                .arg(parent.file_name().expect("a target triple"));
        }
        let out = cargo.output().expect("run cargo");
        assert!(
            out.status.success(),
            "{cargo:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile_dir.join("examples")
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
