//! One fresh, migrated database per engine, and the rows most tests need.

use std::{
    future::Future,
    sync::atomic::{AtomicU32, Ordering},
};

use metaverse_schema::{
    Migrator, MigratorTrait,
    entity::{chatroom, space, user},
    store::{ConnectionTrait, DatabaseConnection, connect, spaces, users},
};

/// Runs `test` on SQLite, then on PostgreSQL when `DATABASE_URL` is set.
pub async fn each_engine<F, Fut>(test: F)
where
    F: Fn(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = connect::open("sqlite::memory:", 1).await.expect("sqlite");
    Migrator::up(&db, None).await.expect("migrate sqlite");
    test(db).await;
    let Some(admin) = std::env::var("DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) else {
        return;
    };
    let name = unique_name();
    let admin_db = connect::open(&admin, 1).await.expect("postgres");
    admin_db.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create database");
    let db = connect::open(&with_database(&admin, &name), 2).await.expect("connect test database");
    Migrator::up(&db, None).await.expect("migrate postgres");
    test(db.clone()).await;
    let _ = db.close().await;
    let _ = admin_db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
}

fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("store_test_{}_{}_{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
}

/// The URL with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub async fn user(db: &DatabaseConnection, name: &str) -> String {
    let id = format!("u-{name}");
    let u = user::Model {
        id: id.clone(),
        username: name.to_owned(),
        username_key: None,
        password_hash: "x".into(),
        role: "user".into(),
        email: None,
        avatar_id: None,
        created_at: 1,
        avatar_media_id: None,
    };
    assert!(users::insert(db, u).await.unwrap(), "fresh username");
    id
}

/// A space made by `creator` with its `general` room; returns both ids.
pub async fn space_with_room(db: &DatabaseConnection, creator: &str, name: &str) -> (String, String) {
    let (space_id, room_id) = (format!("s-{name}"), format!("r-{name}"));
    let s = space::Model {
        id: space_id.clone(),
        name: name.to_owned(),
        width: 10,
        height: 10,
        thumbnail: None,
        creator_id: creator.to_owned(),
        map_id: None,
        created_at: 5,
        proximity_radius: 3,
    };
    let room = chatroom::Model {
        id: room_id.clone(),
        space_id: space_id.clone(),
        name: "general".into(),
        description: None,
        passcode_hash: None,
        creator_id: creator.to_owned(),
        created_at: 5,
    };
    spaces::create(db, s, &room, vec![]).await.unwrap();
    (space_id, room_id)
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(with_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
    assert_eq!(with_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
