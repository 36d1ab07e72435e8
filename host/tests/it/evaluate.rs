//! The what-if evaluator: trace parsing and its errors, the generator, deterministic replay,
//! the lower bound and the baselines on the committed reference traces.

use std::path::PathBuf;
use std::sync::Arc;

use karpenter_ovhcloud::evaluate::{
    self, generate, lower_bound, Kind, Report, Setup, Strategy, Trace, TraceError,
};
use karpenter_ovhcloud::policy::{PolicyRuntime, PolicySet, RuntimeConfig};

fn set() -> PolicySet {
    let runtime = Arc::new(PolicyRuntime::new(RuntimeConfig::default()).expect("runtime"));
    PolicySet::new(runtime).expect("embedded defaults")
}

fn reference(kind: Kind) -> Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../traces")
        .join(format!("{}.yaml", kind.name()));
    let text = std::fs::read_to_string(&path).expect("reference trace");
    Trace::parse(&text).expect("reference trace parses")
}

fn run(trace: &Trace, strategies: &[Strategy<'_>]) -> Report {
    evaluate::evaluate(trace, strategies, &mut |_, _, _| {}).expect("evaluates")
}

const SMALL: &str = r#"
name: small
duration_seconds: 7200
workloads:
  - {name: web, cpu: 500m, memory: 1Gi}
  - {name: job, cpu: "2", memory: 4Gi}
events:
  - {at: 0, scale: {workload: web, replicas: 5}}
  - {at: 600, run: {workload: job, count: 6, seconds: 1200}}
  - {at: 3600, scale: {workload: web, replicas: 1}}
"#;

#[test]
fn committed_traces_are_the_generator_output_for_seed_1() {
    for kind in Kind::ALL {
        let generated = Trace::parse(&generate(kind, 1).to_yaml()).expect("generated parses");
        assert_eq!(reference(kind), generated, "traces/{}.yaml", kind.name());
        assert_eq!(
            generate(kind, 7),
            generate(kind, 7),
            "same seed, same trace"
        );
        assert_ne!(
            generate(kind, 7),
            generate(kind, 8),
            "{}: the seed matters",
            kind.name()
        );
    }
}

#[test]
fn replay_is_deterministic_to_the_byte() {
    let set = set();
    let trace = Trace::parse(SMALL).unwrap();
    let a = serde_json::to_string(&run(&trace, &evaluate::strategies(&set, None))).unwrap();
    let b = serde_json::to_string(&run(&trace, &evaluate::strategies(&set, None))).unwrap();
    assert_eq!(a, b);
}

#[test]
fn small_trace_runs_every_pod_and_removes_nodes_once_empty() {
    let set = set();
    let trace = Trace::parse(SMALL).unwrap();
    let report = run(&trace, &evaluate::strategies(&set, None));
    assert_eq!(report.runs.len(), 3);
    for r in &report.runs {
        assert_eq!(r.pods, 11, "{}", r.name);
        assert_eq!(r.pods_never_started, 0, "{}", r.name);
        // A pod starts at once on a node with room, else when its new node is Ready, 180 s
        // after the batch (1 s idle window) that launched it.
        assert!(
            (1..=200).contains(&r.pending_seconds.p50) && r.pending_seconds.max <= 200,
            "{}: {:?}",
            r.name,
            r.pending_seconds
        );
        if r.name == "defaults" {
            assert!(r.disruptions > 0, "the jobs' nodes go once empty");
        }
        assert!(r.ovh_writes >= 1, "{}", r.name);
        assert!(report.lower_bound_eur <= r.total_eur, "{}", r.name);
        let last = r.timeline.last().unwrap();
        assert_eq!(last.at, 7200);
        assert!((last.cost_eur - r.total_eur).abs() < 1e-9);
    }
}

#[test]
fn lower_bound_prices_the_requests_at_the_cheapest_rate() {
    // 4 pods of 1 vCPU / 1 GiB for one hour: CPU is the scarce resource, at the cheapest
    // EUR per allocatable vCPU-hour of the catalog.
    let trace = Trace::parse(
        "name: lb\nduration_seconds: 3600\nworkloads: [{name: a, cpu: '1', memory: 1Gi}]\nevents: [{at: 0, scale: {workload: a, replicas: 4}}]\n",
    )
    .unwrap();
    let setup = Setup::new(&trace).unwrap();
    let rates = evaluate::report::rates(&setup);
    let lb = lower_bound(&trace, &setup);
    assert!((lb - 4.0 * rates.cpu).abs() < 1e-9, "{lb} vs {}", rates.cpu);
    assert!(rates.cpu > 0.0 && rates.memory > 0.0 && rates.gpu == 0.0);
}

/// The first `hours` of a trace (the reference traces replay for minutes in a debug build;
/// `policy evaluate` and BENCHMARKS.md run them whole).
fn first_hours(mut trace: Trace, hours: u64) -> Trace {
    trace.duration_seconds = trace.duration_seconds.min(hours * 3600);
    let end = trace.duration_seconds;
    trace.events.retain(|e| e.at < end);
    trace
}

fn check_reference(kind: Kind) {
    let set = set();
    let trace = first_hours(reference(kind), 3);
    let report = run(&trace, &evaluate::strategies(&set, None));
    let cost = |name: &str| {
        report
            .runs
            .iter()
            .find(|r| r.name.starts_with(name))
            .unwrap()
            .total_eur
    };
    for r in &report.runs {
        assert!(
            report.lower_bound_eur <= r.total_eur,
            "{}: lower bound {} above {}",
            r.name,
            report.lower_bound_eur,
            r.total_eur
        );
        assert_eq!(r.pods_never_started, 0, "{}", r.name);
        assert_eq!(r.failed_batches, 0, "{}", r.name);
    }
    assert!(
        cost("defaults") <= cost("naive"),
        "{}: defaults {} not cheaper than naive {}",
        kind.name(),
        cost("defaults"),
        cost("naive")
    );
}

#[test]
fn reference_diurnal() {
    check_reference(Kind::Diurnal);
}
#[test]
fn reference_batch() {
    check_reference(Kind::Batch);
}
#[test]
fn reference_mixed() {
    check_reference(Kind::Mixed);
}
#[test]
fn reference_multizone() {
    check_reference(Kind::Multizone);
}
#[test]
fn reference_gpu() {
    check_reference(Kind::Gpu);
}

fn error(text: &str) -> String {
    Trace::parse(text).expect_err("refused").to_string()
}

#[test]
fn bad_traces_say_where() {
    // Syntax: the line.
    let e = error("name: x\nduration_seconds: [\n");
    assert!(e.contains("line"), "{e}");
    // Unknown and missing fields, by name.
    let e = error("name: x\nduration_seconds: 10\nworkloads: []\nevents: []\ncolour: red\n");
    assert!(e.contains("colour"), "{e}");
    let e = error("name: x\nworkloads: []\nevents: []\n");
    assert!(e.contains("duration_seconds"), "{e}");
    // Semantic errors: the field path.
    let base = "name: x\nduration_seconds: 100\nworkloads: [{name: w, cpu: 1, memory: 1Gi}]\n";
    let e = error(&format!(
        "{base}events: [{{at: 0, scale: {{workload: nope, replicas: 1}}}}]\n"
    ));
    assert!(
        e.contains("events[0].scale.workload") && e.contains("nope"),
        "{e}"
    );
    let e = error(&format!(
        "{base}events: [{{at: 5, scale: {{workload: w, replicas: 1}}}}, {{at: 1, scale: {{workload: w, replicas: 2}}}}]\n"
    ));
    assert!(e.contains("events[1].at"), "{e}");
    let e = error(&format!("{base}events: [{{at: 0}}]\n"));
    assert!(e.contains("events[0]") && e.contains("exactly one"), "{e}");
    let e = error("name: x\nduration_seconds: 10\nworkloads: [{name: w, cpu: lots, memory: 1Gi}]\nevents: []\n");
    assert!(e.contains("workloads[0].cpu"), "{e}");
    let e = error("name: x\nduration_seconds: 0\nworkloads: []\nevents: []\n");
    assert!(e.contains("duration_seconds"), "{e}");
    let e = error("name: x\nduration_seconds: 10\nnodepools: [{name: p, requirements: [{key: k, operator: Near}]}]\nworkloads: []\nevents: []\n");
    assert!(e.contains("nodepools[0].requirements[0].operator"), "{e}");
    let e = error("name: x\nduration_seconds: 10\nflavors: [{name: z9-1, vcpus: 1, ram_gib: 1, hourly_eur: -1}]\nworkloads: []\nevents: []\n");
    assert!(e.contains("flavors[0].hourly_eur"), "{e}");
    // A trace whose pool allows an unknown baseline flavor is refused when set up.
    let trace = Trace::parse("name: x\nduration_seconds: 10\nnodepools: [{name: p, baseline_flavor: z9-9}]\nworkloads: []\nevents: []\n").unwrap();
    match Setup::new(&trace) {
        Err(TraceError::Invalid { field, .. }) => assert_eq!(field, "nodepools[0].baseline_flavor"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mangled_traces_never_panic() {
    let text = generate(Kind::Multizone, 3).to_yaml();
    let bytes = text.as_bytes();
    let mut rng = evaluate::SplitMix64::new(99);
    let junk = b" :-[]{}\n\"'0a9#,";
    for _ in 0..400 {
        let mut b = bytes.to_vec();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len() as u64) as usize;
            match rng.below(3) {
                0 => b[i] = junk[rng.below(junk.len() as u64) as usize],
                1 => {
                    b.remove(i);
                }
                _ => b.truncate(i),
            }
        }
        let _ = Trace::parse(&String::from_utf8_lossy(&b));
    }
}

/// `policy evaluate` through the binary: the JSON is byte-identical across runs, the SVG is
/// written, and a bad trace exits non-zero with its field path.
#[test]
fn cli_evaluate_is_reproducible_and_refuses_bad_traces() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("small.yaml");
    std::fs::write(&trace, SMALL).unwrap();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policies/dist/example-fewest-nodes.wasm");
    let run = |n: u32| {
        let json = dir.path().join(format!("{n}.json"));
        let svg = dir.path().join(format!("{n}.svg"));
        let out = Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"))
            .args(["policy", "evaluate", "--quiet", "--trace"])
            .arg(&trace)
            .arg("--policy")
            .arg(&example)
            .arg("--json")
            .arg(&json)
            .arg("--plot")
            .arg(&svg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8(out.stdout).unwrap();
        for row in [
            "example-fewest-nodes",
            "defaults",
            "naive",
            "cluster-autoscaler-like",
        ] {
            assert!(table.contains(row), "{table}");
        }
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
        std::fs::read(json).unwrap()
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a, b, "same trace and policies, same JSON");
    let report: serde_json::Value = serde_json::from_slice(&a).unwrap();
    assert_eq!(report["runs"].as_array().unwrap().len(), 4);

    std::fs::write(
        &trace,
        "name: x\nduration_seconds: 100\nworkloads: []\nevents: [{at: 0, scale: {workload: ghost, replicas: 1}}]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"))
        .args(["policy", "evaluate", "--quiet", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("events[0].scale.workload"), "{err}");
}

/// A trace built for underutilized consolidation: 12 pods of 1 CPU fill several nodes, then the
/// Deployment scales down to 3 at 1 h; the survivors are spread over the old nodes (the
/// newest pods go first), so half-used nodes remain that only moving pods frees.
const SCALE_DOWN: &str = r#"
name: scale-down
duration_seconds: 10800
nodepools:
  - name: default
    requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [b3-8, b3-16, b3-32]}]
workloads:
  - {name: web, cpu: "1", memory: 2Gi}
  - {name: other, cpu: "1", memory: 2Gi}
events:
  - {at: 0, scale: {workload: web, replicas: 6}}
  - {at: 0, scale: {workload: other, replicas: 6}}
  - {at: 3600, scale: {workload: web, replicas: 1}}
  - {at: 3600, scale: {workload: other, replicas: 2}}
"#;

fn defaults_run(report: &Report) -> &evaluate::RunResult {
    report.runs.iter().find(|r| r.name == "defaults").unwrap()
}

#[test]
fn underutilized_nodes_are_consolidated_after_a_scale_down() {
    let set = set();
    let trace = Trace::parse(SCALE_DOWN).unwrap();
    let report = run(&trace, &evaluate::strategies(&set, None));
    let d = defaults_run(&report);
    let moved = d
        .disrupted_nodes
        .get("underutilized-delete")
        .copied()
        .unwrap_or(0)
        + d.disrupted_nodes
            .get("underutilized-replace")
            .copied()
            .unwrap_or(0);
    assert!(moved > 0, "{:?}", d.disrupted_nodes);
    assert!(d.evicted_pods > 0, "pods moved off the consolidated nodes");
    assert_eq!(d.pods_never_started, 0);
    // Every command came after the scale-down and after consolidateAfter (60 s) + the
    // validation delay (15 s).
    let underused: Vec<_> = d
        .disruption_log
        .iter()
        .filter(|c| c.kind.starts_with("underutilized"))
        .collect();
    assert!(underused.iter().all(|c| c.at >= 3600 + 75), "{underused:?}");
    // At the end, 3 pods of 1 CPU / 2 GiB run on one node (a b3-16 holds them; a b3-8 does
    // not), against the 12 pods' nodes before.
    let last = d.timeline.last().unwrap();
    assert_eq!(last.nodes, 1, "{:?}", d.disruption_log);
    assert!(report.lower_bound_eur <= d.total_eur);
    // Without consolidation of busy nodes (WhenEmpty), more node-hours are paid.
    let mut when_empty = trace.clone();
    when_empty.nodepools[0].consolidation_policy = evaluate::trace::ConsolidationPolicy::WhenEmpty;
    let we = run(&when_empty, &evaluate::strategies(&set, None));
    let we = defaults_run(&we);
    assert!(
        we.disrupted_nodes.keys().all(|k| k == "empty"),
        "{:?}",
        we.disrupted_nodes
    );
    assert!(
        we.total_eur > d.total_eur,
        "{} vs {}",
        we.total_eur,
        d.total_eur
    );
}

#[test]
fn replay_with_consolidation_is_deterministic() {
    let set = set();
    let trace = Trace::parse(SCALE_DOWN).unwrap();
    let a = serde_json::to_string(&run(&trace, &evaluate::strategies(&set, None))).unwrap();
    let b = serde_json::to_string(&run(&trace, &evaluate::strategies(&set, None))).unwrap();
    assert!(a.contains("underutilized"));
    assert_eq!(a, b);
}

#[test]
fn budgets_bound_the_nodes_removed_at_once() {
    let set = set();
    // 40 pods of 1 CPU on many nodes, scaled down to 0 at once: every node is empty together.
    let text = |budgets: &str| {
        format!(
            "name: budgets\nduration_seconds: 5400\nnodepools:\n  - name: default\n    requirements: [{{key: node.kubernetes.io/instance-type, operator: In, values: [b3-8]}}]\n{budgets}workloads: [{{name: w, cpu: '1', memory: 1Gi}}]\nevents:\n  - {{at: 0, scale: {{workload: w, replicas: 20}}}}\n  - {{at: 1800, scale: {{workload: w, replicas: 0}}}}\n"
        )
    };
    let replay = |budgets: &str| {
        let trace = Trace::parse(&text(budgets)).unwrap();
        let defaults: Vec<Strategy<'_>> = evaluate::strategies(&set, None)
            .into_iter()
            .filter(|s| s.name == "defaults")
            .collect();
        defaults_run(&run(&trace, &defaults)).clone()
    };
    // No budget at all: a 0 budget blocks every disruption.
    let none = replay("    budgets: [{nodes: '0'}]\n");
    assert_eq!(none.disruptions, 0);
    assert!(none.budget_blocked > 0);
    // One node at a time, and one command per NodePool per 10 s pass.
    let one = replay("    budgets: [{nodes: '1'}]\n");
    assert!(one.disruptions >= 10, "{:?}", one.disrupted_nodes);
    for pair in one.disruption_log.windows(2) {
        assert!(pair[1].at >= pair[0].at + 10, "{pair:?}");
    }
    assert!(one.disruption_log.iter().all(|c| c.nodes == 1));
    // Only Underutilized budgeted: empty nodes are not limited by it.
    let reasons = replay("    budgets: [{nodes: '0', reasons: [Underutilized]}]\n");
    assert!(reasons.disrupted_nodes.get("empty").copied().unwrap_or(0) >= 10);
    // A schedule: a budget of 0 active 00:00-02:00 (simulated time 0 is a midnight) covers
    // the whole trace; one active at noon does not.
    let night = replay("    budgets: [{nodes: '0', schedule: '0 0 * * *', duration: 2h}]\n");
    assert_eq!(night.disruptions, 0);
    let noon = replay("    budgets: [{nodes: '0', schedule: '0 12 * * *', duration: 2h}]\n");
    assert!(noon.disruptions >= 10, "{:?}", noon.disrupted_nodes);
    let e = Trace::parse(&text("    budgets: [{nodes: 'many'}]\n")).unwrap_err();
    assert!(
        e.to_string().contains("nodepools[0].budgets[0].nodes"),
        "{e}"
    );
}
