//! `chat`: C clients in rooms of M (each room the `general` room of its
//! own space) posting at a total rate; measures send → ack (the sender's
//! own copy, matched by clientId) and send → deliver (another member's
//! copy), then checks that history holds every acknowledged message.

use serde_json::json;

use super::{Env, fleet, history, prepare, walk::batch_note};
use crate::cli::{ChatArgs, Cli};

/// The server's defaults: chat 5/s per user per room (burst 10), and 30
/// WebSocket messages/s per connection.
pub fn warn_limits(chat_per_client: f64, steps: f64) {
    if chat_per_client > 5.0 {
        eprintln!(
            "note: {chat_per_client:.1} chat messages/s per client is above the server's default chat limit \
             (5/s per user per room, burst 10); start the server with --chat-rate/--chat-burst or expect rate-limited errors"
        );
    }
    if chat_per_client + steps > 30.0 {
        eprintln!(
            "note: {:.1} messages/s per connection is above the server's default WebSocket limit (30/s)",
            chat_per_client + steps
        );
    }
}

pub async fn run(cli: &Cli, args: ChatArgs) -> anyhow::Result<()> {
    let clients = args.clients as usize;
    let room_size = args.room_size.min(args.clients);
    let rooms = clients.div_ceil(room_size as usize);
    let per_client = args.rate / clients as f64;
    warn_limits(per_client, 0.0);
    let mut env = Env::new(cli, clients).await?;
    let prep = prepare(&env, &args.setup, clients, rooms, true).await?;
    let mut plan = fleet::Plan::even(
        prep.users.clone(),
        &prep.spaces,
        prep.rooms.as_deref(),
        room_size,
        args.timing.clone(),
        args.source_ips,
    );
    plan.chat_rate = Some(per_client);
    plan.content_bytes = args.content_bytes as usize;
    let Some(mut out) = fleet::run(&mut env, plan).await? else { return Ok(()) };
    let mut report = fleet::report(&env, &out, false, true);
    if !args.no_history_check {
        report.history = Some(history::check(&env.api, prep.room_checks(room_size, &mut out)).await?);
    }
    report.scenario = "chat";
    report.title = format!(
        "chat: {} clients in {} room(s) of {}, {} messages/s in total ({:.2}/s each), {} bytes, {} codec{}, {:.0} s measured after {:.0} s warm-up",
        clients,
        rooms,
        room_size,
        args.rate,
        per_client,
        args.content_bytes,
        env.codec.name(),
        batch_note(cli),
        args.timing.duration.as_secs_f64(),
        args.timing.warmup.as_secs_f64(),
    );
    report.params = json!({
        "clients": clients, "room_size": room_size, "rooms": rooms, "rate": args.rate,
        "rate_per_client": per_client, "content_bytes": args.content_bytes,
        "codec": env.codec.name(), "batch": cli.batch.map(|b| format!("{b:?}").to_lowercase()),
        "duration_s": args.timing.duration.as_secs_f64(), "warmup_s": args.timing.warmup.as_secs_f64(),
        "drain_s": args.timing.drain.as_secs_f64(), "threads": crate::threads(),
    });
    report.setup = prep.summary(&env, &out);
    env.note_targets(&mut report);
    report.print(args.output.json)
}
