//! One bot of a fleet: a client that joins its space (and chat room),
//! waits for the start, then walks and/or chats at its rates while it
//! matches everything it receives to the send it came from.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    time::{Interval, MissedTickBehavior},
};

use super::{
    fleet::{Go, Plan},
    walker::{InFlight, Walker},
};
use crate::{
    client::{Client, Recv, Targets},
    metrics::{Shared, Tally},
    sendlog::SendLog,
    wire::Out,
};

mod receive;

const REPLY_LIMIT: Duration = Duration::from_secs(15);

pub struct BotCtx {
    /// Bot i dials `targets.for_client(i)`.
    pub targets: Targets,
    pub shared: Arc<Shared>,
    pub moves: SendLog,
    pub chats: SendLog,
    pub plan: Plan,
}

pub enum Ready {
    Joined { idx: u32, user_id: String },
    Failed { why: String },
}

/// Runs bot `idx` to the end of the drain; returns its space and the ids
/// of its acknowledged chat messages.
pub async fn run(
    ctx: Arc<BotCtx>,
    idx: u32,
    ready: mpsc::Sender<Ready>,
    mut go: watch::Receiver<Option<Arc<Go>>>,
    limit: Arc<Semaphore>,
) -> (u32, Vec<String>) {
    let space_idx = ctx.plan.space_of[idx as usize];
    let joined = {
        let _permit = limit.acquire().await.expect("semaphore open");
        setup(&ctx, idx).await
    };
    let (client, spawn, size) = match joined {
        Ok((client, user_id, spawn, size)) => {
            let _ = ready.send(Ready::Joined { idx, user_id }).await;
            (client, spawn, size)
        }
        Err(e) => {
            let _ = ready.send(Ready::Failed { why: short(&e) }).await;
            return (space_idx, Vec::new());
        }
    };
    drop(ready);
    let Ok(go) = go.wait_for(|g| g.is_some()).await.map(|g| g.clone().expect("some")) else {
        return (space_idx, Vec::new());
    };
    let mut bot = Bot::new(ctx.clone(), idx, go, spawn, size);
    let acked = bot.live(client).await;
    (space_idx, acked)
}

/// "context: root cause", short enough to group failures by.
fn short(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    s.chars().take(120).collect()
}

async fn setup(ctx: &BotCtx, idx: u32) -> anyhow::Result<(Client, String, (i32, i32), (i32, i32))> {
    let plan = &ctx.plan;
    let space = &plan.spaces[plan.space_of[idx as usize] as usize];
    let user = &plan.users[idx as usize];
    let target = ctx.targets.for_client(idx as usize);
    let source = target.source(idx as usize, plan.source_ips);
    let mut client = tokio::time::timeout(REPLY_LIMIT, Client::connect(target, source))
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    let joined = client.join(&space.id, &user.token, (target.batch, target.view), REPLY_LIMIT).await?;
    if plan.chat_rate.is_some()
        && let Some(room) = &space.room
    {
        client.chat_join(room, REPLY_LIMIT).await?;
    }
    Ok((client, joined.user_id, (joined.spawn.x, joined.spawn.y), (joined.space.width, joined.space.height)))
}

struct Bot {
    ctx: Arc<BotCtx>,
    idx: u32,
    go: Arc<Go>,
    base: u32,
    /// Per peer of the space: the last of its move sends matched.
    seen: Vec<u32>,
    walker: Walker,
    in_flight: InFlight,
    /// The worst move latency (µs) seen in the frame being read.
    frame_latency: u64,
    rng: StdRng,
    /// Chat sends not acknowledged yet.
    pending: HashSet<u32>,
    acked: Vec<String>,
    tally: Tally,
    /// Own moves in the window, for the expected deliveries.
    window_sent: u64,
    window_rejected: u64,
    // Window bounds in the send logs' microseconds.
    win: (u64, u64),
}

/// An interval that never fires when absent.
async fn tick(i: &mut Option<Interval>) {
    match i {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn every(start: Instant, per_second: f64, rng: &mut StdRng) -> Interval {
    let period = Duration::from_secs_f64(1.0 / per_second);
    let phase = period.mul_f64(rng.gen_range(0.0..1.0));
    let mut i = tokio::time::interval_at((start + phase).into(), period);
    // Never catch up in a burst: the server's rate limit would refuse it.
    i.set_missed_tick_behavior(MissedTickBehavior::Skip);
    i
}

impl Bot {
    fn new(ctx: Arc<BotCtx>, idx: u32, go: Arc<Go>, spawn: (i32, i32), size: (i32, i32)) -> Self {
        let space = &ctx.plan.spaces[ctx.plan.space_of[idx as usize] as usize];
        let mut rng = StdRng::seed_from_u64(rand::random());
        let win = (ctx.moves.micros(go.measure_start), ctx.moves.micros(go.measure_end));
        Self {
            base: space.base,
            seen: vec![0; space.len as usize],
            walker: Walker::new(spawn, size, &mut rng),
            in_flight: InFlight::new(spawn),
            frame_latency: 0,
            rng,
            pending: HashSet::new(),
            acked: Vec::new(),
            tally: Tally::default(),
            window_sent: 0,
            window_rejected: 0,
            win,
            ctx,
            idx,
            go,
        }
    }

    fn in_window(&self, us: u64) -> bool {
        us >= self.win.0 && us < self.win.1
    }

    async fn live(&mut self, mut client: Client) -> Vec<String> {
        let plan = &self.ctx.plan;
        let mut steps = plan.walk_rate.map(|r| every(self.go.start, r, &mut self.rng));
        let mut chats = plan.chat_rate.map(|r| every(self.go.start, r, &mut self.rng));
        let room = plan.spaces[plan.space_of[self.idx as usize] as usize].room.clone();
        let mut flush = tokio::time::interval(Duration::from_secs(1));
        let stop = tokio::time::sleep_until(self.go.measure_end.into());
        let drain = tokio::time::sleep_until(self.go.drain_end.into());
        tokio::pin!(stop, drain);
        let mut sending = true;
        let open = loop {
            let sent = tokio::select! {
                r = client.recv() => match r {
                    Recv::Data(m) => {
                        if self.on_frame(m) {
                            self.flush();
                        }
                        Ok(())
                    }
                    Recv::Closed(why) => {
                        self.tally.disconnect(why);
                        break false;
                    }
                },
                _ = tick(&mut steps), if sending => self.step(&mut client).await,
                _ = tick(&mut chats), if sending && room.is_some() => {
                    self.chat(&mut client, room.as_deref().unwrap_or_default()).await
                }
                _ = flush.tick() => {
                    self.flush();
                    Ok(())
                }
                _ = &mut stop, if sending => {
                    sending = false;
                    Ok(())
                }
                _ = &mut drain => break true,
            };
            if let Err(e) = sent {
                self.tally.disconnect(format!("send failed: {e}"));
                break false;
            }
        };
        self.finish(client, open).await
    }

    /// Sends the walker's next step, remembered for matching what peers see.
    async fn step(&mut self, client: &mut Client) -> anyhow::Result<()> {
        let (x, y) = self.walker.step(&mut self.rng);
        let now = Instant::now();
        let seq = self.ctx.moves.record(self.idx, x, y, now);
        self.in_flight.sent(seq, (x, y), now);
        self.tally.counts.live_moves += 1;
        if self.in_window(self.ctx.moves.micros(now)) {
            self.tally.counts.moves_sent += 1;
            self.window_sent += 1;
        }
        client.send(&Out::Move { x, y }).await
    }

    /// Sends a chat message tagged with who sent it when, so its ack and
    /// every delivered copy can be timed.
    async fn chat(&mut self, client: &mut Client, room: &str) -> anyhow::Result<()> {
        let now = Instant::now();
        let seq = self.ctx.chats.record(self.idx, 0, 0, now);
        let tag = format!("b{:x}.{}.{}", self.go.run, self.idx, seq);
        let mut content = format!("{tag} ");
        while content.len() < self.ctx.plan.content_bytes {
            content.push('x');
        }
        self.pending.insert(seq);
        if self.in_window(self.ctx.chats.micros(now)) {
            self.tally.counts.chat_sent += 1;
        }
        client.send(&Out::ChatMessage { chatroom_id: room, content: &content, client_id: &tag }).await
    }

    /// Counts what is only known at the end, then closes (when still open).
    async fn finish(&mut self, client: Client, open: bool) -> Vec<String> {
        self.tally.counts.chat_unacked += self.pending.len() as u64;
        let members = self.go.joined[self.ctx.plan.space_of[self.idx as usize] as usize] as u64;
        self.tally.counts.moves_expected_views +=
            self.window_sent.saturating_sub(self.window_rejected) * members.saturating_sub(1);
        self.flush();
        if open {
            client.close().await;
        }
        std::mem::take(&mut self.acked)
    }

    fn flush(&mut self) {
        self.ctx.shared.flush(self.idx as usize, &mut self.tally);
    }
}
