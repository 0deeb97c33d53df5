//! Group commit for SQLite: concurrent write transactions share one database transaction, each
//! in a savepoint of its own, and one `COMMIT` makes them all durable.
//!
//! Why: SQLite has one writer, and each commit in WAL mode with `synchronous=FULL` appends every
//! page the transaction changed to the WAL and syncs it. A server create changes about thirty
//! pages (the row, its indexes, the text-search index, the audit event and its indexes), most of
//! them the same right-edge pages for every create, since ids grow with time. One commit per
//! write made the single writer the limit (about 800 creates/s at 32 concurrent calls, with the
//! service mostly idle). A batch writes each shared page once and syncs once.
//!
//! How:
//! - The turn to write is a FIFO lock (`Shared::turn`) that also holds the open batch. A writer
//!   takes the turn, opens a batch if none is open (`BEGIN IMMEDIATE` on a pooled connection),
//!   and works in a savepoint of the batch (`SAVEPOINT`): its statements see the batch's earlier
//!   writes, as they would have seen them committed.
//! - A writer that fails or rolls back undoes only its savepoint (`ROLLBACK TO`): its neighbours
//!   in the batch are untouched. A batch that nobody is waiting on any more is rolled back at once.
//! - A writer that succeeds releases its savepoint, registers to hear the batch's outcome, gives
//!   the turn up and queues for it again. Writers that were queued meanwhile join the batch.
//!   Whoever of the batch's writers gets the turn first while the batch is still open commits
//!   it and tells every writer of the batch the outcome; the others just hear it. So a write is
//!   acknowledged only after the `COMMIT` that made it durable, and a failed `COMMIT` fails every
//!   write of the batch, none of which was acknowledged.
//! - A statement error other than a constraint violation may have ended SQLite's transaction
//!   under the batch (I/O errors, a full disk): it poisons the batch, which then rolls back and
//!   fails all its writes instead of committing.
//!
//! Under no concurrency a batch holds one write, and the cost over a plain transaction is a
//! savepoint and a second turn, both uncontended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnAcquireErr, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// How long a write waits for its first turn before it fails, as SQLite's busy timeout.
const TURN_WAIT: Duration = Duration::from_secs(5);

/// The batches of one SQLite database. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    pool: DatabaseConnection,
    turn: Arc<Mutex<Turn>>,
}

/// What the holder of the turn may touch.
#[derive(Debug, Default)]
struct Turn {
    batch: Option<Batch>,
    /// The id of the next batch.
    next_id: u64,
}

/// One open database transaction and the writes waiting for its outcome.
#[derive(Debug)]
struct Batch {
    id: u64,
    txn: DatabaseTransaction,
    waiting: Vec<oneshot::Sender<Result<(), DbErr>>>,
    /// A statement failed in a way that may have ended the transaction.
    poisoned: bool,
}

/// One write in a batch: its turn until it has done its statements, then its place in the batch.
#[derive(Debug)]
pub(crate) struct Member {
    shared: GroupCommit,
    batch_id: u64,
    turn: Option<OwnedMutexGuard<Turn>>,
    /// One of the write's statements failed in a way that may have ended the transaction.
    failed: AtomicBool,
}

impl GroupCommit {
    pub(crate) fn new(pool: DatabaseConnection) -> Self {
        Self {
            pool,
            turn: Arc::default(),
        }
    }

    /// Starts a write: waits for the turn, joins the open batch (or opens one) and returns the
    /// write's savepoint, a transaction for its statements.
    pub(crate) async fn begin(&self) -> Result<(DatabaseTransaction, Member), DbErr> {
        let mut turn = match self.turn.clone().try_lock_owned() {
            Ok(turn) => turn,
            Err(_) => tokio::time::timeout(TURN_WAIT, self.turn.clone().lock_owned())
                .await
                .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?,
        };
        if turn.batch.as_ref().is_some_and(|batch| batch.poisoned) {
            finish(&mut turn).await;
        }
        let batch_id = match &turn.batch {
            Some(batch) => batch.id,
            None => {
                let txn = self
                    .pool
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?;
                let id = turn.next_id;
                turn.next_id += 1;
                turn.batch = Some(Batch {
                    id,
                    txn,
                    waiting: Vec::new(),
                    poisoned: false,
                });
                id
            }
        };
        let mut member = Member {
            shared: self.clone(),
            batch_id,
            turn: Some(turn),
            failed: AtomicBool::new(false),
        };
        let savepoint = match member.batch() {
            Some(batch) => batch.txn.begin().await,
            None => Err(lost()),
        };
        match savepoint {
            Ok(savepoint) => Ok((savepoint, member)),
            Err(err) => {
                member.failed(&err);
                Err(err)
            }
        }
    }
}

impl Member {
    fn batch(&mut self) -> Option<&mut Batch> {
        let batch_id = self.batch_id;
        self.turn
            .as_mut()?
            .batch
            .as_mut()
            .filter(|batch| batch.id == batch_id)
    }

    /// Notes that one of the write's statements failed with `err`. Anything but a constraint
    /// violation (which undoes only its statement) may have ended SQLite's transaction under
    /// the batch, so the batch will not commit.
    pub(crate) fn failed(&self, err: &DbErr) {
        if !matches!(
            err.sql_err(),
            Some(
                sea_orm::SqlErr::UniqueConstraintViolation(_)
                    | sea_orm::SqlErr::ForeignKeyConstraintViolation(_)
            )
        ) {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    /// Moves a noted failure onto the batch; tells whether there was one.
    fn poison_if_failed(&mut self) -> bool {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed && let Some(batch) = self.batch() {
            batch.poisoned = true;
        }
        failed
    }

    /// After the write's savepoint was released: gives the turn up and waits until the batch
    /// is committed (by this write, if it is the first of the batch to get the turn back).
    pub(crate) async fn committed(mut self) -> Result<(), DbErr> {
        if self.poison_if_failed() {
            return Err(poisoned());
        }
        let (tell, outcome) = oneshot::channel();
        match self.batch() {
            Some(batch) => batch.waiting.push(tell),
            None => return Err(lost()),
        }
        let shared = self.shared.clone();
        let batch_id = self.batch_id;
        drop(self);
        let mut pending = Pending {
            shared,
            batch_id,
            outcome: Some(outcome),
        };
        pending.wait().await
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.poison_if_failed();
        // A batch nobody waits on any more (this write rolled back or was cancelled and no
        // write before it succeeded) rolls back now: dropping its transaction sends the
        // ROLLBACK, after this write's own ROLLBACK TO, which its savepoint sent when dropped.
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        if turn
            .batch
            .as_ref()
            .is_some_and(|batch| batch.id == self.batch_id && batch.waiting.is_empty())
        {
            turn.batch = None;
        }
    }
}

/// A write waiting for its batch's outcome.
struct Pending {
    shared: GroupCommit,
    batch_id: u64,
    outcome: Option<oneshot::Receiver<Result<(), DbErr>>>,
}

impl Pending {
    async fn wait(&mut self) -> Result<(), DbErr> {
        let Some(outcome) = self.outcome.as_mut() else {
            return Err(lost());
        };
        let result = tokio::select! {
            biased;
            told = &mut *outcome => told.unwrap_or_else(|_| Err(lost())),
            turn = self.shared.turn.clone().lock_owned() => {
                let mut turn = turn;
                if turn.batch.as_ref().is_some_and(|batch| batch.id == self.batch_id) {
                    finish(&mut turn).await;
                }
                drop(turn);
                // Whoever committed the batch told every write before giving the turn up.
                outcome.await.unwrap_or_else(|_| Err(lost()))
            }
        };
        self.outcome = None;
        result
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Cancelled while waiting: the batch may have nobody else to commit it, so a task
        // takes the turn and commits it if it is still open.
        if self.outcome.is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let shared = self.shared.clone();
            let batch_id = self.batch_id;
            runtime.spawn(async move {
                let mut turn = shared.turn.lock_owned().await;
                if turn
                    .batch
                    .as_ref()
                    .is_some_and(|batch| batch.id == batch_id)
                {
                    finish(&mut turn).await;
                }
            });
        }
    }
}

/// Ends the open batch: `COMMIT`, or `ROLLBACK` when poisoned, and tells every waiting write.
async fn finish(turn: &mut Turn) {
    let Some(batch) = turn.batch.take() else {
        return;
    };
    let result = if batch.poisoned {
        let _ = batch.txn.rollback().await;
        Err(poisoned())
    } else {
        batch.txn.commit().await
    };
    if let Err(err) = &result {
        tracing::warn!(error = %err, writes = batch.waiting.len(), "group commit failed");
    }
    for tell in batch.waiting {
        let _ = tell.send(result.clone());
    }
}

/// A write of the batch failed in a way that may have ended its transaction.
fn poisoned() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(
        "a write of the same commit failed in a way that may have ended the transaction".into(),
    ))
}

/// The batch went away under a write (a bug, or a cancelled commit).
fn lost() -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(
        "the write's commit group ended before it".into(),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
    use tokio::sync::Barrier;

    use super::GroupCommit;

    async fn database(dir: &tempfile::TempDir) -> DatabaseConnection {
        let url = format!("sqlite://{}/g.db?mode=rwc", dir.path().display());
        let mut options = ConnectOptions::new(url);
        options.max_connections(4).sqlx_logging(false);
        let db = Database::connect(options).await.expect("connect");
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
        )
        .await
        .expect("schema");
        db
    }

    fn insert(id: i64) -> Statement {
        Statement::from_sql_and_values(
            sea_orm::DbBackend::Sqlite,
            "INSERT INTO t (id, v) VALUES (?, 'x')",
            [id.into()],
        )
    }

    async fn ids(db: &DatabaseConnection) -> Vec<i64> {
        db.query_all_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT id FROM t ORDER BY id",
        ))
        .await
        .expect("select")
        .iter()
        .map(|row| row.try_get::<i64>("", "id").expect("id"))
        .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_writes_share_commits_and_every_acknowledged_one_is_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = database(&dir).await;
        let group = GroupCommit::new(db.clone());
        let start = Arc::new(Barrier::new(32));
        let mut tasks = Vec::new();
        for id in 0..32 {
            let (group, start) = (group.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let (txn, member) = group.begin().await?;
                txn.execute_raw(insert(id)).await?;
                txn.commit().await?;
                member.committed().await
            }));
        }
        for task in tasks {
            task.await.expect("join").expect("write");
        }
        assert_eq!(ids(&db).await, (0..32).collect::<Vec<_>>());
        let batches = group.turn.lock().await.next_id;
        assert!(batches < 32, "{batches} commits for 32 overlapping writes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_undoes_only_itself_in_its_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = database(&dir).await;
        let group = GroupCommit::new(db.clone());
        // The first write waits for its batch; the next two join it before it commits.
        let (txn, first) = group.begin().await.expect("begin");
        txn.execute_raw(insert(1)).await.expect("insert 1");
        txn.commit().await.expect("release");
        let waiting = tokio::spawn(first.committed());
        let (txn, second) = group.begin().await.expect("begin");
        let duplicate = txn.execute_raw(insert(1)).await;
        let err = duplicate.expect_err("the same key twice");
        second.failed(&err);
        txn.rollback().await.expect("rollback to the savepoint");
        drop(second);
        let (txn, third) = group.begin().await.expect("begin");
        txn.execute_raw(insert(3)).await.expect("insert 3");
        txn.commit().await.expect("release");
        third.committed().await.expect("third committed");
        waiting.await.expect("join").expect("first committed");
        assert_eq!(ids(&db).await, vec![1, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_abandoned_halfway_rolls_back_and_frees_the_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = database(&dir).await;
        let group = GroupCommit::new(db.clone());
        let (txn, member) = group.begin().await.expect("begin");
        txn.execute_raw(insert(7)).await.expect("insert 7");
        drop(txn);
        drop(member);
        let (txn, member) = group.begin().await.expect("the turn is free");
        txn.execute_raw(insert(8)).await.expect("insert 8");
        txn.commit().await.expect("release");
        member.committed().await.expect("committed");
        assert_eq!(ids(&db).await, vec![8]);
    }
}
