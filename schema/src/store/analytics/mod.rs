//! The analytics tables: written by the event fold (counters that add up,
//! so every write is an upsert that adds), read by the HTTP reports.

pub mod read;
pub mod write;
