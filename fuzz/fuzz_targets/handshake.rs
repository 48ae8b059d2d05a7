//! The authkey handshake, both roles, against a scripted peer. The script
//! (the fuzz input) says what the peer sends: raw bytes, frames of any
//! content, challenges of every kind, `#WELCOME#`/`#FAILURE#`, and — the
//! only way to prove the key — answers it computes with the key to the last
//! challenge the role under test wrote.
//!
//! Properties: nothing panics, and a role that completes the handshake has
//! seen the peer prove the key (with SHA-256 when strict).
//!
//! Input: a flags byte (bit 0: test the client role, else the server; bit 1:
//! strict), then the script, one operation per byte (see `Peer::refill`).

#![no_main]

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use stdrpc::__private::crypto::{hmac_md5, hmac_sha256};
use stdrpc::__private::fuzz::{auth_client, auth_server};

const KEY: &[u8] = b"fuzzing key";

struct Peer<'a> {
    script: &'a [u8],
    pending: VecDeque<u8>,
    /// What the role under test wrote.
    written: Vec<u8>,
    /// The peer sent an answer computed with the key (with SHA-256).
    proved: bool,
    proved_sha256: bool,
    /// The most bytes one read returns.
    max_read: usize,
}

impl Peer<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.script.split_first()?;
        self.script = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.script.len());
        let (a, b) = self.script.split_at(n);
        self.script = b;
        a.to_vec()
    }

    fn frame(&mut self, payload: &[u8]) {
        self.pending.extend((payload.len() as u32).to_be_bytes());
        self.pending.extend(payload);
    }

    /// The message (after `#CHALLENGE#`) of the last challenge the role
    /// under test wrote, parsing its output as frames.
    fn last_challenge(&self) -> Option<Vec<u8>> {
        let mut out = &self.written[..];
        let mut last = None;
        while out.len() >= 4 {
            let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
            let payload = out.get(4..4 + len)?;
            if let Some(m) = payload.strip_prefix(b"#CHALLENGE#") {
                last = Some(m.to_vec());
            }
            out = &out[4 + len..];
        }
        last
    }

    /// Turns the next script operation into bytes to read; false once the
    /// script is exhausted (the peer then closes).
    fn refill(&mut self) -> bool {
        let Some(op) = self.byte() else {
            return false;
        };
        match op % 13 {
            0 => {
                let n = usize::from(self.byte().unwrap_or(0));
                let raw = self.take(n);
                self.pending.extend(raw);
            }
            1 => {
                let n = usize::from(self.byte().unwrap_or(0)) * 2;
                let payload = self.take(n);
                self.frame(&payload);
            }
            2 => {
                if let Some(m) = self.last_challenge() {
                    let mut a = b"{sha256}".to_vec();
                    a.extend(hmac_sha256(KEY, &m));
                    self.frame(&a);
                    self.proved = true;
                    self.proved_sha256 = true;
                }
            }
            3 => {
                if let Some(m) = self.last_challenge() {
                    self.frame(&hmac_md5(KEY, &m));
                    self.proved = true;
                }
            }
            4 => {
                if let Some(m) = self.last_challenge() {
                    let mut a = b"{md5}".to_vec();
                    a.extend(hmac_md5(KEY, &m));
                    self.frame(&a);
                    self.proved = true;
                }
            }
            5 => self.frame(b"#WELCOME#"),
            6 => self.frame(b"#FAILURE#"),
            7 => {
                let mut c = b"#CHALLENGE#{sha256}".to_vec();
                c.extend(self.take(40));
                self.frame(&c);
            }
            8 => {
                let mut c = b"#CHALLENGE#".to_vec();
                c.extend(self.take(20));
                self.frame(&c);
            }
            9 => {
                let mut c = b"#CHALLENGE#{md5}".to_vec();
                c.extend(self.take(40));
                self.frame(&c);
            }
            10 => {
                // A challenge naming some other digest.
                let n = usize::from(self.byte().unwrap_or(0) % 12);
                let mut c = b"#CHALLENGE#{".to_vec();
                c.extend(self.take(n));
                c.push(b'}');
                c.extend(self.take(40));
                self.frame(&c);
            }
            11 => {
                let head = self.take(4);
                self.pending.extend(head);
            }
            _ => self.max_read = 1 + usize::from(self.byte().unwrap_or(0) % 16),
        }
        true
    }
}

impl Read for Peer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            if !self.refill() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len()).min(self.max_read);
        for (b, p) in buf[..n].iter_mut().zip(self.pending.drain(..n)) {
            *b = p;
        }
        Ok(n)
    }
}

impl Write for Peer<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, script)) = input.split_first() else {
        return;
    };
    let (client_role, strict) = (flags & 1 == 1, flags & 2 == 2);
    let mut peer = Peer {
        script,
        pending: VecDeque::new(),
        written: Vec::new(),
        proved: false,
        proved_sha256: false,
        max_read: usize::MAX,
    };
    let result = if client_role {
        auth_client(&mut peer, KEY, strict)
    } else {
        auth_server(&mut peer, KEY, strict)
    };
    if result.is_ok() {
        assert!(
            peer.proved,
            "authenticated a peer that never proved the key"
        );
        assert!(
            !strict || peer.proved_sha256,
            "strict, yet authenticated a peer that proved the key only with MD5"
        );
    }
    // Whatever happened, the role wrote only whole frames of at most 256 bytes.
    let mut out = &peer.written[..];
    while !out.is_empty() {
        assert!(out.len() >= 4, "a partial frame header");
        let len = u32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert!(len <= 256 && out.len() >= 4 + len, "a bad frame written");
        out = &out[4 + len..];
    }
});
