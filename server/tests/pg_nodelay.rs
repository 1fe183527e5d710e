//! The pool's PostgreSQL sockets have `TCP_NODELAY` (sqlx leaves Nagle's
//! algorithm on, and a large statement's second write then waits 40 ms for
//! the server's delayed ACK). Alone in its test binary, so no other pool
//! opens sockets to the server while this one looks.

#![allow(clippy::unwrap_used)]

mod common;

use metaverse_schema::store::{connect, nodelay};
use sea_orm::{ConnectionTrait, sqlx::postgres::PgConnectOptions};

#[tokio::test]
async fn every_pooled_postgres_socket_has_tcp_nodelay() {
    let Some(url) = common::postgres_url() else {
        assert!(!common::services_required(), "METAVERSE_REQUIRE_SERVICES=1 but DATABASE_URL names no PostgreSQL");
        eprintln!("skipped: DATABASE_URL names no PostgreSQL");
        return;
    };
    let pg = common::PgDatabase::create(&url).await.unwrap();
    let db = connect::open(&pg.url, 4).await.unwrap();
    // Four statements at once make the pool open more connections.
    let busy = (0..4).map(|_| db.execute_unprepared("SELECT pg_sleep(0.05)"));
    for r in futures_util::future::join_all(busy).await {
        r.unwrap();
    }
    let opts: PgConnectOptions = pg.url.parse().unwrap();
    let peers = nodelay::server_addrs(opts.get_host(), opts.get_port());
    let (sockets, all) = nodelay::sockets_to(&peers);
    assert!(sockets >= 2, "the pool holds several connections, found {sockets}");
    assert!(all, "each of the {sockets} sockets to {peers:?} has TCP_NODELAY");
}
