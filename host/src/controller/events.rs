//! Event publishing (events.k8s.io/v1) with series: a repeat of the same Event bumps its count
//! instead of writing a new object. Unlike kube-rs' `Recorder`, whose series key leaves the
//! note out (a pod told "limits reached" after "no flavor fits" kept showing the first note),
//! the note is part of what makes two Events the same: a changed reason is a new Event.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

/// How long a published Event is remembered for its series (as kube-rs and client-go).
const REMEMBER: Duration = Duration::from_secs(6 * 60);
/// Events remembered at most; past it the oldest are forgotten (a repeat then starts a new
/// Event, nothing is lost).
const MAX_REMEMBERED: usize = 4096;

/// Publishes Events as one controller instance.
pub struct Publisher {
    client: Client,
    clock: crate::clock::Clock,
    controller: String,
    instance: String,
    published: tokio::sync::Mutex<HashMap<String, (Instant, Event)>>,
}

impl Publisher {
    /// A publisher reporting as `controller` / `instance`.
    pub fn new(
        client: Client,
        clock: crate::clock::Clock,
        controller: &str,
        instance: &str,
    ) -> Self {
        Self {
            client,
            clock,
            controller: controller.into(),
            instance: instance.into(),
            published: Default::default(),
        }
    }

    /// Publishes an Event about `regarding` (cluster-scoped objects' Events go to `default`).
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let type_ = if warning { "Warning" } else { "Normal" };
        let key = format!(
            "{}/{}/{}/{}\n{type_}\n{reason}\n{action}\n{note}",
            regarding.kind.as_deref().unwrap_or_default(),
            regarding.namespace.as_deref().unwrap_or_default(),
            regarding.name.as_deref().unwrap_or_default(),
            regarding.uid.as_deref().unwrap_or_default(),
        );
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let now = self.clock.now();
        let seen = {
            let mut published = self.published.lock().await;
            published.retain(|_, (at, _)| at.elapsed() < REMEMBER);
            if published.len() >= MAX_REMEMBERED {
                if let Some(oldest) = published
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    published.remove(&oldest);
                }
            }
            published.get(&key).map(|(_, e)| e.clone())
        };
        let event = match seen {
            Some(mut event) => {
                let count = event.series.as_ref().map_or(2, |s| s.count + 1);
                event.series = Some(EventSeries {
                    count,
                    last_observed_time: MicroTime(now),
                });
                api.patch(
                    &event.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&event),
                )
                .await?;
                event
            }
            None => {
                let event = Event {
                    metadata: ObjectMeta {
                        namespace: Some(namespace.to_string()),
                        name: Some(format!(
                            "{}.{:x}",
                            regarding.name.as_deref().unwrap_or(&self.controller),
                            now.as_nanosecond()
                        )),
                        ..Default::default()
                    },
                    action: Some(action.into()),
                    reason: Some(reason.into()),
                    note: Some(note.chars().take(1000).collect()),
                    type_: Some(type_.into()),
                    event_time: Some(MicroTime(now)),
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(self.controller.clone()),
                    reporting_instance: Some(self.instance.clone()),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &event).await?
            }
        };
        self.published
            .lock()
            .await
            .insert(key, (Instant::now(), event));
        Ok(())
    }
}
