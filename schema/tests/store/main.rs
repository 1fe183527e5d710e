//! The store against real engines: SQLite in memory always, and PostgreSQL
//! too when `DATABASE_URL` names one (each test gets its own database).

mod analytics;
mod common;
mod members;
mod messages;
mod offsets;
