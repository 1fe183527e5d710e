//! `mixed`: walk and chat at once; every user walks and posts in its
//! space's `general` room.

use serde_json::json;

use super::{Env, fleet, history, prepare, walk::batch_note};
use crate::cli::{Cli, MAX_USERS, MixedArgs};

pub async fn run(cli: &Cli, args: MixedArgs) -> anyhow::Result<()> {
    let total = args.spaces as u64 * args.users as u64;
    anyhow::ensure!(total <= MAX_USERS as u64, "spaces × users is {total}, more than {MAX_USERS}");
    let users = usize::try_from(total)?;
    let per_client = args.chat_rate / total as f64;
    super::chat::warn_limits(per_client, args.rate);
    let mut env = Env::new(cli, users).await?;
    let prep = prepare(&env, &args.setup, users, args.spaces as usize, true).await?;
    let mut plan = fleet::Plan::even(
        prep.users.clone(),
        &prep.spaces,
        prep.rooms.as_deref(),
        args.users,
        args.timing.clone(),
        args.source_ips,
    );
    plan.walk_rate = Some(args.rate);
    plan.chat_rate = Some(per_client);
    plan.content_bytes = args.content_bytes as usize;
    let Some(mut out) = fleet::run(&mut env, plan).await? else { return Ok(()) };
    let mut report = fleet::report(&env, &out, true, true);
    if !args.no_history_check {
        report.history = Some(history::check(&env.api, prep.room_checks(args.users, &mut out)).await?);
    }
    report.scenario = "mixed";
    report.title = format!(
        "mixed: {} space(s) × {} users, {} steps/s and {} chat messages/s in total, {}x{} tiles, {} codec{}, {:.0} s measured after {:.0} s warm-up",
        args.spaces,
        args.users,
        args.rate,
        args.chat_rate,
        args.setup.map_size.0,
        args.setup.map_size.1,
        env.codec.name(),
        batch_note(cli),
        args.timing.duration.as_secs_f64(),
        args.timing.warmup.as_secs_f64(),
    );
    report.params = json!({
        "spaces": args.spaces, "users_per_space": args.users, "rate": args.rate, "chat_rate": args.chat_rate,
        "content_bytes": args.content_bytes,
        "map_size": format!("{}x{}", args.setup.map_size.0, args.setup.map_size.1),
        "codec": env.codec.name(), "batch": cli.batch.map(|b| format!("{b:?}").to_lowercase()),
        "duration_s": args.timing.duration.as_secs_f64(), "warmup_s": args.timing.warmup.as_secs_f64(),
        "drain_s": args.timing.drain.as_secs_f64(), "threads": crate::threads(),
    });
    report.setup = prep.summary(&env, &out);
    env.note_targets(&mut report);
    report.print(args.output.json)
}
