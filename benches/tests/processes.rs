//! `--processes`: one run spread over several harness processes against a
//! real server (its embedded defaults: SQLite, in-process backplane), and
//! merged into one report as if one process had run every bot.

use std::{path::Path, process::Command, time::Duration};

use anyhow::Context;
use metaverse_server::{
    app::{Spawned, spawn},
    config::ServeConfig,
};
use serde_json::Value;

/// The server on ephemeral ports with a database of its own; the services
/// CI exports are for the server's own tests.
fn server(dir: &Path) -> anyhow::Result<Spawned> {
    let mut cfg = ServeConfig::defaults();
    cfg.http_addr = "127.0.0.1:0".parse()?;
    cfg.ws_addr = "127.0.0.1:0".parse()?;
    cfg.admin_addr = "127.0.0.1:0".parse()?;
    cfg.db.data_dir = dir.to_path_buf();
    cfg.db.database_url = None;
    cfg.kafka.kafka_brokers.clear();
    cfg.cluster.redis.redis_url = None;
    cfg.no_demo = true;
    cfg.http_workers = 1;
    cfg.shutdown_timeout = Duration::from_secs(5);
    spawn(cfg)
}

/// Runs the harness against `server` with `args` and returns its JSON report.
fn bench(server: &Spawned, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_metaverse-bench"))
        .arg("--http")
        .arg(format!("http://{}", server.http_addr))
        .arg("--ws")
        .arg(format!("ws://{}/", server.ws_addr))
        .args(args)
        .args(["--warmup", "1s", "--duration", "2s", "--drain", "1s", "--json"])
        .output()?;
    anyhow::ensure!(out.status.success(), "harness failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).context("the JSON report")
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn noted(report: &Value, what: &str) -> bool {
    report["notes"].as_array().is_some_and(|n| n.iter().any(|s| s.as_str().is_some_and(|s| s.contains(what))))
}

#[test]
fn a_walk_over_two_processes_keeps_each_space_in_one_and_merges_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path())?;
    let r = bench(&server, &["--processes", "2", "walk", "--spaces", "3", "--users", "3"])?;
    assert_eq!((count(&r["setup"]["joined"]), count(&r["setup"]["spaces"])), (9, 3), "{r}");
    let moves = &r["moves"];
    assert!(count(&moves["sent"]) > 0 && count(&moves["seen"]) > 0, "{r}");
    // A peer in another process would see moves its own send log never
    // recorded.
    assert_eq!(count(&moves["unmatched"]), 0, "{r}");
    assert_eq!(count(&r["move_latency"]["count"]), count(&moves["seen"]), "every part's samples are merged: {r}");
    assert!(noted(&r, "2 processes"), "{r}");
    assert!(r["harness"]["cpu_mean_pct"].is_number(), "{r}");
    server.shutdown()
}

#[test]
fn chat_over_three_processes_finds_every_acknowledged_message_in_its_room() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path())?;
    let r = bench(&server, &["--processes", "3", "chat", "--clients", "8", "--room-size", "2", "--rate", "8"])?;
    assert_eq!(count(&r["setup"]["joined"]), 8, "{r}");
    let (chat, history) = (&r["chat"], &r["history"]);
    assert!(count(&chat["acked"]) > 0 && count(&chat["delivered"]) > 0, "{r}");
    // The parts' acknowledged ids go back to their rooms by the run's
    // space index; a wrong index would look for them in another room.
    assert_eq!(count(&history["rooms"]), 4, "{r}");
    assert!(count(&history["acked"]) >= count(&chat["acked"]), "{r}");
    assert_eq!(count(&history["missing"]), 0, "{r}");
    server.shutdown()
}

#[test]
fn more_processes_than_spaces_is_refused_before_any_starts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = server(dir.path())?;
    let out = Command::new(env!("CARGO_BIN_EXE_metaverse-bench"))
        .arg("--http")
        .arg(format!("http://{}", server.http_addr))
        .arg("--ws")
        .arg(format!("ws://{}/", server.ws_addr))
        .args(["--processes", "3", "walk", "--spaces", "2", "--users", "2", "--duration", "1s"])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs at least as many spaces"), "{out:?}");
    server.shutdown()
}

#[test]
fn connect_refuses_to_be_split() -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_metaverse-bench"))
        .args(["--processes", "2", "connect", "--sockets", "2"])
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one process"), "{out:?}");
    Ok(())
}
