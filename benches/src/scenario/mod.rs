//! The WebSocket scenarios. `walk`, `chat` and `mixed` are one fleet of
//! bots with different plans (see `fleet`); `connect` has its own ramp.

pub mod bot;
pub mod chat;
pub mod connect;
pub mod fleet;
pub mod history;
pub mod mixed;
pub mod part;
pub mod peers;
pub mod split;
pub mod walk;
pub mod walker;

use std::time::Instant;

use crate::{
    cli::{Cli, OnOff},
    client::Targets,
    limits,
    procstat::Sampler,
    setup::Api,
    wire::Codec,
};

/// What every WebSocket scenario starts from.
pub struct Env {
    pub api: Api,
    /// The WebSocket endpoints (several with `--ws URL,URL`).
    pub targets: Targets,
    pub codec: Codec,
    pub server: Option<Sampler>,
    pub harness: Option<Sampler>,
    /// The whole machine's busy CPU (/proc/stat).
    pub machine: Option<Sampler>,
    /// RLIMIT_NOFILE after raising it.
    pub nofile: u64,
    /// Harness processes the run spreads over (`--processes`).
    pub processes: u16,
    /// Set in one of those processes (`--part`).
    pub part: Option<part::Part>,
}

impl Env {
    /// Raises the descriptor limit for `sockets`, resolves the WebSocket
    /// address and starts the /proc samplers.
    pub async fn new(cli: &Cli, sockets: usize) -> anyhow::Result<Self> {
        let want = sockets as u64 + 1024;
        let nofile = limits::raise_nofile(want.max(65_536));
        if nofile < want {
            eprintln!("warning: open-file limit is {nofile}, below the {want} this run needs");
        }
        let codec = Codec::from(cli.codec);
        let batch = cli.batch.map(|b| b == OnOff::On);
        let mut targets = Targets::resolve(&cli.ws, codec, batch).await?;
        targets.each(|t| {
            t.subprotocol = !cli.no_subprotocol;
            t.view = cli.view;
        });
        let server = match cli.server_pid.filter(|_| cli.part.is_none()) {
            Some(pid) => Some(Sampler::start(pid).ok_or_else(|| anyhow::anyhow!("cannot read /proc/{pid}"))?),
            None => None,
        };
        Ok(Self {
            api: Api::new(&cli.http)?,
            targets,
            codec,
            server,
            harness: Sampler::start(std::process::id()),
            machine: Sampler::start(0),
            nofile,
            processes: cli.processes,
            part: cli.part,
        })
    }
}

impl Env {
    /// With several `--ws` URLs: says so in the title and lists them in
    /// the parameters (a single URL leaves the report as it was).
    pub fn note_targets(&self, r: &mut crate::report::Report) {
        let n = self.targets.len();
        if n > 1 {
            r.title.push_str(&format!(", clients spread over {n} WebSocket URLs"));
            let urls: Vec<&str> = (0..n).map(|i| self.targets.for_client(i).url.as_str()).collect();
            if let Some(p) = r.params.as_object_mut() {
                p.insert("ws_urls".into(), serde_json::json!(urls));
            }
        }
    }

    /// CPU and memory of the server, the harness and the machine over a
    /// window, with a note when other processes took a noticeable share.
    pub fn proc_summaries(&self, r: &mut crate::report::Report, from: Instant, to: Instant) {
        r.server = self.server.as_ref().map(|s| s.summary(from, to));
        r.harness = self.harness.as_ref().map(|s| s.summary(from, to));
        if let Some(m) = &self.machine {
            let m = m.summary(from, to);
            let ours = r.harness.as_ref().map_or(0.0, |h| h.cpu_mean_pct);
            let server = r.server.as_ref().map(|s| s.cpu_mean_pct);
            let others = server.map(|s| (m.cpu_mean_pct - ours - s).max(0.0));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if let Some(o) = others.filter(|&o| o >= 20.0) {
                r.notes.push(format!(
                    "other processes used {o:.0}% CPU (of one core) during the window on this {cores}-core machine: \
                     the figures are disturbed"
                ));
            }
            r.machine = Some(crate::report::MachineSummary {
                cores,
                cpu_busy_mean_pct: m.cpu_mean_pct,
                cpu_busy_max_pct: m.cpu_max_pct,
                others_mean_pct: others,
            });
        }
        r.notes.extend(fleet::harness_note(r.harness.as_ref()));
    }
}

/// Users, spaces and (when chatting) their `general` rooms.
pub struct Prepared {
    pub users: Vec<crate::setup::User>,
    pub counts: crate::setup::UserCounts,
    pub spaces: Vec<String>,
    pub rooms: Option<Vec<String>>,
    pub seconds: f64,
}

pub async fn prepare(
    env: &Env,
    setup: &crate::cli::SetupArgs,
    users: usize,
    spaces: usize,
    rooms: bool,
) -> anyhow::Result<Prepared> {
    if env.part.is_some() {
        let given: part::Setup = part::read().await?;
        let counts = crate::setup::UserCounts::default();
        return Ok(Prepared { users: given.users, counts, spaces: given.spaces, rooms: given.rooms, seconds: 0.0 });
    }
    let started = Instant::now();
    let prefix = crate::setup::user_prefix(setup);
    let pb = crate::progress::counter(users as u64, "users");
    let (list, counts) = crate::setup::users(&env.api, setup, &prefix, users, &pb).await?;
    pb.finish_and_clear();
    let owner = setup.token.clone().unwrap_or_else(|| list[0].token.clone());
    let pb = crate::progress::counter(spaces as u64, "spaces");
    let ids = crate::setup::spaces(&env.api, setup, &prefix, &owner, spaces, &pb).await?;
    pb.finish_and_clear();
    let rooms = if rooms { Some(crate::setup::rooms(&env.api, &list[0].token, &ids).await?) } else { None };
    Ok(Prepared { users: list, counts, spaces: ids, rooms, seconds: started.elapsed().as_secs_f64() })
}

impl Prepared {
    pub fn summary(&self, env: &Env, out: &fleet::Outcome) -> crate::report::SetupSummary {
        crate::report::SetupSummary {
            users: self.users.len(),
            user_counts: self.counts,
            spaces: self.spaces.len(),
            setup_seconds: self.seconds,
            joined: out.joined,
            join_failures: out.join_failures.clone(),
            join_seconds: out.join_time.as_secs_f64(),
            open_file_limit: env.nofile,
        }
    }

    /// The history check of every room: a member's token, its acked ids.
    pub fn room_checks(&self, per_space: u32, out: &mut fleet::Outcome) -> Vec<history::RoomCheck> {
        let Some(rooms) = &self.rooms else { return Vec::new() };
        rooms
            .iter()
            .enumerate()
            .map(|(s, room)| history::RoomCheck {
                room: room.clone(),
                token: self.users[s * per_space as usize].token.clone(),
                acked: std::mem::take(&mut out.acked[s]),
                slack: per_space as usize + 100,
            })
            .collect()
    }
}
