//! The closed-loop load generator: `conns` HTTP/2 connections, `streams`
//! concurrent calls on each, every worker issuing its next call as soon as the
//! previous one answered. Latencies go into one hdrhistogram per worker,
//! merged at the end; calls that start during the warm-up are not recorded.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

/// Opens `n` separate HTTP/2 connections to `addr` (one `Channel` each).
pub async fn connect_many(addr: &str, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        out.push(channel);
    }
    Ok(out)
}

/// Connections and streams for a total concurrency: up to 32 connections,
/// then more streams per connection (1 → 1×1, 32 → 32×1, 128 → 32×4, 512 → 32×16).
pub fn shape(concurrency: usize) -> (usize, usize) {
    let conns = concurrency.clamp(1, 32);
    (conns, concurrency.div_ceil(conns))
}

/// What one measured cell produced.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub concurrency: usize,
    pub connections: usize,
    pub streams_per_connection: usize,
    pub seconds: f64,
    pub ops: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub ops_per_sec: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds, 1 µs .. 120 s, 3 significant digits.
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds")
}

/// Summary of a latency histogram (µs) over `seconds`.
pub fn summarize(
    h: &Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    connections: usize,
    streams: usize,
) -> Measured {
    let ms = |v: u64| v as f64 / 1000.0;
    let ops = h.len();
    Measured {
        concurrency: connections * streams,
        connections,
        streams_per_connection: streams,
        seconds,
        ops,
        errors,
        first_error,
        ops_per_sec: if seconds > 0.0 {
            ops as f64 / seconds
        } else {
            0.0
        },
        mean_ms: if ops > 0 { h.mean() / 1000.0 } else { 0.0 },
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

struct WorkerOut {
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `call(channel, worker, seq)` in a closed loop from
/// `channels.len() × streams` workers for `warmup + duration`; records only
/// calls started after the warm-up and before the end.
pub async fn run_timed<C, F, Fut>(
    channels: &[C],
    streams: usize,
    warmup: Duration,
    duration: Duration,
    call: F,
) -> Measured
where
    C: Clone + Send + 'static,
    F: Fn(C, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let conns = channels.len();
    let workers = conns * streams;
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let channel = channels[w % conns].clone();
        let call = call.clone();
        handles.push(tokio::spawn(async move {
            let mut out = WorkerOut {
                hist: new_histogram(),
                errors: 0,
                first_error: None,
            };
            let mut seq = 0u64;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let result = call(channel.clone(), w, seq).await;
                seq += 1;
                if t0 < measure_from {
                    continue;
                }
                match result {
                    Ok(()) => {
                        let us = t0.elapsed().as_micros().max(1) as u64;
                        out.hist.saturating_record(us);
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(e);
                        }
                    }
                }
            }
            out
        }));
    }
    merge(handles, duration.as_secs_f64(), conns, streams).await
}

/// Runs `call(channel, worker, item)` once for each item `0..items`, the
/// workers taking the next item as they finish; the whole run is measured
/// (no warm-up) and `seconds` is the wall time until the last call answered.
pub async fn run_items<C, F, Fut>(channels: &[C], streams: usize, items: u64, call: F) -> Measured
where
    C: Clone + Send + 'static,
    F: Fn(C, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let conns = channels.len();
    let workers = conns * streams;
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let channel = channels[w % conns].clone();
        let call = call.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut out = WorkerOut {
                hist: new_histogram(),
                errors: 0,
                first_error: None,
            };
            loop {
                let item = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if item >= items {
                    break;
                }
                let t0 = Instant::now();
                match call(channel.clone(), w, item).await {
                    Ok(()) => {
                        out.hist
                            .saturating_record(t0.elapsed().as_micros().max(1) as u64);
                    }
                    Err(e) => {
                        out.errors += 1;
                        if out.first_error.is_none() {
                            out.first_error = Some(e);
                        }
                    }
                }
            }
            out
        }));
    }
    let mut m = merge(handles, 0.0, conns, streams).await;
    m.seconds = start.elapsed().as_secs_f64();
    m.ops_per_sec = m.ops as f64 / m.seconds;
    m
}

async fn merge(
    handles: Vec<tokio::task::JoinHandle<WorkerOut>>,
    seconds: f64,
    conns: usize,
    streams: usize,
) -> Measured {
    let mut hist = new_histogram();
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        let out = h.await.expect("load worker panicked");
        hist.add(&out.hist).expect("merge histograms");
        errors += out.errors;
        if first_error.is_none() {
            first_error = out.first_error;
        }
    }
    summarize(&hist, errors, first_error, seconds, conns, streams)
}

/// A small, fast, seedable PRNG (splitmix64) for picking targets.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A pseudo-random index below `n` for worker `w`'s call number `seq`.
pub fn pick(w: usize, seq: u64, salt: u64, n: usize) -> usize {
    (mix(((w as u64) << 40) ^ seq ^ salt.rotate_left(17)) % n.max(1) as u64) as usize
}
