//! The game rules as plain code: no actix, no I/O, no clocks (a rule that
//! needs the time is handed it).
//!
//! Everything a space decides (may this user step there? who sees whom?
//! which frames does each viewer get this tick?) is computed here, so it can
//! be unit- and property-tested without actors or sockets. The SpaceActor
//! (`crate::space`) owns one of each and only moves data in and out.

pub mod aoi;
pub mod fanout;
pub mod grid;
pub mod occupancy;
pub mod proximity;
pub mod stride;
pub mod tally;
pub mod tick;

pub use aoi::ViewWindow;
pub use grid::{Grid, Rect};
pub use occupancy::{Reject, UserId, World};
pub use stride::{Stride, WalkSpeed};
pub use tally::{EventType, Tally};
