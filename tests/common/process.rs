//! Child-process plumbing shared by the integration tests.
#![allow(dead_code)] // Each test crate uses a subset.

use std::io::Read;
use std::sync::mpsc::Sender;

/// Reads `pipe` to its end on a thread of its own and sends the text, tagged
/// with `which`, so that a test can wait for several pipes with a deadline.
pub fn read_in_background(
    mut pipe: impl Read + Send + 'static,
    which: usize,
    tx: Sender<(usize, String)>,
) {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send((which, String::from_utf8_lossy(&bytes).into_owned()));
    });
}
