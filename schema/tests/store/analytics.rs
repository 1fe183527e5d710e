//! Analytics upserts add up, repeats are remembered, and the reports read
//! the sums back.

use metaverse_schema::{
    entity::{analytics_minute_user, analytics_room_minute, analytics_seen, analytics_session, analytics_space_minute},
    store::analytics::{read, write},
};

use crate::common::each_engine;

const M: i64 = 60_000;

fn minute(space: &str, at: i64, joins: i64, messages: i64) -> analytics_space_minute::Model {
    analytics_space_minute::Model {
        space_id: space.into(),
        minute: at,
        joins,
        leaves: 0,
        messages,
        attachments: 0,
        active_users: 0,
    }
}

fn present(space: &str, at: i64, user: &str) -> analytics_minute_user::Model {
    analytics_minute_user::Model { space_id: space.into(), minute: at, user_id: user.into() }
}

#[tokio::test]
async fn counters_add_up_across_writes() {
    each_engine(|db| async move {
        write::add_space_minutes(&db, vec![minute("s", M, 1, 2), minute("s", 2 * M, 0, 1)]).await.unwrap();
        write::add_space_minutes(&db, vec![minute("s", M, 2, 3), minute("t", M, 1, 0)]).await.unwrap();
        let rows = read::space_minutes(&db, "s", 0, 10 * M).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.minute, r.joins, r.messages)).collect::<Vec<_>>(),
            [(M, 3, 5), (2 * M, 0, 1)]
        );
        assert!(read::space_minutes(&db, "s", 2 * M, 3 * M).await.unwrap().len() == 1, "ranges are [from, to)");

        let room =
            |n| analytics_room_minute::Model { chatroom_id: "r".into(), minute: M, space_id: "s".into(), messages: n };
        write::add_room_minutes(&db, vec![room(2)]).await.unwrap();
        write::add_room_minutes(&db, vec![room(5)]).await.unwrap();
        assert_eq!(read::room_messages(&db, "s", 0, 10 * M).await.unwrap(), [("r".to_owned(), 7)]);

        let mut totals = read::per_space(&db, 0, 10 * M).await.unwrap();
        totals.sort_by(|a, b| a.space_id.cmp(&b.space_id));
        assert_eq!(
            totals.iter().map(|t| (t.space_id.as_str(), t.joins, t.messages)).collect::<Vec<_>>(),
            [("s", 3, 6), ("t", 1, 0)]
        );
    })
    .await;
}

#[tokio::test]
async fn presence_is_recounted_per_minute() {
    each_engine(|db| async move {
        write::add_space_minutes(&db, vec![minute("s", M, 0, 0), minute("s", 2 * M, 0, 0)]).await.unwrap();
        let seen = vec![present("s", M, "a"), present("s", M, "b"), present("s", 2 * M, "a")];
        write::mark_present(&db, seen.clone()).await.unwrap();
        write::mark_present(&db, seen).await.unwrap();
        write::recount_active(&db, "s", M, 2 * M).await.unwrap();
        let rows = read::space_minutes(&db, "s", 0, 10 * M).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.active_users).collect::<Vec<_>>(), [2, 1], "repeats counted once");
        assert_eq!(read::distinct_users(&db, Some("s"), 0, 10 * M).await.unwrap(), 2);
        assert_eq!(read::distinct_users(&db, None, 2 * M, 3 * M).await.unwrap(), 1);
        assert_eq!(read::distinct_users_per_space(&db, 0, 10 * M).await.unwrap().get("s"), Some(&2));
        assert_eq!(read::per_space(&db, 0, 10 * M).await.unwrap()[0].peak_active_users, 2);
    })
    .await;
}

#[tokio::test]
async fn event_keys_and_sessions_are_kept_once() {
    each_engine(|db| async move {
        let key = |k: &str, at| analytics_seen::Model { event_key: k.into(), at };
        write::remember_keys(&db, vec![key("m:1", 10), key("m:2", 20)]).await.unwrap();
        write::remember_keys(&db, vec![key("m:2", 99)]).await.unwrap();
        let mut seen = write::seen_keys(&db, &["m:1".into(), "m:2".into(), "m:3".into()]).await.unwrap();
        seen.sort();
        assert_eq!(seen, ["m:1", "m:2"]);
        assert_eq!(write::forget_keys_before(&db, 15).await.unwrap(), 1);
        assert_eq!(write::seen_keys(&db, &["m:1".into(), "m:2".into()]).await.unwrap(), ["m:2"], "m:2 kept its time");

        let visit = |ms| analytics_session::Model {
            session_id: "v".into(),
            space_id: "s".into(),
            user_id: "u".into(),
            joined_at: 0,
            left_at: M,
            duration_ms: ms,
        };
        write::insert_sessions(&db, vec![visit(400)]).await.unwrap();
        write::insert_sessions(&db, vec![visit(900)]).await.unwrap();
        let t = read::session_totals(&db, Some("s"), 0, 2 * M).await.unwrap();
        assert_eq!((t.count, t.total_ms, t.longest_ms), (1, 400, 400), "the first record of a visit stands");
        assert_eq!(read::session_totals(&db, None, 2 * M, 3 * M).await.unwrap(), read::SessionTotals::default());
    })
    .await;
}
