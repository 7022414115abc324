//! The node's read-only status page, served at `/` beside `/metrics`
//! (`--metrics-listen`): the models served, jobs by state, the newest jobs,
//! the recent proofs with their model, proving time and a verification of
//! each by the node's own verifying key, and proofs per minute over the last
//! 30 minutes as a chart. Plain HTML and inline SVG, rendered on the server
//! (no JavaScript, nothing to build); it reloads itself every 5 seconds.
//!
//! Every string from a job (ids, errors, chain references) is HTML-escaped.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use zkinfer_circuits::proof_file::ProofFile;

use crate::node::service::NodeState;
use crate::node::store::{JobRecord, JobState};

/// Jobs shown in the table.
const SHOWN_JOBS: u32 = 50;
/// Proofs shown (and verified) in the proofs table.
const SHOWN_PROOFS: usize = 20;
/// Minutes of the throughput chart.
const CHART_MINUTES: usize = 30;

/// Verification results already computed, by job id (a proof never changes).
#[derive(Default)]
pub struct VerifiedCache(Mutex<HashMap<String, Result<(), String>>>);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Renders the page (blocking: it reads the store and verifies proofs).
pub fn render(state: &NodeState, cache: &VerifiedCache) -> String {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let names: HashMap<String, String> = state.models.all().iter().map(|m| (m.id(), m.name.clone())).collect();
    let model_name = |id: &str| names.get(id).cloned().unwrap_or_else(|| format!("{}…", &id[..id.len().min(10)]));
    let mut o = String::new();
    o.push_str(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>zkinfer node</title><style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}\
         table{border-collapse:collapse;margin:8px 0 24px}td,th{border-bottom:1px solid #ddd;padding:4px 10px;text-align:left}\
         th{background:#f4f4f4}code{font-size:12px}.failed{color:#b00}.ok{color:#070}h1{font-size:20px}h2{font-size:16px;margin-top:24px}\
         .counts span{display:inline-block;margin-right:18px}</style></head><body>",
    );
    let _ = write!(o, "<h1>zkinfer node</h1><p>{} worker(s), updated {} UTC</p>", state.workers, utc(now_ms));

    o.push_str("<h2>Models</h2><table id=\"models\"><tr><th>name</th><th>model id</th><th>k</th><th>inputs → outputs</th></tr>");
    for m in state.models.all() {
        let v = &m.prover.verifier;
        let _ = write!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{} → {}</td></tr>",
            esc(&m.name),
            esc(&m.id()),
            v.info.k,
            esc(&v.model.inputs_summary().replace('`', "")),
            esc(&v.model.outputs_summary().replace('`', ""))
        );
    }
    o.push_str("</table>");

    let counts = state.store.counts().unwrap_or_default();
    o.push_str("<h2>Jobs by state</h2><p class=\"counts\" id=\"counts\">");
    for s in JobState::ALL {
        let n = counts.iter().find(|(j, _)| *j == s).map_or(0, |c| c.1);
        let _ = write!(o, "<span data-state=\"{0}\">{0}: <b>{n}</b></span>", s.name());
    }
    o.push_str("</p>");

    let jobs: Vec<JobRecord> = state.store.list(1000, None).unwrap_or_default();
    chart(&mut o, &jobs, now_ms);
    proofs_table(&mut o, state, cache, &jobs, &model_name);
    jobs_table(&mut o, &jobs, &model_name);
    o.push_str("</body></html>\n");
    o
}

/// The newest proofs, each verified by the node (once: `cache`).
fn proofs_table(
    o: &mut String,
    state: &NodeState,
    cache: &VerifiedCache,
    jobs: &[JobRecord],
    model_name: &dyn Fn(&str) -> String,
) {
    o.push_str(
        "<h2>Recent proofs</h2><table id=\"proofs\"><tr><th>job</th><th>model</th><th>state</th>\
         <th>prediction</th><th>proving time</th><th>verified by the node</th></tr>",
    );
    let proved: Vec<&JobRecord> = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Proved | JobState::Submitted | JobState::Settled))
        .take(SHOWN_PROOFS)
        .collect();
    for j in proved {
        let Ok(Some(p)) = state.store.proof(&j.id) else { continue };
        let verdict = {
            let known = cache.0.lock().unwrap_or_else(|e| e.into_inner()).get(&j.id).cloned();
            known.unwrap_or_else(|| {
                let r = match (ProofFile::from_json(p.proof_json.as_bytes()), state.models.get(&j.model_id)) {
                    (Ok(f), Some(m)) => m.prover.verifier.verify_file(&f).map_err(|e| e.to_string()),
                    (Err(e), _) => Err(e),
                    (_, None) => Err("model no longer served".into()),
                };
                cache.0.lock().unwrap_or_else(|e| e.into_inner()).insert(j.id.clone(), r.clone());
                r
            })
        };
        let prediction =
            ProofFile::from_json(p.proof_json.as_bytes()).map(|f| f.prediction.to_string()).unwrap_or_default();
        let verdict = match verdict {
            Ok(()) => "<span class=\"ok\">valid</span>".to_string(),
            Err(e) => format!("<span class=\"failed\">invalid: {}</span>", esc(&e)),
        };
        let _ = write!(
            o,
            "<tr data-job=\"{id}\"><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{prediction}</td><td>{:.0} ms</td><td>{verdict}</td></tr>",
            esc(&model_name(&j.model_id)),
            j.state.name(),
            p.prove_ms + p.witness_ms,
            id = esc(&j.id),
        );
    }
    o.push_str("</table>");
}

/// The newest jobs and their states.
fn jobs_table(o: &mut String, jobs: &[JobRecord], model_name: &dyn Fn(&str) -> String) {
    o.push_str(
        "<h2>Jobs</h2><table id=\"jobs\"><tr><th>job</th><th>model</th><th>state</th><th>created (UTC)</th>\
         <th>updated (UTC)</th><th>chain</th><th>error</th></tr>",
    );
    for j in jobs.iter().take(SHOWN_JOBS as usize) {
        let chain = match &j.chain {
            Some(c) => {
                let tx = j.tx_hash.map(|t| format!("{t:#x}")).unwrap_or_default();
                format!("job {:#066x} {tx}", c.job_id)
            }
            None => String::new(),
        };
        let _ = write!(
            o,
            "<tr data-job=\"{id}\" data-state=\"{st}\"><td><code>{id}</code></td><td>{}</td><td class=\"{st}\">{st}</td>\
             <td>{}</td><td>{}</td><td><code>{chain}</code></td><td>{}</td></tr>",
            esc(&model_name(&j.model_id)),
            utc(j.created_ms),
            utc(j.updated_ms),
            esc(j.error.as_deref().unwrap_or("")),
            id = esc(&j.id),
            st = j.state.name(),
        );
    }
    o.push_str("</table>");
}

/// Proofs finished per minute over the last [`CHART_MINUTES`], as an SVG bar chart.
fn chart(o: &mut String, jobs: &[JobRecord], now_ms: i64) {
    let mut per_minute = [0u32; CHART_MINUTES];
    for j in jobs.iter().filter(|j| matches!(j.state, JobState::Proved | JobState::Submitted | JobState::Settled)) {
        let age = (now_ms - j.updated_ms).max(0) / 60_000;
        if (age as usize) < CHART_MINUTES {
            per_minute[CHART_MINUTES - 1 - age as usize] += 1;
        }
    }
    let top = per_minute.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, bar) = (600, 120, 600 / CHART_MINUTES as u32);
    let _ = write!(
        o,
        "<h2>Throughput</h2><svg id=\"throughput\" width=\"{w}\" height=\"{}\" role=\"img\" \
         aria-label=\"proofs per minute, last {CHART_MINUTES} minutes\"><rect width=\"{w}\" height=\"{h}\" fill=\"#fafafa\"/>",
        h + 20
    );
    for (i, &n) in per_minute.iter().enumerate() {
        let bh = n * (h - 10) / top;
        let _ = write!(
            o,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"#3b6fb6\" data-proofs=\"{n}\"><title>{n} proofs, {} min ago</title></rect>",
            i as u32 * bar + 1,
            h - bh,
            bar - 2,
            CHART_MINUTES - 1 - i
        );
    }
    let total: u32 = per_minute.iter().sum();
    let _ = write!(
        o,
        "<text x=\"0\" y=\"{}\" font-size=\"12\">proofs per minute, last {CHART_MINUTES} min ({total} in all, at most {top} in a minute); now at the right</text></svg>",
        h + 16
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escaping() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_764_633_600_000 + 3_723_000), "2025-12-02 01:02:03");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
    }
}
