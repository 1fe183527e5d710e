//! `metaverse admin create`: making the first administrator from the
//! server's own host. Signing up over HTTP with `--admin-signup first`
//! hands the role to whoever is quickest; only someone with access to the
//! database can run this.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use metaverse_schema::{entity::user, now_millis};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, SqlErr};

use crate::{
    auth::{Role, password},
    config::AdminOp,
    db, http, telemetry,
};

/// Where the password comes from when stdin is not used: the command line
/// would show it to every user of the host in `ps`.
pub const PASSWORD_ENV: &str = "METAVERSE_ADMIN_PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("username: {0}")]
    InvalidUsername(String),
    #[error("password: must be 8 to 128 characters")]
    InvalidPassword,
    #[error("username {0:?} already exists; choose another name (existing accounts are never changed)")]
    Taken(String),
    #[error("hashing the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

/// Runs an `admin` subcommand to completion.
pub fn run(op: AdminOp) -> anyhow::Result<()> {
    let AdminOp::Create { username, db: db_cfg, log } = op;
    telemetry::init(&log)?;
    let password = read_password(std::io::stdin().lock())?;
    actix_rt::System::new().block_on(async move {
        let conn = db::connect(&db_cfg).await?;
        db::migrate(&conn).await?;
        let created = create_admin(&conn, &username, &password).await;
        conn.close().await?;
        let id = created?;
        tracing::info!(%username, user_id = %id, "admin created");
        println!("created admin {username} ({id})");
        Ok(())
    })
}

/// `METAVERSE_ADMIN_PASSWORD` if set, else the first line of `stdin`
/// without its line ending (other whitespace is part of the password, as
/// on sign-up).
pub fn read_password(mut stdin: impl BufRead) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password for the new admin (it is echoed): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.read_line(&mut line).context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// Creates `username` with the admin role under the rules of sign-up
/// (name and password checks, argon2id hash); returns the new user's id.
pub async fn create_admin(db: &DatabaseConnection, username: &str, pw: &str) -> Result<String, CreateAdminError> {
    http::input::username(username).map_err(|e| CreateAdminError::InvalidUsername(describe(&e)))?;
    if !(8..=128).contains(&pw.chars().count()) {
        return Err(CreateAdminError::InvalidPassword);
    }
    let pw = pw.to_owned();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| CreateAdminError::Hash(e.to_string()))?
        .map_err(CreateAdminError::Hash)?;
    let id = uuid::Uuid::now_v7().to_string();
    let insert = user::Entity::insert(user::ActiveModel {
        id: Set(id.clone()),
        username: Set(username.to_owned()),
        username_key: Set(Some(metaverse_schema::store::users::username_key(username))),
        password_hash: Set(hash),
        role: Set(Role::Admin.as_str().to_owned()),
        email: Set(None),
        avatar_id: Set(None),
        avatar_media_id: Set(None),
        created_at: Set(now_millis()),
    })
    .exec_without_returning(db)
    .await;
    match insert {
        Ok(_) => Ok(id),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(CreateAdminError::Taken(username.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

fn describe(e: &validator::ValidationError) -> String {
    e.message.as_deref().map_or_else(|| e.code.to_string(), str::to_owned)
}
