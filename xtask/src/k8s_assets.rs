//! `cargo xtask k8s-assets`: the simulated API server's Kubernetes protobuf assets.
//!
//! Compiles the .proto files k8s-pb 0.8.0 was generated from (Kubernetes 1.33.1) into a
//! FileDescriptorSet (`sim/src/kube/assets/k8s-1.33.fds`, without source info) and derives from
//! the Go struct tags (kubernetes/api, apimachinery, apiextensions-apiserver at v0.33.1) the
//! JSON facts no proto carries (`sim/src/kube/pb/gotags.rs`): which scalar fields Go omits when
//! zero, which sub-messages are embedded (inlined) in JSON, and which fields JSON names
//! differently. It also trims the upstream OpenAPI v2 document (`swagger.json` of Kubernetes
//! 1.33.1) to the definitions of the kinds the sim serves and everything they reference
//! (`sim/src/kube/assets/k8s-1.33-definitions.json`, keys sorted, minified): the built-in
//! schemas of `/openapi/v2`, `/openapi/v3`, `kubectl explain` and server-side field validation.
//! `--check` regenerates in memory and compares with the committed files.
//!
//! Sources: `--k8s-pb DIR` is a checkout of kube-rs/k8s-pb at tag 0.8.0 (its
//! `k8s-pb-codegen/protos/` and `k8s-pb-codegen/openapi/swagger.json`); `--go DIR` holds
//! `api/`, `apimachinery/` and `apiextensions-apiserver/` checkouts at v0.33.1. For example:
//!
//! ```text
//! git clone -b 0.8.0 https://github.com/kube-rs/k8s-pb /tmp/k8s-pb
//! for r in api apimachinery apiextensions-apiserver; do
//!   git clone -b v0.33.1 https://github.com/kubernetes/$r /tmp/go/$r; done
//! cargo xtask k8s-assets --k8s-pb /tmp/k8s-pb --go /tmp/go [--check]
//! ```

use anyhow::{bail, Context, Result};
use prost_reflect::{DescriptorPool, Kind};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The descriptor set the sim embeds.
const FDS: &str = "sim/src/kube/assets/k8s-1.33.fds";
/// The generated Go-tag tables.
const GOTAGS: &str = "sim/src/kube/pb/gotags.rs";
/// The trimmed OpenAPI v2 definitions.
const DEFINITIONS: &str = "sim/src/kube/assets/k8s-1.33-definitions.json";

/// The definitions kept (with everything they reference): the kinds the sim serves and their
/// lists, the bodies of their subresources, the meta types of every API, and the workload kinds
/// the sim is expected to serve next (Job, CronJob, PriorityClass).
const OPENAPI_ROOTS: &[&str] = &[
    "io.k8s.api.core.v1.Namespace",
    "io.k8s.api.core.v1.Pod",
    "io.k8s.api.core.v1.Node",
    "io.k8s.api.core.v1.ConfigMap",
    "io.k8s.api.core.v1.Secret",
    "io.k8s.api.core.v1.Service",
    "io.k8s.api.core.v1.ServiceAccount",
    "io.k8s.api.core.v1.Event",
    "io.k8s.api.core.v1.Binding",
    "io.k8s.api.events.v1.Event",
    "io.k8s.api.apps.v1.Deployment",
    "io.k8s.api.apps.v1.ReplicaSet",
    "io.k8s.api.apps.v1.DaemonSet",
    "io.k8s.api.policy.v1.PodDisruptionBudget",
    "io.k8s.api.policy.v1.Eviction",
    "io.k8s.api.coordination.v1.Lease",
    "io.k8s.api.rbac.v1.Role",
    "io.k8s.api.rbac.v1.RoleBinding",
    "io.k8s.api.rbac.v1.ClusterRole",
    "io.k8s.api.rbac.v1.ClusterRoleBinding",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    "io.k8s.api.authorization.v1.SelfSubjectAccessReview",
    "io.k8s.api.autoscaling.v1.Scale",
    "io.k8s.api.batch.v1.Job",
    "io.k8s.api.batch.v1.CronJob",
    "io.k8s.api.scheduling.v1.PriorityClass",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
    "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
];

/// Protos compiled, relative to k8s-pb's `k8s-pb-codegen/protos` (their imports come along).
const PROTOS: &[&str] = &[
    "api/core/v1/generated.proto",
    "api/apps/v1/generated.proto",
    "api/policy/v1/generated.proto",
    "api/coordination/v1/generated.proto",
    "api/rbac/v1/generated.proto",
    "api/events/v1/generated.proto",
    "api/authorization/v1/generated.proto",
    "api/autoscaling/v1/generated.proto",
    "api/batch/v1/generated.proto",
    "api/scheduling/v1/generated.proto",
    "apiextensions-apiserver/pkg/apis/apiextensions/v1/generated.proto",
    "apimachinery/pkg/apis/meta/v1/generated.proto",
    "apimachinery/pkg/runtime/generated.proto",
    "apimachinery/pkg/runtime/schema/generated.proto",
    "apimachinery/pkg/util/intstr/generated.proto",
    "apimachinery/pkg/api/resource/generated.proto",
];

/// Go package directories (under `--go`) and the proto package their structs are messages of.
const GO_PACKAGES: &[(&str, &str)] = &[
    ("api/core/v1", "api.core.v1"),
    ("api/apps/v1", "api.apps.v1"),
    ("api/policy/v1", "api.policy.v1"),
    ("api/coordination/v1", "api.coordination.v1"),
    ("api/rbac/v1", "api.rbac.v1"),
    ("api/events/v1", "api.events.v1"),
    ("api/authorization/v1", "api.authorization.v1"),
    ("api/autoscaling/v1", "api.autoscaling.v1"),
    ("api/batch/v1", "api.batch.v1"),
    ("api/scheduling/v1", "api.scheduling.v1"),
    (
        "apiextensions-apiserver/pkg/apis/apiextensions/v1",
        "apiextensions_apiserver.pkg.apis.apiextensions.v1",
    ),
    (
        "apimachinery/pkg/apis/meta/v1",
        "apimachinery.pkg.apis.meta.v1",
    ),
];

/// Entry point: `k8s-assets --k8s-pb DIR --go DIR [--check]`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let mut k8s_pb = None;
    let mut go = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--k8s-pb" => k8s_pb = it.next().map(PathBuf::from),
            "--go" => go = it.next().map(PathBuf::from),
            "--check" => check = true,
            other => bail!("k8s-assets: unknown argument {other}"),
        }
    }
    let (Some(k8s_pb), Some(go)) = (k8s_pb, go) else {
        bail!("usage: cargo xtask k8s-assets --k8s-pb <kube-rs/k8s-pb@0.8.0> --go <dir with api, apimachinery, apiextensions-apiserver @v0.33.1> [--check]")
    };
    let (fds, pool) = descriptors(&k8s_pb.join("k8s-pb-codegen/protos"))?;
    let gotags = gotags(&go, &pool)?;
    let definitions = definitions(&k8s_pb.join("k8s-pb-codegen/openapi/swagger.json"))?;
    let outputs = [
        (FDS, fds),
        (GOTAGS, gotags.into_bytes()),
        (DEFINITIONS, definitions.into_bytes()),
    ];
    for (path, bytes) in outputs {
        let path = root.join(path);
        if check {
            let current =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            if current != bytes {
                bail!(
                    "{} is stale: run cargo xtask k8s-assets without --check",
                    path.display()
                );
            }
            eprintln!("xtask: {} matches its sources", path.display());
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("xtask: wrote {} ({} bytes)", path.display(), bytes.len());
        }
    }
    Ok(())
}

/// The `definitions` of `swagger.json` reachable from [`OPENAPI_ROOTS`] (each root's `...List`
/// too, when upstream has one), as minified JSON with sorted keys.
fn definitions(swagger: &Path) -> Result<String> {
    let text = std::fs::read_to_string(swagger)
        .with_context(|| format!("reading {}", swagger.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", swagger.display()))?;
    let Some(all) = doc.get("definitions").and_then(|d| d.as_object()) else {
        bail!("{} has no definitions", swagger.display());
    };
    let mut todo: Vec<String> = Vec::new();
    for r in OPENAPI_ROOTS {
        if !all.contains_key(*r) {
            bail!("{} has no definition {r}", swagger.display());
        }
        todo.push(r.to_string());
        let list = format!("{r}List");
        if all.contains_key(&list) {
            todo.push(list);
        }
    }
    let mut kept = std::collections::BTreeMap::new();
    while let Some(name) = todo.pop() {
        if kept.contains_key(&name) {
            continue;
        }
        let Some(def) = all.get(&name) else {
            bail!(
                "{} references a missing definition {name}",
                swagger.display()
            );
        };
        refs(def, &mut todo);
        kept.insert(name, def);
    }
    let mut out = String::from("{");
    for (i, (name, def)) in kept.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(name)?);
        out.push(':');
        sorted_json(def, &mut out)?;
    }
    out.push_str("}\n");
    Ok(out)
}

/// The definitions a schema's `$ref`s name.
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x.as_str()) {
                    ("$ref", Some(r)) => {
                        if let Some(name) = r.strip_prefix("#/definitions/") {
                            out.push(name.to_string());
                        }
                    }
                    _ => refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Minified JSON with object keys sorted, whatever serde_json's map order is.
fn sorted_json(v: &serde_json::Value, out: &mut String) -> Result<()> {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k)?);
                out.push(':');
                sorted_json(&m[k], out)?;
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                sorted_json(x, out)?;
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other)?),
    }
    Ok(())
}

/// The encoded FileDescriptorSet (imports included, no source info) and its pool.
fn descriptors(protos: &Path) -> Result<(Vec<u8>, DescriptorPool)> {
    let mut compiler = protox::Compiler::new([protos])?;
    compiler.include_imports(true).include_source_info(false);
    compiler
        .open_files(PROTOS)
        .map_err(|e| anyhow::anyhow!("compiling the protos under {}: {e}", protos.display()))?;
    Ok((
        compiler.encode_file_descriptor_set(),
        compiler.descriptor_pool(),
    ))
}

/// One field of a Go struct: its Go type, its JSON tag and its protobuf field number.
struct GoField {
    ty: String,
    json: String,
    proto: Option<u32>,
}

/// `tag:"value"` inside a Go struct tag.
fn tag<'a>(tags: &'a str, key: &str) -> Option<&'a str> {
    let start = tags.find(&format!("{key}:\""))? + key.len() + 2;
    let len = tags[start..].find('"')?;
    Some(&tags[start..start + len])
}

/// The fields of every struct in the Go files of one directory, by struct name.
fn go_structs(dir: &Path) -> Result<Vec<(String, Vec<GoField>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".go") && !name.ends_with("_test.go") && !name.starts_with("zz_")
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let mut current: Option<(String, Vec<GoField>)> = None;
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("type ") {
                if let Some(name) = rest.strip_suffix(" struct {") {
                    current = Some((name.trim().to_string(), Vec::new()));
                }
                continue;
            }
            let Some((name, fields)) = current.as_mut() else {
                continue;
            };
            if line == "}" {
                out.push((std::mem::take(name), std::mem::take(fields)));
                current = None;
                continue;
            }
            let Some((decl, tags)) = line.split_once('`') else {
                continue;
            };
            let words: Vec<&str> = decl.split_whitespace().collect();
            let ty = match words.as_slice() {
                [_, ty] | [ty] => ty.to_string(),
                _ => continue,
            };
            let Some(json) = tag(tags, "json") else {
                continue;
            };
            // `protobuf:"bytes,2,opt,name=volumeSource"` (embedded structs may have no name).
            let proto = tag(tags, "protobuf").and_then(|p| p.split(',').nth(1)?.parse().ok());
            fields.push(GoField {
                ty,
                json: json.to_string(),
                proto,
            });
        }
    }
    Ok(out)
}

/// The Rust source of `pb/gotags.rs`.
fn gotags(go: &Path, pool: &DescriptorPool) -> Result<String> {
    let mut omit_zero = BTreeSet::new();
    let mut inline = BTreeSet::new();
    let mut rename = BTreeSet::new();
    for (dir, package) in GO_PACKAGES {
        for (name, fields) in go_structs(&go.join(dir))? {
            let Some(message) = pool.get_message_by_name(&format!("{package}.{name}")) else {
                continue;
            };
            for f in fields {
                let Some(field) = f.proto.and_then(|n| message.get_field(n)) else {
                    continue;
                };
                let proto = field.name().to_string();
                let (json_name, opts) = f.json.split_once(',').unwrap_or((&f.json, ""));
                let key = (message.full_name().to_string(), proto.clone());
                if opts.split(',').any(|o| o == "inline") {
                    inline.insert(key);
                    continue;
                }
                if json_name == "-" {
                    continue;
                }
                if json_name != proto {
                    rename.insert((key.0.clone(), key.1.clone(), json_name.to_string()));
                }
                let scalar = !matches!(field.kind(), Kind::Message(_))
                    && !field.is_list()
                    && !field.is_map();
                let omitempty = opts.split(',').any(|o| o == "omitempty");
                if scalar && omitempty && !f.ty.starts_with('*') && !f.ty.starts_with("[]") {
                    omit_zero.insert(key);
                }
            }
        }
    }
    let mut s = String::from(
        "//! Generated by `cargo xtask k8s-assets` from the Go struct tags of kubernetes/api,\n\
         //! apimachinery and apiextensions-apiserver v0.33.1. Do not edit.\n\n",
    );
    let table = |s: &mut String, doc: &str, name: &str, rows: &BTreeSet<(String, String)>| {
        let _ = writeln!(s, "{doc}\npub(super) const {name}: &[(&str, &str)] = &[");
        for (m, f) in rows {
            let _ = writeln!(s, "    ({m:?}, {f:?}),");
        }
        s.push_str("];\n\n");
    };
    table(
        &mut s,
        "/// Non-pointer scalar fields with `omitempty` (message, proto field): gogo encodes their\n\
         /// zero, Go's JSON omits it.",
        "OMIT_ZERO",
        &omit_zero,
    );
    table(
        &mut s,
        "/// Embedded structs (`json:\",inline\"`): a sub-message in protobuf, flattened in JSON.",
        "INLINE",
        &inline,
    );
    s.push_str(
        "/// Fields whose JSON name is not their proto name (message, proto field, JSON name).\n\
         pub(super) const RENAME: &[(&str, &str, &str)] = &[\n",
    );
    for (m, f, j) in &rename {
        let _ = writeln!(s, "    ({m:?}, {f:?}, {j:?}),");
    }
    s.push_str("];\n");
    Ok(s)
}
