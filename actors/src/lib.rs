//! Space and session actors, and the plain game logic they own.
//!
//! Logic that needs no actor (is this tile free? does this element fit?)
//! lives in plain structs with unit tests; the actors that own them come
//! with the real-time core.

pub mod grid;
pub mod world;

pub use grid::{Grid, Rect};
pub use world::{Reject, UserId, World};
