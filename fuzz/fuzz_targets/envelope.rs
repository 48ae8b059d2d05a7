//! The message parser: any bytes after the handshake. It must never panic;
//! whatever it accepts must print (its `Debug` form walks every field).

#![no_main]

use libfuzzer_sys::fuzz_target;
use stdrpc::__private::fuzz::parse_message;

fuzz_target!(|frame: &[u8]| {
    if let Ok(text) = parse_message(frame) {
        assert!(!text.is_empty());
        // A message is never a pickle: the first byte 0x80 is reserved.
        assert_ne!(frame.first(), Some(&0x80), "{text}");
    }
});
