//! Memory per idle connection: the server runs in a child process (this
//! binary re-executed as `__mem-server`), the clients in another
//! (`__mem-clients`), so that only the server's memory is counted. The parent
//! reads the server's VmRSS from /proc before and after the clients connect.
//! Both children raise their open-file limit (setrlimit; root may raise the
//! hard limit too).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use crate::peer;
use crate::rpc;
use crate::util::{err, raise_nofile};

/// How long the clients may take to connect before the scenario settles for
/// the connections made so far.
const CONNECT_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Clients per client process: 4,000 stdrpc clients hold 8,000 descriptors,
/// well within this machine's hard limit of 20,000 per process.
const CLIENTS_PER_CHILD: usize = 4_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// A std thread per connection (default 2 MiB stack), blocked in `read`.
    RawThreads,
    Stdrpc,
    /// tarpc on the default multi-thread runtime.
    Tarpc,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::RawThreads => "raw",
            System::Stdrpc => "stdrpc",
            System::Tarpc => "tarpc",
        }
    }

    fn parse(s: &str) -> Result<System, String> {
        match s {
            "raw" => Ok(System::RawThreads),
            "stdrpc" => Ok(System::Stdrpc),
            "tarpc" => Ok(System::Tarpc),
            _ => Err(format!("unknown system {s}")),
        }
    }
}

/// One measurement: KiB of server RSS per connection, and what it is made of.
#[derive(Debug, Clone)]
pub struct MemResult {
    pub kib_per_conn: f64,
    pub connected: usize,
    pub asked: usize,
    pub note: String,
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_self(args: &[&str]) -> Result<(Proc, BufReader<std::process::ChildStdout>), String> {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(err("spawn child"))?;
    let out = BufReader::new(child.stdout.take().expect("piped"));
    Ok((Proc(child), out))
}

fn read_line(out: &mut impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    out.read_line(&mut line).map_err(err("read child"))?;
    if line.is_empty() {
        return Err("child exited early".into());
    }
    Ok(line.trim().to_string())
}

/// (VmRSS in KiB, threads) of a process.
fn rss(pid: u32) -> Result<(u64, u64), String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(err("read /proc status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("Threads:")) {
        (Some(r), Some(t)) => Ok((r, t)),
        _ => Err("no VmRSS in /proc status".into()),
    }
}

/// Connects `conns` idle clients to a server of `system` and returns the
/// server's RSS growth per connection.
pub fn measure(system: System, conns: usize) -> Result<MemResult, String> {
    let (server, mut server_out) =
        spawn_self(&["__mem-server", system.name(), &conns.to_string()])?;
    let line = read_line(&mut server_out)?;
    let addr = line
        .strip_prefix("listening on ")
        .ok_or_else(|| format!("server child said {line:?}"))?
        .to_string();
    std::thread::sleep(Duration::from_millis(100));
    let (rss0, threads0) = rss(server.0.id())?;
    // Clients in several processes, so that their descriptors (two per
    // stdrpc client) stay within each process's limit.
    let mut children = Vec::new();
    let mut connected = 0usize;
    let mut stopped = None;
    while connected < conns && stopped.is_none() {
        let share = (conns - connected).min(CLIENTS_PER_CHILD);
        let (child, mut out) =
            spawn_self(&["__mem-clients", system.name(), &addr, &share.to_string()])?;
        let line = read_line(&mut out)?;
        let n: usize = line
            .strip_prefix("connected ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("client child said {line:?}"))?;
        connected += n;
        if n < share {
            stopped = Some(line);
        }
        children.push((child, out));
    }
    if connected == 0 {
        return Err(format!("no connection: {}", stopped.unwrap_or_default()));
    }
    // Let the server's threads finish what the last connections started.
    std::thread::sleep(Duration::from_millis(300));
    let (rss1, threads1) = rss(server.0.id())?;
    let fd_limit = open_files_limit(server.0.id());
    drop(children);
    drop(server);
    let kib = (rss1.saturating_sub(rss0)) as f64 / connected as f64;
    let mut note = format!(
        "{connected} connections; server RSS {:.1} -> {:.1} MiB, threads {threads0} -> {threads1}",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0
    );
    if let Some(line) = stopped {
        note.push_str(&format!(
            " (asked for {conns}; the clients stopped: {}; the server's open-file limit is {fd_limit})",
            line.trim_start_matches("connected ")
        ));
    }
    Ok(MemResult {
        kib_per_conn: kib,
        connected,
        asked: conns,
        note,
    })
}

/// The soft open-file limit of a process, from /proc.
fn open_files_limit(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Waits for the parent to close our stdin.
fn wait_for_parent() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// `__mem-server SYSTEM CONNS`
pub fn server_main(args: &[String]) -> Result<(), String> {
    let system = System::parse(args.first().map(String::as_str).unwrap_or(""))?;
    let conns: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .ok_or("missing CONNS")?;
    raise_nofile((conns as u64) * 4 + 256);
    let announce = |addr: String| {
        println!("listening on {addr}");
        let _ = std::io::stdout().flush();
    };
    match system {
        System::RawThreads => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err("bind"))?;
            announce(listener.local_addr().map_err(err("addr"))?.to_string());
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    let Ok(mut s) = s else { continue };
                    let _ = s.set_nodelay(true);
                    let _ = std::thread::Builder::new().spawn(move || {
                        let mut buf = [0u8; 12];
                        while s.read_exact(&mut buf).is_ok() {
                            if s.write_all(&buf).is_err() {
                                break;
                            }
                        }
                    });
                }
            });
            wait_for_parent();
        }
        System::Stdrpc => {
            let config = stdrpc::Config::default().max_connections(conns + 64);
            let running = rpc::server(config, Arc::new(AtomicU64::new(0)))
                .bind("127.0.0.1:0")
                .map_err(err("bind"))?
                .spawn()
                .map_err(err("spawn"))?;
            announce(running.local_addr().to_string());
            wait_for_parent();
            // Exit without a graceful shutdown: the clients are gone anyway.
        }
        System::Tarpc => {
            let server =
                peer::TarpcServer::start(peer::Runtime::MultiThread, crate::floor::Transport::Tcp)?;
            let peer::Addr::Tcp(addr) = server.addr else {
                return Err("tarpc server on a Unix socket".into());
            };
            announce(addr.to_string());
            wait_for_parent();
            std::mem::forget(server);
        }
    }
    std::process::exit(0);
}

/// `__mem-clients SYSTEM ADDR N`: opens N connections, each making one call
/// (one round trip for raw), prints `connected K`, and holds them until
/// stdin closes.
pub fn clients_main(args: &[String]) -> Result<(), String> {
    let system = System::parse(args.first().map(String::as_str).unwrap_or(""))?;
    let addr = args.get(1).ok_or("missing ADDR")?.clone();
    let n: usize = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .ok_or("missing N")?;
    raise_nofile((n as u64) * 3 + 256);
    let start = Instant::now();
    let mut failure = None;
    let mut count = 0usize;
    match system {
        System::RawThreads => {
            let mut held = Vec::with_capacity(n);
            while count < n && start.elapsed() < CONNECT_TIME_LIMIT {
                let one = || -> std::io::Result<TcpStream> {
                    let mut s = TcpStream::connect(&addr)?;
                    s.set_nodelay(true)?;
                    let frame = [0u8, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
                    s.write_all(&frame)?;
                    let mut buf = [0u8; 12];
                    s.read_exact(&mut buf)?;
                    Ok(s)
                };
                match one() {
                    Ok(s) => held.push(s),
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                count += 1;
            }
            report(count, failure);
            wait_for_parent();
        }
        System::Stdrpc => {
            let mut held = Vec::with_capacity(n);
            while count < n && start.elapsed() < CONNECT_TIME_LIMIT {
                let one = || -> stdrpc::Result<stdrpc::Client> {
                    let c = stdrpc::Client::connect(addr.as_str(), rpc::KEY)?;
                    let _: i64 = c.call("add", (1i64, 2i64))?;
                    Ok(c)
                };
                match one() {
                    Ok(c) => held.push(c),
                    Err(e) => {
                        failure = Some(e.to_string());
                        break;
                    }
                }
                count += 1;
            }
            report(count, failure);
            wait_for_parent();
            std::mem::forget(held);
        }
        System::Tarpc => {
            let rt = peer::runtime(peer::Runtime::CurrentThread).map_err(err("runtime"))?;
            let target = peer::Addr::Tcp(addr.parse().map_err(err("addr"))?);
            let held = rt.block_on(async {
                let mut held = Vec::with_capacity(n);
                while count < n && start.elapsed() < CONNECT_TIME_LIMIT {
                    let one = async {
                        let c = peer::connect(&target).await?;
                        c.add(tarpc::context::current(), 1, 2)
                            .await
                            .map_err(err("call"))?;
                        Ok::<_, String>(c)
                    };
                    match one.await {
                        Ok(c) => held.push(c),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                    count += 1;
                }
                held
            });
            report(count, failure);
            wait_for_parent();
            std::mem::forget(held);
            std::mem::forget(rt);
        }
    }
    std::process::exit(0);
}

fn report(count: usize, failure: Option<String>) {
    match failure {
        Some(e) => println!("connected {count} (stopped: {e})"),
        None => println!("connected {count}"),
    }
    let _ = std::io::stdout().flush();
}
