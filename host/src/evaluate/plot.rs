//! A hand-written SVG of nodes and cumulative cost over time, one line per run.

use std::fmt::Write as _;

use super::report::Report;

const COLOURS: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
];

/// Two stacked charts (nodes, then EUR spent) sharing the time axis, with a legend.
pub fn svg(report: &Report) -> String {
    let (w, h, left, top, chart) = (900.0, 620.0, 70.0, 40.0, 240.0);
    let right = w - 200.0;
    let end = report.duration_seconds.max(1) as f64;
    let max_nodes = report
        .runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|s| s.nodes))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let max_cost = report
        .runs
        .iter()
        .flat_map(|r| r.timeline.iter().map(|s| s.cost_eur))
        .fold(report.lower_bound_eur, f64::max)
        .max(0.01);
    let x = |t: f64| left + (right - left) * t / end;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14">{} : nodes and cost over {:.1} h</text>"#,
        escape(&report.trace),
        end / 3600.0
    );
    let panels = [
        ("nodes", top, max_nodes),
        ("EUR spent", top + chart + 60.0, max_cost),
    ];
    for (label, y0, max) in panels {
        let y1 = y0 + chart;
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{y0}" width="{}" height="{chart}" fill="none" stroke="#999"/>"##,
            right - left
        );
        let _ = writeln!(
            s,
            r#"<text x="5" y="{}">{label}</text><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{y1}" text-anchor="end">0</text>"#,
            y0 + chart / 2.0,
            left - 4.0,
            y0 + 10.0,
            fmt_num(max),
            left - 4.0
        );
        for i in 0..=4 {
            let t = end * i as f64 / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1} h</text>"#,
                x(t),
                y1 + 15.0,
                t / 3600.0
            );
        }
        for (i, run) in report.runs.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let mut points = String::new();
            let mut prev: Option<f64> = None;
            for sample in &run.timeline {
                let v = if label == "nodes" {
                    sample.nodes as f64
                } else {
                    sample.cost_eur
                };
                let y = y1 - chart * v / max;
                // Node counts are steps.
                if let (Some(p), true) = (prev, label == "nodes") {
                    let _ = write!(points, "{:.1},{:.1} ", x(sample.at as f64), p);
                }
                let _ = write!(points, "{:.1},{:.1} ", x(sample.at as f64), y);
                prev = Some(y);
            }
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                points.trim_end()
            );
        }
        if label != "nodes" {
            let y = y1 - chart * report.lower_bound_eur / max;
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{y1}" x2="{right}" y2="{y:.1}" stroke="#000" stroke-dasharray="4 3"/>"##
            );
        }
    }
    for (i, run) in report.runs.iter().enumerate() {
        let y = top + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            right + 15.0,
            y,
            COLOURS[i % COLOURS.len()],
            right + 35.0,
            y + 6.0,
            escape(&run.name)
        );
    }
    let y = top + 20.0 * report.runs.len() as f64;
    let _ = writeln!(
        s,
        r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#000" stroke-dasharray="4 3"/><text x="{}" y="{}">lower bound (linear average)</text>"##,
        right + 15.0,
        right + 29.0,
        right + 35.0,
        y + 4.0
    );
    s.push_str("</svg>\n");
    s
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
