//! The policy runtime with good policies: embedded defaults, hot swap under load, the disk
//! cache, metrics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::components::noop_select;
use karpenter_ovhcloud::policy::types::{provisioning, ConsolidationPolicy, Operator, Requirement};
use karpenter_ovhcloud::policy::{
    canned, PolicyRuntime, PolicySet, PolicySource, RuntimeConfig, World,
};

fn runtime(config: RuntimeConfig) -> Arc<PolicyRuntime> {
    Arc::new(PolicyRuntime::new(config).expect("runtime"))
}

#[test]
fn the_embedded_defaults_load_and_report_themselves() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    let status = set.status();
    assert_eq!(
        status.iter().map(|s| s.world).collect::<Vec<_>>(),
        World::ALL.to_vec()
    );
    for s in &status {
        assert_eq!(s.source, PolicySource::Embedded);
        assert_eq!(s.wit_version, "0.2.0");
        assert!(
            s.digest.starts_with("sha256:") && s.digest.len() == 71,
            "{s:?}"
        );
        assert!(!s.name.is_empty() && !s.version.is_empty(), "{s:?}");
        assert!(s.size < 1 << 20);
    }
}

#[test]
fn the_default_flavor_selection_places_the_canned_pods_on_one_b3_8() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    let decided = set.select(canned::provisioning()).expect("decides");
    assert!(decided.failure.is_none());
    let d = &decided.decision;
    assert_eq!(d.launches.len(), 1, "{d:?}");
    assert_eq!(d.launches[0].flavor, "b3-8");
    assert_eq!(d.launches[0].nodepool, "smoke-test");
    assert_eq!(set.metrics().call_count("flavor-selection", "ok"), 1);
}

#[test]
fn the_default_consolidation_and_drift_answer_their_canned_requests() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    let c = set.consolidate(canned::consolidation()).expect("decides");
    assert!(c.failure.is_none());
    assert_eq!(c.decision.commands.len(), 1, "{:?}", c.decision);
    assert_eq!(
        c.decision.commands[0].nodes,
        vec!["smoke-test-node".to_string()]
    );
    let d = set.detect(canned::drift()).expect("decides");
    assert!(d.failure.is_none());
    assert_eq!(d.decision.drifted.len(), 1, "{:?}", d.decision);
    assert_eq!(d.decision.drifted[0].nodeclaim, "smoke-test-claim");
}

/// A component kept as built for contract 0.1.0 (`policies/testdata/frozen/`).
fn frozen(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../policies/testdata/frozen/{name}-0.1.0.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn policies_of_contract_0_1_0_are_still_served_what_they_understand() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    let rt = set.runtime();

    // Flavor selection: Karpenter's `Gte`/`Lte`, which 0.1.0 does not have, reach the old
    // policy as the equivalent `Gt`/`Lt`. The canned flavors are all of generation 3:
    // `Gte 3` (as `Gt 2`) admits them, `Lte 2` (as `Lt 3`) none, as for the current policy.
    let old = rt
        .compile(World::FlavorSelection, &frozen("flavor-selection"))
        .expect("a 0.1.0 component loads");
    assert_eq!(old.info.wit_version.to_string(), "0.1.0");
    for (operator, value, placed) in [(Operator::Gte, "3", true), (Operator::Lte, "2", false)] {
        let mut request = canned::provisioning();
        request.nodepools[0].requirements.push(Requirement {
            key: "karpenter.ovhcloud.sh/flavor-generation".into(),
            operator,
            values: vec![value.into()],
            min_values: None,
        });
        let by_old: provisioning::ProvisioningDecision = rt
            .select(&old, &request.clone().into())
            .expect("the 0.1.0 policy answers")
            .into();
        let current = set.select(request).expect("decides").decision;
        assert_eq!(
            !by_old.launches.is_empty(),
            placed,
            "{operator:?} {value}: {by_old:?}"
        );
        assert_eq!(by_old.launches, current.launches, "{operator:?} {value}");
        assert_eq!(by_old.unplaced.len(), current.unplaced.len());
    }

    // Consolidation: a Balanced NodePool reaches it as WhenEmptyOrUnderutilized, and the
    // totals it does not know are dropped; its empty node is still deleted.
    let old = rt
        .compile(World::Consolidation, &frozen("consolidation"))
        .expect("a 0.1.0 component loads");
    assert_eq!(old.info.wit_version.to_string(), "0.1.0");
    let mut request = canned::consolidation();
    request.nodepools[0].consolidation_policy = ConsolidationPolicy::Balanced;
    let decision = rt
        .consolidate(&old, &request.into())
        .expect("the 0.1.0 policy answers");
    assert_eq!(decision.commands.len(), 1, "{decision:?}");
    assert_eq!(decision.commands[0].nodes, ["smoke-test-node"]);
}

#[test]
fn a_swap_while_calls_are_in_flight_loses_no_call() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    let noop = set
        .runtime()
        .compile(World::FlavorSelection, &noop_select())
        .expect("noop");
    let noop = Arc::new(karpenter_ovhcloud::policy::ActivePolicy {
        policy: noop,
        config: String::new(),
        source: PolicySource::Loaded("noop".into()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (set, stop, calls) = (set.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Whichever policy is active, a valid decision comes back.
                    let decided = set.select(canned::provisioning()).expect("decides");
                    assert_eq!(decided.decision.launches.len(), 1);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for i in 0..200 {
        if i % 2 == 0 {
            set.activate(noop.clone());
        } else {
            set.reset(World::FlavorSelection);
        }
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.join().expect("caller");
    }
    let total = calls.load(Ordering::Relaxed) as u64;
    let m = set.metrics();
    assert_eq!(
        m.call_count("flavor-selection", "ok") + m.call_count("flavor-selection", "fallback"),
        total
    );
    assert_eq!(m.call_count("flavor-selection", "failed"), 0);
}

#[test]
fn compiled_components_are_cached_on_disk_and_bad_artifacts_are_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let bytes = noop_select();
    let first = runtime(config.clone())
        .compile(World::FlavorSelection, &bytes)
        .expect("compiles");
    let artifact = dir
        .path()
        .join(format!("{}.cwasm", first.info.digest.to_hex()));
    let written = std::fs::read(&artifact).expect("artifact written");
    // A second runtime (a restart) finds it.
    let again = runtime(config.clone())
        .compile(World::FlavorSelection, &bytes)
        .expect("from cache");
    assert_eq!(again.metadata, first.metadata);
    // A corrupt artifact is ignored and replaced.
    let mut corrupt = written.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    std::fs::write(&artifact, &corrupt).expect("corrupt");
    let third = runtime(config.clone())
        .compile(World::FlavorSelection, &bytes)
        .expect("recompiles");
    assert_eq!(third.metadata, first.metadata);
    assert_eq!(std::fs::read(&artifact).expect("rewritten"), written);
    // An engine with another configuration does not use it.
    let other = RuntimeConfig {
        fuel: false,
        ..config
    };
    runtime(other)
        .compile(World::FlavorSelection, &bytes)
        .expect("recompiles");
    assert_ne!(std::fs::read(&artifact).expect("rewritten"), written);
}

#[test]
fn metrics_encode_with_their_full_names() {
    let set = PolicySet::new(runtime(RuntimeConfig::default())).expect("defaults");
    set.select(canned::provisioning()).expect("decides");
    let mut registry = prometheus_client::registry::Registry::default();
    set.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains(
            r#"karpenter_ovhcloud_policy_calls_total{world="flavor-selection",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "karpenter_ovhcloud_policy_call_duration_seconds_count{world=\"flavor-selection\"} 1"
        ),
        "{text}"
    );
    let fs = set.active(World::FlavorSelection);
    assert!(text.contains(&format!(
        r#"karpenter_ovhcloud_policy_info{{world="flavor-selection",digest="{}",name="{}",version="{}"}} 1"#,
        fs.policy.info.digest.to_hex(),
        fs.policy.metadata.name,
        fs.policy.metadata.version
    )), "{text}");
}
