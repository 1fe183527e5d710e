//! Any uploaded bytes get an accepted file or a refusal, never a panic: a
//! panicking decoder would take the blocking thread's upload down with a
//! 503 and hide the bug. The pixel limit is small so each input is quick;
//! the checks it exercises are the same at any limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metaverse_server::media::inspect::inspect;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = inspect(data, 1_000_000) {
        // What is accepted is what is stored: never empty, and an image
        // comes with its thumbnail.
        assert!(!file.bytes.is_empty());
        assert_eq!(file.is_image(), file.thumbnail.is_some());
    }
});
