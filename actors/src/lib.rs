//! Space actors and the plain game logic they own.
//!
//! Logic that needs no actor (is this tile free? who sees whom?) lives in
//! plain structs under `world`, with unit and property tests; the
//! SpaceActor (`space`) owns them and moves data in and out.

#![warn(missing_docs)]

pub mod link;
pub mod metric_names;
pub mod pipeline;
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
/// Old module paths, kept while branches written before `world/` land.
pub use world::{aoi, fanout, grid, proximity, tick};
