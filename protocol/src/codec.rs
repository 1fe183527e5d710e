//! Turning frames into messages and back, in the codec the frame arrived in,
//! with the size and depth limits that keep a hostile client cheap to refuse.

use serde::{Serialize, de::DeserializeOwned};

/// Default upper bound of one frame, in bytes (the server's `--ws-max-frame`
/// default). Larger frames are refused before they are decoded.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// How deeply a MessagePack frame may nest. Our messages nest three levels;
/// rmp-serde's default (1024) would let a hostile frame recurse deep.
const MAX_DEPTH: usize = 32;

/// The two wire encodings. Both carry the same shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// MessagePack with named fields (binary frames).
    MsgPack,
    /// JSON (text frames).
    Json,
}

/// Why a frame was refused: the session answers its `error` code and counts it towards close 4502.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Refused unread, so a hostile peer cannot make us parse a huge frame.
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge {
        /// The frame's length, reported so the client sees by how much it missed.
        size: usize,
        /// The limit in force: a server's `--ws-max-frame`, which defaults to [`MAX_FRAME_BYTES`].
        limit: usize,
    },
    /// Not a `{type, payload}` map, or a payload that does not fit its type; carries the parser's reason.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An envelope whose `type` (its first 64 bytes kept) this server does not know: a missing feature, not garbage.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
}

impl DecodeError {
    /// The [`crate::ErrorCode`] the session answers a refused frame with.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => crate::ErrorCode::TooLarge,
            DecodeError::Malformed(_) => crate::ErrorCode::Malformed,
            DecodeError::UnknownType(_) => crate::ErrorCode::UnknownType,
        }
    }
}

/// Only the `type` of an envelope, to tell "unknown type" from "bad payload".
#[derive(serde::Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
}

impl Codec {
    /// Encodes a message. Encoding our own types cannot fail short of a bug,
    /// so the error is reported rather than handled by callers.
    pub fn encode<T: Serialize>(self, msg: &T) -> Result<Vec<u8>, String> {
        match self {
            Codec::MsgPack => rmp_serde::to_vec_named(msg).map_err(|e| e.to_string()),
            Codec::Json => serde_json::to_vec(msg).map_err(|e| e.to_string()),
        }
    }

    /// Decodes one frame, refusing it unread when it is over `limit` bytes.
    pub fn decode<T: DeserializeOwned>(self, frame: &[u8], limit: usize) -> Result<T, DecodeError> {
        if frame.len() > limit {
            return Err(DecodeError::TooLarge { size: frame.len(), limit });
        }
        match self {
            Codec::MsgPack => {
                let mut de = rmp_serde::Deserializer::from_read_ref(frame);
                de.set_max_depth(MAX_DEPTH);
                T::deserialize(&mut de).map_err(|e| DecodeError::Malformed(e.to_string()))
            }
            Codec::Json => serde_json::from_slice(frame).map_err(|e| DecodeError::Malformed(e.to_string())),
        }
    }
}

impl Codec {
    /// Decodes a client frame. The envelope must be a map whose `type` is a
    /// string (serde alone would also take an array of the two fields, and
    /// MessagePack a variant index). A frame whose `type` is not one we
    /// know is reported as such.
    pub fn decode_client(self, frame: &[u8], limit: usize) -> Result<crate::ClientMsg, DecodeError> {
        if frame.len() > limit {
            return Err(DecodeError::TooLarge { size: frame.len(), limit });
        }
        if !self.is_map(frame) {
            return Err(DecodeError::Malformed("the message must be a map with type and payload".into()));
        }
        // MessagePack has no field order and would read an integer `type`
        // as a variant index; a borrowed pre-read of `type` rules that out.
        let known = match self {
            Codec::MsgPack => match self.peek_type(frame) {
                Ok(t) => Some(t),
                Err(_) => return Err(DecodeError::Malformed("`type` must be a string".into())),
            },
            Codec::Json => None,
        };
        self.decode(frame, limit).map_err(|e| match e {
            DecodeError::Malformed(_) => {
                let t = match known {
                    Some(t) => Ok(t),
                    None => self.peek_type(frame),
                };
                match t {
                    Ok(t) if !crate::message::CLIENT_TYPES.contains(&t.kind.as_ref()) => {
                        DecodeError::UnknownType(shorten(&t.kind, 64))
                    }
                    _ => e,
                }
            }
            other => other,
        })
    }

    fn peek_type(self, frame: &[u8]) -> Result<TypeOnly<'_>, ()> {
        match self {
            Codec::MsgPack => {
                let mut de = rmp_serde::Deserializer::from_read_ref(frame);
                de.set_max_depth(MAX_DEPTH);
                serde::Deserialize::deserialize(&mut de).map_err(|_| ())
            }
            Codec::Json => serde_json::from_slice(frame).map_err(|_| ()),
        }
    }

    /// Whether the frame's top-level value is a map/object (cheap: first byte).
    fn is_map(self, frame: &[u8]) -> bool {
        match self {
            Codec::MsgPack => matches!(frame.first(), Some(0x80..=0x8f | 0xde | 0xdf)),
            Codec::Json => frame.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
        }
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn shorten(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMsg, ErrorCode, ServerMsg};

    #[test]
    fn envelope_shape_is_type_and_payload() {
        let msg =
            ClientMsg::Join { space_id: "s1".into(), token: "t".into(), resume_token: None, batch: None, view: None };
        let json: serde_json::Value = serde_json::from_slice(&Codec::Json.encode(&msg).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"type": "join", "payload": {"spaceId": "s1", "token": "t"}}));
    }

    #[test]
    fn msgpack_is_a_map_with_the_json_shape() {
        let msg = ServerMsg::Error { code: ErrorCode::NotJoined, message: "join first".into() };
        let bytes = Codec::MsgPack.encode(&msg).unwrap();
        let as_value: serde_json::Value = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(as_value["type"], "error");
        assert_eq!(as_value["payload"]["code"], "not-joined");
        for codec in [Codec::MsgPack, Codec::Json] {
            let back: ServerMsg = codec.decode(&codec.encode(&msg).unwrap(), MAX_FRAME_BYTES).unwrap();
            assert_eq!(back, msg);
        }
    }

    #[test]
    fn oversized_and_malformed_frames_are_refused() {
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        assert!(matches!(Codec::Json.decode::<ClientMsg>(&big, MAX_FRAME_BYTES), Err(DecodeError::TooLarge { .. })));
        assert!(matches!(Codec::MsgPack.decode::<ClientMsg>(&[0xc1], MAX_FRAME_BYTES), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            Codec::Json.decode::<ClientMsg>(br#"{"type":"move","payload":{"x":"a"}}"#, MAX_FRAME_BYTES),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn deep_msgpack_nesting_is_refused() {
        // 200 nested one-element arrays: fine for a parser without a limit
        // to recurse into, refused here.
        let mut frame = vec![0x91; 200];
        frame.push(0xc0);
        assert!(Codec::MsgPack.decode::<serde_json::Value>(&frame, MAX_FRAME_BYTES).is_err());
    }
}
