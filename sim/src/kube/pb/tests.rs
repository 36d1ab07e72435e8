//! The codec against an independent oracle: k8s-pb 0.8's generated types (prost) for the same
//! protos. For every served kind, a fixture in Go's JSON is encoded here and decoded by k8s-pb,
//! and k8s-pb's encoding of that object is decoded here back to the same JSON.

use super::*;
use k8s_pb::api::{apps, authorization, autoscaling, coordination, core, events, policy, rbac};
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::json;

fn unknown(bytes: &[u8]) -> Unknown {
    assert_eq!(&bytes[..4], MAGIC, "magic");
    Unknown::decode(&bytes[4..]).expect("k8s-pb decodes our envelope")
}

fn wrap(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [MAGIC.to_vec(), u.encode_to_vec()].concat()
}

/// Encodes `fixture` here, decodes it with k8s-pb as `M`, re-encodes it with k8s-pb and
/// decodes that here: the JSON must come back unchanged. Returns k8s-pb's object.
fn both_ways<M: Message + Default>(fixture: Value) -> M {
    let bytes = encode(&fixture).expect("encodes");
    let u = unknown(&bytes);
    let tm = u.type_meta.clone().unwrap_or_default();
    assert_eq!(tm.api_version.as_deref(), fixture["apiVersion"].as_str());
    assert_eq!(tm.kind.as_deref(), fixture["kind"].as_str());
    assert_eq!(u.content_type.as_deref(), Some(""));
    let typed = M::decode(u.raw()).expect("k8s-pb decodes our message");
    let again = wrap(tm.api_version(), tm.kind(), typed.encode_to_vec());
    assert_eq!(decode(&again).expect("decodes k8s-pb's bytes"), fixture);
    typed
}

fn time(s: &str) -> meta::Time {
    let ts: jiff::Timestamp = s.parse().unwrap();
    meta::Time {
        seconds: Some(ts.as_second()),
        nanos: Some(0),
    }
}

fn object_meta(name: &str, ns: &str) -> Value {
    json!({
        "name": name,
        "namespace": ns,
        "uid": "0b8f4c2e-1111-2222-3333-444455556666",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2025-06-01T10:00:00Z",
        "labels": {"app": "web"},
        "annotations": {"a": "b"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u1", "controller": true, "blockOwnerDeletion": true}],
        "finalizers": ["f"],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "2025-06-01T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}],
    })
}

fn pod_spec() -> Value {
    json!({
        "containers": [{
            "name": "app",
            "image": "nginx",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1"}},
            "readinessProbe": {"httpGet": {"path": "/", "port": "http", "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5},
            "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": false},
            "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
        }],
        "volumes": [{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}],
        "nodeSelector": {"karpenter.sh/nodepool": "default"},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
        "terminationGracePeriodSeconds": 30,
        "restartPolicy": "Always",
        "serviceAccountName": "default",
        "nodeName": "node-1",
    })
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}, "creationTimestamp": null}, "spec": pod_spec()})
}

#[test]
fn pod_both_ways() {
    let pod: core::v1::Pod = both_ways(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": object_meta("web-1", "default"),
        "spec": pod_spec(),
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2025-06-01T10:00:05Z"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "nginx", "imageID": "", "state": {"running": {"startedAt": "2025-06-01T10:00:03Z"}}}],
            "podIP": "10.0.0.5",
            "startTime": "2025-06-01T10:00:01Z",
        },
    }));
    let spec = pod.spec.unwrap();
    let c = &spec.containers[0];
    // INLINE: the probe handler and the LocalObjectReference are sub-messages in protobuf.
    let probe = c.readiness_probe.as_ref().unwrap();
    let port = probe
        .handler
        .as_ref()
        .unwrap()
        .http_get
        .as_ref()
        .unwrap()
        .port
        .as_ref()
        .unwrap();
    assert_eq!(
        (port.r#type, port.str_val.as_deref()),
        (Some(1), Some("http"))
    );
    let tcp = c
        .liveness_probe
        .as_ref()
        .unwrap()
        .handler
        .as_ref()
        .unwrap()
        .tcp_socket
        .as_ref()
        .unwrap();
    assert_eq!(tcp.port.as_ref().unwrap().int_val, Some(8080));
    let key_ref = c.env[0]
        .value_from
        .as_ref()
        .unwrap()
        .config_map_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        key_ref
            .local_object_reference
            .as_ref()
            .unwrap()
            .name
            .as_deref(),
        Some("cm")
    );
    let vol = spec.volumes[0]
        .volume_source
        .as_ref()
        .unwrap()
        .config_map
        .as_ref()
        .unwrap();
    assert_eq!(
        vol.local_object_reference.as_ref().unwrap().name.as_deref(),
        Some("cm")
    );
    // Quantities are strings; a pointer's zero is kept.
    let cpu = &c.resources.as_ref().unwrap().requests["cpu"];
    assert_eq!(cpu.string.as_deref(), Some("100m"));
    assert_eq!(c.security_context.as_ref().unwrap().run_as_user, Some(0));
    let meta = pod.metadata.unwrap();
    assert_eq!(meta.creation_timestamp, Some(time("2025-06-01T10:00:00Z")));
    let fields = meta.managed_fields[0]
        .fields_v1
        .as_ref()
        .unwrap()
        .raw
        .clone()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&fields).unwrap()["f:metadata"]["f:labels"],
        json!({".": {}})
    );
}

#[test]
fn go_zero_values_are_dropped_unless_pointers() {
    // What kubectl sends: every non-pointer field, zero or not.
    let container = core::v1::Container {
        name: Some("app".into()),
        image: Some("nginx".into()),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        working_dir: Some(String::new()),
        termination_message_path: Some(String::new()),
        ..Default::default()
    };
    let deploy = apps::v1::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: Some("web".into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        spec: Some(apps::v1::DeploymentSpec {
            replicas: Some(0),
            min_ready_seconds: Some(0),
            paused: Some(false),
            strategy: Some(apps::v1::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::v1::RollingUpdateDeployment {
                    max_surge: Some(k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("25%".into()),
                    }),
                    max_unavailable: Some(k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(0),
                        int_val: Some(1),
                        str_val: Some(String::new()),
                    }),
                }),
            }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta::default()),
                spec: Some(core::v1::PodSpec {
                    containers: vec![container],
                    host_network: Some(false),
                    host_pid: Some(false),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: Some(apps::v1::DeploymentStatus::default()),
    };
    let v = decode(&wrap("apps/v1", "Deployment", deploy.encode_to_vec())).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": null},
            "spec": {
                "replicas": 0,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "template": {"metadata": {}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
            },
            "status": {},
        })
    );
}

#[test]
fn config_maps_and_secrets_carry_bytes_as_base64() {
    let cm: core::v1::ConfigMap = both_ways(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default", "creationTimestamp": "2025-06-01T10:00:00Z"},
        "data": {"a": "1", "b": "two\nlines"},
        "binaryData": {"bin": "AAH/"},
        "immutable": false,
    }));
    assert_eq!(cm.binary_data["bin"], vec![0, 1, 255]);
    assert_eq!(cm.immutable, Some(false));
    let secret: core::v1::Secret = both_ways(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default", "creationTimestamp": null},
        "type": "Opaque",
        "data": {"password": "c2VjcmV0"},
    }));
    assert_eq!(secret.data["password"], b"secret".to_vec());
}

#[test]
fn core_kinds_both_ways() {
    let ns: core::v1::Namespace = both_ways(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team", "creationTimestamp": "2025-06-01T10:00:00Z", "labels": {"kubernetes.io/metadata.name": "team"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }));
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Active"));
    let node: core::v1::Node = both_ways(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "creationTimestamp": "2025-06-01T10:00:00Z"},
        "spec": {"providerID": "ovh://x", "unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule", "timeAdded": "2025-06-01T10:00:00Z"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "3900m"},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2025-06-01T10:00:00Z", "lastTransitionTime": "2025-06-01T10:00:00Z", "reason": "KubeletReady", "message": "ok"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "v1.33.1", "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": ["nginx"], "sizeBytes": 1000}],
        },
    }));
    assert_eq!(node.spec.unwrap().provider_id.as_deref(), Some("ovh://x"));
    let svc: core::v1::Service = both_ways(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
        "spec": {"ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}, {"port": 443, "targetPort": "https"}], "selector": {"app": "web"}, "type": "ClusterIP", "clusterIP": "10.96.0.10"},
        "status": {"loadBalancer": {}},
    }));
    assert_eq!(
        svc.spec.unwrap().ports[1]
            .target_port
            .as_ref()
            .unwrap()
            .str_val
            .as_deref(),
        Some("https")
    );
    let _: core::v1::ServiceAccount = both_ways(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "sa", "namespace": "default", "creationTimestamp": null},
        "automountServiceAccountToken": false,
    }));
    let ev: core::v1::Event = both_ways(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "default", "creationTimestamp": "2025-06-01T10:00:00Z"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1"},
        "reason": "Scheduled", "message": "ok", "type": "Normal", "count": 2,
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2025-06-01T10:00:00Z", "lastTimestamp": "2025-06-01T10:00:01Z",
        "eventTime": "2025-06-01T10:00:00.123456Z",
        "reportingComponent": "", "reportingInstance": "",
    }));
    assert_eq!(ev.event_time.unwrap().nanos, Some(123_456_000));
    let _: core::v1::Binding = both_ways(json!({
        "apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": null},
        "target": {"kind": "Node", "name": "n1"},
    }));
    let list: core::v1::ConfigMapList = both_ways(json!({
        "apiVersion": "v1", "kind": "ConfigMapList",
        "metadata": {"resourceVersion": "7", "continue": "abc", "remainingItemCount": 3},
        "items": [{"metadata": {"name": "a", "namespace": "default", "creationTimestamp": null}, "data": {"k": "v"}}],
    }));
    assert_eq!(list.items.len(), 1);
}

#[test]
fn workload_kinds_both_ways() {
    let spec = json!({
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": template(),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    });
    let d: apps::v1::Deployment = both_ways(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": object_meta("web", "default"),
        "spec": spec,
        "status": {"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "conditions": [{"type": "Available", "status": "True", "lastUpdateTime": "2025-06-01T10:00:00Z", "lastTransitionTime": "2025-06-01T10:00:00Z"}]},
    }));
    assert_eq!(d.spec.unwrap().replicas, Some(0));
    let _: apps::v1::ReplicaSet = both_ways(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": object_meta("web-1", "default"),
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 2, "availableReplicas": 2},
    }));
    let _: apps::v1::DaemonSet = both_ways(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": object_meta("agent", "kube-system"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}},
        "status": {"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1, "numberReady": 1},
    }));
    let pdb: policy::v1::PodDisruptionBudget = both_ways(json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "pdb", "namespace": "default", "creationTimestamp": null},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptedPods": {"web-1": "2025-06-01T10:00:00Z"}, "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1,
                   "conditions": [{"type": "DisruptionAllowed", "status": "False", "observedGeneration": 1, "lastTransitionTime": "2025-06-01T10:00:00Z", "reason": "InsufficientPods", "message": ""}]},
    }));
    assert_eq!(pdb.spec.unwrap().min_available.unwrap().int_val, Some(1));
    let _: policy::v1::Eviction = both_ways(json!({
        "apiVersion": "policy/v1", "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": null},
        "deleteOptions": {"gracePeriodSeconds": 0},
    }));
    let _: autoscaling::v1::Scale = both_ways(json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=web"},
    }));
    let lease: coordination::v1::Lease = both_ways(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "n1", "namespace": "kube-node-lease", "creationTimestamp": null},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "renewTime": "2025-06-01T10:00:00.500000Z"},
    }));
    assert_eq!(
        lease.spec.unwrap().renew_time.unwrap().nanos,
        Some(500_000_000)
    );
    let _: events::v1::Event = both_ways(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "default", "creationTimestamp": null},
        "eventTime": null, "reportingController": "karpenter", "action": "Launch", "reason": "Launched",
        "regarding": {"kind": "NodeClaim", "name": "nc"}, "note": "launched", "type": "Normal",
        "deprecatedCount": 1, "deprecatedFirstTimestamp": "2025-06-01T10:00:00Z",
    }));
}

#[test]
fn rbac_review_and_meta_kinds_both_ways() {
    let rules = json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}, {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]);
    let _: rbac::v1::Role = both_ways(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "namespace": "default", "creationTimestamp": null}, "rules": rules}),
    );
    let _: rbac::v1::ClusterRole = both_ways(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r", "creationTimestamp": null}, "rules": rules, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}}),
    );
    let subjects = json!([{"kind": "ServiceAccount", "name": "sa", "namespace": "default"}, {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]);
    let _: rbac::v1::RoleBinding = both_ways(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "default", "creationTimestamp": null}, "subjects": subjects, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}}),
    );
    let _: rbac::v1::ClusterRoleBinding = both_ways(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "b", "creationTimestamp": null}, "subjects": subjects, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"}}),
    );
    let ssar: authorization::v1::SelfSubjectAccessReview = both_ways(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {"creationTimestamp": null},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"}},
        "status": {"allowed": true},
    }));
    assert_eq!(
        ssar.spec
            .unwrap()
            .resource_attributes
            .unwrap()
            .verb
            .as_deref(),
        Some("list")
    );
    let status: meta::Status = both_ways(json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "pods \"x\" not found", "reason": "NotFound", "code": 404,
        "details": {"name": "x", "kind": "pods", "causes": [{"reason": "FieldValueInvalid", "message": "m", "field": "spec"}]},
    }));
    assert_eq!(status.code, Some(404));
    let _: meta::DeleteOptions = both_ways(json!({
        "apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground", "preconditions": {"uid": "u"}, "dryRun": ["All"],
    }));
}

#[test]
fn crd_schemas_keep_their_json_names_and_unions() {
    let schema = json!({
        "type": "object",
        "description": "NodePool",
        "required": ["spec"],
        "properties": {
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {
                "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": "^x$"}},
                "weight": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 100, "default": 10},
                "ratio": {"type": "number", "maximum": 1.5},
                "taints": {"type": "array", "items": {"type": "object", "properties": {"key": {"type": "string", "enum": ["a", "b"]}}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
                "ref": {"$ref": "#/x"},
                "closed": {"type": "object", "additionalProperties": false},
                "deps": {"type": "object", "dependencies": {"a": ["b"], "c": {"type": "object"}}},
            }, "x-kubernetes-validations": [{"rule": "self.weight > 0", "message": "positive"}]},
        },
    });
    let crd: apiext::CustomResourceDefinition = both_ways(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "nodepools.karpenter.sh", "creationTimestamp": null},
        "spec": {
            "group": "karpenter.sh",
            "names": {"plural": "nodepools", "singular": "nodepool", "kind": "NodePool", "listKind": "NodePoolList", "categories": ["karpenter"]},
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema},
                          "subresources": {"status": {}},
                          "additionalPrinterColumns": [{"name": "Weight", "type": "integer", "jsonPath": ".spec.weight", "priority": 1}]}],
            "conversion": {"strategy": "None"},
        },
        "status": {"acceptedNames": {"plural": "nodepools", "kind": "NodePool"}, "storedVersions": ["v1"]},
    }));
    let s = crd.spec.unwrap().versions[0]
        .schema
        .clone()
        .unwrap()
        .open_apiv3_schema
        .unwrap();
    let spec = &s.properties["spec"];
    assert_eq!(spec.x_kubernetes_preserve_unknown_fields, Some(true));
    assert_eq!(spec.properties["ref"].r#ref.as_deref(), Some("#/x"));
    assert_eq!(
        spec.properties["closed"]
            .additional_properties
            .as_ref()
            .unwrap()
            .allows,
        Some(false)
    );
    let default = spec.properties["weight"]
        .default
        .as_ref()
        .unwrap()
        .raw
        .clone()
        .unwrap();
    assert_eq!(default, b"10".to_vec());
}

#[test]
fn watch_frames_are_length_prefixed_watch_events() {
    let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5", "creationTimestamp": null}});
    let encoded = encode(&obj).unwrap();
    let frame = watch_frame("ADDED", &encoded);
    let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
    assert_eq!(len, frame.len() - 4);
    let ev = meta::WatchEvent::decode(&frame[4..]).unwrap();
    assert_eq!(ev.r#type.as_deref(), Some("ADDED"));
    let raw = ev.object.unwrap().raw.unwrap();
    assert_eq!(raw, encoded.to_vec());
    assert_eq!(decode(&raw).unwrap(), obj);
    let bookmark = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"resourceVersion": "9", "annotations": {"k8s.io/initial-events-end": "true"}}});
    let d = apps::v1::Deployment::decode(unknown(&encode(&bookmark).unwrap()).raw()).unwrap();
    assert_eq!(d.metadata.unwrap().resource_version.as_deref(), Some("9"));
}

#[test]
fn bad_bodies_are_refused_without_panicking() {
    assert_eq!(decode(b"{}").unwrap_err().code, 400);
    assert_eq!(decode(b"k8s\0\x0a\xff").unwrap_err().code, 400);
    assert_eq!(decode(b"k8s\0").unwrap_err().code, 415); // no kind
    let unknown_kind = wrap("v1", "Frobnicator", vec![]);
    assert_eq!(decode(&unknown_kind).unwrap_err().code, 415);
    let cr = wrap("karpenter.sh/v1", "NodePool", vec![]);
    assert_eq!(decode(&cr).unwrap_err().code, 415);
    let garbage = wrap("v1", "Pod", vec![0x0a, 0x05, 0x01]);
    assert_eq!(decode(&garbage).unwrap_err().code, 400);
    for n in 0..64u8 {
        let mut body = wrap("apps/v1", "Deployment", vec![n; usize::from(n)]);
        body.push(n);
        let _ = decode(&body);
    }
    assert_eq!(
        encode(&json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool"}))
            .unwrap_err()
            .code,
        500
    );
    let wrong = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": 1}});
    assert_eq!(encode(&wrong).unwrap_err().code, 500);
}

#[test]
fn kubectl_self_subject_access_review_decodes() {
    // What `kubectl auth can-i list pods` sends.
    let review = authorization::v1::SelfSubjectAccessReview {
        metadata: Some(meta::ObjectMeta::default()),
        spec: Some(authorization::v1::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authorization::v1::ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some("list".into()),
                group: Some(String::new()),
                version: Some(String::new()),
                resource: Some("pods".into()),
                subresource: Some(String::new()),
                name: Some(String::new()),
                ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: Some(Default::default()),
    };
    let v = decode(&wrap(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        review.encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(
        v["spec"]["resourceAttributes"],
        json!({"namespace": "default", "verb": "list", "resource": "pods"})
    );
}

#[test]
fn lists_of_kept_item_messages_equal_the_converted_list() {
    let item = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": object_meta(name, "default"), "data": {"k": name}});
    let items = [item("a"), item("b")];
    let meta = json!({"resourceVersion": "7", "continue": "c"});
    let raw: Vec<Bytes> = items
        .iter()
        .map(|i| Bytes::from(encode_raw(i).expect("raw")))
        .collect();
    let listed = encode_list("v1", "ConfigMapList", &meta, &raw).expect("list");
    let converted = encode(
        &json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": meta, "items": items}),
    )
    .expect("converted");
    assert_eq!(listed, converted);
    let u = unknown(&listed);
    let list =
        core::v1::ConfigMapList::decode(u.raw.unwrap_or_default().as_slice()).expect("k8s-pb");
    assert_eq!(list.items.len(), 2);
    assert_eq!(
        list.metadata.and_then(|m| m.resource_version).as_deref(),
        Some("7")
    );
    assert!(encode_list("karpenter.sh/v1", "NodePoolList", &meta, &raw).is_err());
}
