//! CPU and memory of a process, from /proc (Linux): CPU time from
//! /proc/PID/stat (utime + stime), resident memory from VmRSS in
//! /proc/PID/status, and each thread's CPU time from /proc/PID/task, so a
//! report shows whether one thread is the limit. A sampler reads them
//! every second.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;

/// CPU time (seconds) and RSS (KiB) of `pid` now; pid 0 stands for the
/// whole machine (busy CPU time of all cores from /proc/stat, no RSS).
pub fn read(pid: u32) -> Option<(f64, u64)> {
    if pid == 0 {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        return Some((parse_busy_ticks(&stat)? as f64 / ticks_per_second(), 0));
    }
    Some((cpu_seconds(pid)?, rss_kib(pid)?))
}

/// Busy time of all cores: the `cpu` line minus idle and iowait.
fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let total: u64 = v.iter().take(8).sum();
    Some(total - v.get(3)? - v.get(4).copied().unwrap_or(0))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// `read` summed over processes; None when none of them can be read
/// (one that has exited adds nothing).
fn read_group(pids: &[u32]) -> Option<(f64, u64)> {
    pids.iter().filter_map(|&pid| read(pid)).reduce(|a, b| (a.0 + b.0, a.1 + b.1))
}

/// The threads of several processes (thread ids are unique machine-wide).
fn group_thread_ticks(pids: &[u32]) -> HashMap<u32, (Arc<str>, u64)> {
    pids.iter().flat_map(|&pid| thread_ticks(pid)).collect()
}

pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|t| t as f64 / ticks_per_second())
}

/// utime + stime of a /proc/PID/stat line. The command name may hold
/// spaces and parentheses, so fields are counted after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Fields 3.. of stat(5); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_rss_kib(&status)
}

/// Each thread's name and CPU ticks, by thread id; empty when unreadable.
pub fn thread_ticks(pid: u32) -> HashMap<u32, (Arc<str>, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return HashMap::new() };
    dir.flatten()
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            Some((tid, (Arc::from(parse_name(&stat)?), parse_cpu_ticks(&stat)?)))
        })
        .collect()
}

/// The command name of a stat line: between the first `(` and the last `)`.
fn parse_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// The thread that used the most CPU between two readings, with its share
/// of one core over `dt` seconds.
fn busiest(
    before: &HashMap<u32, (Arc<str>, u64)>,
    now: &HashMap<u32, (Arc<str>, u64)>,
    dt: f64,
) -> Option<(f64, Arc<str>)> {
    now.iter()
        .filter_map(|(tid, (name, ticks))| {
            let used = ticks.saturating_sub(before.get(tid)?.1);
            Some((used as f64 / ticks_per_second() / dt * 100.0, name.clone()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Instant,
    /// CPU use since the previous sample, percent of one core.
    pub cpu_pct: f64,
    pub rss_kib: u64,
    /// The busiest thread since the previous sample: its CPU (percent of
    /// one core) and name.
    pub busiest: Option<(f64, Arc<str>)>,
}

/// Samples one process every second until dropped.
pub struct Sampler {
    pub pid: u32,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sampler {
    /// None when the process cannot be read.
    pub fn start(pid: u32) -> Option<Self> {
        Self::start_group(vec![pid])
    }

    /// Samples several processes as one (the harness and its
    /// `--processes` parts): CPU and RSS summed, the busiest thread among
    /// all of theirs. None when none can be read.
    pub fn start_group(pids: Vec<u32>) -> Option<Self> {
        let (cpu0, _) = read_group(&pids)?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let out = samples.clone();
        let pid = pids[0];
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), cpu0, group_thread_ticks(&pids));
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some((cpu, rss)) = read_group(&pids) else { break };
                let threads = group_thread_ticks(&pids);
                let now = Instant::now();
                let dt = now.duration_since(last.0).as_secs_f64();
                let cpu_pct = if dt > 0.0 { ((cpu - last.1) / dt * 100.0).max(0.0) } else { 0.0 };
                let busiest = if dt > 0.0 { busiest(&last.2, &threads, dt) } else { None };
                last = (now, cpu, threads);
                let sample = Sample { at: now, cpu_pct, rss_kib: rss, busiest };
                out.lock().unwrap_or_else(|p| p.into_inner()).push(sample);
            }
        });
        Some(Self { pid, samples, task })
    }

    /// Summary of the samples taken between `from` and `to`.
    pub fn summary(&self, from: Instant, to: Instant) -> ProcSummary {
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // A sample covers the second before it.
        let inside: Vec<Sample> =
            all.iter().filter(|s| s.at > from + Duration::from_millis(500) && s.at <= to).cloned().collect();
        let n = inside.len().max(1) as f64;
        ProcSummary {
            busiest_thread: busiest_thread(&inside),
            pid: self.pid,
            samples: inside.len(),
            cpu_mean_pct: inside.iter().map(|s| s.cpu_pct).sum::<f64>() / n,
            cpu_max_pct: inside.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
            rss_start_kib: inside.first().map(|s| s.rss_kib).unwrap_or_else(|| rss_kib(self.pid).unwrap_or(0)),
            rss_end_kib: inside.last().map(|s| s.rss_kib).unwrap_or_else(|| rss_kib(self.pid).unwrap_or(0)),
            rss_max_kib: inside.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        }
    }

    /// The latest CPU sample, for the progress line.
    pub fn last_cpu(&self) -> Option<f64> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner()).last().map(|s| s.cpu_pct)
    }
}

/// The thread most often the busiest, and the mean CPU of whichever thread
/// was the busiest each second: how close one thread is to its core.
fn busiest_thread(samples: &[Sample]) -> Option<ThreadShare> {
    let per_second: Vec<&(f64, Arc<str>)> = samples.iter().filter_map(|s| s.busiest.as_ref()).collect();
    if per_second.is_empty() {
        return None;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (_, name) in &per_second {
        *counts.entry(name).or_default() += 1;
    }
    let name = counts.into_iter().max_by_key(|(_, n)| *n).map(|(name, _)| name.to_owned())?;
    let mean = per_second.iter().map(|(pct, _)| pct).sum::<f64>() / per_second.len() as f64;
    Some(ThreadShare { name, cpu_mean_pct: mean })
}

/// The busiest thread of a process over a window.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadShare {
    /// Its name (`comm`), most often the busiest.
    pub name: String,
    /// Mean CPU of the busiest thread each second, percent of one core.
    pub cpu_mean_pct: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcSummary {
    /// Set when the process's threads could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busiest_thread: Option<ThreadShare>,
    pub pid: u32,
    pub samples: usize,
    pub cpu_mean_pct: f64,
    pub cpu_max_pct: f64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub rss_max_kib: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100 200 300";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_rss_kib("Name:\tx\nVmPeak:\t 10 kB\nVmRSS:\t  5120 kB\n"), Some(5120));
        assert_eq!(parse_busy_ticks("cpu  10 1 5 100 4 1 1 0 0 0\ncpu0 1 1 1 1 1 1 1 1\n"), Some(18));
        assert!(read(0).is_some());
        let me = std::process::id();
        let (cpu, rss) = read(me).expect("own /proc entry");
        assert!(cpu >= 0.0 && rss > 0);
        assert_eq!(parse_name(stat), Some("my (odd) name"));
        assert!(thread_ticks(me).values().any(|(name, _)| !name.is_empty()), "own threads are readable");
    }

    #[test]
    fn the_busiest_thread_is_the_one_that_used_most() {
        let at = |pairs: &[(u32, &str, u64)]| -> HashMap<u32, (Arc<str>, u64)> {
            pairs.iter().map(|(t, n, ticks)| (*t, (Arc::from(*n), *ticks))).collect()
        };
        let before = at(&[(1, "main", 100), (2, "arbiter", 50)]);
        // Half a second of CPU in one second (tick rates are whole numbers).
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let half = (ticks_per_second() / 2.0) as u64;
        let now = at(&[(1, "main", 100 + half), (2, "arbiter", 50), (3, "new", 0)]);
        let (pct, name) = busiest(&before, &now, 1.0).expect("a busiest thread");
        assert_eq!((pct.round(), &*name), (50.0, "main"));
        let sample = |pct: f64, name: &str| Sample {
            at: Instant::now(),
            cpu_pct: 0.0,
            rss_kib: 0,
            busiest: Some((pct, Arc::from(name))),
        };
        let share = busiest_thread(&[sample(90.0, "main"), sample(70.0, "main"), sample(20.0, "io")]).expect("one");
        assert_eq!(share.name, "main");
        assert!((share.cpu_mean_pct - 60.0).abs() < 1e-9);
    }
}
