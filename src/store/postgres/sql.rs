//! The statements the engine sends: every table is `(k bytea primary key, v bytea)`
//! in the `gatehouse` schema, so a handful of shapes cover every operation. Each
//! is prepared once per connection.

use super::link::Conn;
use tokio_postgres::types::ToSql;

/// A table name from `store::TABLES` (a plain identifier: safe to format into SQL).
pub(super) type T = &'static str;

/// Keys from `lo` (inclusive) to `hi` (exclusive), either open; ascending unless
/// `rev`; `skip` rows left out, then at most `limit`.
#[derive(Debug, Clone, Default)]
pub(super) struct Span {
    pub lo: Option<Vec<u8>>,
    pub hi: Option<Vec<u8>>,
    pub rev: bool,
    pub limit: Option<i64>,
    pub skip: i64,
}

impl Span {
    /// Every key.
    pub fn all() -> Self {
        Self::default()
    }
    /// `lo..hi`.
    pub fn between(lo: Vec<u8>, hi: Vec<u8>) -> Self {
        Self { lo: Some(lo), hi: Some(hi), ..Self::default() }
    }
    /// `lo..`.
    pub fn from(lo: Vec<u8>) -> Self {
        Self { lo: Some(lo), ..Self::default() }
    }
    /// `..hi`.
    pub fn before(hi: Vec<u8>) -> Self {
        Self { hi: Some(hi), ..Self::default() }
    }
    /// Keys starting with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self { lo: Some(prefix.to_vec()), hi: crate::store::rows::prefix_end(prefix), ..Self::default() }
    }
    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(i64::try_from(n).unwrap_or(i64::MAX));
        self
    }
    /// Leaves the first `n` rows out.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = i64::try_from(n).unwrap_or(i64::MAX);
        self
    }
    /// Newest (largest key) first.
    pub fn rev(mut self) -> Self {
        self.rev = true;
        self
    }
}

/// One statement.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Get(T, Vec<u8>),
    Range(T, Span),
    Count(T),
    Put(T, Vec<u8>, Vec<u8>),
    Delete(T, Vec<u8>),
    DeleteMany(T, Vec<Vec<u8>>),
    InsertMany(T, Vec<Vec<u8>>, Vec<Vec<u8>>),
    /// An audit entry and its two index rows, keyed (time, next sequence value).
    Audit {
        at: Vec<u8>,
        rec: Vec<u8>,
        user: Option<Vec<u8>>,
        event: Vec<u8>,
    },
    /// Cache invalidations, delivered to every listener when the transaction commits.
    Notify(Vec<String>),
    /// Statements without parameters or results (schema changes, locks).
    Batch(String),
    /// A query answering one `int8`.
    Scalar(&'static str),
    /// A query answering one `text`.
    Text(&'static str),
}

/// Key-value rows, in key order (or reversed).
pub(super) type Rows = Vec<(Vec<u8>, Vec<u8>)>;
/// Called with each row of a scan.
pub(super) type RowFn<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<(), crate::store::StoreError>;

/// What a statement returned.
#[derive(Debug)]
pub(super) enum Out {
    Rows(Rows),
    Affected(u64),
    Count(u64),
    Text(String),
}

/// The channel cache invalidations travel on.
pub(super) const CHANNEL: &str = "gatehouse_cache";

impl Op {
    pub fn sql(&self) -> String {
        match self {
            Op::Get(t, _) => format!("SELECT k, v FROM gatehouse.{t} WHERE k = $1"),
            Op::Range(t, s) => range_sql(t, s),
            Op::Count(t) => format!("SELECT count(*) FROM gatehouse.{t}"),
            Op::Put(t, _, _) => format!(
                "INSERT INTO gatehouse.{t} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ),
            Op::Delete(t, _) => format!("DELETE FROM gatehouse.{t} WHERE k = $1"),
            Op::DeleteMany(t, _) => format!("DELETE FROM gatehouse.{t} WHERE k = ANY($1)"),
            Op::InsertMany(t, _, _) => {
                format!("INSERT INTO gatehouse.{t} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[])")
            }
            Op::Audit { .. } => "WITH s AS (SELECT $1::bytea || int8send(nextval('gatehouse.audit_seq')) AS t), \
                 a AS (INSERT INTO gatehouse.audit (k, v) SELECT t, $2::bytea FROM s), \
                 u AS (INSERT INTO gatehouse.audit_by_user (k, v) SELECT $3::bytea || t, ''::bytea FROM s \
                       WHERE $3::bytea IS NOT NULL) \
                 INSERT INTO gatehouse.audit_by_event (k, v) SELECT $4::bytea || t, ''::bytea FROM s"
                .to_owned(),
            Op::Notify(_) => format!("SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) AS p"),
            Op::Batch(sql) => sql.clone(),
            Op::Scalar(sql) | Op::Text(sql) => (*sql).to_owned(),
        }
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        match self {
            Op::Get(_, k) | Op::Delete(_, k) => vec![k],
            Op::Range(_, s) => {
                let mut p: Vec<&(dyn ToSql + Sync)> = Vec::new();
                if let Some(lo) = &s.lo {
                    p.push(lo);
                }
                if let Some(hi) = &s.hi {
                    p.push(hi);
                }
                p.push(&s.limit);
                p.push(&s.skip);
                p
            }
            Op::Count(_) | Op::Batch(_) | Op::Scalar(_) | Op::Text(_) => vec![],
            Op::Put(_, k, v) => vec![k, v],
            Op::DeleteMany(_, keys) => vec![keys],
            Op::InsertMany(_, keys, values) => vec![keys, values],
            Op::Audit { at, rec, user, event } => vec![at, rec, user, event],
            Op::Notify(payloads) => vec![payloads],
        }
    }

    /// Runs this statement on `conn`, sending `begin` first in the same round trip.
    pub async fn run(
        &self,
        conn: &mut Conn,
        begin: Option<&'static str>,
    ) -> Result<Out, tokio_postgres::Error> {
        if let Op::Batch(sql) = self {
            if let Some(b) = begin {
                conn.client.batch_execute(b).await?;
            }
            return conn.client.batch_execute(sql).await.map(|()| Out::Affected(0));
        }
        let stmt = conn.prepare(&self.sql()).await?;
        let params = self.params();
        let client = &conn.client;
        let work = async {
            match self {
                Op::Get(..) | Op::Range(..) => {
                    let rows = client.query(&stmt, &params).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for r in rows {
                        out.push((r.try_get::<_, Vec<u8>>(0)?, r.try_get::<_, Vec<u8>>(1)?));
                    }
                    Ok(Out::Rows(out))
                }
                Op::Count(_) | Op::Scalar(_) => {
                    let n: Option<i64> = client.query_one(&stmt, &params).await?.try_get(0)?;
                    Ok(Out::Count(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)))
                }
                Op::Text(_) => Ok(Out::Text(client.query_one(&stmt, &params).await?.try_get(0)?)),
                _ => Ok(Out::Affected(client.execute(&stmt, &params).await?)),
            }
        };
        match begin {
            // Sent together: BEGIN's answer and the statement's arrive in one round trip.
            Some(b) => {
                let (began, out) = tokio::join!(client.batch_execute(b), work);
                began?;
                out
            }
            None => work.await,
        }
    }
}

fn range_sql(t: &str, s: &Span) -> String {
    let mut sql = format!("SELECT k, v FROM gatehouse.{t}");
    let mut n = 0;
    let mut cond = |op: &str, sql: &mut String| {
        n += 1;
        sql.push_str(if n == 1 { " WHERE k " } else { " AND k " });
        sql.push_str(op);
        sql.push_str(&format!(" ${n}"));
    };
    if s.lo.is_some() {
        cond(">=", &mut sql);
    }
    if s.hi.is_some() {
        cond("<", &mut sql);
    }
    sql.push_str(if s.rev { " ORDER BY k DESC" } else { " ORDER BY k" });
    // LIMIT NULL is no limit: one statement per shape, whatever the numbers.
    sql.push_str(&format!(" LIMIT ${} OFFSET ${}", n + 1, n + 2));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_statements() {
        assert_eq!(
            range_sql("users", &Span::all()),
            "SELECT k, v FROM gatehouse.users ORDER BY k LIMIT $1 OFFSET $2"
        );
        assert_eq!(
            range_sql("sessions", &Span::between(vec![1], vec![2]).rev().limit(5)),
            "SELECT k, v FROM gatehouse.sessions WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3 OFFSET $4"
        );
        assert_eq!(
            range_sql("audit", &Span::before(vec![1])),
            "SELECT k, v FROM gatehouse.audit WHERE k < $1 ORDER BY k LIMIT $2 OFFSET $3"
        );
        assert_eq!(Span::prefix(&[1, 0xff]).hi, Some(vec![2]));
    }
}
