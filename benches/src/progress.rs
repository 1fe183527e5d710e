//! Progress bars on stderr (hidden when stderr is not a terminal, and in
//! the parts of a `--processes` run, whose parent shows its own).

use std::{
    sync::atomic::{AtomicBool, Ordering::Relaxed},
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};

static HIDDEN: AtomicBool = AtomicBool::new(false);

/// Hides every bar made from now on.
pub fn hide() {
    HIDDEN.store(true, Relaxed);
}

fn bar(len: u64) -> ProgressBar {
    if HIDDEN.load(Relaxed) { ProgressBar::hidden() } else { ProgressBar::new(len) }
}

/// A bar counting `len` things (users signed up, sockets joined).
pub fn counter(len: u64, what: &str) -> ProgressBar {
    let pb = bar(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} {elapsed} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// A bar over a run of `total` seconds, with live figures as its message.
pub fn timer(total: Duration, what: &str) -> ProgressBar {
    let pb = bar(u64::try_from(total.as_millis()).unwrap_or(u64::MAX));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {elapsed}/{duration} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb
}
