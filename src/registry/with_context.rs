//! Handlers whose first parameter is `&Context`: the context is passed to
//! them and is not part of their signature.

use std::sync::Arc;

use super::{Erased, Failure, Handler, Reply, decode_arg, finish, finish_args, signature};
use crate::codec::{Decode, Decoder};
use crate::context::Context;

/// The `Args` marker of a handler whose first parameter is `&Context`:
/// `Args` are the other parameters'. You never name it.
#[doc(hidden)]
#[derive(Debug)]
pub struct WithContext<Args>(std::marker::PhantomData<Args>);

impl<F, R> Handler<WithContext<()>> for F
where
    F: Fn(&Context) -> R + Send + Sync + 'static,
    R: Reply,
{
    fn into_erased(self) -> Erased {
        Erased {
            bytes: Arc::new(move |ctx: &Context, args: &[u8], out: &mut Vec<u8>| {
                let decoded = finish_args(Decoder::new(args), 0);
                crate::budget::decoded();
                decoded?;
                finish(self(ctx), out)
            }),
            sig: signature::<R>(Vec::new()),
            params: None,
        }
    }
}

/// The handlers that take `&Context` first: the context is passed, and is
/// not part of the signature (only the other parameters are).
macro_rules! handler_arity_with_context {
    ($(($($a:ident),+))*) => {$(
        #[allow(non_snake_case)] // The type parameters double as variable names.
        impl<Func, Ret, $($a),+> Handler<WithContext<($($a,)+)>> for Func
        where
            Func: Fn(&Context, $($a),+) -> Ret + Send + Sync + 'static,
            Ret: Reply,
            $($a: Decode + 'static,)+
        {
            fn into_erased(self) -> Erased {
                Erased {
                    bytes: Arc::new(move |ctx: &Context, args: &[u8], out: &mut Vec<u8>| {
                        const COUNT: usize = [$(stringify!($a)),+].len();
                        let mut d = Decoder::with_memory_bound(args);
                        let decoded = (|| {
                            let mut position = 0;
                            $(
                                position += 1;
                                let $a = decode_arg::<$a>(&mut d, position, COUNT)?;
                            )+
                            finish_args(d, COUNT)?;
                            Ok::<_, Failure>(($($a,)+))
                        })();
                        crate::budget::decoded();
                        let ($($a,)+) = decoded?;
                        finish(self(ctx, $($a),+), out)
                    }),
                    sig: signature::<Ret>(vec![$(<$a as Decode>::shape()),+]),
                    params: None,
                }
            }
        }
    )*};
}

handler_arity_with_context!((A)(A, B)(A, B, C)(A, B, C, D)(A, B, C, D, E)(
    A, B, C, D, E, F
));
