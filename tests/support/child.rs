//! Child processes: this test binary re-executed in a child role, or an
//! example binary. A [`Proc`] is killed and reaped when dropped, whatever
//! the test's outcome, and every wait on it has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Set in a re-executed test binary's environment to the child's role.
pub const ROLE_VAR: &str = "STDRPC_TEST_CHILD_ROLE";

/// The role this process was started in, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A parameter passed to a child (`STDRPC_TEST_CHILD_<NAME>`).
pub fn param(name: &str) -> String {
    std::env::var(format!("STDRPC_TEST_CHILD_{name}"))
        .unwrap_or_else(|_| panic!("the child needs STDRPC_TEST_CHILD_{name}"))
}

/// Blocks until the parent closes our standard input: it has finished with
/// us, or it has died (so an orphaned child never outlives its test).
pub fn wait_for_parent() {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// Prints a line the parent looks for, with a prefix the test harness's own
/// output never starts with.
pub fn say(line: &str) {
    println!("@@ {line}");
}

/// A running child process whose `@@` lines arrive on a channel.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    pub what: String,
}

impl Proc {
    /// Re-executes this test binary to run only `test` (which must check
    /// [`role`] and act as the child), with `role` and the parameters set.
    pub fn reexec(test: &str, role: &str, params: &[(&str, String)]) -> Proc {
        Proc::reexec_env(test, role, params, &[])
    }

    /// [`reexec`](Proc::reexec) with extra environment variables (say, an
    /// allocator setting) set verbatim.
    pub fn reexec_env(
        test: &str,
        role: &str,
        params: &[(&str, String)],
        env: &[(&str, &str)],
    ) -> Proc {
        let exe = std::env::current_exe().expect("the test's own path");
        let mut cmd = Command::new(exe);
        cmd.args([test, "--exact", "--nocapture", "--test-threads", "1"])
            .env(ROLE_VAR, role);
        for (name, value) in params {
            cmd.env(format!("STDRPC_TEST_CHILD_{name}"), value);
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        Proc::start(cmd, format!("{test} as {role}"))
    }

    /// Runs an example binary with `args`.
    pub fn example(path: &Path, args: &[&str]) -> Proc {
        let mut cmd = Command::new(path);
        cmd.args(args);
        Proc::start(cmd, format!("{} {}", path.display(), args.join(" ")))
    }

    fn start(mut cmd: Command, what: String) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may have begun a line ("test NAME ... ")
                // before ours; children that are examples print plain lines.
                let line = match line.find("@@ ") {
                    Some(at) => line[at + 3..].to_owned(),
                    None => line,
                };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            reader: Some(reader),
            what,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line starting with `prefix` and returns the rest of it;
    /// other lines are skipped.
    pub fn expect_line(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no line {prefix:?} within {timeout:?}", self.what)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{}: exited before printing {prefix:?}", self.what)
                }
            }
        }
    }

    /// Every remaining line, once the child has closed its output (at most
    /// `timeout`), and its exit status.
    pub fn finish(mut self, timeout: Duration) -> (Vec<String>, ExitStatus) {
        // A child waiting for its parent may go now.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{} did not finish within {timeout:?}: {out:?}", self.what)
                }
            }
        }
        let status = self.child.wait().expect("wait for the child");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (out, status)
    }

    /// SIGKILL on Unix; reaps the child and joins the output reader.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            // The child is gone, so its end of the pipe is closed.
            let _ = r.join();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
