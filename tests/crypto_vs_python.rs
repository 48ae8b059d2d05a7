//! Cross-checks SHA-256, MD5, HMAC-SHA256 and HMAC-MD5 against CPython's own
//! `hashlib` and `hmac` modules, on every interpreter in
//! `support::python::VERSIONS`.
//!
//! Inputs come from a seeded PRNG, so a failure is reproducible. All cases go
//! through one Python process per interpreter, as hex lines on stdin.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use stdrpc::__private::crypto::{Md5, Sha256, hmac_md5, hmac_sha256, md5, sha256};
use support::child::Proc;

/// Seed of the input generator.
const SEED: u64 = 0x7374_6472_7063_0001;
/// Random (key, message) pairs on top of the deliberate edge-case lengths.
const RANDOM_CASES: usize = 3000;
/// Longest a Python process may take before the test fails.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads `key_hex msg_hex` lines and answers each with
/// `sha256(msg) md5(msg) hmac_sha256(key, msg) hmac_md5(key, msg)` in hex.
const PYTHON_SCRIPT: &str = r#"
import hashlib, hmac, sys
out = []
for line in sys.stdin:
    key_hex, msg_hex = line.rstrip("\n").split(" ")
    key = bytes.fromhex(key_hex)
    msg = bytes.fromhex(msg_hex)
    out.append(" ".join((
        hashlib.sha256(msg).hexdigest(),
        hashlib.md5(msg).hexdigest(),
        hmac.new(key, msg, "sha256").hexdigest(),
        hmac.new(key, msg, "md5").hexdigest(),
    )))
sys.stdout.write("".join(o + "\n" for o in out))
"#;

/// SplitMix64: small, deterministic, good enough to pick test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform-enough value in `0..=max`.
    fn up_to(&mut self, max: usize) -> usize {
        (self.next() % (max as u64 + 1)) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Edge-case lengths of keys and messages crossed with each other, then
/// random keys of 0..=200 bytes and messages of 0..=1000 bytes.
fn cases(rng: &mut SplitMix64) -> Vec<(Vec<u8>, Vec<u8>)> {
    const KEY_LENS: &[usize] = &[0, 1, 16, 55, 56, 63, 64, 65, 119, 120, 128, 129, 200];
    const MSG_LENS: &[usize] = &[
        0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 191, 192, 1000,
    ];
    let mut cases = Vec::new();
    for &key_len in KEY_LENS {
        for &msg_len in MSG_LENS {
            cases.push((rng.bytes(key_len), rng.bytes(msg_len)));
        }
    }
    for _ in 0..RANDOM_CASES {
        let key_len = rng.up_to(200);
        let msg_len = rng.up_to(1000);
        cases.push((rng.bytes(key_len), rng.bytes(msg_len)));
    }
    cases
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Our answer line for one case. The plain hashes are fed through the
/// incremental API in random-sized pieces, and checked against the one-shot
/// functions.
fn rust_line(key: &[u8], msg: &[u8], rng: &mut SplitMix64) -> String {
    let mut sha = Sha256::new();
    let mut md = Md5::new();
    let mut rest = msg;
    while !rest.is_empty() {
        let n = rng.up_to(rest.len().min(150)).max(1);
        sha.update(&rest[..n]);
        md.update(&rest[..n]);
        rest = &rest[n..];
    }
    let sha = sha.finalize();
    let md = md.finalize();
    assert_eq!(sha, sha256(msg), "incremental SHA-256 != one-shot");
    assert_eq!(md, md5(msg), "incremental MD5 != one-shot");
    format!(
        "{} {} {} {}",
        hex(&sha),
        hex(&md),
        hex(&hmac_sha256(key, msg)),
        hex(&hmac_md5(key, msg)),
    )
}

/// Runs `PYTHON_SCRIPT` under `python` with `input` on stdin and returns its
/// stdout. Fails the test if Python fails or exceeds `PYTHON_TIMEOUT`.
fn run_python(version: &str, python: &Path, input: String) -> String {
    let mut cmd = Command::new(python);
    cmd.args(["-I", "-c", PYTHON_SCRIPT]);
    let mut child = Proc::spawn(cmd, format!("CPython {version} ({})", python.display()));
    let mut stdin = child.take_stdin().expect("piped stdin");
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.output(PYTHON_TIMEOUT);
    assert!(
        out.status.success(),
        "{} failed with {}:\n{}",
        out.what,
        out.status,
        out.stderr
    );
    writer
        .join()
        .expect("stdin writer thread")
        .unwrap_or_else(|e| panic!("writing to CPython {version}: {e}"));
    out.stdout
}

#[test]
fn hashes_and_hmacs_match_cpython() {
    let interpreters = support::python::interpreters();

    let mut rng = SplitMix64(SEED);
    let cases = cases(&mut rng);
    let input: String = cases
        .iter()
        .map(|(key, msg)| format!("{} {}\n", hex(key), hex(msg)))
        .collect();
    let expected: Vec<String> = cases
        .iter()
        .map(|(key, msg)| rust_line(key, msg, &mut rng))
        .collect();

    // One process per interpreter, all running at once.
    let outputs: Vec<(String, String)> = thread::scope(|scope| {
        let handles: Vec<_> = interpreters
            .iter()
            .map(|(version, python)| {
                let input = input.clone();
                scope.spawn(move || (version.clone(), run_python(version, python, input)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("python runner thread"))
            .collect()
    });

    for (version, output) in outputs {
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(
            lines.len(),
            cases.len(),
            "CPython {version} answered {} lines for {} cases",
            lines.len(),
            cases.len()
        );
        for (i, ((key, msg), (ours, theirs))) in
            cases.iter().zip(expected.iter().zip(lines)).enumerate()
        {
            assert_eq!(
                ours.as_str(),
                theirs,
                "case {i} (key {} bytes, message {} bytes) differs from CPython {version}\n\
                 fields: sha256 md5 hmac_sha256 hmac_md5\nkey {}\nmsg {}",
                key.len(),
                msg.len(),
                hex(key),
                hex(msg),
            );
        }
    }
}
