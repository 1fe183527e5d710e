//! The metaverse server: configuration, HTTP API, authentication and the
//! command line. `main.rs` is a thin shell over `app`.

pub mod admin;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod db;
pub mod demo;
pub mod events;
pub mod http;
pub mod media;
pub mod metrics;
pub mod quota;
pub mod realtime;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod ws;
