//! `Serialize` and `Deserialize` for the library's public data types, with
//! the `serde` feature: [`RemoteKind`], [`Stats`] and [`Address`].
//!
//! The implementations are written by hand (the library does not depend on
//! serde's derive) and match what `#[derive(Serialize, Deserialize)]` would
//! produce, except for `Address`, which is a string:
//!
//! - `RemoteKind`: a unit variant, by name (`"Handler"`) or by position;
//! - `Stats`: a struct of `u64` counters; when deserializing, missing fields
//!   are `0` and unknown ones are ignored, so stats saved by another version
//!   still load;
//! - `Address`: its `Display` form, `"HOST:PORT"` or `"unix:PATH"`, parsed
//!   back without any name lookup.

use std::fmt;
use std::net::SocketAddr;

use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::address::Address;
use crate::error::RemoteKind;
use crate::server::Stats;

// ---- RemoteKind ----------------------------------------------------------------

const REMOTE_KINDS: [(RemoteKind, &str); 11] = [
    (RemoteKind::NoSuchMethod, "NoSuchMethod"),
    (RemoteKind::BadArguments, "BadArguments"),
    (RemoteKind::Handler, "Handler"),
    (RemoteKind::Panicked, "Panicked"),
    (RemoteKind::ShuttingDown, "ShuttingDown"),
    (RemoteKind::SignatureMismatch, "SignatureMismatch"),
    (RemoteKind::Overloaded, "Overloaded"),
    (RemoteKind::ReplyTooLarge, "ReplyTooLarge"),
    (RemoteKind::Abandoned, "Abandoned"),
    (RemoteKind::DeadlineExceeded, "DeadlineExceeded"),
    (RemoteKind::Other, "Other"),
];

const REMOTE_KIND_NAMES: [&str; 11] = [
    "NoSuchMethod",
    "BadArguments",
    "Handler",
    "Panicked",
    "ShuttingDown",
    "SignatureMismatch",
    "Overloaded",
    "ReplyTooLarge",
    "Abandoned",
    "DeadlineExceeded",
    "Other",
];

/// The index of `Other`, the last variant.
const OTHER_INDEX: usize = REMOTE_KINDS.len() - 1;

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for RemoteKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Every variant is in the table; `Other` stands in for none.
        let (index, name) = REMOTE_KINDS
            .iter()
            .enumerate()
            .find(|(_, (kind, _))| kind == self)
            .map_or((OTHER_INDEX, "Other"), |(i, (_, name))| (i, *name));
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        serializer.serialize_unit_variant("RemoteKind", index, name)
    }
}

/// A `RemoteKind` variant named by string or by index.
struct KindTag(RemoteKind);

impl<'de> Deserialize<'de> for KindTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KindTag, D::Error> {
        struct TagVisitor;
        impl Visitor<'_> for TagVisitor {
            type Value = KindTag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a RemoteKind variant")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KindTag, E> {
                usize::try_from(v)
                    .ok()
                    .and_then(|i| REMOTE_KINDS.get(i))
                    .map(|(kind, _)| KindTag(*kind))
                    .ok_or_else(|| {
                        E::invalid_value(
                            de::Unexpected::Unsigned(v),
                            &"a variant index of RemoteKind",
                        )
                    })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KindTag, E> {
                REMOTE_KINDS
                    .iter()
                    .find(|(_, name)| *name == v)
                    .map(|(kind, _)| KindTag(*kind))
                    .ok_or_else(|| E::unknown_variant(v, &REMOTE_KIND_NAMES))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<KindTag, E> {
                match std::str::from_utf8(v) {
                    Ok(s) => self.visit_str(s),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        deserializer.deserialize_identifier(TagVisitor)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for RemoteKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RemoteKind, D::Error> {
        struct KindVisitor;
        impl<'de> Visitor<'de> for KindVisitor {
            type Value = RemoteKind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a RemoteKind")
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<RemoteKind, A::Error> {
                let (KindTag(kind), variant) = data.variant()?;
                variant.unit_variant()?;
                Ok(kind)
            }
        }
        deserializer.deserialize_enum("RemoteKind", &REMOTE_KIND_NAMES, KindVisitor)
    }
}

// ---- Stats ---------------------------------------------------------------------

/// Writes `STATS_FIELDS` and `Stats::{to_array, from_array}` from one list
/// of the fields, in their serialized order. The destructuring in `to_array`
/// names every field, so a new counter fails to compile here until it is
/// added to the list.
macro_rules! stats_fields {
    ($($field:ident),* $(,)?) => {
        const STATS_FIELDS: [&str; [$(stringify!($field)),*].len()] = [$(stringify!($field)),*];

        impl Stats {
            /// The counters in the order of [`STATS_FIELDS`].
            fn to_array(self) -> [u64; STATS_FIELDS.len()] {
                let Stats { $($field),* } = self;
                [$($field),*]
            }

            fn from_array(v: [u64; STATS_FIELDS.len()]) -> Stats {
                let [$($field),*] = v;
                Stats { $($field),* }
            }
        }
    };
}

stats_fields!(
    open_connections,
    accepted,
    refused,
    auth_failures,
    authenticated,
    handshaking,
    evicted,
    overloaded,
    budget_in_use,
    calls,
    errors,
    signature_mismatches,
    bytes_in,
    bytes_out,
);

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Stats", STATS_FIELDS.len())?;
        for (name, value) in STATS_FIELDS.iter().zip(self.to_array()) {
            s.serialize_field(name, &value)?;
        }
        s.end()
    }
}

/// A `Stats` field named by string or by index; `None` for an unknown one.
struct StatsField(Option<usize>);

impl<'de> Deserialize<'de> for StatsField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StatsField, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = StatsField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Stats field")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatsField, E> {
                Ok(StatsField(
                    usize::try_from(v).ok().filter(|&i| i < STATS_FIELDS.len()),
                ))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatsField, E> {
                Ok(StatsField(STATS_FIELDS.iter().position(|name| *name == v)))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<StatsField, E> {
                Ok(StatsField(
                    STATS_FIELDS.iter().position(|name| name.as_bytes() == v),
                ))
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Stats {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Stats, D::Error> {
        struct StatsVisitor;
        impl<'de> Visitor<'de> for StatsVisitor {
            type Value = Stats;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct Stats")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stats, A::Error> {
                let mut values = [0u64; STATS_FIELDS.len()];
                for (i, slot) in values.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Stats::from_array(values))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Stats, A::Error> {
                let mut values = [0u64; STATS_FIELDS.len()];
                let mut seen = [false; STATS_FIELDS.len()];
                while let Some(StatsField(field)) = map.next_key()? {
                    match field {
                        Some(i) if seen[i] => {
                            return Err(de::Error::duplicate_field(STATS_FIELDS[i]));
                        }
                        Some(i) => {
                            values[i] = map.next_value()?;
                            seen[i] = true;
                        }
                        None => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Stats::from_array(values))
            }
        }
        deserializer.deserialize_struct("Stats", &STATS_FIELDS, StatsVisitor)
    }
}

// ---- Address -------------------------------------------------------------------

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Address::Tcp(a) => serializer.collect_str(a),
            #[cfg(unix)]
            Address::Unix(path) => match path.to_str() {
                Some(p) => serializer.collect_str(&format_args!("unix:{p}")),
                None => Err(serde::ser::Error::custom(
                    "a Unix socket path that is not UTF-8 cannot be serialized",
                )),
            },
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        struct AddressVisitor;
        impl Visitor<'_> for AddressVisitor {
            type Value = Address;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address: \"HOST:PORT\" with a numeric host, or \"unix:PATH\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                if let Some(path) = v.strip_prefix("unix:") {
                    #[cfg(unix)]
                    return Ok(Address::Unix(path.into()));
                    #[cfg(not(unix))]
                    return Err(E::custom(format_args!(
                        "Unix socket {path:?} on a platform without Unix sockets"
                    )));
                }
                v.parse::<SocketAddr>()
                    .map(Address::Tcp)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(AddressVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, MapDeserializer, StrDeserializer};

    use super::*;

    #[test]
    fn remote_kind_by_name_and_index() {
        for (i, (kind, name)) in REMOTE_KINDS.iter().enumerate() {
            let d: StrDeserializer<'_, ValueError> = name.into_deserializer();
            assert_eq!(RemoteKind::deserialize(d).unwrap(), *kind);
            let d: serde::de::value::U32Deserializer<ValueError> = (i as u32).into_deserializer();
            assert_eq!(KindTag::deserialize(d).unwrap().0, *kind);
            assert_eq!(REMOTE_KIND_NAMES[i], *name);
        }
        let d: StrDeserializer<'_, ValueError> = "Nope".into_deserializer();
        assert!(RemoteKind::deserialize(d).is_err());
    }

    #[test]
    fn stats_by_name_with_defaults_and_unknown_fields() {
        let entries = [("calls", 5u64), ("bytes_out", 9), ("from_the_future", 1)];
        let d: MapDeserializer<'_, _, ValueError> = MapDeserializer::new(entries.into_iter());
        let stats = Stats::deserialize(d).unwrap();
        assert_eq!(stats.calls, 5);
        assert_eq!(stats.bytes_out, 9);
        assert_eq!(stats.accepted, 0);
        let twice = [("calls", 5u64), ("calls", 6)];
        let d: MapDeserializer<'_, _, ValueError> = MapDeserializer::new(twice.into_iter());
        assert!(Stats::deserialize(d).is_err());
        let all = Stats::from_array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        assert_eq!(
            all.to_array(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
        );
    }

    #[test]
    fn addresses_as_strings() {
        let parse = |s: &str| {
            let d: StrDeserializer<'_, ValueError> = s.into_deserializer();
            Address::deserialize(d)
        };
        assert_eq!(
            parse("127.0.0.1:4343").unwrap(),
            Address::Tcp("127.0.0.1:4343".parse().unwrap())
        );
        assert_eq!(
            parse("[::1]:80").unwrap(),
            Address::Tcp("[::1]:80".parse().unwrap())
        );
        #[cfg(unix)]
        assert_eq!(
            parse("unix:/tmp/s.sock").unwrap(),
            Address::Unix("/tmp/s.sock".into())
        );
        // Names are not looked up.
        assert!(parse("localhost:80").is_err());
        assert!(parse("nonsense").is_err());
    }
}
