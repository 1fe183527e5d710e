//! History: batch inserts that land once, paging newest first, replay.

use metaverse_schema::{
    ChatMessage,
    entity::message,
    store::{DatabaseConnection, chatrooms, messages},
};

use crate::common::{each_engine, space_with_room, user};

/// Ids that sort like UUIDv7s do (by time).
fn msg(room: &str, user_id: &str, i: usize) -> message::Model {
    ChatMessage {
        id: format!("m{i:04}"),
        chatroom_id: room.to_owned(),
        user_id: user_id.to_owned(),
        username: "ann".into(),
        content: format!("hello {i}"),
        kind: "text".into(),
        client_id: i.is_multiple_of(2).then(|| format!("c{i}")),
        sent_at: 1_000 + i64::try_from(i).unwrap(),
        attachment: None,
    }
    .into()
}

async fn room_with(db: &DatabaseConnection, n: usize) -> String {
    let ann = user(db, "ann").await;
    let (_, room) = space_with_room(db, &ann, "hall").await;
    let batch: Vec<_> = (0..n).map(|i| msg(&room, &ann, i)).collect();
    assert_eq!(messages::insert_messages(db, batch).await.unwrap(), n as u64);
    room
}

#[tokio::test]
async fn a_retried_batch_lands_once() {
    each_engine(|db| async move {
        let room = room_with(&db, 3).await;
        let ann = "u-ann";
        let retry = vec![msg(&room, ann, 1), msg(&room, ann, 3)];
        assert_eq!(messages::insert_messages(&db, retry).await.unwrap(), 1, "only m0003 is new");
        assert_eq!(messages::insert_messages(&db, vec![]).await.unwrap(), 0);
        // Big enough to be split into several statements.
        let many: Vec<_> = (10..400).map(|i| msg(&room, ann, i)).collect();
        assert_eq!(messages::insert_messages(&db, many).await.unwrap(), 390);
        let (page, _) = messages::history_page(&db, &room, None, 100).await.unwrap();
        assert_eq!(page[0].id, "m0399");
    })
    .await;
}

#[tokio::test]
async fn history_pages_newest_first_until_the_start() {
    each_engine(|db| async move {
        let room = room_with(&db, 5).await;
        let (first, more) = messages::history_page(&db, &room, None, 2).await.unwrap();
        assert_eq!(ids(&first), ["m0004", "m0003"]);
        assert!(more);
        let (second, more) = messages::history_page(&db, &room, Some("m0003"), 2).await.unwrap();
        assert_eq!(ids(&second), ["m0002", "m0001"]);
        assert!(more);
        let (last, more) = messages::history_page(&db, &room, Some("m0001"), 2).await.unwrap();
        assert_eq!(ids(&last), ["m0000"]);
        assert!(!more, "no page after the first message");
        let (exact, more) = messages::history_page(&db, &room, None, 5).await.unwrap();
        assert_eq!((exact.len(), more), (5, false), "a full last page says there is no more");
        assert_eq!(exact[4], ChatMessage::from(msg(&room, "u-ann", 0)), "rows come back whole");
        let (other, _) = messages::history_page(&db, "r-none", None, 10).await.unwrap();
        assert!(other.is_empty(), "history is per room");
    })
    .await;
}

#[tokio::test]
async fn replay_is_oldest_first_after_the_given_id() {
    each_engine(|db| async move {
        let room = room_with(&db, 5).await;
        let after = messages::since(&db, &room, "m0001", 2).await.unwrap();
        assert_eq!(ids(&after), ["m0002", "m0003"]);
        assert!(messages::since(&db, &room, "m0004", 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn refused_messages_are_deleted_with_the_next_batch() {
    each_engine(|db| async move {
        let room = room_with(&db, 2).await;
        let done = messages::insert_replacing(&db, vec![msg(&room, "u-ann", 7)], &["m0000".into(), "m9999".into()])
            .await
            .unwrap();
        assert_eq!((done.inserted, done.deleted), (1, 1));
        let (page, _) = messages::history_page(&db, &room, None, 10).await.unwrap();
        assert_eq!(ids(&page), ["m0007", "m0001"]);
        // A batch that fails leaves the refused ones in place (one transaction).
        let bad = vec![msg("r-gone", "u-ann", 8)];
        assert!(messages::insert_replacing(&db, bad, &["m0001".into()]).await.is_err(), "unknown room");
        let (page, _) = messages::history_page(&db, &room, None, 10).await.unwrap();
        assert_eq!(ids(&page), ["m0007", "m0001"]);
        // Deleting the room takes its history with it.
        chatrooms::delete(&db, &room).await.unwrap();
        assert!(messages::history_page(&db, &room, None, 10).await.unwrap().0.is_empty());
    })
    .await;
}

fn ids(page: &[ChatMessage]) -> Vec<&str> {
    page.iter().map(|m| m.id.as_str()).collect()
}
