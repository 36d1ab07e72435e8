//! Policies from ConfigMaps: a ConfigMap of the controller's namespace labelled
//! `karpenter.ovhcloud.sh/policy=<world>` carries a component under `binaryData.policy.wasm`
//! and an optional `data.config.json`. Each one is compiled and smoke-tested off the async
//! executor, then swapped in atomically as the world's active policy (unless annotated
//! `karpenter.ovhcloud.sh/policy-default: "false"`) and kept by name for NodePools that name
//! it with the `karpenter.ovhcloud.sh/policy` annotation. A bad ConfigMap leaves the previous
//! policy active, with an Event on the ConfigMap and a log line saying why. Deleting the
//! ConfigMap of the active policy brings the embedded default back.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, ResourceExt};

use crate::api::labels::POLICY_ANNOTATION;
use crate::controller::context::Context;
use crate::policy::{PolicySource, World};

/// Key of the component in `binaryData`.
pub const WASM_KEY: &str = "policy.wasm";
/// Key of the JSON configuration in `data`.
pub const CONFIG_KEY: &str = "config.json";
/// Annotation that keeps a policy ConfigMap from becoming its world's default.
pub const DEFAULT_ANNOTATION: &str = "karpenter.ovhcloud.sh/policy-default";

/// What a ConfigMap holds, checked.
#[derive(Debug, PartialEq)]
pub struct PolicyConfigMap {
    /// World (from the label).
    pub world: World,
    /// Component bytes.
    pub wasm: Vec<u8>,
    /// JSON configuration, or "".
    pub config: String,
    /// Whether it becomes the world's active policy.
    pub default: bool,
}

/// Reads a policy ConfigMap; Err says what is wrong with it.
pub fn parse(cm: &ConfigMap) -> Result<PolicyConfigMap, String> {
    let world_label = cm
        .labels()
        .get(POLICY_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let world: World = world_label
        .parse()
        .map_err(|e| format!("label {POLICY_ANNOTATION}={world_label:?}: {e}"))?;
    let wasm = cm
        .binary_data
        .as_ref()
        .and_then(|d| d.get(WASM_KEY))
        .map(|b| b.0.clone())
        .ok_or_else(|| format!("binaryData.{WASM_KEY} is missing"))?;
    let config = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CONFIG_KEY))
        .cloned()
        .unwrap_or_default();
    if !config.is_empty() {
        serde_json::from_str::<serde_json::Value>(&config)
            .map_err(|e| format!("data.{CONFIG_KEY} is not JSON: {e}"))?;
    }
    let default = cm.annotations().get(DEFAULT_ANNOTATION).map(String::as_str) != Some("false");
    Ok(PolicyConfigMap {
        world,
        wasm,
        config,
        default,
    })
}

/// Watches the policy ConfigMaps and loads them.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.kube.client.clone(), &ctx.settings.namespace);
    let config = watcher::Config::default().labels(POLICY_ANNOTATION);
    let mut stream = std::pin::pin!(watcher::watcher(api, config).default_backoff());
    // ConfigMap name -> (world, digest of bytes+config) loaded from it.
    let mut loaded: HashMap<String, (World, String)> = HashMap::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(cm)) | Ok(Event::InitApply(cm)) => apply(&ctx, &cm, &mut loaded).await,
            Ok(Event::Delete(cm)) => remove(&ctx, &cm.name_any(), &mut loaded),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "policy ConfigMap watch error; retrying"),
        }
    }
}

fn fingerprint(p: &PolicyConfigMap) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(&p.wasm);
    h.update([0]);
    h.update(p.config.as_bytes());
    h.update([p.default as u8]);
    hex::encode(h.finalize())
}

async fn apply(ctx: &Arc<Context>, cm: &ConfigMap, loaded: &mut HashMap<String, (World, String)>) {
    let name = cm.name_any();
    let parsed = match parse(cm) {
        Ok(p) => p,
        Err(why) => {
            refuse(ctx, cm, &why).await;
            return;
        }
    };
    let print = fingerprint(&parsed);
    if loaded.get(&name).is_some_and(|(_, d)| *d == print) {
        return;
    }
    let set = ctx.policies.set.clone();
    let source = PolicySource::Loaded(format!("configmap {}/{name}", ctx.settings.namespace));
    let world = parsed.world;
    let config = parsed.config.clone();
    let prepared =
        tokio::task::spawn_blocking(move || set.prepare(world, &parsed.wasm, config, source)).await;
    let policy = match prepared {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            refuse(ctx, cm, &e.to_string()).await;
            return;
        }
        Err(e) => {
            refuse(ctx, cm, &format!("compilation task failed: {e}")).await;
            return;
        }
    };
    let digest = policy.policy.info.digest.to_string();
    let meta = policy.policy.metadata.clone();
    if world == World::FlavorSelection {
        ctx.policies
            .loaded
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), policy.clone());
    }
    let is_default = cm.annotations().get(DEFAULT_ANNOTATION).map(String::as_str) != Some("false");
    if is_default {
        ctx.policies.set.activate(policy);
    }
    loaded.insert(name.clone(), (world, print));
    tracing::info!(configmap = %name, %world, policy = %meta.name, version = %meta.version, %digest,
        active = is_default, "policy loaded from ConfigMap");
    ctx.kube
        .event(
            cm,
            false,
            "PolicyLoaded",
            "LoadPolicy",
            format!(
                "{world} policy {} {} ({digest}) loaded{}",
                meta.name,
                meta.version,
                if is_default { " and active" } else { "" }
            ),
        )
        .await;
}

async fn refuse(ctx: &Context, cm: &ConfigMap, why: &str) {
    let name = cm.name_any();
    tracing::warn!(configmap = %name, reason = %why, "policy ConfigMap refused; the previous policy stays active");
    ctx.kube
        .event(
            cm,
            true,
            "PolicyRefused",
            "LoadPolicy",
            format!("refused, the previous policy stays active: {why}"),
        )
        .await;
}

fn remove(ctx: &Context, name: &str, loaded: &mut HashMap<String, (World, String)>) {
    ctx.policies
        .loaded
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .remove(name);
    let Some((world, _)) = loaded.remove(name) else {
        return;
    };
    let origin = format!("configmap {}/{name}", ctx.settings.namespace);
    if ctx.policies.set.active(world).source == PolicySource::Loaded(origin) {
        tracing::info!(configmap = %name, %world, "policy ConfigMap deleted; the embedded default is active again");
        ctx.policies.set.reset(world);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configmaps_say_what_is_wrong() {
        let cm = |v: serde_json::Value| -> ConfigMap { serde_json::from_value(v).unwrap() };
        let bad_world =
            cm(json!({"metadata": {"name": "p", "labels": {POLICY_ANNOTATION: "packing"}}}));
        assert!(parse(&bad_world).unwrap_err().contains("packing"));
        let no_wasm = cm(
            json!({"metadata": {"name": "p", "labels": {POLICY_ANNOTATION: "flavor-selection"}}}),
        );
        assert!(parse(&no_wasm).unwrap_err().contains(WASM_KEY));
        let bad_config = cm(
            json!({"metadata": {"name": "p", "labels": {POLICY_ANNOTATION: "flavor-selection"}},
            "binaryData": {WASM_KEY: "AGFzbQ=="}, "data": {CONFIG_KEY: "{nope"}}),
        );
        assert!(parse(&bad_config).unwrap_err().contains("JSON"));
        let ok = cm(
            json!({"metadata": {"name": "p", "labels": {POLICY_ANNOTATION: "drift"},
                "annotations": {DEFAULT_ANNOTATION: "false"}},
            "binaryData": {WASM_KEY: "AGFzbQ=="}, "data": {CONFIG_KEY: "{\"a\":1}"}}),
        );
        let p = parse(&ok).unwrap();
        assert_eq!(
            (p.world, p.wasm.as_slice(), p.default),
            (World::Drift, b"\0asm".as_slice(), false)
        );
    }
}
