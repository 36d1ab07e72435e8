//! The engine: compile once per digest (memory and optional disk cache), pre-instantiate per
//! world, and run each call in a fresh `Store` under [`Limits`].

use std::collections::HashMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

use super::bindings::{
    consolidation::{Consolidation, ConsolidationPre},
    drift::{Drift, DriftPre},
    flavor_selection::{FlavorSelection, FlavorSelectionPre},
    v0_1,
};
use super::error::PolicyError;
use super::inspect::{inspect, ComponentInfo, Digest};
use super::limits::{CallState, Limits, PolicyLabel};
use super::output::OutputSize;
use super::wire::consolidation::{ConsolidationDecision, ConsolidationRequest};
use super::wire::drift::{DriftDecision, DriftRequest};
use super::wire::provisioning::{ProvisioningDecision, ProvisioningRequest};
use super::wire::PolicyMetadata;
use super::world::World;
use karpenter_ovhcloud_core::policy::types as core;

/// How the engine is built. Changing it invalidates on-disk cached artifacts (they carry a
/// hash of the engine configuration).
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Period of the epoch ticker that enforces [`Limits::deadline`] (default 2 ms).
    pub epoch_tick: Duration,
    /// Compile fuel metering in, so [`Limits::fuel`] can apply (default true, ~3% slower).
    pub fuel: bool,
    /// Directory of precompiled artifacts, one file per component digest; `None` keeps them
    /// in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Compiled components kept in memory (default 32; the oldest is dropped first).
    pub memory_cache_entries: usize,
    /// Per-call bounds.
    pub limits: Limits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            epoch_tick: Duration::from_millis(2),
            fuel: true,
            cache_dir: None,
            memory_cache_entries: 32,
            limits: Limits::default(),
        }
    }
}

/// A world's pre-instantiated component: imports resolved once, instantiated per call.
#[derive(Clone)]
pub enum WorldPre {
    /// A `flavor-selection` policy.
    FlavorSelection(FlavorSelectionPre<CallState>),
    /// A `consolidation` policy.
    Consolidation(ConsolidationPre<CallState>),
    /// A `drift` policy.
    Drift(DriftPre<CallState>),
    /// A `flavor-selection` policy of contract 0.1.0.
    FlavorSelectionV0_1(v0_1::flavor_selection::FlavorSelectionPre<CallState>),
    /// A `consolidation` policy of contract 0.1.0.
    ConsolidationV0_1(v0_1::consolidation::ConsolidationPre<CallState>),
    /// A `drift` policy of contract 0.1.0.
    DriftV0_1(v0_1::drift::DriftPre<CallState>),
}

/// A compiled, linked policy, ready to be called. Cheap to clone.
#[derive(Clone)]
pub struct CompiledPolicy {
    /// What its bytes say about it.
    pub info: ComponentInfo,
    /// What the policy says about itself (its `metadata` export).
    pub metadata: PolicyMetadata,
    /// The pre-instantiated component.
    pub pre: WorldPre,
    label: Arc<PolicyLabel>,
}

impl std::fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("info", &self.info)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// The Wasm policy runtime: one engine, a component cache, one linker per world and contract
/// minor version.
pub struct PolicyRuntime {
    engine: Engine,
    /// Linkers of contract 0.2.0, by [`World::index`].
    linkers: [Linker<CallState>; 3],
    /// Linkers of contract 0.1.0, by [`World::index`].
    linkers_v0_1: [Linker<CallState>; 3],
    cache: Mutex<ComponentCache>,
    cache_dir: Option<PathBuf>,
    /// Hash of the engine configuration and wasmtime version, the header of disk artifacts.
    engine_hash: [u8; 32],
    limits: Limits,
    epoch_tick: Duration,
    fuel_enabled: bool,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for PolicyRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl PolicyRuntime {
    /// Builds the engine and starts its epoch ticker thread (stopped when the runtime drops).
    pub fn new(config: RuntimeConfig) -> Result<Self, PolicyError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel)
            .parallel_compilation(true);
        let engine = Engine::new(&wasm).map_err(|e| PolicyError::Compile(e.to_string()))?;

        let link = |world: World, v0_1: bool| -> Result<Linker<CallState>, PolicyError> {
            let mut linker = Linker::new(&engine);
            let r = match (world, v0_1) {
                (World::FlavorSelection, false) => {
                    FlavorSelection::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
                }
                (World::Consolidation, false) => {
                    Consolidation::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
                }
                (World::Drift, false) => {
                    Drift::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
                }
                (World::FlavorSelection, true) => {
                    v0_1::flavor_selection::FlavorSelection::add_to_linker::<_, HasSelf<CallState>>(
                        &mut linker,
                        |s| s,
                    )
                }
                (World::Consolidation, true) => {
                    v0_1::consolidation::Consolidation::add_to_linker::<_, HasSelf<CallState>>(
                        &mut linker,
                        |s| s,
                    )
                }
                (World::Drift, true) => {
                    v0_1::drift::Drift::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)
                }
            };
            r.map_err(|e| PolicyError::Instantiate(e.to_string()))?;
            Ok(linker)
        };
        let linkers = [
            link(World::FlavorSelection, false)?,
            link(World::Consolidation, false)?,
            link(World::Drift, false)?,
        ];
        let linkers_v0_1 = [
            link(World::FlavorSelection, true)?,
            link(World::Consolidation, true)?,
            link(World::Drift, true)?,
        ];

        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        hasher.0.update(CACHE_MAGIC);
        let engine_hash: [u8; 32] = hasher.0.finalize().into();

        if let Some(dir) = &config.cache_dir {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot create the policy cache directory; caching in memory only");
            }
        }

        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let (engine, stop, tick) = (engine.clone(), ticker_stop.clone(), config.epoch_tick);
            std::thread::Builder::new()
                .name("policy-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| PolicyError::Compile(format!("cannot start the epoch ticker: {e}")))?;
        }

        Ok(PolicyRuntime {
            engine,
            linkers,
            linkers_v0_1,
            cache: Mutex::new(ComponentCache::new(config.memory_cache_entries)),
            cache_dir: config.cache_dir,
            engine_hash,
            limits: config.limits,
            epoch_tick: config.epoch_tick,
            fuel_enabled: config.fuel,
            ticker_stop,
        })
    }

    /// The per-call bounds.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Checks `bytes` are a policy of `world` (size, world, contract version, imports),
    /// compiles them (or takes them from the cache), links them and reads their metadata.
    /// CPU-bound (~25 ms for a fresh digest): call it off the async executor.
    pub fn compile(&self, world: World, bytes: &[u8]) -> Result<CompiledPolicy, PolicyError> {
        let info = inspect(bytes, self.limits.component_bytes)?;
        if info.world != world {
            return Err(PolicyError::WrongWorld {
                expected: world,
                found: info.world,
            });
        }
        let component = self.component(&info, bytes)?;
        // `inspect` accepted only the minor versions below.
        let v0_1 = info.wit_version.minor == 1;
        let linker = match v0_1 {
            true => &self.linkers_v0_1[world.index()],
            false => &self.linkers[world.index()],
        };
        let inst_err = |e: wasmtime::Error| PolicyError::Instantiate(format!("{e:#}"));
        let pre = linker.instantiate_pre(&component).map_err(inst_err)?;
        let pre = match (world, v0_1) {
            (World::FlavorSelection, false) => {
                WorldPre::FlavorSelection(FlavorSelectionPre::new(pre).map_err(inst_err)?)
            }
            (World::Consolidation, false) => {
                WorldPre::Consolidation(ConsolidationPre::new(pre).map_err(inst_err)?)
            }
            (World::Drift, false) => WorldPre::Drift(DriftPre::new(pre).map_err(inst_err)?),
            (World::FlavorSelection, true) => WorldPre::FlavorSelectionV0_1(
                v0_1::flavor_selection::FlavorSelectionPre::new(pre).map_err(inst_err)?,
            ),
            (World::Consolidation, true) => WorldPre::ConsolidationV0_1(
                v0_1::consolidation::ConsolidationPre::new(pre).map_err(inst_err)?,
            ),
            (World::Drift, true) => {
                WorldPre::DriftV0_1(v0_1::drift::DriftPre::new(pre).map_err(inst_err)?)
            }
        };
        let mut policy = CompiledPolicy {
            label: Arc::new(PolicyLabel {
                world,
                digest: info.digest,
                name: format!("<{}>", info.digest.short()),
            }),
            info,
            metadata: PolicyMetadata {
                name: String::new(),
                version: String::new(),
                description: String::new(),
            },
            pre,
        };
        let metadata = self.checked(Ok(self.metadata(&policy)?))?;
        policy.label = Arc::new(PolicyLabel {
            world,
            digest: policy.info.digest,
            name: metadata.name.clone(),
        });
        policy.metadata = metadata;
        Ok(policy)
    }

    /// A fresh store for one call of `policy`, with every limit armed.
    pub fn new_store(&self, policy: &CompiledPolicy) -> Store<CallState> {
        let mut store = Store::new(
            &self.engine,
            CallState::new(&self.limits, policy.label.clone()),
        );
        store.limiter(|s| &mut s.limiter);
        if self.fuel_enabled {
            // Unlimited when no budget is set; `set_fuel` only fails with fuel disabled.
            let _ = store.set_fuel(self.limits.fuel.unwrap_or(u64::MAX));
        }
        // Ticks needed to cover the deadline, plus one for the tick already under way.
        let tick = self.epoch_tick.as_nanos().max(1);
        store.set_epoch_deadline(self.limits.deadline.as_nanos().div_ceil(tick) as u64 + 1);
        store.epoch_deadline_trap();
        store
    }

    /// Calls the policy's `metadata` export.
    pub fn metadata(&self, policy: &CompiledPolicy) -> Result<PolicyMetadata, PolicyError> {
        self.run(policy, |store, pre| match pre {
            WorldPre::FlavorSelection(pre) => pre.instantiate(&mut *store)?.call_metadata(store),
            WorldPre::Consolidation(pre) => pre.instantiate(&mut *store)?.call_metadata(store),
            WorldPre::Drift(pre) => pre.instantiate(&mut *store)?.call_metadata(store),
            WorldPre::FlavorSelectionV0_1(pre) => {
                up::<_, core::PolicyMetadata, _>(pre.instantiate(&mut *store)?.call_metadata(store))
            }
            WorldPre::ConsolidationV0_1(pre) => {
                up::<_, core::PolicyMetadata, _>(pre.instantiate(&mut *store)?.call_metadata(store))
            }
            WorldPre::DriftV0_1(pre) => {
                up::<_, core::PolicyMetadata, _>(pre.instantiate(&mut *store)?.call_metadata(store))
            }
        })
    }

    /// Calls a `flavor-selection` policy. Checks the size of the output, not its content
    /// (see [`validate`](super::validate)).
    pub fn select(
        &self,
        policy: &CompiledPolicy,
        request: &ProvisioningRequest,
    ) -> Result<ProvisioningDecision, PolicyError> {
        let answer = self.run(policy, |store, pre| match pre {
            WorldPre::FlavorSelection(pre) => {
                pre.instantiate(&mut *store)?.call_select(store, request)
            }
            WorldPre::FlavorSelectionV0_1(pre) => {
                let old = down::<core::provisioning::ProvisioningRequest, _, _>(request);
                up_answer::<_, core::provisioning::ProvisioningDecision, _>(
                    pre.instantiate(&mut *store)?.call_select(store, &old),
                )
            }
            _ => unreachable_world(World::FlavorSelection, policy),
        })?;
        self.checked(answer)
    }

    /// Calls a `consolidation` policy. Checks the size of the output, not its content.
    pub fn consolidate(
        &self,
        policy: &CompiledPolicy,
        request: &ConsolidationRequest,
    ) -> Result<ConsolidationDecision, PolicyError> {
        let answer = self.run(policy, |store, pre| match pre {
            WorldPre::Consolidation(pre) => pre
                .instantiate(&mut *store)?
                .call_consolidate(store, request),
            WorldPre::ConsolidationV0_1(pre) => {
                let old = down::<core::consolidation::ConsolidationRequest, _, _>(request);
                up_answer::<_, core::consolidation::ConsolidationDecision, _>(
                    pre.instantiate(&mut *store)?.call_consolidate(store, &old),
                )
            }
            _ => unreachable_world(World::Consolidation, policy),
        })?;
        self.checked(answer)
    }

    /// Calls a `drift` policy. Checks the size of the output, not its content.
    pub fn detect(
        &self,
        policy: &CompiledPolicy,
        request: &DriftRequest,
    ) -> Result<DriftDecision, PolicyError> {
        let answer = self.run(policy, |store, pre| match pre {
            WorldPre::Drift(pre) => pre.instantiate(&mut *store)?.call_detect(store, request),
            WorldPre::DriftV0_1(pre) => {
                let old = down::<core::drift::DriftRequest, _, _>(request);
                up_answer::<_, core::drift::DriftDecision, _>(
                    pre.instantiate(&mut *store)?.call_detect(store, &old),
                )
            }
            _ => unreachable_world(World::Drift, policy),
        })?;
        self.checked(answer)
    }

    /// Turns the policy's `result<decision, string>` into ours, within the output caps.
    fn checked<D: OutputSize>(&self, answer: Result<D, String>) -> Result<D, PolicyError> {
        let decision = answer.map_err(|message| {
            let mut message = message;
            if message.len() > self.limits.log_line_bytes {
                let mut end = self.limits.log_line_bytes;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            PolicyError::Refused(message)
        })?;
        let size = decision.output_size();
        if size.items > self.limits.output_items || size.bytes > self.limits.output_bytes {
            return Err(PolicyError::OutputTooLarge {
                items: size.items,
                bytes: size.bytes,
                max_items: self.limits.output_items,
                max_bytes: self.limits.output_bytes,
            });
        }
        Ok(decision)
    }

    /// Runs `f` in a fresh store and turns whatever stopped it into a [`PolicyError`].
    fn run<R>(
        &self,
        policy: &CompiledPolicy,
        f: impl FnOnce(&mut Store<CallState>, &WorldPre) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyError> {
        let mut store = self.new_store(policy);
        f(&mut store, &policy.pre).map_err(|e| self.classify(&store, e))
    }

    fn classify(&self, store: &Store<CallState>, error: wasmtime::Error) -> PolicyError {
        let limiter = &store.data().limiter;
        if let Some(requested) = limiter.denied_memory {
            return PolicyError::MemoryLimit {
                requested,
                limit: self.limits.memory_bytes,
            };
        }
        if let Some(elements) = limiter.denied_table {
            return PolicyError::Trap(format!(
                "table grown to {elements} elements, over the cap of {}",
                self.limits.table_elements
            ));
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PolicyError::Deadline {
                limit: self.limits.deadline,
            },
            Some(Trap::OutOfFuel) => PolicyError::OutOfFuel {
                fuel: self.limits.fuel.unwrap_or(u64::MAX),
            },
            Some(trap) => PolicyError::Trap(describe_trap(trap, &error)),
            None => PolicyError::Trap(format!("{error:#}")),
        }
    }

    /// The compiled component of `info.digest`: from memory, else from disk, else compiled.
    fn component(&self, info: &ComponentInfo, bytes: &[u8]) -> Result<Component, PolicyError> {
        if let Some(component) = self.cache.lock().expect("cache lock").get(&info.digest) {
            return Ok(component);
        }
        let component = match self.load_artifact(&info.digest) {
            Some(component) => component,
            None => {
                let component = Component::new(&self.engine, bytes)
                    .map_err(|e| PolicyError::Compile(format!("{e:#}")))?;
                self.store_artifact(&info.digest, &component);
                component
            }
        };
        self.cache
            .lock()
            .expect("cache lock")
            .insert(info.digest, component.clone());
        Ok(component)
    }

    fn artifact_path(&self, digest: &Digest) -> Option<PathBuf> {
        Some(
            self.cache_dir
                .as_ref()?
                .join(format!("{}.cwasm", digest.to_hex())),
        )
    }

    /// Reads a cached artifact. Only artifacts whose header names this engine configuration
    /// and whose checksum matches are deserialized; anything else is ignored (and replaced).
    fn load_artifact(&self, digest: &Digest) -> Option<Component> {
        let path = self.artifact_path(digest)?;
        let file = std::fs::read(&path).ok()?;
        let artifact = match parse_artifact(&file, &self.engine_hash) {
            Ok(artifact) => artifact,
            Err(why) => {
                tracing::info!(path = %path.display(), why, "ignoring cached policy artifact");
                return None;
            }
        };
        // SAFETY: the artifact was written by `store_artifact` of an engine with the same
        // configuration and wasmtime version (header hash), and is intact (checksum). The
        // cache directory belongs to the controller alone.
        #[allow(
            unsafe_code,
            reason = "wasmtime can only load a precompiled component through an unsafe call"
        )]
        let loaded = unsafe { Component::deserialize(&self.engine, artifact) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::info!(path = %path.display(), error = %e, "ignoring cached policy artifact");
                None
            }
        }
    }

    fn store_artifact(&self, digest: &Digest, component: &Component) {
        let Some(path) = self.artifact_path(digest) else {
            return;
        };
        let result = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|artifact| {
                write_atomically(&path, &encode_artifact(&self.engine_hash, &artifact))
            });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache the compiled policy on disk");
        }
    }
}

/// A 0.2.0 request as a 0.1.0 policy takes it, through the core's type `C` (a copy: the
/// 0.1.0 path is the compatibility path, not the fast one).
fn down<C, W, O>(request: &W) -> O
where
    W: Clone + Into<C>,
    C: Into<O>,
{
    request.clone().into().into()
}

/// A 0.1.0 policy's answer in 0.2.0 terms, through the core's type.
fn up<O, C, W>(answer: wasmtime::Result<O>) -> wasmtime::Result<W>
where
    O: Into<C>,
    C: Into<W>,
{
    answer.map(|o| o.into().into())
}

/// A 0.1.0 policy's `result<decision, string>` in 0.2.0 terms.
fn up_answer<O, C, W>(
    answer: wasmtime::Result<Result<O, String>>,
) -> wasmtime::Result<Result<W, String>>
where
    O: Into<C>,
    C: Into<W>,
{
    answer.map(|r| r.map(|o| o.into().into()))
}

fn unreachable_world<R>(world: World, policy: &CompiledPolicy) -> wasmtime::Result<R> {
    wasmtime::bail!(
        "a {} policy called as {world} (the policy set keeps worlds apart)",
        policy.info.world
    )
}

fn describe_trap(trap: &Trap, error: &wasmtime::Error) -> String {
    // The backtrace names the guest function that trapped; keep its first frames.
    match error.downcast_ref::<wasmtime::WasmBacktrace>() {
        Some(bt) => {
            let frames: Vec<String> = bt
                .frames()
                .iter()
                .take(3)
                .map(|f| f.func_name().unwrap_or("?").to_string())
                .collect();
            if frames.is_empty() {
                trap.to_string()
            } else {
                format!("{trap} (in {})", frames.join(" <- "))
            }
        }
        None => trap.to_string(),
    }
}

/// Header of on-disk artifacts: magic and format version.
const CACHE_MAGIC: &[u8; 12] = b"KOVHPOLICY\x00\x01";

fn encode_artifact(engine_hash: &[u8; 32], artifact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CACHE_MAGIC.len() + 64 + artifact.len());
    out.extend_from_slice(CACHE_MAGIC);
    out.extend_from_slice(engine_hash);
    out.extend_from_slice(&Sha256::digest(artifact));
    out.extend_from_slice(artifact);
    out
}

fn parse_artifact<'a>(file: &'a [u8], engine_hash: &[u8; 32]) -> Result<&'a [u8], &'static str> {
    let rest = file
        .strip_prefix(CACHE_MAGIC.as_slice())
        .ok_or("not a policy artifact of this format version")?;
    if rest.len() < 64 {
        return Err("truncated");
    }
    let (header, artifact) = rest.split_at(64);
    if &header[..32] != engine_hash {
        return Err("made by another engine configuration or wasmtime version");
    }
    if header[32..] != Sha256::digest(artifact)[..] {
        return Err("checksum mismatch");
    }
    Ok(artifact)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Feeds `Hash` output into sha256, for a hash that is stable across processes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Compiled components by digest, the oldest dropped first beyond `capacity`.
struct ComponentCache {
    capacity: usize,
    entries: HashMap<Digest, Component>,
    order: std::collections::VecDeque<Digest>,
}

impl ComponentCache {
    fn new(capacity: usize) -> Self {
        ComponentCache {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: Default::default(),
        }
    }

    fn get(&self, digest: &Digest) -> Option<Component> {
        self.entries.get(digest).cloned()
    }

    fn insert(&mut self, digest: Digest, component: Component) {
        if self.entries.insert(digest, component).is_none() {
            self.order.push_back(digest);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_refused_unless_header_and_checksum_match() {
        let hash = [7u8; 32];
        let file = encode_artifact(&hash, b"compiled code");
        assert_eq!(parse_artifact(&file, &hash), Ok(&b"compiled code"[..]));
        assert!(parse_artifact(&file, &[8u8; 32]).is_err());
        let mut corrupt = file.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        assert_eq!(parse_artifact(&corrupt, &hash), Err("checksum mismatch"));
        assert!(parse_artifact(&file[..40], &hash).is_err());
        assert!(parse_artifact(b"garbage", &hash).is_err());
    }
}
