//! The simulated API server driven by kube-rs: typed and dynamic CRUD, watches across a forced
//! 410, a finalizer-managing Controller, every patch type, status and scale subresources,
//! eviction under PodDisruptionBudgets, Lease-based leader election, events, GC and RBAC.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_ovhcloud_sim::kube::{Config as SimConfig, KubeSim};
use kube::api::{
    Api, DeleteParams, DynamicObject, EvictParams, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event as KEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Fin};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn client_for(sim: &KubeSim, yaml: &str) -> Client {
    let kc = Kubeconfig::from_yaml(yaml).expect("kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    // kube-rs retries 429 (up to 15 times, backing off to minutes): the PDB test wants to see it.
    cfg.default_retry = false;
    let _ = sim;
    Client::try_from(cfg).expect("client")
}

async fn start_with(cfg: SimConfig) -> (KubeSim, Client) {
    let sim = KubeSim::start(cfg).await.expect("sim");
    let client = client_for(&sim, &sim.kubeconfig_yaml()).await;
    (sim, client)
}

async fn start() -> (KubeSim, Client) {
    start_with(SimConfig::default()).await
}

fn code(e: kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other}"),
    }
}

/// Polls `f` until it returns true (bounded: 10 s).
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits (bounded) until the reflector's store holds `n` objects.
async fn has_len(reader: &reflector::Store<ConfigMap>, what: &str, n: usize) {
    eventually(what, || {
        let r = reader.clone();
        async move { r.len() == n }
    })
    .await;
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test]
async fn typed_crud_conflicts_selectors_and_pages() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &cm("a", json!({"app": "web"})))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(
        code(
            api.create(&PostParams::default(), &cm("a", json!({})))
                .await
                .unwrap_err()
        ),
        409
    );

    let mut changed = created.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let (old_rv, new_rv) = (
        created.resource_version().unwrap(),
        updated.resource_version().unwrap(),
    );
    assert!(new_rv.parse::<u64>().unwrap() > old_rv.parse::<u64>().unwrap());
    // Replacing from the stale version is a conflict.
    assert_eq!(
        code(
            api.replace("a", &PostParams::default(), &changed)
                .await
                .unwrap_err()
        ),
        409
    );

    api.create(
        &PostParams::default(),
        &cm("b", json!({"app": "api", "tier": "be"})),
    )
    .await
    .unwrap();
    for i in 0..5 {
        api.create(
            &PostParams::default(),
            &cm(&format!("page-{i}"), json!({"paged": "yes"})),
        )
        .await
        .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app=web"))
                .await
                .unwrap()
        ),
        vec!["a"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app in (web,api),tier"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().labels("app,app!=web"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=b"))
                .await
                .unwrap()
        ),
        vec!["b"]
    );

    let mut seen = Vec::new();
    let mut lp = ListParams::default().labels("paged=yes").limit(2);
    for _ in 0..5 {
        let page = api.list(&lp).await.unwrap();
        let cont = page.metadata.continue_.clone();
        seen.extend(names(page));
        match cont {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(seen, vec!["page-0", "page-1", "page-2", "page-3", "page-4"]);

    assert_eq!(code(api.get("missing").await.unwrap_err()), 404);
    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(api.get("a").await.unwrap_err()), 404);
}

fn crd(file: &str) -> CustomResourceDefinition {
    let text = std::fs::read_to_string(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    serde_norway::from_str(&text).unwrap()
}

#[tokio::test]
async fn karpenter_crds_register_and_default_a_minimal_nodepool() {
    let (_sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for f in [
        "karpenter.sh_nodepools.yaml",
        "karpenter.sh_nodeclaims.yaml",
    ] {
        crds.create(&PostParams::default(), &crd(f)).await.unwrap();
    }
    let disc = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .unwrap();
    let (ar, caps) = disc
        .resolve_gvk(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"))
        .expect("NodePool discovered");
    assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
    let pools: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let np: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "default"},
        "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                                        "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}]}}}
    }))
    .unwrap();
    let got = pools.create(&PostParams::default(), &np).await.unwrap();
    let spec = &got.data["spec"];
    assert_eq!(spec["disruption"]["consolidateAfter"], "0s");
    assert_eq!(
        spec["disruption"]["consolidationPolicy"],
        "WhenEmptyOrUnderutilized"
    );
    assert_eq!(spec["disruption"]["budgets"], json!([{"nodes": "10%"}]));
    assert_eq!(spec["template"]["spec"]["expireAfter"], "720h");
    assert_eq!(got.metadata.generation, Some(1));

    // Status is a subresource: the main endpoint ignores it, and it leaves generation alone.
    let st = pools
        .patch_status(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"resources": {"nodes": "0"}}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["resources"]["nodes"], "0");
    assert_eq!(st.metadata.generation, Some(1));
    let sp = pools
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"weight": 10}, "status": {"nodes": 99}})),
        )
        .await
        .unwrap();
    assert_eq!(sp.metadata.generation, Some(2));
    assert!(sp.data["status"].get("nodes").is_none());

    // The schema rejects what upstream rejects.
    let bad: DynamicObject = serde_json::from_value(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "bad"},
        "spec": {"disruption": {"consolidationPolicy": "Sometimes", "consolidateAfter": "1m"}, "template": {"spec": {"nodeClassRef": {"group": "g", "kind": "k", "name": "n"}, "requirements": []}}}})).unwrap();
    assert_eq!(
        code(
            pools
                .create(&PostParams::default(), &bad)
                .await
                .unwrap_err()
        ),
        422
    );

    // Deleting the CRD removes its resources.
    crds.delete("nodepools.karpenter.sh", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        code(pools.list(&ListParams::default()).await.unwrap_err()),
        404
    );
    let claims = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("karpenter.sh", "v1", "NodeClaim"),
        "nodeclaims",
    );
    let claims: Api<DynamicObject> = Api::all_with(client, &claims);
    assert!(claims
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn watcher_and_reflector_recover_from_a_forced_410() {
    // Long bookmark interval: the watcher must not advance past the compaction point by bookmarks.
    let (sim, client) = start_with(SimConfig {
        bookmark_interval: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("w1", json!({"watched": "yes"})))
        .await
        .unwrap();
    let (reader, writer) = reflector::store::<ConfigMap>();
    let inits = Arc::new(AtomicUsize::new(0));
    let inits2 = inits.clone();
    let stream = reflector(
        writer,
        watcher(
            api.clone(),
            watcher::Config::default().labels("watched=yes"),
        ),
    )
    .inspect_ok(move |e| {
        if matches!(e, watcher::Event::Init) {
            inits2.fetch_add(1, Ordering::SeqCst);
        }
    })
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    has_len(&reader, "initial sync", 1).await;
    assert_eq!(inits.load(Ordering::SeqCst), 1);

    api.create(&PostParams::default(), &cm("w2", json!({"watched": "yes"})))
        .await
        .unwrap();
    has_len(&reader, "w2 seen", 2).await;
    // Something elsewhere moves the version, history is compacted, watches are cut: resuming from
    // the watcher's last version gets 410 Gone and kube-rs relists.
    api.delete("w1", &DeleteParams::default()).await.unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap(),
        )
        .await
        .unwrap();
    sim.store().compact();
    sim.drop_watches();
    let i = inits.clone();
    eventually("relist after 410", || {
        let i = i.clone();
        async move { i.load(Ordering::SeqCst) >= 2 }
    })
    .await;
    let r = reader.clone();
    eventually("store converged", || {
        let r = r.clone();
        async move {
            r.state().iter().map(|c| c.name_any()).collect::<Vec<_>>() == vec!["w2".to_string()]
        }
    })
    .await;
    task.abort();

    // Over plain HTTP: a watch from a compacted version is one ERROR event with a 410 Status.
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1&timeoutSeconds=1",
        sim.base_url()
    );
    let body = reqwest::Client::new()
        .get(url)
        .bearer_auth(sim.admin_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ev: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(
        sim.gone_watches() >= 2,
        "the watcher's resume and the plain watch were both answered 410"
    );
}

/// A restart of the API server keeps every object and resourceVersions going on: while it is
/// down the port refuses connections, after it a reflector resumes its watch and sees new
/// objects, and the versions it read before are still valid (no 410 without a compaction).
#[tokio::test]
async fn a_restart_keeps_the_store_and_watchers_resume() {
    let (sim, client) = start().await;
    let sim = Arc::new(sim);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &cm("r1", json!({"watched": "yes"})))
        .await
        .unwrap();
    let (reader, writer) = reflector::store::<ConfigMap>();
    let stream = reflector(
        writer,
        watcher(
            api.clone(),
            watcher::Config::default().labels("watched=yes"),
        ),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    has_len(&reader, "initial sync", 1).await;
    let rv_before = sim.store().resource_version();
    let restarting = tokio::spawn({
        let sim = sim.clone();
        async move { sim.restart(Duration::from_millis(800)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        tokio::net::TcpStream::connect(sim.addr()).await.is_err(),
        "the port refuses connections while the server is down"
    );
    restarting.await.unwrap().unwrap();
    api.create(&PostParams::default(), &cm("r2", json!({"watched": "yes"})))
        .await
        .unwrap();
    has_len(&reader, "the watch resumed after the restart", 2).await;
    assert!(sim.store().resource_version() > rv_before);
    assert_eq!(api.get("r1").await.unwrap().name_any(), "r1");
    assert_eq!(sim.gone_watches(), 0, "no compaction, no 410");
    task.abort();
}

struct Ctx {
    api: Api<ConfigMap>,
    cleaned: AtomicUsize,
}

async fn reconcile(
    cm: Arc<ConfigMap>,
    ctx: Arc<Ctx>,
) -> Result<Action, kube::runtime::finalizer::Error<kube::Error>> {
    let c = ctx.clone();
    finalizer(&ctx.api, "sim.test/cleanup", cm, |ev| async move {
        match ev {
            Fin::Apply(_) => Ok(Action::await_change()),
            Fin::Cleanup(_) => {
                c.cleaned.fetch_add(1, Ordering::SeqCst);
                Ok(Action::await_change())
            }
        }
    })
    .await
}

#[tokio::test]
async fn controller_manages_a_finalizer() {
    let (_sim, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx {
        api: api.clone(),
        cleaned: AtomicUsize::new(0),
    });
    let ctl = Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(100)),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let task = tokio::spawn(ctl);
    api.create(&PostParams::default(), &cm("fin", json!({})))
        .await
        .unwrap();
    let a = api.clone();
    eventually("finalizer added", || {
        let a = a.clone();
        async move {
            a.get("fin")
                .await
                .map(|c| c.finalizers().contains(&"sim.test/cleanup".to_string()))
                .unwrap_or(false)
        }
    })
    .await;
    api.delete("fin", &DeleteParams::default()).await.unwrap();
    let a = api.clone();
    eventually("object gone after cleanup", || {
        let a = a.clone();
        async move { a.get_opt("fin").await.unwrap().is_none() }
    })
    .await;
    assert_eq!(ctx.cleaned.load(Ordering::SeqCst), 1);
    task.abort();
}

fn deployment(replicas: i32, image: &str) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "inflate", "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "inflate"}},
                 "template": {"metadata": {"labels": {"app": "inflate"}},
                              "spec": {"containers": [{"name": "inflate", "image": image, "resources": {"requests": {"cpu": "500m"}}}]}}}
    })
}

#[tokio::test]
async fn every_patch_type_and_status_and_scale() {
    let (_sim, client) = start().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let a = api
        .patch(
            "inflate",
            &PatchParams::apply("owner-a"),
            &Patch::Apply(deployment(0, "pause:3.9")),
        )
        .await
        .unwrap();
    assert_eq!(a.spec.as_ref().unwrap().replicas, Some(0));
    assert_eq!(
        a.metadata.managed_fields.as_ref().unwrap()[0]
            .manager
            .as_deref(),
        Some("owner-a")
    );
    // Another manager changing an owned field conflicts unless forced.
    let err = api
        .patch(
            "inflate",
            &PatchParams::apply("owner-b"),
            &Patch::Apply(deployment(3, "pause:3.9")),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert!(
                s.message.contains("owner-a") && s.message.contains(".spec.replicas"),
                "{}",
                s.message
            );
        }
        other => panic!("{other}"),
    }
    let forced = api
        .patch(
            "inflate",
            &PatchParams::apply("owner-b").force(),
            &Patch::Apply(deployment(3, "pause:3.9")),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.as_ref().unwrap().replicas, Some(3));

    let m = api
        .patch(
            "inflate",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "x"}}})),
        )
        .await
        .unwrap();
    assert_eq!(m.labels()["team"], "x");
    let gen = m.metadata.generation.unwrap();

    let jp: json_patch::Patch = serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 3}, {"op": "replace", "path": "/spec/replicas", "value": 5}])).unwrap();
    let j = api
        .patch("inflate", &PatchParams::default(), &Patch::Json::<()>(jp))
        .await
        .unwrap();
    assert_eq!(j.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(j.metadata.generation, Some(gen + 1));
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/spec/replicas", "value": 1}]))
            .unwrap();
    assert_eq!(
        code(
            api.patch(
                "inflate",
                &PatchParams::default(),
                &Patch::Json::<()>(failing)
            )
            .await
            .unwrap_err()
        ),
        422
    );

    let s = api
        .patch("inflate", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}})))
        .await
        .unwrap();
    let cs = &s
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers;
    assert_eq!(
        cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        vec!["inflate", "sidecar"]
    );
    assert_eq!(cs[0].image.as_deref(), Some("pause:3.9"));

    let st = api
        .patch_status(
            "inflate",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyReplicas": 2, "replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().unwrap().ready_replicas, Some(2));
    assert_eq!(st.metadata.generation, s.metadata.generation);

    let scale = api.get_scale("inflate").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(5));
    assert_eq!(
        scale.status.unwrap().selector.as_deref(),
        Some("app=inflate")
    );
    api.patch_scale(
        "inflate",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api.get("inflate").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
}

fn running_pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "pause"}]}}))
    .unwrap()
}

#[tokio::test]
async fn eviction_honours_pod_disruption_budgets() {
    let (_sim, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for n in ["p1", "p2"] {
        pods.create(&PostParams::default(), &running_pod(n))
            .await
            .unwrap();
        pods.patch_status(n, &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})))
            .await
            .unwrap();
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}})).unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    match pods.evict("p1", &EvictParams::default()).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert!(s.message.contains("disruption budget"));
        }
        other => panic!("{other}"),
    }
    assert!(pods.get_opt("p1").await.unwrap().is_some());
    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .unwrap();
    pods.evict("p1", &EvictParams::default()).await.unwrap();
    assert!(pods.get_opt("p1").await.unwrap().is_none());
    assert_eq!(
        pdbs.get("web")
            .await
            .unwrap()
            .status
            .unwrap()
            .disruptions_allowed,
        0
    );
    // A pod no budget selects is evicted freely.
    let mut lone = running_pod("lone");
    lone.metadata.labels = None;
    pods.create(&PostParams::default(), &lone).await.unwrap();
    pods.evict("lone", &EvictParams::default()).await.unwrap();
    assert!(pods.get_opt("lone").await.unwrap().is_none());
}

/// One round of a Lease-based election (the protocol lease managers implement): take the
/// lease when free or expired, with optimistic concurrency deciding races.
async fn try_lead(api: &Api<Lease>, me: &str, ttl_secs: i32) -> bool {
    let now = k8s_openapi::jiff::Timestamp::now();
    let mt = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now);
    match api.get_opt("leader").await.unwrap() {
        None => {
            let l: Lease = serde_json::from_value(json!({"metadata": {"name": "leader"},
                "spec": {"holderIdentity": me, "leaseDurationSeconds": ttl_secs}}))
            .unwrap();
            let mut l = l;
            l.spec.as_mut().unwrap().renew_time = Some(mt);
            api.create(&PostParams::default(), &l).await.is_ok()
        }
        Some(mut l) => {
            let spec = l.spec.get_or_insert_with(Default::default);
            let held_by_other = spec
                .holder_identity
                .as_deref()
                .is_some_and(|h| h != me && !h.is_empty());
            let expired = spec.renew_time.as_ref().is_none_or(|t| {
                t.0.as_second() + i64::from(spec.lease_duration_seconds.unwrap_or(0))
                    < now.as_second()
            });
            if held_by_other && !expired {
                return false;
            }
            spec.holder_identity = Some(me.to_string());
            spec.renew_time = Some(mt);
            spec.lease_duration_seconds = Some(ttl_secs);
            api.replace("leader", &PostParams::default(), &l)
                .await
                .is_ok()
        }
    }
}

#[tokio::test]
async fn lease_leader_election_elects_exactly_one() {
    let (_sim, client) = start().await;
    let api: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let (a, b) = tokio::join!(try_lead(&api, "a", 15), try_lead(&api, "b", 15));
    assert!(a ^ b, "exactly one candidate wins the race (a={a}, b={b})");
    let leader = if a { "a" } else { "b" };
    let follower = if a { "b" } else { "a" };
    assert!(try_lead(&api, leader, 15).await, "the leader renews");
    assert!(
        !try_lead(&api, follower, 15).await,
        "the follower waits while the lease is fresh"
    );
    // The leader steps down: the follower takes over.
    api.patch(
        "leader",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"holderIdentity": null}})),
    )
    .await
    .unwrap();
    assert!(try_lead(&api, follower, 15).await);
    assert_eq!(
        api.get("leader")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some(follower)
    );
}

#[tokio::test]
async fn recorder_events_are_visible_in_both_event_apis() {
    let (_sim, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let p = pods
        .create(&PostParams::default(), &running_pod("ev"))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sim-test".into(),
            instance: None,
        },
    );
    let ev = KEvent {
        type_: EventType::Normal,
        reason: "Nominated".into(),
        note: Some("pod should schedule".into()),
        action: "Provision".into(),
        secondary: None,
    };
    recorder.publish(&ev, &p.object_ref(&())).await.unwrap();
    recorder.publish(&ev, &p.object_ref(&())).await.unwrap();
    let v1: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = v1.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].series.as_ref().unwrap().count, 2);
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client, "default");
    let found = core
        .list(&ListParams::default().fields("involvedObject.name=ev,involvedObject.kind=Pod"))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(
        found.items[0].message.as_deref(),
        Some("pod should schedule")
    );
    assert_eq!(found.items[0].reason.as_deref(), Some("Nominated"));
}

fn owned(name: &str, owner: &ConfigMap, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "finalizers": finalizers, "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner.name_any(), "uid": owner.uid().unwrap(), "blockOwnerDeletion": true}]}})).unwrap()
}

#[tokio::test]
async fn garbage_collection_and_namespace_deletion() {
    let (_sim, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "gc"}})).unwrap(),
    )
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "gc");
    let pp = PostParams::default();

    let owner = api.create(&pp, &cm("owner", json!({}))).await.unwrap();
    api.create(&pp, &owned("dep", &owner, &[])).await.unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        api.get_opt("dep").await.unwrap().is_none(),
        "background deletion removes dependents"
    );

    let owner = api.create(&pp, &cm("owner", json!({}))).await.unwrap();
    api.create(&pp, &owned("dep", &owner, &[])).await.unwrap();
    api.delete("owner", &DeleteParams::orphan()).await.unwrap();
    let dep = api.get("dep").await.unwrap();
    assert!(
        dep.metadata.owner_references.unwrap_or_default().is_empty(),
        "orphaned dependents lose the reference"
    );
    api.delete("dep", &DeleteParams::default()).await.unwrap();

    let owner = api.create(&pp, &cm("owner", json!({}))).await.unwrap();
    api.create(&pp, &owned("held", &owner, &["test/hold"]))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let o = api.get("owner").await.unwrap();
    assert!(o.metadata.deletion_timestamp.is_some());
    assert!(o.finalizers().contains(&"foregroundDeletion".to_string()));
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
    assert!(
        api.get_opt("owner").await.unwrap().is_none(),
        "foreground owner goes once its dependents are gone"
    );

    api.create(
        &pp,
        &serde_json::from_value(
            json!({"metadata": {"name": "stuck", "finalizers": ["test/hold"]}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    api.create(&pp, &cm("plain", json!({}))).await.unwrap();
    nss.delete("gc", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("gc").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(api.get_opt("plain").await.unwrap().is_none());
    assert_eq!(
        code(api.create(&pp, &cm("late", json!({}))).await.unwrap_err()),
        403
    );
    api.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(nss.get_opt("gc").await.unwrap().is_none());
}

#[tokio::test]
async fn service_account_tokens_are_authorized_by_rbac() {
    let (sim, admin) = start().await;
    let rbac = json!([
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "cm-reader", "namespace": "default"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "cm-reader", "namespace": "default"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "default"}]},
    ]);
    let roles: Api<k8s_openapi::api::rbac::v1::Role> = Api::namespaced(admin.clone(), "default");
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(rbac[0].clone()).unwrap(),
        )
        .await
        .unwrap();
    let rbs: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(admin.clone(), "default");
    rbs.create(
        &PostParams::default(),
        &serde_json::from_value(rbac[1].clone()).unwrap(),
    )
    .await
    .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), "default")
        .create(&PostParams::default(), &cm("visible", json!({})))
        .await
        .unwrap();

    let token = sim.service_account_token("default", "ctl");
    let sa = client_for(&sim, &sim.kubeconfig_for("ctl", &token, "default")).await;
    let cms: Api<ConfigMap> = Api::namespaced(sa.clone(), "default");
    assert_eq!(
        cms.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("nope", json!({})))
                .await
                .unwrap_err()
        ),
        403
    );
    assert_eq!(
        code(
            Api::<ConfigMap>::namespaced(sa.clone(), "kube-system")
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        403
    );
    assert_eq!(
        code(
            Api::<Secret>::namespaced(sa.clone(), "default")
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        403
    );
    // The audit log has the three refusals, in order, by user, verb and resource.
    let refused = sim.forbidden_requests();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused[0].contains("system:serviceaccount:default:ctl")
            && refused[0].contains("cannot create resource \"configmaps\""),
        "{refused:?}"
    );
    assert!(
        refused[2].contains("cannot list resource \"secrets\""),
        "{refused:?}"
    );
    let bogus = client_for(&sim, &sim.kubeconfig_for("x", "not-a-token", "default")).await;
    assert_eq!(
        code(
            Api::<ConfigMap>::namespaced(bogus, "default")
                .list(&ListParams::default())
                .await
                .unwrap_err()
        ),
        401
    );
}

#[tokio::test]
async fn snapshot_restores_objects_and_crds_into_a_new_server() {
    let (sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd("karpenter.sh_nodepools.yaml"))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "kept", "labels": {"app": "x"}}, "data": {"k": "v"}
    }))
    .unwrap();
    let original = cms.create(&PostParams::default(), &cm).await.unwrap();
    let pool = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "np"},
        "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"}, "requirements": []}}}
    });
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("karpenter.sh", "v1", "NodePool"));
    let pools: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    pools
        .create(
            &PostParams::default(),
            &serde_json::from_value(pool).unwrap(),
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.json");
    karpenter_ovhcloud_sim::kube::write_snapshot(sim.store(), &path).unwrap();
    drop(sim);

    let (sim2, client2) = start().await;
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(sim2.store().restore(&snapshot).unwrap() > 3);
    let cms2: Api<ConfigMap> = Api::namespaced(client2.clone(), "default");
    let restored = cms2.get("kept").await.unwrap();
    assert_eq!(restored.metadata.uid, original.metadata.uid);
    assert_eq!(restored.data, original.data);
    assert_eq!(
        cms2.list(&ListParams::default().labels("app=x"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let pools2: Api<DynamicObject> = Api::all_with(client2.clone(), &ar);
    let np = pools2.get("np").await.unwrap();
    assert_eq!(np.data["spec"]["disruption"]["consolidateAfter"], "0s");
    // Updates keep working on restored objects (resourceVersions are the new server's).
    let mut changed = restored.clone();
    changed.data = Some([("k".to_string(), "w".to_string())].into());
    cms2.replace("kept", &PostParams::default(), &changed)
        .await
        .unwrap();

    // A custom resource without its CRD is refused before anything changes.
    let (sim3, _c3) = start().await;
    let orphan = json!({"kind": "SimulatorSnapshot", "items": [
        {"group": "karpenter.sh", "resource": "nodepools", "object": {"metadata": {"name": "np"}}}
    ]});
    let err = sim3.store().restore(&orphan).unwrap_err();
    assert!(err.contains("not served"), "{err}");
    assert!(sim3.store().restore(&json!({"items": []})).is_err());
}
