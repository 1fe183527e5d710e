//! Migrations, applied by `metaverse migrate` and at the start of
//! `metaverse serve`. Written with sea-query builders only, so one
//! migration produces the right DDL for SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_events;
mod m0003_proximity;
mod m0004_username_key;
mod m0005_media;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_events::Migration),
            Box::new(m0003_proximity::Migration),
            Box::new(m0004_username_key::Migration),
            Box::new(m0005_media::Migration),
        ]
    }
}
