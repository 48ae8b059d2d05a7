//! The frame readers: the one-shot reader used by the handshake and the
//! buffered reader used on established connections must agree on every
//! input, whatever sizes the stream hands its bytes out in, and never
//! return a frame over the limit. A buffered reader charged against a
//! memory budget (of half the limit) must return the same frames, except
//! that each one larger than the budget is skipped whole and reported as
//! overloaded, and must give every reserved byte back.
//!
//! Input: 2 bytes of limit (little-endian), a count byte (0 to 7) and that
//! many read sizes, then the stream.

#![no_main]

use std::io::{self, Read};
use std::mem::discriminant;

use libfuzzer_sys::fuzz_target;
use stdrpc::__private::fuzz::{Budget, FrameReader, read_frame};
use stdrpc::{Error, RemoteKind};

/// Hands out `data` in reads of the sizes listed in `sizes`, in turn.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step = match self.sizes {
            [] => usize::MAX,
            sizes => sizes[self.turn % sizes.len()] as usize + 1,
        };
        self.turn += 1;
        let n = step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let [lo, hi, count, rest @ ..] = input else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([*lo, *hi]));
    let count = usize::from(count % 8).min(rest.len());
    let (sizes, data) = rest.split_at(count);

    let mut simple = Vec::new();
    let mut cursor = data;
    let simple_end = loop {
        match read_frame(&mut cursor, max) {
            Ok(Some(frame)) => simple.push(frame),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };

    let mut reader = FrameReader::new(max);
    let mut chunked = Chunked {
        data,
        sizes,
        turn: 0,
    };
    let mut buffered = Vec::new();
    let buffered_end = loop {
        match reader.next(&mut chunked) {
            Ok(Some(frame)) => buffered.push(frame.to_vec()),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };

    // The same stream through a reader charged against a budget.
    let budget = Budget::new(max / 2);
    let mut reader = FrameReader::new(max);
    reader.charge(&budget);
    let mut chunked = Chunked {
        data,
        sizes,
        turn: 0,
    };
    let mut charged = Vec::new();
    let charged_end = loop {
        match reader.next(&mut chunked) {
            Ok(Some(frame)) => {
                assert!(budget.in_use() >= frame.len(), "a frame read uncharged");
                charged.push(Ok(frame.to_vec()));
            }
            Ok(None) => break Ok(()),
            Err(Error::Remote {
                kind: RemoteKind::Overloaded,
                ..
            }) => charged.push(Err(reader.skipped_head().to_vec())),
            Err(e) => break Err(e),
        }
    };
    drop(reader);
    assert_eq!(budget.in_use(), 0, "the budget was not given back");
    let expected: Vec<Result<Vec<u8>, Vec<u8>>> = simple
        .iter()
        .map(|f| {
            if f.len() <= max / 2 {
                Ok(f.clone())
            } else {
                Err(f[..f.len().min(16)].to_vec())
            }
        })
        .collect();
    assert_eq!(
        charged, expected,
        "the charged reader disagrees on the frames"
    );
    match (&simple_end, &charged_end) {
        (Ok(()), Ok(())) => {}
        (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{a:?} vs {b:?}"),
        _ => panic!("the charged reader disagrees on the end: {simple_end:?} vs {charged_end:?}"),
    }

    assert!(
        simple.iter().all(|f| f.len() <= max),
        "a frame over the limit"
    );
    assert_eq!(simple, buffered, "the readers disagree on the frames");
    match (&simple_end, &buffered_end) {
        (Ok(()), Ok(())) => {}
        (Err(a), Err(b)) => assert_eq!(discriminant(a), discriminant(b), "{a:?} vs {b:?}"),
        _ => panic!("the readers disagree on the end: {simple_end:?} vs {buffered_end:?}"),
    }
});
