//! A fleet of bots: every bot connects and joins its space (and room),
//! then all start together; they load the server through a warm-up and
//! the measured window, then read on through the drain and close.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
};

use super::{
    Env,
    bot::{self, BotCtx, Ready},
    part::{self, Said},
    peers::Peers,
    split,
};
use crate::{
    cli::TimingArgs,
    metrics::{Shared, Totals},
    progress,
    report::Report,
    sendlog::SendLog,
    setup::User,
};

/// Connects and joins in flight at once.
const JOIN_CONCURRENCY: usize = 128;

pub struct SpacePlan {
    pub id: String,
    /// The chat room its members post in, if they chat.
    pub room: Option<String>,
    /// Its members are bots base .. base + len.
    pub base: u32,
    pub len: u32,
}

pub struct Plan {
    pub spaces: Vec<SpacePlan>,
    /// Bot i is users[i], in spaces[space_of[i]].
    pub users: Vec<User>,
    pub space_of: Vec<u32>,
    /// Steps per second per bot.
    pub walk_rate: Option<f64>,
    /// Chat messages per second per bot.
    pub chat_rate: Option<f64>,
    pub content_bytes: usize,
    pub timing: TimingArgs,
    pub source_ips: u8,
}

impl Plan {
    /// Bots in `spaces` spaces of `per_space` each, bot i in space i / per_space.
    pub fn even(
        users: Vec<User>,
        space_ids: &[String],
        rooms: Option<&[String]>,
        per_space: u32,
        timing: TimingArgs,
        source_ips: Option<u8>,
    ) -> Self {
        let n = u32::try_from(users.len()).unwrap_or(u32::MAX);
        let spaces = space_ids
            .iter()
            .enumerate()
            .map(|(s, id)| {
                let base = u32::try_from(s).unwrap_or(u32::MAX) * per_space;
                SpacePlan {
                    id: id.clone(),
                    room: rooms.map(|r| r[s].clone()),
                    base,
                    len: per_space.min(n.saturating_sub(base)),
                }
            })
            .collect();
        Self {
            spaces,
            space_of: (0..n).map(|i| i / per_space).collect(),
            users,
            walk_rate: None,
            chat_rate: None,
            content_bytes: 64,
            timing,
            // About 28k ephemeral ports per source address.
            source_ips: source_ips.unwrap_or_else(|| n.div_ceil(20_000).clamp(1, 250) as u8),
        }
    }
}

/// The start signal: who is who, and the run's timeline.
pub struct Go {
    /// userId → bot index, for everyone who joined.
    pub ids: Peers,
    /// Bots that joined, per space.
    pub joined: Vec<u32>,
    pub start: Instant,
    pub measure_start: Instant,
    pub measure_end: Instant,
    pub drain_end: Instant,
    /// This run's tag in chat messages.
    pub run: u32,
}

pub struct Outcome {
    pub joined: u32,
    pub join_failures: BTreeMap<String, u64>,
    pub join_time: Duration,
    pub measure_start: Instant,
    pub measure_end: Instant,
    pub shared: Arc<Shared>,
    /// Acknowledged chat message ids, per space.
    pub acked: Vec<Vec<String>>,
}

/// Runs the plan here, or over `--processes` parts. In a part (`--part`)
/// it runs the part's spaces, reports to the parent and returns `None`.
pub async fn run(env: &mut Env, plan: Plan) -> anyhow::Result<Option<Outcome>> {
    if env.processes > 1 && env.part.is_none() {
        return split::run(env, plan).await.map(Some);
    }
    let plan = match env.part {
        Some(part) => part.keep(plan),
        None => plan,
    };
    let n = plan.users.len();
    let shared = Arc::new(Shared::new());
    let ctx = Arc::new(context(env, plan, shared.clone()));
    let (ready_tx, ready_rx) = mpsc::channel(1024);
    let (go_tx, go_rx) = watch::channel(None);
    let limit = Arc::new(Semaphore::new(JOIN_CONCURRENCY));
    let mut bots = JoinSet::new();
    let joining = Instant::now();
    for i in 0..u32::try_from(n).unwrap_or(u32::MAX) {
        bots.spawn(bot::run(ctx.clone(), i, ready_tx.clone(), go_rx.clone(), limit.clone()));
    }
    drop(ready_tx);
    let Joins { ids, joined, failures } = joins(&ctx.plan, ready_rx).await;
    let join_time = joining.elapsed();
    let joined_total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    if joined_total == 0 {
        anyhow::bail!("no client joined: {failures:?}");
    }
    let go = match env.part {
        Some(_) => {
            part::say(&Said::Joined { joined: joined_total })?;
            let start: part::Start = part::read().await?;
            Go::at(start.instant(), start.run, ids, joined, &ctx.plan.timing)
        }
        // Starts a moment from now, so the signal reaches all bots before
        // the first send is due.
        None => {
            let start = Instant::now() + Duration::from_millis(100);
            Go::at(start, rand::random::<u32>() & 0xffff, ids, joined, &ctx.plan.timing)
        }
    };
    let go = Arc::new(go);
    let _ = go_tx.send(Some(go.clone()));
    let acked = follow(env, &ctx, &go, bots).await?;
    let out = Outcome {
        joined: joined_total,
        join_failures: failures,
        join_time,
        measure_start: go.measure_start,
        measure_end: go.measure_end,
        shared,
        acked,
    };
    match env.part {
        Some(part) => part::say(&Said::Done(Box::new(part.done(&out)))).map(|()| None),
        None => Ok(Some(out)),
    }
}

/// What every bot shares: where to connect, where to count, and the send
/// logs sized for the plan's rates.
fn context(env: &Env, plan: Plan, shared: Arc<Shared>) -> BotCtx {
    let n = plan.users.len();
    let epoch = Instant::now();
    // Clamped to a small positive range first, so these casts are exact.
    #[allow(clippy::cast_possible_truncation)]
    let move_ring = plan.walk_rate.map_or(1, |r| (r * 8.0).clamp(32.0, 128.0) as usize);
    #[allow(clippy::cast_possible_truncation)]
    let chat_ring = plan.chat_rate.map_or(1, |r| (r * 10.0).clamp(16.0, 1024.0) as usize);
    BotCtx {
        targets: env.targets.clone(),
        shared,
        moves: SendLog::new(epoch, if plan.walk_rate.is_some() { n } else { 0 }, move_ring),
        chats: SendLog::new(epoch, if plan.chat_rate.is_some() { n } else { 0 }, chat_ring),
        plan,
    }
}

/// Who joined, by user id and per space, and why the others did not.
struct Joins {
    ids: Peers,
    joined: Vec<u32>,
    failures: BTreeMap<String, u64>,
}

/// Waits until every bot has joined or failed.
async fn joins(plan: &Plan, mut ready_rx: mpsc::Receiver<Ready>) -> Joins {
    let n = plan.users.len();
    let pb = progress::counter(n as u64, "joining");
    let mut ids = Peers::default();
    let mut joined = vec![0u32; plan.spaces.len()];
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(r) = ready_rx.recv().await {
        match r {
            Ready::Joined { idx, user_id } => {
                ids.insert(user_id.as_bytes(), idx);
                joined[plan.space_of[idx as usize] as usize] += 1;
            }
            Ready::Failed { why } => {
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
    Joins { ids, joined, failures }
}

impl Go {
    fn at(start: Instant, run: u32, ids: Peers, joined: Vec<u32>, t: &TimingArgs) -> Self {
        Self {
            ids,
            joined,
            start,
            measure_start: start + t.warmup,
            measure_end: start + t.warmup + t.duration,
            drain_end: start + t.warmup + t.duration + t.drain,
            run,
        }
    }
}

/// Shows progress until every bot has finished; returns the acknowledged
/// chat message ids per space.
async fn follow(
    env: &Env,
    ctx: &BotCtx,
    go: &Go,
    mut bots: JoinSet<(u32, Vec<String>)>,
) -> anyhow::Result<Vec<Vec<String>>> {
    let total = go.drain_end.duration_since(go.start);
    let pb = progress::timer(total, "running");
    let mut last = (Instant::now(), ctx.shared.counters.totals());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut acked = vec![Vec::new(); ctx.plan.spaces.len()];
    loop {
        tokio::select! {
            done = bots.join_next() => match done {
                Some(Ok((space, ids))) => acked[space as usize].extend(ids),
                Some(Err(e)) => anyhow::bail!("a bot failed: {e}"),
                None => break,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                pb.set_position(u64::try_from(now.saturating_duration_since(go.start).as_millis()).unwrap_or(u64::MAX));
                let totals = ctx.shared.counters.totals();
                if now.duration_since(last.0) >= Duration::from_secs(2) {
                    pb.set_message(progress_line(env, ctx, go, now, &totals, last));
                    last = (now, totals);
                }
            }
        }
    }
    pb.finish_and_clear();
    Ok(acked)
}

/// The live rates since the last line, and trouble worth seeing early.
fn progress_line(env: &Env, ctx: &BotCtx, go: &Go, now: Instant, totals: &Totals, last: (Instant, Totals)) -> String {
    let dt = now.duration_since(last.0).as_secs_f64();
    let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / dt;
    let phase = if now < go.measure_start {
        "warm-up"
    } else if now < go.measure_end {
        "measuring"
    } else {
        "draining"
    };
    let mut msg = format!(
        "{phase}: {:.0} moves/s, {:.0} events/s",
        rate(totals.live_moves, last.1.live_moves),
        rate(totals.live_events, last.1.live_events),
    );
    if ctx.plan.chat_rate.is_some() {
        msg.push_str(&format!(", {:.0} acks/s", rate(totals.live_acks, last.1.live_acks)));
    }
    let errors = ctx.shared.error_count();
    if errors > 0 {
        msg.push_str(&format!(", {errors} errors"));
    }
    if let Some(cpu) = env.server.as_ref().and_then(|s| s.last_cpu()) {
        msg.push_str(&format!(", server {cpu:.0}% CPU"));
    }
    msg
}

/// What the fleet measured, as a report; the scenario adds its title,
/// parameters and setup.
pub fn report(env: &Env, out: &Outcome, walk: bool, chat: bool) -> Report {
    use crate::metrics::{Lat, LatencySummary};
    use crate::report::{ChatSummary, EventSummary, MoveSummary};
    let secs = out.measure_end.duration_since(out.measure_start).as_secs_f64();
    let t = out.shared.counters.totals();
    let mut r = Report {
        window_seconds: secs,
        events: Some(EventSummary::of(&t, secs)),
        errors: out.shared.errors(),
        disconnects: out.shared.disconnects(),
        ..Default::default()
    };
    env.proc_summaries(&mut r, out.measure_start, out.measure_end);
    if env.processes > 1 {
        r.notes.push(format!(
            "the harness ran as {} processes, whole spaces each (space s in process s mod {0}); its row sums them",
            env.processes
        ));
    }
    if walk {
        r.moves = Some(MoveSummary::of(&t, secs));
        r.move_latency = Some(LatencySummary::of(&out.shared.histogram(Lat::Move)));
    }
    if chat {
        r.chat = Some(ChatSummary::of(&t, secs));
        r.chat_ack_latency = Some(LatencySummary::of(&out.shared.histogram(Lat::ChatAck)));
        r.chat_deliver_latency = Some(LatencySummary::of(&out.shared.histogram(Lat::ChatDeliver)));
    }
    r
}

/// A warning when the harness itself was busy enough to shape the figures.
pub fn harness_note(h: Option<&crate::procstat::ProcSummary>) -> Option<String> {
    let h = h?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (h.cpu_mean_pct >= 80.0 * cores.min(crate::threads() as f64)).then(|| {
        format!(
            "the harness used {:.0}% CPU (its threads are nearly saturated): latencies include its own queueing",
            h.cpu_mean_pct
        )
    })
}
