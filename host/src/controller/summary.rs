//! Prometheus summaries, which `prometheus_client` does not have: upstream Karpenter exposes
//! two (`karpenter_pods_startup_duration_seconds`, `karpenter_nodes_termination_duration_seconds`)
//! with client_golang's defaults, quantiles 0, 0.5, 0.9, 0.99 and 1 over the observations of
//! the last 10 minutes, plus the running `_sum` and `_count`. They are encoded by hand between
//! the registry's families and the `# EOF` of the exposition (see `http.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upstream's `SummaryObjectives`.
pub const QUANTILES: [f64; 5] = [0.0, 0.5, 0.9, 0.99, 1.0];
/// client_golang's default `MaxAge`: observations older than this leave the quantiles.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// Observations kept per series at most (the oldest go first): bounds memory when thousands
/// of pods start within `MAX_AGE`.
pub const MAX_SAMPLES: usize = 10_000;

/// One series: a window of recent observations and the running totals.
#[derive(Debug, Default)]
struct Series {
    window: VecDeque<(Instant, f64)>,
    sum: f64,
    count: u64,
}

impl Series {
    fn observe(&mut self, at: Instant, value: f64) {
        self.sum += value;
        self.count += 1;
        self.window.push_back((at, value));
        if self.window.len() > MAX_SAMPLES {
            self.window.pop_front();
        }
    }

    /// The quantiles of the observations of the last `MAX_AGE` before `now` (NaN without any,
    /// as client_golang).
    fn quantiles(&mut self, now: Instant) -> [f64; QUANTILES.len()] {
        while self
            .window
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > MAX_AGE)
        {
            self.window.pop_front();
        }
        let mut values: Vec<f64> = self.window.iter().map(|(_, v)| *v).collect();
        values.sort_by(f64::total_cmp);
        QUANTILES.map(|q| match values.len() {
            0 => f64::NAN,
            n => values[((q * (n - 1) as f64).round() as usize).min(n - 1)],
        })
    }
}

/// A summary with at most one label (`label`: its name; `None` for an unlabelled summary).
#[derive(Debug)]
pub struct Summary {
    name: &'static str,
    help: &'static str,
    label: Option<&'static str>,
    series: Mutex<BTreeMap<String, Series>>,
}

impl Summary {
    /// An empty summary. An unlabelled one exposes its (empty) series from the start.
    pub fn new(name: &'static str, help: &'static str, label: Option<&'static str>) -> Self {
        let mut series = BTreeMap::new();
        if label.is_none() {
            series.insert(String::new(), Series::default());
        }
        Summary {
            name,
            help,
            label,
            series: Mutex::new(series),
        }
    }

    /// Records `value` in the series of label value `label_value` (ignored when unlabelled).
    pub fn observe(&self, label_value: &str, value: f64) {
        self.observe_at(label_value, value, Instant::now());
    }

    fn observe_at(&self, label_value: &str, value: f64, at: Instant) {
        let key = match self.label {
            Some(_) => label_value.to_owned(),
            None => String::new(),
        };
        self.lock().entry(key).or_default().observe(at, value);
    }

    /// The OpenMetrics text of the summary at `now`.
    pub fn encode(&self, out: &mut String, now: Instant) -> std::fmt::Result {
        let name = self.name;
        // As `prometheus_client` writes help texts: a period appended.
        writeln!(out, "# HELP {name} {}.", self.help)?;
        writeln!(out, "# TYPE {name} summary")?;
        for (value, series) in self.lock().iter_mut() {
            let labels = |extra: Option<String>| {
                let mut parts: Vec<String> = Vec::new();
                if let Some(label) = self.label {
                    parts.push(format!("{label}=\"{}\"", escape(value)));
                }
                parts.extend(extra);
                match parts.is_empty() {
                    true => String::new(),
                    false => format!("{{{}}}", parts.join(",")),
                }
            };
            for (q, v) in QUANTILES.iter().zip(series.quantiles(now)) {
                let quantile = Some(format!("quantile=\"{q}\""));
                writeln!(out, "{name}{} {}", labels(quantile), number(v))?;
            }
            writeln!(out, "{name}_sum{} {}", labels(None), number(series.sum))?;
            writeln!(out, "{name}_count{} {}", labels(None), series.count)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Series>> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A label value as OpenMetrics quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as OpenMetrics spells it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_cover_the_last_ten_minutes_and_totals_everything() {
        let s = Summary::new("x_seconds", "Help", Some("nodepool"));
        let start = Instant::now();
        for v in 1..=100 {
            s.observe_at("a", f64::from(v), start);
        }
        s.observe_at("b\"", 7.0, start);
        let mut text = String::new();
        s.encode(&mut text, start).unwrap();
        assert!(
            text.starts_with("# HELP x_seconds Help.\n# TYPE x_seconds summary\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds{nodepool=\"a\",quantile=\"0\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds{nodepool=\"a\",quantile=\"0.5\"} 51\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds{nodepool=\"a\",quantile=\"0.99\"} 99\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds{nodepool=\"a\",quantile=\"1\"} 100\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_sum{nodepool=\"a\"} 5050\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_count{nodepool=\"a\"} 100\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_count{nodepool=\"b\\\"\"} 1\n"),
            "{text}"
        );
        // Eleven minutes on, the quantiles are empty; the totals stay.
        let mut later = String::new();
        s.encode(&mut later, start + Duration::from_secs(660))
            .unwrap();
        assert!(
            later.contains("x_seconds{nodepool=\"a\",quantile=\"0.5\"} NaN\n"),
            "{later}"
        );
        assert!(
            later.contains("x_seconds_count{nodepool=\"a\"} 100\n"),
            "{later}"
        );
    }

    #[test]
    fn an_unlabelled_summary_is_exposed_before_any_observation() {
        let s = Summary::new("y_seconds", "Help", None);
        let mut text = String::new();
        s.encode(&mut text, Instant::now()).unwrap();
        assert!(text.contains("y_seconds{quantile=\"0.9\"} NaN\n"), "{text}");
        assert!(text.contains("y_seconds_count 0\n"), "{text}");
        s.observe("ignored", 2.5);
        let mut text = String::new();
        s.encode(&mut text, Instant::now()).unwrap();
        assert!(text.contains("y_seconds_sum 2.5\n"), "{text}");
    }
}
