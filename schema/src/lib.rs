//! Database entities, migrations and every query the server runs.
//!
//! The same migrations run on SQLite (the embedded default) and PostgreSQL,
//! so every column type is one both engines store the same way: ids are
//! text (UUIDv7, which sort by creation time), times are Unix milliseconds
//! in a 64-bit integer. Queries live in [`store`] so that the SQL, and the
//! places where the two engines differ, can be read and tested in one crate.

pub mod chat_message;
pub mod entity;
pub mod migration;
pub mod store;

pub use chat_message::{ChatMessage, rfc3339_millis};
pub use migration::Migrator;
pub use sea_orm;
pub use sea_orm_migration::MigratorTrait;

/// Current time as Unix milliseconds, the unit of every time column.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
