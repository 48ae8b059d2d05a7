//! Unpredictable bytes from the operating system. See the module
//! documentation of `crypto` for where they come from on each platform.

use std::io;

/// Fills `buf` with unpredictable bytes from the operating system.
///
/// On Unix the bytes are read from `/dev/urandom`; if it cannot be opened or
/// read, that error is returned (there is no fallback to predictable bytes).
/// Elsewhere they are derived with SHA-256 from `std`'s OS-seeded
/// `RandomState` keys; this cannot fail.
pub fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    if buf.is_empty() {
        return Ok(());
    }
    #[cfg(unix)]
    {
        fill_from_urandom(buf)
    }
    #[cfg(not(unix))]
    {
        fill_from_random_state(buf);
        Ok(())
    }
}

/// Reads `buf.len()` bytes from `/dev/urandom`, which never blocks once the
/// kernel's generator is seeded and is available on every Unix.
#[cfg(unix)]
fn fill_from_urandom(buf: &mut [u8]) -> io::Result<()> {
    use std::io::Read;
    use std::sync::OnceLock;
    // Opened once and kept: two challenges per connection would otherwise
    // cost an open and a close each. `File::open` sets O_CLOEXEC;
    // `read_exact` retries on EINTR and short reads. If the first open fails,
    // later calls try again (nothing is cached but a success).
    static URANDOM: OnceLock<std::fs::File> = OnceLock::new();
    let file = match URANDOM.get() {
        Some(f) => f,
        None => {
            let opened = std::fs::File::open("/dev/urandom")?;
            URANDOM.get_or_init(|| opened)
        }
    };
    let mut reader: &std::fs::File = file;
    reader.read_exact(buf)
}

/// The non-Unix source: SHA-256 over fresh `RandomState` hashes, a
/// process-wide counter, the thread id and the clocks, expanded in counter
/// mode.
///
/// Each `RandomState::new()` is keyed from per-thread SipHash keys that `std`
/// draws from the OS generator (`ProcessPrng` / `BCryptGenRandom` on Windows),
/// so the output is as unpredictable as those 128-bit keys. The counter and
/// clocks keep successive calls distinct even if two calls see the same keys.
// Compiled on every platform, although only non-Unix builds call it, so that
// it is type-checked and unit-tested on Unix CI as well.
#[cfg_attr(unix, allow(dead_code))]
fn fill_from_random_state(buf: &mut [u8]) {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    use super::sha256::Sha256;

    static CALLS: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<Instant> = OnceLock::new();

    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let since_start = START.get_or_init(Instant::now).elapsed().as_nanos();
    let wall_clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let thread = std::thread::current().id();

    let mut seed = Sha256::new();
    seed.update(b"stdrpc fill_random seed v1\0");
    seed.update(&call.to_le_bytes());
    seed.update(&since_start.to_le_bytes());
    seed.update(&wall_clock.to_le_bytes());
    for i in 0..4u64 {
        let state = RandomState::new();
        seed.update(&state.hash_one((call, i, thread)).to_le_bytes());
    }
    let seed = seed.finalize();

    for (block, chunk) in (0u64..).zip(buf.chunks_mut(32)) {
        let mut hasher = Sha256::new();
        hasher.update(b"stdrpc fill_random block v1\0");
        hasher.update(&seed);
        hasher.update(&block.to_le_bytes());
        let bytes = hasher.finalize();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `fill` twice on buffers of several sizes and checks that the
    /// output is not all zeros and differs between calls.
    fn check_source(mut fill: impl FnMut(&mut [u8])) {
        for len in [1usize, 16, 31, 32, 33, 64, 100, 1000] {
            let mut a = vec![0u8; len];
            let mut b = vec![0u8; len];
            fill(&mut a);
            fill(&mut b);
            if len >= 16 {
                // 2^-128 chance of a false failure.
                assert!(a.iter().any(|&x| x != 0), "len {len}: all zeros");
                assert_ne!(a, b, "len {len}: two calls gave the same bytes");
            }
            if len >= 64 {
                // Blocks of 32 must not repeat.
                assert_ne!(a[..32], a[32..64], "len {len}: repeated block");
            }
        }
        let mut empty = [0u8; 0];
        fill(&mut empty);
    }

    #[test]
    fn fill_random_fills_and_differs() {
        check_source(|buf| fill_random(buf).expect("fill_random"));
    }

    #[test]
    fn fill_random_zero_length() {
        fill_random(&mut []).expect("zero-length fill_random");
    }

    #[test]
    fn random_state_fallback_fills_and_differs() {
        check_source(fill_from_random_state);
    }

    #[test]
    fn random_state_fallback_differs_across_threads() {
        let here = {
            let mut b = [0u8; 32];
            fill_from_random_state(&mut b);
            b
        };
        let there = std::thread::spawn(|| {
            let mut b = [0u8; 32];
            fill_from_random_state(&mut b);
            b
        })
        .join()
        .expect("thread");
        assert_ne!(here, there);
    }

    #[cfg(unix)]
    #[test]
    fn fill_random_uses_whole_buffer() {
        // The tail of a large buffer is written too (all 32 last bytes zero
        // has probability 2^-256).
        let mut buf = vec![0u8; 4096];
        fill_random(&mut buf).expect("fill_random");
        assert!(buf[4064..].iter().any(|&x| x != 0));
    }
}
