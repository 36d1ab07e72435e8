//! `cargo xtask bench`: runs every benchmark of the repository and rewrites `BENCHMARKS.md`
//! wholesale from their outputs. Each section: what is measured (text kept here, next to the
//! command that measures it), the exact command, the output, and the figures against their
//! targets and anchors, computed from that output. Only the `## Notes` section at the end is
//! hand-written; it is carried over from the previous file unchanged. Progress on stderr.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Title of the hand-written section, carried over from one run to the next.
const NOTES_TITLE: &str = "## Notes (hand-written, kept by `cargo xtask bench`)";

/// One benchmark: a command whose stdout becomes a section.
struct Bench {
    title: &'static str,
    intro: &'static str,
    /// Arguments of `cargo`.
    cargo: Vec<String>,
    /// Turns the command's stdout into the section's body (Markdown).
    render: fn(&str) -> String,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn benches(quick: bool) -> Vec<Bench> {
    let q = |mut v: Vec<String>| {
        if quick {
            v.extend(["--".into(), "--quick".into()]);
        }
        v
    };
    vec![
        Bench {
            title: "Policy runtime",
            intro: "Default flavor-selection component (`policies/dist/flavor-selection.wasm`) \
                through `PolicyRuntime`: fuel on, epoch deadline on, on-demand allocator. 100 \
                flavors (5 families x 20 sizes, 3 zones), 20 pod groups totalling 100 / 1,000 / \
                10,000 pods, one NodePool. \"Marshalling\" calls a no-op component of the same \
                world that answers an empty decision without reading its input (lowering the \
                request into guest memory plus lifting the decision). \"native\" runs the same \
                policy crate compiled for the host, its input converted through serde outside \
                the timed region. Medians.",
            cargo: q(args(&[
                "bench",
                "-p",
                "karpenter-ovhcloud",
                "--bench",
                "policy",
            ])),
            render: render_policy,
        },
        Bench {
            title: "Scheduling",
            intro: "Whole provisioning pass per batch, one thread (snapshot, grouping, \
                existing-node pass, flavor-selection policy call, host validation of the \
                answer, NodeClaim specs). Workload: Karpenter's benchmark shape rebuilt (fifths: \
                plain, zone spread, hostname spread, zone pod affinity, hostname anti-affinity; \
                Karpenter's request sets; seed 42), then in sixths, the sixth being pods with a \
                preferred zone pod anti-affinity (held as required, relaxed for the pods beyond \
                three per class: `calls` counts the policy calls of the pass). Catalogs: 400 \
                synthetic instance types (Karpenter's benchmark size) and the real OVH catalog \
                (34 flavors, 3 zones). First the product's path (the default component in the \
                Wasm runtime, a fresh Store per call), then the tests' native first-fit policy \
                (host cost only).",
            cargo: q(args(&[
                "bench",
                "-p",
                "karpenter-ovhcloud",
                "--bench",
                "scheduling",
            ])),
            render: render_scheduling,
        },
        Bench {
            title: "Decoding watched objects (core/src/api)",
            intro: "What tolerant reading costs: a NodeClaim or NodePool the controller cannot \
                interpret is kept as `Tolerant<K>` (metadata and the reason) instead of failing \
                the watch, which means decoding the JSON into a value first, then into the typed \
                object. Realistic objects (a launched NodeClaim with its labels, requirements \
                and conditions; a Balanced NodePool with budgets and limits), one thread.",
            cargo: q(args(&[
                "bench",
                "-p",
                "karpenter-ovhcloud",
                "--bench",
                "decode",
            ])),
            render: |out| out.trim().to_string(),
        },
        Bench {
            title: "Simulated Kubernetes API server (sim/src/kube)",
            intro: "10,000 pods and 1,000 nodes in the store, 20 HTTP watchers on all pods, over \
                real HTTP on loopback. Lists reuse each object's JSON serialized once at write \
                time; a watch event is serialized once for all watchers. Protobuf answers \
                (what kubectl asks for) are encoded per request from the stored JSON by \
                reflection over the Kubernetes descriptors.",
            cargo: args(&[
                "bench",
                "-p",
                "karpenter-ovhcloud-sim",
                "--bench",
                "kube_scale",
            ]),
            render: |out| out.trim().to_string(),
        },
        Bench {
            title: "Simulated cluster (sim/src/cluster)",
            intro: "The simulated scheduler's pure placement (`cluster::scheduler::schedule` + \
                `Snapshot::assume`, as its loop runs it), and the whole simulated cluster end to \
                end in one process: OVH simulator, API server, MKS link, scheduler, kubelets, \
                workload controllers.",
            cargo: args(&[
                "bench",
                "-p",
                "karpenter-ovhcloud-sim",
                "--bench",
                "cluster_scale",
            ]),
            render: |out| out.trim().to_string(),
        },
        Bench {
            title: "Controller at scale (controller process + simulated cluster)",
            intro: "The release `karpenter-ovhcloud controller` binary as its own process against \
                the whole simulated cluster (OVH API, API server, scheduler, kubelets, workload \
                controllers, MKS; all in the benchmark's process, sharing the machine's cores \
                with the controller). Memory (`VmRSS`, `VmHWM`) and CPU (`utime + stime`) are \
                sampled from `/proc/<pid>` every 100 ms; OVH requests come from the OVH \
                simulator's request log (stamped at arrival); the burst's last pod creation is \
                seen on the API server's change feed; latencies are measured by both simulators \
                from a request's arrival to its response head. Guide time runs faster than real \
                time: periodic work (the 10 s reconcile and disruption passes) runs \
                `time scale` times more often per real second than in production, so the \
                steady-state CPU share and requests per real minute are upper bounds; per guide \
                minute is what production sees. Issue 11's scale: 10,000 pods on 500 nodes, \
                then a 1,000-pod burst.",
            cargo: if quick {
                q(args(&[
                    "bench",
                    "-p",
                    "karpenter-ovhcloud",
                    "--bench",
                    "controller_scale",
                ]))
            } else {
                args(&[
                    "bench",
                    "-p",
                    "karpenter-ovhcloud",
                    "--bench",
                    "controller_scale",
                ])
            },
            render: |out| out.trim().to_string(),
        },
    ]
}

/// Load average (1 minute) sampled every few seconds while the benchmarks run.
struct LoadSampler {
    samples: Arc<Mutex<Vec<f64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

impl LoadSampler {
    fn start() -> LoadSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(l) = load_average() {
                    s.lock().unwrap_or_else(|e| e.into_inner()).push(l[0]);
                }
                for _ in 0..50 {
                    if st.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        LoadSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// (min, mean, max) of the samples so far.
    fn summary(&self) -> (f64, f64, f64) {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let min = s.iter().copied().fold(f64::MAX, f64::min);
        let max = s.iter().copied().fold(f64::MIN, f64::max);
        (min, s.iter().sum::<f64>() / s.len() as f64, max)
    }
}

impl Drop for LoadSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn memory_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0)
}

/// Runs `cargo <args>`, stdout captured (returned), stderr passed through.
fn cargo_stdout(cargo_args: &[String]) -> Result<String> {
    program_stdout(Path::new("cargo"), cargo_args)
}

/// Runs `program <args>`, stdout captured (returned), stderr passed through.
fn program_stdout(program: &Path, program_args: &[String]) -> Result<String> {
    let line = format!("{} {}", program.display(), program_args.join(" "));
    eprintln!("xtask bench: {line}");
    let out = Command::new(program)
        .args(program_args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {line}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("{line} failed with {}; its output:\n{stdout}", out.status);
    }
    Ok(stdout)
}

/// The hand-written notes of the current file (its `## Notes` section to the end), if any.
fn carried_notes(previous: &str) -> Option<String> {
    previous
        .find(NOTES_TITLE)
        .map(|i| previous[i..].trim_end().to_string())
}

/// Parsed `cargo xtask bench [--quick] [--out FILE] [--only TITLE,...]`.
struct Options {
    quick: bool,
    out: PathBuf,
    /// Lower-cased title prefixes of the benchmarks to re-run; empty = all.
    only: Vec<String>,
}

/// Parses `cargo xtask bench [--quick] [--out FILE] [--only TITLE,...]`.
fn options(extra: &[String], root: &Path) -> Result<Options> {
    let mut quick = false;
    let mut out = None;
    let mut only = Vec::new();
    let mut it = extra.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--out" => out = Some(PathBuf::from(it.next().context("--out needs a file")?)),
            "--only" => {
                let list = it.next().context("--only needs section titles")?;
                only.extend(
                    list.split(',')
                        .map(|t| t.trim().to_lowercase())
                        .filter(|t| !t.is_empty()),
                );
            }
            other => bail!(
                "unknown option {other} (cargo xtask bench [--quick] [--out FILE] [--only TITLE,...])"
            ),
        }
    }
    // A smoke run must not overwrite the committed figures unless asked to.
    let out = out.unwrap_or_else(|| {
        if quick {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from)
                .join("BENCHMARKS.quick.md")
        } else {
            root.join("BENCHMARKS.md")
        }
    });
    Ok(Options { quick, out, only })
}

/// Runs one benchmark: its section (title, what it measures, the command, the rendered
/// output), and whether it ran. One failing benchmark must not lose the others' figures: its
/// section says it failed and why.
fn run_bench(b: &Bench) -> (String, bool) {
    let mut s = format!(
        "## {}\n\n{}\n\nCommand (release profile):\n\n```\ncargo {}\n```\n\n",
        b.title,
        b.intro,
        b.cargo.join(" ")
    );
    match cargo_stdout(&b.cargo) {
        Ok(stdout) => {
            s.push_str(&(b.render)(&stdout));
            (s, true)
        }
        Err(e) => {
            eprintln!("xtask bench: {} FAILED: {e:#}", b.title);
            let _ = write!(
                s,
                "**This run FAILED**; its error (the end of it):\n\n```\n{}\n```",
                tail(&format!("{e:#}"), 40)
            );
            (s, false)
        }
    }
}

/// `cargo xtask bench --only`: re-runs the benchmarks whose titles start with one of
/// `only` (case-insensitive) and replaces just their sections of the existing file, which
/// says in its first paragraph which sections were regenerated when. The other sections, the
/// end-to-end and evaluator sections included, are kept as they are.
fn run_only(root: &Path, opts: &Options) -> Result<()> {
    let selected: Vec<Bench> = benches(opts.quick)
        .into_iter()
        .filter(|b| {
            let t = b.title.to_lowercase();
            opts.only.iter().any(|o| t.starts_with(o.as_str()))
        })
        .collect();
    if selected.is_empty() {
        let titles: Vec<&str> = benches(false).iter().map(|b| b.title).collect();
        bail!("--only matches no benchmark; titles: {}", titles.join("; "));
    }
    let mut doc = std::fs::read_to_string(root.join("BENCHMARKS.md"))
        .context("--only needs an existing BENCHMARKS.md to update")?;
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let mut failed = Vec::new();
    for (i, b) in selected.iter().enumerate() {
        eprintln!("xtask bench: [{}/{}] {}", i + 1, selected.len(), b.title);
        let t = Instant::now();
        let load = load_average().unwrap_or_default();
        let (mut s, ok) = run_bench(b);
        if !ok {
            failed.push(b.title);
        }
        let _ = write!(
            s,
            "\n\n(This section's run: {:.0} s, on {date}, load average (1 min) at its start {:.2}; regenerated alone with `cargo xtask bench --only`.)\n\n",
            t.elapsed().as_secs_f64(),
            load[0]
        );
        doc = replace_section(&doc, b.title, &s)
            .with_context(|| format!("BENCHMARKS.md has no section \"## {}\"", b.title))?;
    }
    let titles: Vec<&str> = selected.iter().map(|b| b.title).collect();
    let stamp = format!(
        "Sections regenerated alone on {date} (`cargo xtask bench --only`): {}. ",
        titles.join("; ")
    );
    // One stamp line: a later --only run replaces the previous one.
    let doc = match (
        doc.find("Sections regenerated alone on "),
        doc.find("Do not edit by hand"),
    ) {
        (Some(a), Some(b)) if a < b => format!("{}{stamp}{}", &doc[..a], &doc[b..]),
        (_, Some(b)) => format!("{}{stamp}{}", &doc[..b], &doc[b..]),
        _ => doc,
    };
    std::fs::write(&opts.out, doc).with_context(|| format!("writing {}", opts.out.display()))?;
    eprintln!("xtask bench: updated {}", opts.out.display());
    if !failed.is_empty() {
        bail!("failed: {} (their sections say why)", failed.join(", "));
    }
    Ok(())
}

/// `doc` with the section titled `title` (from its `## ` line to the next one) replaced by
/// `section`; `None` when there is no such section.
fn replace_section(doc: &str, title: &str, section: &str) -> Option<String> {
    let head = format!("## {title}\n");
    let start = doc.find(&head)?;
    let end = doc[start + head.len()..]
        .find("\n## ")
        .map_or(doc.len(), |e| start + head.len() + e + 1);
    Some(format!("{}{}{}", &doc[..start], section, &doc[end..]))
}

/// `cargo xtask bench`.
pub fn run(root: &Path, extra: &[String]) -> Result<()> {
    let opts = options(extra, root)?;
    if !opts.only.is_empty() {
        return run_only(root, &opts);
    }
    let (quick, out_path) = (opts.quick, opts.out);
    let started = Instant::now();
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let load_start = load_average().unwrap_or_default();
    let load = LoadSampler::start();
    let mut sections = Vec::new();
    let mut failed: Vec<&str> = Vec::new();
    for (i, b) in benches(quick).iter().enumerate() {
        eprintln!("xtask bench: [{}/7] {}", i + 1, b.title);
        let t = Instant::now();
        let (mut s, ok) = run_bench(b);
        if !ok {
            failed.push(b.title);
        }
        let _ = write!(
            s,
            "\n\n(This section's run: {:.0} s.)\n",
            t.elapsed().as_secs_f64()
        );
        sections.push(s);
    }
    eprintln!("xtask bench: [6/7] controller end to end (the controller_* tests)");
    sections.push(end_to_end_section()?);
    eprintln!("xtask bench: [7/7] policy what-if evaluator");
    let previous = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap_or_default();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("release").join("karpenter-ovhcloud");
    sections.push(match program_stdout(&binary, &evaluator_args()) {
        // The evaluator prints its own section (title, command, tables, gap analysis).
        Ok(section) if section.contains(EVALUATOR_TITLE) => section.trim().to_string(),
        Ok(_) | Err(_) => {
            eprintln!(
                "xtask bench: the evaluator printed no section; carrying the previous one over"
            );
            evaluator_section(&previous)?
        }
    });
    let (lmin, lmean, lmax) = load.summary();
    drop(load);

    let notes = carried_notes(&previous).unwrap_or_else(|| {
        format!("{NOTES_TITLE}\n\nNothing yet: what no command measures goes here.")
    });
    let mut doc = String::new();
    let _ = write!(
        doc,
        "# Benchmarks\n\n\
         Generated by `cargo xtask bench{}` on {date}, in {:.0} minutes. Do not edit by hand \
         except the last section, \"Notes\": the command rewrites everything else.\n\n\
         Machine: {} cores (`nproc`), {}, {:.0} GiB RAM. Load average (1 min) at the start \
         {:.2} (5 min {:.2}, 15 min {:.2}); sampled every 5 s during the run: min {lmin:.2}, \
         mean {lmean:.2}, max {lmax:.2}. The cores are shared with other engineers' builds and \
         tests while this runs: wall-clock figures are pessimistic and noisy, and a load \
         average above the core count means every timing below includes waiting for a core.\n\n\
         Anchors: Karpenter's scheduling benchmark ~1,000-1,300 pods/s; Karpenter's perf test \
         P95 memory < 260 MB at 1,000 pods. Targets of issue 11: controller RSS < 64 MiB at \
         500 nodes / 10,000 pods; < 60 OVH requests per minute at steady state at 500 nodes; \
         OVH write <= 1.5 s after a burst ends; default policies within 5% of the lower bound \
         and at least 20% cheaper than the naive baseline on every reference trace.\n\n",
        if quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64() / 60.0,
        command_output("nproc", &[]),
        cpu_model(),
        memory_gib(),
        load_start[0],
        load_start[1],
        load_start[2],
    );
    for s in &sections {
        doc.push_str(s.trim_end());
        doc.push_str("\n\n");
    }
    doc.push_str(&notes);
    doc.push('\n');
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&out_path, doc).with_context(|| format!("writing {}", out_path.display()))?;
    eprintln!(
        "xtask bench: wrote {} ({:.0} min)",
        out_path.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    if !failed.is_empty() {
        bail!("failed: {} (their sections say why)", failed.join(", "));
    }
    Ok(())
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Filter of the end-to-end tests: the controller binary against the simulators.
const E2E_FILTER: &str = "test(/^controller_/)";

/// Wall time of each end-to-end test (the controller process against the simulators), as
/// nextest reports it: observations, never assertions.
fn end_to_end_section() -> Result<String> {
    let cargo_args = args(&[
        "nextest",
        "run",
        "-p",
        "karpenter-ovhcloud",
        "--test",
        "it",
        "--no-fail-fast",
        "--status-level",
        "pass",
        "--final-status-level",
        "none",
        "-E",
        E2E_FILTER,
    ]);
    eprintln!("xtask bench: cargo {}", cargo_args.join(" "));
    let out = Command::new("cargo")
        .args(&cargo_args)
        .stdin(Stdio::null())
        .output()
        .context("starting cargo nextest")?;
    // nextest reports on stderr.
    let report = String::from_utf8_lossy(&out.stderr);
    eprint!("{report}");
    let rows = nextest_rows(&report);
    let mut s = format!(
        "## Controller end to end (controller process + simulators, time scale 60)\n\n\
         Wall time of each end-to-end test: the `karpenter-ovhcloud controller` binary (debug \
         build) as its own process against the simulated Kubernetes and OVH APIs on loopback \
         (some against the full simulated cluster), guide durations divided by 60 (a 2-minute \
         node boot is 2 s), the tests in parallel. Observations, not assertions: no test checks \
         a timing.\n\nCommand:\n\n```\ncargo nextest run -p karpenter-ovhcloud --test it -E \
         '{E2E_FILTER}'\n```\n\n| test | result | wall time |\n|---|---|---:|\n"
    );
    for (status, secs, name) in &rows {
        let _ = writeln!(s, "| `{name}` | {status} | {secs:.1} s |");
    }
    if rows.is_empty() {
        bail!("no test result in nextest's output (exit {})", out.status);
    }
    Ok(s)
}

/// (status, seconds, test name) of each `PASS [   4.600s] crate::bin module::test` line.
fn nextest_rows(report: &str) -> Vec<(String, f64, String)> {
    let mut rows = Vec::new();
    for line in report.lines() {
        let line = line.trim();
        let Some((status, rest)) = line.split_once(" [") else {
            continue;
        };
        if !matches!(
            status,
            "PASS" | "FAIL" | "FLAKY" | "TIMEOUT" | "SIGKILL" | "SIGSEGV"
        ) {
            continue;
        }
        let Some((secs, rest)) = rest.split_once("s]") else {
            continue;
        };
        let Ok(secs) = secs.trim().parse::<f64>() else {
            continue;
        };
        // Newer nextest prints `(3/13)` before the name; the name is the last word.
        if let Some(name) = rest.split_whitespace().last() {
            rows.push((status.to_string(), secs, name.to_string()));
        }
    }
    rows.sort_by(|a, b| a.2.cmp(&b.2));
    rows
}

/// The evaluator's own command for its section (`policy evaluate --markdown`, owned by
/// host/src/evaluate), on every reference trace with the example custom policy: the
/// arguments of the `karpenter-ovhcloud` binary the benchmarks above built (the `bench`
/// profile; `cargo run --release` would build the host once more for nothing).
fn evaluator_args() -> Vec<String> {
    let mut v = args(&["policy", "evaluate", "--markdown", "--quiet"]);
    for t in ["diurnal", "batch", "mixed", "multizone", "gpu"] {
        v.extend(["--trace".to_string(), format!("traces/{t}.yaml")]);
    }
    v.extend(args(&[
        "--policy",
        "policies/dist/example-fewest-nodes.wasm",
    ]));
    v
}

/// Title of the evaluator's section.
const EVALUATOR_TITLE: &str = "## Policy what-if evaluator";

/// The evaluator's section (owned by host/src/evaluate). Its figures are simulated, hence
/// machine-independent; until the evaluator prints its own Markdown section, the previous
/// file's section is carried over, marked as such.
fn evaluator_section(previous: &str) -> Result<String> {
    let Some(start) = previous.find(EVALUATOR_TITLE) else {
        return Ok(format!(
            "{EVALUATOR_TITLE}\n\nNot regenerated: no command prints this section yet."
        ));
    };
    let rest = &previous[start..];
    let end = rest[EVALUATOR_TITLE.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| i + EVALUATOR_TITLE.len());
    let mut body = rest[..end].trim_end().to_string();
    let marker = "*Carried over from the previous BENCHMARKS.md, not regenerated by this run*";
    if !body.contains(marker) {
        let title_end = body.find('\n').unwrap_or(body.len());
        body.insert_str(
            title_end,
            &format!("\n\n{marker} (simulated figures: the same on any machine).\n"),
        );
    }
    Ok(body)
}

/// A duration printed by the policy bench (`21.3 us`, `1.349 ms`, `226.6 ms`, `1.2 s`), in
/// microseconds.
fn parse_duration_us(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let v: f64 = it.next()?.parse().ok()?;
    let factor = match it.next()? {
        "ns" => 1e-3,
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => return None,
    };
    Some(v * factor)
}

/// Met / missed wording: `value` against an upper bound `target`.
fn verdict(value: f64, target: f64) -> String {
    if value < target {
        format!("met ({:.0}% of the target)", 100.0 * value / target)
    } else {
        format!("MISSED by {:.0}%", 100.0 * (value / target - 1.0))
    }
}

fn render_policy(out: &str) -> String {
    let mut body = String::new();
    let mut table = String::new();
    let mut instantiate = None;
    for line in out.lines() {
        if line.starts_with('|') {
            table.push_str(line);
            table.push('\n');
        } else if let Some((k, v)) = line.split_once("  ") {
            let v = v.trim();
            if !k.is_empty() && !v.is_empty() {
                if k.starts_with("store + instantiate") {
                    instantiate = parse_duration_us(v);
                }
                let _ = writeln!(body, "| {} | {} |", k.trim(), v);
            }
        } else if !line.trim().is_empty() {
            let _ = writeln!(body, "{}\n", line.trim());
        }
    }
    let mut s = String::new();
    let (intro, rows): (Vec<&str>, Vec<&str>) = body.lines().partition(|l| !l.starts_with('|'));
    for l in intro.iter().filter(|l| !l.is_empty()) {
        let _ = writeln!(s, "{l}\n");
    }
    s.push_str("| measure | time |\n|---|---:|\n");
    for r in rows {
        let _ = writeln!(s, "{r}");
    }
    s.push('\n');
    s.push_str(&table);
    // The largest size's row: whole call and the instantiate+marshalling share.
    let last = table
        .lines()
        .rfind(|l| l.chars().nth(2).is_some_and(|c| c.is_ascii_digit()))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>());
    s.push_str("\nAgainst the targets of the foundation issue:\n\n");
    if let Some(i) = instantiate {
        let _ = writeln!(
            s,
            "- store + instantiate {i:.1} us < 50 us: {}",
            verdict(i, 50.0)
        );
    }
    if let Some(cols) = last {
        if let Some(whole) = cols.get(5).and_then(|c| parse_duration_us(c)) {
            let _ = writeln!(
                s,
                "- whole Wasm call at {} pods {:.2} ms < 20 ms: {}",
                cols[1],
                whole / 1e3,
                verdict(whole / 1e3, 20.0)
            );
        }
        if let Some(share) = cols
            .get(6)
            .and_then(|c| c.trim_end_matches('%').parse::<f64>().ok())
        {
            let _ = writeln!(
                s,
                "- instantiate + marshalling {share:.1}% of the whole call at {} pods < 10%: {}",
                cols[1],
                verdict(share, 10.0)
            );
        }
    }
    s
}

fn render_scheduling(out: &str) -> String {
    let mut s = String::new();
    let mut wasm_rates = Vec::new();
    let mut in_wasm = false;
    let mut header = false;
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("policy: ") {
            in_wasm = p.contains("Wasm");
            let _ = write!(s, "\n**{p}**\n\n| catalog | pods | groups | calls | nodes | scheduled | ms/pass | pods/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            header = true;
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        if header && cols.len() == 8 && cols[1].parse::<u64>().is_ok() {
            let _ = writeln!(s, "| {} |", cols.join(" | "));
            if in_wasm {
                if let Ok(r) = cols[7].parse::<f64>() {
                    wasm_rates.push((r, cols[0].to_string(), cols[1].to_string()));
                }
            }
        }
    }
    if let Some((min, catalog, pods)) = wasm_rates
        .iter()
        .cloned()
        .min_by(|a, b| a.0.total_cmp(&b.0))
    {
        let _ = write!(
            s,
            "\nAnchor: Karpenter ~1,000-1,300 pods/s on its scheduling benchmark. Target (scheduling \
             core issue): >= 10,000 pods/s on one core. Slowest row of the product's path: \
             {min:.0} pods/s ({catalog}, {pods} pods), {}x Karpenter's upper anchor; target {}.\n",
            (min / 1300.0).floor(),
            if min >= 10_000.0 {
                format!("met ({:.1}x)", min / 10_000.0)
            } else {
                format!("MISSED by {:.0}%", 100.0 * (1.0 - min / 10_000.0))
            }
        );
    }
    s.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_section_is_replaced_and_the_others_kept() {
        let doc =
            "# B\n\nintro\n\n## Policy runtime\n\nold\n\n## Scheduling\n\nsched\n\n## Notes\n\nn\n";
        let new = replace_section(doc, "Policy runtime", "## Policy runtime\n\nnew\n\n").unwrap();
        assert_eq!(
            new,
            "# B\n\nintro\n\n## Policy runtime\n\nnew\n\n## Scheduling\n\nsched\n\n## Notes\n\nn\n"
        );
        let last = replace_section(doc, "Notes", "## Notes\n\nm\n").unwrap();
        assert!(last.ends_with("## Notes\n\nm\n") && last.contains("sched"));
        assert!(replace_section(doc, "Missing", "x").is_none());
    }

    #[test]
    fn durations_and_verdicts() {
        assert_eq!(parse_duration_us("21.3 us"), Some(21.3));
        assert_eq!(parse_duration_us("1.5 ms"), Some(1500.0));
        assert_eq!(parse_duration_us("2 s"), Some(2e6));
        assert_eq!(parse_duration_us("fast"), None);
        assert!(verdict(5.0, 10.0).starts_with("met (50%"));
        assert!(verdict(15.0, 10.0).starts_with("MISSED by 50%"));
    }

    #[test]
    fn scheduling_output_becomes_tables_with_the_slowest_rate() {
        let out = "policy: default flavor-selection component (Wasm); workload: five shapes\n\
            catalog           pods  groups  calls   nodes  scheduled      ms/pass       pods/s\n\
            ovh-34            1000     151      1     347       1000        10.22        97871\n\
            ovh-34           10000     232      1    3284      10000       100.53        20000\n\n\
            policy: tests' first-fit policy (native, host-side cost only); workload: five shapes\n\
            ovh-34            1000     151      1     985       1000        16.53         5000\n";
        let md = render_scheduling(out);
        assert!(md.contains("| ovh-34 | 10000 | 232 | 1 | 3284 | 10000 | 100.53 | 20000 |"));
        // The native policy's slower row is not the product's path.
        assert!(md.contains("Slowest row of the product's path: 20000 pods/s (ovh-34, 10000 pods)"));
        assert!(md.contains("met (2.0x)"));
    }

    #[test]
    fn policy_output_gets_its_verdicts() {
        let out = "Policy runtime benchmark (default flavor-selection policy, 109324 bytes; fuel on, epoch deadline on)\n\
            compile (cranelift)      226.6 ms\n\
            store + instantiate      21.3 us\n\n\
            | pods | launches | marshalling (lower+lift) | call (Wasm) | whole call (store+instantiate+call) | inst.+marsh. share | PolicySet::select (+validation) | native | Wasm/native |\n\
            |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
            | 100 | 25 | 124.7 us | 1.349 ms | 1.447 ms | 10.1% | 1.547 ms | 282.2 us | 4.78x |\n\
            | 10000 | 233 | 126.1 us | 1.944 ms | 2.097 ms | 7.0% | 2.286 ms | 437.4 us | 4.45x |\n";
        let md = render_policy(out);
        assert!(md.contains("| store + instantiate | 21.3 us |"), "{md}");
        assert!(
            md.contains("store + instantiate 21.3 us < 50 us: met"),
            "{md}"
        );
        assert!(
            md.contains("whole Wasm call at 10000 pods 2.10 ms < 20 ms: met"),
            "{md}"
        );
        assert!(
            md.contains("7.0% of the whole call at 10000 pods < 10%: met"),
            "{md}"
        );
    }

    #[test]
    fn nextest_lines_become_rows() {
        let report = "    Starting 2 tests across 1 binary\n\
            \x20       PASS [   4.600s] (1/2) karpenter-ovhcloud::it controller_a::b\n\
            \x20       FAIL [  12.010s] karpenter-ovhcloud::it controller_c::d\n\
            \x20    Summary [  12.1s] 2 tests run\n";
        assert_eq!(
            nextest_rows(report),
            vec![
                ("PASS".to_string(), 4.6, "controller_a::b".to_string()),
                ("FAIL".to_string(), 12.01, "controller_c::d".to_string()),
            ]
        );
    }

    #[test]
    fn evaluator_section_is_carried_over_and_marked_once() {
        let prev = format!("# B\n\n{EVALUATOR_TITLE} (x)\n\n| a |\n\n## Other\n\ny\n");
        let once = evaluator_section(&prev).unwrap();
        assert!(once.starts_with(EVALUATOR_TITLE) && once.contains("| a |"));
        assert!(!once.contains("## Other"));
        let twice = evaluator_section(&format!("{once}\n\n## Other\n")).unwrap();
        assert_eq!(twice, once);
    }

    #[test]
    fn notes_are_carried_over() {
        let prev = format!("# Benchmarks\n\n## A\n\nx\n\n{NOTES_TITLE}\n\nkeep me\n");
        assert_eq!(
            carried_notes(&prev).unwrap(),
            format!("{NOTES_TITLE}\n\nkeep me")
        );
        assert_eq!(carried_notes("# Benchmarks\n"), None);
    }
}
