//! The gateway's call records: [`CallLog::record`] hands a [`ToolCall`] to a
//! bounded channel and returns at once; one writer task takes what the
//! channel holds and inserts it in batches (after [`LINGER`], so that a busy
//! gateway's records share their transactions). A call never waits for the
//! database: when the channel is full (the database is slow or down), the
//! record is dropped and counted in `mcp_registry_tool_call_records_dropped_total`.
//! Records are therefore best effort, unlike audit events, which commit with
//! their change.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::registry::audit::ToolCall;
use crate::store::Store;

/// Records the channel holds before new ones are dropped.
const CAPACITY: usize = 4096;
/// Most records one insert batch takes.
const BATCH: usize = 500;
/// How long the writer lets records gather after the first of a batch: each
/// insert has a fixed cost (a transaction, its statements, a commit) that a
/// busy gateway then pays once for many calls. A record is stored at most
/// this much later than it would be otherwise.
const LINGER: Duration = Duration::from_millis(50);

/// The sending side, cheap to clone; held by the gateway.
#[derive(Clone, Debug)]
pub struct CallLog {
    sender: mpsc::Sender<ToolCall>,
}

impl CallLog {
    /// Starts the writer on `tasks`. It ends once every sender is gone and
    /// the channel is drained, or when `abandon` is cancelled (what is left
    /// then is lost).
    pub fn start(
        store: Store,
        tasks: &tokio_util::task::TaskTracker,
        abandon: CancellationToken,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        tasks.spawn(write(store, receiver, abandon));
        Self { sender }
    }

    /// Queues `call` for the writer; drops it (counted) when the queue is full.
    pub fn record(&self, call: ToolCall) {
        if self.sender.try_send(call).is_err() {
            metrics::counter!("mcp_registry_tool_call_records_dropped_total").increment(1);
        }
    }
}

/// The writer: waits for a record, lets more arrive for [`LINGER`], takes
/// what is queued (up to a batch) and inserts it in one transaction.
async fn write(store: Store, mut receiver: mpsc::Receiver<ToolCall>, abandon: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            () = abandon.cancelled() => return,
            received = receiver.recv_many(&mut batch, BATCH) => received,
        };
        if received == 0 {
            return;
        }
        if batch.len() < BATCH {
            // Nobody waits on the channel meanwhile, so the calls' sends
            // wake no task; what came in goes in this batch.
            tokio::select! {
                () = abandon.cancelled() => return,
                () = tokio::time::sleep(LINGER) => {}
            }
            while batch.len() < BATCH
                && let Ok(call) = receiver.try_recv()
            {
                batch.push(call);
            }
        }
        if let Err(err) = store.insert_tool_calls(&batch).await {
            metrics::counter!("mcp_registry_tool_call_records_dropped_total")
                .increment(batch.len() as u64);
            tracing::warn!(error = %err, records = batch.len(), "cannot store gateway call records; dropped");
        }
        batch.clear();
    }
}
