//! The chat writer keeps two batches in flight on PostgreSQL and releases
//! their acks in order: a batch that commits while the one before it is
//! still waiting for its commit is not acknowledged before it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestApp, chat::space_and_room};
use futures_util::poll;
use metaverse_actors::writers::chat::{ChatStore, ChatWriterSettings};
use metaverse_schema::{
    ChatMessage,
    entity::message,
    store::{TransactionTrait, connect, insert_messages},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

fn msg(id: &str, room: &str, user: &str) -> ChatMessage {
    ChatMessage {
        id: id.to_owned(),
        chatroom_id: room.to_owned(),
        user_id: user.to_owned(),
        username: "ada".into(),
        content: format!("message {id}"),
        kind: "text".into(),
        client_id: None,
        sent_at: metaverse_schema::now_millis(),
        attachment: None,
    }
}

#[tokio::test]
async fn a_later_batch_commits_while_an_earlier_one_waits_but_is_acked_after_it() {
    let Some(app) = TestApp::start(Backend::Postgres).await else { return };
    let (user, token) = app.user("ada").await;
    let (space, room) = space_and_room(&app, &token, "10x10").await;
    let db = connect::open(app.database_url().unwrap(), 4).await.unwrap();
    let store = ChatStore::start(
        db.clone(),
        ChatWriterSettings { batch_max: 1, linger: Duration::ZERO, in_flight: 2, ..ChatWriterSettings::default() },
    );
    // Another transaction holds message A's id, uncommitted: the insert
    // of A waits on it until that transaction ends.
    let blocker = db.begin().await.unwrap();
    let a = msg("0190a000-0000-7000-8000-00000000000a", &room, &user);
    insert_messages(&blocker, vec![a.clone().into()]).await.unwrap();
    let b = msg("0190a000-0000-7000-8000-00000000000b", &room, &user);
    // Queue A, then B, in that order.
    let mut sent_a = Box::pin({
        let s = store.clone();
        async move { s.persist("space", a).await }
    });
    assert!(poll!(&mut sent_a).is_pending());
    let mut sent_b = Box::pin({
        let s = store.clone();
        let space = space.clone();
        async move { s.persist(&space, b).await }
    });
    assert!(poll!(&mut sent_b).is_pending());
    let sent_a = tokio::spawn(sent_a);
    let sent_b = tokio::spawn(sent_b);
    // B commits while A is held: two batches are in flight.
    let committed = |id: &'static str| {
        let db = db.clone();
        async move { message::Entity::find().filter(message::Column::Id.eq(id)).count(&db).await.unwrap() == 1 }
    };
    let until = Instant::now() + Duration::from_secs(10);
    while !committed("0190a000-0000-7000-8000-00000000000b").await {
        assert!(Instant::now() < until, "B never committed while A was held");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!sent_b.is_finished(), "B was acknowledged before A");
    assert!(!sent_a.is_finished(), "A is still waiting for its commit");
    blocker.rollback().await.unwrap();
    assert_eq!(sent_a.await.unwrap(), Ok(()));
    assert_eq!(sent_b.await.unwrap(), Ok(()));
    assert!(committed("0190a000-0000-7000-8000-00000000000a").await);
    assert!(store.shutdown(Duration::from_secs(5)).await);
}
