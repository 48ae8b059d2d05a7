//! `service!`: one trait-like declaration, turned into a trait the server
//! implements and a typed client stub.
//!
//! Everything here is a declarative macro: no proc-macro crate, no build
//! step. The public macro, [`service!`](crate::service), forwards to the
//! hidden `__service!`, whose `@`-rules parse the declaration one method at a
//! time (a "tt muncher") into a normalized list and then emit the items. The
//! plain-Rust helpers the expansion calls are in `private` (re-exported as
//! `__private::service`); the call modes of the stub are in [`stub`].

#[doc(hidden)]
pub mod private;
pub mod stub;

/// Declares a service: a trait that the server implements, its registration
/// on a [`Server`](crate::Server) under a namespace, and a typed client stub.
///
/// ```
/// stdrpc::service! {
///     /// A key-value store.
///     pub trait Kv {
///         /// The value stored under `key`, if any.
///         fn get(&self, key: String) -> Option<i64>;
///         /// Stores `value` under `key`.
///         fn put(&self, key: String, value: i64);
///         /// Divides, refusing zero.
///         fn div(&self, a: i64, b: i64) -> Result<i64, String>;
///     }
///     /// The typed client of [`Kv`].
///     pub struct KvClient;
/// }
///
/// #[derive(Default)]
/// struct Store(std::sync::Mutex<std::collections::HashMap<String, i64>>);
///
/// impl Kv for Store {
///     fn get(&self, key: String) -> Option<i64> {
///         self.0.lock().unwrap().get(&key).copied()
///     }
///     fn put(&self, key: String, value: i64) {
///         self.0.lock().unwrap().insert(key, value);
///     }
///     fn div(&self, a: i64, b: i64) -> Result<i64, String> {
///         a.checked_div(b).ok_or_else(|| "division by zero".to_string())
///     }
/// }
///
/// let mut server = stdrpc::Server::new(b"key");
/// Store::default().register_on(&mut server); // "Kv.get", "Kv.put", "Kv.div"
/// let running = server.bind("127.0.0.1:0")?.spawn()?;
///
/// let kv = KvClient::connect(running.local_addr(), b"key")?;
/// kv.put("a".into(), 10)?;
/// assert_eq!(kv.get("a".into())?, Some(10));
/// assert_eq!(kv.div(7, 2)?, 3);
/// let err = kv.div(1, 0).unwrap_err(); // the handler's `Err`, as `Error::Remote`
/// assert_eq!(err.remote_kind(), Some(stdrpc::RemoteKind::Handler));
///
/// let pending = kv.start().get("a".into())?;  // pipelined: returns at once
/// kv.notify().put("b".into(), 2)?;            // one-way: no reply
/// assert_eq!(pending.wait()?, Some(10));
///
/// // The stub is a thin layer over the untyped client: the same call by name.
/// let v: Option<i64> = kv.client().call("Kv.get", "a")?;
/// assert_eq!(v, Some(10));
/// running.shutdown()?;
/// # Ok::<(), stdrpc::Error>(())
/// ```
///
/// # The declaration
///
/// A trait, then the name of its client stub:
///
/// ```text
/// [attributes] [vis] trait NAME {
///     [attributes] fn METHOD(&self, ARG: TYPE, ...) [-> RETURN];
///     ...
/// }
/// [attributes] [vis] struct CLIENT;
/// ```
///
/// - Every method takes `&self` and has named arguments of owned types that
///   implement [`Encode`](crate::Encode) and [`Decode`](crate::Decode) (up to
///   sixteen). No generics, no `async`, no default bodies.
/// - The return type is one of: nothing (or `()`); `Result<T, E>`, spelled
///   exactly so, with `E: Display` — the `Err` reaches the caller as
///   `Error::Remote { kind: RemoteKind::Handler, message }` with its text; or
///   any other type the codec encodes (a type of your own needs a
///   [`Reply`](crate::Reply) implementation, which [`message!`](crate::message)
///   provides).
/// - Attributes and doc comments on a method go to the trait method and to
///   every stub method made from it; `#[cfg(..)]` also gates its
///   registration.
///
/// # What it generates
///
/// - **The trait** `NAME: Send + Sync + 'static`, with the methods as
///   declared, and a provided method `register_on(self, &mut Server)` that
///   registers the implementation under `"NAME.METHOD"` for each method, so
///   that several services share one server and port. Arguments travel as
///   the registry expects — none as `()`, one as itself, several as a tuple —
///   so a plain `client.call("Kv.put", ("a", 1i64))` reaches the same
///   handler.
/// - **The client** `CLIENT<M = stub::Wait>`, wrapping a [`Client`](crate::Client):
///   `CLIENT::new(client)`, `CLIENT::connect(addr, authkey)`, `client()`,
///   `into_client()`, and one method per remote method. The mode `M` says how
///   the methods call:
///   - the client itself ([`stub::Wait`](crate::stub::Wait)): each method
///     waits and returns `Result<T, Error>`;
///   - `.start()` ([`stub::Start`](crate::stub::Start)): each method sends
///     the call and returns `Result<Pending<T>, Error>` at once, for
///     pipelining or `.await`;
///   - `.with_timeout(duration)` ([`stub::Timeout`](crate::stub::Timeout)):
///     each method waits at most that long;
///   - `.notify()` ([`stub::Notify`](crate::stub::Notify)), present when some
///     method returns nothing (or `Result<(), E>`): those methods as one-way
///     notifications.
///
/// Stub calls are typed calls (see [`Client::call`](crate::Client::call)):
/// each carries the fingerprints of the method's argument tuple and result,
/// computed once per type pair, so a stub and a server that disagree on a
/// method's signature get a `SignatureMismatch` naming both, and the method
/// does not run. Arguments must be owned types the server can decode; a
/// borrowed one is reported at its own line in the declaration:
///
/// ```compile_fail
/// stdrpc::service! {
///     pub trait Kv {
///         fn get(&self, key: &str) -> Option<i64>; // error here: use `String`
///     }
///     pub struct KvClient;
/// }
/// ```
///
/// Every generated item is documented. The macro works at module scope and
/// inside a function, and its expansion names only `$crate::` and `::std::`
/// paths. It reads the methods one at a time, so a service of more than
/// about 120 methods needs a higher `#![recursion_limit]` in its crate.
///
/// # Reserved names
///
/// The stub's own methods share a namespace with the remote methods, so a
/// service cannot declare methods named `new`, `connect`, `client`,
/// `into_client`, `start`, `notify` or `with_timeout`, nor `register_on` on
/// the trait side; the compiler reports such a clash as a duplicate
/// definition. Call such a method by name through `client()` if you must.
#[macro_export]
macro_rules! service {
    ($($input:tt)*) => {
        $crate::__service! { @start $($input)* }
    };
}

/// Not public API: the rules behind [`service!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __service {
    // ---- the declaration --------------------------------------------------

    (@start
        $(#[$($tattr:tt)*])*
        $tvis:vis trait $name:ident { $($body:tt)* }
        $(#[$($cattr:tt)*])*
        $cvis:vis struct $client:ident ;
    ) => {
        $crate::__service! { @method
            { [$(#[$($tattr)*])*] [$tvis] $name [$(#[$($cattr)*])*] [$cvis] $client }
            [] []
            $($body)*
        }
    };
    (@start
        $(#[$($tattr:tt)*])*
        $tvis:vis trait $name:ident { $($body:tt)* }
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: name the client stub after the trait, as in `pub struct ",
            ::std::stringify!($name),
            "Client;`"
        ));
    };
    (@start
        $(#[$($tattr:tt)*])*
        $tvis:vis trait $name:ident $($rest:tt)*
    ) => {
        ::std::compile_error!(
            "service!: the trait takes no generics or supertraits (it is always `Send + Sync + 'static`), and only `struct CLIENT;` may follow it"
        );
    };
    (@start $($rest:tt)*) => {
        ::std::compile_error!(
            "service!: expected `trait NAME { fn method(&self, arg: Type) -> Type; ... } struct NAMEClient;`"
        );
    };

    // ---- one method at a time ---------------------------------------------
    //
    // Each method becomes `{ [attributes] name [args] [trait return] [value] [reply] }`:
    // the value is what the client receives, the reply what the trait method
    // returns (a `Reply` whose `Value` is the value). Methods whose value is
    // `()` also go to the second list, for one-way notifications.

    (@method $ctx:tt [$($ms:tt)*] [$($us:tt)*]
        $(#[$($attr:tt)*])*
        fn $m:ident (&self $(, $arg:ident : $ty:ty)* $(,)?) $(-> ())? ;
        $($rest:tt)*
    ) => {
        $crate::__service! { @method $ctx
            [$($ms)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [] [()] [()] }]
            [$($us)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [] [()] [()] }]
            $($rest)*
        }
    };
    (@method $ctx:tt [$($ms:tt)*] [$($us:tt)*]
        $(#[$($attr:tt)*])*
        fn $m:ident (&self $(, $arg:ident : $ty:ty)* $(,)?) -> Result<(), $err:ty> ;
        $($rest:tt)*
    ) => {
        $crate::__service! { @method $ctx
            [$($ms)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [-> Result<(), $err>] [()] [Result<(), $err>] }]
            [$($us)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [-> Result<(), $err>] [()] [Result<(), $err>] }]
            $($rest)*
        }
    };
    (@method $ctx:tt [$($ms:tt)*] $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident (&self $(, $arg:ident : $ty:ty)* $(,)?) -> Result<$ok:ty, $err:ty> ;
        $($rest:tt)*
    ) => {
        $crate::__service! { @method $ctx
            [$($ms)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [-> Result<$ok, $err>] [$ok] [Result<$ok, $err>] }]
            $us
            $($rest)*
        }
    };
    (@method $ctx:tt [$($ms:tt)*] $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident (&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty ;
        $($rest:tt)*
    ) => {
        $crate::__service! { @method $ctx
            [$($ms)* { [$([$($attr)*])*] $m [$($arg : $ty),*] [-> $ret] [$ret] [$ret] }]
            $us
            $($rest)*
        }
    };

    // Misuse, with a message naming the method.
    (@method $ctx:tt $ms:tt $us:tt
        $(#[$($attr:tt)*])*
        async fn $m:ident $($rest:tt)*
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: method `", ::std::stringify!($m),
            "` cannot be `async`: methods block, and the client's `.start()` returns a `Pending` that is a `Future`"
        ));
    };
    (@method $ctx:tt $ms:tt $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident < $($rest:tt)*
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: method `", ::std::stringify!($m), "` cannot be generic"
        ));
    };
    (@method $ctx:tt $ms:tt $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident ($($args:tt)*) $(-> $ret:ty)? { $($body:tt)* }
        $($rest:tt)*
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: method `", ::std::stringify!($m),
            "` has a body; declare it ending with `;` and write the body in the trait's `impl`"
        ));
    };
    (@method $ctx:tt $ms:tt $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident (&self $($args:tt)*) $($rest:tt)*
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: in method `", ::std::stringify!($m),
            "`, write each argument as `name: Type` after `&self`, and end the declaration with `;`"
        ));
    };
    (@method $ctx:tt $ms:tt $us:tt
        $(#[$($attr:tt)*])*
        fn $m:ident ($($args:tt)*) $($rest:tt)*
    ) => {
        ::std::compile_error!(::std::concat!(
            "service!: method `", ::std::stringify!($m),
            "` must take `&self` first: `fn ", ::std::stringify!($m), "(&self, ...)`"
        ));
    };
    (@method $ctx:tt [$($ms:tt)*] [$($us:tt)*]) => {
        $crate::__service! { @emit $ctx [$($ms)*] [$($us)*] }
    };
    (@method $ctx:tt $ms:tt $us:tt $($rest:tt)*) => {
        ::std::compile_error!(
            "service!: expected `fn method(&self, arg: Type) -> Type;` in the trait"
        );
    };

    // ---- the items -----------------------------------------------------------

    (@emit
        { [$($tattr:tt)*] [$tvis:vis] $name:ident [$($cattr:tt)*] [$cvis:vis] $client:ident }
        [$({
            [$([$($attr:tt)*])*] $m:ident [$($arg:ident : $ty:ty),*]
            [$($tret:tt)*] [$value:ty] [$reply:ty]
        })*]
        $units:tt
    ) => {
        $($tattr)*
        #[doc = ""]
        #[doc = ::std::concat!(
            "A `service!` trait: the server side of the `", ::std::stringify!($name),
            "` service. Implement it, then call `register_on` to serve each method as `",
            ::std::stringify!($name), ".METHOD`; `", ::std::stringify!($client),
            "` calls them."
        )]
        $tvis trait $name: ::std::marker::Send + ::std::marker::Sync + 'static {
            $(
                $(#[$($attr)*])*
                #[doc = ""]
                #[doc = ::std::concat!(
                    "Serves the remote method `", ::std::stringify!($name), ".",
                    ::std::stringify!($m), "`."
                )]
                fn $m(&self $(, $arg: $ty)*) $($tret)*;
            )*

            #[doc = ::std::concat!(
                "Registers this implementation on `server`, each method under `",
                ::std::stringify!($name), ".METHOD`, replacing handlers of the same names."
            )]
            ///
            /// Several services can share one server. The implementation is
            /// moved into an `Arc` shared by the handlers; keep shared state
            /// behind an `Arc` inside it to reach it from elsewhere too.
            #[allow(deprecated)] // Registering a deprecated method is not a use of it.
            fn register_on(self, server: &mut $crate::Server) -> &mut $crate::Server
            where
                Self: ::std::marker::Sized,
            {
                let this = ::std::sync::Arc::new(self);
                $(
                    $crate::__service! { @cfg [$([$($attr)*])*] {
                        // One check per argument, so that a type the server
                        // cannot decode (`&str`) is reported at the user's own
                        // line, the type's span.
                        $( $crate::__private::service::argument::<$ty>(); )*
                        let this = ::std::sync::Arc::clone(&this);
                        $crate::__private::service::register(
                            server,
                            ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)),
                            &[$(::std::stringify!($arg)),*],
                            move |ctx: &$crate::Context, ($($arg,)*): ($($ty,)*)| {
                                $crate::__private::service::with_context(ctx, || this.$m($($arg),*))
                            },
                        );
                    } }
                )*
                server
            }
        }

        $($cattr)*
        #[doc = ""]
        #[doc = ::std::concat!(
            "A typed client of the `", ::std::stringify!($name),
            "` service, generated by `service!`: one method per remote method, each calling `",
            ::std::stringify!($name), ".METHOD` on the server."
        )]
        ///
        /// The mode `M` says how the methods call: `stdrpc::stub::Wait` (the
        /// default) waits for each result, `Start` (from `start()`) returns a
        /// `Pending` at once, `Timeout` (from `with_timeout()`) waits at most a
        /// set time, and `Notify` (from `notify()`, when the service has methods
        /// that return nothing) sends one-way notifications. Cloning is cheap:
        /// every clone shares one connection.
        $cvis struct $client<M = $crate::stub::Wait> {
            client: $crate::Client,
            mode: M,
        }

        impl<M: ::std::clone::Clone> ::std::clone::Clone for $client<M> {
            fn clone(&self) -> Self {
                $client {
                    client: ::std::clone::Clone::clone(&self.client),
                    mode: ::std::clone::Clone::clone(&self.mode),
                }
            }
        }

        impl<M: ::std::fmt::Debug> ::std::fmt::Debug for $client<M> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(::std::stringify!($client))
                    .field("client", &self.client)
                    .field("mode", &self.mode)
                    .finish()
            }
        }

        impl ::std::convert::From<$crate::Client> for $client {
            fn from(client: $crate::Client) -> Self {
                $client::new(client)
            }
        }

        impl<M> $client<M> {
            /// The underlying client, for calls by name or `flush()`.
            pub fn client(&self) -> &$crate::Client {
                &self.client
            }

            /// Unwraps the underlying client (to `close()` it, for example).
            pub fn into_client(self) -> $crate::Client {
                self.client
            }
        }

        // A remote `len` returns a `Result`; an `is_empty` beside it would not help.
        #[allow(clippy::len_without_is_empty)]
        impl $client<$crate::stub::Wait> {
            #[doc = ::std::concat!(
                "A stub over `client`, a connection to a server where `",
                ::std::stringify!($name), "` is registered."
            )]
            pub fn new(client: $crate::Client) -> Self {
                $client { client, mode: $crate::stub::Wait }
            }

            /// Connects and authenticates with `authkey`, as `Client::connect`.
            ///
            /// # Errors
            /// As `stdrpc::Client::connect`: the connection cannot be opened,
            /// the keys differ, or the handshake deadline passes.
            pub fn connect(
                addr: impl $crate::ToAddress,
                authkey: &[u8],
            ) -> $crate::Result<Self> {
                $crate::Client::connect(addr, authkey).map($client::new)
            }

            /// This stub in pipelined mode: its methods send the call and return
            /// a `Pending` at once (wait for it, or `.await` it).
            pub fn start(&self) -> $client<$crate::stub::Start> {
                $client { client: ::std::clone::Clone::clone(&self.client), mode: $crate::stub::Start }
            }

            /// This stub with a deadline: its methods wait at most `timeout`
            /// for each result, then fail with `Error::Timeout` (the call may
            /// still run on the server).
            pub fn with_timeout(
                &self,
                timeout: ::std::time::Duration,
            ) -> $client<$crate::stub::Timeout> {
                $client {
                    client: ::std::clone::Clone::clone(&self.client),
                    mode: $crate::stub::Timeout::new(timeout),
                }
            }

            $(
                $(#[$($attr)*])*
                #[doc = ""]
                #[doc = ::std::concat!(
                    "Calls `", ::std::stringify!($name), ".", ::std::stringify!($m),
                    "` on the server and waits for the result."
                )]
                ///
                /// # Errors
                /// `Error::Remote` when the server reports a failure (a handler's
                /// `Err` has kind `RemoteKind::Handler` and its text), or any
                /// error of `Client::call`.
                pub fn $m(&self $(, $arg: $ty)*) -> $crate::Result<$value> {
                    $crate::__private::service::call::<$reply, $value, _>(
                        &self.client,
                        ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)),
                        ($($arg,)*),
                    )
                }
            )*
        }

        // A remote `len` returns a `Result`; an `is_empty` beside it would not help.
        #[allow(clippy::len_without_is_empty)]
        impl $client<$crate::stub::Start> {
            $(
                $(#[$($attr)*])*
                #[doc = ""]
                #[doc = ::std::concat!(
                    "Sends a call to `", ::std::stringify!($name), ".", ::std::stringify!($m),
                    "` and returns at once; `wait()` for the `Pending` or `.await` it."
                )]
                ///
                /// # Errors
                /// The call could not be sent, as `Client::start`; the outcome of
                /// the call itself comes from the `Pending`.
                pub fn $m(&self $(, $arg: $ty)*) -> $crate::Result<$crate::Pending<$value>> {
                    $crate::__private::service::start::<$reply, $value, _>(
                        &self.client,
                        ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)),
                        ($($arg,)*),
                    )
                }
            )*
        }

        // A remote `len` returns a `Result`; an `is_empty` beside it would not help.
        #[allow(clippy::len_without_is_empty)]
        impl $client<$crate::stub::Timeout> {
            $(
                $(#[$($attr)*])*
                #[doc = ""]
                #[doc = ::std::concat!(
                    "Calls `", ::std::stringify!($name), ".", ::std::stringify!($m),
                    "` and waits for the result, at most the timeout of this stub."
                )]
                ///
                /// # Errors
                /// `Error::Timeout` when no reply came in time, or as the waiting
                /// method of the same name.
                pub fn $m(&self $(, $arg: $ty)*) -> $crate::Result<$value> {
                    $crate::__private::service::call_timeout::<$reply, $value, _>(
                        &self.client,
                        ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)),
                        ($($arg,)*),
                        &self.mode,
                    )
                }
            )*
        }

        $crate::__service! { @notify $name $client $units }
    };

    // The one-way methods, and `notify()`, only if some method returns nothing.
    (@notify $name:ident $client:ident []) => {};
    (@notify $name:ident $client:ident [$({
        [$([$($attr:tt)*])*] $m:ident [$($arg:ident : $ty:ty),*]
        [$($tret:tt)*] [$value:ty] [$reply:ty]
    })+]) => {
        impl $client<$crate::stub::Wait> {
            /// This stub in one-way mode: its methods (those that return
            /// nothing) send notifications, which get no reply.
            pub fn notify(&self) -> $client<$crate::stub::Notify> {
                $client { client: ::std::clone::Clone::clone(&self.client), mode: $crate::stub::Notify }
            }
        }

        // A remote `len` returns a `Result`; an `is_empty` beside it would not help.
        #[allow(clippy::len_without_is_empty)]
        impl $client<$crate::stub::Notify> {
            $(
                $(#[$($attr)*])*
                #[doc = ""]
                #[doc = ::std::concat!(
                    "Sends `", ::std::stringify!($name), ".", ::std::stringify!($m),
                    "` as a one-way notification: no reply, no waiting."
                )]
                ///
                /// The notifications of one connection run on the server in the
                /// order they were sent; a failure there is counted on the
                /// server, not reported back.
                ///
                /// # Errors
                /// The notification could not be queued, as `Client::notify`.
                pub fn $m(&self $(, $arg: $ty)*) -> $crate::Result<()> {
                    $crate::__private::service::notify::<$reply, _>(
                        &self.client,
                        ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)),
                        ($($arg,)*),
                    )
                }
            )*
        }
    };

    // A registration statement under the method's `#[cfg]`s, if it has any;
    // other attributes (docs, `deprecated`, ...) belong to items only.
    (@cfg [] { $($stmt:tt)* }) => {
        { $($stmt)* }
    };
    (@cfg [[cfg $($c:tt)*] $($rest:tt)*] { $($stmt:tt)* }) => {
        #[cfg $($c)*]
        $crate::__service! { @cfg [$($rest)*] { $($stmt)* } }
    };
    (@cfg [[$($other:tt)*] $($rest:tt)*] $stmt:tt) => {
        $crate::__service! { @cfg [$($rest)*] $stmt }
    };
}
