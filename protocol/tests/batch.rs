//! A batch built from once-encoded events decodes, in both codecs, to the
//! same events in the same order, and splits where the size limit says.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use metaverse_protocol::{Codec, ServerMsg, batch_frames};

fn events(n: usize) -> Vec<ServerMsg> {
    (0..n)
        .map(|i| match i % 4 {
            0 => ServerMsg::Movement {
                user_id: format!("u{i}"),
                x: i32::try_from(i).unwrap(),
                y: -i32::try_from(i).unwrap(),
            },
            1 => ServerMsg::ViewEnter {
                user_id: format!("u{i}"),
                x: 1,
                y: 2,
                username: Some("ada".into()),
                avatar_id: None,
            },
            2 => ServerMsg::ViewLeave { user_id: format!("u{i}") },
            _ => ServerMsg::UserLeft { user_id: format!("u{i}") },
        })
        .collect()
}

fn unpack(codec: Codec, frames: &[Bytes]) -> Vec<ServerMsg> {
    frames
        .iter()
        .flat_map(|f| match codec.decode::<ServerMsg>(f, usize::MAX).expect("a batch decodes") {
            ServerMsg::Batch { events } => events,
            other => panic!("not a batch: {other:?}"),
        })
        .collect()
}

#[test]
fn batches_decode_to_their_events_in_order() {
    for codec in [Codec::MsgPack, Codec::Json] {
        // 15 and 16 straddle MessagePack's fixarray; 70,000 needs array32.
        for n in [1, 15, 16, 300, 70_000] {
            let msgs = events(n);
            let encoded: Vec<Bytes> = msgs.iter().map(|m| Bytes::from(codec.encode(m).unwrap())).collect();
            let frames = batch_frames(codec, &encoded, usize::MAX);
            assert_eq!(frames.len(), 1, "{codec:?} {n}");
            assert_eq!(unpack(codec, &frames), msgs, "{codec:?} {n}");
        }
    }
}

#[test]
fn batches_split_at_the_limit_and_keep_order() {
    for codec in [Codec::MsgPack, Codec::Json] {
        let msgs = events(1000);
        let encoded: Vec<Bytes> = msgs.iter().map(|m| Bytes::from(codec.encode(m).unwrap())).collect();
        let frames = batch_frames(codec, &encoded, 1024);
        assert!(frames.len() > 10, "{codec:?}: {} frames", frames.len());
        assert!(frames.iter().all(|f| f.len() <= 1024 + 64), "{codec:?}: a frame is over the limit");
        assert_eq!(unpack(codec, &frames), msgs, "{codec:?}");
        // An event bigger than the limit still goes, alone.
        let big = batch_frames(codec, &encoded[..3], 8);
        assert_eq!(big.len(), 3);
        assert_eq!(unpack(codec, &big), msgs[..3].to_vec());
    }
    assert!(batch_frames(Codec::Json, &[], 1024).is_empty());
}
