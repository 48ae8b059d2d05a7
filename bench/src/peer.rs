//! tarpc, set up as its README and examples do: tokio, `serde_transport`
//! with bincode over length-delimited frames, `BaseChannel::with_defaults`,
//! each request spawned as a task, a client with `client::Config::default()`
//! and `context::current()` per call, no TCP_NODELAY.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::prelude::*;
use futures::stream::FuturesUnordered;
use serde_bytes::ByteBuf;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{ClientMessage, Response, client, context};

use crate::floor::Transport;
use crate::serve::{Kind as ServeKind, ServerProc};
use crate::util::{Budget, Measured, Meter, err, socket_path};

#[tarpc::service]
pub trait Bench {
    async fn add(a: i64, b: i64) -> i64;
    async fn echo(data: ByteBuf) -> ByteBuf;
}

#[derive(Clone)]
struct Service;

impl Bench for Service {
    async fn add(self, _: context::Context, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn echo(self, _: context::Context, data: ByteBuf) -> ByteBuf {
        data
    }
}

/// Which tokio runtimes: the default multi-thread one (what `#[tokio::main]`
/// gives, one worker per core) or a current-thread runtime, on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    MultiThread,
    CurrentThread,
}

pub fn runtime(kind: Runtime) -> io::Result<tokio::runtime::Runtime> {
    match kind {
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
}

#[derive(Debug, Clone)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

type Req = ClientMessage<BenchRequest>;
type Resp = Response<BenchResponse>;

/// Serves every connection of `incoming`, each request as its own task.
async fn serve<S, T, E>(incoming: S)
where
    S: Stream<Item = io::Result<T>>,
    T: tarpc::Transport<Resp, Req, TransportError = E> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    incoming
        .filter_map(|r| future::ready(r.ok()))
        .map(BaseChannel::with_defaults)
        .for_each(|channel| {
            tokio::spawn(
                channel
                    .execute(Service.serve())
                    .for_each(|response| async move {
                        tokio::spawn(response);
                    }),
            );
            future::ready(())
        })
        .await;
}

/// A tarpc server on its own thread and runtime; dropping it stops it.
pub struct TarpcServer {
    pub addr: Addr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TarpcServer {
    pub fn start(kind: Runtime, transport: Transport) -> Result<TarpcServer, String> {
        Self::start_on(kind, transport, "127.0.0.1:0")
    }

    pub fn start_on(
        kind: Runtime,
        transport: Transport,
        tcp_addr: &str,
    ) -> Result<TarpcServer, String> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel::<Result<Addr, String>>();
        let tcp_addr = tcp_addr.to_string();
        let thread =
            std::thread::Builder::new()
                .name("tarpc-server".into())
                .spawn(move || {
                    let rt = match runtime(kind) {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(format!("runtime: {e}")));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        match transport {
                            Transport::Tcp => {
                                let mut listener =
                                    match serde_transport::tcp::listen(&tcp_addr, Bincode::default)
                                        .await
                                    {
                                        Ok(l) => l,
                                        Err(e) => {
                                            let _ = tx.send(Err(format!("listen: {e}")));
                                            return;
                                        }
                                    };
                                listener.config_mut().max_frame_length(64 << 20);
                                let _ = tx.send(Ok(Addr::Tcp(listener.local_addr())));
                                tokio::select! {
                                    _ = serve(listener) => {}
                                    _ = stopped => {}
                                }
                            }
                            Transport::Unix => {
                                let path = socket_path("tarpc");
                                let mut listener =
                                    match serde_transport::unix::listen(&path, Bincode::default)
                                        .await
                                    {
                                        Ok(l) => l,
                                        Err(e) => {
                                            let _ = tx.send(Err(format!("listen: {e}")));
                                            return;
                                        }
                                    };
                                listener.config_mut().max_frame_length(64 << 20);
                                let _ = tx.send(Ok(Addr::Unix(path)));
                                tokio::select! {
                                    _ = serve(listener) => {}
                                    _ = stopped => {}
                                }
                            }
                        }
                    });
                    // Dropping the runtime cancels the connection tasks.
                    rt.shutdown_timeout(Duration::from_secs(1));
                })
                .map_err(err("spawn"))?;
        let addr = rx
            .recv()
            .map_err(|_| "tarpc server thread died".to_string())??;
        Ok(TarpcServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for TarpcServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Addr::Unix(p) = &self.addr {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Connects a client; must run inside a runtime (it spawns its dispatch task).
pub async fn connect(addr: &Addr) -> Result<BenchClient, String> {
    match addr {
        Addr::Tcp(a) => {
            let mut c = serde_transport::tcp::connect(a, Bincode::default);
            c.config_mut().max_frame_length(64 << 20);
            let t = c.await.map_err(err("tarpc connect"))?;
            Ok(BenchClient::new(client::Config::default(), t).spawn())
        }
        Addr::Unix(p) => {
            let mut c = serde_transport::unix::connect(p, Bincode::default);
            c.config_mut().max_frame_length(64 << 20);
            let t = c.await.map_err(err("tarpc connect"))?;
            Ok(BenchClient::new(client::Config::default(), t).spawn())
        }
    }
}

/// Runs `f` with a client of a fresh server, server and client each on a
/// runtime of the given kind (the client's on this thread).
fn with_client<F, Fut>(kind: Runtime, transport: Transport, f: F) -> Result<Measured, String>
where
    F: FnOnce(BenchClient, Addr) -> Fut,
    Fut: Future<Output = Result<Measured, String>>,
{
    let server = ServerProc::spawn(ServeKind::Tarpc(kind, transport.into()))?;
    let rt = runtime(kind).map_err(err("runtime"))?;
    let addr = server.addr.tarpc();
    let result = rt.block_on(async move {
        let client = connect(&addr).await?;
        f(client, addr).await
    });
    drop(rt);
    server.finish()?;
    result
}

async fn add(client: &BenchClient, a: i64) -> Result<(), String> {
    let v = client
        .add(context::current(), a, 1)
        .await
        .map_err(err("tarpc call"))?;
    if v != a + 1 {
        return Err(format!("add returned {v}"));
    }
    Ok(())
}

async fn timed<F, Fut>(budget: Budget, batch: u64, mut op: F) -> Result<Measured, String>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let meter = Meter::start();
    let mut i = 0;
    while i < budget.iters {
        for _ in 0..batch.min(budget.iters - i) {
            op(i).await?;
            i += 1;
        }
        if meter.elapsed() >= budget.time {
            break;
        }
    }
    Ok(meter.stop(i))
}

pub fn sequential(kind: Runtime, transport: Transport, budget: Budget) -> Result<Measured, String> {
    with_client(kind, transport, |client, _| async move {
        timed(budget.warmup(), 100, |i| add(&client, i as i64)).await?;
        timed(budget, 100, |i| add(&client, i as i64)).await
    })
}

/// `tasks` tasks share one client (one connection), each calling in a loop.
pub fn fan_in(kind: Runtime, tasks: usize, budget: Budget) -> Result<Measured, String> {
    with_client(kind, Transport::Tcp, |client, _| async move {
        let per_task = (budget.iters / tasks as u64).max(1);
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks + 1));
        let done = Arc::new(AtomicU64::new(0));
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (client, barrier, done) = (client.clone(), Arc::clone(&barrier), Arc::clone(&done));
            handles.push(tokio::spawn(async move {
                for i in 0..10 {
                    add(&client, i).await?;
                }
                barrier.wait().await;
                let start = std::time::Instant::now();
                let mut n = 0u64;
                while n < per_task {
                    add(&client, (t as i64) << 32 | n as i64).await?;
                    n += 1;
                    if n % 16 == 0 && start.elapsed() >= budget.time {
                        break;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                Ok::<(), String>(())
            }));
        }
        barrier.wait().await;
        let meter = Meter::start();
        for h in handles {
            h.await.map_err(err("task"))??;
        }
        Ok(meter.stop(done.load(Ordering::Relaxed)))
    })
}

/// One task keeps up to `window` calls in flight on one connection.
pub fn pipelined(kind: Runtime, window: usize, budget: Budget) -> Result<Measured, String> {
    with_client(kind, Transport::Tcp, |client, _| async move {
        let run = |budget: Budget| {
            let client = &client;
            async move {
                let meter = Meter::start();
                let mut in_flight = FuturesUnordered::new();
                let (mut started, mut finished) = (0u64, 0u64);
                loop {
                    while started < budget.iters && in_flight.len() < window {
                        in_flight.push(add(client, started as i64));
                        started += 1;
                    }
                    match in_flight.next().await {
                        Some(r) => r?,
                        None => break,
                    }
                    finished += 1;
                    if finished % 1024 == 0 && meter.elapsed() >= budget.time {
                        // Stop starting; let the window drain.
                        started = budget.iters;
                    }
                }
                Ok::<Measured, String>(meter.stop(finished))
            }
        };
        run(budget.warmup()).await?;
        run(budget).await
    })
}

/// A `size`-byte `serde_bytes::ByteBuf` argument echoed back. Per echo.
pub fn big_echo(kind: Runtime, size: usize, budget: Budget) -> Result<Measured, String> {
    with_client(kind, Transport::Tcp, |client, _| async move {
        let data = vec![0x5au8; size];
        let echo = |_| {
            let (client, data) = (&client, &data);
            async move {
                let back = client
                    .echo(context::current(), ByteBuf::from(data.clone()))
                    .await
                    .map_err(err("tarpc call"))?;
                if back.len() != size {
                    return Err(format!("echoed {} bytes", back.len()));
                }
                Ok(())
            }
        };
        timed(budget.warmup(), 1, echo).await?;
        timed(budget, 1, echo).await
    })
}

/// A new connection plus its first call (tarpc has no handshake), then drop.
pub fn connect_first_call(kind: Runtime, budget: Budget) -> Result<Measured, String> {
    with_client(kind, Transport::Tcp, |_, addr| async move {
        let one = |_| {
            let addr = &addr;
            async move {
                let c = connect(addr).await?;
                add(&c, 1).await?;
                drop(c);
                Ok(())
            }
        };
        timed(budget.warmup(), 10, one).await?;
        timed(budget, 10, one).await
    })
}
