//! Wire messages of the metaverse server and their two codecs.
//!
//! Every message, both ways, is `{"type": string, "payload": object}`. A
//! binary WebSocket frame carries it as MessagePack (a map with string keys,
//! the same shape as the JSON); a text frame carries it as JSON. No I/O and
//! no async here, so clients, the server and the bench harness share it.

#![warn(missing_docs)]

pub mod attachment;
pub mod batch;
pub mod codec;
pub mod error;
pub mod message;

pub use attachment::Attachment;
pub use batch::batch_frames;
pub use codec::{Codec, DecodeError, MAX_FRAME_BYTES};
pub use error::ErrorCode;
pub use message::{CLIENT_TYPES, ClientMsg, Position, RtcKind, ServerMsg, SpaceSize, UserPosition, ViewSize};
