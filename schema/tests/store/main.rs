//! The store against real engines: SQLite in memory always, and PostgreSQL
//! too when `DATABASE_URL` names one (each test gets its own database).

// Helpers outside #[test] fns unwrap too: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

mod analytics;
mod common;
mod members;
mod messages;
mod offsets;
