//! `message!`: user types whose bytes are those of bincode 2's
//! `#[derive(Encode, Decode)]` for the same definition, and which travel
//! through a real server.

use stdrpc::{Decode, Encode, Error, Server, from_slice, to_vec};

/// The same definition twice: once through `message!` (module `ours`), once
/// through bincode's derive (module `theirs`). (bincode's derive cannot take an
/// enum with fields from a `macro_rules!` expansion, so those are written out
/// twice by hand.)
macro_rules! both {
    ($($def:tt)*) => {
        pub mod ours {
            #![allow(dead_code)]
            stdrpc::message! { #[derive(Debug, Clone, PartialEq)] $($def)* }
        }
        pub mod theirs {
            #![allow(dead_code)]
            #[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
            $($def)*
        }
    };
}

mod tick {
    both! {
        pub struct Tick {
            pub symbol: String,
            pub datetime: String,
            pub bid: f64,
            pub ask: f64,
        }
    }

    pub fn pair(symbol: &str, datetime: &str, bid: f64, ask: f64) -> (ours::Tick, theirs::Tick) {
        (
            ours::Tick {
                symbol: symbol.into(),
                datetime: datetime.into(),
                bid,
                ask,
            },
            theirs::Tick {
                symbol: symbol.into(),
                datetime: datetime.into(),
                bid,
                ask,
            },
        )
    }
}

mod order {
    pub mod ours {
        use std::collections::BTreeMap;
        stdrpc::message! {
            #[derive(Debug, Clone, PartialEq)]
            pub enum Order {
                /// A market order.
                Market { symbol: String, qty: i64 },
                Limit(String, i64, f64),
                Cancel(u64),
                CancelAll,
                Batch(Vec<(u32, Option<String>)>, BTreeMap<String, u16>),
            }
        }
    }
    pub mod theirs {
        use std::collections::BTreeMap;
        #[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
        pub enum Order {
            /// A market order.
            Market {
                symbol: String,
                qty: i64,
            },
            Limit(String, i64, f64),
            Cancel(u64),
            CancelAll,
            Batch(Vec<(u32, Option<String>)>, BTreeMap<String, u16>),
        }
    }
}

mod shapes {
    both! {
        pub struct Unit;
    }
}

mod pair {
    both! {
        pub struct Pair(pub u128, pub i16, pub char, pub bool);
    }
}

mod generic {
    both! {
        pub struct Page<T> {
            pub items: Vec<T>,
            pub next: Option<u64>,
        }
    }
}

mod many_variants {
    both! {
        pub enum Wide {
            V0, V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15,
            V16, V17, V18, V19, V20, V21, V22, V23, V24, V25, V26, V27, V28, V29,
            V30, V31, V32, V33, V34, V35, V36, V37, V38, V39, V40, V41, V42, V43,
            V44, V45, V46, V47, V48, V49, V50, V51, V52, V53, V54, V55, V56, V57,
            V58, V59, V60, V61, V62, V63, V64, V65, V66, V67, V68, V69, V70, V71,
            V72, V73, V74, V75, V76, V77, V78, V79, V80, V81, V82, V83, V84, V85,
            V86, V87, V88, V89, V90, V91, V92, V93, V94, V95, V96, V97, V98, V99,
            V100, V101, V102, V103, V104, V105, V106, V107, V108, V109, V110, V111,
            V112, V113, V114, V115, V116, V117, V118, V119, V120, V121, V122, V123,
            V124, V125, V126, V127, V128, V129, V130, V131, V132, V133, V134, V135,
            V136, V137, V138, V139, V140, V141, V142, V143, V144, V145, V146, V147,
            V148, V149, V150, V151, V152, V153, V154, V155, V156, V157, V158, V159,
            V160, V161, V162, V163, V164, V165, V166, V167, V168, V169, V170, V171,
            V172, V173, V174, V175, V176, V177, V178, V179, V180, V181, V182, V183,
            V184, V185, V186, V187, V188, V189, V190, V191, V192, V193, V194, V195,
            V196, V197, V198, V199, V200, V201, V202, V203, V204, V205, V206, V207,
            V208, V209, V210, V211, V212, V213, V214, V215, V216, V217, V218, V219,
            V220, V221, V222, V223, V224, V225, V226, V227, V228, V229, V230, V231,
            V232, V233, V234, V235, V236, V237, V238, V239, V240, V241, V242, V243,
            V244, V245, V246, V247, V248, V249, V250, V251, V252, Last,
        }
    }
}

stdrpc::message! {
    /// A recursive type: a binary tree of integers.
    #[derive(Debug, PartialEq)]
    pub enum Tree {
        /// A leaf.
        Leaf(i64),
        /// Two subtrees.
        Node(Box<Tree>, Box<Tree>),
    }
}

stdrpc::message! {
    /// A recursive struct: a list of names through `Vec`.
    #[derive(Debug, PartialEq)]
    pub struct Dir {
        /// The directory's name.
        pub name: String,
        /// Its subdirectories.
        pub children: Vec<Dir>,
    }
}

stdrpc::message! {
    /// No variants: never encoded, never decoded.
    #[derive(Debug)]
    pub enum Never {}
}

fn bincode_bytes<T: bincode::Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, bincode::config::standard()).unwrap()
}

fn bincode_value<T: bincode::Decode<()>>(bytes: &[u8]) -> T {
    let (value, used) = bincode::decode_from_slice(bytes, bincode::config::standard()).unwrap();
    assert_eq!(used, bytes.len());
    value
}

/// Our bytes are bincode's, and each side reads the other's.
fn assert_same<O, T>(ours: &O, theirs: &T)
where
    O: Encode + Decode + PartialEq + std::fmt::Debug,
    T: bincode::Encode + bincode::Decode<()> + PartialEq + std::fmt::Debug,
{
    let bytes = to_vec(ours);
    assert_eq!(bytes, bincode_bytes(theirs), "{ours:?}");
    assert_eq!(&from_slice::<O>(&bytes).unwrap(), ours);
    assert_eq!(&bincode_value::<T>(&bytes), theirs);
    // Every truncation fails cleanly.
    for cut in 0..bytes.len() {
        assert!(
            matches!(from_slice::<O>(&bytes[..cut]), Err(Error::Decode(_))),
            "a prefix of {cut} bytes of {ours:?} decoded"
        );
    }
}

#[test]
fn the_fx_tick_encodes_as_bincode_derives_it() {
    let (ours, theirs) = tick::pair("EURUSD", "2024-01-02 10:00:00.123", 1.0942, 1.0944);
    assert_same(&ours, &theirs);
    let bytes = to_vec(&ours);
    let mut expected = vec![6];
    expected.extend_from_slice(b"EURUSD");
    expected.push(23);
    expected.extend_from_slice(b"2024-01-02 10:00:00.123");
    expected.extend_from_slice(&1.0942f64.to_le_bytes());
    expected.extend_from_slice(&1.0944f64.to_le_bytes());
    assert_eq!(bytes, expected);
    let (ours, theirs) = tick::pair("", "", f64::NAN.copysign(-1.0), f64::INFINITY);
    assert_eq!(to_vec(&ours), bincode_bytes(&theirs));
}

#[test]
fn enums_encode_as_bincode_derives_them() {
    use order::{ours as o, theirs as t};
    let cases = [
        (
            o::Order::Market {
                symbol: "USDJPY".into(),
                qty: -5,
            },
            t::Order::Market {
                symbol: "USDJPY".into(),
                qty: -5,
            },
        ),
        (
            o::Order::Limit("GBPUSD".into(), 1_000_000, 1.25),
            t::Order::Limit("GBPUSD".into(), 1_000_000, 1.25),
        ),
        (o::Order::Cancel(u64::MAX), t::Order::Cancel(u64::MAX)),
        (o::Order::CancelAll, t::Order::CancelAll),
        (
            o::Order::Batch(
                vec![(1, None), (70_000, Some("x".into()))],
                [("a".to_string(), 300u16)].into(),
            ),
            t::Order::Batch(
                vec![(1, None), (70_000, Some("x".into()))],
                [("a".to_string(), 300u16)].into(),
            ),
        ),
    ];
    for (ours, theirs) in &cases {
        assert_same(ours, theirs);
    }
    assert_eq!(to_vec(&o::Order::CancelAll), [3]);
    // An index the type does not have.
    let err = from_slice::<o::Order>(&[5]).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown variant index 5 for Order"),
        "{err}"
    );
    // Indices past 250 take the wide varint form, as bincode writes them.
    use many_variants::{ours as wo, theirs as wt};
    assert_same(&wo::Wide::V0, &wt::Wide::V0);
    assert_same(&wo::Wide::V250, &wt::Wide::V250);
    assert_same(&wo::Wide::V251, &wt::Wide::V251);
    assert_same(&wo::Wide::Last, &wt::Wide::Last);
    assert_eq!(to_vec(&wo::Wide::Last), [251, 253, 0]);
}

#[test]
fn unit_tuple_and_generic_structs_encode_as_bincode_derives_them() {
    assert_same(&shapes::ours::Unit, &shapes::theirs::Unit);
    assert_eq!(to_vec(&shapes::ours::Unit), [0u8; 0]);
    assert_same(
        &pair::ours::Pair(u128::MAX, -300, '✓', true),
        &pair::theirs::Pair(u128::MAX, -300, '✓', true),
    );
    assert_same(
        &generic::ours::Page {
            items: vec!["a".to_string()],
            next: Some(3),
        },
        &generic::theirs::Page {
            items: vec!["a".to_string()],
            next: Some(3),
        },
    );
    assert_same(
        &generic::ours::Page::<u8> {
            items: vec![],
            next: None,
        },
        &generic::theirs::Page::<u8> {
            items: vec![],
            next: None,
        },
    );
}

#[test]
fn recursion_is_bounded_by_max_depth() {
    let t = Tree::Node(
        Box::new(Tree::Leaf(1)),
        Box::new(Tree::Node(
            Box::new(Tree::Leaf(-2)),
            Box::new(Tree::Leaf(3)),
        )),
    );
    assert_eq!(from_slice::<Tree>(&to_vec(&t)).unwrap(), t);

    // A left spine of `depth` nodes: `depth` times [1], then the leaves.
    let spine = |depth: usize| {
        let mut bytes = vec![1u8; depth];
        bytes.extend(std::iter::repeat_n([0u8, 0], depth + 1).flatten());
        bytes
    };
    let depth = stdrpc::Decoder::MAX_DEPTH as usize - 1;
    assert!(from_slice::<Tree>(&spine(depth)).is_ok(), "{depth} levels");
    let err = from_slice::<Tree>(&spine(depth + 1)).unwrap_err();
    assert!(err.to_string().contains("nested"), "{err}");
    // Deep hostile input fails, without exhausting the stack.
    assert!(from_slice::<Tree>(&spine(1_000_000)).is_err());

    let mut dir = Dir {
        name: "leaf".into(),
        children: vec![],
    };
    for i in 0..10 {
        dir = Dir {
            name: format!("d{i}"),
            children: vec![
                dir,
                Dir {
                    name: "x".into(),
                    children: vec![],
                },
            ],
        };
    }
    assert_eq!(from_slice::<Dir>(&to_vec(&dir)).unwrap(), dir);
    // A failed decode leaves the depth count balanced for the next value.
    let mut bad = to_vec(&Tree::Leaf(1));
    bad.extend_from_slice(&[7]);
    let mut d = stdrpc::Decoder::new(&bad);
    Tree::decode(&mut d).unwrap();
    assert!(Tree::decode(&mut d).is_err());
    assert_eq!(format!("{d:?}"), "Decoder { remaining: 0, depth: 0 }");
}

#[test]
fn empty_enums_never_decode() {
    assert!(from_slice::<Never>(&[0]).is_err());
    assert!(from_slice::<Never>(&[]).is_err());
}

#[test]
fn message_types_round_trip_through_a_server() {
    use order::ours::Order;
    use tick::ours::Tick;
    let mut server = Server::new(b"k");
    server
        .register("mid", |t: Tick| (t.bid + t.ask) / 2.0)
        .register("widen", |t: Tick, by: f64| Tick {
            bid: t.bid - by,
            ask: t.ask + by,
            ..t
        })
        .register("orders", |ticks: Vec<Tick>| -> Vec<Order> {
            ticks
                .into_iter()
                .map(|t| Order::Limit(t.symbol, 1, t.bid))
                .collect()
        })
        .register("mirror", |t: Tree| match t {
            Tree::Node(a, b) => Tree::Node(b, a),
            leaf => leaf,
        });
    let running = server.bind("127.0.0.1:0").unwrap().spawn().unwrap();
    let client = stdrpc::Client::connect(running.local_addr(), b"k").unwrap();

    let (tick, _) = tick::pair("EURUSD", "2024-01-02 10:00:00", 1.5, 2.5);
    assert_eq!(client.call::<_, f64>("mid", &tick).unwrap(), 2.0);
    let wide: Tick = client.call("widen", (&tick, 0.5)).unwrap();
    assert_eq!(
        (wide.bid, wide.ask, wide.symbol.as_str()),
        (1.0, 3.0, "EURUSD")
    );
    let orders: Vec<Order> = client.call("orders", vec![tick.clone(), wide]).unwrap();
    assert_eq!(
        orders,
        [
            Order::Limit("EURUSD".into(), 1, 1.5),
            Order::Limit("EURUSD".into(), 1, 1.0)
        ]
    );
    let t = Tree::Node(Box::new(Tree::Leaf(1)), Box::new(Tree::Leaf(2)));
    let m: Tree = client.call("mirror", t).unwrap();
    assert_eq!(
        m,
        Tree::Node(Box::new(Tree::Leaf(2)), Box::new(Tree::Leaf(1)))
    );

    // Bytes made by bincode's derive are accepted by the handler as they are.
    let (_, theirs) = tick::pair("X", "t", 1.0, 3.0);
    let reply = client.call_raw("mid", &bincode_bytes(&theirs)).unwrap();
    assert_eq!(reply, 2.0f64.to_le_bytes());
    running.shutdown().unwrap();
}
