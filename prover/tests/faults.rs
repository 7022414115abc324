//! Fault injection against the `zkinfer node` binary over loopback: crafted
//! model bundles, a full disk (a small tmpfs in a private mount namespace),
//! out-of-range and malformed requests, an idle-connection flood at a low
//! file-descriptor limit, SIGTERM with open streams, a corrupted store and a
//! store that lost acknowledged jobs. Each test prints its figures
//! (`fault: ...` lines, shown with `--nocapture`).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha3::{Digest, Keccak256};
use tonic::Code;
use tonic::transport::Channel;
use zkinfer_proto::v1 as pb;
use zkinfer_proto::v1::prover_service_client::ProverServiceClient;

mod common;

use common::{fixture, setup_models};

type Client = ProverServiceClient<tonic::service::interceptor::InterceptedService<Channel, Token>>;

#[derive(Clone)]
struct Token(Option<String>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Ok(r)
    }
}

async fn client(url: &str, token: Option<&str>) -> Client {
    let ch = Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    ProverServiceClient::with_interceptor(ch, Token(token.map(str::to_string)))
}

/// The set-up mlp, shared by the tests of this file.
struct Fx {
    _dir: tempfile::TempDir,
    models: PathBuf,
    id: String,
    input: Vec<f64>,
}

fn fx() -> &'static Fx {
    static FX: OnceLock<Fx> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let models = setup_models(dir.path());
        let id = std::fs::read_to_string(models.join("mlp/model_id")).unwrap().trim().to_string();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("models/mlp_digits/input.json")).unwrap()).unwrap();
        let input = v["input_data"][0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        Fx { _dir: dir, models, id, input }
    })
}

/// A `zkinfer node` child (possibly under a wrapper), killed when dropped.
struct Node {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        assert!(Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap().success());
    }
}

/// Starts the node with `args` after `--data-dir DATA --models MODELS`; a
/// `wrapper` shell command runs first in the same shell (e.g. `ulimit -n 256;`),
/// `unshare` puts it in a private mount namespace.
fn spawn(data: &Path, models: &Path, args: &[&str], wrapper: &str, unshare: bool, log: &Path) -> Node {
    let bin = env!("CARGO_BIN_EXE_zkinfer");
    let mut cmd = if unshare { Command::new("unshare") } else { Command::new("sh") };
    if unshare {
        cmd.args(["-rm", "sh"]);
    }
    cmd.arg("-c")
        .arg(format!("{wrapper} exec \"$0\" \"$@\""))
        .arg(bin)
        .args(["node", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()])
        .args(["--models", models.to_str().unwrap()])
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    let mut child = cmd.spawn().expect("start the node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.wait();
        panic!("node said `{line}`; log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
    };
    Node { url: format!("http://{addr}"), child, log: log.to_path_buf() }
}

fn start(data: &Path, models: &Path, args: &[&str], log: &Path) -> Node {
    spawn(data, models, args, "", false, log)
}

async fn health(url: &str) -> i32 {
    let ch = Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap();
    let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
    let req = tonic_health::pb::HealthCheckRequest { service: "zkinfer.v1.ProverService".into() };
    h.check(req).await.unwrap().into_inner().status
}

const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
const NOT_SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

/// Polls `f` every 50 ms until it is true; panics with `what` after `limit`.
async fn wait_until<F: std::future::Future<Output = bool>>(limit: Duration, what: &str, mut f: impl FnMut() -> F) {
    let t = Instant::now();
    while !f().await {
        assert!(t.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_final(c: &mut Client, id: &str) -> pb::Job {
    let mut s = c.watch_job(pb::WatchJobRequest { id: id.into() }).await.unwrap().into_inner();
    let mut last = None;
    while let Some(j) = s.message().await.unwrap() {
        last = Some(j);
    }
    last.expect("at least the current state")
}

fn submit(input: Vec<f64>) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest { model_id: fx().id.clone(), input, ..Default::default() }
}

/// The files of a set-up model directory as a RegisterModel bundle.
fn bundle(dir: &Path, name: &str) -> pb::ModelBundle {
    let f = |n: &str| std::fs::read(dir.join(n)).unwrap();
    pb::ModelBundle {
        name: name.into(),
        qmodel: f("model.qm"),
        setup_json: f("setup.json"),
        vk: f("vk"),
        pk: f("pk"),
        srs: f("srs"),
    }
}

/// `pk` (a zkinfer pk file) with `patch` applied to its body and the checksum recomputed.
fn patch_pk(pk: &[u8], patch: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = pk[44..].to_vec();
    patch(&mut body);
    let mut out = pk[..12].to_vec();
    out.extend_from_slice(&Keccak256::digest(&body));
    out.extend_from_slice(&body);
    out
}

/// The offsets (in the pk body) of the fixed-value polynomial count and of l0's length.
fn pk_offsets(b: &pb::ModelBundle) -> (usize, usize) {
    let info: serde_json::Value = serde_json::from_slice(&b.setup_json).unwrap();
    let n = 1usize << info["k"].as_u64().unwrap();
    (b.vk.len() + 3 * (4 + n * 32), b.vk.len())
}

fn uploads_left(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join("models"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".upload-"))
        .collect()
}

fn write_bundle(dir: &Path, b: &pb::ModelBundle) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, bytes) in
        [("model.qm", &b.qmodel), ("setup.json", &b.setup_json), ("vk", &b.vk), ("pk", &b.pk), ("srs", &b.srs)]
    {
        std::fs::write(dir.join(n), bytes).unwrap();
    }
}

/// RegisterModel with crafted bundles: INVALID_ARGUMENT naming the file, the
/// node keeps serving and leaves nothing behind; a half-registered upload
/// and a crafted model directory on disk do not stop the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_bundles_are_invalid_argument_and_restart_is_clean() {
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let (data, none) = (tmp.path().join("data"), tmp.path().join("none"));
    std::fs::create_dir_all(&none).unwrap();
    let log = tmp.path().join("node.log");
    let args = ["--token", "usr", "--admin-token", "adm", "--workers", "1"];
    let node = start(&data, &none, &args, &log);
    let mut admin = client(&node.url, Some("adm")).await;
    let mut user = client(&node.url, Some("usr")).await;
    let good = bundle(&fx.models.join("mlp"), "mlp");

    let e = user
        .register_model(pb::RegisterModelRequest {
            source: Some(pb::register_model_request::Source::Bundle(good.clone())),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    let (fixed_count, l0) = pk_offsets(&good);
    let max = u32::MAX.to_be_bytes();
    let with = |f: &dyn Fn(&mut pb::ModelBundle)| {
        let mut b = good.clone();
        b.name = "evil".into();
        f(&mut b);
        b
    };
    let cases: Vec<(&str, pb::ModelBundle, &str)> = vec![
        (
            "pk fixed-values count 0xFFFFFFFF",
            with(&|b| b.pk = patch_pk(&b.pk, |p| p[fixed_count..fixed_count + 4].copy_from_slice(&max))),
            "pk: not a proving key of this circuit",
        ),
        (
            "pk first polynomial length 0xFFFFFFFF",
            with(&|b| b.pk = patch_pk(&b.pk, |p| p[l0..l0 + 4].copy_from_slice(&max))),
            "l0 has length 4294967295",
        ),
        (
            "setup.json shape.width = 100000",
            with(&|b| {
                let mut v: serde_json::Value = serde_json::from_slice(&b.setup_json).unwrap();
                v["shape"]["width"] = 100_000.into();
                b.setup_json = serde_json::to_vec(&v).unwrap();
            }),
            "setup.json: shape.width = 100000",
        ),
        (
            "vk k = 0xFFFFFFFF (model id recomputed)",
            with(&|b| {
                b.vk[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
                let mut v: serde_json::Value = serde_json::from_slice(&b.setup_json).unwrap();
                v["model_id"] = format!("0x{}", hex::encode(Keccak256::digest(&b.vk))).into();
                b.setup_json = serde_json::to_vec(&v).unwrap();
            }),
            "vk: not a verifying key of this circuit: the key is for k = 4294967295",
        ),
        ("truncated pk", with(&|b| b.pk.truncate(b.pk.len() / 2)), "pk: checksum mismatch"),
        ("garbage model.qm", with(&|b| b.qmodel = b"{\"format\": 7}".to_vec()), "model.qm"),
    ];
    for (what, b, want) in cases {
        let t = Instant::now();
        let r = admin
            .register_model(pb::RegisterModelRequest { source: Some(pb::register_model_request::Source::Bundle(b)) })
            .await;
        let e = r.expect_err(what);
        assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        assert!(e.message().contains(want), "{what}: `{}` does not say `{want}`", e.message());
        assert!(!e.message().contains(data.to_str().unwrap()), "{what}: the node's path leaked: {}", e.message());
        assert_eq!(health(&node.url).await, SERVING, "{what}");
        assert!(uploads_left(&data).is_empty(), "{what}: upload left behind");
        println!(
            "fault: crafted bundle `{what}`: INVALID_ARGUMENT in {:.0} ms: {}",
            t.elapsed().as_secs_f64() * 1e3,
            e.message()
        );
    }
    // The node still works: the genuine bundle registers and proves.
    let m = admin
        .register_model(pb::RegisterModelRequest {
            source: Some(pb::register_model_request::Source::Bundle(good.clone())),
        })
        .await
        .unwrap()
        .into_inner()
        .model
        .unwrap();
    assert_eq!(m.id, fx.id);
    let j = user.submit_job(submit(fx.input.clone())).await.unwrap().into_inner().job.unwrap();
    assert_eq!(wait_final(&mut user, &j.id).await.state, pb::JobState::Proved as i32);
    let e = admin
        .register_model(pb::RegisterModelRequest {
            source: Some(pb::register_model_request::Source::Bundle(good.clone())),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);

    // A crash while an upload was half written, and a crafted model that a
    // node without these checks had accepted: the next start serves the rest.
    node.signal("-9");
    drop(node);
    let crafted = with(&|b| b.pk = patch_pk(&b.pk, |p| p[fixed_count..fixed_count + 4].copy_from_slice(&max)));
    write_bundle(&data.join("models/.upload-0xdeadbeef"), &crafted);
    write_bundle(&data.join("models/evil"), &crafted);
    let t = Instant::now();
    let node = start(&data, &none, &args, &log);
    assert_eq!(health(&node.url).await, SERVING);
    let restart_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(uploads_left(&data).is_empty(), "the half-written upload was not removed");
    let mut user = client(&node.url, Some("usr")).await;
    let listed = user.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    assert_eq!(listed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["mlp"]);
    let logged = node.log();
    assert!(logged.contains("unfinished model uploads removed") && logged.contains("model not served"), "{logged}");
    assert!(logged.contains("evil") && logged.contains("fixed value polynomials"), "{logged}");
    println!(
        "fault: restart with a half-registered crafted upload and a crafted model dir: serving in {restart_ms:.0} ms"
    );
}

/// Out-of-range and malformed requests: INVALID_ARGUMENT (also from the
/// Python client), reserved keys, a reused idempotency key, bare tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_and_malformed_requests() {
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("node.log");
    let node = start(&tmp.path().join("data"), &fx.models, &["--token", "t", "--workers", "1"], &log);
    let mut c = client(&node.url, Some("t")).await;
    let mut huge = fx.input.clone();
    huge[5] = 1e308;
    let e = c.submit_job(submit(huge)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("input[5] = 1e308") && e.message().contains("outside the model's input range"),
        "{}",
        e.message()
    );
    let e = c.submit_job(submit(vec![4.0; fx.input.len()])).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("input[0] = 4 is outside") && e.message().contains("64 values out of range"),
        "{}",
        e.message()
    );
    println!("fault: out-of-range input: {}", e.message());

    let keyed = |key: &str, input: Vec<f64>| pb::SubmitJobRequest { idempotency_key: key.into(), ..submit(input) };
    let e = c.submit_job(keyed("chain:0x01", fx.input.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let first = c.submit_job(keyed("k1", fx.input.clone())).await.unwrap().into_inner();
    let again = c.submit_job(keyed("k1", fx.input.clone())).await.unwrap().into_inner();
    assert!(!first.deduplicated && again.deduplicated);
    let mut other = fx.input.clone();
    other[0] = if fx.input[0] != 0.0 { 0.0 } else { 1.0 };
    let e = c.submit_job(keyed("k1", other)).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().contains(&first.job.unwrap().id), "{}", e.message());

    let e = c
        .register_model(pb::RegisterModelRequest {
            source: Some(pb::register_model_request::Source::LocalName("mlp".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "no admin token configured: {e:?}");

    // A bare `Bearer ` never authenticates; an empty token is refused at start.
    let ch = Channel::from_shared(node.url.clone()).unwrap().connect().await.unwrap();
    let mut bare = ProverServiceClient::with_interceptor(ch, |mut r: tonic::Request<()>| {
        r.metadata_mut().insert("authorization", "Bearer ".parse().unwrap());
        Ok(r)
    });
    assert_eq!(bare.list_models(pb::ListModelsRequest {}).await.unwrap_err().code(), Code::Unauthenticated);
    let o = common::zkinfer(&["node", "--token", "", "--data-dir", tmp.path().join("d2").to_str().unwrap()]);
    assert!(!o.status.success() && common::text(&o).contains("empty token"), "{}", common::text(&o));

    // The Python client: an out-of-range input, and bytes that are no protobuf message.
    let Some(python) = common::optional_tool("ZKINFER_PYTHON", "ZKINFER_REQUIRE_PYTHON", "the Python part") else {
        return;
    };
    let script = r#"
import sys, grpc
from zkinfer_client import Client, pb
c = Client(sys.argv[1], token="t")
try:
    c.submit(sys.argv[2], [1e308] + [0.0] * 63)
    print("accepted")
except grpc.RpcError as e:
    print(e.code().name, e.details())
raw = c.channel.unary_unary("/zkinfer.v1.ProverService/SubmitJob", request_serializer=None, response_deserializer=None)
try:
    raw(b"\xff\xff\xff\xff", metadata=c.metadata)
    print("accepted")
except grpc.RpcError as e:
    print(e.code().name, e.details())
"#;
    let host = node.url.trim_start_matches("http://").to_string();
    let o = Command::new(python)
        .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python"))
        .args(["-c", script, &host, &fx.id])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("INVALID_ARGUMENT input[0] = 1e308 is outside"), "{out}");
    assert!(lines[1].starts_with("INVALID_ARGUMENT failed to decode Protobuf message"), "{out}");
    println!("fault: Python client: {}; {}", lines[0], lines[1]);
}

/// Idle TCP connections beyond the descriptor limit: clients are still served,
/// the idle ones are closed after the handshake timeout, it is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_flood_at_a_low_fd_limit() {
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("node.log");
    raise_own_fd_limit();
    let cfg = tmp.path().join("node.toml");
    std::fs::write(&cfg, "handshake_timeout_ms = 2000\nidle_timeout_ms = 5000\n").unwrap();
    let args = ["--token", "t", "--workers", "1", "--config", cfg.to_str().unwrap()];
    let node = spawn(&tmp.path().join("data"), &fx.models, &args, "ulimit -n 256 &&", false, &log);
    let addr = node.url.trim_start_matches("http://").to_string();
    let flood = 1100;
    let t = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..flood {
        match std::net::TcpStream::connect(&addr) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect {}: {e}", idle.len()),
        }
    }
    let connect_s = t.elapsed().as_secs_f64();
    let cpu = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
    };
    // A new client during the flood.
    let t = Instant::now();
    let mut c = client(&node.url, Some("t")).await;
    let models = c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models;
    let served_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(models.len(), 1);
    let j = c.submit_job(submit(fx.input.clone())).await.unwrap().into_inner().job.unwrap();
    assert_eq!(wait_final(&mut c, &j.id).await.state, pb::JobState::Proved as i32);
    // The idle connections are closed by the node after the handshake timeout.
    let cpu0 = cpu(node.pid());
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let mut closed = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        // The node's SETTINGS frame first, then the end of the stream.
        let mut b = [0u8; 256];
        loop {
            match s.read(&mut b) {
                Ok(0) => closed += 1,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
                Err(_) => {}
            }
            break;
        }
    }
    let busy = (cpu(node.pid()) - cpu0) / 3.0;
    assert_eq!(closed, flood, "idle connections still open after the handshake timeout");
    // The client that made requests is still connected and served.
    assert_eq!(c.list_models(pb::ListModelsRequest {}).await.unwrap().into_inner().models.len(), 1);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let logged = node.log();
    assert!(logged.contains("max_connections=192") && logged.contains("evicted_idle="), "{logged}");
    println!(
        "fault: {flood} idle connections at ulimit -n 256 (max_connections 192) opened in {connect_s:.2} s; a new \
         client served in {served_ms:.0} ms; all {closed} idle ones closed within 3 s; node CPU meanwhile {busy:.2} cores"
    );
}

/// SIGTERM with 100 open WatchJob streams and queued jobs: the streams end
/// with UNAVAILABLE, no queued job is started, the node exits within the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_streams_exits_within_the_bound() {
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = tmp.path().join("node.log");
    let bound_ms = 5000u64;
    let node = start(&data, &fx.models, &["--workers", "1", "--shutdown-timeout-ms", &bound_ms.to_string()], &log);
    let mut c = client(&node.url, None).await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(c.submit_job(submit(fx.input.clone())).await.unwrap().into_inner().job.unwrap().id);
    }
    let mut streams = Vec::new();
    for i in 0..100 {
        let mut s = c.watch_job(pb::WatchJobRequest { id: ids[10 + i % 20].clone() }).await.unwrap().into_inner();
        s.message().await.unwrap().unwrap();
        streams.push(tokio::spawn(async move {
            loop {
                match s.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return Code::Ok,
                    Err(e) => return e.code(),
                }
            }
        }));
    }
    wait_until(Duration::from_secs(60), "a job proving", || {
        let mut c = c.clone();
        let id = ids[0].clone();
        async move { c.get_job(pb::GetJobRequest { id }).await.unwrap().into_inner().state >= pb::JobState::Proving as i32 }
    })
    .await;
    let before = c.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs;
    let queued: Vec<String> =
        before.iter().filter(|j| j.state == pb::JobState::Queued as i32).map(|j| j.id.clone()).collect();
    let t = Instant::now();
    node.signal("-TERM");
    let mut node = node;
    let status = node.child.wait().unwrap();
    let exit_ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(status.success(), "{status:?}\n{}", node.log());
    assert!(exit_ms < (bound_ms + 3000) as f64, "exit took {exit_ms:.0} ms, the bound is {bound_ms} ms");
    let mut unavailable = 0;
    for s in streams {
        let code = s.await.unwrap();
        if code == Code::Unavailable {
            unavailable += 1;
        }
    }
    // No job queued at the signal was started after it (a worker may have taken
    // one between the listing and the signal: at most one, the worker count).
    let store = zkinfer_prover::node::store::JobStore::open(&data.join("jobs.db")).unwrap();
    let started: Vec<&String> = queued.iter().filter(|id| store.get(id).unwrap().attempts > 0).collect();
    assert!(started.len() <= 1, "{} queued jobs were started after SIGTERM", started.len());
    let proved = store
        .counts()
        .unwrap()
        .iter()
        .find(|c| c.0 == zkinfer_prover::node::store::JobState::Proved)
        .map(|c| c.1)
        .unwrap_or(0);
    assert!(unavailable >= 99, "{unavailable} of 100 streams ended with UNAVAILABLE");
    println!(
        "fault: SIGTERM with 100 WatchJob streams and {} queued jobs: exit in {exit_ms:.0} ms (bound {bound_ms} ms); \
         {unavailable} streams ended UNAVAILABLE; {} queued jobs started after the listing; {proved} proved in all",
        queued.len(),
        started.len()
    );
}

/// A corrupted page: health NOT_SERVING and the log says why; a removed WAL
/// that lost acknowledged jobs is reported at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_store_and_lost_jobs_are_reported() {
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = tmp.path().join("node.log");
    let node = start(&data, &fx.models, &["--workers", "1"], &log);
    let mut c = client(&node.url, None).await;
    for i in 0..5 {
        let req = pb::SubmitJobRequest { idempotency_key: format!("a{i}"), ..submit(fx.input.clone()) };
        let j = c.submit_job(req).await.unwrap().into_inner().job.unwrap();
        wait_final(&mut c, &j.id).await;
    }
    // kill -9 leaves the last transactions in jobs.db-wal; then the WAL is lost.
    node.signal("-9");
    drop(node);
    for f in ["jobs.db-wal", "jobs.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let node = start(&data, &fx.models, &["--workers", "1"], &log);
    let mut c = client(&node.url, None).await;
    // Everything since the store was created was still in the WAL (it is checkpointed at 1000 pages).
    let have = c.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs.len();
    assert_eq!(have, 0);
    let logged = node.log();
    assert!(logged.contains("lost jobs it had acknowledged") && logged.contains("lost=5"), "{logged}");
    println!("fault: WAL removed after kill -9: 5 of 5 acknowledged jobs lost, reported at start");
    // Reported once: the witness follows the store again.
    let j = c.submit_job(submit(fx.input.clone())).await.unwrap().into_inner().job.unwrap();
    wait_final(&mut c, &j.id).await;
    node.signal("-TERM");
    let mut node = node;
    node.child.wait().unwrap();

    // Overwrite the jobs table's pages (all pages after the first) with garbage.
    let db = data.join("jobs.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() >= 3 * 4096, "{} bytes", bytes.len());
    for b in &mut bytes[4096..] {
        *b = 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    let log2 = tmp.path().join("node2.log");
    let node = start(&data, &fx.models, &["--workers", "1"], &log2);
    assert_eq!(health(&node.url).await, NOT_SERVING);
    let mut c = client(&node.url, None).await;
    let e = c.list_jobs(pb::ListJobsRequest { limit: 10, state: 0 }).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    let e = c.submit_job(submit(fx.input.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    let logged = node.log();
    assert!(logged.contains("the job store is corrupted") && logged.contains("quick_check"), "{logged}");
    println!(
        "fault: corrupted jobs.db: NOT_SERVING, calls UNAVAILABLE, log: {}",
        logged.lines().find(|l| l.contains("corrupted")).unwrap_or("")
    );
}

/// Whether this machine lets us mount a tmpfs in a private mount namespace.
fn tmpfs_available() -> bool {
    Command::new("unshare")
        .args(["-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\""])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The data dir on an 8 MiB tmpfs, filled to the brim while jobs are queued
/// and proving: no job stays proving, clear codes, no upload left behind,
/// NOT_SERVING until space is freed, then everything is proved; restart works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_loses_nothing_and_says_so() {
    if !tmpfs_available() {
        assert!(
            std::env::var_os("ZKINFER_REQUIRE_TMPFS").is_none(),
            "ZKINFER_REQUIRE_TMPFS set but `unshare -rm` + tmpfs fails"
        );
        eprintln!("SKIPPED: no private mount namespace with a tmpfs here (`unshare -rm`)");
        return;
    }
    let fx = fx();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = tmp.path().join("node.log");
    let wrapper = format!("mount -t tmpfs -o size=8m tmpfs '{}' &&", data.display());
    let args = ["--workers", "1", "--admin-token", "adm"];
    let node = spawn(&data, &fx.models, &args, &wrapper, true, &log);
    // The tmpfs as the node sees it.
    let inside = PathBuf::from(format!("/proc/{}/root{}", node.pid(), data.display()));
    let mut c = client(&node.url, Some("adm")).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(c.submit_job(submit(fx.input.clone())).await.unwrap().into_inner().job.unwrap().id);
    }
    wait_until(Duration::from_secs(60), "a job proving", || {
        let mut c = c.clone();
        let id = ids[0].clone();
        async move { c.get_job(pb::GetJobRequest { id }).await.unwrap().into_inner().state == pb::JobState::Proving as i32 }
    })
    .await;
    // Fill the disk.
    let filler = inside.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut filled = 0u64;
    loop {
        use std::io::Write;
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => filled += n as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    drop(f); // an open file keeps its space after the unlink below
    let full_at = Instant::now();
    // Health turns NOT_SERVING once a write fails; submissions get RESOURCE_EXHAUSTED.
    wait_until(Duration::from_secs(30), "NOT_SERVING on a full disk", || {
        let url = node.url.clone();
        async move { health(&url).await == NOT_SERVING }
    })
    .await;
    let not_serving_ms = full_at.elapsed().as_secs_f64() * 1e3;
    let e = c.submit_job(submit(fx.input.clone())).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("disk is full"), "{}", e.message());
    // An upload on the full disk: RESOURCE_EXHAUSTED, nothing left behind.
    let mut b = bundle(&fx.models.join("mlp"), "mlp2");
    b.pk.extend_from_slice(&vec![0u8; 1 << 20]);
    let e = c
        .register_model(pb::RegisterModelRequest { source: Some(pb::register_model_request::Source::Bundle(b)) })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(uploads_left(&inside).is_empty(), "a partial upload was left on the full disk");
    // No job stays proving: within a few seconds every job is queued (or done).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs = c.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs;
    let proving: Vec<&pb::Job> = jobs.iter().filter(|j| j.state == pb::JobState::Proving as i32).collect();
    for j in &proving {
        assert!(j.error.contains("could not be stored"), "a job proving on a full disk without a reason: {j:?}");
    }
    let states = |jobs: &[pb::Job]| {
        let mut v: Vec<i32> = jobs.iter().map(|j| j.state).collect();
        v.sort();
        v
    };
    println!("fault: full disk: jobs after 3 s on a full disk: {:?} (1 queued, 2 proving, 3 proved)", states(&jobs));
    // Free the space: SERVING again, every job proved.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let t = Instant::now();
    while health(&node.url).await != SERVING {
        assert!(t.elapsed() < Duration::from_secs(30), "not SERVING 30 s after space was freed; log:\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let serving_ms = freed.elapsed().as_secs_f64() * 1e3;
    for id in &ids {
        assert_eq!(wait_final(&mut c, id).await.state, pb::JobState::Proved as i32);
    }
    let drained_s = freed.elapsed().as_secs_f64();
    let logged = node.log();
    assert!(logged.contains("NOT_SERVING") && logged.contains("disk"), "{logged}");
    // A restart on the same disk (the namespace dies with the node: copy it out first).
    let keep = tmp.path().join("kept");
    copy_tree(&inside, &keep);
    node.signal("-TERM");
    let mut node = node;
    assert!(node.child.wait().unwrap().success(), "{}", node.log());
    let log2 = tmp.path().join("node2.log");
    let node2 = start(&keep, &fx.models, &["--workers", "1"], &log2);
    let mut c2 = client(&node2.url, None).await;
    assert_eq!(health(&node2.url).await, SERVING);
    let all = c2.list_jobs(pb::ListJobsRequest { limit: 100, state: 0 }).await.unwrap().into_inner().jobs;
    assert_eq!(all.len(), 6);
    assert!(all.iter().all(|j| j.state == pb::JobState::Proved as i32));
    println!(
        "fault: full disk ({:.1} MiB filler on an 8 MiB tmpfs): NOT_SERVING {not_serving_ms:.0} ms after filling, \
         submissions RESOURCE_EXHAUSTED, upload RESOURCE_EXHAUSTED with nothing left; space freed: SERVING in \
         {serving_ms:.0} ms, all 6 jobs proved {drained_s:.1} s after; restart serves all 6",
        filled as f64 / (1 << 20) as f64
    );
}

/// Copies a data dir of a running node, without SQLite's shared-memory index
/// (rebuilt from the WAL on open).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if e.file_name().to_string_lossy().ends_with("-shm") {
            continue;
        }
        if p.is_dir() {
            copy_tree(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// This test process opens over a thousand sockets: raise its own soft limit.
fn raise_own_fd_limit() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < 4096 {
            r.rlim_cur = r.rlim_max.min(8192);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
