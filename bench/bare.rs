//! The real ceiling: a bare tonic server with nothing but `tonic-health`
//! (same tonic version as the service, default settings, no middleware), so
//! that every cell can be read as a fraction of what tonic itself serves on
//! this machine in the same run. Our own Health/Check, measured beside it,
//! shows what our middleware costs.

use tonic::transport::Server;

pub async fn serve(port: u16) -> anyhow::Result<()> {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    Server::builder()
        .add_service(service)
        .serve(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await?;
    Ok(())
}
