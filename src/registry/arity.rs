//! The [`Handler`] implementations for closures of each arity, with and
//! without `&Context` as the first parameter. One macro writes both forms,
//! so they decode their arguments and report failures alike; the context,
//! when taken, is passed to the closure and is not part of its signature.

use std::sync::Arc;

use super::{
    Args, Erased, Failure, Handler, Reply, arg_failure, byte_string_encoding, decode_arg, finish,
    finish_args, signature,
};
use crate::codec::{Decode, Decoder, Shape};
use crate::context::Context;

/// The `Args` marker of a handler whose first parameter is `&Context`:
/// `Args` are the other parameters'. You never name it.
#[doc(hidden)]
#[derive(Debug)]
pub struct WithContext<Args>(std::marker::PhantomData<Args>);

/// A handler's parameters (other than `&Context`) as one tuple: how they
/// are decoded from the argument bytes, and their shapes.
trait Params: Sized {
    /// One parameter, whose type takes a byte string's bytes as they are
    /// (`Decode::BYTE_STRING`).
    const LONE_BYTE_STRING: bool;
    fn decode(args: &[u8]) -> Result<Self, Failure>;
    /// The parameters of arguments that are one byte string's bytes.
    fn decode_byte_string(bytes: Vec<u8>) -> Result<Self, Failure>;
    fn shapes() -> Vec<Shape>;
}

/// The erased form of a handler that `call` runs on its decoded parameters.
fn erase<P, R>(call: impl Fn(&Context, P) -> R + Send + Sync + 'static) -> Erased
where
    P: Params,
    R: Reply,
{
    Erased {
        bytes: Arc::new(
            move |ctx: &Context, args: Args<'_>, out: &mut Vec<u8>, tail: &mut Vec<u8>| {
                let decoded = match args {
                    Args::Bytes(args) => P::decode(args),
                    Args::ByteString(bytes) if P::LONE_BYTE_STRING => P::decode_byte_string(bytes),
                    Args::ByteString(bytes) => P::decode(&byte_string_encoding(&bytes)),
                };
                crate::budget::decoded();
                finish(call(ctx, decoded?), out, tail)
            },
        ),
        sig: signature::<R>(P::shapes()),
        params: None,
    }
}

macro_rules! handler_arity {
    ($(($($a:ident),*))*) => {$(
        #[allow(non_snake_case)] // The type parameters double as variable names.
        impl<$($a: Decode + 'static),*> Params for ($($a,)*) {
            const LONE_BYTE_STRING: bool =
                <[&str]>::len(&[$(stringify!($a)),*]) == 1 $(&& <$a as Decode>::BYTE_STRING)*;

            // The zero-parameter case neither counts nor decodes.
            #[allow(unused_mut, unused_variables)]
            fn decode(args: &[u8]) -> Result<Self, Failure> {
                const COUNT: usize = <[&str]>::len(&[$(stringify!($a)),*]);
                // Bounded: the server's memory budget charged this request
                // for it, and gets it back once the arguments are decoded,
                // as the handler starts.
                let mut d = Decoder::with_memory_bound(args);
                let mut position = 0;
                $(
                    position += 1;
                    let $a = decode_arg::<$a>(&mut d, position, COUNT)?;
                )*
                finish_args(d, COUNT)?;
                Ok(($($a,)*))
            }

            // Only called when `LONE_BYTE_STRING`: one parameter.
            #[allow(unused_mut, unused_variables)]
            fn decode_byte_string(bytes: Vec<u8>) -> Result<Self, Failure> {
                let mut bytes = Some(bytes);
                $(
                    let $a = <$a as Decode>::from_byte_string(bytes.take().unwrap_or_default())
                        .map_err(|e| arg_failure::<$a>(&e, 1, 1))?;
                )*
                Ok(($($a,)*))
            }

            fn shapes() -> Vec<Shape> {
                vec![$(<$a as Decode>::shape()),*]
            }
        }

        #[allow(non_snake_case)]
        impl<Func, Ret, $($a),*> Handler<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Ret + Send + Sync + 'static,
            Ret: Reply,
            $($a: Decode + 'static,)*
        {
            fn into_erased(self) -> Erased {
                erase::<($($a,)*), Ret>(move |_: &Context, ($($a,)*)| self($($a),*))
            }
        }

        #[allow(non_snake_case)]
        impl<Func, Ret, $($a),*> Handler<WithContext<($($a,)*)>> for Func
        where
            Func: Fn(&Context, $($a),*) -> Ret + Send + Sync + 'static,
            Ret: Reply,
            $($a: Decode + 'static,)*
        {
            fn into_erased(self) -> Erased {
                erase::<($($a,)*), Ret>(move |ctx: &Context, ($($a,)*)| self(ctx, $($a),*))
            }
        }
    )*};
}

handler_arity!(()(A)(A, B)(A, B, C)(A, B, C, D)(A, B, C, D, E)(
    A, B, C, D, E, F
));
