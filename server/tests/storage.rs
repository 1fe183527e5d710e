//! The schema on both engines: migrations apply, retried message writes
//! land once, and deleting a space cascades to what it holds.

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod common;

use common::{PgDatabase, postgres_url};
use metaverse_schema::{
    entity::{chatroom, element, message, space, space_element, user},
    now_millis,
    sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, PaginatorTrait},
    store::insert_messages,
};
use metaverse_server::{config::ServeConfig, db};

async fn connect(url: Option<String>, dir: &std::path::Path) -> DatabaseConnection {
    let mut cfg = ServeConfig::defaults().db;
    cfg.data_dir = dir.to_path_buf();
    cfg.database_url = url;
    let conn = db::connect(&cfg).await.expect("connect");
    db::migrate(&conn).await.expect("migrate");
    db::migrate(&conn).await.expect("migrating twice is a no-op");
    conn
}

fn id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A user, a space with one element, and a chatroom in it.
async fn fixture(db: &DatabaseConnection) -> (String, String) {
    let (uid, sid, cid, eid) = (id(), id(), id(), id());
    let now = now_millis();
    user::Entity::insert(user::ActiveModel {
        id: Set(uid.clone()),
        username: Set("ada".into()),
        username_key: Set(Some("ada".into())),
        password_hash: Set("x".into()),
        role: Set("user".into()),
        email: Set(None),
        avatar_id: Set(None),
        created_at: Set(now),
        avatar_media_id: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    space::Entity::insert(space::ActiveModel {
        id: Set(sid.clone()),
        name: Set("s".into()),
        width: Set(10),
        height: Set(10),
        thumbnail: Set(None),
        creator_id: Set(uid.clone()),
        map_id: Set(None),
        created_at: Set(now),
        proximity_radius: Set(3),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    element::Entity::insert(element::ActiveModel {
        id: Set(eid.clone()),
        image_url: Set("/e.png".into()),
        width: Set(1),
        height: Set(1),
        is_static: Set(true),
        private_area: Set(false),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    space_element::Entity::insert(space_element::ActiveModel {
        id: Set(id()),
        space_id: Set(sid.clone()),
        element_id: Set(eid),
        x: Set(1),
        y: Set(1),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    chatroom::Entity::insert(chatroom::ActiveModel {
        id: Set(cid.clone()),
        space_id: Set(sid.clone()),
        name: Set("general".into()),
        description: Set(None),
        passcode_hash: Set(None),
        creator_id: Set(uid.clone()),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    let _ = uid;
    (sid, cid)
}

fn messages(room: &str, n: usize) -> Vec<message::Model> {
    (0..n)
        .map(|i| message::Model {
            id: id(),
            chatroom_id: room.to_owned(),
            user_id: "u".into(),
            username: "ada".into(),
            content: format!("hello {i}"),
            kind: "text".into(),
            client_id: None,
            sent_at: now_millis(),
            attachment: None,
        })
        .collect()
}

async fn retried_message_batch_lands_once(db: DatabaseConnection) {
    let (_, room) = fixture(&db).await;
    let batch = messages(&room, 3);
    assert_eq!(insert_messages(&db, batch.clone()).await.unwrap(), 3);
    // The retry of a batch that did commit, plus one new message.
    let mut retry = batch;
    retry.extend(messages(&room, 1));
    assert_eq!(insert_messages(&db, retry).await.unwrap(), 1);
    assert_eq!(message::Entity::find().count(&db).await.unwrap(), 4);
    assert_eq!(insert_messages(&db, vec![]).await.unwrap(), 0);
}

/// A batch larger than one statement (it is split by size) lands whole,
/// counts right, and its retry, split at other places, adds nothing.
async fn a_large_batch_lands_in_several_statements(db: DatabaseConnection) {
    let (_, room) = fixture(&db).await;
    let mut batch = messages(&room, 300);
    for (i, m) in batch.iter_mut().enumerate() {
        m.content = format!("{i} {}", "x".repeat(i * 7 % 2000));
    }
    assert_eq!(insert_messages(&db, batch.clone()).await.unwrap(), 300);
    batch.reverse();
    batch.extend(messages(&room, 2));
    assert_eq!(insert_messages(&db, batch).await.unwrap(), 2);
    assert_eq!(message::Entity::find().count(&db).await.unwrap(), 302);
}

async fn deleting_a_space_cascades(db: DatabaseConnection) {
    let (space_id, room) = fixture(&db).await;
    insert_messages(&db, messages(&room, 2)).await.unwrap();
    space::Entity::delete_by_id(space_id).exec(&db).await.unwrap();
    assert_eq!(space_element::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(chatroom::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(message::Entity::find().count(&db).await.unwrap(), 0);
    assert_eq!(user::Entity::find().count(&db).await.unwrap(), 1, "the creator stays");
}

macro_rules! on_both {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                super::$name(super::connect(None, dir.path()).await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                let Some(url) = super::postgres_url() else {
                    assert!(std::env::var("METAVERSE_REQUIRE_SERVICES").as_deref() != Ok("1"), "PostgreSQL required");
                    return;
                };
                let pg = super::PgDatabase::create(&url).await.unwrap();
                let dir = tempfile::tempdir().unwrap();
                let db = super::connect(Some(pg.url.clone()), dir.path()).await;
                super::$name(db.clone()).await;
                db.close().await.unwrap();
            })*
        }
    };
}

on_both!(retried_message_batch_lands_once, a_large_batch_lands_in_several_statements, deleting_a_space_cascades);
