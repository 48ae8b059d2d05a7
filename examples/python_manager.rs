//! A Rust client driving a stock Python `BaseManager` server: the blog post
//! "Simplest Python RPC" server, run by Python itself, and the post's client
//! calls made from Rust with `stdrpc::python::Manager`.
//!
//! ```text
//! cargo run --example python_manager                        # CPython 3.11 (see --help)
//! cargo run --example python_manager -- --python python3.12  # any interpreter
//! ```
//!
//! The example writes the post's server program to a temporary file (with
//! port 0 on 127.0.0.1, and a line printing the port it got), starts it,
//! makes the post's calls, prints what the post's Python client printed,
//!
//! ```text
//! get None
//! put None
//! get 10
//! get_uname "posix.uname_result(sysname='Linux', nodename='box', ...)"
//! ```
//!
//! checks that the server holds no object any more (every proxy released
//! its reference), and shuts the Python server down.
//!
//! As in Python, each `manager.get(...)` result is a proxy of an object the
//! server keeps: printing it asks the server for its `repr()`, and
//! `.conjugate()` is a method call on the server's int.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stdrpc::python::Manager;

/// The post's server, as written, but on 127.0.0.1, port 0, and printing
/// the port once it listens.
const SERVER: &str = r#"from multiprocessing.managers import BaseManager as Manager
import os

# インメモリのKVSを想定
obj = {}
def get(k):
    print('get', k)
    return obj.get(k)

def put(k, v):
    obj[k] = v
    print('put', k,v)

# serverのunameを取得(LinuxとかMacOSとかわかる関数)
def get_uname():
    print('get_uname')
    return str(os.uname())

if __name__ == "__main__":
    port_num = 0
    Manager.register("get", get) # 待受に使う関数を登録
    Manager.register("put", put)
    Manager.register("get_uname", get_uname)
    manager = Manager(("127.0.0.1", port_num), authkey=b"password") # ホスト名を空白にすることで任意の箇所から命令を受け入れられる。パスワードが設定できる
    manager.start()
    print(manager.address[1], flush=True)
    input("Press any key to kill server".center(50, "-")) # なにか入力したら終了
    manager.shutdown()
"#;

const USAGE: &str = "\
usage: python_manager [--python PATH]
       runs the BaseManager server of Python's BaseManager example in CPython
       and calls it from Rust
options:
       --python PATH   the interpreter; default $STDRPC_PYTHON_3_11, else the newest
                       CPython 3.11 pyenv has, else python3 on PATH
       -h, --help      this text";

/// How long the Python server may take to start and to stop.
const WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let python = match python_from_args() {
        Ok(Some(p)) => p,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("python_manager: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&python) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--python PATH`, else `$STDRPC_PYTHON_3_11`, else the newest CPython 3.11
/// from pyenv, else `python3`; `Ok(None)` asks for the usage text.
fn python_from_args() -> Result<Option<PathBuf>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Ok(Some(
            std::env::var_os("STDRPC_PYTHON_3_11")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| pyenv_python("3.11"))
                .unwrap_or_else(|| PathBuf::from("python3")),
        )),
        ["--python", path] => Ok(Some(PathBuf::from(path))),
        ["-h" | "--help", ..] => Ok(None),
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

/// The newest installed CPython of `minor` (`pyenv prefix 3.11` picks it).
fn pyenv_python(minor: &str) -> Option<PathBuf> {
    let out = Command::new("pyenv")
        .args(["prefix", minor])
        .output()
        .ok()?;
    let prefix = String::from_utf8(out.stdout).ok()?;
    let python = PathBuf::from(prefix.trim()).join("bin").join("python3");
    (out.status.success() && python.is_file()).then_some(python)
}

fn run(python: &PathBuf) -> Result<(), String> {
    let server = PythonServer::start(python)?;
    let result = client(server.port).map_err(|e| e.to_string());
    let stopped = server.stop();
    result.and(stopped)
}

/// The post's client, in Rust.
fn client(port: u16) -> stdrpc::Result<()> {
    let manager = Manager::connect(("127.0.0.1", port), b"password")?;
    // print('get', manager.get('a'))
    println!("get {}", manager.create("get", "a")?.repr()?);
    // print('put', manager.put('a', 10))
    println!("put {}", manager.create("put", ("a", 10))?.repr()?);
    // print('get', manager.get('a').conjugate())
    println!("get {}", manager.create("get", "a")?.call("conjugate", ())?);
    // print('get_uname', manager.get_uname())
    println!("get_uname {}", manager.create("get_uname", ())?.repr()?);
    // Every proxy above has been dropped, and released its object.
    let left = manager.number_of_objects()?;
    if left != 0 {
        return Err(stdrpc::Error::Io(std::io::Error::other(format!(
            "the server still holds {left} objects:\n{}",
            manager.debug_info()?
        ))));
    }
    // What Python's `manager.shutdown()` sends to its server process.
    manager.shutdown()
}

/// The Python program: it starts the manager's server process, prints its
/// port and waits for a line on stdin.
struct PythonServer {
    child: Child,
    port: u16,
}

impl PythonServer {
    fn start(python: &PathBuf) -> Result<PythonServer, String> {
        let path = std::env::temp_dir().join(format!("stdrpc_kv_server_{}.py", std::process::id()));
        std::fs::write(&path, SERVER)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut command = Command::new(python);
        command
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut server = PythonServer { child, port: 0 };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            let _ = lines.read_line(&mut first);
            let _ = tx.send(first);
            // The server's own prints ('get a', ...) are not ours to show.
            let _ = lines.read_to_end(&mut Vec::new());
        });
        let first = rx
            .recv_timeout(WAIT)
            .map_err(|_| format!("{} did not start its manager", python.display()))?;
        let _ = std::fs::remove_file(&path);
        server.port = first
            .trim()
            .parse()
            .map_err(|_| format!("the Python server printed {first:?}, not a port"))?;
        Ok(server)
    }

    /// Presses the key the program waits for, and waits for it to exit.
    fn stop(mut self) -> Result<(), String> {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("the Python server exited with {status}")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return Err("the Python server did not stop".into()),
            }
        }
    }
}

impl Drop for PythonServer {
    /// Whatever happened, no Python process outlives the example.
    fn drop(&mut self) {
        #[cfg(unix)]
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
