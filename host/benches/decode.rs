//! Decoding benchmark: what tolerant reading (`Tolerant<K>`, which keeps an object it cannot
//! interpret instead of failing the watch) costs over plain typed decoding, per NodeClaim and
//! NodePool as the watches receive them.
//!
//! Run: `cargo bench -p karpenter-ovhcloud --bench decode` (prints a table).

use std::hint::black_box;
use std::time::{Duration, Instant};

use karpenter_ovhcloud::api::{NodeClaim, NodePool, Tolerant};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// A NodeClaim as the controller writes it, launched and initialized (about 2.5 KB of JSON).
fn nodeclaim(i: usize) -> Value {
    let condition = |t: &str| {
        json!({"type": t, "status": "True", "reason": t, "message": "",
            "lastTransitionTime": "2026-12-07T10:00:00Z", "observedGeneration": 1})
    };
    let conditions = ["Launched", "Registered", "Initialized", "Ready"].map(condition);
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": format!("demo-pool-{i:05}"), "uid": format!("uid-{i}"),
            "resourceVersion": "1234", "generation": 1, "creationTimestamp": "2026-12-07T10:00:00Z",
            "finalizers": ["karpenter.sh/termination"],
            "labels": {"karpenter.sh/nodepool": "demo-pool", "node.kubernetes.io/instance-type": "b3-8",
                "topology.kubernetes.io/zone": "eu-west-par-a", "topology.kubernetes.io/region": "eu-west-par",
                "karpenter.sh/capacity-type": "on-demand", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                "karpenter.ovhcloud.sh/flavor-family": "b3", "karpenter.ovhcloud.sh/ovh-pool": "karpenter-b3-8-eu-west-par-a"},
            "annotations": {"karpenter.sh/nodepool-hash": "12170957467215595569", "karpenter.sh/nodepool-hash-version": "v1",
                "karpenter.ovhcloud.sh/nodeclass-hash": "998877", "karpenter.ovhcloud.sh/nodeclass-hash-version": "v1"},
            "ownerReferences": [{"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "name": "demo-pool",
                "uid": "pool-uid", "blockOwnerDeletion": true}]},
        "spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]},
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["demo-pool"]},
                {"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gte", "values": ["3"]}],
            "resources": {"requests": {"cpu": "150m", "memory": "200Mi", "pods": "2"}},
            "expireAfter": "720h"},
        "status": {"providerID": format!("openstack:///{i:08x}-0000-4000-8000-000000000000"),
            "nodeName": format!("karpenter-b3-8-eu-west-par-a-node-{i:06x}"), "imageID": "ubuntu-22.04",
            "capacity": {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "50Gi", "pods": "110"},
            "allocatable": {"cpu": "1850m", "memory": "7Gi", "ephemeral-storage": "45Gi", "pods": "110"},
            "conditions": conditions}})
}

/// A NodePool in the guide's shape, with its status.
fn nodepool(i: usize) -> Value {
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": format!("pool-{i}"), "uid": format!("uid-{i}"), "resourceVersion": "99", "generation": 2},
        "spec": {"template": {"metadata": {"labels": {"team": "a"}},
                "spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16", "b3-32"]},
                    {"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gte", "values": ["3"]}],
                "expireAfter": "720h"}},
            "disruption": {"consolidationPolicy": "Balanced", "consolidateAfter": "1m",
                "budgets": [{"nodes": "10%"}]},
            "limits": {"cpu": "100", "memory": "400Gi"}, "weight": 10},
        "status": {"resources": {"cpu": "8", "memory": "32Gi", "nodes": "4", "pods": "440"},
            "nodes": 4, "nodeClassObservedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "",
                "lastTransitionTime": "2026-12-07T10:00:00Z", "observedGeneration": 2}]}})
}

/// Median time per object of decoding every document of `docs` as `K`, over `runs` runs.
fn per_object<K: DeserializeOwned>(docs: &[Vec<u8>], runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for d in docs {
                black_box(serde_json::from_slice::<K>(d).expect("decodes"));
            }
            start.elapsed() / docs.len() as u32
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (count, runs) = if quick { (200, 5) } else { (2_000, 15) };
    println!("Decoding {count} objects of each kind, median of {runs} runs (one thread)\n");
    println!("| kind | JSON bytes | typed | Tolerant | Tolerant / typed |");
    println!("|---|---:|---:|---:|---:|");
    row::<NodeClaim>("NodeClaim", nodeclaim, count, runs);
    row::<NodePool>("NodePool", nodepool, count, runs);
}

/// One row: `count` objects made by `make`, decoded as `K` and as `Tolerant<K>`.
fn row<K: DeserializeOwned>(kind: &str, make: fn(usize) -> Value, count: usize, runs: usize) {
    let docs: Vec<Vec<u8>> = (0..count)
        .map(|i| serde_json::to_vec(&make(i)).expect("encodes"))
        .collect();
    let typed = per_object::<K>(&docs, runs);
    let tolerant = per_object::<Tolerant<K>>(&docs, runs);
    println!(
        "| {kind} | {} | {:.1} us | {:.1} us | {:.2}x |",
        docs[0].len(),
        typed.as_secs_f64() * 1e6,
        tolerant.as_secs_f64() * 1e6,
        tolerant.as_secs_f64() / typed.as_secs_f64()
    );
}
