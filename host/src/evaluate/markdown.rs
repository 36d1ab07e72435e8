//! The BENCHMARKS.md section of the evaluator (`policy evaluate --markdown`): every strategy's
//! cost on every trace against the lower bound and the targets of issue 11, the other figures
//! of the same runs, and where the defaults' gap to the lower bound comes from, measured by
//! replaying the defaults on variants of each trace that remove one cause at a time.

use std::fmt::Write as _;

use super::report::{Report, RunResult};
use super::trace::Trace;

/// The variants of a trace that the gap analysis replays, cumulatively: nodes Ready at once
/// (no startup delay), then `consolidateAfter: 0`, then no zone spread or hostname
/// anti-affinity. Each label says what the variant removes.
pub fn gap_variants(trace: &Trace) -> Vec<(&'static str, Trace)> {
    let mut out = Vec::new();
    let mut t = trace.clone();
    t.node_startup_seconds = 0;
    t.gpu_node_startup_seconds = 0;
    out.push(("no startup delay", t.clone()));
    if t.nodepools.is_empty() {
        t.nodepools.push(super::trace::TracePool {
            name: "default".into(),
            weight: 0,
            requirements: Vec::new(),
            limits: None,
            consolidation_policy: Default::default(),
            consolidate_after_seconds: Some(0),
            baseline_flavor: None,
            budgets: None,
        });
    }
    for p in &mut t.nodepools {
        p.consolidate_after_seconds = Some(0);
    }
    out.push(("+ consolidateAfter 0", t.clone()));
    if t.workloads
        .iter()
        .any(|w| w.zone_spread_max_skew.is_some() || w.hostname_anti_affinity)
    {
        for w in &mut t.workloads {
            w.zone_spread_max_skew = None;
            w.hostname_anti_affinity = false;
        }
        out.push(("+ no zone spread / anti-affinity", t));
    }
    out
}

/// One trace's figures for the section.
pub struct Entry {
    /// Every strategy on the trace.
    pub report: Report,
    /// The defaults' cost on [`gap_variants`], in order.
    pub variants: Vec<(String, f64)>,
}

fn run<'a>(report: &'a Report, prefix: &str) -> Option<&'a RunResult> {
    report.runs.iter().find(|r| r.name.starts_with(prefix))
}

fn pct(x: f64, of: f64) -> String {
    if of > 0.0 {
        format!("{:+.1}%", (x / of - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

/// One line per target of issue 11: on which traces the defaults meet it, and by how many
/// points they miss it on the others.
fn verdicts(entries: &[Entry]) -> String {
    let targets: [(&str, &str, f64); 2] = [
        ("within 5% of the lower bound", "lower bound", 5.0),
        ("at least 20% cheaper than naive", "naive", -20.0),
    ];
    let mut out = String::from("Against the targets:\n");
    for (what, against, limit) in targets {
        let (mut met, mut missed) = (Vec::new(), Vec::new());
        for e in entries {
            let r = &e.report;
            let base = if against == "naive" {
                run(r, "naive").map(|n| n.total_eur)
            } else {
                Some(r.lower_bound_eur)
            };
            let (Some(d), Some(base)) = (run(r, "defaults"), base) else {
                continue;
            };
            if base <= 0.0 {
                continue;
            }
            let delta = (d.total_eur / base - 1.0) * 100.0;
            if delta <= limit {
                met.push(format!("{} ({delta:+.1}%)", r.trace));
            } else {
                missed.push(format!(
                    "{} ({delta:+.1}%, by {:.1} points)",
                    r.trace,
                    delta - limit
                ));
            }
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "- defaults {what}: met on {}; missed on {}.",
            list(&met),
            list(&missed)
        );
    }
    out
}

/// The section, from its heading on. `command` is the command that regenerates it.
pub fn section(entries: &[Entry], command: &str) -> String {
    let mut out = String::new();
    let names: Vec<String> = entries
        .first()
        .map(|e| e.report.runs.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "## Policy what-if evaluator (`policy evaluate`, host/src/evaluate)\n"
    );
    let _ = writeln!(
        out,
        "Cost of each strategy on the reference traces (`traces/`, seed 1; `docs/traces.md` \
         describes the format, the strategies and the lower bound). Simulated, so exact and \
         machine-independent. Regenerate this section with:\n\n```\n{command}\n```\n"
    );
    if let Some(e) = entries.first() {
        let _ = writeln!(out, "Disruption model: {}.\n", e.report.disruption_model);
    }
    let _ = write!(out, "| trace | lower bound EUR |");
    for n in &names {
        let _ = write!(out, " {n} |");
    }
    let _ = writeln!(
        out,
        " defaults vs LB (target <= +5%) | defaults vs naive (target <= -20%) |"
    );
    let _ = writeln!(out, "|---|---|{}---|---|", "---|".repeat(names.len()));
    for e in entries {
        let r = &e.report;
        let _ = write!(out, "| {} | {:.2} |", r.trace, r.lower_bound_eur);
        for run in &r.runs {
            let _ = write!(out, " {:.2} |", run.total_eur);
        }
        let (d, n) = (run(r, "defaults"), run(r, "naive"));
        let vs_lb = d.map_or("-".into(), |d| pct(d.total_eur, r.lower_bound_eur));
        let vs_naive = match (d, n) {
            (Some(d), Some(n)) => pct(d.total_eur, n.total_eur),
            _ => "-".into(),
        };
        let _ = writeln!(out, " {vs_lb} | {vs_naive} |");
    }
    let _ = writeln!(out, "\n{}", verdicts(entries));
    let _ = writeln!(
        out,
        "Other figures of the same runs: peak nodes / pending p50-p99 s / nodes removed \
         (empty + underutilized delete + underutilized replace, or cluster-autoscaler \
         scale-down) / OVH writes:\n"
    );
    let _ = write!(out, "| trace |");
    for n in &names {
        let _ = write!(out, " {n} |");
    }
    let _ = writeln!(out, "\n|---|{}", "---|".repeat(names.len()));
    for e in entries {
        let _ = write!(out, "| {} |", e.report.trace);
        for r in &e.report.runs {
            let k = |key: &str| r.disrupted_nodes.get(key).copied().unwrap_or(0);
            let removed = if r
                .disrupted_nodes
                .keys()
                .any(|k| k.starts_with("scale-down"))
            {
                format!(
                    "{}+{}",
                    k("scale-down-empty"),
                    k("scale-down-underutilized")
                )
            } else {
                format!(
                    "{}+{}+{}",
                    k("empty"),
                    k("underutilized-delete"),
                    k("underutilized-replace")
                )
            };
            let _ = write!(
                out,
                " {} / {}-{} / {} / {} |",
                r.peak_nodes, r.pending_seconds.p50, r.pending_seconds.p99, removed, r.ovh_writes
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\nWhere the defaults' gap to the lower bound comes from: the defaults replayed on \
         variants of each trace, each removing one more cause (cost in EUR, and vs the lower \
         bound). What remains after the last variant is packing: whole nodes, and flavors that \
         carry CPU and memory in fixed ratios while the bound prices only the scarcer resource \
         at the cheapest rate of any flavor.\n"
    );
    let labels: Vec<&str> = {
        let mut l: Vec<&str> = Vec::new();
        for e in entries {
            for (name, _) in &e.variants {
                if !l.contains(&name.as_str()) {
                    l.push(name);
                }
            }
        }
        l
    };
    let _ = write!(out, "| trace | defaults |");
    for l in &labels {
        let _ = write!(out, " {l} |");
    }
    let _ = writeln!(out, " lower bound |");
    let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(labels.len()));
    for e in entries {
        let lb = e.report.lower_bound_eur;
        let Some(d) = run(&e.report, "defaults") else {
            continue;
        };
        let _ = write!(
            out,
            "| {} | {:.2} ({}) |",
            e.report.trace,
            d.total_eur,
            pct(d.total_eur, lb)
        );
        for l in &labels {
            match e.variants.iter().find(|(n, _)| n == l) {
                Some((_, c)) => {
                    let _ = write!(out, " {:.2} ({}) |", c, pct(*c, lb));
                }
                None => {
                    let _ = write!(out, " n/a |");
                }
            }
        }
        let _ = writeln!(out, " {lb:.2} |");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(trace: &str, lower_bound: f64, defaults: f64, naive: f64) -> Entry {
        let run = |name: &str, eur: f64| RunResult {
            name: name.into(),
            total_eur: eur,
            ..RunResult::default()
        };
        Entry {
            report: Report {
                trace: trace.into(),
                duration_seconds: 3600,
                disruption_model: String::new(),
                lower_bound_eur: lower_bound,
                runs: vec![
                    run("defaults", defaults),
                    run("naive (alphabetical)", naive),
                ],
            },
            variants: Vec::new(),
        }
    }

    #[test]
    fn verdicts_say_where_each_target_is_met_and_by_how_much_it_is_missed() {
        let v = verdicts(&[entry("a", 10.0, 10.4, 20.0), entry("b", 10.0, 12.0, 12.5)]);
        assert!(
            v.contains("lower bound: met on a (+4.0%); missed on b (+20.0%, by 15.0 points)."),
            "{v}"
        );
        assert!(
            v.contains("naive: met on a (-48.0%); missed on b (-4.0%, by 16.0 points)."),
            "{v}"
        );
    }
}
