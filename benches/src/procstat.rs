//! CPU and memory of a process, from /proc (Linux): CPU time from
//! /proc/PID/stat (utime + stime), resident memory from VmRSS in
//! /proc/PID/status. A sampler reads them every second.

use std::{
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

fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// CPU use since the previous sample, percent of one core.
    pub cpu_pct: f64,
    pub rss_kib: u64,
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
        let (cpu0, _) = read(pid)?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let out = samples.clone();
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), cpu0);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some((cpu, rss)) = read(pid) else { break };
                let now = Instant::now();
                let dt = now.duration_since(last.0).as_secs_f64();
                let cpu_pct = if dt > 0.0 { (cpu - last.1) / dt * 100.0 } else { 0.0 };
                last = (now, cpu);
                out.lock().unwrap_or_else(|p| p.into_inner()).push(Sample { at: now, cpu_pct, rss_kib: rss });
            }
        });
        Some(Self { pid, samples, task })
    }

    /// Summary of the samples taken between `from` and `to`.
    pub fn summary(&self, from: Instant, to: Instant) -> ProcSummary {
        let all = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // A sample covers the second before it.
        let inside: Vec<Sample> =
            all.iter().copied().filter(|s| s.at > from + Duration::from_millis(500) && s.at <= to).collect();
        let n = inside.len().max(1) as f64;
        ProcSummary {
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

#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcSummary {
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
    }
}
