//! HMAC (RFC 2104) over SHA-256 and MD5, and constant-time comparison of MACs.

use std::hint::black_box;

// The block size B of both SHA-256 and MD5.
use super::blocks::BLOCK_LEN;
use super::md5::Md5;
use super::sha256::Sha256;

/// A hash with a 64-byte block that HMAC can be built on.
trait BlockHash: Default {
    /// The digest type, e.g. `[u8; 32]`.
    type Output: AsRef<[u8]>;
    /// Feeds data into the hash.
    fn update(&mut self, data: &[u8]);
    /// Returns the digest.
    fn finalize(self) -> Self::Output;
}

impl BlockHash for Sha256 {
    type Output = [u8; 32];
    fn update(&mut self, data: &[u8]) {
        Sha256::update(self, data);
    }
    fn finalize(self) -> [u8; 32] {
        Sha256::finalize(self)
    }
}

impl BlockHash for Md5 {
    type Output = [u8; 16];
    fn update(&mut self, data: &[u8]) {
        Md5::update(self, data);
    }
    fn finalize(self) -> [u8; 16] {
        Md5::finalize(self)
    }
}

/// `H((K ^ opad) || H((K ^ ipad) || message))`, where K is `key` padded with
/// zeros to the block size, or `H(key)` padded if `key` is longer than a block.
fn hmac<H: BlockHash>(key: &[u8], message: &[u8]) -> H::Output {
    let mut block_key = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        let mut hasher = H::default();
        hasher.update(key);
        let digest = hasher.finalize();
        let digest = digest.as_ref();
        block_key[..digest.len()].copy_from_slice(digest);
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }

    let mut pad = [0u8; BLOCK_LEN];
    for (p, k) in pad.iter_mut().zip(block_key) {
        *p = k ^ 0x36;
    }
    let mut inner = H::default();
    inner.update(&pad);
    inner.update(message);
    let inner = inner.finalize();

    for (p, k) in pad.iter_mut().zip(block_key) {
        *p = k ^ 0x5c;
    }
    let mut outer = H::default();
    outer.update(&pad);
    outer.update(inner.as_ref());
    outer.finalize()
}

/// HMAC-SHA256 of `message` under `key` (RFC 2104, RFC 4231).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    hmac::<Sha256>(key, message)
}

/// HMAC-MD5 of `message` under `key` (RFC 2104, RFC 2202).
pub fn hmac_md5(key: &[u8], message: &[u8]) -> [u8; 16] {
    hmac::<Md5>(key, message)
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
///
/// Returns `false` at once if the lengths differ (a MAC's length is not
/// secret). Otherwise every byte is compared, with no early exit and no
/// data-dependent branch; `black_box` keeps the optimizer from
/// reintroducing one.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff = black_box(diff | (x ^ y));
    }
    black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;

    /// RFC 2202 section 2, test cases 1-7.
    #[test]
    fn rfc2202_hmac_md5() {
        let key_0x01_to_0x19: Vec<u8> = (0x01..=0x19).collect();
        let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
            (
                vec![0x0b; 16],
                b"Hi There".to_vec(),
                "9294727a3638bb1c13f48ef8158bfc9d",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (
                vec![0xaa; 16],
                vec![0xdd; 50],
                "56be34521d144c88dbb8c733f0e8b3f6",
            ),
            (
                key_0x01_to_0x19,
                vec![0xcd; 50],
                "697eaf0aca3a3aea3a75164746ffaa79",
            ),
            (
                vec![0x0c; 16],
                b"Test With Truncation".to_vec(),
                "56461ef2342edc00f9bab995690efd4c",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
            (
                vec![0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"
                    .to_vec(),
                "6f630fad67cda0ee1fb1f562db3aa53e",
            ),
        ];
        for (i, (key, data, expected)) in cases.iter().enumerate() {
            assert_eq!(hex(&hmac_md5(key, data)), *expected, "test case {}", i + 1);
        }
        // Case 5 as published: truncated to 96 bits.
        assert_eq!(
            hex(&hmac_md5(&[0x0c; 16], b"Test With Truncation")[..12]),
            "56461ef2342edc00f9bab995"
        );
    }

    /// RFC 4231 section 4, test cases 1-7.
    #[test]
    fn rfc4231_hmac_sha256() {
        let key_0x01_to_0x19: Vec<u8> = (0x01..=0x19).collect();
        let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                key_0x01_to_0x19,
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            // Truncated to 128 bits in the RFC: only the prefix is compared.
            (
                vec![0x0c; 20],
                b"Test With Truncation".to_vec(),
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
                    .to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (i, (key, data, expected)) in cases.iter().enumerate() {
            let mac = hex(&hmac_sha256(key, data));
            assert_eq!(&mac[..expected.len()], *expected, "test case {}", i + 1);
        }
    }

    #[test]
    fn key_of_exactly_one_block_is_not_hashed() {
        // A 64-byte key is used as is; a 65-byte key is hashed first, so the
        // two differ even though they share a prefix.
        let key = [0x42u8; 65];
        assert_ne!(hmac_sha256(&key[..64], b"m"), hmac_sha256(&key, b"m"));
        // A long key and its hash are equivalent (RFC 2104).
        assert_eq!(
            hmac_sha256(&key, b"m"),
            hmac_sha256(&crate::crypto::sha256(&key), b"m")
        );
        assert_eq!(
            hmac_md5(&key, b"m"),
            hmac_md5(&crate::crypto::md5(&key), b"m")
        );
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        let mac = hmac_sha256(b"key", b"message");
        assert!(constant_time_eq(&mac, &hmac_sha256(b"key", b"message")));
        for i in 0..mac.len() {
            for bit in 0..8 {
                let mut other = mac;
                other[i] ^= 1 << bit;
                assert!(!constant_time_eq(&mac, &other), "byte {i} bit {bit}");
            }
        }
    }
}
