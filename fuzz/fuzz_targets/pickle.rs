//! The pickle decoder (stock Python `BaseManager` peers): any bytes. It
//! must never panic, and what it accepts must survive its own encoding in
//! every protocol it writes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stdrpc::python::{from_pickle, to_pickle};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = from_pickle(data) else {
        return;
    };
    for protocol in 2..=5 {
        let bytes = to_pickle(&value, protocol);
        let again = from_pickle(&bytes).unwrap_or_else(|e| {
            panic!("protocol {protocol}: our own pickle fails: {e}\n{value:?}")
        });
        // NaN is not equal to itself; compare the encodings instead.
        assert_eq!(
            to_pickle(&again, protocol),
            bytes,
            "protocol {protocol}: a round trip changed {value:?}"
        );
    }
});
