//! The parent of a `--processes N` run. It has done the setup; it starts
//! N copies of itself with `--part I/N` (the same arguments, so the same
//! scenario and rates), hands each the setup, waits until all have
//! joined, gives them one start on the wall clock, and merges what they
//! counted into one outcome, as if one process had run every bot.
//!
//! One process is bounded by its open-file limit and by how many cores its
//! runtime can keep busy; parts lift both. The parent samples the server
//! and the machine as usual, and the harness as the sum of its processes.

use std::{
    collections::BTreeMap,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{
    Env,
    fleet::{Outcome, Plan},
    part::{Done, Said, Setup, Start},
};
use crate::{metrics::Shared, procstat::Sampler, progress};

/// Time for the start line to reach every part before the first send.
const START_DELAY: Duration = Duration::from_millis(300);

struct Proc {
    index: u16,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    async fn send(&mut self, line: &[u8]) -> anyhow::Result<()> {
        self.stdin.write_all(line).await.with_context(|| format!("writing to harness part {}", self.index))?;
        Ok(self.stdin.flush().await?)
    }

    /// The part's outcome, once it has finished well.
    async fn finish(mut self) -> anyhow::Result<Done> {
        let done = match self.next().await? {
            Said::Done(done) => *done,
            Said::Joined { .. } => bail!("harness part {} joined twice", self.index),
        };
        let status = self.child.wait().await?;
        anyhow::ensure!(status.success(), "harness part {} ended with {status}", self.index);
        Ok(done)
    }

    /// The part's next line; when it has none, why it stopped.
    async fn next(&mut self) -> anyhow::Result<Said> {
        match self.stdout.next_line().await? {
            Some(line) => {
                serde_json::from_str(&line).with_context(|| format!("a line from harness part {}", self.index))
            }
            None => bail!("harness part {} stopped: {}", self.index, self.child.wait().await?),
        }
    }
}

fn line<T: serde::Serialize>(what: &T) -> anyhow::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(what)?;
    out.push(b'\n');
    Ok(out)
}

/// Runs the plan over `env.processes` parts; the outcome is the parts'
/// merged, on this process's clock.
pub async fn run(env: &mut Env, plan: Plan) -> anyhow::Result<Outcome> {
    // A part without a space would have no bot to run.
    anyhow::ensure!(
        usize::from(env.processes) <= plan.spaces.len(),
        "--processes {} needs at least as many spaces (or rooms); this run has {}",
        env.processes,
        plan.spaces.len()
    );
    let setup = Setup {
        users: plan.users.clone(),
        spaces: plan.spaces.iter().map(|s| s.id.clone()).collect(),
        rooms: plan.spaces.iter().map(|s| s.room.clone()).collect(),
    };
    let setup = line(&setup)?;
    let joining = Instant::now();
    let mut parts = Vec::new();
    for index in 0..env.processes {
        let mut p = spawn(index, env.processes)?;
        p.send(&setup).await?;
        parts.push(p);
    }
    let pids = std::iter::once(std::process::id()).chain(parts.iter().filter_map(|p| p.child.id())).collect();
    env.harness = Sampler::start_group(pids);
    let pb = progress::counter(parts.len() as u64, "parts");
    for p in &mut parts {
        match p.next().await? {
            Said::Joined { .. } => pb.inc(1),
            Said::Done(_) => bail!("harness part {} finished before it joined", p.index),
        }
    }
    pb.finish_and_clear();
    let join_time = joining.elapsed();
    let (start, at) = Start::after(START_DELAY, rand::random::<u32>() & 0xffff);
    let start = line(&start)?;
    for p in &mut parts {
        p.send(&start).await?;
    }
    let t = &plan.timing;
    let (measure_start, measure_end) = (at + t.warmup, at + t.warmup + t.duration);
    let _ticker = Ticker::start(progress::timer(t.warmup + t.duration + t.drain, "running"), at);
    let mut out = Outcome {
        joined: 0,
        join_failures: BTreeMap::new(),
        join_time,
        measure_start,
        measure_end,
        shared: Arc::new(Shared::new()),
        acked: vec![Vec::new(); plan.spaces.len()],
    };
    // All at once, so a part that fails is reported when it fails; on an
    // error the others are dropped, and with them killed.
    let mut waiting = tokio::task::JoinSet::new();
    for p in parts {
        waiting.spawn(p.finish());
    }
    while let Some(done) = waiting.join_next().await {
        merge(&mut out, done??);
    }
    Ok(out)
}

/// Starts part `index` of `count`: this executable with this process's
/// arguments and `--part`.
fn spawn(index: u16, count: u16) -> anyhow::Result<Proc> {
    let exe = std::env::current_exe().context("finding the harness's own executable")?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .arg("--part")
        .arg(format!("{index}/{count}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting harness part {index}"))?;
    let stdin = child.stdin.take().context("the part's stdin")?;
    let stdout = BufReader::new(child.stdout.take().context("the part's stdout")?).lines();
    Ok(Proc { index, child, stdin, stdout })
}

/// Moves a bar over the run while the parts work (their live rates stay
/// in them); stops and clears it when dropped, however the run ends.
struct Ticker(tokio::task::JoinHandle<()>, indicatif::ProgressBar);

impl Ticker {
    fn start(pb: indicatif::ProgressBar, start: Instant) -> Self {
        let bar = pb.clone();
        Self(
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(500));
                loop {
                    every.tick().await;
                    let ms = Instant::now().saturating_duration_since(start).as_millis();
                    bar.set_position(u64::try_from(ms).unwrap_or(u64::MAX));
                }
            }),
            pb,
        )
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
        self.1.finish_and_clear();
    }
}

/// Adds one part's outcome; a space index out of range is ignored.
fn merge(out: &mut Outcome, done: Done) {
    out.joined += done.joined;
    for (why, n) in done.join_failures {
        *out.join_failures.entry(why).or_default() += n;
    }
    out.shared.absorb(&done.counted);
    for (space, ids) in done.acked {
        if let Some(acked) = out.acked.get_mut(space as usize) {
            acked.extend(ids);
        }
    }
}
