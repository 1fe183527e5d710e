//! `walk`: S spaces × U users, each random-walking at R steps/s, steering
//! around rejections; measures how long a move takes to reach every peer.

use serde_json::json;

use super::{Env, fleet, prepare};
use crate::cli::{Cli, MAX_USERS, WalkArgs};

pub async fn run(cli: &Cli, args: WalkArgs) -> anyhow::Result<()> {
    let total = args.spaces as u64 * args.users as u64;
    anyhow::ensure!(total <= MAX_USERS as u64, "spaces × users is {total}, more than {MAX_USERS}");
    let users = usize::try_from(total)?;
    let mut env = Env::new(cli, users).await?;
    let prep = prepare(&env, &args.setup, users, args.spaces as usize, false).await?;
    let mut plan =
        fleet::Plan::even(prep.users.clone(), &prep.spaces, None, args.users, args.timing.clone(), args.source_ips);
    plan.walk_rate = Some(args.rate);
    let Some(out) = fleet::run(&mut env, plan).await? else { return Ok(()) };
    let mut report = fleet::report(&env, &out, true, false);
    report.scenario = "walk";
    report.title = format!(
        "walk: {} space(s) × {} users, {} steps/s, {}x{} tiles, {} codec{}, {:.0} s measured after {:.0} s warm-up",
        args.spaces,
        args.users,
        args.rate,
        args.setup.map_size.0,
        args.setup.map_size.1,
        env.codec.name(),
        batch_note(cli),
        args.timing.duration.as_secs_f64(),
        args.timing.warmup.as_secs_f64(),
    );
    report.params = json!({
        "spaces": args.spaces, "users_per_space": args.users, "rate": args.rate,
        "map_size": format!("{}x{}", args.setup.map_size.0, args.setup.map_size.1),
        "codec": env.codec.name(), "batch": cli.batch.map(|b| format!("{b:?}").to_lowercase()),
        "duration_s": args.timing.duration.as_secs_f64(), "warmup_s": args.timing.warmup.as_secs_f64(),
        "drain_s": args.timing.drain.as_secs_f64(), "threads": crate::threads(),
    });
    report.setup = prep.summary(&env, &out);
    env.note_targets(&mut report);
    report.print(args.output.json)
}

/// ", batch on/off" when asked for explicitly.
pub fn batch_note(cli: &Cli) -> String {
    cli.batch.map(|b| format!(", batch {}", format!("{b:?}").to_lowercase())).unwrap_or_default()
}
