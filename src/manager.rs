//! Serving stock Python `multiprocessing.managers.BaseManager` clients on
//! the same port as stdrpc clients (a connection whose first message is a
//! pickle, byte `0x80`, is one of theirs).
//!
//! (Interface only for now: every request is answered with a `#TRACEBACK`.)

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::error::Result;
use crate::frame::{self, FrameReader};
use crate::pickle::{Value, from_pickle, to_pickle};
use crate::registry::Registry;
use crate::stream::Stream;

/// What the BaseManager protocol needs from the server that hosts it.
pub(crate) struct Host<'a> {
    /// The methods registered with `Server::register`: `create(typeid, ...)`
    /// calls the one named `typeid`.
    pub(crate) registry: &'a Registry,
    /// The shared objects ("referents") of all Python connections.
    pub(crate) objects: &'a Objects,
    /// The address this connection reached, for the `Token`s handed out.
    pub(crate) address: Option<SocketAddr>,
    /// Whether a Python client may shut the server down (`shutdown`).
    pub(crate) allow_shutdown: bool,
    /// Starts the server's shutdown.
    pub(crate) shutdown: &'a (dyn Fn() + Sync),
    /// The largest frame accepted or sent.
    pub(crate) max_frame: usize,
}

/// The referents created by Python clients, with their reference counts.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    _table: Mutex<()>,
}

/// Serves one Python connection whose first request is `first`, until the
/// client closes it.
pub(crate) fn serve(
    host: &Host<'_>,
    stream: &Stream,
    frames: &mut FrameReader,
    first: Vec<u8>,
) -> Result<()> {
    let mut request = first;
    loop {
        // The request is decoded (bounded, data only) to check it is one,
        // and answered with a refusal Python raises as RemoteError.
        let names = host.registry.names().join(", ");
        let message = match from_pickle(&request) {
            Ok(_) => format!("stdrpc does not serve BaseManager requests yet (methods: {names})"),
            Err(e) => format!("stdrpc: {e}"),
        };
        let reply = Value::Tuple(vec![Value::from("#TRACEBACK"), Value::from(message)]);
        frame::write(&mut &*stream, &to_pickle(&reply, 4))?;
        let _ = (host.objects, host.address, host.allow_shutdown, host.shutdown);
        let _ = host.registry.dispatch_value("", Vec::new());
        match frames.next(&mut &*stream)? {
            Some(next) if next.len() <= host.max_frame => request = next.to_vec(),
            _ => return Ok(()),
        }
    }
}
