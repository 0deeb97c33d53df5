//! Logs (`tracing`, text or JSON) and the process-wide Prometheus recorder.
//!
//! A request is not a tracing span (creating and entering one per call cost a
//! few percent of the CPU of a cheap RPC): its id and RPC live in the
//! [`REQUEST`] task-local, and the log formatters add them to every event
//! logged while it is served.

use std::fmt;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// The request being served: its id and what it calls (an RPC's method name,
/// or `mcp` for the pack gateway).
#[derive(Debug, Clone)]
pub struct RequestScope {
    pub id: String,
    pub rpc: &'static str,
}

tokio::task_local! {
    /// The request being served, set by the gRPC middleware and the gateway
    /// for the duration of the handler, so that errors, audit events and log
    /// lines can name it without threading it through.
    pub static REQUEST: RequestScope;
}

/// Returns the id of the request being served, or an empty string outside one.
pub fn current_request_id() -> String {
    REQUEST
        .try_with(|scope| scope.id.clone())
        .unwrap_or_default()
}

/// Installs the global log subscriber. Logs go to stderr; stdout is kept for
/// command output (the `admin` subcommands print JSON there).
pub fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    subscriber(format, filter, std::io::stderr, ansi)
        .try_init()
        .map_err(|err| anyhow::anyhow!("cannot install the log subscriber: {err}"))
}

/// The log subscriber: `format` lines at `filter`'s levels to `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.fmt_fields(TextRequestFields).finish()),
        LogFormat::Json => Box::new(
            builder
                .event_format(JsonRequestFields(
                    tracing_subscriber::fmt::format().json().flatten_event(true),
                ))
                .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                .finish(),
        ),
    }
}

/// Text logs: an event's fields, then ` request_id=… rpc=…` when it is
/// logged while a request is served.
struct TextRequestFields;

impl<'writer> FormatFields<'writer> for TextRequestFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        DefaultFields::new().format_fields(writer.by_ref(), fields)?;
        match REQUEST.try_with(|scope| write!(writer, " request_id={} rpc={}", scope.id, scope.rpc))
        {
            Ok(written) => written,
            Err(_) => Ok(()),
        }
    }
}

/// JSON logs: the flattened event with `request_id` and `rpc` members when it
/// is logged while a request is served.
struct JsonRequestFields<F>(F);

impl<S, N, F> FormatEvent<S, N> for JsonRequestFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Ok(scope) = REQUEST.try_with(Clone::clone) else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The object ends with `}` and a newline: add the members before it.
        let Some(end) = line.rfind('}') else {
            return writer.write_str(&line);
        };
        let extra = serde_json::json!({"request_id": scope.id, "rpc": scope.rpc}).to_string();
        let separator = if line[..end].trim_end().ends_with('{') {
            ""
        } else {
            ","
        };
        writer.write_str(&line[..end])?;
        writer.write_str(separator)?;
        writer.write_str(&extra[1..])?;
        writer.write_str(&line[end + 1..])
    }
}

/// Latency buckets in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Returns the handle of the global Prometheus recorder, installing it on
/// first use. The `metrics` facade allows one recorder per process, so every
/// application built in this process (several in tests) shares it.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("grpc_server_handling_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("mcp_registry_gateway_call_seconds".into()),
                    LATENCY_BUCKETS,
                )
            })
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only if another recorder is installed; metrics then go there.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("capture").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Logs one line outside a request and one inside, in `format`.
    fn two_lines(format: LogFormat) -> Vec<String> {
        let capture = Capture::default();
        let writer = capture.clone();
        let filter = EnvFilter::new("info");
        let subscriber = subscriber(format, filter, move || writer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(answer = 42, "outside");
            let scope = RequestScope {
                id: "req-7".to_owned(),
                rpc: "GetMcpServer",
            };
            REQUEST.sync_scope(scope, || tracing::info!(answer = 43, "inside"));
        });
        let bytes = capture.0.lock().expect("capture").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn text_lines_of_a_request_name_it() {
        let lines = two_lines(LogFormat::Text);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with("outside answer=42"), "{}", lines[0]);
        assert!(
            lines[1].ends_with("inside answer=43 request_id=req-7 rpc=GetMcpServer"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn json_lines_of_a_request_name_it() {
        let lines = two_lines(LogFormat::Json);
        let parsed: Vec<serde_json::Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect();
        assert_eq!(parsed[0]["message"], "outside");
        assert_eq!(parsed[0].get("request_id"), None);
        assert_eq!(parsed[1]["message"], "inside");
        assert_eq!(parsed[1]["answer"], 43);
        assert_eq!(parsed[1]["request_id"], "req-7");
        assert_eq!(parsed[1]["rpc"], "GetMcpServer");
    }
}
