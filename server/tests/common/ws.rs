//! A WebSocket test client speaking either codec.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use metaverse_protocol::{ClientMsg, Codec, MAX_FRAME_BYTES, ServerMsg};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::CloseFrame},
};

/// How long a test waits for an expected message before failing. A bound on
/// failure, not a synchronisation: passing tests never wait it out.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct WsClient {
    pub codec: Codec,
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server sent next.
#[derive(Debug)]
pub enum Received {
    Msg(ServerMsg),
    Closed(Option<CloseFrame>),
}

impl WsClient {
    pub async fn connect(url: &str, codec: Codec) -> Self {
        let (stream, _) = connect_async(url).await.expect("websocket connects");
        Self { codec, stream }
    }

    /// Connects with extra request headers (Origin, subprotocols).
    pub async fn connect_with(
        url: &str,
        codec: Codec,
        headers: &[(&'static str, &str)],
    ) -> Result<(Self, Option<String>), String> {
        let mut req = url.into_client_request().unwrap();
        for (k, v) in headers {
            req.headers_mut()
                .insert(*k, HeaderValue::from_str(v).unwrap());
        }
        match connect_async(req).await {
            Ok((stream, resp)) => {
                let proto = resp
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                Ok((Self { codec, stream }, proto))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        let bytes = self.codec.encode(msg).unwrap();
        self.send_raw(bytes).await;
    }

    /// Sends bytes as a frame of this client's codec (binary or text).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let frame = match self.codec {
            Codec::MsgPack => Message::Binary(bytes.into()),
            Codec::Json => Message::Text(String::from_utf8(bytes).expect("json is utf-8").into()),
        };
        self.stream.send(frame).await.expect("send");
    }

    /// The next message or close, skipping pings and pongs.
    pub async fn next(&mut self) -> Received {
        loop {
            let item = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("timed out waiting for the server");
            match item {
                None => return Received::Closed(None),
                Some(Err(e)) => panic!("socket error: {e}"),
                Some(Ok(Message::Close(frame))) => return Received::Closed(frame),
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(self.codec, Codec::MsgPack, "binary frame to a JSON client");
                    return Received::Msg(
                        Codec::MsgPack
                            .decode(&b, MAX_FRAME_BYTES)
                            .expect("server frame decodes"),
                    );
                }
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(
                        self.codec,
                        Codec::Json,
                        "text frame to a MessagePack client"
                    );
                    return Received::Msg(
                        Codec::Json
                            .decode(t.as_bytes(), MAX_FRAME_BYTES)
                            .expect("server frame decodes"),
                    );
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message; panics on close.
    pub async fn recv(&mut self) -> ServerMsg {
        match self.next().await {
            Received::Msg(m) => m,
            Received::Closed(f) => panic!("socket closed: {f:?}"),
        }
    }

    /// Receives until `pick` accepts a message, failing on close or after
    /// `PATIENCE`. Returns the skipped messages too, for assertions.
    pub async fn recv_until<T>(
        &mut self,
        mut pick: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> (T, Vec<ServerMsg>) {
        let mut skipped = Vec::new();
        loop {
            let m = self.recv().await;
            if let Some(t) = pick(&m) {
                return (t, skipped);
            }
            skipped.push(m);
        }
    }

    /// The close frame the server sends next, skipping messages.
    pub async fn expect_close(&mut self) -> Option<CloseFrame> {
        loop {
            if let Received::Closed(f) = self.next().await {
                return f;
            }
        }
    }

    pub async fn join(&mut self, space_id: &str, token: &str) -> ServerMsg {
        self.send(&ClientMsg::Join {
            space_id: space_id.into(),
            token: token.into(),
            resume_token: None,
        })
        .await;
        self.recv().await
    }
}
