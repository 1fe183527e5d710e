//! Space actors and the plain game logic they own.
//!
//! Logic that needs no actor (is this tile free? may this user step
//! there?) lives in plain structs with unit tests (`grid`, `world`); the
//! SpaceActor is a thin shell that owns them and fans events out.

pub mod aoi;
pub mod chat_writer;
pub mod events;
pub mod fanout;
pub mod grid;
pub mod link;
pub mod metric_names;
pub mod proximity;
pub mod registry;
pub mod settings;
pub mod space;
pub mod tick;
pub mod world;

pub use aoi::ViewWindow;
pub use grid::{Grid, Rect};
pub use link::{CloseReason, SessionLink, SessionPort, link};
pub use registry::{Registry, Shards};
pub use settings::SpaceSettings;
pub use world::{Reject, UserId, World};
