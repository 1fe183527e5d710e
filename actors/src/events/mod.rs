//! The event pipeline: what the server tells the rest of the world about
//! chat and presence, and the analytics folded from it.
//!
//! With Kafka, chat messages, user events and chat facts go to three
//! topics through the `EventWriter`, and a `consumer` reads them back into
//! the database (history and analytics). Without Kafka, chat is written
//! by the `ChatWriter` and analytics are folded in-process (`local`), from
//! the same events.

pub mod consumer;
pub mod fold;
pub mod kafka;
pub mod local;
pub mod record;
pub mod writer;

use record::{AnalyticsEvent, ChatFact, SCHEMA_VERSION, UserEvent, UserEventKind};

/// Where events go. Every method returns at once: nothing on the hot path
/// waits for it.
#[derive(Clone, Default)]
pub enum EventSink {
    /// Nowhere (tests of parts that need no analytics).
    #[default]
    Off,
    Local(local::LocalAnalytics),
    Kafka(writer::EventWriterHandle),
}

impl EventSink {
    pub fn user(&self, e: UserEvent) {
        match self {
            EventSink::Off => {}
            EventSink::Local(l) => l.send(AnalyticsEvent::User(e)),
            EventSink::Kafka(k) => k.user_event(&e),
        }
    }

    pub fn chat(&self, f: ChatFact) {
        match self {
            EventSink::Off => {}
            EventSink::Local(l) => l.send(AnalyticsEvent::Chat(f)),
            EventSink::Kafka(k) => k.chat_fact(&f),
        }
    }

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
