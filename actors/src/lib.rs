//! The real-time core: the actors and what they own.
//!
//! * `world`: the game rules as plain code (grid, occupancy, view
//!   windows, proximity, the tick log and its fan-out), no actix, no I/O.
//! * `space`: the SpaceActor, one per live space, the single authority
//!   over it; it owns a `world` and moves data in and out.
//! * `session`: one WebSocket session, written against a frame stream and
//!   sink (the server adapts tungstenite to it), one file per command.
//! * `writers`: everything the hot path hands off (chat to make durable,
//!   last positions, analytics, Kafka records), under one supervised
//!   worker idiom.
//! * `pipeline`: event records and the analytics fold; the Kafka client
//!   and consumer only with the `kafka` feature, so the world logic never
//!   compiles rskafka.
//! * `link`, `registry`, `settings`, `metric_names`: how sessions and
//!   spaces find and close each other, and the shared names and knobs.

#![warn(missing_docs)]

pub mod link;
pub mod metric_names;
pub mod pipeline;
pub mod queue;
pub mod registry;
pub mod session;
pub mod settings;
pub mod space;
pub mod world;
pub mod writers;

pub use link::{CloseReason, SessionLink, SessionPort, link};
pub use registry::{Registry, Shards};
pub use settings::SpaceSettings;
pub use world::{Grid, Rect, Reject, UserId, ViewWindow, World};
