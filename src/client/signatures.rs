//! The signatures of typed calls, computed once per argument and result type
//! pair and cached: a call looks its fingerprints up instead of describing
//! and hashing its types each time.
//!
//! The cache key is the address of [`compute::<A, R>`], one function per type
//! pair. (`TypeId` would need `'static` types, and arguments are often
//! borrowed: `&str`.) Two instantiations may share an address only if their
//! machine code is identical, and then they compute the same signature, so a
//! shared entry is never wrong; one instantiation with several addresses
//! (one per codegen unit) only adds entries.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Mutex, OnceLock};

use crate::codec::shape::SigInfo;
use crate::codec::{Decode, Encode, Signature};
use crate::envelope::Check;
use crate::registry::Fnv;
use crate::sync::lock;

type Table = HashMap<usize, &'static SigInfo, BuildHasherDefault<Fnv>>;

/// Every signature computed so far, shared by all threads. Entries are
/// leaked on purpose: one per type pair the program calls with, a bounded
/// number fixed at compile time.
static SHARED: Mutex<Option<Table>> = Mutex::new(None);

/// How many direct-mapped slots sit in front of [`SHARED`].
const SLOTS: usize = 64;

/// The fast path: a slot, once filled, keeps its entry for good, so a hit is
/// one atomic load and one comparison, with no lock and no hashing beyond a
/// multiplication. Type pairs that collide on a slot take the lock.
static FAST: [OnceLock<(usize, &'static SigInfo)>; SLOTS] = [const { OnceLock::new() }; SLOTS];

fn slot(key: usize) -> usize {
    // Fibonacci hashing: the top bits of the product spread aligned
    // function addresses evenly.
    ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SLOTS
}

fn compute<A: Encode + ?Sized, R: Decode>() -> SigInfo {
    SigInfo::new(Signature::new(A::shape(), <R as Decode>::shape()))
}

/// The signature of a call with arguments `A` and result `R`.
pub(crate) fn of<A: Encode + ?Sized, R: Decode>() -> &'static SigInfo {
    let key = compute::<A, R> as fn() -> SigInfo as usize;
    let fast = &FAST[slot(key)];
    // (No let-chain: the MSRV is 1.85.)
    if let Some(&(k, sig)) = fast.get() {
        if k == key {
            return sig;
        }
    }
    let sig = {
        let mut shared = lock(&SHARED);
        let table = shared.get_or_insert_with(Table::default);
        *table
            .entry(key)
            .or_insert_with(|| Box::leak(Box::new(compute::<A, R>())))
    };
    // Taken by another pair already: this one goes on using the lock.
    let _ = fast.set((key, sig));
    sig
}

impl SigInfo {
    /// What a typed call carries.
    pub(crate) fn check(&self) -> Check {
        Check {
            args: self.args_fp,
            result: self.result_fp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_type_pair() {
        let a = of::<(u64, u64), i64>();
        assert_eq!(&*a.text, "(u64, u64) -> i64");
        assert!(std::ptr::eq(a, of::<(u64, u64), i64>()));
        let b = of::<(i64, i64), i64>();
        assert_eq!(&*b.text, "(i64, i64) -> i64");
        assert_ne!(a.args_fp, b.args_fp);
        assert_eq!(a.result_fp, b.result_fp);
        // Borrowed argument types work too.
        assert_eq!(&*of::<&str, String>().text, "(&str) -> String");
        assert_eq!(of::<&str, ()>().args_fp, of::<String, ()>().args_fp);
        // From another thread: the same leaked entry.
        let here = of::<Vec<u8>, bool>() as *const SigInfo as usize;
        let there = std::thread::spawn(|| of::<Vec<u8>, bool>() as *const SigInfo as usize)
            .join()
            .unwrap();
        assert_eq!(here, there);
    }
}
