//! The closing summary: one row per scenario (what ran, the flavors and nodes its pods got,
//! how long until they ran, what those nodes cost, and the verdict), then the reasons of
//! failures.

use std::time::Duration;

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The guide's expectation held.
    Pass,
    /// It did not (why).
    Fail(String),
    /// Not checked (why); never counted as a pass.
    Skipped(String),
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Scenario name.
    pub name: &'static str,
    /// What it did.
    pub action: &'static str,
    /// What the guide expects.
    pub expects: &'static str,
    /// Flavors of the nodes the scenario launched (when it launched none: of the nodes its
    /// workload runs on), e.g. `2x b3-8`.
    pub flavors: String,
    /// Number of those nodes.
    pub nodes: usize,
    /// Of the nodes launched, those none of the workload's pods run on.
    pub idle: usize,
    /// Their zones, e.g. `a,b,c`.
    pub zones: String,
    /// Real time from the first step to the expectation met.
    pub ready_in: Option<Duration>,
    /// EUR per hour of those nodes.
    pub cost: Option<f64>,
    /// Verdict.
    pub outcome: Outcome,
}

impl Row {
    /// A row with nothing measured yet.
    pub fn new(name: &'static str, action: &'static str, expects: &'static str) -> Self {
        Row {
            name,
            action,
            expects,
            flavors: String::new(),
            nodes: 0,
            idle: 0,
            zones: String::new(),
            ready_in: None,
            cost: None,
            outcome: Outcome::Skipped("not run".into()),
        }
    }
}

/// `6.2s (2m04s)`: real seconds, and the guide time they stand for at `scale`.
pub fn duration_text(real: Duration, scale: f64) -> String {
    let guide = real.as_secs_f64() * scale;
    let guide = if guide >= 60.0 {
        format!("{}m{:02.0}s", (guide / 60.0).floor(), guide % 60.0)
    } else {
        format!("{guide:.0}s")
    };
    format!("{:.1}s ({guide} guide)", real.as_secs_f64())
}

/// The table, the failure reasons and a tally, as printed.
pub fn render(rows: &[Row], scale: f64) -> String {
    let header = [
        "scenario",
        "action",
        "guide expects",
        "flavors",
        "nodes",
        "idle",
        "zones",
        "Ready in",
        "EUR/h",
        "result",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            let measured = r.outcome == Outcome::Pass;
            let dash = |s: String| if measured { s } else { "-".into() };
            [
                r.name.to_string(),
                r.action.to_string(),
                r.expects.to_string(),
                dash(r.flavors.clone()),
                dash(r.nodes.to_string()),
                dash(r.idle.to_string()),
                dash(r.zones.clone()),
                r.ready_in
                    .filter(|_| measured)
                    .map_or("-".into(), |d| duration_text(d, scale)),
                r.cost
                    .filter(|_| measured)
                    .map_or("-".into(), |c| format!("{c:.4}")),
                match &r.outcome {
                    Outcome::Pass => "pass".into(),
                    Outcome::Fail(_) => "FAIL".into(),
                    Outcome::Skipped(why) => format!("skipped: {why}"),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut s = String::from("|");
        for (i, c) in row.iter().enumerate() {
            // Numbers right-aligned.
            if matches!(i, 4 | 5 | 8) {
                s += &format!(" {c:>w$} |", w = widths[i]);
            } else {
                s += &format!(" {c:<w$} |", w = widths[i]);
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(&header.map(String::from));
    out += &line(&widths.map(|w| "-".repeat(w)));
    for row in &cells {
        out += &line(row);
    }
    for r in rows {
        if let Outcome::Fail(why) = &r.outcome {
            out += &format!("{}: FAIL: {why}\n", r.name);
        }
    }
    let count = |f: fn(&Outcome) -> bool| rows.iter().filter(|r| f(&r.outcome)).count();
    out += &format!(
        "{} passed, {} failed, {} skipped (time scale {scale}x)\n",
        count(|o| *o == Outcome::Pass),
        count(|o| matches!(o, Outcome::Fail(_))),
        count(|o| matches!(o, Outcome::Skipped(_))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_measures_of_passes_only_and_the_reasons_of_failures() {
        let mut pass = Row::new("basic", "03+04, scale inflate 0 -> 3", "one b3-8");
        pass.flavors = "1x b3-8".into();
        pass.nodes = 1;
        pass.zones = "a".into();
        pass.ready_in = Some(Duration::from_millis(6200));
        pass.cost = Some(0.0512);
        pass.outcome = Outcome::Pass;
        let mut fail = Row::new("large-workload", "05+07", "b3-32");
        fail.flavors = "1x b3-64".into();
        fail.outcome = Outcome::Fail("pod runs on b3-64".into());
        let mut skip = Row::new("consolidation", "scale inflate 10 -> 2", "one node");
        skip.outcome = Outcome::Skipped("disruption not available".into());
        let text = render(&[pass, fail, skip], 20.0);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("| scenario "), "{text}");
        assert!(
            lines[2].contains("| 1x b3-8 |")
                && lines[2].contains("6.2s (2m04s guide)")
                && lines[2].contains("0.0512")
                && lines[2].contains("| pass "),
            "{text}"
        );
        assert!(
            lines[3].contains("| FAIL ") && !lines[3].contains("b3-64"),
            "{text}"
        );
        assert!(
            lines[4].contains("skipped: disruption not available"),
            "{text}"
        );
        assert_eq!(lines[5], "large-workload: FAIL: pod runs on b3-64");
        assert_eq!(lines[6], "1 passed, 1 failed, 1 skipped (time scale 20x)");
        assert!(
            lines[..5].iter().all(|l| l.len() == lines[0].len()),
            "{text}"
        );
    }

    #[test]
    fn durations_show_the_guide_time_they_stand_for() {
        assert_eq!(
            duration_text(Duration::from_secs(3), 20.0),
            "3.0s (1m00s guide)"
        );
        assert_eq!(
            duration_text(Duration::from_millis(2500), 10.0),
            "2.5s (25s guide)"
        );
    }
}
