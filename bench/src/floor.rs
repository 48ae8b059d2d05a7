//! The physical floor: the same traffic with nothing but std sockets — no
//! framing library, no codec, no handshake, no thread hand-offs beyond the
//! one each scenario needs.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

use stdrpc::Encode;

use crate::serve::{Kind, ServerProc, Tp};
use crate::util::{Budget, Measured, Meter, err, timed_loop};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Unix,
}

/// A connected byte stream of either kind.
pub trait Duplex: Read + Write + Send + 'static {
    fn try_clone_box(&self) -> io::Result<Box<dyn Duplex>>;
    fn shutdown_write(&self) -> io::Result<()>;
    /// The descriptor, if this is a TCP socket.
    fn tcp_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    fn set_nonblocking_dyn(&self, on: bool) -> io::Result<()>;
}

impl Duplex for TcpStream {
    fn try_clone_box(&self) -> io::Result<Box<dyn Duplex>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn tcp_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
    fn set_nonblocking_dyn(&self, on: bool) -> io::Result<()> {
        self.set_nonblocking(on)
    }
}

impl Duplex for UnixStream {
    fn try_clone_box(&self) -> io::Result<Box<dyn Duplex>> {
        Ok(Box::new(self.try_clone()?))
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn set_nonblocking_dyn(&self, on: bool) -> io::Result<()> {
        self.set_nonblocking(on)
    }
}

/// The floor servers' connection handlers, one per scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Echo 12-byte frames one at a time (sequential ping-pong).
    PingPong(QuickAck),
    /// As `PingPong(Off)`, but every read busy-polls a non-blocking socket
    /// for up to [`SPIN`] before it blocks.
    PingPongSpin,
    /// Echo frames through 8 KiB buffers, flushing when idle (pipelined).
    Buffered,
    /// Count one-way frames; answer the count at a zero-length frame.
    OneWay,
    /// Echo whole frames of any size, unbuffered (1 MiB).
    Big,
    /// Answer one 12-byte frame per connection, inline on the accept thread.
    Connect,
    /// As `Buffered`, but each frame is an `(i64, i64)` decoded with
    /// stdrpc's codec, added, and the sum encoded as the reply (pipelined
    /// codec floor).
    CodecAdd,
    /// As `OneWay`, but each frame's tick is decoded as `(String, String,
    /// f64, f64)` with stdrpc's codec and counted (one-way codec floor).
    CodecTick,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::PingPong(QuickAck::Off) => "pingpong",
            Mode::PingPong(QuickAck::Once) => "pingpong_qa",
            Mode::PingPong(QuickAck::EveryRead) => "pingpong_qa_every",
            Mode::PingPongSpin => "pingpong_spin",
            Mode::Buffered => "buffered",
            Mode::OneWay => "oneway",
            Mode::Big => "big",
            Mode::Connect => "connect",
            Mode::CodecAdd => "codec_add",
            Mode::CodecTick => "codec_tick",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [
            Mode::PingPong(QuickAck::Off),
            Mode::PingPong(QuickAck::Once),
            Mode::PingPong(QuickAck::EveryRead),
            Mode::PingPongSpin,
            Mode::Buffered,
            Mode::OneWay,
            Mode::Big,
            Mode::Connect,
            Mode::CodecAdd,
            Mode::CodecTick,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// The socket option every floor TCP socket gets, both ends: TCP_NODELAY,
/// as stdrpc sets.
pub fn tune(s: &TcpStream) -> io::Result<()> {
    s.set_nodelay(true)
}

/// When a ping-pong floor sets TCP_QUICKACK (both ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuickAck {
    /// Never: the kernel's delayed-ACK heuristics decide.
    Off,
    /// Once, right after connecting, as stdrpc's server does after its
    /// handshake (`src/quickack.rs`).
    Once,
    /// Before every read (the flag does not stick: the kernel leaves
    /// quick-ACK mode again on its own). One extra system call per read.
    EveryRead,
}

impl QuickAck {
    pub const ALL: [QuickAck; 3] = [QuickAck::Off, QuickAck::Once, QuickAck::EveryRead];

    pub fn label(self) -> &'static str {
        match self {
            QuickAck::Off => "plain",
            QuickAck::Once => "QUICKACK once",
            QuickAck::EveryRead => "QUICKACK every read",
        }
    }
}

/// Sets TCP_QUICKACK if the stream is TCP (a no-op for Unix sockets).
fn quickack_dyn(s: &dyn Duplex) {
    if let Some(fd) = s.tcp_fd() {
        quickack_fd(fd);
    }
}

/// TCP_QUICKACK on one socket, as stdrpc's `src/quickack.rs` does.
fn quickack_fd(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: the descriptor belongs to a live `TcpStream`; the value is a
    // live `c_int` whose exact size is passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Serves one accepted connection in the server child: on a thread of its
/// own, except `Connect`, which answers inline.
pub fn serve_conn(mode: Mode, s: Box<dyn Duplex>) {
    match mode {
        Mode::Connect => {
            let mut s = s;
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() {
                let _ = s.write_all(&buf);
            }
        }
        Mode::PingPong(qa) => {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 12];
                if qa == QuickAck::Once {
                    quickack_dyn(&*s);
                }
                loop {
                    if qa == QuickAck::EveryRead {
                        quickack_dyn(&*s);
                    }
                    if s.read_exact(&mut buf).is_err() || s.write_all(&buf).is_err() {
                        break;
                    }
                }
            });
        }
        Mode::PingPongSpin => {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 12];
                while spin_read_exact(&mut *s, &mut buf).is_ok() {
                    if s.write_all(&buf).is_err() {
                        break;
                    }
                }
            });
        }
        Mode::Buffered => {
            std::thread::spawn(move || buffered_echo(s));
        }
        Mode::OneWay => {
            std::thread::spawn(move || count_one_way(s));
        }
        Mode::Big => {
            std::thread::spawn(move || big_echo_conn(s));
        }
        Mode::CodecAdd => {
            std::thread::spawn(move || codec_add_conn(s));
        }
        Mode::CodecTick => {
            std::thread::spawn(move || codec_tick_conn(s));
        }
    }
}

/// The pipelined codec floor's server: `buffered_echo`, plus the codec work
/// of a call (decode the arguments, run the closure, encode the result).
fn codec_add_conn(s: Box<dyn Duplex>) {
    let Ok(clone) = s.try_clone_box() else { return };
    let mut r = BufReader::with_capacity(8192, clone);
    let mut w = BufWriter::with_capacity(8192, s);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Ok(Some(len)) = read_frame(&mut r, &mut buf) {
        out.clear();
        if len > 0 {
            let Ok((a, b)) = stdrpc::from_slice::<(i64, i64)>(&buf[..len]) else {
                return;
            };
            a.wrapping_add(b).encode(&mut out);
        }
        let ok =
            w.write_all(&(out.len() as u32).to_be_bytes()).is_ok() && w.write_all(&out).is_ok();
        if !ok {
            return;
        }
        if r.buffer().is_empty() && w.flush().is_err() {
            return;
        }
    }
    let _ = w.flush();
}

/// The one-way codec floor's server: `count_one_way`, plus decoding each
/// tick and handing it to a closure.
fn codec_tick_conn(s: Box<dyn Duplex>) {
    let Ok(mut ack) = s.try_clone_box() else {
        return;
    };
    let mut r = BufReader::with_capacity(8192, s);
    let mut buf = Vec::new();
    let n = std::cell::Cell::new(0u64);
    let handler = |symbol: String, datetime: String, bid: f64, ask: f64| {
        std::hint::black_box((symbol, datetime, bid, ask));
        n.set(n.get() + 1);
    };
    while let Ok(Some(len)) = read_frame(&mut r, &mut buf) {
        if len == 0 {
            let _ = ack.write_all(&n.replace(0).to_be_bytes());
            continue;
        }
        match stdrpc::from_slice::<(String, String, f64, f64)>(&buf[..len]) {
            Ok((a, b, c, d)) => handler(a, b, c, d),
            Err(_) => return,
        }
    }
}

fn count_one_way(s: Box<dyn Duplex>) {
    let Ok(mut ack) = s.try_clone_box() else {
        return;
    };
    let mut r = BufReader::with_capacity(8192, s);
    let mut buf = Vec::new();
    let mut n = 0u64;
    while let Ok(Some(len)) = read_frame(&mut r, &mut buf) {
        if len == 0 {
            let _ = ack.write_all(&n.to_be_bytes());
            n = 0;
            continue;
        }
        std::hint::black_box(&buf[..len]);
        n += 1;
    }
}

/// Reads each frame, header included, into one buffer and writes it back
/// with one `write_all`: no separate 4-byte segment for the header.
fn big_echo_conn(s: Box<dyn Duplex>) {
    let mut s = s;
    let mut buf = vec![0u8; 4];
    loop {
        if s.read_exact(&mut buf[..4]).is_err() {
            return;
        }
        let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
        if buf.len() < 4 + len {
            buf.resize(4 + len, 0);
        }
        if s.read_exact(&mut buf[4..4 + len]).is_err() || s.write_all(&buf[..4 + len]).is_err() {
            return;
        }
    }
}

/// A floor server child of the given mode and one connection to it.
fn pair(transport: Transport, mode: Mode) -> Result<(Box<dyn Duplex>, ServerProc), String> {
    let server = ServerProc::spawn(Kind::Floor(mode, transport.into()))?;
    let c = server.addr.connect().map_err(err("floor connect"))?;
    Ok((c, server))
}

/// Ping-pong of a 12-byte frame (4-byte length + 8-byte payload): one thread
/// each side, the server an echo loop. Returns per round trip.
///
/// Over TCP each variant of [`QuickAck`] is measured (each with a server of
/// its own) and the best one is the floor: no socket option stdrpc sets can
/// make it beat the floor. The note names every variant's figure.
pub fn ping_pong(transport: Transport, budget: Budget) -> Result<(Measured, String), String> {
    let variants: &[QuickAck] = match transport {
        Transport::Tcp => &QuickAck::ALL,
        Transport::Unix => &[QuickAck::Off],
    };
    let mut best: Option<(Measured, QuickAck)> = None;
    let mut note = Vec::new();
    for &qa in variants {
        let m = ping_pong_with(transport, qa, budget)?;
        note.push(format!("{} {:.2} µs", qa.label(), m.us_per_op()));
        if best.is_none_or(|(b, _)| m.us_per_op() < b.us_per_op()) {
            best = Some((m, qa));
        }
    }
    let (m, qa) = best.expect("at least one variant");
    let note = if variants.len() > 1 {
        format!("best of: {} -> {}", note.join(", "), qa.label())
    } else {
        String::new()
    };
    Ok((m, note))
}

fn ping_pong_with(transport: Transport, qa: QuickAck, budget: Budget) -> Result<Measured, String> {
    let (mut c, server) = pair(transport, Mode::PingPong(qa))?;
    if qa == QuickAck::Once {
        quickack_dyn(&*c);
    }
    let frame: [u8; 12] = [0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut buf = [0u8; 12];
    let mut round_trip = |_| -> Result<(), String> {
        c.write_all(&frame).map_err(err("write"))?;
        if qa == QuickAck::EveryRead {
            quickack_dyn(&*c);
        }
        c.read_exact(&mut buf).map_err(err("read"))?;
        Ok(())
    };
    timed_loop(budget.warmup(), 100, &mut round_trip)?;
    let m = timed_loop(budget, 100, &mut round_trip)?;
    drop(c);
    server.finish()?;
    Ok(m)
}

/// How long a busy-polling read spins before it blocks.
pub const SPIN: std::time::Duration = std::time::Duration::from_micros(200);

/// `read_exact` that first busy-polls the socket (non-blocking reads) for
/// up to [`SPIN`], then blocks for the rest: no sleep, no wake-up when the
/// answer comes within the spin.
fn spin_read_exact(s: &mut dyn Duplex, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    s.set_nonblocking_dyn(true)?;
    let start = std::time::Instant::now();
    let mut checks = 0u32;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                checks += 1;
                if checks % 64 == 0 && start.elapsed() >= SPIN {
                    s.set_nonblocking_dyn(false)?;
                    let r = s.read_exact(&mut buf[got..]);
                    return r;
                }
                std::hint::spin_loop();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ping-pong as [`ping_pong`] with QUICKACK off, both ends busy-polling
/// their reads (see [`spin_read_exact`]): the round trip without the
/// sleep and wake-up of a blocking read, at the price of a spinning core
/// per side. A reference, not the floor: no blocking design can get there.
pub fn ping_pong_spin(budget: Budget) -> Result<Measured, String> {
    let (mut c, server) = pair(Transport::Tcp, Mode::PingPongSpin)?;
    let frame: [u8; 12] = [0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut buf = [0u8; 12];
    let mut round_trip = |_| -> Result<(), String> {
        c.write_all(&frame).map_err(err("write"))?;
        spin_read_exact(&mut *c, &mut buf).map_err(err("read"))?;
        Ok(())
    };
    timed_loop(budget.warmup(), 100, &mut round_trip)?;
    let m = timed_loop(budget, 100, &mut round_trip)?;
    drop(c);
    server.finish()?;
    Ok(m)
}

/// Reads one frame (4-byte big-endian length, then payload) into `buf`;
/// `None` at end of stream.
fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    let mut hdr = [0u8; 4];
    match r.read_exact(&mut hdr) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(hdr) as usize;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    r.read_exact(&mut buf[..len])?;
    Ok(Some(len))
}

/// A frame echo server: buffered both ways, flushing whenever it has read
/// everything that arrived.
fn buffered_echo(s: Box<dyn Duplex>) {
    let Ok(clone) = s.try_clone_box() else { return };
    let mut r = BufReader::with_capacity(8192, clone);
    let mut w = BufWriter::with_capacity(8192, s);
    let mut buf = Vec::new();
    while let Ok(Some(len)) = read_frame(&mut r, &mut buf) {
        let ok =
            w.write_all(&(len as u32).to_be_bytes()).is_ok() && w.write_all(&buf[..len]).is_ok();
        if !ok {
            return;
        }
        if r.buffer().is_empty() && w.flush().is_err() {
            return;
        }
    }
    let _ = w.flush();
}

/// Pipelined echo of 36-byte frames (4 + 32) on one connection: this thread
/// writes through an 8 KiB `BufWriter`, a reader thread counts the echoes.
/// A zero-length frame ends the stream. Returns per message.
pub fn pipelined(budget: Budget) -> Result<Measured, String> {
    let mut frame = [7u8; 36];
    frame[..4].copy_from_slice(&32u32.to_be_bytes());
    pipelined_run(
        Mode::Buffered,
        budget,
        move |w, _| w.write_all(&frame),
        |_, _| Ok(()),
    )
}

/// The pipelined codec floor: `pipelined`'s traffic and threads, with the
/// codec work stdrpc does per call and nothing else: this thread encodes
/// each call's `(i64, i64)` arguments, the server decodes them, adds and
/// encodes the sum, the reader thread decodes and checks it. Per call.
pub fn codec_pipelined(budget: Budget) -> Result<Measured, String> {
    let mut args = Vec::new();
    pipelined_run(
        Mode::CodecAdd,
        budget,
        move |w, n| {
            args.clear();
            (n as i64, 1i64).encode(&mut args);
            w.write_all(&(args.len() as u32).to_be_bytes())?;
            w.write_all(&args)
        },
        |answer, n| {
            let sum =
                stdrpc::from_slice::<i64>(answer).map_err(|e| io::Error::other(e.to_string()))?;
            if sum != n as i64 + 1 {
                return Err(io::Error::other(format!("add returned {sum}")));
            }
            Ok(())
        },
    )
}

/// The pipelined rows' driver: on a connection served in `mode`, this
/// thread writes frames (`write` is given the frame's number) through an 8
/// KiB `BufWriter` while a reader thread reads the answers and `check`s
/// each (given its number), until a zero-length frame ends the stream.
/// Warms up, then measures; per message.
fn pipelined_run(
    mode: Mode,
    budget: Budget,
    mut write: impl FnMut(&mut BufWriter<Box<dyn Duplex>>, u64) -> io::Result<()>,
    check: fn(&[u8], u64) -> io::Result<()>,
) -> Result<Measured, String> {
    let mut run = |budget: Budget| -> Result<Measured, String> {
        let (c, server) = pair(Transport::Tcp, mode)?;
        let rc = c.try_clone_box().map_err(err("clone"))?;
        let reader = std::thread::spawn(move || -> io::Result<u64> {
            let mut r = BufReader::with_capacity(8192, rc);
            let mut buf = Vec::new();
            let mut n = 0u64;
            while let Some(len) = read_frame(&mut r, &mut buf)? {
                if len == 0 {
                    return Ok(n);
                }
                check(&buf[..len], n)?;
                n += 1;
            }
            Err(io::ErrorKind::UnexpectedEof.into())
        });
        let meter = Meter::start();
        let mut w = BufWriter::with_capacity(8192, c);
        let mut sent = 0u64;
        'send: while sent < budget.iters {
            for _ in 0..1024 {
                write(&mut w, sent).map_err(err("write"))?;
                sent += 1;
                if sent == budget.iters {
                    break 'send;
                }
            }
            if meter.elapsed() >= budget.time {
                break;
            }
        }
        w.write_all(&[0, 0, 0, 0]).map_err(err("write"))?;
        w.flush().map_err(err("flush"))?;
        let echoed = reader
            .join()
            .map_err(|_| "reader panicked".to_string())?
            .map_err(err("read"))?;
        let m = meter.stop(echoed);
        if echoed != sent {
            return Err(format!("sent {sent}, answered {echoed}"));
        }
        let c = w.into_inner().map_err(|_| "flush".to_string())?;
        let _ = c.shutdown_write();
        drop(c);
        server.finish()?;
        Ok(m)
    };
    run(budget.warmup())?;
    run(budget)
}

/// One-way stream of `frame` (a whole frame, length included) through an
/// 8 KiB `BufWriter`; the server parses and counts frames and acknowledges
/// the count once it sees a zero-length frame. Returns per message, timed
/// until the server has counted every one.
pub fn one_way(frame: &[u8], budget: Budget) -> Result<Measured, String> {
    one_way_run(Mode::OneWay, budget, |w| w.write_all(frame))
}

/// The one-way rows' driver: on a connection served in `mode`, this thread
/// writes frames (each by `write`) through an 8 KiB `BufWriter`, then a
/// zero-length frame, and waits for the server's count. Warms up, then
/// measures; per message.
fn one_way_run(
    mode: Mode,
    budget: Budget,
    mut write: impl FnMut(&mut BufWriter<Box<dyn Duplex>>) -> io::Result<()>,
) -> Result<Measured, String> {
    let mut run = |budget: Budget| -> Result<Measured, String> {
        let (c, server) = pair(Transport::Tcp, mode)?;
        let mut rc = c.try_clone_box().map_err(err("clone"))?;
        let meter = Meter::start();
        let mut w = BufWriter::with_capacity(8192, c);
        let mut sent = 0u64;
        'send: while sent < budget.iters {
            for _ in 0..1024 {
                write(&mut w).map_err(err("write"))?;
                sent += 1;
                if sent == budget.iters {
                    break 'send;
                }
            }
            if meter.elapsed() >= budget.time {
                break;
            }
        }
        w.write_all(&[0, 0, 0, 0]).map_err(err("write"))?;
        w.flush().map_err(err("flush"))?;
        let mut ack = [0u8; 8];
        rc.read_exact(&mut ack).map_err(err("read ack"))?;
        let m = meter.stop(sent);
        let counted = u64::from_be_bytes(ack);
        if counted != sent {
            return Err(format!("sent {sent}, server counted {counted}"));
        }
        drop(w);
        server.finish()?;
        Ok(m)
    };
    run(budget.warmup())?;
    run(budget)
}

/// The one-way codec floor: `one_way`'s traffic, with the codec work stdrpc
/// does per notification and nothing else: this thread encodes `tick` into
/// each frame, the server decodes it as `(String, String, f64, f64)` and
/// hands it to a counting closure. Per message, timed until the server has
/// counted every one.
pub fn codec_one_way(
    tick: (&'static str, &'static str, f64, f64),
    budget: Budget,
) -> Result<Measured, String> {
    let mut args = Vec::new();
    one_way_run(Mode::CodecTick, budget, move |w| {
        args.clear();
        tick.encode(&mut args);
        w.write_all(&(args.len() as u32).to_be_bytes())?;
        w.write_all(&args)
    })
}

/// `size`-byte request, then the same bytes echoed back, one at a time.
/// Returns per echo (request + response).
pub fn big_echo(size: usize, budget: Budget) -> Result<Measured, String> {
    let (mut c, server) = pair(Transport::Tcp, Mode::Big)?;
    // Header and payload in one buffer, written with one `write_all`.
    let mut request = (size as u32).to_be_bytes().to_vec();
    request.resize(4 + size, 0x5a);
    let mut back = Vec::new();
    let mut echo = |_| -> Result<(), String> {
        c.write_all(&request).map_err(err("write"))?;
        match read_frame(&mut c, &mut back).map_err(err("read"))? {
            Some(n) if n == size => Ok(()),
            other => Err(format!("bad echo: {other:?}")),
        }
    };
    timed_loop(budget.warmup(), 1, &mut echo)?;
    let m = timed_loop(budget, 1, &mut echo)?;
    drop(c);
    server.finish()?;
    Ok(m)
}

/// A new TCP connection (TCP_NODELAY) plus one 12-byte round trip; the
/// server accepts and answers inline on one thread. Returns per connection.
pub fn connect(budget: Budget) -> Result<Measured, String> {
    let server = ServerProc::spawn(Kind::Floor(Mode::Connect, Tp::Tcp))?;
    let addr = server.addr.clone();
    let frame: [u8; 12] = [0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let mut one = |_| -> Result<(), String> {
        let mut c = addr.connect().map_err(err("connect"))?;
        c.write_all(&frame).map_err(err("write"))?;
        let mut buf = [0u8; 12];
        c.read_exact(&mut buf).map_err(err("read"))?;
        Ok(())
    };
    let result =
        timed_loop(budget.warmup(), 10, &mut one).and_then(|_| timed_loop(budget, 10, &mut one));
    server.finish()?;
    result
}

/// How callers hand requests to the serving thread in [`hand_off`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandOff {
    /// A std `mpsc` channel to the server, a `sync_channel(1)` back to
    /// each caller.
    Mpsc,
    /// A `Mutex<Vec>` queue that the server drains whole; each caller
    /// waits for its answer with `thread::park`, the server wakes it with
    /// `unpark` (one futex wake per call), and is itself unparked only when
    /// it was idle.
    Park,
}

/// The least a thread-per-caller design can cost on this machine: `threads`
/// threads each hand a request (an `i64`) to one serving thread and wait
/// for the answer, through std primitives; no socket, no codec.
/// `budget.iters` is the total over all threads. Two implementations run
/// (see [`HandOff`]) and the faster is the floor; the note gives both.
pub fn hand_off(threads: usize, budget: Budget) -> Result<(Measured, String), String> {
    let a = hand_off_with(HandOff::Mpsc, threads, budget)?;
    let b = hand_off_with(HandOff::Park, threads, budget)?;
    let note = format!(
        "best of: mpsc {:.0} k/s, park/unpark {:.0} k/s",
        a.per_sec() / 1e3,
        b.per_sec() / 1e3
    );
    Ok((if a.per_sec() >= b.per_sec() { a } else { b }, note))
}

/// The park/unpark hand-off's shared state.
struct Board {
    queue: std::sync::Mutex<Vec<(i64, usize)>>,
    /// Whether the server is (about to be) parked with an empty queue.
    idle: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    /// Per caller: the answer, `i64::MIN` while none.
    answers: Vec<std::sync::atomic::AtomicI64>,
    /// Per caller: its thread, set before its first request.
    callers: Vec<std::sync::OnceLock<std::thread::Thread>>,
}

fn hand_off_with(how: HandOff, threads: usize, budget: Budget) -> Result<Measured, String> {
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::*};
    use std::sync::mpsc;
    use std::sync::{Barrier, Mutex};
    const NONE: i64 = i64::MIN;
    let (to_server, requests) = mpsc::channel::<(i64, usize)>();
    let mut replies = Vec::with_capacity(threads);
    let mut answers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let (tx, rx) = mpsc::sync_channel::<i64>(1);
        replies.push(tx);
        answers.push(rx);
    }
    let board = std::sync::Arc::new(Board {
        queue: Mutex::new(Vec::with_capacity(threads)),
        idle: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        answers: (0..threads).map(|_| AtomicI64::new(NONE)).collect(),
        callers: (0..threads).map(|_| std::sync::OnceLock::new()).collect(),
    });
    let server = {
        let board = std::sync::Arc::clone(&board);
        std::thread::spawn(move || match how {
            HandOff::Mpsc => {
                while let Ok((a, t)) = requests.recv() {
                    if replies[t].send(a + 1).is_err() {
                        return;
                    }
                }
            }
            HandOff::Park => {
                let mut batch = Vec::with_capacity(board.answers.len());
                loop {
                    std::mem::swap(&mut batch, &mut *board.queue.lock().expect("not poisoned"));
                    if batch.is_empty() {
                        if board.stop.load(Acquire) {
                            return;
                        }
                        board.idle.store(true, SeqCst);
                        // Re-check after announcing idleness: a caller that
                        // pushed before seeing `idle` would not unpark us.
                        if board.queue.lock().expect("not poisoned").is_empty()
                            && !board.stop.load(Acquire)
                        {
                            std::thread::park();
                        }
                        board.idle.store(false, SeqCst);
                        continue;
                    }
                    for (a, t) in batch.drain(..) {
                        board.answers[t].store(a + 1, Release);
                        if let Some(caller) = board.callers[t].get() {
                            caller.unpark();
                        }
                    }
                }
            }
        })
    };
    let server_thread = server.thread().clone();
    let per_thread = (budget.iters / threads as u64).max(1);
    let barrier = Barrier::new(threads + 1);
    let done = AtomicU64::new(0);
    let failure = Mutex::new(None::<String>);
    let meter = std::thread::scope(|scope| {
        for (t, answer) in answers.into_iter().enumerate() {
            let (to_server, barrier, done, failure, board, server_thread) = (
                to_server.clone(),
                &barrier,
                &done,
                &failure,
                &board,
                &server_thread,
            );
            scope.spawn(move || {
                let _ = board.callers[t].set(std::thread::current());
                let call = |a: i64| -> Result<(), String> {
                    let v = match how {
                        HandOff::Mpsc => {
                            to_server.send((a, t)).map_err(err("send"))?;
                            answer.recv().map_err(err("recv"))?
                        }
                        HandOff::Park => {
                            board.queue.lock().expect("not poisoned").push((a, t));
                            if board.idle.load(SeqCst) {
                                server_thread.unpark();
                            }
                            loop {
                                let v = board.answers[t].swap(NONE, Acquire);
                                if v != NONE {
                                    break v;
                                }
                                std::thread::park();
                            }
                        }
                    };
                    if v == a + 1 {
                        Ok(())
                    } else {
                        Err(format!("answer {v}"))
                    }
                };
                for i in 0..10 {
                    if let Err(e) = call(i) {
                        *failure.lock().expect("not poisoned") = Some(e);
                    }
                }
                barrier.wait();
                let start = std::time::Instant::now();
                let mut n = 0u64;
                while n < per_thread {
                    if let Err(e) = call((t as i64) << 32 | n as i64) {
                        *failure.lock().expect("not poisoned") = Some(e);
                        break;
                    }
                    n += 1;
                    if n % 16 == 0 && start.elapsed() >= budget.time {
                        break;
                    }
                }
                done.fetch_add(n, Relaxed);
            });
        }
        barrier.wait();
        Meter::start()
    });
    let m = meter.stop(done.load(Relaxed));
    drop(to_server);
    board.stop.store(true, Release);
    server_thread.unpark();
    let _ = server.join();
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(m)
}
