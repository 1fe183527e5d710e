//! One process of a `--processes N` run. The parent does the setup, then
//! starts N copies of itself with `--part I/N`; each part drives whole
//! spaces (space s belongs to part s mod N), so every move a bot sees was
//! sent by a bot of the same process and is matched against that
//! process's own send log. The parent merges what the parts counted
//! (`split`).
//!
//! The parent and a part talk in lines of JSON. On the part's stdin: the
//! setup, then the start. On its stdout: `joined` once its bots have
//! joined, then `done` with everything it counted. Its stderr is the
//! parent's, so its warnings and errors reach the user.

use std::{
    collections::BTreeMap,
    io::{BufRead, Write},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::fleet::{Outcome, Plan, SpacePlan};
use crate::{metrics::Export, setup::User};

/// Most processes one run may spread over.
pub const MAX_PROCESSES: u16 = 64;

/// Which part of a `--processes` run this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: u16,
    pub count: u16,
}

impl std::str::FromStr for Part {
    type Err = String;

    /// `I/N` with 0 ≤ I < N ≤ 64.
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 0/2")?;
        let index: u16 = i.trim().parse().map_err(|_| "I is not a number")?;
        let count: u16 = n.trim().parse().map_err(|_| "N is not a number")?;
        if !(1..=MAX_PROCESSES).contains(&count) || index >= count {
            return Err(format!("need 0 ≤ I < N ≤ {MAX_PROCESSES}"));
        }
        Ok(Self { index, count })
    }
}

/// The parent's users, spaces and rooms: the same for every part.
#[derive(Debug, Serialize, Deserialize)]
pub struct Setup {
    pub users: Vec<User>,
    pub spaces: Vec<String>,
    pub rooms: Option<Vec<String>>,
}

/// When the bots start, on the wall clock so that every process agrees,
/// and the run's tag in chat messages.
#[derive(Debug, Serialize, Deserialize)]
pub struct Start {
    pub unix_us: u64,
    pub run: u32,
}

/// What a part says on its stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Said {
    /// Its bots have joined (or failed to); it waits for the start.
    Joined { joined: u32 },
    /// Its bots have finished.
    Done(Box<Done>),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Done {
    pub joined: u32,
    pub join_failures: BTreeMap<String, u64>,
    pub counted: Export,
    /// Acknowledged chat message ids, by the run's space index.
    pub acked: Vec<(u32, Vec<String>)>,
}

fn unix_us(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros()).unwrap_or(u64::MAX)
}

impl Start {
    /// A start `delay` from now, and the same moment on this process's clock.
    pub fn after(delay: Duration, run: u32) -> (Self, Instant) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        (Self { unix_us: unix_us(wall + delay), run }, now + delay)
    }

    /// The start on this process's clock (now, if it has passed).
    pub fn instant(&self) -> Instant {
        let (now, wall) = (Instant::now(), unix_us(SystemTime::now()));
        now + Duration::from_micros(self.unix_us.saturating_sub(wall)).min(Duration::from_secs(60))
    }
}

impl Part {
    /// This part's spaces of the plan, with their bots numbered from 0.
    pub fn keep(self, plan: Plan) -> Plan {
        let mut all: Vec<Option<User>> = plan.users.into_iter().map(Some).collect();
        let (mut spaces, mut users, mut space_of) = (Vec::new(), Vec::new(), Vec::new());
        let mine = plan.spaces.into_iter().enumerate().filter(|(s, _)| s % self.count as usize == self.index as usize);
        for (_, space) in mine {
            let local = u32::try_from(spaces.len()).unwrap_or(u32::MAX);
            let base = u32::try_from(users.len()).unwrap_or(u32::MAX);
            for i in space.base..space.base + space.len {
                users.extend(all.get_mut(i as usize).and_then(Option::take));
                space_of.push(local);
            }
            spaces.push(SpacePlan { base, ..space });
        }
        Plan { spaces, users, space_of, ..plan }
    }

    /// The run's index of this part's `local`-th space.
    pub fn global(self, local: usize) -> u32 {
        u32::try_from(local * self.count as usize + self.index as usize).unwrap_or(u32::MAX)
    }

    /// What the parent needs of this part's outcome.
    pub fn done(self, out: &Outcome) -> Done {
        Done {
            joined: out.joined,
            join_failures: out.join_failures.clone(),
            counted: out.shared.export(),
            acked: out.acked.iter().enumerate().map(|(s, ids)| (self.global(s), ids.clone())).collect(),
        }
    }
}

/// Reads one line of JSON from stdin.
pub async fn read<T: DeserializeOwned + Send + 'static>() -> anyhow::Result<T> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading from the parent")?;
        if line.is_empty() {
            bail!("the parent process closed the pipe");
        }
        serde_json::from_str(&line).context("a line from the parent")
    })
    .await?
}

/// Writes one line of JSON to stdout.
pub fn say(what: &Said) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, what)?;
    out.write_all(b"\n")?;
    Ok(out.flush()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::TimingArgs;

    fn plan(spaces: u32, per_space: u32) -> Plan {
        let users = (0..spaces * per_space).map(|i| User { name: format!("u-{i}"), token: format!("t{i}") }).collect();
        let ids: Vec<String> = (0..spaces).map(|s| format!("s{s}")).collect();
        let timing = TimingArgs { duration: Duration::from_secs(1), warmup: Duration::ZERO, drain: Duration::ZERO };
        Plan::even(users, &ids, None, per_space, timing, None)
    }

    #[test]
    fn parts_are_parsed_within_bounds() {
        assert_eq!("1/3".parse(), Ok(Part { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "0/65", "a/2", "1", "-1/2"] {
            assert!(bad.parse::<Part>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_part_keeps_whole_spaces_and_renumbers_their_bots() {
        let part = Part { index: 1, count: 2 };
        let kept = part.keep(plan(5, 3));
        let ids: Vec<&str> = kept.spaces.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["s1", "s3"]);
        let names: Vec<&str> = kept.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["u-3", "u-4", "u-5", "u-9", "u-10", "u-11"]);
        assert_eq!(kept.space_of, [0, 0, 0, 1, 1, 1]);
        assert_eq!((kept.spaces[1].base, kept.spaces[1].len), (3, 3));
        assert_eq!((part.global(0), part.global(1)), (1, 3));
        let every: usize = (0..3).map(|i| Part { index: i, count: 3 }.keep(plan(5, 3)).users.len()).sum();
        assert_eq!(every, 15, "the parts cover every bot once");
    }

    #[test]
    fn a_start_is_the_same_moment_in_every_process() {
        let (start, here) = Start::after(Duration::from_millis(300), 7);
        let line = serde_json::to_string(&start).expect("serialises");
        let there = serde_json::from_str::<Start>(&line).expect("parses").instant();
        let apart = if there > here { there - here } else { here - there };
        assert!(apart < Duration::from_millis(50), "{apart:?}");
        let past = Start { unix_us: 0, run: 0 }.instant();
        assert!(past <= Instant::now(), "a start in the past is now");
    }
}
