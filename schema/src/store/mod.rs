//! Every query the server runs, one module per resource. Functions take a
//! connection (or, when their statements must commit together, the pool,
//! and open the transaction themselves) and return entity models or small
//! domain rows; errors are sea-orm's `DbErr`, classified by [`errors`].
//!
//! Functions generic over `ConnectionTrait` run equally on the pool or
//! inside a caller's transaction: the Kafka consumer applies records and
//! moves its offset in one.

pub mod analytics;
pub mod auth;
pub mod catalog;
pub mod chatrooms;
pub mod connect;
pub mod errors;
pub mod maps;
pub mod media;
pub mod members;
pub mod messages;
pub mod nodelay;
pub mod offsets;
pub mod positions;
pub mod spaces;
pub mod users;

pub use messages::insert_messages;
pub use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait};
