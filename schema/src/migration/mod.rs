//! Migrations, applied by `metaverse migrate` and at the start of
//! `metaverse serve`. Written with sea-query builders only, so one
//! migration produces the right DDL for SQLite and PostgreSQL.

use sea_orm_migration::prelude::*;

mod m0001_initial;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_initial::Migration)]
    }
}
