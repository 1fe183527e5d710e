//! A text WebSocket frame, whatever its bytes, is answered with a message or
//! a refusal, never a panic: a panic would drop the session's task.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metaverse_protocol::{Codec, MAX_FRAME_BYTES};

fuzz_target!(|data: &[u8]| {
    let _ = Codec::Json.decode_client(data, MAX_FRAME_BYTES);
});
