//! stdrpc, driven through its public API only, as a user would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use stdrpc::{Client, Config, Pending, Server};

use crate::floor::Transport;
use crate::serve::{Kind, ServerProc};
use crate::util::{Budget, Measured, Meter, err, timed_loop};

pub const KEY: &[u8] = b"stdrpc-bench";

/// The FX tick of the `tick_stream` example, sent as a one-way message.
pub const TICK: (&str, &str, f64, f64) = ("EURUSD", "2024-01-01T00:00:00.000", 1.0812, 1.0814);

/// The methods every scenario uses.
pub fn server(config: Config, ticks: Arc<AtomicU64>) -> Server {
    let mut server = Server::with_config(KEY, config);
    server.register("add", |a: i64, b: i64| a + b);
    server.register("echo", |data: Vec<u8>| data);
    server.register_raw("echo_raw", |data: &[u8]| {
        Ok::<_, std::convert::Infallible>(data.to_vec())
    });
    let count = Arc::clone(&ticks);
    server.register("ticks", move || count.load(Ordering::Relaxed));
    server.register(
        "tick",
        move |symbol: String, datetime: String, bid: f64, ask: f64| {
            std::hint::black_box((symbol, datetime, bid, ask));
            ticks.fetch_add(1, Ordering::Relaxed);
        },
    );
    server
}

/// A server child process and a connected client.
struct Setup {
    server: ServerProc,
    client: Client,
}

impl Setup {
    fn new(transport: Transport) -> Result<Setup, String> {
        let server = ServerProc::spawn(Kind::Stdrpc(transport.into()))?;
        let client = Client::connect(server.addr.text().as_str(), KEY).map_err(err("connect"))?;
        Ok(Setup { server, client })
    }

    fn addr(&self) -> String {
        self.server.addr.text()
    }

    /// How many ticks the server has run so far (asked on a connection of
    /// its own).
    fn ticks(&self) -> Result<u64, String> {
        let c = Client::connect(self.addr().as_str(), KEY).map_err(err("connect"))?;
        c.start("ticks", ())
            .map_err(err("ticks"))?
            .wait_timeout(Duration::from_secs(10))
            .map_err(err("ticks"))
    }

    fn finish(self) -> Result<(), String> {
        drop(self.client);
        self.server.finish().map(drop)
    }
}

/// `call("add", (i, 1))` in a loop: per call.
pub fn sequential(transport: Transport, budget: Budget) -> Result<Measured, String> {
    let s = Setup::new(transport)?;
    let mut call = |i: u64| -> Result<(), String> {
        let sum: i64 = s
            .client
            .call("add", (i as i64, 1i64))
            .map_err(err("call"))?;
        if sum != i as i64 + 1 {
            return Err(format!("add returned {sum}"));
        }
        Ok(())
    };
    timed_loop(budget.warmup(), 100, &mut call)?;
    let m = timed_loop(budget, 100, &mut call)?;
    s.finish()?;
    Ok(m)
}

#[cfg(feature = "transport-rows")]
/// `call("add", (i, 1))` in a loop to a worker process of this binary over
/// its stdin and stdout: per call.
pub fn sequential_worker(budget: Budget) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let worker = stdrpc::Worker::spawn(std::process::Command::new(exe).arg("__worker"), KEY)
        .map_err(err("spawn worker"))?;
    let mut call = |i: u64| -> Result<(), String> {
        let sum: i64 = worker.call("add", (i as i64, 1i64)).map_err(err("call"))?;
        if sum != i as i64 + 1 {
            return Err(format!("add returned {sum}"));
        }
        Ok(())
    };
    timed_loop(budget.warmup(), 100, &mut call)?;
    let m = timed_loop(budget, 100, &mut call)?;
    drop(worker);
    Ok(m)
}

#[cfg(feature = "transport-rows")]
/// The `__worker` child: the suite's methods over stdin and stdout.
pub fn worker_main() -> Result<(), String> {
    let s = server(Config::default(), Arc::new(AtomicU64::new(0)));
    stdrpc::Worker::serve(s).map_err(err("worker"))
}

/// `threads` threads share one `Client` (one connection), each calling in a
/// loop. `budget.iters` is the total over all threads.
pub fn fan_in(threads: usize, budget: Budget) -> Result<Measured, String> {
    let s = Setup::new(Transport::Tcp)?;
    let per_thread = (budget.iters / threads as u64).max(1);
    let barrier = Barrier::new(threads + 1);
    let done = AtomicU64::new(0);
    let failure = std::sync::Mutex::new(None::<String>);
    let measured = std::thread::scope(|scope| {
        for t in 0..threads {
            let (client, barrier, done, failure) = (&s.client, &barrier, &done, &failure);
            scope.spawn(move || {
                // Warm up: every thread's first calls, before the clock runs.
                for i in 0..10i64 {
                    if let Err(e) = client.call::<_, i64>("add", (i, 1i64)) {
                        *failure.lock().unwrap() = Some(e.to_string());
                    }
                }
                barrier.wait();
                let start = std::time::Instant::now();
                let mut n = 0u64;
                while n < per_thread {
                    let a = (t as i64) << 32 | n as i64;
                    match client.call::<_, i64>("add", (a, 1i64)) {
                        Ok(v) if v == a + 1 => {}
                        Ok(v) => {
                            *failure.lock().unwrap() = Some(format!("add returned {v}"));
                            break;
                        }
                        Err(e) => {
                            *failure.lock().unwrap() = Some(e.to_string());
                            break;
                        }
                    }
                    n += 1;
                    if n % 16 == 0 && start.elapsed() >= budget.time {
                        break;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
            });
        }
        barrier.wait();
        Meter::start()
    });
    // The scope has joined every thread: the meter covers all their calls.
    let m = measured.stop(done.load(Ordering::Relaxed));
    if let Some(e) = failure.into_inner().unwrap() {
        return Err(e);
    }
    s.finish()?;
    Ok(m)
}

/// One thread, one connection: `start()` calls with up to `window` pending
/// at once (a sliding window: wait for the oldest, start the next), as a
/// user streaming requests with bounded memory would.
pub fn pipelined(window: usize, budget: Budget) -> Result<Measured, String> {
    let s = Setup::new(Transport::Tcp)?;
    let run = |budget: Budget| -> Result<Measured, String> {
        let meter = Meter::start();
        let mut pending: VecDeque<(i64, Pending<i64>)> = VecDeque::with_capacity(window);
        let mut finished = 0u64;
        let mut started = 0u64;
        let check = |(a, p): (i64, Pending<i64>)| -> Result<(), String> {
            let v = p.wait().map_err(err("wait"))?;
            if v != a + 1 {
                return Err(format!("add returned {v}"));
            }
            Ok(())
        };
        while started < budget.iters {
            if pending.len() == window {
                check(pending.pop_front().expect("window is full"))?;
                finished += 1;
                if finished % 1024 == 0 && meter.elapsed() >= budget.time {
                    break;
                }
            }
            let a = started as i64;
            pending.push_back((a, s.client.start("add", (a, 1i64)).map_err(err("start"))?));
            started += 1;
        }
        for p in pending.drain(..) {
            check(p)?;
            finished += 1;
        }
        Ok(meter.stop(finished))
    };
    run(budget.warmup())?;
    let m = run(budget)?;
    s.finish()?;
    Ok(m)
}

/// One-way `notify("tick", TICK)` in a loop, then `close()`, which returns
/// once the server has run every notification. Per message, timed to the
/// end of `close()`.
///
/// `close()` is given `limit`: if it has not returned by then, the result is
/// what the server had run by then, with a note saying so, and the server is
/// shut down (which discards what it had not read).
pub fn notify(budget: Budget, limit: Duration) -> Result<(Measured, Option<String>), String> {
    let s = Setup::new(Transport::Tcp)?;
    let mut closers = Vec::new();
    let mut run = |client: Client, budget: Budget| -> Result<(Measured, Option<String>), String> {
        let before = s.ticks()?;
        let meter = Meter::start();
        let mut sent = 0u64;
        'send: while sent < budget.iters {
            // notify() blocks while the connection's write backlog is full,
            // so the clock is read often enough to bound a stalled server.
            for _ in 0..64 {
                client.notify("tick", TICK).map_err(err("notify"))?;
                sent += 1;
                if sent == budget.iters {
                    break 'send;
                }
            }
            if meter.elapsed() >= budget.time {
                break;
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        closers.push(std::thread::spawn(move || {
            client.close();
            let _ = tx.send(());
        }));
        match rx.recv_timeout(limit.saturating_sub(meter.elapsed())) {
            Ok(()) => {
                let m = meter.stop(sent);
                let counted = s.ticks()? - before;
                if counted != sent {
                    return Err(format!("sent {sent}, server ran {counted} after close()"));
                }
                Ok((m, None))
            }
            Err(_) => {
                let counted = s.ticks()? - before;
                let m = meter.stop(counted);
                let note = format!(
                    "stalled: close() had not returned after {:.0} s; the server had run {counted} of {sent} \
                     notifications, and that count over the limit is the figure",
                    m.secs
                );
                Ok((m, Some(note)))
            }
        }
    };
    let warm = Client::connect(s.addr().as_str(), KEY).map_err(err("connect"))?;
    let result = match run(warm, budget.warmup())? {
        (m, Some(note)) => (m, Some(format!("in the warm-up: {note}"))),
        (_, None) => {
            let client = Client::connect(s.addr().as_str(), KEY).map_err(err("connect"))?;
            run(client, budget)?
        }
    };
    if result.1.is_none() {
        s.finish()?;
        for closer in closers {
            let _ = closer.join();
        }
        return Ok(result);
    }
    // A stalled server may take long to shut down too: give it `limit`,
    // then leave it to finish in the background.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(s.finish());
        for closer in closers {
            let _ = closer.join();
        }
    });
    let (m, note) = result;
    let note = note.map(|n| match rx.recv_timeout(limit) {
        Ok(_) => n,
        Err(_) => format!(
            "{n}; the server's shutdown had not finished {:.0} s later and was left running",
            limit.as_secs_f64()
        ),
    });
    Ok((m, note))
}

/// A `size`-byte `Vec<u8>` argument echoed back (`raw`: through
/// `register_raw`/`call_raw`, bytes in and out with no codec). Per echo.
pub fn big_echo(size: usize, raw: bool, budget: Budget) -> Result<Measured, String> {
    let s = Setup::new(Transport::Tcp)?;
    let data = vec![0x5au8; size];
    let mut echo = |_| -> Result<(), String> {
        let back = if raw {
            // The bytes go as they are and come back as the handler's bytes.
            s.client
                .call_raw("echo_raw", &data)
                .map_err(err("call_raw"))?
        } else {
            s.client
                .call::<_, Vec<u8>>("echo", &data)
                .map_err(err("call"))?
        };
        if back.len() != size {
            return Err(format!("echoed {} bytes", back.len()));
        }
        Ok(())
    };
    timed_loop(budget.warmup(), 1, &mut echo)?;
    let m = timed_loop(budget, 1, &mut echo)?;
    s.finish()?;
    Ok(m)
}

/// `Client::connect` (TCP, handshake) then drop, in a loop. Per connection.
pub fn connect(budget: Budget) -> Result<Measured, String> {
    let s = Setup::new(Transport::Tcp)?;
    let addr = s.addr();
    let mut one = |_| -> Result<(), String> {
        let c = Client::connect(addr.as_str(), KEY).map_err(err("connect"))?;
        drop(c);
        Ok(())
    };
    timed_loop(budget.warmup(), 10, &mut one)?;
    let m = timed_loop(budget, 10, &mut one)?;
    s.finish()?;
    Ok(m)
}

/// `tasks` async tasks on a current-thread tokio runtime (the bench's
/// executor; the library itself has no runtime) share one `Client`, each
/// awaiting `start("add", ..)` in a loop. `budget.iters` is the total.
pub fn fan_in_async(tasks: usize, budget: Budget) -> Result<Measured, String> {
    let Setup { server, client } = Setup::new(Transport::Tcp)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err("runtime"))?;
    let client = Arc::new(client);
    let per_task = (budget.iters / tasks as u64).max(1);
    let result = rt.block_on(async {
        let call = |client: Arc<Client>, a: i64| async move {
            let v: i64 = client
                .start("add", (a, 1i64))
                .map_err(err("start"))?
                .await
                .map_err(err("await"))?;
            if v != a + 1 {
                return Err(format!("add returned {v}"));
            }
            Ok::<(), String>(())
        };
        // Warm up: every task's first calls, before the clock runs.
        let mut warm = Vec::new();
        for t in 0..tasks {
            let client = Arc::clone(&client);
            warm.push(tokio::spawn(async move {
                for i in 0..10 {
                    call(Arc::clone(&client), (t as i64) << 32 | i).await?;
                }
                Ok::<(), String>(())
            }));
        }
        for h in warm {
            h.await.map_err(err("task"))??;
        }
        let done = Arc::new(AtomicU64::new(0));
        let meter = Meter::start();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (client, done) = (Arc::clone(&client), Arc::clone(&done));
            handles.push(tokio::spawn(async move {
                let start = std::time::Instant::now();
                let mut n = 0u64;
                while n < per_task {
                    call(Arc::clone(&client), (t as i64) << 32 | n as i64).await?;
                    n += 1;
                    if n % 16 == 0 && start.elapsed() >= budget.time {
                        break;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                Ok::<(), String>(())
            }));
        }
        for h in handles {
            h.await.map_err(err("task"))??;
        }
        Ok::<Measured, String>(meter.stop(done.load(Ordering::Relaxed)))
    });
    drop(rt);
    let client = Arc::try_unwrap(client).map_err(|_| "client still shared".to_string())?;
    drop(client);
    server.finish()?;
    result
}
