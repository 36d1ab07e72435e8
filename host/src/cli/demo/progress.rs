//! The live progress display on stderr: one status line (pending pods, NodeClaims, OVH pools,
//! nodes, EUR/hour), redrawn in place on a terminal, printed as plain periodic lines otherwise
//! (a log file or CI keeps a readable history).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use super::observe::Observation;

/// Plain mode: a changed status is printed at most this often...
const PLAIN_EVERY: Duration = Duration::from_secs(2);
/// ...and an unchanged one this often.
const PLAIN_HEARTBEAT: Duration = Duration::from_secs(10);

/// The status line for `label` (the running scenario) after `elapsed`.
pub fn status_line(label: &str, elapsed: Duration, obs: &Observation) -> String {
    let claims_ready = obs.claims.iter().filter(|c| c.ready).count();
    let nodes_ready = obs.nodes.iter().filter(|n| n.ready).count();
    let pools = obs.pools.iter().filter(|p| p.is_karpenter()).count();
    format!(
        "[{label} {:>4.0}s] pending pods {} | NodeClaims {} ({claims_ready} ready) | OVH pools {pools} | nodes {} ({nodes_ready} ready) | {:.4} EUR/h",
        elapsed.as_secs_f64(),
        obs.pending_pods(),
        obs.claims.len(),
        obs.nodes.len(),
        obs.karpenter_cost(),
    )
}

/// The display.
pub struct Progress {
    tty: bool,
    /// A status line is drawn and not yet ended (TTY mode).
    drawn: bool,
    last: Option<(Instant, String)>,
}

impl Progress {
    /// Redraws in place when stderr is a terminal.
    pub fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
        }
    }

    /// Shows the cluster's state for the step `label` started `elapsed` ago.
    pub fn update(&mut self, label: &str, elapsed: Duration, obs: &Observation) {
        let line = status_line(label, elapsed, obs);
        let mut err = std::io::stderr().lock();
        if self.tty {
            // Carriage return, clear the line, draw.
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.drawn = true;
            return;
        }
        // Compare without the elapsed-time prefix: a line is news only when the cluster moved.
        let state = line
            .split_once(']')
            .map_or(line.as_str(), |(_, s)| s)
            .to_string();
        let due = match &self.last {
            None => true,
            Some((at, prev)) => {
                let since = at.elapsed();
                (since >= PLAIN_EVERY && *prev != state) || since >= PLAIN_HEARTBEAT
            }
        };
        if due {
            let _ = writeln!(err, "{line}");
            self.last = Some((Instant::now(), state));
        }
    }

    /// Prints a message on a line of its own (above the status line on a terminal).
    pub fn message(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.drawn {
            let _ = write!(err, "\r\x1b[2K");
            self.drawn = false;
        }
        let _ = writeln!(err, "{text}");
        // The next status line is news.
        self.last = None;
    }

    /// Clears the status line (before the summary).
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::observe::{ClaimView, NodeView, PodView, PoolView};
    use super::*;

    #[test]
    fn status_line_counts_what_the_operator_watches() {
        let obs = Observation {
            pods: vec![
                PodView {
                    name: "a".into(),
                    ..Default::default()
                },
                PodView {
                    name: "b".into(),
                    node: Some("n".into()),
                    running: true,
                    ..Default::default()
                },
            ],
            nodes: vec![
                NodeView {
                    name: "n".into(),
                    ready: true,
                    ..Default::default()
                },
                NodeView::default(),
            ],
            claims: vec![ClaimView {
                ready: true,
                ..Default::default()
            }],
            pools: vec![
                PoolView {
                    name: "system".into(),
                    flavor: "b3-16".into(),
                    nodes: vec!["s".into()],
                    ..Default::default()
                },
                PoolView {
                    name: "karpenter-b3-8-eu-west-par-a".into(),
                    flavor: "b3-8".into(),
                    nodes: vec!["n".into()],
                    ..Default::default()
                },
            ],
        };
        assert_eq!(
            status_line("basic", Duration::from_secs(12), &obs),
            "[basic   12s] pending pods 1 | NodeClaims 1 (1 ready) | OVH pools 1 | nodes 2 (1 ready) | 0.0512 EUR/h"
        );
    }
}
