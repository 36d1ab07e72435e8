//! The active policy of each world, swapped atomically, with fallback to the embedded defaults.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::canned;
use super::error::PolicyError;
use super::metrics::{CallLabels, FallbackLabels, InfoLabels, PolicyMetrics, WorldLabels};
use super::output::OutputSize;
use super::runtime::{CompiledPolicy, PolicyRuntime};
use super::types::consolidation::{ConsolidationDecision, ConsolidationRequest};
use super::types::drift::{DriftDecision, DriftRequest};
use super::types::provisioning::{ProvisioningDecision, ProvisioningRequest};
use super::validate;
use super::wire;
use super::world::World;

/// Where an active policy comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "origin")]
pub enum PolicySource {
    /// The default component embedded in the binary.
    Embedded,
    /// Loaded at run time, e.g. `configmap karpenter/my-policy` or a file path.
    Loaded(String),
}

/// A compiled policy with its configuration, as a world runs it.
#[derive(Debug)]
pub struct ActivePolicy {
    /// The compiled, smoke-tested component.
    pub policy: CompiledPolicy,
    /// The policy's JSON configuration, put in every request's `config` (`""` for none).
    pub config: String,
    /// Where it comes from.
    pub source: PolicySource,
}

impl ActivePolicy {
    /// What to report about it.
    pub fn status(&self) -> PolicyStatus {
        let info = &self.policy.info;
        PolicyStatus {
            world: info.world,
            digest: info.digest.to_string(),
            size: info.size,
            wit_version: info.wit_version.to_string(),
            name: self.policy.metadata.name.clone(),
            version: self.policy.metadata.version.clone(),
            description: self.policy.metadata.description.clone(),
            configured: !self.config.is_empty(),
            source: self.source.clone(),
        }
    }
}

/// What a world's active policy is (for logs, status, `policy info`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyStatus {
    /// The world it implements.
    pub world: World,
    /// `sha256:<hex>` of the component.
    pub digest: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// Version of the contract it targets, e.g. `0.1.0`.
    pub wit_version: String,
    /// Its own name (from `metadata`).
    pub name: String,
    /// Its own version.
    pub version: String,
    /// Its own description.
    pub description: String,
    /// Whether it has a JSON configuration.
    pub configured: bool,
    /// Where it comes from.
    pub source: PolicySource,
}

/// A decision and who made it.
#[derive(Debug)]
pub struct Decided<D> {
    /// The decision, structurally valid for its request.
    pub decision: D,
    /// The policy that made it: the active one, or the embedded default after a failure.
    pub decided_by: Arc<ActivePolicy>,
    /// Why the active policy's answer was not used, when the default answered instead.
    pub failure: Option<PolicyError>,
    /// Wall time of the whole call, fallback included.
    pub elapsed: Duration,
}

/// A request of one world as the component sees it (wasmtime's bindings): how to call it, and
/// how to check its decision structurally.
pub trait WireRequest: Sized {
    /// The decision type of the world.
    type Decision: OutputSize;
    /// The world.
    const WORLD: World;
    /// Puts the policy's configuration in the request.
    fn set_config(&mut self, config: &str);
    /// Calls `policy` with the request, under the runtime's limits.
    fn call(
        &self,
        runtime: &PolicyRuntime,
        policy: &CompiledPolicy,
    ) -> Result<Self::Decision, PolicyError>;
    /// Checks the decision against the request (see [`validate`]).
    fn validate(&self, decision: &Self::Decision) -> Result<(), PolicyError>;
}

impl WireRequest for wire::provisioning::ProvisioningRequest {
    type Decision = wire::provisioning::ProvisioningDecision;
    const WORLD: World = World::FlavorSelection;
    fn set_config(&mut self, config: &str) {
        config.clone_into(&mut self.config);
    }
    fn call(&self, rt: &PolicyRuntime, p: &CompiledPolicy) -> Result<Self::Decision, PolicyError> {
        rt.select(p, self)
    }
    fn validate(&self, d: &Self::Decision) -> Result<(), PolicyError> {
        validate::provisioning(self, d)
    }
}

impl WireRequest for wire::consolidation::ConsolidationRequest {
    type Decision = wire::consolidation::ConsolidationDecision;
    const WORLD: World = World::Consolidation;
    fn set_config(&mut self, config: &str) {
        config.clone_into(&mut self.config);
    }
    fn call(&self, rt: &PolicyRuntime, p: &CompiledPolicy) -> Result<Self::Decision, PolicyError> {
        rt.consolidate(p, self)
    }
    fn validate(&self, d: &Self::Decision) -> Result<(), PolicyError> {
        validate::consolidation(self, d)
    }
}

impl WireRequest for wire::drift::DriftRequest {
    type Decision = wire::drift::DriftDecision;
    const WORLD: World = World::Drift;
    fn set_config(&mut self, config: &str) {
        config.clone_into(&mut self.config);
    }
    fn call(&self, rt: &PolicyRuntime, p: &CompiledPolicy) -> Result<Self::Decision, PolicyError> {
        rt.detect(p, self)
    }
    fn validate(&self, d: &Self::Decision) -> Result<(), PolicyError> {
        validate::drift(self, d)
    }
}

/// A request of one world as the decision code builds it (the core's types): the runtime moves
/// it into the bindings' types for the call and the decision back.
pub trait PolicyRequest: Sized {
    /// The decision type of the world.
    type Decision;
    /// The same request as the component sees it.
    type Wire: WireRequest;
    /// The world.
    const WORLD: World;
    /// Moves the request into the bindings' types.
    fn into_wire(self) -> Self::Wire;
    /// Moves a decision out of the bindings' types.
    fn decision(wire: <Self::Wire as WireRequest>::Decision) -> Self::Decision;
}

macro_rules! policy_request {
    ($request:ty, $decision:ty, $wire:ty, $world:expr) => {
        impl PolicyRequest for $request {
            type Decision = $decision;
            type Wire = $wire;
            const WORLD: World = $world;
            fn into_wire(self) -> Self::Wire {
                self.into()
            }
            fn decision(wire: <Self::Wire as WireRequest>::Decision) -> Self::Decision {
                wire.into()
            }
        }
    };
}

policy_request!(
    ProvisioningRequest,
    ProvisioningDecision,
    wire::provisioning::ProvisioningRequest,
    World::FlavorSelection
);
policy_request!(
    ConsolidationRequest,
    ConsolidationDecision,
    wire::consolidation::ConsolidationRequest,
    World::Consolidation
);
policy_request!(
    DriftRequest,
    DriftDecision,
    wire::drift::DriftRequest,
    World::Drift
);

/// The components of the default policies, one per world.
#[derive(Debug, Clone, Copy)]
pub struct DefaultComponents {
    /// The `flavor-selection` default.
    pub flavor_selection: &'static [u8],
    /// The `consolidation` default.
    pub consolidation: &'static [u8],
    /// The `drift` default.
    pub drift: &'static [u8],
}

impl DefaultComponents {
    /// The component of `world`.
    pub fn get(&self, world: World) -> &'static [u8] {
        match world {
            World::FlavorSelection => self.flavor_selection,
            World::Consolidation => self.consolidation,
            World::Drift => self.drift,
        }
    }
}

struct Inner {
    runtime: Arc<PolicyRuntime>,
    defaults: [Arc<ActivePolicy>; 3],
    active: [ArcSwap<ActivePolicy>; 3],
    metrics: PolicyMetrics,
}

/// The policies in force, one per world. Calls never wait for a swap and a swap never waits
/// for calls: each call uses the policy that was active when it started. Cheap to clone.
#[derive(Clone)]
pub struct PolicySet {
    inner: Arc<Inner>,
}

impl PolicySet {
    /// A set whose defaults (and fallbacks) are `defaults`; each is compiled and smoke-tested.
    pub fn with_defaults(
        runtime: Arc<PolicyRuntime>,
        defaults: DefaultComponents,
    ) -> Result<Self, PolicyError> {
        let default = |world: World| -> Result<Arc<ActivePolicy>, PolicyError> {
            prepare(
                &runtime,
                world,
                defaults.get(world),
                String::new(),
                PolicySource::Embedded,
            )
        };
        let defaults = [
            default(World::FlavorSelection)?,
            default(World::Consolidation)?,
            default(World::Drift)?,
        ];
        let active = defaults.clone().map(ArcSwap::new);
        let set = PolicySet {
            inner: Arc::new(Inner {
                runtime,
                defaults,
                active,
                metrics: PolicyMetrics::default(),
            }),
        };
        for world in World::ALL {
            set.set_info(&set.active(world), 1);
        }
        Ok(set)
    }

    /// The runtime the set calls through.
    pub fn runtime(&self) -> &Arc<PolicyRuntime> {
        &self.inner.runtime
    }

    /// The set's metrics (register them with [`PolicyMetrics::register`]).
    pub fn metrics(&self) -> &PolicyMetrics {
        &self.inner.metrics
    }

    /// The active policy of `world`.
    pub fn active(&self, world: World) -> Arc<ActivePolicy> {
        self.inner.active[world.index()].load_full()
    }

    /// The embedded default of `world`, the fallback of every call.
    pub fn default_policy(&self, world: World) -> Arc<ActivePolicy> {
        self.inner.defaults[world.index()].clone()
    }

    /// Status of the active policy of each world.
    pub fn status(&self) -> Vec<PolicyStatus> {
        World::ALL.map(|w| self.active(w).status()).to_vec()
    }

    /// Checks, compiles and smoke-tests a policy without activating it. CPU-bound: use
    /// [`PolicySet::load`] from async code.
    pub fn prepare(
        &self,
        world: World,
        bytes: &[u8],
        config: String,
        source: PolicySource,
    ) -> Result<Arc<ActivePolicy>, PolicyError> {
        prepare(&self.inner.runtime, world, bytes, config, source)
    }

    /// Makes `policy` the active one of its world and returns the previous one. Calls in
    /// flight finish with the policy they started with.
    pub fn activate(&self, policy: Arc<ActivePolicy>) -> Arc<ActivePolicy> {
        let world = policy.policy.info.world;
        self.set_info(&policy, 1);
        let previous = self.inner.active[world.index()].swap(policy.clone());
        if previous.policy.info.digest != policy.policy.info.digest {
            self.set_info(&previous, 0);
        }
        tracing::info!(%world, policy = %policy.policy.metadata.name,
            version = %policy.policy.metadata.version, digest = %policy.policy.info.digest,
            source = ?policy.source, "policy activated");
        previous
    }

    /// Compiles and smoke-tests `bytes` off the async executor, then activates them. On error
    /// the previous policy stays active.
    pub async fn load(
        &self,
        world: World,
        bytes: Vec<u8>,
        config: String,
        source: PolicySource,
    ) -> Result<PolicyStatus, PolicyError> {
        let runtime = self.inner.runtime.clone();
        let prepared =
            tokio::task::spawn_blocking(move || prepare(&runtime, world, &bytes, config, source))
                .await
                .map_err(|e| PolicyError::Compile(format!("compilation task failed: {e}")))?;
        match prepared {
            Ok(policy) => {
                let status = policy.status();
                self.activate(policy);
                Ok(status)
            }
            Err(e) => {
                tracing::warn!(%world, error = %e, "policy refused; the previous one stays active");
                Err(e)
            }
        }
    }

    /// Makes the embedded default the active policy of `world` again.
    pub fn reset(&self, world: World) -> Arc<ActivePolicy> {
        self.activate(self.default_policy(world))
    }

    /// Chooses new nodes for a batch of pending pods (see [`PolicySet::decide`]).
    pub fn select(
        &self,
        request: ProvisioningRequest,
    ) -> Result<Decided<ProvisioningDecision>, PolicyError> {
        self.decide(request)
    }

    /// Chooses nodes to remove or replace (see [`PolicySet::decide`]).
    pub fn consolidate(
        &self,
        request: ConsolidationRequest,
    ) -> Result<Decided<ConsolidationDecision>, PolicyError> {
        self.decide(request)
    }

    /// Finds drifted NodeClaims (see [`PolicySet::decide`]).
    pub fn detect(&self, request: DriftRequest) -> Result<Decided<DriftDecision>, PolicyError> {
        self.decide(request)
    }

    /// Asks the active policy of the request's world, with the policy's configuration in the
    /// request. When it fails in any way (trap, deadline, memory, refusal, output too large or
    /// structurally invalid) the embedded default answers instead, the failure is logged,
    /// counted and returned in [`Decided::failure`]. `Err` only when the default fails too.
    /// CPU-bound, bounded by the deadline (twice, with a fallback).
    pub fn decide<R: PolicyRequest>(
        &self,
        request: R,
    ) -> Result<Decided<R::Decision>, PolicyError> {
        self.decide_with(self.active(R::WORLD), request)
    }

    /// [`PolicySet::decide`] with `active` instead of the set's active policy of the world
    /// (`policy evaluate` replays several policies side by side).
    pub fn decide_with<R: PolicyRequest>(
        &self,
        active: Arc<ActivePolicy>,
        request: R,
    ) -> Result<Decided<R::Decision>, PolicyError> {
        let world = R::WORLD;
        let start = Instant::now();
        let default = self.default_policy(world);
        // Moved, not copied: the request is converted once, whichever policies answer.
        let mut request = request.into_wire();
        let result = self.call_wire(&active, &mut request);
        let (outcome, result) = match result {
            Ok(decision) => (
                "ok",
                Ok(Decided {
                    decision,
                    decided_by: active,
                    failure: None,
                    elapsed: Duration::ZERO,
                }),
            ),
            Err(failure) if !Arc::ptr_eq(&active, &default) => {
                tracing::warn!(%world, policy = %active.policy.metadata.name,
                    digest = %active.policy.info.digest, reason = failure.reason(), error = %failure,
                    "policy failed; the embedded default decides this call");
                self.record_fallback(world, failure.reason());
                match self.call_wire(&default, &mut request) {
                    Ok(decision) => (
                        "fallback",
                        Ok(Decided {
                            decision,
                            decided_by: default,
                            failure: Some(failure),
                            elapsed: Duration::ZERO,
                        }),
                    ),
                    Err(e) => {
                        tracing::error!(%world, error = %e, "the embedded default policy failed too");
                        ("failed", Err(e))
                    }
                }
            }
            Err(e) => {
                tracing::error!(%world, error = %e, "the embedded default policy failed");
                ("failed", Err(e))
            }
        };
        let elapsed = start.elapsed();
        self.record_call(world, outcome, elapsed);
        result.map(|d| Decided {
            decision: R::decision(d.decision),
            decided_by: d.decided_by,
            failure: d.failure,
            elapsed,
        })
    }

    /// Counts one decision of `world` (`outcome`: `ok`, `fallback` or `failed`) and its wall
    /// time, for callers that drive the fallback themselves (provisioning validates answers
    /// against the cluster before accepting them).
    pub fn record_call(&self, world: World, outcome: &str, elapsed: Duration) {
        let metrics = &self.inner.metrics;
        metrics
            .calls
            .get_or_create(&CallLabels {
                world: world.to_string(),
                outcome: outcome.into(),
            })
            .inc();
        metrics
            .duration
            .get_or_create(&WorldLabels {
                world: world.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one fallback to the embedded default of `world`, by short reason.
    pub fn record_fallback(&self, world: World, reason: &str) {
        self.inner
            .metrics
            .fallbacks
            .get_or_create(&FallbackLabels {
                world: world.to_string(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Calls one policy with its configuration and validates the answer; no fallback.
    pub fn call_policy<R: PolicyRequest>(
        &self,
        policy: &ActivePolicy,
        request: R,
    ) -> Result<R::Decision, PolicyError> {
        self.call_wire(policy, &mut request.into_wire())
            .map(R::decision)
    }

    /// [`PolicySet::call_policy`] on the bindings' types.
    fn call_wire<W: WireRequest>(
        &self,
        policy: &ActivePolicy,
        request: &mut W,
    ) -> Result<W::Decision, PolicyError> {
        request.set_config(&policy.config);
        let decision = request.call(&self.inner.runtime, &policy.policy)?;
        request.validate(&decision)?;
        Ok(decision)
    }

    fn set_info(&self, policy: &ActivePolicy, value: i64) {
        let labels = InfoLabels {
            world: policy.policy.info.world.to_string(),
            digest: policy.policy.info.digest.to_hex(),
            name: policy.policy.metadata.name.clone(),
            version: policy.policy.metadata.version.clone(),
        };
        if value == 0 {
            self.inner.metrics.info.remove(&labels);
        } else {
            self.inner.metrics.info.get_or_create(&labels).set(value);
        }
    }
}

/// Compiles `bytes` as a `world` policy and smoke-tests it on the world's canned request.
fn prepare(
    runtime: &PolicyRuntime,
    world: World,
    bytes: &[u8],
    config: String,
    source: PolicySource,
) -> Result<Arc<ActivePolicy>, PolicyError> {
    let policy = runtime.compile(world, bytes)?;
    let active = ActivePolicy {
        policy,
        config,
        source,
    };
    let smoke = |r: Result<(), PolicyError>| {
        r.map_err(|e| {
            tracing::info!(%world, error = %e, "policy failed its smoke test");
            e
        })
    };
    match world {
        World::FlavorSelection => smoke(smoke_test(
            runtime,
            &active,
            canned::provisioning().into_wire(),
        ))?,
        World::Consolidation => smoke(smoke_test(
            runtime,
            &active,
            canned::consolidation().into_wire(),
        ))?,
        World::Drift => smoke(smoke_test(runtime, &active, canned::drift().into_wire()))?,
    }
    Ok(Arc::new(active))
}

fn smoke_test<R: WireRequest>(
    runtime: &PolicyRuntime,
    policy: &ActivePolicy,
    mut request: R,
) -> Result<(), PolicyError> {
    request.set_config(&policy.config);
    let decision = request.call(runtime, &policy.policy)?;
    request.validate(&decision)
}
