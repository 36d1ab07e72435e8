//! What the demo applies, and how: the guide's `demo/` files, the chart's CRDs and its
//! rendering for the simulators, all embedded in the binary (the demo runs from any directory),
//! `envsubst` as the guide runs it, and `kubectl apply` / `kubectl scale` done over HTTP with
//! kube-rs: discovery, then server-side apply, as kubectl 1.32 does with `--server-side`.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context as _};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, ApiCapabilities, ApiResource, Scope};
use serde::Deserialize as _;
use serde_json::{json, Value};
use tokio::sync::Mutex;

/// Field manager of every write the demo makes (what `kubectl apply --field-manager` sets).
const FIELD_MANAGER: &str = "karpenter-ovhcloud-demo";
/// The annotation client-side `kubectl apply` keeps its last applied configuration in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A file of the guide's `demo/` directory, as committed.
macro_rules! guide_file {
    ($name:literal) => {
        ($name, include_str!(concat!("../../../../demo/", $name)))
    };
}

/// The YAML files of the guide's `demo/` directory (the scripts 00 and 99 are for a real
/// cluster: the demo checks and removes nothing outside its own simulators).
const GUIDE_FILES: &[(&str, &str)] = &[
    guide_file!("01-namespace-secret.yaml"),
    guide_file!("02-ovhnodeclass.yaml"),
    guide_file!("03-nodepool-basic.yaml"),
    guide_file!("04-inflate.yaml"),
    guide_file!("05-nodepool-multi-flavor.yaml"),
    guide_file!("06-small-workload.yaml"),
    guide_file!("07-large-workload.yaml"),
    guide_file!("08-nodepool-multizone.yaml"),
    guide_file!("09-zone-spread.yaml"),
    guide_file!("10-ovhnodeclass-monthly.yaml"),
    guide_file!("11-nodepool-monthly.yaml"),
    guide_file!("12-ovhnodeclass-antiaffinity.yaml"),
];

/// The guide file `name` (e.g. `03-nodepool-basic.yaml`).
pub fn guide_file(name: &str) -> anyhow::Result<&'static str> {
    GUIDE_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .with_context(|| format!("{name} is not one of the guide's files"))
}

/// The chart's CRDs (`helm install` applies `crds/` before the templates).
pub const CRDS: &[(&str, &str)] = &[
    (
        "karpenter.sh_nodepools.yaml",
        include_str!("../../../../charts/karpenter-ovhcloud/crds/karpenter.sh_nodepools.yaml"),
    ),
    (
        "karpenter.sh_nodeclaims.yaml",
        include_str!("../../../../charts/karpenter-ovhcloud/crds/karpenter.sh_nodeclaims.yaml"),
    ),
    (
        "karpenter.ovhcloud.sh_ovhnodeclasses.yaml",
        include_str!(
            "../../../../charts/karpenter-ovhcloud/crds/karpenter.ovhcloud.sh_ovhnodeclasses.yaml"
        ),
    ),
];

/// The guide's `helm install` rendered for the simulated project and cluster (kept fresh by
/// the chart tests).
pub const RENDERED_CHART: &str =
    include_str!("../../../../charts/rendered/karpenter-ovhcloud-sim.yaml");

/// Every non-empty YAML document of `text`, as JSON.
pub fn documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).context("invalid YAML")?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// `envsubst` as the guide runs it on its files: every `${NAME}` replaced by its value in
/// `vars`. A placeholder without a value is an error (real envsubst would silently leave an
/// empty string, which the API server then rejects far from the cause).
pub fn envsubst(text: &str, vars: &[(&str, String)]) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .with_context(|| format!("unterminated placeholder near {:?}", &rest[start..]))?;
        let name = &after[..end];
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .with_context(|| format!("no value for ${{{name}}}"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The controller as the rendered chart deploys it.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedController {
    /// Namespace of the Deployment.
    pub namespace: String,
    /// Its ServiceAccount (the RBAC the chart grants).
    pub service_account: String,
    /// The container's arguments (`controller --namespace=... ...`).
    pub args: Vec<String>,
}

/// The controller of the rendered chart's Deployment: the demo runs it with these arguments,
/// under this ServiceAccount.
pub fn rendered_controller() -> anyhow::Result<RenderedController> {
    let deployment = documents(RENDERED_CHART)?
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .context("the rendered chart has no Deployment")?;
    let pod = &deployment["spec"]["template"]["spec"];
    let args = pod["containers"][0]["args"]
        .as_array()
        .context("the rendered Deployment's container has no args")?
        .iter()
        .map(|a| {
            a.as_str()
                .map(str::to_string)
                .context("a non-string container argument")
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(RenderedController {
        namespace: deployment["metadata"]["namespace"]
            .as_str()
            .context("the rendered Deployment has no namespace")?
            .to_string(),
        service_account: pod["serviceAccountName"]
            .as_str()
            .context("the rendered Deployment has no serviceAccountName")?
            .to_string(),
        args,
    })
}

/// Applies manifests and scales Deployments over the API server's HTTP API.
pub struct Applier {
    client: kube::Client,
    kinds: Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>,
}

/// How long a kind may stay unknown to discovery after its CRD was applied.
const DISCOVERY_WAIT: Duration = Duration::from_secs(10);

impl Applier {
    /// An applier using `client` (the admin's).
    pub fn new(client: kube::Client) -> Self {
        Applier {
            client,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    async fn resolve(
        &self,
        gvk: &GroupVersionKind,
    ) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
        if let Some(found) = self.kinds.lock().await.get(gvk) {
            return Ok(found.clone());
        }
        // A CRD applied a moment ago may not be served yet: retry, bounded.
        let deadline = tokio::time::Instant::now() + DISCOVERY_WAIT;
        let found = loop {
            match discovery::pinned_kind(&self.client, gvk).await {
                Ok(found) => break found,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e).with_context(|| {
                        format!(
                            "the API server does not serve {}/{} {}",
                            gvk.group, gvk.version, gvk.kind
                        )
                    })
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        self.kinds.lock().await.insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// `kubectl apply --server-side -f -` of every document of `text`; returns `kind/name` of
    /// each object, in order.
    pub async fn apply(&self, text: &str) -> anyhow::Result<Vec<String>> {
        let mut applied = Vec::new();
        for mut doc in documents(text)? {
            // What `kubectl apply` records, so the user's own `kubectl apply` of the same
            // guide file later is an ordinary update, not a warning about a missing annotation.
            let last_applied = serde_json::to_string(&doc)?;
            if !doc["metadata"]["annotations"].is_object() {
                doc["metadata"]["annotations"] = json!({});
            }
            doc["metadata"]["annotations"][LAST_APPLIED] = json!(last_applied);
            let api_version = doc["apiVersion"].as_str().unwrap_or_default();
            let kind = doc["kind"].as_str().unwrap_or_default();
            let name = doc["metadata"]["name"].as_str().unwrap_or_default();
            if api_version.is_empty() || kind.is_empty() || name.is_empty() {
                bail!("a document without apiVersion, kind or metadata.name: {doc}");
            }
            let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind);
            let (resource, caps) = self.resolve(&gvk).await?;
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => Api::namespaced_with(
                    self.client.clone(),
                    doc["metadata"]["namespace"].as_str().unwrap_or("default"),
                    &resource,
                ),
                Scope::Cluster => Api::all_with(self.client.clone(), &resource),
            };
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&doc),
            )
            .await
            .with_context(|| format!("applying {kind}/{name}"))?;
            applied.push(format!("{}/{name}", kind.to_lowercase()));
        }
        Ok(applied)
    }

    /// `kubectl scale deployment/NAME -n NAMESPACE --replicas=N` (the scale subresource).
    pub async fn scale(
        &self,
        namespace: &str,
        deployment: &str,
        replicas: u32,
    ) -> anyhow::Result<()> {
        let api: Api<k8s_openapi::api::apps::v1::Deployment> =
            Api::namespaced(self.client.clone(), namespace);
        api.patch_scale(
            deployment,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .with_context(|| format!("scaling deployment/{deployment} to {replicas}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(&'static str, String)> {
        vec![
            ("OVH_SERVICE_NAME", "5f1b".into()),
            ("OVH_REGION", "EU-WEST-PAR".into()),
        ]
    }

    #[test]
    fn envsubst_replaces_every_placeholder_and_refuses_unknown_ones() {
        assert_eq!(
            envsubst("a: \"${OVH_SERVICE_NAME}\"\nb: ${OVH_REGION}-x", &vars()).unwrap(),
            "a: \"5f1b\"\nb: EU-WEST-PAR-x"
        );
        assert_eq!(
            envsubst("no placeholder $HOME", &vars()).unwrap(),
            "no placeholder $HOME"
        );
        let err = envsubst("k: ${OVH_KUBE_ID}", &vars()).unwrap_err();
        assert!(err.to_string().contains("OVH_KUBE_ID"), "{err}");
        assert!(envsubst("k: ${OVH_REGION", &vars()).is_err());
    }

    #[test]
    fn every_guide_yaml_file_is_embedded_and_parses() {
        for (name, text) in GUIDE_FILES {
            let docs = documents(text).unwrap();
            assert!(!docs.is_empty(), "{name}");
            for d in docs {
                assert!(
                    d["kind"].is_string() && d["metadata"]["name"].is_string(),
                    "{name}"
                );
            }
        }
        assert!(guide_file("09-zone-spread.yaml").is_ok());
        assert!(guide_file("13-nope.yaml").is_err());
    }

    #[test]
    fn the_controller_runs_with_the_rendered_charts_arguments() {
        let rendered = rendered_controller().unwrap();
        assert_eq!(rendered.namespace, "karpenter");
        assert_eq!(rendered.service_account, "karpenter-ovhcloud");
        let args = rendered.args;
        assert_eq!(args[0], "controller");
        for flag in [
            "--service-name=",
            "--ovh-credentials-secret=",
            "--leader-elect=",
        ] {
            assert!(
                args.iter().any(|a| a.starts_with(flag)),
                "{flag} in {args:?}"
            );
        }
    }
}
