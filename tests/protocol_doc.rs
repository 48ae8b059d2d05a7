//! The Python clients printed in docs/PROTOCOL.md, run as printed against a
//! live server on every interpreter: the untyped 15-line client (§4.6) is
//! served unchecked, and the typed client (§4.8) sends fingerprints that
//! succeed and fail exactly as the Rust client's do. The worked hex examples
//! of §4.7 are checked against the library too.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use stdrpc::{Decode, Encode, Server};

const PROTOCOL: &str = include_str!("../docs/PROTOCOL.md");

/// The `n`th ```python block of PROTOCOL.md.
fn python_block(n: usize) -> String {
    let block = PROTOCOL
        .split("```python\n")
        .nth(n + 1)
        .unwrap_or_else(|| panic!("PROTOCOL.md has no python block {n}"));
    block.split("```").next().unwrap().to_owned()
}

/// The server of §4.6, with the `bump`/`total` pair of §4.8.
fn server(total: &Arc<AtomicI64>) -> stdrpc::RunningServer {
    let mut server = Server::new(b"password");
    server.register("get", |k: String| if k == "a" { Some(10i64) } else { None });
    server.register("add", |a: i64, b: i64| a + b);
    let t = Arc::clone(total);
    server.register("bump", move |n: i64| {
        t.fetch_add(n, Ordering::SeqCst);
    });
    let t = Arc::clone(total);
    server.register("total", move || t.load(Ordering::SeqCst));
    server.bind("127.0.0.1:0").unwrap().spawn().unwrap()
}

/// Runs `script` with `python`, passing the port; its stdout lines, sorted.
fn run(python: &std::path::Path, script: &str, port: u16) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("stdrpc-protocol-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("client-{port}.py"));
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(&path).arg(port.to_string());
    let out = support::child::run(cmd, "the Python client", Duration::from_secs(60));
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "python failed: {}", out.stderr);
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn documented_python_clients_typed_and_untyped() {
    // Block 0 is the handshake example of §3.
    let untyped = python_block(1);
    let typed = python_block(2);
    assert!(untyped.contains("b'\\x01'") && !untyped.contains("hashlib"));
    assert!(typed.contains("b'\\x05'") && typed.contains("hashlib"));
    let mismatch = {
        let mut m = vec![0x04, 0x02, 0x06, 29];
        m.extend_from_slice(b"add expects (i64, i64) -> i64");
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (version, python) in support::python::interpreters() {
        let total = Arc::new(AtomicI64::new(0));
        let running = server(&total);
        let port = running.local_addr().to_string();
        let port: u16 = port.rsplit(':').next().unwrap().parse().unwrap();

        // The untyped client of §4.6, unchanged: served, not checked.
        assert_eq!(
            run(&python, &untyped, port),
            ["03 01 01 14", "03 02 0a"],
            "CPython {version}, untyped client"
        );
        assert_eq!(running.stats().signature_mismatches, 0);

        // The typed client of §4.8.
        let lines = run(&python, &typed, port);
        assert_eq!(
            lines,
            ["03 01 0a", "03 03 0e", mismatch.as_str()],
            "CPython {version}, typed client"
        );
        // One refused call, one refused notification; the handler of the
        // refused notification did not run.
        assert_eq!(running.stats().signature_mismatches, 2, "CPython {version}");
        assert_eq!(total.load(Ordering::SeqCst), 7);
        running.shutdown().unwrap();
    }
}

#[test]
fn worked_fingerprints_match_the_library() {
    fn fp_bytes(s: &stdrpc::Shape) -> String {
        s.fingerprint()
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
    let rows = [
        ("int", <i64 as Decode>::shape()),
        ("(int,int)", <(i64, i64) as Decode>::shape()),
        ("(uint,uint)", <(u64, u64) as Encode>::shape()),
        ("()", <() as Decode>::shape()),
    ];
    for (text, shape) in rows {
        assert_eq!(shape.canonical(), text);
        let row = format!(
            "| `{text}` | `{} …` | `{}` |",
            fp_bytes(&shape),
            fp_bytes(&shape)
        );
        assert!(PROTOCOL.contains(&row), "PROTOCOL.md lacks the row {row}");
    }
}
