//! One WebSocket client: connect (optionally from a chosen loopback source
//! address), negotiate the codec's subprotocol, join a space, join a chat
//! room, send, and receive frames until the server closes.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{
        Message,
        client::IntoClientRequest,
        http::{HeaderValue, header::SEC_WEBSOCKET_PROTOCOL},
        protocol::{CloseFrame, WebSocketConfig},
    },
};

use crate::wire::{Codec, Event, In, Out, Pos, Size, View, for_each_event};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    pub codec: Codec,
    /// `batch` field of `join`, when set.
    pub batch: Option<bool>,
    /// `view` field of `join` (width, height in tiles), when set.
    pub view: Option<(u32, u32)>,
    /// tungstenite's read buffer per socket (allocated eagerly). It also
    /// zeroes the free part of the buffer, up to this size, before every
    /// read: at 16 KiB that memset was 9 % of the harness's CPU in `walk
    /// --spaces 250 --users 20`, where frames average 600 bytes.
    pub read_buffer: usize,
    /// Offer the codec's subprotocol in the upgrade.
    pub subprotocol: bool,
}

impl Target {
    /// Resolves the URL's host once, so thousands of sockets do not each
    /// look it up. Only `ws://` (the harness runs next to the server).
    pub async fn resolve(url: &str, codec: Codec, batch: Option<bool>) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("ws://").ok_or_else(|| anyhow!("--ws must be a ws:// URL, got {url:?}"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let hostport = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        let addr = tokio::net::lookup_host(&hostport)
            .await
            .with_context(|| format!("resolving {hostport}"))?
            .next()
            .ok_or_else(|| anyhow!("{hostport} has no address"))?;
        Ok(Self { url: url.to_owned(), addr, codec, batch, view: None, read_buffer: 4096, subprotocol: true })
    }

    /// The i-th of `n` source addresses (127.0.0.1, .2, …), when the
    /// server is on IPv4 loopback and more than one address is asked for.
    pub fn source(&self, i: usize, n: u8) -> Option<Ipv4Addr> {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && n > 1 => {
                Some(Ipv4Addr::new(127, 0, 0, 1 + u8::try_from(i % usize::from(n)).unwrap_or(0)))
            }
            _ => None,
        }
    }
}

/// Every WebSocket endpoint of a run: one server, or several nodes of a
/// cluster (`--ws URL1,URL2,…`), client i dialling endpoint i mod n.
#[derive(Clone, Debug)]
pub struct Targets(Vec<Target>);

impl Targets {
    /// Resolves each URL of the comma-separated list once.
    pub async fn resolve(spec: &str, codec: Codec, batch: Option<bool>) -> anyhow::Result<Self> {
        let mut all = Vec::new();
        for url in split_urls(spec)? {
            all.push(Target::resolve(url, codec, batch).await?);
        }
        Ok(Self(all))
    }

    /// The endpoint of client `i`.
    pub fn for_client(&self, i: usize) -> &Target {
        &self.0[i % self.0.len()]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The same setting for every endpoint.
    pub fn each(&mut self, mut f: impl FnMut(&mut Target)) {
        self.0.iter_mut().for_each(&mut f);
    }
}

/// The URLs of a comma-separated `--ws` list, in order (blanks around
/// commas are ignored; an empty entry is an error).
pub fn split_urls(spec: &str) -> anyhow::Result<Vec<&str>> {
    let urls: Vec<&str> = spec.split(',').map(str::trim).collect();
    if urls.iter().any(|u| u.is_empty()) {
        bail!("--ws has an empty entry: {spec:?} (expected ws://host:port/[,ws://…])");
    }
    Ok(urls)
}

/// Why a client stopped hearing from the server.
pub fn close_reason(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close (no code)".into(),
    }
}

pub struct Client {
    ws: WebSocketStream<TcpStream>,
    pub codec: Codec,
}

/// What `recv` got.
pub enum Recv {
    /// A data frame: its bytes and whether it was binary.
    Data(Message),
    /// The server closed, or the connection failed: why.
    Closed(String),
}

impl Client {
    pub async fn connect(target: &Target, source: Option<Ipv4Addr>) -> anyhow::Result<Self> {
        let socket = match target.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(src) = source {
            socket.bind(SocketAddr::new(src.into(), 0)).with_context(|| format!("binding {src}"))?;
        }
        let stream = socket.connect(target.addr).await.context("tcp connect")?;
        stream.set_nodelay(true)?;
        let mut req = target.url.as_str().into_client_request()?;
        if target.subprotocol {
            req.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(target.codec.subprotocol()));
        }
        let config = WebSocketConfig::default()
            .read_buffer_size(target.read_buffer)
            .write_buffer_size(0)
            .max_message_size(Some(16 << 20));
        let (ws, _resp) = client_async_with_config(req, stream, Some(config)).await.context("websocket upgrade")?;
        Ok(Self { ws, codec: target.codec })
    }

    pub async fn send(&mut self, msg: &Out<'_>) -> anyhow::Result<()> {
        self.ws.send(self.codec.encode(msg)).await?;
        Ok(())
    }

    /// The next data frame (control frames are handled by tungstenite:
    /// pings are answered while reading).
    pub async fn recv(&mut self) -> Recv {
        loop {
            match self.ws.next().await {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => return Recv::Data(m),
                Some(Ok(Message::Close(frame))) => return Recv::Closed(close_reason(frame.as_ref())),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Recv::Closed(format!("error: {}", short_error(&e.to_string()))),
                None => return Recv::Closed("eof".into()),
            }
        }
    }

    /// Sends `join` and waits for `space-joined`; an `error` fails it with
    /// its code. Other events before the reply are ignored.
    pub async fn join(
        &mut self,
        space_id: &str,
        token: &str,
        (batch, view): (Option<bool>, Option<(u32, u32)>),
        limit: Duration,
    ) -> anyhow::Result<Joined> {
        let view = view.map(|(width, height)| View { width, height });
        self.send(&Out::Join { space_id, token, batch, view }).await?;
        self.await_reply(limit, |ev| match ev {
            In::SpaceJoined { user_id, spawn, space } => {
                Some(Ok(Joined { user_id: user_id.into_owned(), spawn, space }))
            }
            In::Error { code, message } => Some(Err(anyhow!("join refused: {code}: {message}"))),
            _ => None,
        })
        .await
    }

    /// Sends `chat-join` and waits for `chat-joined`.
    pub async fn chat_join(&mut self, room: &str, limit: Duration) -> anyhow::Result<()> {
        self.send(&Out::ChatJoin { chatroom_id: room }).await?;
        self.await_reply(limit, |ev| match ev {
            In::ChatJoined(_) => Some(Ok(())),
            In::Error { code, message } => Some(Err(anyhow!("chat-join refused: {code}: {message}"))),
            _ => None,
        })
        .await
    }

    async fn await_reply<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(In<'_>) -> Option<anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => bail!("no reply within {limit:?}"),
                Ok(Recv::Closed(why)) => bail!("server closed: {why}"),
                Ok(Recv::Data(m)) => m,
            };
            let mut got = None;
            let binary = frame.is_binary();
            let data = frame.into_data();
            for_each_event(&data, binary, |e| {
                if got.is_none()
                    && let Event::Msg(m) = e
                {
                    got = pick(m);
                }
            });
            if let Some(r) = got {
                return r;
            }
        }
    }

    /// Leaves the space (a close alone would be a dropped socket, whose
    /// presence lingers for the server's resume grace), sends a close frame
    /// and waits briefly for the server's.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = self.send(&Out::Leave {}).await;
            let _ = self.ws.close(None).await;
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

pub struct Joined {
    pub user_id: String,
    pub spawn: Pos,
    pub space: Size,
}

fn short_error(e: &str) -> String {
    // Group errors by kind, not by their variable details.
    e.split(':').next().unwrap_or(e).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_list_is_split_in_order() {
        assert_eq!(split_urls("ws://127.0.0.1:3001/").unwrap(), ["ws://127.0.0.1:3001/"]);
        assert_eq!(
            split_urls("ws://127.0.0.1:4001/, ws://127.0.0.1:4011/").unwrap(),
            ["ws://127.0.0.1:4001/", "ws://127.0.0.1:4011/"]
        );
        assert!(split_urls("").is_err());
        assert!(split_urls("ws://a:1/,").is_err());
        assert!(split_urls("ws://a:1/,,ws://b:2/").is_err());
    }

    #[tokio::test]
    async fn client_i_dials_url_i_mod_n() {
        let one = Targets::resolve("ws://127.0.0.1:3001/", Codec::MsgPack, None).await.unwrap();
        assert_eq!(one.len(), 1);
        assert!((0..5).all(|i| one.for_client(i).addr.to_string() == "127.0.0.1:3001"));
        assert_eq!(one.for_client(3).url, "ws://127.0.0.1:3001/");

        let mut two =
            Targets::resolve("ws://127.0.0.1:4001/,ws://127.0.0.2:4011/x", Codec::Json, Some(true)).await.unwrap();
        assert_eq!(two.len(), 2);
        let ports: Vec<u16> = (0..6).map(|i| two.for_client(i).addr.port()).collect();
        assert_eq!(ports, [4001, 4011, 4001, 4011, 4001, 4011]);
        assert_eq!(two.for_client(1).url, "ws://127.0.0.2:4011/x");
        assert_eq!(two.for_client(3).addr.ip().to_string(), "127.0.0.2");
        assert!((0..2).all(|i| two.for_client(i).batch == Some(true)));
        two.each(|t| t.read_buffer = 4096);
        assert!((0..2).all(|i| two.for_client(i).read_buffer == 4096));

        assert!(Targets::resolve("http://127.0.0.1:3001/", Codec::Json, None).await.is_err());
        assert!(Targets::resolve("ws://127.0.0.1:1/,http://x/", Codec::Json, None).await.is_err());
    }
}
