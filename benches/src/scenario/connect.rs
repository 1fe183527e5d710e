//! `connect`: ramps to N sockets that join and idle. Socket i is user
//! i mod U in space i / U, so few users (each sign-up costs an argon2
//! hash) cover many sockets. Reports the connect-and-join rate, connect
//! and join latencies and, with --server-pid, the server's RSS per socket.
//! Sockets are spread over several loopback source addresses so the
//! ephemeral port range (about 28k ports per address) does not cap N.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};

use super::{Env, Prepared, prepare, walk::batch_note};
use crate::{
    cli::{Cli, ConnectArgs},
    client::{Client, Recv, Target, Targets},
    metrics::{Lat, LatencySummary, Shared, Tally},
    procstat, progress,
    report::{ConnectSummary, Report, SetupSummary},
    setup::User,
};

const STEP_LIMIT: Duration = Duration::from_secs(15);
/// After the last join, before RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

enum Outcome {
    Joined,
    Failed(String),
}

struct Socket {
    target: Target,
    space: String,
    user: User,
    source: Option<std::net::Ipv4Addr>,
}

pub async fn run(cli: &Cli, args: ConnectArgs) -> anyhow::Result<()> {
    let n = args.sockets as usize;
    let users = (args.users.unwrap_or(200) as usize).min(n);
    let shape = Shape { n, users, spaces: n.div_ceil(users) };
    let mut env = Env::new(cli, n).await?;
    // Idle sockets read little: a small eagerly allocated read buffer.
    env.targets.each(|t| t.read_buffer = 4096);
    let prep = prepare(&env, &args.setup, shape.users, shape.spaces, false).await?;
    let server_pid = env.server.as_ref().map(|s| s.pid);
    let me = Some(std::process::id());
    let (server_before, harness_before) = (rss(server_pid), rss(me));

    let shared = Arc::new(Shared::new());
    let open = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (res_tx, res_rx) = mpsc::channel::<Outcome>(4096);
    let started = Instant::now();
    let sockets = Sockets {
        n,
        concurrency: args.concurrency,
        ramp_rate: args.ramp_rate,
        source_ips: args.source_ips,
        targets: env.targets.clone(),
        users: prep.users.clone(),
        spaces: prep.spaces.clone(),
    };
    let spawner = tokio::spawn(open_all(sockets, shared.clone(), open.clone(), res_tx, stop_rx));
    let (joined, failures, last_join) = ramp(res_rx, n, started).await;

    tokio::time::sleep(SETTLE).await;
    let (server_after, harness_after) = (rss(server_pid), rss(me));
    let (hold_start, hold_end) = hold(args.hold, &open).await;
    let open_at_end = open.load(Relaxed);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), spawner).await;

    let measured = Measured {
        joined,
        failures,
        started,
        last_join,
        hold: (hold_start, hold_end),
        open_at_end,
        server_rss: (server_before, server_after),
        harness_rss: (harness_before, harness_after),
    };
    report(cli, &args, &env, &prep, shape, &shared, measured).print(args.output.json)
}

fn rss(pid: Option<u32>) -> Option<u64> {
    pid.and_then(procstat::rss_kib)
}

/// How many sockets, users and spaces: socket i is user i mod users in
/// space i / users.
#[derive(Clone, Copy)]
struct Shape {
    n: usize,
    users: usize,
    spaces: usize,
}

/// What the sockets are opened with.
struct Sockets {
    n: usize,
    concurrency: u32,
    /// Sockets started per second; 0 for as fast as `concurrency` allows.
    ramp_rate: u32,
    source_ips: u8,
    targets: Targets,
    users: Vec<User>,
    spaces: Vec<String>,
}

/// What the ramp and the hold measured.
struct Measured {
    joined: u32,
    failures: BTreeMap<String, u64>,
    started: Instant,
    last_join: Instant,
    hold: (Instant, Instant),
    open_at_end: u64,
    /// RSS in KiB before the first connect and after the last join.
    server_rss: (Option<u64>, Option<u64>),
    harness_rss: (Option<u64>, Option<u64>),
}

/// Starts every socket at the ramp's pace, at most `concurrency` of them
/// connecting at once, then waits for all of them to end.
async fn open_all(
    s: Sockets,
    shared: Arc<Shared>,
    open: Arc<AtomicU64>,
    res_tx: mpsc::Sender<Outcome>,
    stop_rx: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(s.concurrency as usize));
    let mut pace = (s.ramp_rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / s.ramp_rate as f64)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..s.n {
        if let Some(p) = &mut pace {
            p.tick().await;
        }
        let permit = limit.clone().acquire_owned().await.expect("semaphore open");
        let target = s.targets.for_client(i);
        let one = Socket {
            target: target.clone(),
            space: s.spaces[i / s.users.len()].clone(),
            user: s.users[i % s.users.len()].clone(),
            source: target.source(i, s.source_ips),
        };
        let (shared, open, res, stop) = (shared.clone(), open.clone(), res_tx.clone(), stop_rx.clone());
        tasks.spawn(async move {
            socket(one, i, permit, shared, open, res, stop).await;
        });
    }
    drop(res_tx);
    while tasks.join_next().await.is_some() {}
}

/// Counts sockets as they join or fail until all `n` have; returns the
/// joined count, the failures by reason and when the last one joined
/// (`started` when none did).
async fn ramp(
    mut res_rx: mpsc::Receiver<Outcome>,
    n: usize,
    started: Instant,
) -> (u32, BTreeMap<String, u64>, Instant) {
    let pb = progress::counter(n as u64, "sockets");
    let mut joined = 0u32;
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_join = started;
    while let Some(r) = res_rx.recv().await {
        match r {
            Outcome::Joined => {
                joined += 1;
                last_join = Instant::now();
            }
            Outcome::Failed(why) => {
                *failures.entry(why).or_default() += 1;
                pb.set_message(format!("{} failed", failures.values().sum::<u64>()));
            }
        }
        pb.inc(1);
        if pb.position() == n as u64 {
            break;
        }
    }
    pb.finish_and_clear();
    (joined, failures, last_join)
}

/// Keeps the sockets open for `hold`, showing how many still are; returns
/// the hold's start and end.
async fn hold(hold: Duration, open: &AtomicU64) -> (Instant, Instant) {
    let hold_start = Instant::now();
    let pb = progress::timer(hold, "holding");
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    while hold_start.elapsed() < hold {
        tick.tick().await;
        pb.set_position(u64::try_from(hold_start.elapsed().as_millis()).unwrap_or(u64::MAX));
        pb.set_message(format!("{} open", open.load(Relaxed)));
    }
    pb.finish_and_clear();
    (hold_start, Instant::now())
}

fn report(
    cli: &Cli,
    args: &ConnectArgs,
    env: &Env,
    prep: &Prepared,
    shape: Shape,
    shared: &Shared,
    m: Measured,
) -> Report {
    let Shape { n, users, spaces } = shape;
    let (hold_start, hold_end) = m.hold;
    let ramp = m.last_join.duration_since(m.started);
    let totals = shared.counters.totals();
    let mut report = Report {
        scenario: "connect",
        title: title(cli, args, env, shape),
        params: json!({
            "sockets": n, "users": users, "spaces": spaces, "concurrency": args.concurrency,
            "ramp_rate": args.ramp_rate, "hold_s": args.hold.as_secs_f64(), "source_ips": args.source_ips,
            "codec": env.codec.name(), "threads": crate::threads(),
        }),
        window_seconds: hold_end.duration_since(hold_start).as_secs_f64(),
        connect: Some(summary(args, env, n, &m)),
        connect_latency: Some(LatencySummary::of(&shared.histogram(Lat::Connect))),
        join_latency: Some(LatencySummary::of(&shared.histogram(Lat::Join))),
        errors: shared.errors(),
        disconnects: shared.disconnects(),
        server_ramp: env.server.as_ref().map(|s| s.summary(m.started, m.last_join + Duration::from_millis(999))),
        ..Default::default()
    };
    report.setup = SetupSummary {
        users,
        user_counts: prep.counts,
        spaces,
        setup_seconds: prep.seconds,
        joined: m.joined,
        join_failures: m.failures,
        join_seconds: ramp.as_secs_f64(),
        open_file_limit: env.nofile,
    };
    if totals.unknown_events > 0 {
        report.notes.push(format!("{} events of unknown type", totals.unknown_events));
    }
    env.proc_summaries(&mut report, hold_start, hold_end);
    report.notes.push(format!(
        "server RSS per socket is the RSS growth from before the first connect to {SETTLE:?} after the last join \
         over the sockets joined, so it includes {spaces} live space(s) of {users} members; a server process that \
         held many sockets before keeps that memory, so measure on a fresh one"
    ));
    env.note_targets(&mut report);
    report
}

fn title(cli: &Cli, args: &ConnectArgs, env: &Env, shape: Shape) -> String {
    let Shape { n, users, spaces } = shape;
    format!(
        "connect: {n} sockets ({users} users × {spaces} spaces), {} in flight{}, {} codec{}, held {:.0} s",
        args.concurrency,
        if args.ramp_rate > 0 { format!(", at most {}/s", args.ramp_rate) } else { String::new() },
        env.codec.name(),
        batch_note(cli),
        args.hold.as_secs_f64()
    )
}

fn summary(args: &ConnectArgs, env: &Env, n: usize, m: &Measured) -> ConnectSummary {
    let ramp = m.last_join.duration_since(m.started);
    let joined = m.joined;
    let per = |(before, after): (Option<u64>, Option<u64>)| match (before, after) {
        (Some(b), Some(a)) if joined > 0 => Some((a as f64 - b as f64) / joined as f64),
        _ => None,
    };
    ConnectSummary {
        sockets: u32::try_from(n).unwrap_or(u32::MAX),
        joined,
        failed: m.failures.values().sum(),
        ramp_seconds: ramp.as_secs_f64(),
        joins_per_second: joined as f64 / ramp.as_secs_f64().max(1e-9),
        open_at_end: m.open_at_end,
        source_addresses: env.targets.for_client(0).source(0, args.source_ips).map_or(1, |_| args.source_ips),
        server_rss_before_kib: m.server_rss.0,
        server_rss_after_kib: m.server_rss.1,
        server_rss_per_socket_kib: per(m.server_rss),
        harness_rss_per_socket_kib: per(m.harness_rss),
    }
}

/// One socket: connect, join, report, then idle (answering pings) until
/// told to stop.
async fn socket(
    s: Socket,
    i: usize,
    permit: tokio::sync::OwnedSemaphorePermit,
    shared: Arc<Shared>,
    open: Arc<AtomicU64>,
    res: mpsc::Sender<Outcome>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tally = Tally::default();
    let t0 = Instant::now();
    let client = match tokio::time::timeout(STEP_LIMIT, Client::connect(&s.target, s.source)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return fail(&res, format!("{e:#}")).await,
        Err(_) => return fail(&res, "connect timed out".into()).await,
    };
    tally.latency(Lat::Connect, u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
    let mut client = client;
    let t1 = Instant::now();
    if let Err(e) = client.join(&s.space, &s.user.token, (s.target.batch, s.target.view), STEP_LIMIT).await {
        return fail(&res, format!("{e:#}")).await;
    }
    tally.latency(Lat::Join, u64::try_from(t1.elapsed().as_micros()).unwrap_or(u64::MAX));
    drop(permit);
    open.fetch_add(1, Relaxed);
    shared.flush(i, &mut tally);
    let _ = res.send(Outcome::Joined).await;
    drop(res);
    let mut events = 0u64;
    loop {
        tokio::select! {
            r = client.recv() => match r {
                Recv::Data(_) => events += 1,
                Recv::Closed(why) => {
                    if !*stop.borrow() {
                        tally.disconnect(why);
                    }
                    open.fetch_sub(1, Relaxed);
                    tally.counts.frames += events;
                    shared.flush(i, &mut tally);
                    return;
                }
            },
            _ = stop.changed() => break,
        }
    }
    open.fetch_sub(1, Relaxed);
    tally.counts.frames += events;
    shared.flush(i, &mut tally);
    client.close().await;
}

async fn fail(res: &mpsc::Sender<Outcome>, why: String) {
    let why: String = why.chars().take(120).collect();
    let _ = res.send(Outcome::Failed(why)).await;
}
