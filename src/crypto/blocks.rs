//! The input side both hashes share: MD5 and SHA-256 cut the message into
//! 64-byte blocks and pad it the same way (Merkle–Damgård); they differ only
//! in the compression function, their state, and the byte order of the
//! length in the padding.

/// Bytes per block of MD5 and of SHA-256.
pub(super) const BLOCK_LEN: usize = 64;

/// Buffers input into whole blocks for a compression function.
#[derive(Clone)]
pub(super) struct Blocks {
    buffer: [u8; BLOCK_LEN],
    buffered: usize,
    /// Total message length in bytes (modulo 2^64).
    length: u64,
}

impl Blocks {
    /// No input yet.
    pub(super) const fn new() -> Blocks {
        Blocks {
            buffer: [0; BLOCK_LEN],
            buffered: 0,
            length: 0,
        }
    }

    /// How many bytes have been fed in (modulo 2^64).
    pub(super) fn length(&self) -> u64 {
        self.length
    }

    /// Feeds `data`, passing every block it completes to `compress`.
    pub(super) fn update(&mut self, mut data: &[u8], mut compress: impl FnMut(&[u8; BLOCK_LEN])) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let take = (BLOCK_LEN - self.buffered).min(data.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < BLOCK_LEN {
                return;
            }
            compress(&self.buffer);
            self.buffered = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK_LEN);
        for block in &mut blocks {
            compress(block.try_into().expect("chunks_exact yields whole blocks"));
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// Pads the message (0x80, zeros up to 56 mod 64, then the length in
    /// bits as `encode` writes it) and passes the last blocks to `compress`.
    pub(super) fn finish(
        mut self,
        encode: fn(u64) -> [u8; 8],
        mut compress: impl FnMut(&[u8; BLOCK_LEN]),
    ) {
        let bit_len = self.length.wrapping_mul(8);
        let mut padding = [0u8; BLOCK_LEN];
        padding[0] = 0x80;
        let pad_len = if self.buffered < 56 {
            56 - self.buffered
        } else {
            120 - self.buffered
        };
        self.update(&padding[..pad_len], &mut compress);
        self.update(&encode(bit_len), &mut compress);
        debug_assert_eq!(self.buffered, 0);
    }
}
