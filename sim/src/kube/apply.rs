//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Ownership is tracked per leaf field. Lists whose items have a merge key are tracked per item
//! (`k:{"name":"app"}`), other lists are atomic, as in kube-apiserver's structured-merge-diff.

use super::patch::{merge_key, strategic_merge};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// One element of a field path.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Elem {
    /// An object field.
    F(String),
    /// A list item identified by its key fields (JSON object text).
    K(String),
}

/// A leaf field path.
pub type Path = Vec<Elem>;

/// Which part of an object an operation touches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Part {
    /// Everything but status (status is kept apart when the resource has a status subresource).
    Main {
        /// Whether status is a separate subresource.
        status_separate: bool,
    },
    /// Only `.status`.
    Status,
}

const META_TRACKED: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// Leaf paths an object sets, limited to the part.
pub fn tracked_leaves(v: &Value, part: Part) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(m) = v.as_object() else { return out };
    for (k, child) in m {
        let keep = match part {
            Part::Status => k == "status",
            Part::Main { status_separate } => {
                !(k == "apiVersion" || k == "kind" || (k == "status" && status_separate))
            }
        };
        if !keep {
            continue;
        }
        if k == "metadata" {
            if let Some(meta) = child.as_object() {
                for mk in META_TRACKED {
                    if let Some(mv) = meta.get(*mk) {
                        let p = vec![Elem::F("metadata".into()), Elem::F(mk.to_string())];
                        leaves_into(mv, mk, p, &mut out);
                    }
                }
            }
            continue;
        }
        leaves_into(child, k, vec![Elem::F(k.clone())], &mut out);
    }
    out
}

fn item_key(field: &str, items: &[Value], item: &Value) -> Option<String> {
    let key = merge_key(field, items)?;
    let mut m = Map::new();
    m.insert(key.to_string(), item.get(key)?.clone());
    Some(Value::Object(m).to_string())
}

fn leaves_into(v: &Value, field: &str, prefix: Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = prefix.clone();
                p.push(Elem::F(k.clone()));
                leaves_into(c, k, p, out);
            }
        }
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|i| item_key(field, items, i).is_some()) =>
        {
            for i in items {
                let mut p = prefix.clone();
                p.push(Elem::K(item_key(field, items, i).unwrap_or_default()));
                match i.as_object() {
                    Some(m) if !m.is_empty() => {
                        for (k, c) in m {
                            let mut q = p.clone();
                            q.push(Elem::F(k.clone()));
                            leaves_into(c, k, q, out);
                        }
                    }
                    _ => {
                        out.insert(p);
                    }
                }
            }
        }
        _ => {
            out.insert(prefix);
        }
    }
}

/// Value at a path.
pub fn value_at<'a>(v: &'a Value, p: &[Elem]) -> Option<&'a Value> {
    let mut cur = v;
    for e in p {
        cur = match e {
            Elem::F(k) => cur.get(k)?,
            Elem::K(key) => {
                let key: Value = serde_json::from_str(key).ok()?;
                let km = key.as_object()?;
                cur.as_array()?
                    .iter()
                    .find(|i| km.iter().all(|(k, kv)| i.get(k) == Some(kv)))?
            }
        };
    }
    Some(cur)
}

/// Removes the field at a path (and the list item, if the path ends at one).
fn remove_path(v: &mut Value, p: &[Elem]) {
    let Some((last, parent)) = p.split_last() else {
        return;
    };
    let mut cur = v;
    for e in parent {
        cur = match e {
            Elem::F(k) => match cur.get_mut(k) {
                Some(c) => c,
                None => return,
            },
            Elem::K(key) => {
                let Ok(Value::Object(km)) = serde_json::from_str::<Value>(key) else {
                    return;
                };
                let Some(arr) = cur.as_array_mut() else {
                    return;
                };
                match arr
                    .iter_mut()
                    .find(|i| km.iter().all(|(k, kv)| i.get(k) == Some(kv)))
                {
                    Some(c) => c,
                    None => return,
                }
            }
        };
    }
    match last {
        Elem::F(k) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(k);
            }
        }
        Elem::K(key) => {
            if let (Ok(Value::Object(km)), Some(arr)) =
                (serde_json::from_str::<Value>(key), cur.as_array_mut())
            {
                arr.retain(|i| !km.iter().all(|(k, kv)| i.get(k) == Some(kv)));
            }
        }
    }
}

/// `.spec.containers[name="app"].image`, as kube-apiserver prints conflicting fields.
pub fn path_string(p: &[Elem]) -> String {
    let mut s = String::new();
    for e in p {
        match e {
            Elem::F(k) => {
                s.push('.');
                s.push_str(k);
            }
            Elem::K(key) => {
                if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(key) {
                    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    s.push_str(&format!("[{}]", parts.join(",")));
                }
            }
        }
    }
    s
}

/// fieldsV1 tree of a set of paths.
pub fn fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for e in p {
            let (key, is_item) = match e {
                Elem::F(k) => (format!("f:{k}"), false),
                Elem::K(k) => (format!("k:{k}"), true),
            };
            let entry = cur.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let m = entry.as_object_mut().expect("tree node");
            if is_item {
                m.entry(".").or_insert_with(|| json!({}));
            }
            cur = m;
        }
    }
    Value::Object(root)
}

/// Paths of a fieldsV1 tree.
pub fn paths_of(tree: &Value) -> BTreeSet<Path> {
    fn walk(node: &Value, prefix: Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = node
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix);
            }
            return;
        }
        for (k, c) in children {
            let e = if let Some(f) = k.strip_prefix("f:") {
                Elem::F(f.to_string())
            } else if let Some(kk) = k.strip_prefix("k:") {
                Elem::K(kk.to_string())
            } else {
                continue;
            };
            let mut p = prefix.clone();
            p.push(e);
            walk(c, p, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(tree, vec![], &mut out);
    out
}

/// One managedFields entry, decoded.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    paths: BTreeSet<Path>,
}

fn entries_of(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or_default().into(),
                    operation: e["operation"].as_str().unwrap_or("Update").into(),
                    api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
                    time: e["time"].as_str().unwrap_or_default().into(),
                    subresource: e["subresource"].as_str().map(String::from),
                    paths: paths_of(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let arr: Vec<Value> = entries
        .iter()
        .filter(|e| !e.paths.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&e.paths),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Context of a write.
pub struct Ctx<'a> {
    /// Field manager.
    pub manager: &'a str,
    /// apiVersion the request used.
    pub api_version: &'a str,
    /// Subresource (`status`) or none.
    pub subresource: Option<&'a str>,
    /// Part of the object the operation writes.
    pub part: Part,
    /// Timestamp.
    pub now: &'a str,
}

/// Records an Update-operation write (create, update or patch) in `new`'s managedFields.
pub fn record_update(old: Option<&Value>, new: &mut Value, ctx: &Ctx<'_>) {
    let mut entries = old.map(entries_of).unwrap_or_default();
    let new_leaves = tracked_leaves(new, ctx.part);
    let changed: BTreeSet<Path> = new_leaves
        .iter()
        .filter(|p| old.and_then(|o| value_at(o, p)) != value_at(new, p))
        .cloned()
        .collect();
    // Fields that no longer exist belong to nobody; changed fields move to this manager.
    let all_new = {
        let mut s = tracked_leaves(
            new,
            Part::Main {
                status_separate: false,
            },
        );
        s.extend(tracked_leaves(new, Part::Status));
        s
    };
    for e in &mut entries {
        e.paths
            .retain(|p| all_new.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let sub = ctx.subresource.map(String::from);
        match entries
            .iter_mut()
            .find(|e| e.manager == ctx.manager && e.operation == "Update" && e.subresource == sub)
        {
            Some(e) => {
                e.paths.extend(changed);
                e.time = ctx.now.to_string();
                e.api_version = ctx.api_version.to_string();
            }
            None => entries.push(Entry {
                manager: ctx.manager.into(),
                operation: "Update".into(),
                api_version: ctx.api_version.into(),
                time: ctx.now.into(),
                subresource: sub,
                paths: changed,
            }),
        }
    }
    write_entries(new, &entries);
}

/// Server-side apply of `applied` onto `current` (None on create). Returns the merged object or
/// the (manager, field) conflicts.
pub fn server_side_apply(
    current: Option<&Value>,
    applied: &Value,
    force: bool,
    ctx: &Ctx<'_>,
) -> Result<Value, Vec<(String, String)>> {
    let mut entries = current.map(entries_of).unwrap_or_default();
    let applied_leaves = tracked_leaves(applied, ctx.part);
    let sub = ctx.subresource.map(String::from);
    let mut conflicts = Vec::new();
    for e in entries.iter_mut() {
        if e.manager == ctx.manager && e.operation == "Apply" && e.subresource == sub {
            continue;
        }
        let clashing: Vec<Path> = e
            .paths
            .intersection(&applied_leaves)
            .filter(|p| current.and_then(|c| value_at(c, p)) != value_at(applied, p))
            .cloned()
            .collect();
        if force {
            for p in &clashing {
                e.paths.remove(p);
            }
        } else {
            for p in clashing {
                conflicts.push((e.manager.clone(), path_string(&p)));
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let mut merged = current.cloned().unwrap_or_else(|| json!({}));
    let mut body = applied.clone();
    if let Some(m) = body.as_object_mut() {
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| {
                META_TRACKED.contains(&k.as_str())
                    || k == "name"
                    || k == "namespace"
                    || k == "generateName"
            });
        }
        if ctx.part == Part::Status {
            m.retain(|k, _| k == "status");
        } else if ctx.part
            == (Part::Main {
                status_separate: true,
            })
        {
            m.remove("status");
        }
    }
    strategic_merge(&mut merged, &body, "");
    let previous = entries
        .iter()
        .position(|e| e.manager == ctx.manager && e.operation == "Apply" && e.subresource == sub);
    if let Some(i) = previous {
        let others: BTreeSet<Path> = entries
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, e)| e.paths.iter().cloned())
            .collect();
        for p in entries[i].paths.clone() {
            if !applied_leaves.contains(&p) && !others.contains(&p) {
                remove_path(&mut merged, &p);
            }
        }
        entries.remove(i);
    }
    entries.push(Entry {
        manager: ctx.manager.into(),
        operation: "Apply".into(),
        api_version: ctx.api_version.into(),
        time: ctx.now.into(),
        subresource: sub,
        paths: applied_leaves,
    });
    write_entries(&mut merged, &entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx<'a>(m: &'a str) -> Ctx<'a> {
        Ctx {
            manager: m,
            api_version: "apps/v1",
            subresource: None,
            part: Part::Main {
                status_separate: true,
            },
            now: "t",
        }
    }

    #[test]
    fn apply_conflicts_with_other_manager_and_force_takes_over() {
        let mut obj = json!({"metadata": {"name": "d"}, "spec": {"replicas": 1}});
        record_update(None, &mut obj, &ctx("kubectl-edit"));
        let applied = json!({"metadata": {"name": "d"}, "spec": {"replicas": 3}});
        let err = server_side_apply(Some(&obj), &applied, false, &ctx("mine")).unwrap_err();
        assert_eq!(
            err,
            vec![("kubectl-edit".to_string(), ".spec.replicas".to_string())]
        );
        let out = server_side_apply(Some(&obj), &applied, true, &ctx("mine")).unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        let mf = out["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "mine");
    }

    #[test]
    fn apply_removes_fields_it_no_longer_sets() {
        let a1 = json!({"metadata": {"name": "d", "labels": {"a": "1", "b": "2"}}});
        let o1 = server_side_apply(None, &a1, false, &ctx("m")).unwrap();
        let a2 = json!({"metadata": {"name": "d", "labels": {"a": "1"}}});
        let o2 = server_side_apply(Some(&o1), &a2, false, &ctx("m")).unwrap();
        assert_eq!(o2["metadata"]["labels"], json!({"a": "1"}));
    }
}
