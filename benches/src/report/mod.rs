//! The run's report: a human table on stdout, or JSON with `--json`. Each
//! section is a summary type in its own file that knows its table rows;
//! this file holds the whole and the order the sections print in.

mod chat;
mod connect;
mod events;
mod format;
mod machine;
mod moves;
mod setup;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use self::format::{counts, latency, proc};
pub use self::{
    chat::{ChatSummary, HistoryCheck},
    connect::ConnectSummary,
    events::EventSummary,
    machine::MachineSummary,
    moves::MoveSummary,
    setup::SetupSummary,
};
use crate::{metrics::LatencySummary, procstat::ProcSummary};

/// Table rows: a label of at most 13 columns, then the text.
type Rows = Vec<(&'static str, String)>;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    /// One line saying what ran.
    pub title: String,
    pub params: Value,
    pub setup: SetupSummary,
    /// Length of the measured window, seconds.
    pub window_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moves: Option<MoveSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub move_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_ack_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_deliver_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_latency: Option<LatencySummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_latency: Option<LatencySummary>,
    /// `error` messages received, by code (and the harness's own decode
    /// problems, marked "(harness)").
    pub errors: BTreeMap<String, u64>,
    /// Connections the server closed or lost before the end, by close code.
    pub disconnects: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ProcSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub harness: Option<ProcSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineSummary>,
    /// The server while `connect` ramped up (`server` is the hold).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ramp: Option<ProcSummary>,
    pub notes: Vec<String>,
}

impl Report {
    /// The human table.
    pub fn render(&self) -> String {
        let mut rows = Rows::new();
        self.setup.rows(&mut rows);
        if let Some(c) = &self.connect {
            c.rows(&mut rows);
        }
        latency_row(&mut rows, "connect", &self.connect_latency);
        latency_row(&mut rows, "join", &self.join_latency);
        if let Some(m) = &self.moves {
            m.rows(&mut rows);
        }
        latency_row(&mut rows, "move→seen", &self.move_latency);
        if let Some(e) = &self.events {
            e.rows(&mut rows);
        }
        if let Some(c) = &self.chat {
            c.rows(&mut rows);
        }
        latency_row(&mut rows, "send→ack", &self.chat_ack_latency);
        latency_row(&mut rows, "send→deliver", &self.chat_deliver_latency);
        if let Some(h) = &self.history {
            h.rows(&mut rows);
        }
        rows.push(("errors", counts(&self.errors)));
        rows.push(("disconnects", counts(&self.disconnects)));
        proc_row(&mut rows, "server ramp", &self.server_ramp);
        proc_row(&mut rows, "server", &self.server);
        proc_row(&mut rows, "harness", &self.harness);
        if let Some(m) = &self.machine {
            m.rows(&mut rows);
        }
        for note in &self.notes {
            rows.push(("note", note.clone()));
        }
        let mut out = format!("{}\n", self.title);
        for (k, v) in rows {
            out.push_str(&format!("  {k:<13} {v}\n"));
        }
        out
    }

    pub fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
        } else {
            print!("{}", self.render());
        }
        Ok(())
    }
}

fn latency_row(rows: &mut Rows, label: &'static str, l: &Option<LatencySummary>) {
    if let Some(l) = l {
        rows.push((label, latency(l)));
    }
}

fn proc_row(rows: &mut Rows, label: &'static str, p: &Option<ProcSummary>) {
    if let Some(p) = p {
        rows.push((label, proc(p)));
    }
}
