//! The CRD generator: the three CustomResourceDefinitions as YAML files, derived from the types
//! of this module (the single source of truth), for the Helm chart's `crds/` directory.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_core::CustomResourceExt;

use super::{NodeClaim, NodePool, OVHNodeClass};

/// Where the chart keeps the generated CRDs, relative to the repository root.
pub const CHART_CRDS_DIR: &str = "charts/karpenter-ovhcloud/crds";

/// The command that regenerates the committed CRDs.
pub const REGENERATE_COMMAND: &str =
    "cargo run -p karpenter-ovhcloud -- crdgen --out charts/karpenter-ovhcloud/crds";

/// One generated CRD file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdFile {
    /// File name, e.g. `karpenter.sh_nodepools.yaml` (upstream's naming).
    pub file_name: String,
    /// The YAML text.
    pub yaml: String,
}

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum CrdgenError {
    /// A CRD could not be written as YAML.
    #[error("cannot serialize CRD {name}: {source}")]
    Serialize {
        /// CRD name.
        name: String,
        /// Cause.
        source: serde_norway::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// The three CRDs, in file order, shaped as upstream's (see [`upstream_shape`]).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![NodePool::crd(), NodeClaim::crd(), OVHNodeClass::crd()]
        .into_iter()
        .map(upstream_shape)
        .collect()
}

/// What kube-derive writes differently from controller-gen, which upstream's CRDs come from:
/// `nullable: true` on every optional field (upstream has none: an explicit null is pruned,
/// not stored), no `apiVersion`/`kind`/`metadata` at the root, no `listKind`.
pub fn upstream_shape(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut v = serde_json::to_value(&crd).expect("a CRD serializes");
    let kind = v["spec"]["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    v["spec"]["names"]["listKind"] = format!("{kind}List").into();
    for version in v["spec"]["versions"].as_array_mut().into_iter().flatten() {
        let root = &mut version["schema"]["openAPIV3Schema"];
        drop_nullable(root);
        if let Some(props) = root["properties"].as_object_mut() {
            props.insert("apiVersion".into(), serde_json::json!({
                "description": "APIVersion defines the versioned schema of this representation of an object.\nServers should convert recognized schemas to the latest internal value, and\nmay reject unrecognized values.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string",
            }));
            props.insert("kind".into(), serde_json::json!({
                "description": "Kind is a string value representing the REST resource this object represents.\nServers may infer this from the endpoint the client submits requests to.\nCannot be updated.\nIn CamelCase.\nMore info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string",
            }));
            props.insert("metadata".into(), serde_json::json!({"type": "object"}));
        }
    }
    serde_json::from_value(v).expect("the reshaped CRD is a CRD")
}

fn drop_nullable(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(obj) => {
            obj.remove("nullable");
            obj.values_mut().for_each(drop_nullable);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nullable),
        _ => {}
    }
}

/// File name of a CRD: `{group}_{plural}.yaml`, as upstream names them.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// Renders every CRD file in memory.
pub fn render() -> Result<Vec<CrdFile>, CrdgenError> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body =
                serde_norway::to_string(&crd).map_err(|source| CrdgenError::Serialize {
                    name: name.clone(),
                    source,
                })?;
            Ok(CrdFile {
                file_name: file_name(&crd),
                yaml: format!(
                    "# Generated from core/src/api by `{REGENERATE_COMMAND}`. Do not edit.\n---\n{body}"
                ),
            })
        })
        .collect()
}

/// Writes every CRD file into `dir` (created if missing); returns the paths written.
pub fn write(dir: &Path) -> Result<Vec<String>, CrdgenError> {
    std::fs::create_dir_all(dir).map_err(|source| CrdgenError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for file in render()? {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, &file.yaml).map_err(|source| CrdgenError::Write {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
