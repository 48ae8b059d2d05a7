//! The `bincode` feature: serde types on the wire through `Compat`, byte for
//! byte the std codec's format, so serde-typed and std-codec peers call each
//! other.

#![cfg(feature = "bincode")]

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use stdrpc::{Client, Compat, Decode, Encode, Error, RemoteKind, Server, from_slice, to_vec};

/// The FX tick as a serde type...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SerdeTick {
    symbol: String,
    datetime: String,
    bid: f64,
    ask: f64,
}

stdrpc::message! {
    /// ...and as a std-codec type.
    #[derive(Debug, Clone, PartialEq)]
    struct Tick {
        symbol: String,
        datetime: String,
        bid: f64,
        ask: f64,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum SerdeSide {
    Buy { qty: u32 },
    Sell(u32, Option<String>),
    Flat,
}

stdrpc::message! {
    #[derive(Debug, Clone, PartialEq)]
    enum Side {
        Buy { qty: u32 },
        Sell(u32, Option<String>),
        Flat,
    }
}

fn serde_tick() -> SerdeTick {
    SerdeTick {
        symbol: "EURUSD".into(),
        datetime: "2024-01-02 10:00:00.250".into(),
        bid: 1.0942,
        ask: 1.0944,
    }
}

fn tick() -> Tick {
    let t = serde_tick();
    Tick {
        symbol: t.symbol,
        datetime: t.datetime,
        bid: t.bid,
        ask: t.ask,
    }
}

/// `Compat(serde value)` and the std value have the same bytes, and each
/// decodes the other's.
fn assert_same_bytes<S, T>(serde_value: S, std_value: T)
where
    S: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    T: Encode + Decode + PartialEq + std::fmt::Debug,
{
    let ours = to_vec(&std_value);
    let theirs = to_vec(&Compat(&serde_value));
    assert_eq!(theirs, ours, "{serde_value:?} / {std_value:?}");
    // bincode itself agrees, with no stdrpc in between.
    let direct = bincode::serde::encode_to_vec(&serde_value, bincode::config::standard()).unwrap();
    assert_eq!(direct, ours);
    assert_eq!(from_slice::<Compat<S>>(&ours).unwrap().0, serde_value);
    assert_eq!(from_slice::<T>(&theirs).unwrap(), std_value);
    for cut in 0..ours.len() {
        assert!(
            from_slice::<Compat<S>>(&ours[..cut]).is_err(),
            "a prefix of {cut} bytes of {serde_value:?} decoded"
        );
    }
}

#[test]
fn serde_and_std_types_share_their_bytes() {
    assert_same_bytes(serde_tick(), tick());
    assert_same_bytes(SerdeSide::Buy { qty: 300 }, Side::Buy { qty: 300 });
    assert_same_bytes(
        SerdeSide::Sell(7, Some("x".into())),
        Side::Sell(7, Some("x".into())),
    );
    assert_same_bytes(SerdeSide::Flat, Side::Flat);
    for v in [
        0u64,
        250,
        251,
        65535,
        65536,
        u64::from(u32::MAX) + 1,
        u64::MAX,
    ] {
        assert_same_bytes(v, v);
    }
    for v in [i64::MIN, -126, -1, 0, 1, 125, i64::MAX] {
        assert_same_bytes(v, v);
    }
    assert_same_bytes(u128::MAX, u128::MAX);
    assert_same_bytes(i128::MIN, i128::MIN);
    assert_same_bytes(-7i8, -7i8);
    assert_same_bytes(u16::MAX, u16::MAX);
    assert_same_bytes((true, '😀', 1.5f32), (true, '😀', 1.5f32));
    assert_same_bytes("héllo".to_string(), "héllo".to_string());
    assert_same_bytes(vec![Some(1u8), None], vec![Some(1u8), None]);
    assert_same_bytes(vec![0u8; 300], vec![0u8; 300]);
    assert_same_bytes([1u32, 70_000, 3], [1u32, 70_000, 3]);
    let map: BTreeMap<String, Vec<i32>> =
        [("a".to_string(), vec![-1, 2]), ("b".into(), vec![])].into();
    assert_same_bytes(map.clone(), map);
    let ok: Result<u8, String> = Ok(3);
    let err: Result<u8, String> = Err("no".into());
    assert_same_bytes(ok.clone(), ok);
    assert_same_bytes(err.clone(), err);
    assert_same_bytes(Duration::new(5, 7), Duration::new(5, 7));
    assert_same_bytes((), ());
}

#[test]
fn a_serde_typed_client_calls_a_std_codec_handler() {
    let mut server = Server::new(b"k");
    server
        .register("mid", |t: Tick| (t.bid + t.ask) / 2.0)
        .register("flip", |t: Tick, side: Side| -> (Side, Tick) {
            let side = match side {
                Side::Buy { qty } => Side::Sell(qty, Some(t.symbol.clone())),
                _ => Side::Flat,
            };
            (
                side,
                Tick {
                    bid: t.ask,
                    ask: t.bid,
                    ..t
                },
            )
        });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();

    let mid: f64 = client.call("mid", Compat(serde_tick())).unwrap();
    assert_eq!(mid, (1.0942 + 1.0944) / 2.0);
    let Compat((side, flipped)): Compat<(SerdeSide, SerdeTick)> = client
        .call("flip", Compat((serde_tick(), SerdeSide::Buy { qty: 2 })))
        .unwrap();
    assert_eq!(side, SerdeSide::Sell(2, Some("EURUSD".into())));
    assert_eq!((flipped.bid, flipped.ask), (1.0944, 1.0942));

    // The raw bytes of the serde call are exactly the std call's.
    let serde_args = to_vec(&Compat((serde_tick(), SerdeSide::Buy { qty: 2 })));
    let std_args = to_vec(&(tick(), Side::Buy { qty: 2 }));
    assert_eq!(serde_args, std_args);
    let serde_reply = client.call_raw("flip", &serde_args).unwrap();
    let std_reply = client.call_raw("flip", &std_args).unwrap();
    assert_eq!(serde_reply, std_reply);
    running.shutdown().unwrap();
}

#[test]
fn a_std_codec_client_calls_a_serde_typed_handler() {
    let mut server = Server::new(b"k");
    server
        .register("spread", |Compat(t): Compat<SerdeTick>| t.ask - t.bid)
        .register(
            "quote",
            |symbol: String, Compat(side): Compat<SerdeSide>| {
                Compat(SerdeTick {
                    symbol,
                    datetime: format!("{side:?}"),
                    bid: 1.0,
                    ask: 2.0,
                })
            },
        )
        .register(
            "fails",
            |Compat(v): Compat<Vec<u8>>| -> Result<Compat<u8>, String> {
                v.first().copied().map(Compat).ok_or_else(|| "empty".into())
            },
        );
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();

    let spread: f64 = client.call("spread", tick()).unwrap();
    assert!((spread - 0.0002).abs() < 1e-12);
    let quote: Tick = client.call("quote", ("USDJPY", Side::Flat)).unwrap();
    assert_eq!(quote.symbol, "USDJPY");
    assert_eq!(quote.datetime, "Flat");
    assert_eq!(client.call::<_, u8>("fails", vec![9u8]).unwrap(), 9);
    let err = client.call::<_, u8>("fails", Vec::<u8>::new()).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Handler));
    // Arguments that do not decode are the caller's error, as with std types.
    let err = client.call::<_, f64>("spread", "not a tick").unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::BadArguments));
    running.shutdown().unwrap();
}

stdrpc::service! {
    /// A service whose methods take and return serde types.
    trait Quotes {
        /// The mid price.
        fn mid(&self, tick: Compat<SerdeTick>) -> f64;
        /// The last tick seen for a symbol.
        fn last(&self, symbol: String) -> Option<Compat<SerdeTick>>;
        /// Records a tick; fails on a crossed quote.
        fn record(&self, tick: Compat<SerdeTick>) -> Result<(), String>;
    }
    /// Its client.
    struct QuotesClient;
}

#[derive(Default)]
struct Book(std::sync::Mutex<BTreeMap<String, SerdeTick>>);

impl Quotes for Book {
    fn mid(&self, Compat(t): Compat<SerdeTick>) -> f64 {
        (t.bid + t.ask) / 2.0
    }
    fn last(&self, symbol: String) -> Option<Compat<SerdeTick>> {
        self.0.lock().unwrap().get(&symbol).cloned().map(Compat)
    }
    fn record(&self, Compat(t): Compat<SerdeTick>) -> Result<(), String> {
        if t.bid > t.ask {
            return Err(format!("crossed quote for {}", t.symbol));
        }
        self.0.lock().unwrap().insert(t.symbol.clone(), t);
        Ok(())
    }
}

#[test]
fn serde_types_in_a_service() {
    let mut server = Server::new(b"k");
    Book::default().register_on(&mut server);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let quotes = QuotesClient::connect(running.local_addr(), b"k").unwrap();
    quotes.record(Compat(serde_tick())).unwrap();
    let crossed = SerdeTick {
        bid: 2.0,
        ask: 1.0,
        ..serde_tick()
    };
    assert_eq!(
        quotes.record(Compat(crossed)).unwrap_err().remote_kind(),
        Some(RemoteKind::Handler)
    );
    assert_eq!(
        quotes.last("EURUSD".into()).unwrap(),
        Some(Compat(serde_tick()))
    );
    assert_eq!(quotes.last("GBPUSD".into()).unwrap(), None);
    assert_eq!(
        quotes.mid(Compat(serde_tick())).unwrap(),
        (1.0942 + 1.0944) / 2.0
    );
    // A std-codec caller reaches the same methods.
    let v: Option<Tick> = quotes.client().call("Quotes.last", "EURUSD").unwrap();
    assert_eq!(v, Some(tick()));
    running.shutdown().unwrap();
}

#[test]
fn hostile_input_is_refused_without_allocating() {
    // A string claiming 2^62 bytes: refused before any allocation.
    let mut huge = vec![253];
    huge.extend_from_slice(&(1u64 << 62).to_le_bytes());
    huge.extend_from_slice(b"abc");
    assert!(matches!(
        from_slice::<Compat<String>>(&huge),
        Err(Error::Decode(_))
    ));
    assert!(from_slice::<Compat<serde_bytes_like::Buf>>(&huge).is_err());
    assert!(from_slice::<Compat<Vec<u64>>>(&huge).is_err());
    assert!(from_slice::<Compat<BTreeMap<u8, u8>>>(&huge).is_err());
    // A sequence of zero-sized values longer than the input: refused at once
    // rather than looped over 2^62 times.
    assert!(from_slice::<Compat<Vec<()>>>(&huge).is_err());
    // Short of that, the same rule as the std codec: a length equal to the
    // input left is fine.
    assert_eq!(
        from_slice::<Compat<Vec<()>>>(&[0]).unwrap().0,
        Vec::<()>::new()
    );

    // Deep recursion: refused, not a stack overflow.
    #[derive(Debug, Serialize, Deserialize)]
    enum List {
        Nil,
        Cons(Box<List>),
    }
    let mut deep = vec![1u8; 100_000];
    deep.push(0);
    let err = from_slice::<Compat<List>>(&deep).unwrap_err();
    assert!(err.to_string().contains("nested"), "{err}");
    let mut shallow = vec![1u8; 100];
    shallow.push(0);
    assert!(from_slice::<Compat<List>>(&shallow).is_ok());
}

/// A stand-in for `serde_bytes::ByteBuf`: a type that deserializes through
/// `deserialize_byte_buf`.
mod serde_bytes_like {
    use serde::de::{Deserialize, Deserializer, Error, Visitor};

    #[derive(Debug)]
    pub struct Buf(#[allow(dead_code)] pub Vec<u8>);

    impl<'de> Deserialize<'de> for Buf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Buf, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Buf;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Buf, E> {
                    Ok(Buf(v.to_vec()))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    #[test]
    fn byte_buffers_decode() {
        let bytes = stdrpc::to_vec(&vec![1u8, 2, 3]);
        let b: stdrpc::Compat<Buf> = stdrpc::from_slice(&bytes).unwrap();
        assert_eq!(b.0.0, [1, 2, 3]);
    }
}

#[test]
fn an_unencodable_value_is_a_caught_panic_on_the_server() {
    /// A type whose `Serialize` always fails.
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    let mut server = Server::new(b"k");
    server.register("bad", || Compat(Refuses));
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    let err = client.call::<_, ()>("bad", ()).unwrap_err();
    assert_eq!(err.remote_kind(), Some(RemoteKind::Panicked));
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(
        client
            .call::<_, ()>("missing", ())
            .unwrap_err()
            .remote_kind(),
        Some(RemoteKind::NoSuchMethod)
    );
    running.shutdown().unwrap();
}

#[test]
fn the_library_types_serialize() {
    let mut server = Server::new(b"k");
    server.register("one", || 1u8);
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = Client::connect(running.local_addr(), b"k").unwrap();
    client.call::<_, u8>("one", ()).unwrap();
    let stats = running.stats();
    let addr = running.local_addr().clone();
    let kinds = [
        RemoteKind::NoSuchMethod,
        RemoteKind::Handler,
        RemoteKind::Other,
    ];

    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec((&stats, &addr, &kinds[..]), config).unwrap();
    let ((s, a, k), _): ((stdrpc::Stats, stdrpc::Address, Vec<RemoteKind>), usize) =
        bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(s, stats);
    assert!(s.calls >= 1);
    assert_eq!(a, addr);
    assert_eq!(k, kinds);
    // Through `Compat`, the same values cross the wire.
    let back: Compat<(stdrpc::Stats, stdrpc::Address)> =
        from_slice(&to_vec(&Compat((&stats, &addr)))).unwrap();
    assert_eq!(back.0, (stats, addr));
    running.shutdown().unwrap();
}
