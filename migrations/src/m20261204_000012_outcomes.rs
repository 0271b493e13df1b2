//! Outcomes: the pair's role-reversion streak as a column (how many after-session pulses in a row the mentor
//! reported that the senior side did most of the talking), so the at-risk rule stays one SQL filter.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000012_outcomes"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Pairs {
    Table,
    ReversionStreak,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Pairs::Table)
                    .add_column(ColumnDef::new(Pairs::ReversionStreak).integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Pairs::Table)
                    .drop_column(Pairs::ReversionStreak)
                    .to_owned(),
            )
            .await
    }
}
