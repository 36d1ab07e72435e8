//! Watch events, their shared wire lines, and the start of a watch (initial state or history
//! replay before the live stream).

use super::{Store, Stored};
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::resources::{ResourceDef, StorageKey};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, shared by every watcher (its JSON line is built once).
#[derive(Debug)]
pub struct WatchEvent {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Collection changed.
    pub storage: StorageKey,
    /// Kind of change.
    pub type_: EventType,
    /// Object after the change (the last state for deletions).
    pub obj: Arc<Stored>,
    /// Object before the change (for selector transitions).
    pub prev: Option<Arc<Stored>>,
    /// The JSON line, built by the first watcher that needs it.
    line: OnceLock<Bytes>,
    /// The protobuf frame, built by the first protobuf watcher that needs it.
    frame: OnceLock<Option<Bytes>>,
}

impl WatchEvent {
    /// A shared event.
    pub(super) fn new(
        type_: EventType,
        storage: StorageKey,
        obj: Arc<Stored>,
        prev: Option<Arc<Stored>>,
        rv: u64,
    ) -> Arc<Self> {
        Arc::new(WatchEvent {
            rv,
            storage,
            type_,
            obj,
            prev,
            line: OnceLock::new(),
            frame: OnceLock::new(),
        })
    }

    /// `{"type":..,"object":..}\n` in the stored form, serialized once for all watchers.
    pub fn native_line(&self) -> Bytes {
        self.line
            .get_or_init(|| event_line(self.type_.as_str(), &self.obj.json))
            .clone()
    }
}

impl WatchEvent {
    /// The protobuf watch frame of the stored form, built once (by `build`) for all watchers.
    pub fn native_frame(&self, build: impl FnOnce() -> Option<Bytes>) -> Option<Bytes> {
        self.frame.get_or_init(build).clone()
    }
}

/// A watch stream line around an already-serialized object.
pub fn event_line(type_: &str, obj: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(obj.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(type_.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(obj);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

/// Start of a watch: events to replay, then the live receiver.
pub struct WatchStart {
    /// Events before going live (initial ADDED or history replay).
    pub replay: Vec<Arc<WatchEvent>>,
    /// Live events (all collections; filter by `storage`).
    pub rx: broadcast::Receiver<Arc<WatchEvent>>,
    /// Global resourceVersion at subscription.
    pub rv: u64,
}

impl Store {
    /// Starts a watch on a collection from a resourceVersion (`None`/`0`: current state first).
    pub fn watch(
        &self,
        def: &ResourceDef,
        rv: Option<u64>,
        send_initial: bool,
    ) -> ApiResult<WatchStart> {
        let st = self.read();
        let rx = self.tx.subscribe();
        let replay = match rv {
            Some(r) if r > 0 && !send_initial => {
                if r < st.compacted {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {r} ({})",
                        st.compacted + 1
                    )));
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > r && e.storage == def.storage)
                    .cloned()
                    .collect()
            }
            _ => st
                .collections
                .get(&def.storage)
                .map(|c| {
                    c.values()
                        .map(|o| {
                            WatchEvent::new(
                                EventType::Added,
                                def.storage.clone(),
                                o.clone(),
                                None,
                                o.rv,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(WatchStart {
            replay,
            rx,
            rv: st.rv,
        })
    }
}
