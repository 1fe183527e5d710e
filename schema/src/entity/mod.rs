//! One module per table. Relations are not declared: handlers join by id,
//! which keeps the entities plain and the queries explicit.

pub mod analytics_minute_user;
pub mod analytics_room_minute;
pub mod analytics_seen;
pub mod analytics_session;
pub mod analytics_space_minute;
pub mod auth_session;
pub mod avatar;
pub mod chatroom;
pub mod chatroom_member;
pub mod element;
pub mod event_offset;
pub mod map;
pub mod map_element;
pub mod media;
pub mod message;
pub mod refresh_token;
pub mod space;
pub mod space_element;
pub mod space_member;
pub mod user;

/// Roles a user may hold. Stored lower-case.
pub const ROLE_USER: &str = "user";
pub const ROLE_ADMIN: &str = "admin";
