//! Authentication: argon2id passwords, PASETO v4.local access tokens and
//! opaque, rotating refresh tokens.

pub mod attempts;
pub mod hashing;
pub mod key;
pub mod key_policy;
pub mod password;
pub mod role;
pub mod session;
pub mod token;

pub use role::Role;
pub use token::{AccessClaims, TokenIssuer};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("token was revoked")]
    Revoked,
    #[error("refresh token was already used; the session is revoked")]
    Reused { session_id: String },
    #[error("token error: {0}")]
    Crypto(String),
    #[error(transparent)]
    Db(#[from] metaverse_schema::store::DbErr),
}
