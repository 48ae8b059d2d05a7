//! The frame format and the frame reader, checked byte by byte.

use super::*;
use std::io::Cursor;

fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, payload).unwrap();
    out
}

#[test]
fn short_frame_matches_python_bytes() {
    // multiprocessing.connection: send_bytes(b"#WELCOME#")
    assert_eq!(encode(b"#WELCOME#"), b"\x00\x00\x00\x09#WELCOME#");
    assert_eq!(encode(b""), b"\x00\x00\x00\x00");
}

#[test]
fn round_trips_several_frames_and_reports_clean_eof() {
    let mut wire = Vec::new();
    for p in [&b"a"[..], b"", b"hello world", &[0u8; 70_000]] {
        write(&mut wire, p).unwrap();
    }
    let mut r = Cursor::new(wire);
    assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"a");
    assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"");
    assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), b"hello world");
    assert_eq!(read(&mut r, 1 << 20).unwrap().unwrap(), vec![0u8; 70_000]);
    assert!(read(&mut r, 1 << 20).unwrap().is_none());
}

#[test]
fn escape_header_for_long_payloads() {
    let (h, n) = header(0x8000_0000);
    assert_eq!(&h[..n], b"\xff\xff\xff\xff\x00\x00\x00\x00\x80\x00\x00\x00");
    let (h, n) = header(0x7fff_ffff);
    assert_eq!(&h[..n], b"\x7f\xff\xff\xff");
}

#[test]
fn accepts_escape_for_small_lengths_like_python() {
    let wire = b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x03abc";
    assert_eq!(read(&mut &wire[..], 16).unwrap().unwrap(), b"abc");
}

#[test]
fn rejects_other_negative_lengths() {
    for head in [[0xff, 0xff, 0xff, 0xfe], [0x80, 0, 0, 0]] {
        let err = read(&mut &head[..], 16).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err}");
    }
}

#[test]
fn rejects_oversize_before_allocating() {
    let err = read(&mut &b"\x7f\xff\xff\xff"[..], 1024).unwrap_err();
    assert!(matches!(
        err,
        Error::FrameTooLarge {
            len: 0x7fff_ffff,
            max: 1024
        }
    ));
    let huge = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    let err = read(&mut &huge[..], 1024).unwrap_err();
    assert!(matches!(err, Error::FrameTooLarge { len: u64::MAX, .. }));
    // Exactly the maximum is fine.
    assert_eq!(
        read(&mut &b"\x00\x00\x00\x02hi"[..], 2).unwrap().unwrap(),
        b"hi"
    );
}

#[test]
fn truncation_at_every_offset_is_an_error() {
    let mut wire = encode(b"0123456789");
    wire.extend_from_slice(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x02xy");
    // Cut inside the first frame: always an error.
    for cut in 1..14 {
        let err = read(&mut &wire[..cut], 64).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "cut {cut}: {err}");
    }
    // Cut inside the second (escaped) frame.
    for cut in 15..wire.len() {
        let mut r = &wire[..cut];
        assert_eq!(read(&mut r, 64).unwrap().unwrap(), b"0123456789");
        let err = read(&mut r, 64).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "cut {cut}: {err}");
    }
}

#[test]
fn announced_but_unsent_payload_allocates_little() {
    let mut buf = Vec::new();
    let err = read_into(&mut &b"\x00\xff\xff\xffab"[..], 1 << 30, &mut buf).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)));
    assert!(buf.capacity() <= 2 * GROWTH_STEP, "{}", buf.capacity());
}

#[test]
fn frame_reader_reads_many_frames_per_read_and_resumes_after_errors() {
    let mut wire = Vec::new();
    for i in 0..100u32 {
        append(&mut wire, &i.to_le_bytes());
    }
    append(&mut wire, &vec![9u8; 100_000]);
    wire.extend_from_slice(b"\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01z");
    // Feed the bytes in awkward pieces, with a timeout between pieces.
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        reads: usize,
    }
    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.reads % 3 == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf
                .len()
                .min(7 + self.reads % 5000)
                .min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    let mut src = Pieces {
        data: wire,
        at: 0,
        reads: 0,
    };
    let mut fr = FrameReader::new(1 << 20);
    let mut frames = Vec::new();
    loop {
        match fr.next(&mut src) {
            Ok(Some(f)) => frames.push(f.to_vec()),
            Ok(None) => break,
            Err(Error::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(frames.len(), 102);
    for (i, f) in frames.iter().take(100).enumerate() {
        assert_eq!(f, &(i as u32).to_le_bytes());
    }
    assert_eq!(frames[100], vec![9u8; 100_000]);
    assert_eq!(frames[101], b"z");
}

#[test]
fn frame_reader_reports_truncation_limits_and_negative_lengths() {
    let mut fr = FrameReader::new(16);
    assert!(matches!(
        fr.next(&mut &b"\x00\x00\x00\x05ab"[..]),
        Err(Error::Protocol(_))
    ));
    let mut fr = FrameReader::new(16);
    assert!(matches!(
        fr.next(&mut &b"\x00\x00\x00\x11"[..]),
        Err(Error::FrameTooLarge { len: 17, .. })
    ));
    let mut fr = FrameReader::new(16);
    assert!(matches!(
        fr.next(&mut &b"\xff\xff\xff\xf0"[..]),
        Err(Error::Protocol(_))
    ));
    let mut fr = FrameReader::new(16);
    assert!(fr.next(&mut &b""[..]).unwrap().is_none());
    let mut fr = FrameReader::new(16);
    let mut two = &b"\x00\x00\x00\x01a\x00\x00\x00\x01b"[..];
    assert_eq!(fr.next(&mut two).unwrap().unwrap(), b"a");
    assert!(fr.has_frame());
    assert_eq!(fr.next(&mut two).unwrap().unwrap(), b"b");
    assert!(!fr.has_frame());
}

#[test]
fn frame_reader_charges_the_budget_and_skips_what_does_not_fit() {
    let budget = Arc::new(Budget::new(1000));
    let mut fr = FrameReader::new(1 << 20);
    fr.charge(Arc::clone(&budget), 10, Duration::ZERO);
    let mut wire = Vec::new();
    append(&mut wire, &[1u8; 50]); // 500 bytes: fits
    append(&mut wire, &[2u8; 300]); // 3000: never fits, skipped
    append(&mut wire, &[3u8; 60]); // 600: fits once the first is released
    let mut r = &wire[..];
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[1u8; 50][..]);
    assert_eq!(budget.in_use(), 500);
    let held = fr.take_reservation().unwrap();
    let err = fr.next(&mut r).unwrap_err();
    assert!(matches!(
        err,
        Error::Remote {
            kind: RemoteKind::Overloaded,
            ..
        }
    ));
    assert!(err.to_string().contains("300 bytes"), "{err}");
    assert_eq!(fr.skipped_head(), &[2u8; SKIPPED_HEAD][..]);
    // The third does not fit beside the first; it is skipped too...
    let err = fr.next(&mut r).unwrap_err();
    assert!(matches!(err, Error::Remote { .. }), "{err}");
    assert_eq!(fr.skipped_head(), &[3u8; SKIPPED_HEAD][..]);
    drop(held);
    assert_eq!(budget.in_use(), 0);
    assert!(fr.next(&mut r).unwrap().is_none());
    // ...and fits once it is released; the reservation ends with the next read.
    let mut r = &wire[wire.len() - 64..];
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[3u8; 60][..]);
    assert_eq!(budget.in_use(), 600);
    assert!(fr.next(&mut r).unwrap().is_none());
    assert_eq!(budget.in_use(), 0);
}

#[test]
fn a_frame_alone_in_the_buffer_can_be_taken_and_given_back() {
    let mut wire = Vec::new();
    append(&mut wire, &[5u8; 10_000]);
    append(&mut wire, b"ab");
    append(&mut wire, &[6u8; 200_000]);
    let mut r = &wire[..];
    let mut fr = FrameReader::new(1 << 20);
    // The first read brings in the first two frames: the first cannot
    // be taken, as the second's bytes share its buffer.
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[5u8; 10_000][..]);
    assert_eq!(fr.last_frame(), &[5u8; 10_000][..]);
    assert!(fr.take_last().is_none());
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), b"ab");
    let third = fr.next(&mut r).unwrap().unwrap().to_vec();
    assert_eq!(third, vec![6u8; 200_000]);
    let (buf, range) = fr.take_last().unwrap();
    assert_eq!(&buf[range], &third[..]);
    assert!(fr.take_last().is_none(), "taken once");
    assert!(!fr.has_frame());
    // Given back, it is used for the next frames: no growing again.
    let len = buf.len();
    fr.give_back(buf);
    let mut again = Vec::new();
    append(&mut again, &[7u8; 150_000]);
    let mut r = &again[..];
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[7u8; 150_000][..]);
    assert_eq!(fr.buf.len(), len);
    assert!(fr.next(&mut r).unwrap().is_none());
    // A buffer over the size readers keep is not taken back.
    let mut fr = FrameReader::new(1 << 30);
    fr.give_back(vec![0; KEEP_BUF + 1]);
    assert!(fr.buf.is_empty());
}

#[test]
fn an_announced_frame_costs_only_the_bytes_that_arrive() {
    // 16 MiB announced, 100 KiB sent, then the peer goes quiet (a timeout).
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 == self.0.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.0.len() - self.1).min(4096);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }
    let mut wire = (16u32 << 20).to_be_bytes().to_vec();
    wire.extend_from_slice(&[1u8; 100_000]);
    let mut src = Trickle(wire, 0);
    let mut fr = FrameReader::new(DEFAULT_MAX_FRAME);
    assert!(matches!(fr.next(&mut src), Err(Error::Timeout)));
    assert!(fr.buf.len() <= 2 * 100_004, "{}", fr.buf.len());
    assert!(fr.take_last().is_none());
}

#[test]
fn small_frame_is_one_write() {
    struct CountWrites(usize);
    impl Write for CountWrites {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0 += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = CountWrites(0);
    write(&mut w, &[7u8; 1000]).unwrap();
    assert_eq!(w.0, 1);
}

/// A stream that hands out at most `step` bytes per read and, once its
/// bytes are gone, times out (`WouldBlock`) instead of ending, until more
/// are pushed.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.bytes.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.bytes.len() - self.at).min(self.step);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The split of the frames in these tests: a one-byte tag `b'S'`, then the
/// bulk.
fn after_tag(prefix: &[u8], _len: usize) -> Option<usize> {
    (prefix.first() == Some(&b'S')).then_some(1)
}

#[test]
fn a_large_frame_read_split_is_its_head_then_its_bulk() {
    let mut bulk = vec![0u8; 300_000];
    for (i, b) in bulk.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let mut split = vec![b'S'];
    split.extend_from_slice(&bulk);
    let mut whole = vec![b'W'];
    whole.extend_from_slice(&bulk);
    let mut wire = Vec::new();
    append(&mut wire, &split);
    append(&mut wire, b"small");
    append(&mut wire, &whole);
    append(&mut wire, &[b'S'; BULK_MIN - 1]);
    append(&mut wire, &split);
    // Reads of every size, from ones that bring in a piece of the bulk with
    // the header to ones of a few bytes.
    for step in [1 << 20, 100_000, 4096, 7] {
        let mut r = Trickle {
            bytes: wire.clone(),
            at: 0,
            step,
        };
        let mut fr = FrameReader::new(1 << 20);
        fr.split_bulk(Some(after_tag));
        let mut next = |fr: &mut FrameReader| match fr.next_split(&mut r) {
            Ok(Some((head, len))) => {
                let head = head.to_vec();
                let bulk = fr.take_bulk();
                assert_eq!(len, bulk.as_ref().map_or(0, Vec::len));
                (head, bulk)
            }
            other => panic!("step {step}: {other:?}"),
        };
        assert_eq!(next(&mut fr), (b"S".to_vec(), Some(bulk.clone())), "{step}");
        assert_eq!(next(&mut fr), (b"small".to_vec(), None), "{step}");
        // Not split: the split says no, or the frame is small.
        assert_eq!(next(&mut fr), (whole.clone(), None), "{step}");
        assert_eq!(next(&mut fr), (vec![b'S'; BULK_MIN - 1], None), "{step}");
        assert_eq!(next(&mut fr), (b"S".to_vec(), Some(bulk.clone())), "{step}");
        assert!(matches!(fr.next(&mut r), Err(Error::Timeout)));
    }
}

#[test]
fn a_split_read_goes_on_after_a_timeout_and_reports_truncation() {
    let mut payload = vec![b'S'];
    payload.extend(std::iter::repeat_n(9u8, 200_000));
    let mut wire = Vec::new();
    append(&mut wire, &payload);
    // The bytes arrive in three parts, with timeouts between them.
    let mut r = Trickle {
        bytes: wire[..50_000].to_vec(),
        at: 0,
        step: 1 << 20,
    };
    let mut fr = FrameReader::new(1 << 20);
    fr.split_bulk(Some(after_tag));
    assert!(matches!(fr.next(&mut r), Err(Error::Timeout)));
    r.bytes.extend_from_slice(&wire[50_000..150_000]);
    assert!(matches!(fr.next(&mut r), Err(Error::Timeout)));
    assert!(!fr.has_frame());
    r.bytes.extend_from_slice(&wire[150_000..]);
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), b"S");
    assert!(fr.take_bulk().unwrap() == payload[1..]);
    assert!(fr.take_bulk().is_none(), "taken once");
    // The stream ends inside a split frame: a truncation error.
    let mut cut = &wire[..120_000];
    let mut fr = FrameReader::new(1 << 20);
    fr.split_bulk(Some(after_tag));
    let err = fr.next(&mut cut).unwrap_err();
    assert!(
        err.to_string()
            .contains("after 120000 of 200005 frame bytes"),
        "{err}"
    );
}

#[test]
fn a_frame_announced_for_a_split_read_costs_only_the_bytes_that_arrive() {
    // 16 MiB announced, 100 KB sent, then the peer goes quiet.
    let mut wire = (16u32 << 20).to_be_bytes().to_vec();
    wire.push(b'S');
    wire.extend_from_slice(&[1u8; 100_000]);
    let mut r = Trickle {
        bytes: wire,
        at: 0,
        step: 4096,
    };
    let mut fr = FrameReader::new(DEFAULT_MAX_FRAME);
    fr.split_bulk(Some(after_tag));
    assert!(matches!(fr.next(&mut r), Err(Error::Timeout)));
    let bulk = fr.bulk.as_ref().expect("read split");
    assert_eq!(bulk.filled, 100_000);
    // Written (so backed by memory): at most twice what arrived.
    assert!(bulk.data.len() <= 200_000, "{}", bulk.data.len());
    assert!(fr.buf.len() <= READ_BUF, "{}", fr.buf.len());
}

#[test]
fn the_standing_share_goes_to_one_small_request_at_a_time_and_is_kept_between_them() {
    let budget = Arc::new(Budget::new(1 << 20));
    let mut fr = FrameReader::new(1 << 20);
    fr.charge(Arc::clone(&budget), 2, Duration::ZERO);
    let mut wire = Vec::new();
    for payload in [
        &[1u8; 100][..],
        &[2; 100],
        &[3; 100],
        &[4; 100],
        &[5; 100_000], // 200,000 bytes charged: more than the share
        &[6; 100],
    ] {
        append(&mut wire, payload);
    }
    let mut r = &wire[..];
    let mut next = |fr: &mut FrameReader| fr.next(&mut r).unwrap().unwrap()[0];
    assert_eq!(next(&mut fr), 1);
    let standing = budget.in_use();
    assert!(standing > 0, "the connection's share is reserved once");
    // Taken (its request runs elsewhere): the next small frame cannot have
    // the share meanwhile and is charged to the budget.
    let a = fr.take_reservation().unwrap();
    assert!(a.is_standing());
    assert_eq!(next(&mut fr), 2);
    let b = fr.take_reservation().unwrap();
    assert!(!b.is_standing());
    assert_eq!(budget.in_use(), standing + 200);
    drop((a, b));
    assert_eq!(budget.in_use(), standing);
    // Not taken (its request ran before the next read): the share passes
    // from frame to frame.
    assert_eq!(next(&mut fr), 3);
    assert_eq!(next(&mut fr), 4);
    assert!(fr.last.as_ref().is_some_and(Reservation::is_standing));
    // A large frame is charged to the budget; the share goes back, and the
    // next small frame has it again.
    assert_eq!(next(&mut fr), 5);
    assert_eq!(budget.in_use(), standing + 200_000);
    assert!(fr.spare.is_none());
    assert_eq!(next(&mut fr), 6);
    assert_eq!(budget.in_use(), standing);
    let f = fr.take_reservation().unwrap();
    assert!(f.is_standing());
    drop(f);
    drop(fr);
    assert_eq!(budget.in_use(), 0);
}

#[test]
fn a_large_frame_is_looked_at_for_a_split_once_on_its_first_bytes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ASKED: AtomicUsize = AtomicUsize::new(0);
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    fn never(prefix: &[u8], _len: usize) -> Option<usize> {
        ASKED.fetch_add(1, Ordering::Relaxed);
        SEEN.fetch_max(prefix.len(), Ordering::Relaxed);
        None
    }
    let mut wire = Vec::new();
    append(&mut wire, &[7u8; 200_000]);
    append(&mut wire, &[8u8; 100_000]);
    // A few bytes per read: the split is asked about each frame once, on
    // its first bytes only, however many reads the frame takes.
    let mut r = Trickle {
        bytes: wire,
        at: 0,
        step: 100,
    };
    let mut fr = FrameReader::new(1 << 20);
    fr.split_bulk(Some(never));
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[7u8; 200_000][..]);
    assert_eq!(ASKED.load(Ordering::Relaxed), 1);
    assert_eq!(fr.next(&mut r).unwrap().unwrap(), &[8u8; 100_000][..]);
    assert_eq!(ASKED.load(Ordering::Relaxed), 2);
    assert_eq!(SEEN.load(Ordering::Relaxed), SPLIT_PEEK);
}
