//! The code's layers, checked (docs/ARCHITECTURE.md): the core crate stays free of I/O
//! crates, dependencies between modules run one way, and the decision side never reaches up
//! into the controller's runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that do I/O or run things: none may be a normal dependency of the core crate.
const RUNTIME_CRATES: &[&str] = &[
    "kube",
    "kube-client",
    "kube-runtime",
    "reqwest",
    "hyper",
    "tokio",
    "axum",
    "wasmtime",
];

/// The workspace's root directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Names of the crates `cargo tree FLAGS -e normal` lists (the whole normal closure of what
/// `FLAGS` select), offline unless the flags already say so.
pub(crate) fn normal_dependencies(flags: &[String]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).arg("tree").args(flags);
    if !flags.iter().any(|f| f == "--offline" || f == "--frozen") {
        cmd.arg("--offline");
    }
    cmd.args(["-e", "normal", "--prefix", "none", "--format", "{p}"]);
    let out = cmd.output().expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_core_crate_depends_on_no_io_or_runtime_crate() {
    let deps =
        normal_dependencies(&["--locked", "-p", "karpenter-ovhcloud-core"].map(String::from));
    assert!(
        deps.contains("karpenter-ovhcloud-core") && deps.contains("serde"),
        "cargo tree output not understood: {deps:?}"
    );
    let found: Vec<&str> = RUNTIME_CRATES
        .iter()
        .copied()
        .filter(|c| deps.contains(*c))
        .collect();
    assert!(
        found.is_empty(),
        "the core crate pulls in {found:?}; decision code must stay pure (move the I/O to the host)"
    );
}

/// The top-level module a file under `src` belongs to (`controller/watch.rs` -> `controller`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate-local modules a line of code names through `crate::` (comments ignored, so doc
/// links do not count as dependencies). Handles `crate::a::b` and `crate::{a, b::c}`.
fn crate_refs(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `karpenter_ovhcloud_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            refs.extend(inner.split(',').filter_map(|item| {
                let id: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                (!id.is_empty()).then_some(id)
            }));
        } else {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !id.is_empty() {
                refs.push(id);
            }
        }
    }
    refs
}

/// Module -> modules it imports, for the crate whose sources are in `src`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(from) = top_module(src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        for line in text.lines() {
            for to in crate_refs(line) {
                if to != from && modules.contains(&to) {
                    graph.get_mut(&from).expect("known module").insert(to);
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan): each is an import cycle.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.found.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

fn assert_acyclic(crate_dir: &str) {
    let src = workspace_root().join(crate_dir).join("src");
    let graph = module_graph(&src);
    assert!(graph.len() > 3, "no modules found under {}", src.display());
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between the modules of {crate_dir}/src: {found:?}\ngraph: {graph:#?}"
    );
}

#[test]
fn host_modules_import_each_other_one_way_only() {
    assert_acyclic("host");
}

#[test]
fn core_modules_import_each_other_one_way_only() {
    assert_acyclic("core");
}

#[test]
fn the_decision_side_never_imports_the_controller_runtime() {
    let src = workspace_root().join("host/src");
    let graph = module_graph(&src);
    // The runtime and the binary's front ends may use the controller; nothing else.
    let allowed = ["controller", "cli", "benchmark"];
    let offenders: Vec<&String> = graph
        .iter()
        .filter(|(m, deps)| !allowed.contains(&m.as_str()) && deps.contains("controller"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        offenders.is_empty(),
        "modules of the decision side import crate::controller: {offenders:?}"
    );
}

#[test]
fn the_cycle_finder_sees_a_cycle_and_the_reference_parser_reads_groups() {
    // A witness that the checks above can fail.
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.insert("a".into(), ["b".to_owned()].into());
    g.insert("b".into(), ["c".to_owned()].into());
    g.insert("c".into(), ["a".to_owned()].into());
    g.insert("d".into(), ["a".to_owned()].into());
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        crate_refs("use crate::{api::labels, clock::Clock}; // crate::ignored"),
        vec!["api", "clock"]
    );
    assert_eq!(
        crate_refs("/// see [`crate::controller`]"),
        Vec::<String>::new()
    );
    assert_eq!(crate_refs("let x = crate::pools::plan(y);"), vec!["pools"]);
}
