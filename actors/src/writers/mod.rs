//! Writers: the workers that take what the hot path produces (chat
//! messages to make durable, analytics events, last positions) and write
//! it to a database or Kafka, all under one supervised idiom (`worker`).

pub mod analytics;
pub mod chat;
mod chat_write;
#[cfg(feature = "kafka")]
pub mod events;
#[cfg(feature = "kafka")]
mod events_round;
pub mod positions;
pub mod worker;

pub use worker::{Job, Mailbox, Worker};
