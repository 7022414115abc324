//! Witness generation, keygen, prove and verify for every fixture model.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use halo2curves::bn256::Fr;
use zkinfer_benches::{load, selected_models};
use zkinfer_circuits::cost::cost_report;
use zkinfer_circuits::prove::{keygen, prove, prove_accel, shape_of, verify, witness_circuit};
use zkinfer_circuits::srs::Srs;

fn models(c: &mut Criterion) {
    for name in selected_models() {
        let (q, x) = load(&name);
        let (empty, k) = shape_of(&q).expect("plans");
        // The cost report beside the timings, so that a size regression shows next to a slowdown.
        let cost = cost_report(&q).expect("plans");
        eprintln!(
            "{name}: k = {}, {} rows, MAC width {}, {} advice + {} fixed columns, {} lookups, est. memory {:.0} MiB",
            cost.k,
            cost.rows,
            cost.mac_width,
            cost.advice_columns,
            cost.fixed_columns,
            cost.lookups,
            cost.estimated_proving_memory_bytes as f64 / (1u64 << 20) as f64
        );
        let params = Srs::dev(k).expect("srs").params;
        let mut g = c.benchmark_group(format!("{name}/k{k}"));
        g.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
        g.bench_function("witness", |b| b.iter(|| witness_circuit(&q, empty.shape, &x, Fr::from(1)).expect("plans")));
        g.bench_function("keygen", |b| b.iter(|| keygen(&params, &q).expect("keygen")));
        let pk = keygen(&params, &q).expect("keygen");
        g.bench_function("prove", |b| b.iter(|| prove(&params, &pk, &q, &x, Fr::from(1)).expect("proves")));
        // The same proof with the commitments on the GPU, when one is in use
        // (built with --features cuda and a device found; `zkinfer info` says).
        if let Some(msm) = zkinfer_gpu::selected().msm.clone() {
            let accel = zkinfer_gpu::halo2::AccelParams::new(params.clone(), msm);
            let p = prove_accel(&accel, &pk, empty.shape, &q, &x, Fr::from(1)).expect("proves on the GPU");
            verify(&params, pk.get_vk(), &p.instances, &p.proof).expect("a GPU proof verifies");
            g.bench_function("prove-gpu", |b| {
                b.iter(|| prove_accel(&accel, &pk, empty.shape, &q, &x, Fr::from(1)).expect("proves"))
            });
        }
        let p = prove(&params, &pk, &q, &x, Fr::from(1)).expect("proves");
        g.bench_function("verify", |b| {
            b.iter(|| verify(&params, pk.get_vk(), &p.instances, &p.proof).expect("verifies"))
        });
        g.finish();
    }
}

criterion_group!(benches, models);
criterion_main!(benches);
