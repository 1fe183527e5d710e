//! How the store reads sea-orm's errors.

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx::Error as Sqlx};

/// sea-orm reports an insert whose every row hit `ON CONFLICT DO NOTHING`
/// as an error on some backends; to the store it is zero rows.
pub(crate) fn nothing_inserted_is_zero(r: Result<u64, DbErr>) -> Result<u64, DbErr> {
    match r {
        Ok(n) => Ok(n),
        Err(DbErr::RecordNotInserted) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Constraint violations are about the rows, not the database's health:
/// retrying them cannot succeed.
pub fn is_constraint_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_) | SqlErr::UniqueConstraintViolation(_)))
}

/// Whether the error is a unique constraint (a name or id already taken).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether the database is unreachable (as opposed to a query being
/// wrong): callers should retry later rather than report a bug.
pub fn is_unavailable(e: &DbErr) -> bool {
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => {
            matches!(**x, Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed)
        }
        _ => false,
    }
}
