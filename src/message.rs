//! `message!`: user types for the std codec without serde.
//!
//! The public macro, [`message!`](crate::message), forwards to the hidden
//! `__message!`. Each form (struct, tuple struct, unit struct, enum) is read
//! by one rule, so the recursion depth does not grow with the number of
//! fields or variants; tuple fields get names from a fixed pool (`@names`),
//! because a declarative macro cannot make identifiers.

#[doc(hidden)]
pub mod private;

/// Defines a struct or an enum and implements [`Encode`](crate::Encode),
/// [`Decode`](crate::Decode) and [`Reply`](crate::Reply) for it, with the
/// bytes bincode 2's `#[derive(Encode, Decode)]` writes for the same type
/// (in `config::standard()`):
///
/// - a struct: its fields in order, with nothing around them;
/// - an enum: the variant's index (its position, from `0`) as a
///   variable-length `u32`, then the variant's fields in order.
///
/// ```
/// stdrpc::message! {
///     /// One FX quote.
///     #[derive(Debug, Clone, PartialEq)]
///     pub struct Tick {
///         pub symbol: String,
///         pub datetime: String,
///         pub bid: f64,
///         pub ask: f64,
///     }
/// }
///
/// stdrpc::message! {
///     /// A shape.
///     #[derive(Debug, PartialEq)]
///     pub enum Shape {
///         /// A circle of radius `r`.
///         Circle { r: f64 },
///         /// A rectangle.
///         Rect(f64, f64),
///         /// Nothing at all.
///         Empty,
///     }
/// }
///
/// let tick = Tick { symbol: "EURUSD".into(), datetime: "2024-01-02 10:00:00".into(), bid: 1.1, ask: 1.2 };
/// let bytes = stdrpc::to_vec(&tick);
/// assert_eq!(&bytes[..7], b"\x06EURUSD");
/// assert_eq!(stdrpc::from_slice::<Tick>(&bytes)?, tick);
///
/// assert_eq!(stdrpc::to_vec(&Shape::Empty), [2]);
/// assert_eq!(stdrpc::to_vec(&Shape::Rect(1.0, 2.0))[0], 1);
///
/// // A handler can take and return them directly.
/// let mut server = stdrpc::Server::new(b"key");
/// server.register("mid", |t: Tick| (t.bid + t.ask) / 2.0);
/// server.register("unit", || Shape::Circle { r: 1.0 });
/// # Ok::<(), stdrpc::Error>(())
/// ```
///
/// # Accepted forms
///
/// Structs with named fields, tuple structs (up to 32 fields), unit structs,
/// and enums whose variants are any of those (an empty enum too), each with
/// attributes, doc comments and visibility as usual. Type parameters are
/// allowed as plain names (`struct Page<T> { .. }`); the implementations then
/// require `T: Encode` or `T: Decode`. Not accepted: lifetimes, bounds and
/// `where` clauses, explicit discriminants (the index on the wire is the
/// variant's position, as in bincode), and `#[cfg]` on fields.
///
/// # Recursive types
///
/// A type may contain itself through a `Box` or a collection (a tree, a
/// list). Decoding counts how deeply `message!` values nest and fails
/// beyond [`MAX_DEPTH`](crate::Decoder::MAX_DEPTH), so hostile input cannot exhaust
/// the stack:
///
/// ```
/// stdrpc::message! {
///     /// A binary tree.
///     #[derive(Debug, PartialEq)]
///     pub enum Tree {
///         Leaf(i64),
///         Node(Box<Tree>, Box<Tree>),
///     }
/// }
/// let t = Tree::Node(Box::new(Tree::Leaf(1)), Box::new(Tree::Leaf(2)));
/// assert_eq!(stdrpc::from_slice::<Tree>(&stdrpc::to_vec(&t))?, t);
///
/// let too_deep = [vec![1u8; 10_000], vec![0, 0]].concat(); // Node(Node(Node(...
/// assert!(stdrpc::from_slice::<Tree>(&too_deep).is_err());
/// # Ok::<(), stdrpc::Error>(())
/// ```
///
/// # In Python
///
/// Stock Python `BaseManager` clients pass and receive `message!` values
/// through their shapes: a struct with named fields is a `dict` keyed by
/// field name (every field, no other key), a tuple struct its one field's
/// value or a `tuple`, a unit struct `{}`; an enum's unit variant is its name
/// as a `str`, a variant with fields a one-entry dict `{"Variant": fields}`
/// with the fields written as for a struct. So `Tree::Node(Leaf(1), Leaf(2))`
/// is `{"Node": ({"Leaf": 1}, {"Leaf": 2})}` in Python. docs/PROTOCOL.md
/// §4.9 has the whole mapping.
#[macro_export]
macro_rules! message {
    ($($input:tt)*) => {
        $crate::__message! { @item $($input)* }
    };
}

/// Not public API: the rules behind [`message!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __message {
    // ---- structs -------------------------------------------------------------

    (@item
        $(#[$($attr:tt)*])*
        $vis:vis struct $name:ident $(< $($g:ident),+ $(,)? >)? {
            $( $(#[$($fattr:tt)*])* $fvis:vis $f:ident : $t:ty ),* $(,)?
        }
    ) => {
        $(#[$($attr)*])*
        $vis struct $name $(< $($g),+ >)? {
            $( $(#[$($fattr)*])* $fvis $f : $t ),*
        }

        impl<$($($g: $crate::Encode),+)?> $crate::Encode for $name<$($($g),+)?> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Encode $name { $($f : $t),* } }
            }

            #[allow(unused_variables)] // `out`, when there are no fields.
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                $( $crate::Encode::encode(&self.$f, out); )*
            }
        }

        impl<$($($g: $crate::Decode),+)?> $crate::Decode for $name<$($($g),+)?> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Decode $name { $($f : $t),* } }
            }

            fn decode(d: &mut $crate::Decoder<'_>) -> $crate::Result<Self> {
                d.enter()?;
                let value = (|d: &mut $crate::Decoder<'_>| -> $crate::Result<Self> {
                    ::std::result::Result::Ok(Self {
                        $( $f: $crate::Decode::decode(d)?, )*
                    })
                })(d);
                d.leave();
                value
            }
        }

        $crate::__message! { @reply $name [$($($g),+)?] }
    };

    (@item
        $(#[$($attr:tt)*])*
        $vis:vis struct $name:ident $(< $($g:ident),+ $(,)? >)? (
            $( $(#[$($fattr:tt)*])* $fvis:vis $t:ty ),* $(,)?
        );
    ) => {
        $(#[$($attr)*])*
        $vis struct $name $(< $($g),+ >)? (
            $( $(#[$($fattr)*])* $fvis $t ),*
        );

        $crate::__message! { @names
            { @tuple_struct $name [$($($g),+)?] [$($t),*] }
            []
            [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15
             f16 f17 f18 f19 f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31]
            [$($t)*]
        }
    };

    (@item
        $(#[$($attr:tt)*])*
        $vis:vis struct $name:ident;
    ) => {
        $(#[$($attr)*])*
        $vis struct $name;

        impl $crate::Encode for $name {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Encode $name }
            }

            fn encode(&self, _out: &mut ::std::vec::Vec<u8>) {}
        }

        impl $crate::Decode for $name {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Decode $name }
            }

            fn decode(_d: &mut $crate::Decoder<'_>) -> $crate::Result<Self> {
                ::std::result::Result::Ok($name)
            }
        }

        $crate::__message! { @reply $name [] }
    };

    (@tuple_struct $name:ident [$($g:ident),*] [$($t:ty),*] [$($n:ident)*]) => {
        impl<$($g: $crate::Encode),*> $crate::Encode for $name<$($g),*> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Encode $name ( $($t),* ) }
            }

            #[allow(unused_variables)] // `out`, when there are no fields.
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                let Self($($n),*) = self;
                $( $crate::Encode::encode($n, out); )*
            }
        }

        impl<$($g: $crate::Decode),*> $crate::Decode for $name<$($g),*> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @struct_shape Decode $name ( $($t),* ) }
            }

            fn decode(d: &mut $crate::Decoder<'_>) -> $crate::Result<Self> {
                d.enter()?;
                let value = (|d: &mut $crate::Decoder<'_>| -> $crate::Result<Self> {
                    ::std::result::Result::Ok(Self($( <$t as $crate::Decode>::decode(d)? ),*))
                })(d);
                d.leave();
                value
            }
        }

        $crate::__message! { @reply $name [$($g),*] }
    };

    // ---- enums ---------------------------------------------------------------
    //
    // One rule reads every variant, so the recursion depth does not grow with
    // their number. A local C-like enum with the same variant names gives each
    // its index (`__Index::V as u32`). Each variant's encoding is an `if let`
    // statement and its decoding an expression, made by helper rules.

    (@item
        $(#[$($attr:tt)*])*
        $vis:vis enum $name:ident $(< $($g:ident),+ $(,)? >)? {
            $(
                $(#[$($vattr:tt)*])*
                $v:ident $({ $($named:tt)* })? $(( $($tuple:tt)* ))?
            ),* $(,)?
        }
    ) => {
        $(#[$($attr)*])*
        $vis enum $name $(< $($g),+ >)? {
            $(
                $(#[$($vattr)*])*
                $v $({ $($named)* })? $(( $($tuple)* ))?
            ),*
        }

        impl<$($($g: $crate::Encode),+)?> $crate::Encode for $name<$($($g),+)?> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @enum_shape Encode $name
                    [$( $v [$({ $($named)* })? $(( $($tuple)* ))?] )*] }
            }

            // `out` is unused in an enum without variants, and the one `if let`
            // of an enum with one variant is irrefutable.
            #[allow(unused_variables, irrefutable_let_patterns)]
            fn encode(&self, out: &mut ::std::vec::Vec<u8>) {
                #[allow(dead_code, non_camel_case_types)]
                enum __Index { $($v),* }
                $(
                    $crate::__message! { @encode_variant self out (__Index::$v as u64) $v
                        $({ $($named)* })? $(( $($tuple)* ))? }
                )*
            }
        }

        impl<$($($g: $crate::Decode),+)?> $crate::Decode for $name<$($($g),+)?> {
            fn shape() -> $crate::Shape {
                $crate::__message! { @enum_shape Decode $name
                    [$( $v [$({ $($named)* })? $(( $($tuple)* ))?] )*] }
            }

            fn decode(d: &mut $crate::Decoder<'_>) -> $crate::Result<Self> {
                #[allow(dead_code, non_camel_case_types)]
                enum __Index { $($v),* }
                d.enter()?;
                let value = (|d: &mut $crate::Decoder<'_>| -> $crate::Result<Self> {
                    let index = <u32 as $crate::Decode>::decode(d)?;
                    $(
                        if index == __Index::$v as u32 {
                            return ::std::result::Result::Ok($crate::__message! { @construct d $v
                                $({ $($named)* })? $(( $($tuple)* ))? });
                        }
                    )*
                    ::std::result::Result::Err($crate::__private::message::unknown_variant(
                        ::std::stringify!($name),
                        index,
                    ))
                })(d);
                d.leave();
                value
            }
        }

        $crate::__message! { @reply $name [$($($g),+)?] }
    };

    (@encode_variant $this:ident $out:ident $idx:tt $v:ident) => {
        if let Self::$v = $this {
            $crate::__private::write_varint_u64($out, $idx);
            return;
        }
    };
    (@encode_variant $this:ident $out:ident $idx:tt $v:ident {
        $( $(#[$($fattr:tt)*])* $f:ident : $t:ty ),* $(,)?
    }) => {
        if let Self::$v { $($f),* } = $this {
            $crate::__private::write_varint_u64($out, $idx);
            $( $crate::Encode::encode($f, $out); )*
            return;
        }
    };
    (@encode_variant $this:ident $out:ident $idx:tt $v:ident (
        $( $(#[$($fattr:tt)*])* $t:ty ),* $(,)?
    )) => {
        $crate::__message! { @names
            { @encode_tuple $this $out $idx $v }
            []
            [f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12 f13 f14 f15
             f16 f17 f18 f19 f20 f21 f22 f23 f24 f25 f26 f27 f28 f29 f30 f31]
            [$($t)*]
        }
    };
    (@encode_variant $($rest:tt)*) => {
        ::std::compile_error!(
            "message!: each variant is `Name`, `Name(Type, ...)` or `Name { field: Type, ... }`"
        );
    };
    (@encode_tuple $this:ident $out:ident $idx:tt $v:ident [$($n:ident)*]) => {
        if let Self::$v($($n),*) = $this {
            $crate::__private::write_varint_u64($out, $idx);
            $( $crate::Encode::encode($n, $out); )*
            return;
        }
    };

    (@construct $d:ident $v:ident) => {
        Self::$v
    };
    (@construct $d:ident $v:ident {
        $( $(#[$($fattr:tt)*])* $f:ident : $t:ty ),* $(,)?
    }) => {
        Self::$v { $( $f: $crate::Decode::decode($d)? ),* }
    };
    (@construct $d:ident $v:ident (
        $( $(#[$($fattr:tt)*])* $t:ty ),* $(,)?
    )) => {
        Self::$v( $( <$t as $crate::Decode>::decode($d)? ),* )
    };

    // ---- shared ----------------------------------------------------------------

    // Names for the fields of a tuple struct or variant, taken from the pool
    // one per field; then `$k` is called with them appended.
    (@names { $($k:tt)* } [$($acc:ident)*] [$($pool:ident)*] []) => {
        $crate::__message! { $($k)* [$($acc)*] }
    };
    (@names $k:tt [$($acc:ident)*] [$n:ident $($pool:ident)*] [$t:tt $($ts:tt)*]) => {
        $crate::__message! { @names $k [$($acc)* $n] [$($pool)*] [$($ts)*] }
    };
    (@names $k:tt $acc:tt [] [$($ts:tt)+]) => {
        ::std::compile_error!("message!: a tuple struct or variant has at most 32 fields");
    };

    // ---- shapes ----------------------------------------------------------
    // `$tr` is `Encode` or `Decode`: the trait whose `shape` describes the
    // fields (a generic parameter is bound by one or the other).
    (@struct_shape $tr:ident $name:ident $($fields:tt)?) => {
        $crate::__private::shape::describe_named(
            ::std::any::type_name::<Self>(),
            ::std::stringify!($name),
            || $crate::Shape::Struct {
                name: ::std::stringify!($name),
                fields: $crate::__message! { @fields $tr $($fields)? },
            },
        )
    };
    (@enum_shape $tr:ident $name:ident [$( $v:ident [$($fields:tt)?] )*]) => {
        $crate::__private::shape::describe_named(
            ::std::any::type_name::<Self>(),
            ::std::stringify!($name),
            || $crate::Shape::Enum {
                name: ::std::stringify!($name),
                variants: ::std::vec![$(
                    (::std::stringify!($v), $crate::__message! { @fields $tr $($fields)? })
                ),*],
            },
        )
    };
    (@fields $tr:ident) => {
        $crate::Fields::Unit
    };
    (@fields $tr:ident { $( $(#[$($fattr:tt)*])* $f:ident : $t:ty ),* $(,)? }) => {
        $crate::Fields::Named(::std::vec![$(
            (::std::stringify!($f), <$t as $crate::$tr>::shape())
        ),*])
    };
    (@fields $tr:ident ( $( $(#[$($fattr:tt)*])* $t:ty ),* $(,)? )) => {
        $crate::Fields::Tuple(::std::vec![$( <$t as $crate::$tr>::shape() ),*])
    };

    (@reply $name:ident [$($g:ident),*]) => {
        impl<$($g: $crate::Encode),*> $crate::Reply for $name<$($g),*> {
            type Value = Self;
            fn into_reply(self) -> ::std::result::Result<Self, ::std::string::String> {
                ::std::result::Result::Ok(self)
            }
        }
    };

    (@item $($rest:tt)*) => {
        ::std::compile_error!(
            "message!: expected one `struct` or `enum` definition: no lifetimes, bounds or `where` clauses, and no explicit discriminants (the index on the wire is the variant's position)"
        );
    };
}
