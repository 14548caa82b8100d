//! sqlx's `Executor` and `Acquire` for `&S3SqlitePool`: queries take `&db`
//! as they take a `&SqlitePool`.

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::{Either, SqlStr};
use sqlx_sqlite::{Sqlite, SqliteQueryResult, SqliteRow, SqliteStatement, SqliteTypeInfo};

use crate::Result;

use crate::pool::S3SqlitePool;

impl<'p> sqlx::Executor<'p> for &S3SqlitePool {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, Sqlite>,
    {
        self.inner.pool.fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, Sqlite>,
    {
        self.inner.pool.fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.inner.pool.prepare_with(sql, parameters)
    }

    #[doc(hidden)]
    fn describe<'e>(
        self,
        sql: SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>> {
        self.inner.pool.describe(sql)
    }
}

impl<'a> sqlx::Acquire<'a> for &S3SqlitePool {
    type Database = Sqlite;
    type Connection = sqlx::pool::PoolConnection<Sqlite>;

    fn acquire(self) -> BoxFuture<'static, Result<Self::Connection, sqlx::Error>> {
        sqlx::Acquire::acquire(&self.inner.pool)
    }

    fn begin(self) -> BoxFuture<'static, Result<sqlx::Transaction<'a, Sqlite>, sqlx::Error>> {
        let pool = self.inner.pool.clone();
        Box::pin(async move { sqlx::Transaction::begin(pool.acquire().await?, None).await })
    }
}
