//! Services of the contract whose RPCs are not implemented yet. Their methods
//! are the generated default stubs, which answer UNIMPLEMENTED; registering
//! them anyway lets clients and reflection see the whole contract.

use crate::pb;

/// SyncService, until it is implemented.
pub struct SyncApi;

#[tonic::async_trait]
impl pb::sync_service_server::SyncService for SyncApi {}
