//! Entry points for the fuzz targets in `fuzz/`, reached as
//! `stdrpc::__private::fuzz`: thin wrappers that expose the private parsers
//! (frames, the handshake, messages) and the memory budget, and nothing else.

use std::io::{Read, Write};

use crate::error::Result;

/// Reads one frame of at most `max` bytes, as the handshake does;
/// `Ok(None)` at a clean end.
pub fn read_frame<R: Read + ?Sized>(r: &mut R, max: usize) -> Result<Option<Vec<u8>>> {
    crate::frame::read(r, max)
}

/// The buffered frame reader of established connections.
#[derive(Debug)]
pub struct FrameReader(crate::frame::FrameReader);

impl FrameReader {
    /// A reader of frames of at most `max` bytes.
    pub fn new(max: usize) -> FrameReader {
        FrameReader(crate::frame::FrameReader::new(max))
    }

    /// The next frame; `Ok(None)` at a clean end of stream.
    pub fn next<R: Read + ?Sized>(&mut self, r: &mut R) -> Result<Option<&[u8]>> {
        self.0.next(r)
    }

    /// Charges every frame one byte of `budget` per payload byte,
    /// refusing at once (no wait) what does not fit.
    pub fn charge(&mut self, budget: &Budget) {
        self.0.charge(
            std::sync::Arc::clone(&budget.0),
            1,
            std::time::Duration::ZERO,
        );
    }

    /// The first bytes of the last frame refused for lack of budget.
    pub fn skipped_head(&self) -> &[u8] {
        self.0.skipped_head()
    }
}

/// A server's memory budget for requests.
#[derive(Debug)]
pub struct Budget(std::sync::Arc<crate::budget::Budget>);

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget(std::sync::Arc::new(crate::budget::Budget::new(limit)))
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.0.in_use()
    }
}

/// The accepting side of the handshake.
pub fn auth_server<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
) -> Result<()> {
    crate::auth::server(s, authkey, strict)
}

/// The connecting side of the handshake.
pub fn auth_client<S: Read + Write + ?Sized>(
    s: &mut S,
    authkey: &[u8],
    strict: bool,
) -> Result<()> {
    crate::auth::client(s, authkey, strict)
}

/// Parses one message; its `Debug` form when valid.
pub fn parse_message(frame: &[u8]) -> Result<String> {
    crate::envelope::Message::parse(frame).map(|m| format!("{m:?}"))
}
