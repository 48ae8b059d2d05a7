//! `Compat<T>`: serde types on the wire, encoded with bincode 2.

mod bounded;

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{Decode, Decoder, Encode};
use crate::error::{Error, Result};
use crate::registry::Reply;

use bounded::{Bounds, Seed};

/// A value of any `Serialize + DeserializeOwned` type, as an argument or a
/// result, in the style of bincode 2's `serde::Compat`.
///
/// The value is encoded with bincode 2's serde support and
/// `config::standard()`, which is exactly the std codec's format: a
/// `Compat<(String, Vec<u32>)>` puts on the wire the same bytes as a plain
/// `(String, Vec<u32>)`, so a serde-typed peer and a std-codec handler
/// understand each other byte for byte. Wrap a type (`Compat(tick)`) where a
/// handler takes or returns it, or in a [`service!`](crate::service) method's
/// signature.
///
/// ```
/// use stdrpc::Compat;
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Tick { symbol: String, bid: f64, ask: f64 }
///
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("spread", |Compat(t): Compat<Tick>| t.ask - t.bid);
/// server.register("quote", |symbol: String| Compat(Tick { symbol, bid: 1.0, ask: 1.5 }));
/// let running = server.bind("127.0.0.1:0")?.spawn()?;
///
/// let client = stdrpc::Client::connect(running.local_addr(), b"key")?;
/// let tick = Tick { symbol: "EURUSD".into(), bid: 1.25, ask: 1.5 };
/// assert_eq!(client.call::<_, f64>("spread", Compat(&tick))?, 0.25);
/// let Compat(quote): Compat<Tick> = client.call("quote", "USDJPY")?;
/// assert_eq!(quote.ask, 1.5);
///
/// // The same bytes as the std codec's for the same shape.
/// assert_eq!(stdrpc::to_vec(&Compat(&tick)), stdrpc::to_vec(&("EURUSD", 1.25f64, 1.5f64)));
/// running.shutdown()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
///
/// # Untrusted input
///
/// Decoding keeps the std codec's guarantees: it never allocates more than
/// the input justifies (strings and byte buffers are bounds-checked against
/// the input before they are copied, and a sequence or map length larger
/// than the input is refused), and it refuses values nested more than
/// 512 levels deep. bincode's own `with_limit` is a compile-time constant;
/// this limit follows each message's real size instead.
///
/// serde features that need a self-describing format (`deserialize_any`:
/// untagged enums, `#[serde(flatten)]`, `serde_json::Value`) fail to decode,
/// as with bincode itself.
///
/// # Panics
///
/// Encoding panics when bincode cannot encode the value: a `Serialize`
/// implementation that returns an error, or a sequence of unknown length
/// (`serialize_seq(None)`). That is a bug in the type, found the first time
/// it is sent; on a server the panic is caught and reaches the caller as
/// [`RemoteKind::Panicked`](crate::RemoteKind::Panicked).
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Compat<T>(pub T);

impl<T: Serialize> Encode for Compat<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        if let Err(e) =
            bincode::serde::encode_into_std_write(&self.0, out, bincode::config::standard())
        {
            panic!(
                "bincode cannot encode this {}: {e}",
                std::any::type_name::<T>()
            );
        }
    }
}

impl<T: DeserializeOwned> Decode for Compat<T> {
    fn decode(d: &mut Decoder<'_>) -> Result<Self> {
        // Hand bincode everything left, then consume what it read.
        let rest = d.clone().read_bytes(d.remaining())?;
        let seed = Seed {
            inner: PhantomData::<T>,
            bounds: Bounds {
                input_len: rest.len(),
                depth: 0,
            },
        };
        let (value, used) =
            bincode::serde::seed_decode_from_slice(seed, rest, bincode::config::standard())
                .map_err(|e| Error::Decode(Box::new(e)))?;
        d.read_bytes(used)?;
        Ok(Compat(value))
    }
}

impl<T: Serialize> Reply for Compat<T> {
    type Value = Self;

    fn into_reply(self) -> Result<Self, String> {
        Ok(self)
    }
}
