//! The prover node over a real loopback socket: the `zkinfer node` binary in a
//! child process, driven by the generated tonic client and the CLI.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::Channel;
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_client::ProverServiceClient;

mod common;

use common::{fixture, setup_models, start_node, text, zkinfer};

type Client = ProverServiceClient<tonic::service::interceptor::InterceptedService<Channel, Token>>;

#[derive(Clone)]
struct Token(Option<&'static str>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = self.0 {
            r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Ok(r)
    }
}

async fn client(url: &str, token: Option<&'static str>) -> Client {
    let ch = Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    ProverServiceClient::with_interceptor(ch, Token(token))
}

fn mlp_input() -> Vec<f64> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("models/mlp_digits/input.json")).unwrap()).unwrap();
    v["input_data"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

async fn wait_final(c: &mut Client, id: &str) -> pb::Job {
    let mut s = c.watch_job(pb::WatchJobRequest { id: id.into() }).await.unwrap().into_inner();
    let mut last = None;
    while let Some(j) = s.message().await.unwrap() {
        last = Some(j);
    }
    last.expect("at least the current state")
}

/// The services listed by server reflection, sorted, without the reflection service itself.
async fn reflected_services(ch: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let ServerReflectionResponse { message_response: Some(MessageResponse::ListServicesResponse(list)), .. } =
        stream.message().await.unwrap().unwrap()
    else {
        panic!("no ListServicesResponse");
    };
    let mut names: Vec<String> =
        list.service.into_iter().map(|s| s.name).filter(|n| !n.starts_with("grpc.reflection")).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_watch_proof_auth_and_bad_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let cfg = tmp.path().join("node.toml");
    std::fs::write(&cfg, "tokens = [\"s3cret\"]\nworkers = 1\nmax_message_bytes = 1048576\n").unwrap();
    let node = start_node(&tmp.path().join("data"), &models, &["--config", cfg.to_str().unwrap()]);

    // Health and reflection (what grpcurl uses), without a token.
    let ch = Channel::from_shared(node.url.clone()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(ch.clone());
    let req = tonic_health::pb::HealthCheckRequest { service: "zkinfer.v1.ProverService".into() };
    let status = health.check(req).await.unwrap().into_inner().status;
    assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
    assert_eq!(reflected_services(ch).await, ["grpc.health.v1.Health", "zkinfer.v1.ProverService"]);

    // Auth.
    let mut anon = client(&node.url, None).await;
    let e = anon.list_models(pb::ListModelsRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    let mut wrong = client(&node.url, Some("nope")).await;
    assert_eq!(wrong.list_models(pb::ListModelsRequest {}).await.unwrap_err().code(), Code::Unauthenticated);

    let mut c = client(&node.url, Some("s3cret")).await;
    let models_list = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    assert_eq!(models_list.len(), 1);
    let m = &models_list[0];
    assert_eq!((m.name.as_str(), m.input_len, m.output_len, m.insecure_srs), ("mlp", 64, 10, true));
    let id = std::fs::read_to_string(models.join("mlp/model_id")).unwrap().trim().to_string();
    assert_eq!(m.id, id);

    // Bad requests: the right codes, with the reason.
    let input = mlp_input();
    let submit = |model_id: &str, input: Vec<f64>| pb::SubmitJobRequest {
        model_id: model_id.into(),
        input,
        ..Default::default()
    };
    let e = c.submit_job(submit(&id, input[..10].to_vec())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("10 values") && e.message().contains("64"), "{}", e.message());
    let mut nan = input.clone();
    nan[3] = f64::NAN;
    let e = c.submit_job(submit(&id, nan)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("input[3]"), "{}", e.message());
    let e = c.submit_job(submit(&format!("0x{}", "ab".repeat(32)), input.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e =
        c.submit_job(pb::SubmitJobRequest { binding: "0xzz".into(), ..submit(&id, input.clone()) }).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let e = c.submit_job(submit(&id, vec![0.5; 200_000])).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "oversized message: {e:?}");
    let e = c.get_job(pb::GetJobRequest { id: "0x00".into() }).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // A job, with an idempotency key: submitting it again returns the same job.
    let req = pb::SubmitJobRequest { idempotency_key: "order-1".into(), ..submit(&id, input.clone()) };
    let r1 = c.submit_job(req.clone()).await.unwrap().into_inner();
    let r2 = c.submit_job(req).await.unwrap().into_inner();
    let job = r1.job.unwrap();
    assert!(!r1.deduplicated && r2.deduplicated);
    assert_eq!(r2.job.unwrap().id, job.id);
    let done = wait_final(&mut c, &job.id).await;
    assert_eq!(done.state, pb::JobState::Proved as i32, "{done:?}");
    let proof = c.get_proof(pb::GetProofRequest { id: job.id.clone() }).await.unwrap().into_inner();
    assert_eq!(proof.output.len(), 10);
    assert!(proof.prove_ms > 0.0);
    let file = tmp.path().join("proof.json");
    std::fs::write(&file, &proof.proof_file_json).unwrap();
    let o = zkinfer(&["verify", models.join("mlp").to_str().unwrap(), file.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).starts_with("valid"), "{}", text(&o));
    let e = c.cancel_job(pb::CancelJobRequest { id: job.id.clone() }).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);

    // The CLI client: submit --wait -o, then jobs --json.
    let out = tmp.path().join("cli-proof.json");
    let o = zkinfer(&[
        "submit",
        "--node",
        &node.url,
        "--token",
        "s3cret",
        "--model",
        "mlp",
        "--input",
        &fixture("models/mlp_digits/input.json"),
        "--wait",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["verify", models.join("mlp").to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["jobs", "--node", &node.url, "--token", "s3cret", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let jobs: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j["state"] == "proved" && j["model"] == id.as_str() && j["id"].is_string()));
    let o = zkinfer(&["jobs", "--node", &node.url, "--json"]);
    assert_eq!(o.status.code(), Some(1), "no token: {}", text(&o));
    assert!(text(&o).contains("Unauthenticated"), "{}", text(&o));

    let stats = c.get_stats(pb::GetStatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.jobs_by_state["proved"], 2);
    assert!(stats.prove_ms_p50 > 0.0 && stats.workers == 1);
}

/// A submission of the mlp input with idempotency key `k{i}`.
fn keyed(model_id: &str, i: usize) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        model_id: model_id.into(),
        input: mlp_input(),
        idempotency_key: format!("k{i}"),
        ..Default::default()
    }
}

/// kill -9 while jobs are proving; the restarted node finishes every job exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let data = tmp.path().join("data");
    let node = start_node(&data, &models, &["--workers", "1"]);
    let mut c = client(&node.url, None).await;
    let id = std::fs::read_to_string(models.join("mlp/model_id")).unwrap().trim().to_string();
    let mut ids = Vec::new();
    for i in 0..6 {
        let r = c.submit_job(keyed(&id, i)).await.unwrap().into_inner();
        ids.push(r.job.unwrap().id);
    }
    // Wait until one is proving, then kill -9.
    let t = Instant::now();
    loop {
        let j = c.get_job(pb::GetJobRequest { id: ids[0].clone() }).await.unwrap().into_inner();
        if j.state == pb::JobState::Proving as i32 || t.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut node = node;
    let pid = node.child.id();
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success());
    let _ = node.child.wait();
    drop(node);

    let node = start_node(&data, &models, &["--workers", "2"]);
    let mut c = client(&node.url, None).await;
    for (i, jid) in ids.iter().enumerate() {
        let j = wait_final(&mut c, jid).await;
        assert_eq!(j.state, pb::JobState::Proved as i32, "job {i}: {j:?}");
        // Resubmitting with the same key after the crash returns the same job.
        let r = c.submit_job(keyed(&id, i)).await.unwrap().into_inner();
        assert!(r.deduplicated && r.job.unwrap().id == *jid);
    }
    let all = c.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs;
    assert_eq!(all.len(), 6, "jobs lost or duplicated");
}

/// The node's TLS test certificate and key, and the CA that signed it (fixtures/tls).
fn tls_args() -> Vec<String> {
    vec!["--tls-cert".into(), fixture("tls/node.pem"), "--tls-key".into(), fixture("tls/node.key")]
}

/// The node serving TLS: `zkinfer submit` over https with the CA proves a job;
/// plaintext and an unknown CA are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let mut args = tls_args();
    args.extend(["--workers".into(), "1".into(), "--token".into(), "t".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = start_node(&tmp.path().join("data"), &models, &args);
    let port = node.url.rsplit(':').next().unwrap().to_string();
    let https = format!("https://localhost:{port}");
    let input = fixture("models/mlp_digits/input.json");
    let out = tmp.path().join("tls-proof.json");
    let ca = fixture("tls/ca.pem");
    let submit = |url: &str, ca: Option<&str>| {
        let mut a = vec!["submit", "--node", url, "--token", "t", "--model", "mlp", "--input", &input, "--wait"];
        a.extend(["-o", out.to_str().unwrap()]);
        if let Some(ca) = ca {
            a.extend(["--ca-cert", ca]);
        }
        zkinfer(&a)
    };
    let o = submit(&https, Some(&ca));
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["verify", models.join("mlp").to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = zkinfer(&["jobs", "--node", &https, "--token", "t", "--ca-cert", &ca, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    // Plaintext to a TLS node, and TLS without trusting its CA, both fail.
    let o = submit(&node.url, None);
    assert!(!o.status.success(), "plaintext was accepted: {}", text(&o));
    let o = submit(&https, None);
    assert!(!o.status.success(), "an unknown CA was trusted: {}", text(&o));
    let o = zkinfer(&["jobs", "--node", &node.url, "--ca-cert", &ca]);
    assert!(text(&o).contains("--ca-cert needs an https:// node URL"), "{}", text(&o));
    // A key without its certificate is refused at start.
    let o = zkinfer(&["node", "--tls-key", &fixture("tls/node.key")]);
    assert!(!o.status.success() && text(&o).contains("--tls-cert"), "{}", text(&o));
}

/// The Python client (grpcio, stubs generated from the .proto) submits a job
/// over TLS and checks the proof's outputs; the proof file it writes verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client() {
    let Some(python) = common::optional_tool("ZKINFER_PYTHON", "ZKINFER_REQUIRE_PYTHON", "this test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let mut args = tls_args();
    args.extend(["--workers".into(), "1".into(), "--token".into(), "py-token".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = start_node(&tmp.path().join("data"), &models, &args);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python/zkinfer_client.py");
    let out = tmp.path().join("py-proof.json");
    let host = format!("localhost:{}", node.url.rsplit(':').next().unwrap());
    let run = |token: &str| {
        Command::new(&python)
            .arg(&script)
            .args([
                "--node",
                &host,
                "--token",
                token,
                "--model",
                "mlp",
                "--input",
                &fixture("models/mlp_digits/input.json"),
                "--ca-cert",
                &fixture("tls/ca.pem"),
            ])
            .args(["-o", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = run("py-token");
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["state"], "JOB_STATE_PROVED");
    assert_eq!(summary["output"].as_array().unwrap().len(), 10);
    let o = zkinfer(&["verify", models.join("mlp").to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run("wrong");
    assert!(!o.status.success() && text(&o).contains("UNAUTHENTICATED"), "{}", text(&o));
}

/// 200 submissions from 8 concurrent clients, each sent twice with the same
/// idempotency key: 200 jobs, each proved once; prints throughput and latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_submissions() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let node = start_node(&tmp.path().join("data"), &models, &["--workers", "2"]);
    let id = std::fs::read_to_string(models.join("mlp/model_id")).unwrap().trim().to_string();
    let input = mlp_input();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for client_no in 0..8 {
        let (url, id, input) = (node.url.clone(), id.clone(), input.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = client(&url, None).await;
            let mut mine = Vec::new();
            for i in 0..25 {
                let req = pb::SubmitJobRequest {
                    model_id: id.clone(),
                    input: input.clone(),
                    idempotency_key: format!("c{client_no}-{i}"),
                    ..Default::default()
                };
                let first = c.submit_job(req.clone()).await.unwrap().into_inner();
                let again = c.submit_job(req).await.unwrap().into_inner();
                assert!(!first.deduplicated && again.deduplicated);
                let job = first.job.unwrap();
                assert_eq!(again.job.unwrap().id, job.id);
                mine.push((job.id, Instant::now()));
            }
            let mut latencies = Vec::new();
            for (jid, submitted) in mine {
                let j = wait_final(&mut c, &jid).await;
                assert_eq!(j.state, pb::JobState::Proved as i32, "{j:?}");
                latencies.push(submitted.elapsed().as_secs_f64());
            }
            latencies
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let wall = t0.elapsed().as_secs_f64();
    let mut c = client(&node.url, None).await;
    let all = c.list_jobs(pb::ListJobsRequest { limit: 1000, state: 0 }).await.unwrap().into_inner().jobs;
    assert_eq!(all.len(), 200, "jobs lost or duplicated");
    let ids: std::collections::HashSet<_> = all.iter().map(|j| j.id.clone()).collect();
    assert_eq!(ids.len(), 200);
    assert!(all.iter().all(|j| j.state == pb::JobState::Proved as i32));
    lat.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    let stats = c.get_stats(pb::GetStatsRequest {}).await.unwrap().into_inner();
    eprintln!(
        "load: 200 jobs (400 submissions, 8 clients, 2 workers) in {wall:.1} s = {:.2} proofs/s; \
         submit→proved latency p50 {:.1} s, p90 {:.1} s, p99 {:.1} s; prove p50 {:.0} ms, p99 {:.0} ms",
        200.0 / wall,
        p(0.5),
        p(0.9),
        p(0.99),
        stats.prove_ms_p50,
        stats.prove_ms_p99
    );
}

/// A full queue answers RESOURCE_EXHAUSTED; the node keeps serving and proves what it accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_resource_exhausted() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let node = start_node(&tmp.path().join("data"), &models, &["--workers", "1", "--queue-capacity", "1"]);
    let mut c = client(&node.url, None).await;
    let id = std::fs::read_to_string(models.join("mlp/model_id")).unwrap().trim().to_string();
    let req = pb::SubmitJobRequest { model_id: id, input: mlp_input(), ..Default::default() };
    // One job proving, one queued: within milliseconds the third finds the queue full.
    let mut accepted = Vec::new();
    let mut exhausted = 0;
    for _ in 0..3 {
        match c.submit_job(req.clone()).await {
            Ok(r) => accepted.push(r.into_inner().job.unwrap().id),
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                assert!(e.message().contains("queue is full"), "{}", e.message());
                exhausted += 1;
            }
        }
    }
    assert!(exhausted >= 1, "capacity 1 accepted 3 jobs");
    for jid in &accepted {
        assert_eq!(wait_final(&mut c, jid).await.state, pb::JobState::Proved as i32);
    }
    // Once drained, it accepts again.
    let r = c.submit_job(req).await.unwrap().into_inner();
    assert_eq!(wait_final(&mut c, &r.job.unwrap().id).await.state, pb::JobState::Proved as i32);
}

/// A model with two inputs and two outputs on the node: ListModels lists both, the CLI and
/// the Python client split an EZKL-form file by them, the proofs verify, and a job whose
/// input misses the second input's values is refused with the inputs named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_input_model_from_both_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let dir = models.join("two_input_digits");
    let d = dir.to_str().unwrap();
    let fx = |f: &str| fixture(&format!("models/two_input_digits/{f}"));
    let o = zkinfer(&["compile", &fx("model.onnx"), "--calibration", &fx("calibration.json"), "-o", d]);
    assert!(o.status.success(), "{}", text(&o));
    let srs = tmp.path().join("dev.srs");
    assert!(zkinfer(&["srs", "dev", "--k", "10", "-o", srs.to_str().unwrap()]).status.success());
    assert!(zkinfer(&["setup", d, "--srs", srs.to_str().unwrap()]).status.success());
    let node = start_node(&tmp.path().join("data"), &models, &["--workers", "1"]);

    let mut c = client(&node.url, None).await;
    let listed = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    let m = listed.iter().find(|m| m.name == "two_input_digits").expect("served");
    let specs: Vec<(&str, &[u32])> = m.inputs.iter().map(|t| (t.name.as_str(), t.shape.as_slice())).collect();
    assert_eq!(specs, [("top", &[1u32, 32][..]), ("bottom", &[1, 32][..])]);
    let outs: Vec<&str> = m.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!((outs, m.input_len, m.output_len), (vec!["logits", "embedding"], 64, 42));
    let e = c
        .submit_job(pb::SubmitJobRequest { model_id: m.id.clone(), input: vec![0.5; 32], ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("takes 64") && e.message().contains("`top` [1, 32], `bottom` [1, 32]"), "{e:?}");

    let test: serde_json::Value = serde_json::from_slice(&std::fs::read(fx("test.json")).unwrap()).unwrap();
    let out = tmp.path().join("cli-proof.json");
    let o = zkinfer(&[
        "submit",
        "--node",
        &node.url,
        "--model",
        "two_input_digits",
        "--input",
        &fx("test.json"),
        "--row",
        "11",
        "--wait",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(p["prediction"], test["labels"][11]);
    assert!(zkinfer(&["verify", d, out.to_str().unwrap()]).status.success());

    let Some(python) = common::optional_tool("ZKINFER_PYTHON", "ZKINFER_REQUIRE_PYTHON", "the Python half") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python/zkinfer_client.py");
    let py_out = tmp.path().join("py-proof.json");
    let o = Command::new(&python)
        .arg(&script)
        .args(["--node", node.url.trim_start_matches("http://"), "--model", "two_input_digits"])
        .args(["--input", &fx("test.json"), "--row", "11", "-o", py_out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (summary["prediction"].clone(), summary["output"].as_array().unwrap().len()),
        (test["labels"][11].clone(), 42)
    );
    let py: serde_json::Value = serde_json::from_slice(&std::fs::read(&py_out).unwrap()).unwrap();
    assert_eq!(py["input"], p["input"], "both clients sent the same flat input");
    assert!(zkinfer(&["verify", d, py_out.to_str().unwrap()]).status.success());

    // Server reflection in both versions, from Python: v1alpha with the official client
    // (grpcio-reflection speaks only v1alpha), v1 on its own method.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python/reflection_check.py");
    let o = Command::new(&python).arg(&script).arg(node.url.trim_start_matches("http://")).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for version in ["v1alpha", "v1"] {
        let names: Vec<&str> = r[version].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for want in ["zkinfer.v1.ProverService", "grpc.health.v1.Health"] {
            assert!(names.contains(&want), "{version}: {names:?}");
        }
    }
    let methods: Vec<&str> = r["prover_methods"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for want in ["SubmitJob", "WatchJob", "GetProof", "ListModels", "RegisterModel"] {
        assert!(methods.contains(&want), "{methods:?}");
    }
}

/// Submits `n` jobs of the (only) served model on the mlp fixture's input; their ids.
async fn submit_mlp_jobs(c: &mut Client, n: usize, key: &str) -> Vec<String> {
    let model = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models[0].id.clone();
    let mut ids = vec![];
    for i in 0..n {
        let r = pb::SubmitJobRequest {
            model_id: model.clone(),
            input: mlp_input(),
            idempotency_key: format!("{key}{i}"),
            ..Default::default()
        };
        ids.push(c.submit_job(r).await.unwrap().into_inner().job.unwrap().id);
    }
    ids
}

/// A loopback address with a port that was free a moment ago.
fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("127.0.0.1:{port}")
}

/// `GET /metrics` over a plain socket (retrying while the node starts); the body.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let t = Instant::now();
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
            let mut r = String::new();
            s.read_to_string(&mut r).unwrap();
            assert!(r.starts_with("HTTP/1.1 200"), "{r}");
            assert!(r.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{r}");
            return r.split_once("\r\n\r\n").unwrap().1.to_string();
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no metrics endpoint at {addr}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of one sample line (`name{labels}` exactly) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).map(|v| v.parse().unwrap()))
}

/// Prometheus metrics move with a burst of jobs; `--log-json` writes one JSON object per line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_under_load_and_logs_are_json() {
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let addr = free_addr();
    let log = tmp.path().join("node.log");
    let node = common::start_node_with_env(
        &tmp.path().join("data"),
        &models,
        &["--workers", "1", "--metrics-listen", &addr, "--log-json"],
        &[("RUST_LOG", "info")],
        std::fs::File::create(&log).unwrap().into(),
    );
    let before = scrape(&addr);
    assert_eq!(sample(&before, "zkinfer_jobs{state=\"proved\"}"), Some(0.0), "{before}");
    assert_eq!(sample(&before, "zkinfer_models"), Some(1.0));
    assert_eq!(sample(&before, "zkinfer_proofs_total{model=\"mlp\"}"), None);

    let mut c = client(&node.url, None).await;
    let ids = submit_mlp_jobs(&mut c, 6, "m").await;
    // During the burst: jobs are counted in some state, queued or proving or proved.
    let during = scrape(&addr);
    let total: f64 = ["queued", "proving", "proved"]
        .iter()
        .map(|s| sample(&during, &format!("zkinfer_jobs{{state=\"{s}\"}}")).unwrap())
        .sum();
    assert_eq!(total, 6.0, "{during}");
    for id in &ids {
        assert_eq!(wait_final(&mut c, id).await.state, pb::JobState::Proved as i32);
    }
    let after = scrape(&addr);
    assert_eq!(sample(&after, "zkinfer_jobs{state=\"proved\"}"), Some(6.0), "{after}");
    assert_eq!(sample(&after, "zkinfer_queue_depth"), Some(0.0));
    assert_eq!(sample(&after, "zkinfer_proofs_total{model=\"mlp\"}"), Some(6.0));
    assert_eq!(sample(&after, "zkinfer_proving_seconds_count{model=\"mlp\"}"), Some(6.0));
    assert_eq!(sample(&after, "zkinfer_proving_seconds_bucket{model=\"mlp\",le=\"+Inf\"}"), Some(6.0));
    assert!(sample(&after, "zkinfer_proving_seconds_sum{model=\"mlp\"}").unwrap() > 0.0);
    assert!(sample(&after, "zkinfer_proofs_per_second").unwrap() > 0.0);
    assert_eq!(sample(&after, "zkinfer_job_failures_total{kind=\"input\"}"), Some(0.0));
    drop(node);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().any(|l| l.contains("job proved")), "{text}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
}

/// Runs headless Chromium (`$ZKINFER_CHROMIUM`) with `args` on `url`; its stdout.
fn chromium(browser: &std::ffi::OsStr, profile: &Path, args: &[&str], url: &str) -> String {
    let o = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(o.status.success(), "chromium failed: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The status page, rendered by a real headless Chromium: the jobs of this run with their
/// states, each proof verified by the node, the throughput chart; a screenshot is kept in
/// target/status-page.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_headless_chromium() {
    let Some(browser) = common::optional_tool("ZKINFER_CHROMIUM", "ZKINFER_REQUIRE_CHROMIUM", "this test") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let models = setup_models(tmp.path());
    let addr = free_addr();
    let node = start_node(&tmp.path().join("data"), &models, &["--workers", "1", "--metrics-listen", &addr]);
    let mut c = client(&node.url, None).await;
    let ids = submit_mlp_jobs(&mut c, 4, "s").await;
    for id in &ids {
        assert_eq!(wait_final(&mut c, id).await.state, pb::JobState::Proved as i32);
    }
    // (The endpoint is up once it answers.)
    scrape(&addr);
    let url = format!("http://{addr}/");
    let dom = chromium(&browser, &tmp.path().join("profile"), &["--dump-dom"], &url);
    assert!(dom.contains("<h1>zkinfer node</h1>"), "{dom}");
    for id in &ids {
        assert!(dom.contains(&format!("<tr data-job=\"{id}\" data-state=\"proved\">")), "job {id} missing:\n{dom}");
    }
    let proofs = dom.split("<table id=\"proofs\">").nth(1).unwrap().split("</table>").next().unwrap();
    assert_eq!(proofs.matches("<span class=\"ok\">valid</span>").count(), 4, "{proofs}");
    assert!(dom.contains("<span data-state=\"proved\">proved: <b>4</b></span>"), "{dom}");
    let chart = dom.split("<svg id=\"throughput\"").nth(1).unwrap().split("</svg>").next().unwrap();
    let bars: u32 =
        chart.split("data-proofs=\"").skip(1).map(|s| s.split('"').next().unwrap().parse::<u32>().unwrap()).sum();
    assert_eq!(bars, 4, "{chart}");
    assert!(dom.contains(">mlp<"), "model name missing: {dom}");

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/status-page.png");
    chromium(
        &browser,
        &tmp.path().join("profile"),
        &[&format!("--screenshot={}", shot.display()), "--window-size=1200,900", "--hide-scrollbars"],
        &url,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
}
