//! Child processes, through one wrapper, [`Proc`]: this test binary
//! re-executed in a child role ([`Proc::reexec`]), an example binary
//! ([`Proc::example`]), or any command, such as a Python interpreter
//! ([`Proc::spawn`]). Whatever the test's outcome, a `Proc` is killed and
//! reaped when dropped, and every wait on it has a deadline.
//!
//! The child's standard input is a pipe the parent holds: a child that reads
//! it to its end (see [`wait_for_parent`]) runs until the parent is finished
//! with it or has died, so an orphaned child never outlives its test. Its
//! standard output arrives line by line on a channel.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
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

/// A running child process whose standard output lines arrive on a channel.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    /// The reader of a piped standard error, which returns all of it.
    stderr: Option<JoinHandle<String>>,
    /// Whether the child leads a process group of its own, killed whole.
    group: bool,
    reaped: bool,
    /// What the child is, for failure messages.
    pub what: String,
}

/// What a finished child left behind.
#[derive(Debug)]
pub struct Output {
    /// What the child was.
    pub what: String,
    pub status: ExitStatus,
    /// The standard output lines not already taken with
    /// [`Proc::next_line`] or [`Proc::expect_line`], each ended by `\n`.
    pub stdout: String,
    /// All of standard error (empty if it was not piped).
    pub stderr: String,
}

impl Proc {
    /// Re-executes this test binary to run only `test` (which must check
    /// [`role`] and act as the child), with `role` and the parameters set.
    /// Its standard error is the test's own, so its failures show there.
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
        Proc::start(cmd, format!("{test} as {role}"), false, true)
    }

    /// Runs an example binary with `args`; its standard error is the test's
    /// own.
    pub fn example(path: &Path, args: &[&str]) -> Proc {
        let mut cmd = Command::new(path);
        cmd.args(args);
        Proc::start(
            cmd,
            format!("{} {}", path.display(), args.join(" ")),
            false,
            false,
        )
    }

    /// Starts `cmd` with its standard error piped and kept, for
    /// [`output`](Proc::output).
    pub fn spawn(cmd: Command, what: impl Into<String>) -> Proc {
        Proc::start(cmd, what.into(), true, false)
    }

    /// [`spawn`](Proc::spawn) in a process group of its own, which is killed
    /// whole when the `Proc` is dropped: for a child that starts children of
    /// its own (a Python process pool, say).
    #[cfg(unix)]
    pub fn spawn_group(mut cmd: Command, what: impl Into<String>) -> Proc {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        let mut proc = Proc::spawn(cmd, what);
        proc.group = true;
        proc
    }

    fn start(mut cmd: Command, what: String, pipe_stderr: bool, strip_marker: bool) -> Proc {
        let stderr = if pipe_stderr {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut bytes = Vec::new();
            loop {
                bytes.clear();
                match stdout.read_until(b'\n', &mut bytes) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&bytes);
                let mut line = text.strip_suffix('\n').unwrap_or(&text);
                line = line.strip_suffix('\r').unwrap_or(line);
                // The harness may have begun a line ("test NAME ... ")
                // before a re-executed child's own.
                if strip_marker {
                    if let Some(at) = line.find("@@ ") {
                        line = &line[at + 3..];
                    }
                }
                if tx.send(line.to_owned()).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        });
        Proc {
            child,
            lines,
            reader: Some(reader),
            stderr,
            group: false,
            reaped: false,
            what,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's standard input, to write to; dropping it closes it.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Whether the child has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// The next line of standard output.
    pub fn next_line(&self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no line within {timeout:?}", self.what)
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{}: exited before printing a line", self.what)
            }
        }
    }

    /// The next line of standard output, or why there is none: `Timeout`,
    /// or `Disconnected` once the child has closed its output.
    pub fn try_next_line(&self, timeout: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(timeout)
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
    pub fn finish(self, timeout: Duration) -> (Vec<String>, ExitStatus) {
        let out = self.output(timeout);
        (out.stdout.lines().map(str::to_owned).collect(), out.status)
    }

    /// Closes the child's standard input, then waits (at most `timeout`) for
    /// it to close its output and exit.
    pub fn output(mut self, timeout: Duration) -> Output {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        let mut stdout = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    stdout.push_str(&line);
                    stdout.push('\n');
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{} did not finish within {timeout:?}: {stdout:?}",
                        self.what
                    )
                }
            }
        }
        // Its output is closed, so the child has exited or is exiting: reap
        // it, still within the deadline.
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => panic!("{} did not exit within {timeout:?}: {other:?}", self.what),
            }
        };
        self.reaped = true;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.output_of(status, stdout)
    }

    /// What the exited child left: its `status`, the `stdout` read, and
    /// all of its stderr.
    fn output_of(&mut self, status: ExitStatus, stdout: String) -> Output {
        let stderr = match self.stderr.take() {
            Some(r) => r.join().unwrap_or_default(),
            None => String::new(),
        };
        Output {
            what: self.what.clone(),
            status,
            stdout,
            stderr,
        }
    }

    /// Kills the child and returns what it left: for a failure message.
    /// Waits at most 2 s for the output still in the pipes.
    pub fn abort(mut self) -> Output {
        self.kill();
        let mut stdout = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        let status = self.child.wait().expect("the child was reaped");
        self.output_of(status, stdout)
    }

    /// SIGKILL on Unix (to the whole group, for [`spawn_group`]); reaps the
    /// child and joins the output readers.
    ///
    /// [`spawn_group`]: Proc::spawn_group
    pub fn kill(&mut self) {
        if self.group {
            // The group's id is the leader's, which is not reused while the
            // group has members left.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
        // The child is gone, so its ends of the pipes are closed (unless a
        // grandchild outside its group holds them: then we do not wait).
        if !self.group {
            if let Some(r) = self.reader.take() {
                let _ = r.join();
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to completion, at most `timeout`, and returns what it left.
pub fn run(cmd: Command, what: impl Into<String>, timeout: Duration) -> Output {
    Proc::spawn(cmd, what).output(timeout)
}
