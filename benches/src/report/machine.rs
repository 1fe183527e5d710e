//! The machine section: the whole machine's CPU, so a run shared with
//! other busy processes shows it.

use serde::Serialize;

use super::Rows;

/// The whole machine's CPU over the window (percent of one core).
#[derive(Debug, Default, Serialize)]
pub struct MachineSummary {
    pub cores: usize,
    pub cpu_busy_mean_pct: f64,
    pub cpu_busy_max_pct: f64,
    /// Busy minus the server and the harness (with --server-pid).
    pub others_mean_pct: Option<f64>,
}

impl MachineSummary {
    pub(super) fn rows(&self, rows: &mut Rows) {
        rows.push((
            "machine",
            format!(
                "{} cores, CPU busy mean {:.0}% max {:.0}% (of one core){}",
                self.cores,
                self.cpu_busy_mean_pct,
                self.cpu_busy_max_pct,
                self.others_mean_pct.map(|o| format!(", other processes {o:.0}%")).unwrap_or_default()
            ),
        ));
    }
}
