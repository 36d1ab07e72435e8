//! Fault injection per endpoint: 5xx, 429, added latency, dropped connections. Deterministic for
//! a given seed and request order.
//!
//! Endpoints are keyed `"{METHOD} {route}"` with the route as OVH documents it, e.g.
//! `"PUT /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}"` (see
//! [`super::ENDPOINTS`]); the key `"*"` applies to every endpoint without its own entry.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Faults of one endpoint. Faults are decided before authentication and before the request
/// touches the state, so a faulted request changed nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultSpec {
    /// Probability of a 5xx answer (500, 502 or 503).
    pub server_error_rate: f64,
    /// Probability of a 429 answer.
    pub too_many_requests_rate: f64,
    /// Probability of a dropped connection (the response body is cut).
    pub drop_rate: f64,
    /// Added latency before answering, in real milliseconds.
    pub latency_ms: u64,
    /// Statuses forced on the next requests, in order (0 = dropped connection); consumed
    /// before the probabilities apply.
    pub fail_next: VecDeque<u16>,
}

/// What the server does instead of answering normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an OVH error body.
    Status(u16),
    /// Cut the connection.
    Drop,
}

impl Fault {
    /// A label for the request log.
    pub fn label(&self) -> String {
        match self {
            Fault::Status(s) => format!("injected {s}"),
            Fault::Drop => "injected drop".into(),
        }
    }
}

/// All faults and their random source.
pub struct Faults {
    rng: StdRng,
    specs: BTreeMap<String, FaultSpec>,
}

impl Faults {
    /// No faults.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            specs: BTreeMap::new(),
        }
    }

    /// Sets the faults of one endpoint key (or `"*"`).
    pub fn set(&mut self, key: &str, spec: FaultSpec) {
        self.specs.insert(key.to_string(), spec);
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.specs.clear();
    }

    /// Current specs.
    pub fn specs(&self) -> &BTreeMap<String, FaultSpec> {
        &self.specs
    }

    /// Decides the fate of one request to `key`.
    pub fn decide(&mut self, key: &str) -> (Option<Fault>, Duration) {
        let spec_key = if self.specs.contains_key(key) {
            key
        } else if self.specs.contains_key("*") {
            "*"
        } else {
            return (None, Duration::ZERO);
        };
        let spec = self.specs.get_mut(spec_key).expect("checked");
        let latency = Duration::from_millis(spec.latency_ms);
        if let Some(status) = spec.fail_next.pop_front() {
            let fault = if status == 0 {
                Fault::Drop
            } else {
                Fault::Status(status)
            };
            return (Some(fault), latency);
        }
        let roll: f64 = self.rng.random();
        let fault = if roll < spec.server_error_rate {
            Some(Fault::Status(
                [500, 502, 503][self.rng.random_range(0..3usize)],
            ))
        } else if roll < spec.server_error_rate + spec.too_many_requests_rate {
            Some(Fault::Status(429))
        } else if roll < spec.server_error_rate + spec.too_many_requests_rate + spec.drop_rate {
            Some(Fault::Drop)
        } else {
            None
        };
        (fault, latency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let spec = FaultSpec {
            server_error_rate: 0.3,
            too_many_requests_rate: 0.2,
            drop_rate: 0.1,
            ..FaultSpec::default()
        };
        let run = || {
            let mut f = Faults::new(7);
            f.set("*", spec.clone());
            (0..200).map(|_| f.decide("GET /x").0).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let errors = a.iter().filter(|f| f.is_some()).count();
        assert!((80..160).contains(&errors), "{errors} faults of 200 at 60%");
    }

    #[test]
    fn fail_next_is_consumed_in_order_then_specific_key_wins() {
        let mut f = Faults::new(1);
        f.set(
            "GET /a",
            FaultSpec {
                fail_next: [503, 0].into(),
                ..FaultSpec::default()
            },
        );
        f.set(
            "*",
            FaultSpec {
                server_error_rate: 1.0,
                ..FaultSpec::default()
            },
        );
        assert_eq!(f.decide("GET /a").0, Some(Fault::Status(503)));
        assert_eq!(f.decide("GET /a").0, Some(Fault::Drop));
        assert_eq!(f.decide("GET /a").0, None);
        assert!(matches!(
            f.decide("GET /b").0,
            Some(Fault::Status(500..=503))
        ));
    }
}
