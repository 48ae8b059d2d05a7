//! Large arguments and results: the paths that send byte buffers from
//! where they are (vectored writes) and run large requests in the read
//! buffer, checked for intact bytes, frame order and limits.

use std::sync::Arc;
use std::thread;

use stdrpc::{Client, Config, Error, RemoteKind, Server};

/// A buffer of `len` bytes whose content depends on `seed` and on each
/// byte's position, so that a lost, repeated or reordered piece shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn server() -> Server {
    let mut server = Server::new(b"k");
    server.register("echo", |data: Vec<u8>| data);
    server.register("echo_str", |s: String| s);
    server.register("tagged", |tag: String, data: Vec<u8>| (data, tag));
    server.register("len", |data: Vec<u8>| data.len() as u64);
    server.register("make", |n: u64, seed: u64| pattern(n as usize, seed));
    server.register("add", |a: i64, b: i64| a + b);
    server.register_raw("echo_raw", |data: &[u8]| {
        Ok::<_, std::convert::Infallible>(data.to_vec())
    });
    server
}

/// Sizes around the thresholds (64 KiB for vectored writes and for running
/// a request in the read buffer) and past the 2 MiB a reader keeps.
const SIZES: [usize; 6] = [0, 1000, 64 * 1024 - 1, 64 * 1024, 1 << 20, 3 << 20];

fn echo_everything(client: &Client) {
    for (i, &len) in SIZES.iter().enumerate() {
        // Twice each: the second reuses the buffers the first left.
        for round in 0..2u64 {
            let data = pattern(len, i as u64 * 10 + round);
            let back: Vec<u8> = client.call("echo", &data).unwrap();
            assert!(back == data, "typed echo of {len} bytes");
            let back = client.call_raw("echo_raw", &data).unwrap();
            assert!(back == data, "raw echo of {len} bytes");
            let (back, tag): (Vec<u8>, String) =
                client.call("tagged", ("t".repeat(len % 7), &data)).unwrap();
            assert!(back == data && tag == "t".repeat(len % 7), "tagged {len}");
            let made: Vec<u8> = client.call("make", (len as u64, round)).unwrap();
            assert!(made == pattern(len, round), "result of {len} bytes");
        }
    }
    let text = "é".repeat(300_000);
    let back: String = client.call("echo_str", text.as_str()).unwrap();
    assert_eq!(back, text);
}

#[test]
fn large_buffers_arrive_intact_over_tcp() {
    let running = server().bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    echo_everything(&client);
    drop(client);
    running.shutdown().unwrap();
}

#[cfg(unix)]
#[test]
fn large_buffers_arrive_intact_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("stdrpc-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rpc.sock");
    let running = server().bind(path.as_path()).unwrap().spawn().unwrap();
    let client = Client::connect(path.as_path(), b"k").unwrap();
    echo_everything(&client);
    drop(client);
    running.shutdown().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn large_calls_and_small_calls_from_many_threads_keep_their_frames_whole() {
    let running = server().bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for i in 0..30u64 {
                    if t % 2 == 0 {
                        let len = (300 << 10) + (t * 30 + i) as usize * 997;
                        let data = pattern(len, t * 1000 + i);
                        let back: Vec<u8> = client.call("echo", &data).unwrap();
                        assert!(back == data, "thread {t} call {i}");
                    } else {
                        for j in 0..20i64 {
                            let sum: i64 = client.call("add", (i as i64, j)).unwrap();
                            assert_eq!(sum, i as i64 + j);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(client);
    running.shutdown().unwrap();
}

#[test]
fn pipelined_large_and_small_calls_are_answered_in_full() {
    let running = server().bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let data: Vec<Arc<Vec<u8>>> = (0..8)
        .map(|i| Arc::new(pattern(200_000 + i, i as u64)))
        .collect();
    let mut big = Vec::new();
    let mut small = Vec::new();
    for (i, d) in data.iter().enumerate() {
        big.push(client.start::<_, Vec<u8>>("echo", &**d).unwrap());
        small.push(client.start::<_, i64>("add", (i as i64, 1i64)).unwrap());
        client.notify("len", &**d).unwrap();
    }
    for (i, (b, s)) in big.into_iter().zip(small).enumerate() {
        assert!(b.wait().unwrap() == *data[i], "echo {i}");
        assert_eq!(s.wait().unwrap(), i as i64 + 1);
    }
    drop(client);
    running.shutdown().unwrap();
}

#[test]
fn frame_limits_hold_for_buffers_sent_in_place() {
    // Sending: refused before anything is written, the connection goes on.
    let running = server().bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect_with(
        running.local_addr(),
        b"k",
        Config::default().max_frame(100 << 10),
    )
    .unwrap();
    let err = client
        .call::<_, u64>("len", vec![1u8; 200 << 10])
        .unwrap_err();
    assert!(matches!(err, Error::FrameTooLarge { .. }), "{err}");
    let err = client
        .call_raw("echo_raw", &vec![1u8; 200 << 10])
        .unwrap_err();
    assert!(matches!(err, Error::FrameTooLarge { .. }), "{err}");
    assert_eq!(
        client.call::<_, u64>("len", vec![1u8; 90 << 10]).unwrap(),
        90 << 10
    );
    drop(client);
    running.shutdown().unwrap();

    // A result over the server's limit is replaced by a short error.
    let mut small = Server::with_config(b"k", Config::default().max_frame(100 << 10));
    small.register("make", |n: u64, seed: u64| pattern(n as usize, seed));
    let running = small.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let err = client
        .call::<_, Vec<u8>>("make", (200u64 << 10, 1u64))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Remote {
                kind: RemoteKind::ReplyTooLarge,
                ..
            }
        ),
        "{err}"
    );
    let made: Vec<u8> = client.call("make", (90u64 << 10, 2u64)).unwrap();
    assert!(made == pattern(90 << 10, 2));
    drop(client);
    running.shutdown().unwrap();
}

#[test]
fn a_result_that_is_not_a_byte_string_is_a_decode_error_naming_the_method() {
    let mut server = Server::new(b"k");
    // Raw handlers' shapes are opaque, so a typed call to them is not
    // refused: the bytes reach the caller's decoding as they are.
    server.register_raw("short", |_: &[u8]| Ok::<_, String>(vec![5, 1, 2]));
    server.register_raw("long", |_: &[u8]| Ok::<_, String>(vec![1, 9, 9]));
    server.register_raw("good", |_: &[u8]| Ok::<_, String>(vec![2, 9, 9]));
    server.register_raw("latin1", |_: &[u8]| Ok::<_, String>(vec![2, 0xe9, 0xe8]));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    for method in ["short", "long"] {
        let err = client.call::<_, Vec<u8>>(method, ()).unwrap_err();
        let expected = stdrpc::from_slice::<Vec<u8>>(&client.call_raw(method, &[]).unwrap())
            .unwrap_err()
            .to_string();
        let text = err.to_string();
        assert!(matches!(err, Error::Decode(_)), "{text}");
        assert!(
            text.contains(&format!("{method}: result (Vec<u8>)")),
            "{text}"
        );
        // The codec's own words for it, as if the bytes were decoded whole.
        let detail = expected.trim_start_matches("decode error: ");
        assert!(text.contains(detail), "{text} / {expected}");
    }
    assert_eq!(client.call::<_, Vec<u8>>("good", ()).unwrap(), [9, 9]);
    // A `String` result is read the same way, and checked for UTF-8.
    assert_eq!(client.call::<_, String>("good", ()).unwrap(), "\t\t");
    let err = client.call::<_, String>("latin1", ()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("latin1: result (String): invalid UTF-8 in string"),
        "{text}"
    );
    let err = client.call::<_, String>("short", ()).unwrap_err();
    assert!(err.to_string().contains("short: result (String)"), "{err}");
    drop(client);
    running.shutdown().unwrap();
}

/// `bytes` encoded as a byte string: its length, then the bytes.
fn byte_string(bytes: &[u8]) -> Vec<u8> {
    stdrpc::to_vec(bytes)
}

#[test]
fn byte_strings_read_into_buffers_of_their_own_reach_every_handler_and_caller_intact() {
    // A large call or reply whose arguments or result are one byte string
    // (a length, then exactly the rest of the frame) is read split: the
    // string's bytes go straight into a buffer of their own. Handlers and
    // callers that do not take such a string as it is get its encoding.
    let mut server = Server::new(b"k");
    server.register("len", |data: Vec<u8>| data.len() as u64);
    server.register("sum", |data: Vec<i8>| {
        data.iter().map(|&b| i64::from(b)).sum::<i64>()
    });
    server.register("echo_str", |s: String| s);
    server.register_raw("echo_raw", |data: &[u8]| {
        Ok::<_, std::convert::Infallible>(data.to_vec())
    });
    server.register_raw("latin1", |_: &[u8]| {
        Ok::<_, String>(byte_string(&vec![0xe9; 100_000]))
    });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    for len in [64 * 1024, 300_000, 3 << 20] {
        let data = pattern(len, len as u64);
        let encoded = byte_string(&data);
        // Raw bytes that look like a byte string, both ways: unchanged.
        let back = client.call_raw("echo_raw", &encoded).unwrap();
        assert!(back == encoded, "raw echo of {len}");
        // Untyped, so the bytes reach the handlers as sent: one taking the
        // string as it is, one decoding it as something else.
        let n: u64 = stdrpc::from_slice(&client.call_raw("len", &encoded).unwrap()).unwrap();
        assert_eq!(n, len as u64);
        let sum: i64 = stdrpc::from_slice(&client.call_raw("sum", &encoded).unwrap()).unwrap();
        assert_eq!(sum, data.iter().map(|&b| i64::from(b as i8)).sum::<i64>());
        // A string argument is checked for UTF-8 as it is taken.
        let err = client.call_raw("echo_str", &encoded).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                Error::Remote {
                    kind: RemoteKind::BadArguments,
                    ..
                }
            ),
            "{text}"
        );
        assert!(text.contains("argument 1 (String)"), "{text}");
    }
    let text = "é".repeat(100_000);
    let back: String = client.call("echo_str", text.as_str()).unwrap();
    assert!(back == text);
    // A string result too, on the caller's side.
    let err = client.call::<_, String>("latin1", ()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("latin1: result (String): invalid UTF-8 in string"),
        "{text}"
    );
    let bytes: Vec<u8> = client.call("latin1", ()).unwrap();
    assert!(bytes == vec![0xe9; 100_000]);
    drop(client);
    running.shutdown().unwrap();
}
