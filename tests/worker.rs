//! Worker processes over their stdin and stdout (`stdrpc::Worker`), with
//! `examples/child_worker.rs` as the worker: it runs outside libtest's
//! harness, so nothing but the connection reaches its stdout.
//!
//! A `Worker` is its own child wrapper: dropping it closes the child's
//! stdin, waits a bounded time, kills it if needed and reaps it.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use stdrpc::{Error, Worker};

const KEY: &[u8] = b"a key that must stay off the command line";

fn worker() -> Worker {
    let exe = support::examples::example("child_worker");
    Worker::spawn(Command::new(exe).arg("worker"), KEY).unwrap()
}

#[test]
fn a_worker_answers_calls_and_dropping_it_reaps_the_child() {
    let w = worker();
    assert_eq!(w.call::<_, i64>("square", 7i64).unwrap(), 49);
    let pending: Vec<_> = (0..100i64)
        .map(|i| w.client().start::<_, i64>("square", i).unwrap())
        .collect();
    for (i, p) in pending.into_iter().enumerate() {
        assert_eq!(p.wait().unwrap(), (i * i) as i64);
    }
    let pid = w.id();
    drop(w);
    // Reaped: not even a zombie is left (Linux shows them in /proc).
    if cfg!(target_os = "linux") {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_key_is_neither_on_the_command_line_nor_in_the_environment() {
    let w = worker();
    // The handshake has run: the child holds the key.
    assert_eq!(w.call::<_, i64>("square", 3i64).unwrap(), 9);
    for what in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{}/{what}", w.id())).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|win| win == KEY),
            "the key is in the worker's {what}"
        );
    }
}

#[test]
fn a_worker_that_crashes_mid_call_is_an_error_and_others_go_on() {
    let (doomed, other) = (worker(), worker());
    let err = doomed.call::<_, i32>("crash", 7i32).unwrap_err();
    assert!(matches!(err, Error::ConnectionClosed), "{err}");
    assert!(doomed.call::<_, i64>("square", 2i64).is_err());
    assert_eq!(other.call::<_, i64>("square", 5i64).unwrap(), 25);
}

#[test]
fn a_child_that_prints_to_stdout_fails_the_spawn_and_says_why() {
    // `--help` prints its usage on stdout where the challenge should be.
    let exe = support::examples::example("child_worker");
    let err = Worker::spawn(Command::new(exe).arg("--help"), KEY).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("stdout"), "{text}");
}

#[test]
fn dropping_a_worker_stuck_in_a_handler_kills_it_within_the_grace_period() {
    let w = worker();
    // A ten-minute call the worker will not finish.
    let _stuck = w.client().start::<_, ()>("nap", 600_000u64).unwrap();
    assert_eq!(w.call::<_, i64>("square", 4i64).unwrap(), 16);
    let pid = w.id();
    let started = Instant::now();
    drop(w);
    // Two seconds of grace, then the kill; generous for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(60));
    if cfg!(target_os = "linux") {
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}
