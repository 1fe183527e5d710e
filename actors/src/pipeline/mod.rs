//! The event pipeline: what the server tells the rest of the world about
//! chat and presence, and the analytics folded from it.
//!
//! With Kafka (the `kafka` feature, and brokers configured), chat
//! messages, user events and chat facts go to three topics through the
//! events writer (`writers::events`), and a `consumer` reads them back
//! into the database (history and analytics). Without Kafka, chat is
//! written by the chat writer and analytics are folded in-process
//! (`writers::analytics`), from the same events.
//!
//! Only the records and the fold are always compiled: the game logic
//! depends on this module for `EventSink`, and a build without Kafka
//! should not have to compile a Kafka client to get it.

#[cfg(feature = "kafka")]
pub mod consumer;
#[cfg(feature = "kafka")]
mod consumer_partition;
pub mod fold;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod record;

use std::{future::Future, pin::Pin};

use record::{AnalyticsEvent, ChatFact, ChatRecord, SCHEMA_VERSION, UserEvent, UserEventKind};

use crate::writers::analytics::LocalAnalytics;
#[cfg(feature = "kafka")]
use crate::writers::events::EventWriterHandle;

/// Where events go. Every method returns at once: nothing on the hot path
/// waits for it.
#[derive(Clone, Default)]
pub enum EventSink {
    /// Nowhere (tests of parts that need no analytics).
    #[default]
    Off,
    /// Folded in-process, when no Kafka is configured.
    Local(LocalAnalytics),
    /// Produced to `user-events` and `chat-analytics`, for the consumer
    /// (and any other reader) to fold.
    #[cfg(feature = "kafka")]
    Kafka(EventWriterHandle),
}

impl EventSink {
    /// Hands over a join or leave; dropped (and counted) when the queue is full.
    pub fn user(&self, e: UserEvent) {
        match self {
            EventSink::Off => {}
            EventSink::Local(l) => l.send(AnalyticsEvent::User(e)),
            #[cfg(feature = "kafka")]
            EventSink::Kafka(k) => k.user_event(&e),
        }
    }

    /// Hands over a message's facts; dropped (and counted) when the queue is full.
    pub fn chat(&self, f: ChatFact) {
        match self {
            EventSink::Off => {}
            EventSink::Local(l) => l.send(AnalyticsEvent::Chat(f)),
            #[cfg(feature = "kafka")]
            EventSink::Kafka(k) => k.chat_fact(&f),
        }
    }

    /// A visit began: the `join` record, stamped with this server's version.
    pub fn joined(&self, space_id: &str, user_id: &str, session_id: &str, at: i64) {
        self.user(UserEvent {
            v: SCHEMA_VERSION,
            kind: UserEventKind::Join,
            space_id: space_id.into(),
            user_id: user_id.into(),
            session_id: session_id.into(),
            at,
            joined_at: None,
            duration_ms: None,
        });
    }

    /// A visit ended: the `leave` record, carrying the join time and the
    /// visit's length so readers need not pair it with its `join`.
    pub fn left(&self, space_id: &str, user_id: &str, session_id: &str, joined_at: i64, at: i64) {
        self.user(UserEvent {
            v: SCHEMA_VERSION,
            kind: UserEventKind::Leave,
            space_id: space_id.into(),
            user_id: user_id.into(),
            session_id: session_id.into(),
            at,
            joined_at: Some(joined_at),
            duration_ms: Some((at - joined_at).max(0)),
        });
    }
}

/// Why a record did not reach the durable log; a chat sender that gets
/// one falls back to the database, and the reason labels its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotProduced {
    /// The backlog is full.
    Full,
    /// Not acknowledged within the wait.
    Timeout,
    /// The writer is gone (stopping or restarting).
    Gone,
}

impl NotProduced {
    /// The `reason` label of `metaverse_chat_fallback_total` and
    /// `metaverse_events_dropped_total`.
    pub fn label(self) -> &'static str {
        match self {
            NotProduced::Full => "backlog-full",
            NotProduced::Timeout => "timeout",
            NotProduced::Gone => "writer-gone",
        }
    }
}

/// What a durable log's `publish_chat` returns.
pub type Published<'a> = Pin<Box<dyn Future<Output = Result<(), NotProduced>> + Send + 'a>>;

/// A durable log chat may go to before the database. A trait, so the chat
/// writer can use Kafka when it is compiled in without depending on it.
pub trait ChatLog: Send + Sync + 'static {
    /// Hands the message over and resolves once the log has it, or with
    /// why it did not take it (the caller then writes it itself).
    fn publish_chat<'a>(&'a self, record: &'a ChatRecord) -> Published<'a>;
}
