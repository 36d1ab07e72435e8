//! Objects read one by one: a NodePool or NodeClaim whose spec this controller cannot interpret
//! (a value a newer Karpenter accepts, a field of the wrong type) must not fail the whole list
//! or watch it came in, hiding every other object. [`Tolerant`] keeps such an object's metadata
//! and says which field and value it could not read, so the controller can report it on the
//! object (`ValidationSucceeded=False`) and go on with the others.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;

/// Why an object could not be read as its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The field, e.g. `spec.disruption.consolidationPolicy` (empty for the object itself).
    pub path: String,
    /// What is wrong with it, naming the value (serde's message).
    pub message: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// An object of kind `K` as read from the API server: its metadata always, the typed object
/// when it could be read.
#[derive(Clone, Debug)]
pub struct Tolerant<K> {
    /// The object's metadata (the API server guarantees it is well formed).
    pub metadata: ObjectMeta,
    /// The object, or why it could not be read.
    pub parsed: Result<K, Unreadable>,
}

impl<K> Tolerant<K> {
    /// The typed object, if it could be read.
    pub fn object(&self) -> Option<&K> {
        self.parsed.as_ref().ok()
    }
}

impl<K: DeserializeOwned> Tolerant<K> {
    /// Reads `value` as a `K`, keeping its metadata when that fails.
    pub fn from_value(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        let metadata = match value.get("metadata") {
            Some(m) => ObjectMeta::deserialize(m)?,
            None => return Err(serde_json::Error::custom("object without metadata")),
        };
        // The common case reads the object once; only a failure is read again, tracking the
        // path of the field at fault (which costs on every field).
        let parsed = K::deserialize(&value).or_else(|_| {
            serde_path_to_error::deserialize::<_, K>(&value).map_err(|e| Unreadable {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })
        });
        Ok(Tolerant { metadata, parsed })
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Tolerant<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Self::from_value(value).map_err(D::Error::custom)
    }
}

/// Implements `kube::Resource` for a wrapper `$ty<K>` of objects of kind `K` (a
/// `Resource<DynamicType = ()>`) that keeps their metadata in its `metadata` field: the wrapper
/// is read and written at `K`'s URL.
#[macro_export]
macro_rules! resource_of_kind {
    ($ty:ident) => {
        impl<K: $crate::__private::kube_core::Resource<DynamicType = ()>>
            $crate::__private::kube_core::Resource for $ty<K>
        {
            type DynamicType = ();
            type Scope = K::Scope;

            fn kind(dt: &()) -> ::std::borrow::Cow<'_, str> {
                K::kind(dt)
            }
            fn group(dt: &()) -> ::std::borrow::Cow<'_, str> {
                K::group(dt)
            }
            fn version(dt: &()) -> ::std::borrow::Cow<'_, str> {
                K::version(dt)
            }
            fn plural(dt: &()) -> ::std::borrow::Cow<'_, str> {
                K::plural(dt)
            }
            fn meta(
                &self,
            ) -> &$crate::__private::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta
            {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut $crate::__private::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta
            {
                &mut self.metadata
            }
        }
    };
}

resource_of_kind!(Tolerant);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NodePool;
    use serde_json::json;

    fn pool(policy: &str, operator: &str) -> serde_json::Value {
        json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "p", "generation": 3},
            "spec": {"disruption": {"consolidationPolicy": policy},
                "template": {"spec": {
                    "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                    "requirements": [{"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": operator, "values": ["3"]}]}}}})
    }

    #[test]
    fn an_unknown_value_is_named_with_its_field() {
        let ok: Tolerant<NodePool> = serde_json::from_value(pool("Balanced", "Gte")).unwrap();
        assert!(ok.object().is_some(), "{:?}", ok.parsed);
        let bad: Tolerant<NodePool> = serde_json::from_value(pool("Sometimes", "Gte")).unwrap();
        assert_eq!(bad.metadata.generation, Some(3));
        let why = bad.parsed.unwrap_err();
        assert_eq!(why.path, "spec.disruption.consolidationPolicy");
        assert!(why.message.contains("Sometimes"), "{why}");
        let bad: Tolerant<NodePool> = serde_json::from_value(pool("Balanced", "Near")).unwrap();
        let why = bad.parsed.unwrap_err();
        assert_eq!(why.path, "spec.template.spec.requirements[0].operator");
        assert!(why.to_string().contains("Near"), "{why}");
    }
}
