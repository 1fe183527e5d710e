//! Command line: global options and one subcommand per scenario. Every
//! count and duration is bounded, so a typo cannot start an endless run.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Most users (or sockets) one run may create.
pub const MAX_USERS: u32 = 100_000;
/// Longest measured duration.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Longest warm-up, drain or hold.
pub const MAX_PHASE: Duration = Duration::from_secs(600);

#[derive(Debug, Parser)]
#[command(
    name = "metaverse-bench",
    version,
    about = "Load tests for servers that speak the metaverse HTTP/WebSocket API (docs/PROTOCOL.md)",
    long_about = "Load tests for servers that speak the metaverse HTTP/WebSocket API (docs/PROTOCOL.md).\n\n\
        It creates its users and spaces over the HTTP API (signing users up, or signing them in when \
        --user-prefix names users of an earlier run), then drives WebSocket clients. It connects only \
        to the --http and --ws addresses it is given; --ws may list several nodes of a cluster.\n\n\
        Server limits that shape a run: a WebSocket connection may send 30 messages/s (burst 60) by \
        default (--ws-rate/--ws-burst on the server), so keep steps/s plus chat messages/s per client \
        under 30; chat is limited per user per room to 5 messages/s, burst 10, unless the server runs \
        with --chat-rate/--chat-burst (e.g. --chat-rate 1000 --chat-burst 1000); sign-up and sign-in \
        cost one argon2 hash each (about 35 ms of server CPU), so reuse users with --user-prefix \
        and --token-cache."
)]
pub struct Cli {
    /// Base HTTP URL of the server under test.
    #[arg(long, default_value = "http://127.0.0.1:3000", global = true)]
    pub http: String,
    /// WebSocket URL of the server under test, or a comma-separated list
    /// of ws:// URLs (the nodes of a cluster): client i connects to URL
    /// i mod n, so clients of one space spread over the nodes. Each host
    /// is resolved once. Users and spaces are still made through --http.
    #[arg(long, default_value = "ws://127.0.0.1:3001/", global = true, value_name = "URL[,URL…]")]
    pub ws: String,
    /// Wire codec: binary MessagePack frames or JSON text frames (negotiated
    /// with the subprotocol metaverse.v1.msgpack / metaverse.v1.json).
    #[arg(long, value_enum, default_value_t = CodecArg::Msgpack, global = true)]
    pub codec: CodecArg,
    /// Ask for `batch` frames in `join` (on/off); by default the server
    /// decides (MessagePack batched, JSON not).
    #[arg(long, value_enum, global = true)]
    pub batch: Option<OnOff>,
    /// Ask for a view window in `join` (WxH tiles, e.g. 60x50); by default
    /// the server decides (the whole space until it is crowded, then its
    /// own window).
    #[arg(long, global = true, value_parser = parse_size)]
    pub view: Option<(u32, u32)>,
    /// Do not offer the codec's subprotocol in the upgrade (for servers
    /// that do not negotiate one; the frame type still picks the codec).
    #[arg(long, global = true)]
    pub no_subprotocol: bool,
    /// The server's process id: sample its CPU and RSS from /proc every
    /// second (same machine only).
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Worker threads of the harness (default: one per core), in each of
    /// its processes.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Spread the bots of `walk`, `chat` and `mixed` over N harness
    /// processes, whole spaces each (space s in process s mod N), for runs
    /// past one process's open-file limit or cores. Setup is done once;
    /// the report merges every process's counts and latency histograms.
    #[arg(long, global = true, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=crate::scenario::part::MAX_PROCESSES as i64))]
    pub processes: u16,
    /// Internal: this process is part I of N of a `--processes` run; it
    /// reads its setup and start on stdin and reports on stdout.
    #[arg(long, global = true, hide = true, value_name = "I/N")]
    pub part: Option<crate::scenario::part::Part>,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CodecArg {
    Msgpack,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Sequential HTTP requests to one path (GET, or POST with `--json BODY`);
    /// reports latency percentiles.
    Probe(ProbeArgs),
    /// S spaces × U users, each random-walking at R steps/s and steering
    /// around rejections; measures move → seen-by-every-peer latency.
    Walk(WalkArgs),
    /// Ramps to N sockets that join and idle; reports the connect-and-join
    /// rate and, with --server-pid, the server's RSS per socket.
    Connect(ConnectArgs),
    /// C clients in rooms posting at a total rate; measures send → ack and
    /// send → deliver, then checks history holds every acknowledged message.
    /// The server's chat limit (5/s per user per room, burst 10) applies
    /// unless it runs with --chat-rate/--chat-burst.
    Chat(ChatArgs),
    /// Walk and chat together: every user walks and posts in its space's
    /// `general` room.
    Mixed(MixedArgs),
}

#[derive(Debug, Default, Args)]
pub struct ProbeArgs {
    /// Path to request.
    #[arg(long, default_value = "/health")]
    pub path: String,
    /// Number of requests (bounded: at most 1,000,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub requests: u32,
    /// POST this JSON body instead of a GET (e.g. a chat message).
    #[arg(long, conflicts_with = "upload")]
    pub json: Option<String>,
    /// POST this file as a multipart `file` part instead (media uploads:
    /// `--path /api/v1/media --upload cat.png --token T`).
    #[arg(long)]
    pub upload: Option<std::path::PathBuf>,
    /// Requests in flight at once (1: one after another).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Bearer token to send.
    #[arg(long)]
    pub token: Option<String>,
}

/// How users and spaces come to exist.
#[derive(Clone, Debug, Args)]
pub struct SetupArgs {
    /// Usernames are PREFIX-0, PREFIX-1, …; an existing name is signed in
    /// instead (same --password), so runs can reuse users. Default: a fresh
    /// random prefix.
    #[arg(long)]
    pub user_prefix: Option<String>,
    /// Password of the bench users.
    #[arg(long, default_value = "bench-password-1")]
    pub password: String,
    /// Sign-ups/sign-ins in flight at once (each costs the server an argon2
    /// hash).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub setup_concurrency: u16,
    /// JSON file of username → token from earlier runs; users found in it
    /// skip sign-in, and new tokens are written back.
    #[arg(long)]
    pub token_cache: Option<std::path::PathBuf>,
    /// Token of the user who creates the spaces (default: the first bench
    /// user).
    #[arg(long)]
    pub token: Option<String>,
    /// Reuse these spaces (comma-separated ids) instead of creating them;
    /// there must be at least as many as the scenario needs.
    #[arg(long, value_delimiter = ',')]
    pub space_ids: Vec<String>,
    /// Size of created spaces, WxH tiles (e.g. 40x30, 200x200).
    #[arg(long, default_value = "40x30", value_parser = parse_size)]
    pub map_size: (u32, u32),
}

/// How the report is printed.
#[derive(Clone, Debug, Args)]
pub struct OutputArgs {
    /// Print the report as JSON on stdout (the progress bar stays on stderr).
    #[arg(long)]
    pub json: bool,
}

/// Warm-up, measured duration and drain.
#[derive(Clone, Debug, Args)]
pub struct TimingArgs {
    /// Measured duration (at most 1h).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before measuring starts (at most 10m).
    #[arg(long, default_value = "5s", value_parser = parse_phase)]
    pub warmup: Duration,
    /// After the measured window: keep reading (no new sends) so late
    /// deliveries of measured sends are counted.
    #[arg(long, default_value = "2s", value_parser = parse_phase)]
    pub drain: Duration,
}

#[derive(Debug, Args)]
pub struct WalkArgs {
    /// Spaces.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub spaces: u32,
    /// Users per space (spaces × users ≤ 100,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: u32,
    /// Steps per second per user (0.1 to 20; the server allows 30
    /// messages/s per connection).
    #[arg(long, default_value_t = 5.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Spread client sockets over this many loopback source addresses
    /// (127.0.0.1 …) when the server is on loopback (default: one per
    /// 20,000 clients).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_ips: Option<u8>,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Sockets to open; each joins a space and idles (≤ 100,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=MAX_USERS as i64))]
    pub sockets: u32,
    /// Distinct users; socket i is user i mod U in space i / U, so U users
    /// cover N sockets with ⌈N/U⌉ spaces (default: min(N, 200)).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_USERS as i64))]
    pub users: Option<u32>,
    /// Connect-and-join attempts in flight at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// Start at most this many sockets per second (0: as fast as the
    /// concurrency allows).
    #[arg(long, default_value_t = 0)]
    pub ramp_rate: u32,
    /// Keep the sockets open this long after the last join (at most 10m),
    /// sampling the server; disconnects in this time are reported.
    #[arg(long, default_value = "10s", value_parser = parse_phase)]
    pub hold: Duration,
    /// Spread client sockets over this many loopback source addresses
    /// (127.0.0.1 …) so ephemeral ports (about 28k per address) do not cap N.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_ips: u8,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Clients (each a distinct user).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=MAX_USERS as i64))]
    pub clients: u32,
    /// Clients per room: each room is the `general` room of its own space.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=MAX_USERS as i64))]
    pub room_size: u32,
    /// Messages per second, in total over all clients. Per client this is
    /// rate/clients; the server's default chat limit is 5/s per user per
    /// room (burst 10).
    #[arg(long, default_value_t = 100.0, value_parser = parse_total_rate)]
    pub rate: f64,
    /// Length of each message's content, in bytes (ASCII).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=2000))]
    pub content_bytes: u32,
    /// Skip the history check after the run.
    #[arg(long)]
    pub no_history_check: bool,
    /// Spread client sockets over this many loopback source addresses
    /// (127.0.0.1 …) when the server is on loopback (default: one per
    /// 20,000 clients).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_ips: Option<u8>,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct MixedArgs {
    /// Spaces.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub spaces: u32,
    /// Users per space; each walks and chats in the space's `general` room.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: u32,
    /// Steps per second per user (0.1 to 20).
    #[arg(long, default_value_t = 5.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Chat messages per second in total (see `chat --help` for the
    /// server's chat limit).
    #[arg(long, default_value_t = 50.0, value_parser = parse_total_rate)]
    pub chat_rate: f64,
    /// Length of each message's content, in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=2000))]
    pub content_bytes: u32,
    /// Skip the history check after the run.
    #[arg(long)]
    pub no_history_check: bool,
    /// Spread client sockets over this many loopback source addresses
    /// (127.0.0.1 …) when the server is on loopback (default: one per
    /// 20,000 clients).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=250))]
    pub source_ips: Option<u8>,
    #[command(flatten)]
    pub timing: TimingArgs,
    #[command(flatten)]
    pub setup: SetupArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > MAX_DURATION {
        return Err("must be more than 0 and at most 1h".into());
    }
    Ok(d)
}

fn parse_phase(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d > MAX_PHASE {
        return Err("must be at most 10m".into());
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.1..=20.0).contains(&r) {
        return Err("must be 0.1 to 20 steps/s (the server allows 30 messages/s per connection)".into());
    }
    Ok(r)
}

fn parse_total_rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.01..=1_000_000.0).contains(&r) {
        return Err("must be 0.01 to 1,000,000 messages/s".into());
    }
    Ok(r)
}

/// `WxH`, each side 1 to 1024 (positions are packed in 10 bits).
pub fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WxH, e.g. 40x30")?;
    let w: u32 = w.trim().parse().map_err(|_| "width is not a number")?;
    let h: u32 = h.trim().parse().map_err(|_| "height is not a number")?;
    if !(1..=1024).contains(&w) || !(1..=1024).contains(&h) {
        return Err("each side must be 1 to 1024".into());
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_size("40x30"), Ok((40, 30)));
        assert!(parse_size("0x3").is_err() && parse_size("2000x3").is_err() && parse_size("40").is_err());
        assert!(parse_duration("2h").is_err() && parse_duration("0s").is_err());
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert!(parse_rate("25").is_err() && parse_rate("5").is_ok());
        let cli = Cli::try_parse_from(["b", "walk", "--spaces", "2", "--users", "10", "--duration", "3s"]).unwrap();
        assert!(matches!(cli.scenario, Scenario::Walk(WalkArgs { spaces: 2, users: 10, .. })));
        assert!(Cli::try_parse_from(["b", "walk", "--rate", "50"]).is_err());
        let cli = Cli::try_parse_from(["b", "walk", "--ws", "ws://127.0.0.1:4001/,ws://127.0.0.1:4011/"]).unwrap();
        assert_eq!(crate::client::split_urls(&cli.ws).unwrap(), ["ws://127.0.0.1:4001/", "ws://127.0.0.1:4011/"]);
        let cli = Cli::try_parse_from(["b", "walk"]).unwrap();
        assert_eq!(crate::client::split_urls(&cli.ws).unwrap(), ["ws://127.0.0.1:3001/"]);
    }
}
