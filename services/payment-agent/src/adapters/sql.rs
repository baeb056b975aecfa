//! [`SqlLedger`]: the ledger on sqlx, SQLite embedded or PostgreSQL, through one `AnyPool` and
//! the same SQL (both accept `$n` parameters, `ON CONFLICT DO NOTHING` and `RETURNING`).
//!
//! SQLite durability: WAL with `synchronous = FULL`. In WAL mode `NORMAL` survives a crash of
//! the process but may lose the last commits on power loss or an OS crash; a ledger that is the
//! record of a charge must not, so every commit syncs the WAL.
//!
//! SQLite group commit: that sync is most of a charge's cost, and SQLite has one writer anyway.
//! So on SQLite one writer task takes the charges that arrived while it wrote the previous batch
//! (up to `MAX_BATCH`) and writes them in one transaction: one commit, one sync. Each charge is
//! the same statements as alone, in arrival order, so a key or an order met twice in a batch is
//! resolved exactly as it would be in two transactions (the second sees the first). Each caller
//! is answered only once its batch is durable; a failed commit fails the whole batch (none of it
//! was recorded). A charge whose statement fails with a storage error gets that error, and the
//! batch is written again without it in a fresh transaction (SQLite may have rolled back the
//! whole transaction, not only the statement). A charge waits at most `WRITE_TIMEOUT` to be
//! taken by the writer (as long as a pooled connection would have been waited for): past it, it
//! is answered with an error and never written. PostgreSQL commits each charge on its own pooled
//! connection.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use async_trait::async_trait;
use intentmesh_core::config::DatabaseUrl;
use sqlx::{
    AnyConnection, AnyPool, Executor, Row,
    any::{AnyPoolOptions, AnyRow},
    migrate::Migrator,
    sqlite::SqliteConnectOptions,
};
use tokio::sync::{mpsc, oneshot};

use crate::domain::ledger::{
    ChargeOutcome, Ledger, LedgerError, NewPayment, Payment, PaymentStatus,
};

/// The ledger's migrations, the same SQL for both backends. Other services' migrations may
/// share the database (the catalog's, numbered 2xxxx), so versions this crate does not know are
/// ignored.
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Pragmas applied to every SQLite ledger connection.
pub const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;";

const COLUMNS: &str = "transaction_id, idempotency_key, fingerprint, user_id, order_id, \
                       amount_minor, currency, status, request_id, created_at";

/// The most charges one SQLite transaction takes.
const MAX_BATCH: usize = 256;
/// Charges waiting for the SQLite writer; past it, callers wait to hand theirs over.
const WRITER_QUEUE: usize = 4 * MAX_BATCH;
/// The longest a charge waits to be taken by the SQLite writer (the pool's acquire timeout).
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqlLedger {
    pool: AnyPool,
    /// SQLite's group-commit writer.
    writer: Option<Writer>,
}

/// A handle on the SQLite writer task (it ends when the last handle goes).
#[derive(Debug, Clone)]
struct Writer {
    jobs: mpsc::Sender<Job>,
    commits: Arc<AtomicU64>,
}

/// One charge for the writer, and where its outcome goes once its batch is durable.
struct Job {
    payment: Payment,
    daily_limit_minor: Option<i64>,
    /// Not written when the writer gets to it after this.
    expires: tokio::time::Instant,
    reply: oneshot::Sender<Result<ChargeOutcome, LedgerError>>,
}

impl SqlLedger {
    /// Connects (creating an SQLite file and its folder when needed), applies the migrations and
    /// fails fast when the database cannot be reached.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, LedgerError> {
        sqlx::any::install_default_drivers();
        let (raw, max) = match url {
            DatabaseUrl::Sqlite(raw) => {
                create_sqlite_parent(raw)?;
                // One writer: SQLite serialises writes anyway, and a queue in the pool is fairer
                // and cheaper than connections spinning on the busy handler.
                (raw, 1)
            }
            DatabaseUrl::Postgres(raw) => (raw, max_connections.max(1)),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(WRITE_TIMEOUT)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name() == "SQLite" {
                        conn.execute(SQLITE_PRAGMAS).await?;
                    }
                    Ok(())
                })
            })
            .connect(raw)
            .await?;
        migrator().run(&pool).await?;
        let writer = matches!(url, DatabaseUrl::Sqlite(_)).then(|| {
            let (jobs, queue) = mpsc::channel(WRITER_QUEUE);
            let commits = Arc::new(AtomicU64::new(0));
            tokio::spawn(write_batches(pool.clone(), queue, Arc::clone(&commits)));
            Writer { jobs, commits }
        });
        Ok(Self { pool, writer })
    }

    /// Transactions the SQLite writer has committed (`None` on PostgreSQL).
    pub fn group_commits(&self) -> Option<u64> {
        self.writer
            .as_ref()
            .map(|w| w.commits.load(Ordering::Relaxed))
    }

    async fn find_by(&self, column: &str, value: &str) -> Result<Option<Payment>, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        find_where(&mut conn, &[column], &[value]).await
    }
}

/// The payment whose `columns` hold `values` (column names are ours, never a caller's).
async fn find_where(
    conn: &mut AnyConnection,
    columns: &[&str],
    values: &[&str],
) -> Result<Option<Payment>, LedgerError> {
    let condition = columns
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE {condition}");
    let mut query = sqlx::query(&sql);
    for value in values {
        query = query.bind(*value);
    }
    let row = query.fetch_optional(&mut *conn).await?;
    row.map(|r| payment_from_row(&r)).transpose()
}

/// Adds `payment` to its user's total for its currency and UTC day, unless that would pass
/// `limit` (minor units): whether it was added. One statement, so concurrent charges of a user
/// queue on the total's row and cannot both pass the limit.
async fn spend(
    conn: &mut AnyConnection,
    payment: &Payment,
    limit: Option<i64>,
) -> Result<bool, LedgerError> {
    let limit = limit.unwrap_or(i64::MAX);
    if payment.amount_minor > limit {
        return Ok(false);
    }
    let day = payment.created_at.get(..10).unwrap_or(&payment.created_at);
    let added = sqlx::query(
        "INSERT INTO payment_budgets (user_id, currency, day, spent_minor) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, currency, day) DO UPDATE \
         SET spent_minor = payment_budgets.spent_minor + excluded.spent_minor \
         WHERE payment_budgets.spent_minor <= $5 - excluded.spent_minor \
         RETURNING spent_minor",
    )
    .bind(&payment.user_id)
    .bind(&payment.currency)
    .bind(day)
    .bind(payment.amount_minor)
    .bind(limit)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(added.is_some())
}

/// Records `payment` on `conn` unless its key or order is taken, or it would pass its user's
/// daily limit, and says what happened.
async fn charge_on(
    conn: &mut AnyConnection,
    payment: Payment,
    daily_limit_minor: Option<i64>,
) -> Result<ChargeOutcome, LedgerError> {
    let sql = format!(
        "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT DO NOTHING RETURNING transaction_id"
    );
    let inserted = sqlx::query(&sql)
        .bind(&payment.transaction_id)
        .bind(&payment.idempotency_key)
        .bind(&payment.fingerprint)
        .bind(&payment.user_id)
        .bind(payment.order_id.as_deref())
        .bind(payment.amount_minor)
        .bind(&payment.currency)
        .bind(payment.status.as_str())
        .bind(&payment.request_id)
        .bind(&payment.created_at)
        .fetch_optional(&mut *conn)
        .await?;
    if inserted.is_some() {
        if spend(conn, &payment, daily_limit_minor).await? {
            return Ok(ChargeOutcome::Charged(payment));
        }
        // Past the limit: the row goes again, inside the same transaction (no one saw it).
        sqlx::query("DELETE FROM payments WHERE transaction_id = $1")
            .bind(&payment.transaction_id)
            .execute(&mut *conn)
            .await?;
        return Err(LedgerError::BudgetExceeded {
            currency: payment.currency,
            limit_minor: daily_limit_minor.unwrap_or(i64::MAX),
        });
    }

    // Nothing was written: the key or the order was recorded before.
    if let Some(existing) =
        find_where(conn, &["idempotency_key"], &[&payment.idempotency_key]).await?
    {
        return if existing.fingerprint == payment.fingerprint {
            Ok(ChargeOutcome::Replayed(existing))
        } else {
            Err(LedgerError::IdempotencyConflict {
                existing: Box::new(existing),
            })
        };
    }
    if let Some(order_id) = &payment.order_id
        && let Some(existing) = find_where(
            conn,
            &["user_id", "order_id"],
            &[&payment.user_id, order_id],
        )
        .await?
    {
        return if existing.fingerprint == payment.fingerprint {
            Ok(ChargeOutcome::Replayed(existing))
        } else {
            Err(LedgerError::OrderAlreadyPaid {
                order_id: order_id.clone(),
            })
        };
    }
    Err(LedgerError::Inconsistent(
        "insert was refused but no conflicting payment exists".to_owned(),
    ))
}

/// The SQLite writer: each batch is what waited while the previous one was written.
async fn write_batches(pool: AnyPool, mut queue: mpsc::Receiver<Job>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let now = tokio::time::Instant::now();
        let mut jobs = Vec::with_capacity(batch.len());
        for job in batch.drain(..) {
            if job.expires <= now || job.reply.is_closed() {
                let _ = job.reply.send(Err(LedgerError::Inconsistent(
                    "the ledger writer is behind: the charge was not taken in time, and not written"
                        .to_owned(),
                )));
            } else {
                jobs.push(job);
            }
        }
        // Each round either commits or takes out the one charge whose statement failed.
        while !jobs.is_empty() {
            match write_batch(&pool, &jobs).await {
                Written::Committed(outcomes) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    for (job, outcome) in jobs.drain(..).zip(outcomes) {
                        // A caller that left is no reason to stop.
                        let _ = job.reply.send(outcome);
                    }
                }
                Written::Failed { at, error } => {
                    let _ = jobs.remove(at).reply.send(Err(error));
                }
                Written::Aborted(error) => {
                    let error = Arc::new(error);
                    for job in jobs.drain(..) {
                        let _ = job.reply.send(Err(LedgerError::Batch(Arc::clone(&error))));
                    }
                }
            }
        }
    }
}

/// What one attempt at a batch came to.
enum Written {
    /// Durable: each charge's outcome.
    Committed(Vec<Result<ChargeOutcome, LedgerError>>),
    /// The charge at `at` failed on storage; nothing of this attempt was kept.
    Failed { at: usize, error: LedgerError },
    /// The transaction could not begin or commit; nothing was kept.
    Aborted(LedgerError),
}

/// One transaction for `jobs`.
async fn write_batch(pool: &AnyPool, jobs: &[Job]) -> Written {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(err) => return Written::Aborted(err.into()),
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (at, job) in jobs.iter().enumerate() {
        match charge_on(&mut tx, job.payment.clone(), job.daily_limit_minor).await {
            // The transaction may be gone with the statement: dropping it rolls back the rest.
            Err(error @ LedgerError::Storage(_)) => return Written::Failed { at, error },
            outcome => outcomes.push(outcome),
        }
    }
    match tx.commit().await {
        Ok(()) => Written::Committed(outcomes),
        Err(err) => Written::Aborted(err.into()),
    }
}

fn create_sqlite_parent(raw: &str) -> Result<(), LedgerError> {
    let options = SqliteConnectOptions::from_str(raw)?;
    if let Some(parent) = options
        .get_filename()
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| LedgerError::Storage(sqlx::Error::Io(e)))?;
    }
    Ok(())
}

fn payment_from_row(row: &AnyRow) -> Result<Payment, LedgerError> {
    let status: String = row.try_get("status")?;
    Ok(Payment {
        status: match status.as_str() {
            "completed" => PaymentStatus::Completed,
            "declined" => PaymentStatus::Declined,
            other => {
                return Err(LedgerError::Inconsistent(format!(
                    "unknown payment status {other:?}"
                )));
            }
        },
        transaction_id: row.try_get("transaction_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        fingerprint: row.try_get("fingerprint")?,
        user_id: row.try_get("user_id")?,
        order_id: row.try_get("order_id")?,
        amount_minor: row.try_get("amount_minor")?,
        currency: row.try_get("currency")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Ledger for SqlLedger {
    async fn charge(&self, new: NewPayment) -> Result<ChargeOutcome, LedgerError> {
        let payment = Payment {
            transaction_id: format!("txn_{}", uuid::Uuid::new_v4().simple()),
            idempotency_key: new.idempotency_key,
            fingerprint: new.fingerprint,
            user_id: new.user_id,
            order_id: new.order_id,
            amount_minor: new.amount_minor,
            currency: new.currency,
            status: PaymentStatus::Completed,
            request_id: new.request_id,
            created_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        };
        let daily_limit_minor = new.daily_limit_minor;
        let Some(writer) = &self.writer else {
            // The charge and its day's total change together, or not at all.
            let mut tx = self.pool.begin().await?;
            let outcome = charge_on(&mut tx, payment, daily_limit_minor).await;
            return match outcome {
                Err(err) => {
                    // Dropping the transaction rolls it back; say so plainly.
                    let _ = tx.rollback().await;
                    Err(err)
                }
                Ok(outcome) => {
                    tx.commit().await?;
                    Ok(outcome)
                }
            };
        };
        let (reply, outcome) = oneshot::channel();
        let expires = tokio::time::Instant::now() + WRITE_TIMEOUT;
        let job = Job {
            payment,
            daily_limit_minor,
            expires,
            reply,
        };
        writer
            .jobs
            .send_timeout(job, WRITE_TIMEOUT)
            .await
            .map_err(|_| {
                LedgerError::Inconsistent(
                    "the ledger writer is behind or stopped: the charge was not written".to_owned(),
                )
            })?;
        outcome
            .await
            .map_err(|_| LedgerError::Inconsistent("the ledger writer stopped".to_owned()))?
    }

    async fn get(&self, transaction_id: &str) -> Result<Option<Payment>, LedgerError> {
        self.find_by("transaction_id", transaction_id).await
    }

    async fn count_for_order(&self, order_id: &str) -> Result<u64, LedgerError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn count(&self) -> Result<u64, LedgerError> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM payments")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ready(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
