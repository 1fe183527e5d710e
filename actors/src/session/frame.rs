//! What the session reads and writes: WebSocket frames without the
//! WebSocket library, so a test can drive a session over plain channels.

use bytes::Bytes;
use metaverse_protocol::Codec;

/// One WebSocket message, as far as the session cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// MessagePack; the frame type, not a header, tells the codec.
    Binary(Bytes),
    /// JSON, already known to be UTF-8 so it is never validated twice.
    Text(Text),
    /// Keeps the connection alive: the session sends them, and any it gets
    /// counts as a sign of life.
    Ping(Bytes),
    /// A sign of life that resets the idle timeout and is otherwise ignored.
    Pong(Bytes),
    /// A close with its code and reason (a close without a status carries
    /// whatever code the transport reports for that, e.g. 1005).
    Close(u16, String),
}

/// The payload of a text frame, known to be UTF-8. The guarantee lets the
/// server hand JSON frames to its WebSocket library without validating
/// every byte again for every recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(Bytes);

impl Text {
    /// The checked way in, for bytes whose origin does not already guarantee
    /// UTF-8.
    pub fn new(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(Self(bytes))
    }

    /// # Safety
    ///
    /// `bytes` must be valid UTF-8.
    pub unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// Lets a reader decode JSON without taking the frame apart.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Gives the shared buffer back without copying, for the decoder or the
    /// WebSocket library.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Bytes::from(s))
    }
}

/// An encoded server message as the frame its codec travels in.
pub(crate) fn encoded(codec: Codec, frame: Bytes) -> Frame {
    match codec {
        Codec::MsgPack => Frame::Binary(frame),
        // SAFETY: JSON frames reaching a session were all made by
        // `Codec::Json.encode`, and serde_json writes UTF-8 only.
        Codec::Json => Frame::Text(unsafe { Text::from_utf8_unchecked(frame) }),
    }
}
