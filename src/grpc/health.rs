//! `grpc.health.v1.Health` whose Watch streams end once shutdown starts.
//!
//! tonic-health's Watch streams never end on their own, and graceful shutdown
//! waits for open streams: one watcher would hold the process for the whole
//! shutdown timeout. Here each watcher still receives NOT_SERVING (set before
//! the stop token is cancelled) and then its stream ends.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::HealthService;

/// How long a watcher has to read NOT_SERVING before its stream ends.
const WATCH_DRAIN: Duration = Duration::from_millis(200);

/// Health service that drains Watch streams on shutdown.
pub struct DrainingHealth {
    inner: HealthService,
    stopping: CancellationToken,
}

impl DrainingHealth {
    pub fn new(inner: HealthService, stopping: CancellationToken) -> Self {
        Self { inner, stopping }
    }
}

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = ReceiverStream<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut statuses = self.inner.watch(request).await?.into_inner();
        let stopping = self.stopping.clone();
        let (tx, rx) = mpsc::channel(4);
        // The forwarder ends when the client goes away (send fails), when the
        // inner stream ends, or shortly after shutdown starts.
        tokio::spawn(async move {
            let drained = async {
                stopping.cancelled().await;
                tokio::time::sleep(WATCH_DRAIN).await;
            };
            tokio::pin!(drained);
            loop {
                tokio::select! {
                    biased;
                    item = statuses.next() => {
                        let Some(item) = item else { break };
                        if tx.send(item).await.is_err() {
                            break;
                        }
                    }
                    () = &mut drained => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
