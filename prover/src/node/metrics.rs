//! Prometheus metrics of the node, in the text exposition format (version 0.0.4),
//! served on `--metrics-listen ADDR` at `/metrics`, beside the status page at `/`
//! ([`crate::node::status`]); no token: bind it to a private address.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `zkinfer_jobs` | gauge | `state` | jobs in the store by state |
//! | `zkinfer_queue_depth` | gauge | | queued jobs |
//! | `zkinfer_workers` | gauge | | proving workers |
//! | `zkinfer_models` | gauge | | models served |
//! | `zkinfer_proofs_total` | counter | `model` | proofs made |
//! | `zkinfer_proving_seconds` | histogram | `model` | witness + proof time of each proof |
//! | `zkinfer_proofs_per_second` | gauge | | proofs over the last 60 s, per second |
//! | `zkinfer_job_failures_total` | counter | `kind` | jobs failed (`input`, `proving`, `model`, `other`) |
//! | `zkinfer_store_errors_total` | counter | | results that could not be stored (re-queued) |
//! | `zkinfer_chain_submissions_total` | counter | `result` | `submitProof` transactions (`settled`, `rejected`) |
//! | `zkinfer_chain_gas_used_total` | counter | | gas of the settled submissions |
//! | `zkinfer_uptime_seconds` | gauge | | since the node started |

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::node::store::JobState;

/// Upper bounds of the proving-time histogram's buckets, seconds.
const BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    proving: BTreeMap<String, Histogram>,
    failures: BTreeMap<&'static str, u64>,
    store_errors: u64,
    submissions: BTreeMap<&'static str, u64>,
    gas_used: u64,
    /// When the recent proofs finished, for the proofs-per-second gauge.
    recent: VecDeque<Instant>,
}

/// The node's counters (the gauges are read from the store at each scrape).
pub struct Metrics {
    started: Instant,
    inner: Mutex<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { started: Instant::now(), inner: Mutex::default() }
    }
}

/// The window of [`Metrics::proved`]'s proofs-per-second gauge.
const RATE_WINDOW: Duration = Duration::from_secs(60);

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A proof of `model` took `seconds` (witness and proof).
    pub fn proved(&self, model: &str, seconds: f64) {
        let mut m = self.lock();
        let h = m.proving.entry(model.to_string()).or_default();
        for (c, &b) in h.counts.iter_mut().zip(&BUCKETS) {
            if seconds <= b {
                *c += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
        let now = Instant::now();
        m.recent.push_back(now);
        while m.recent.front().is_some_and(|&t| now.duration_since(t) > RATE_WINDOW) {
            m.recent.pop_front();
        }
    }

    /// A job failed with `error` (its kind is the error's prefix).
    pub fn failed(&self, error: &str) {
        let kind = ["input", "proving", "model"].into_iter().find(|k| error.starts_with(k)).unwrap_or("other");
        *self.lock().failures.entry(kind).or_default() += 1;
    }

    /// A result could not be stored.
    pub fn store_error(&self) {
        self.lock().store_errors += 1;
    }

    /// A `submitProof` was settled (with its gas) or rejected by the market.
    pub fn submission(&self, settled: bool, gas: u64) {
        let mut m = self.lock();
        *m.submissions.entry(if settled { "settled" } else { "rejected" }).or_default() += 1;
        m.gas_used += gas;
    }

    /// The exposition text, with the store's job counts (`None` when they could not be read)
    /// and the served model and worker counts.
    pub fn render(&self, jobs: Option<&[(JobState, u64)]>, models: usize, workers: u32) -> String {
        let m = self.lock();
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        if let Some(jobs) = jobs {
            head(&mut o, "zkinfer_jobs", "gauge", "Jobs in the store by state.");
            for s in JobState::ALL {
                let n = jobs.iter().find(|(j, _)| *j == s).map_or(0, |j| j.1);
                let _ = writeln!(o, "zkinfer_jobs{{state=\"{}\"}} {n}", s.name());
            }
            head(&mut o, "zkinfer_queue_depth", "gauge", "Queued jobs.");
            let q = jobs.iter().find(|(j, _)| *j == JobState::Queued).map_or(0, |j| j.1);
            let _ = writeln!(o, "zkinfer_queue_depth {q}");
        }
        head(&mut o, "zkinfer_workers", "gauge", "Proving workers.");
        let _ = writeln!(o, "zkinfer_workers {workers}");
        head(&mut o, "zkinfer_models", "gauge", "Models served.");
        let _ = writeln!(o, "zkinfer_models {models}");
        head(&mut o, "zkinfer_proofs_total", "counter", "Proofs made, by model.");
        for (model, h) in &m.proving {
            let _ = writeln!(o, "zkinfer_proofs_total{{model=\"{}\"}} {}", escape(model), h.count);
        }
        head(&mut o, "zkinfer_proving_seconds", "histogram", "Witness and proof time of each proof, by model.");
        for (model, h) in &m.proving {
            let model = escape(model);
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(o, "zkinfer_proving_seconds_bucket{{model=\"{model}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(o, "zkinfer_proving_seconds_bucket{{model=\"{model}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(o, "zkinfer_proving_seconds_sum{{model=\"{model}\"}} {}", h.sum);
            let _ = writeln!(o, "zkinfer_proving_seconds_count{{model=\"{model}\"}} {}", h.count);
        }
        head(&mut o, "zkinfer_proofs_per_second", "gauge", "Proofs over the last 60 s, per second.");
        let now = Instant::now();
        let recent = m.recent.iter().filter(|&&t| now.duration_since(t) <= RATE_WINDOW).count();
        let window = RATE_WINDOW.as_secs_f64().min(self.started.elapsed().as_secs_f64()).max(1.0);
        let _ = writeln!(o, "zkinfer_proofs_per_second {}", recent as f64 / window);
        head(&mut o, "zkinfer_job_failures_total", "counter", "Jobs failed, by kind.");
        for kind in ["input", "proving", "model", "other"] {
            let _ = writeln!(o, "zkinfer_job_failures_total{{kind=\"{kind}\"}} {}", m.failures.get(kind).unwrap_or(&0));
        }
        head(&mut o, "zkinfer_store_errors_total", "counter", "Job results that could not be stored (re-queued).");
        let _ = writeln!(o, "zkinfer_store_errors_total {}", m.store_errors);
        head(&mut o, "zkinfer_chain_submissions_total", "counter", "submitProof transactions, by result.");
        for r in ["settled", "rejected"] {
            let _ =
                writeln!(o, "zkinfer_chain_submissions_total{{result=\"{r}\"}} {}", m.submissions.get(r).unwrap_or(&0));
        }
        head(&mut o, "zkinfer_chain_gas_used_total", "counter", "Gas of the settled submitProof transactions.");
        let _ = writeln!(o, "zkinfer_chain_gas_used_total {}", m.gas_used);
        head(&mut o, "zkinfer_uptime_seconds", "gauge", "Seconds since the node started.");
        let _ = writeln!(o, "zkinfer_uptime_seconds {}", self.started.elapsed().as_secs_f64());
        o
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serves `GET /metrics` and the status page (`GET /`) on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: std::sync::Arc<crate::node::service::NodeState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let page_state = state.clone();
    let cache = std::sync::Arc::new(crate::node::status::VerifiedCache::default());
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let state = state.clone();
                async move {
                    let st = state.clone();
                    let jobs = tokio::task::spawn_blocking(move || st.store.counts().ok()).await.ok().flatten();
                    let body = state.metrics.render(jobs.as_deref(), state.models.all().len(), state.workers);
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
                }
            }),
        )
        .route(
            "/",
            get(move || {
                let (state, cache) = (page_state.clone(), cache.clone());
                async move {
                    let page = tokio::task::spawn_blocking(move || crate::node::status::render(&state, &cache))
                        .await
                        .unwrap_or_else(|e| format!("<p>status page failed: {e}</p>"));
                    ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
                }
            }),
        );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_is_well_formed() {
        let m = Metrics::default();
        m.proved("mlp", 0.3);
        m.proved("mlp", 4.0);
        m.proved("a\"b", 0.05);
        m.failed("input: 3 values are outside");
        m.failed("something else");
        m.submission(true, 1234);
        m.submission(false, 0);
        let text = m.render(Some(&[(JobState::Queued, 2), (JobState::Proved, 5)]), 1, 2);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(name.starts_with("zkinfer_"), "{line}");
        }
        for want in [
            "zkinfer_jobs{state=\"queued\"} 2",
            "zkinfer_jobs{state=\"proved\"} 5",
            "zkinfer_queue_depth 2",
            "zkinfer_proofs_total{model=\"mlp\"} 2",
            "zkinfer_proving_seconds_bucket{model=\"mlp\",le=\"0.5\"} 1",
            "zkinfer_proving_seconds_bucket{model=\"mlp\",le=\"5\"} 2",
            "zkinfer_proving_seconds_bucket{model=\"mlp\",le=\"+Inf\"} 2",
            "zkinfer_proving_seconds_sum{model=\"mlp\"} 4.3",
            "zkinfer_proofs_total{model=\"a\\\"b\"} 1",
            "zkinfer_job_failures_total{kind=\"input\"} 1",
            "zkinfer_job_failures_total{kind=\"other\"} 1",
            "zkinfer_chain_submissions_total{result=\"settled\"} 1",
            "zkinfer_chain_submissions_total{result=\"rejected\"} 1",
            "zkinfer_chain_gas_used_total 1234",
        ] {
            assert!(text.contains(want), "missing `{want}` in\n{text}");
        }
    }
}
