//! `batch` frames built from events that were encoded once.
//!
//! A space encodes each world event once per codec and then sends the
//! same bytes inside the batch of every session that sees it. Re-encoding
//! a `ServerMsg::Batch` per session would cost N encodes per event; here a
//! batch is a fixed envelope around the concatenated event bytes, which is
//! valid MessagePack (an array is a header followed by its elements) and
//! valid JSON (elements joined by commas).

use bytes::{BufMut, Bytes, BytesMut};

use crate::Codec;

/// `{"type":"batch","payload":{"events":` as a MessagePack map prefix.
const MSGPACK_HEAD: &[u8] = b"\x82\xa4type\xa5batch\xa7payload\x81\xa6events";
/// The most events one batch holds: MessagePack's largest array header
/// (array32) cannot count more.
const MAX_EVENTS: usize = u32::MAX as usize;
const JSON_HEAD: &[u8] = br#"{"type":"batch","payload":{"events":["#;
const JSON_TAIL: &[u8] = b"]}}";

/// Packs already-encoded events (each a whole `{type, payload}` message in
/// `codec`) into `batch` frames of at most about `limit` bytes each, in
/// order. An event larger than `limit` travels alone in its batch.
pub fn batch_frames(codec: Codec, events: &[Bytes], limit: usize) -> Vec<Bytes> {
    let mut frames = Vec::new();
    let mut start = 0;
    while start < events.len() {
        let mut end = start;
        let mut size = 0;
        while end < events.len() && end - start < MAX_EVENTS && (end == start || size + events[end].len() < limit) {
            size += events[end].len() + 1;
            end += 1;
        }
        frames.push(pack(codec, &events[start..end], size));
        start = end;
    }
    frames
}

fn pack(codec: Codec, events: &[Bytes], size: usize) -> Bytes {
    let mut out = BytesMut::with_capacity(size + 32);
    match codec {
        Codec::MsgPack => {
            out.put_slice(MSGPACK_HEAD);
            put_array_header(&mut out, events.len());
            for e in events {
                out.put_slice(e);
            }
        }
        Codec::Json => {
            out.put_slice(JSON_HEAD);
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    out.put_u8(b',');
                }
                out.put_slice(e);
            }
            out.put_slice(JSON_TAIL);
        }
    }
    out.freeze()
}

/// MessagePack's array header for `n` elements, in its shortest form.
/// `batch_frames` never packs more than [`MAX_EVENTS`], so array32 fits.
fn put_array_header(out: &mut BytesMut, n: usize) {
    match (u8::try_from(n), u16::try_from(n)) {
        (Ok(small), _) if small < 16 => out.put_u8(0x90 | small),
        (_, Ok(n16)) => {
            out.put_u8(0xdc);
            out.put_u16(n16);
        }
        _ => {
            out.put_u8(0xdd);
            out.put_u32(u32::try_from(n).expect("batch_frames packs at most MAX_EVENTS events"));
        }
    }
}
