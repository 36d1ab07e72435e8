//! The HTTP front: routing kube-apiserver's URL layout onto the store.

use super::discovery;
use super::error::{ApiError, ApiResult};
use super::media::{self, Output, Wire};
use super::openapi;
use super::patch::PatchType;
use super::pb;
use super::rbac::{self, Attributes, Identity};
use super::resources::{list_header, ResourceDef, View};
use super::schema::FieldValidation;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{
    event_line, to_view, DeleteOptions, EventType, ListOptions, Store, Stored, WatchEvent,
    WriteOptions, WriteTarget,
};
use super::subresources;
use super::table::{self, IncludeObject};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Shared state of the HTTP server.
pub struct Server {
    /// The object store.
    pub store: Arc<Store>,
    /// Bearer token -> identity.
    pub tokens: RwLock<HashMap<String, Identity>>,
    /// Pod logs served by `pods/log`, by (namespace, pod); per-container logs by (ns, pod/container).
    pub logs: Mutex<HashMap<(String, String), LogSource>>,
    /// Server URL (discovery's serverAddressByClientCIDRs).
    pub base_url: RwLock<String>,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Bumped to end every open watch (clients then resume from their last resourceVersion).
    pub watch_epoch: tokio::sync::watch::Sender<u64>,
    /// The audit log's refusals: every request RBAC denied, as its 403 message (which names
    /// the user, the verb and the resource).
    pub forbidden: Mutex<Vec<String>>,
    /// How long each request took to answer, in arrival order (benchmarks read it).
    pub timings: Mutex<Vec<RequestTiming>>,
    /// Watches answered 410 Gone (their resourceVersion was compacted away).
    pub gone_watches: std::sync::atomic::AtomicU64,
    /// Whether built-in kinds are answered in protobuf to clients that ask for it.
    pub protobuf_responses: bool,
}

/// How long the server took to answer one HTTP request: from its arrival to the response head
/// (for a watch, until its stream starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTiming {
    /// HTTP method.
    pub method: Method,
    /// Request path (no query), e.g. `/apis/karpenter.sh/v1/nodepools/default/status`.
    pub path: String,
    /// Response status code.
    pub status: u16,
    /// A watch (`?watch=1`): its duration is the time to start streaming.
    pub watch: bool,
    /// Microseconds to the response head.
    pub micros: u64,
}

/// Requests timed at most (about 32 MB); later ones are not recorded.
const MAX_TIMINGS: usize = 1 << 20;

async fn time_request(
    State(s): State<Arc<Server>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let watch = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=1" || kv == "watch=true"));
    let start = std::time::Instant::now();
    let response = next.run(req).await;
    let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let mut timings = s.timings.lock().unwrap_or_else(|e| e.into_inner());
    if timings.len() < MAX_TIMINGS {
        timings.push(RequestTiming {
            method,
            path,
            status: response.status().as_u16(),
            watch,
            micros,
        });
    }
    response
}

/// kube-apiserver's limit on a request body (3 MiB): larger writes get 413.
pub const MAX_REQUEST_BYTES: usize = 3 * 1024 * 1024;

/// The axum router.
pub fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .fallback(handle)
        // Bodies up to this size reach the handler, which answers 413 with a Status over
        // MAX_REQUEST_BYTES; beyond it axum refuses them itself (a memory guard).
        .layer(axum::extract::DefaultBodyLimit::max(16 * MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            server.clone(),
            time_request,
        ))
        .with_state(server)
}

fn json_response(code: u16, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn value_response(code: u16, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

fn error_response(e: &ApiError) -> Response {
    value_response(e.code, &e.to_status())
}

fn protobuf_response(code: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A JSON object (with apiVersion and kind) in the negotiated encoding: protobuf when the
/// client asked for it and the kind has a message, JSON otherwise.
fn respond(req: &Req, code: u16, v: &Value) -> Response {
    if req.out().wire == Wire::Protobuf {
        match pb::encode(v) {
            Ok(b) => return protobuf_response(code, pb::MEDIA_TYPE, b),
            Err(e) => tracing::warn!(error = %e, "protobuf encoding failed; answering JSON"),
        }
    }
    value_response(code, v)
}

/// An error as a Status in the negotiated encoding (JSON before negotiation).
fn error_for(req: &Req, e: &ApiError) -> Response {
    respond(req, e.code, &e.to_status())
}

struct Req {
    method: Method,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
    who: Identity,
    /// The negotiated response encoding (JSON until [`media::negotiate`] ran).
    out: std::sync::OnceLock<Output>,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("true") | Some("1"))
    }

    /// The negotiated response encoding.
    fn out(&self) -> Output {
        self.out.get().copied().unwrap_or(Output::JSON)
    }

    fn wants_table(&self) -> bool {
        self.out().table.is_some()
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|h| h.to_str().ok())
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .unwrap_or("application/json")
            .to_string()
    }

    /// The request body as JSON: JSON, YAML or (built-in kinds) protobuf for creates and
    /// updates, JSON or YAML for patches.
    fn body_value(&self, def: &ResourceDef) -> ApiResult<Value> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        let input = if self.method == Method::PATCH {
            media::Input::Json
        } else {
            media::input(self.header(header::CONTENT_TYPE))?
        };
        if input == media::Input::Protobuf {
            if def.custom {
                // kube-apiserver negotiates protobuf for custom resources, then fails to decode.
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: object *unstructured.Unstructured does not implement the protobuf marshalling interface and cannot be encoded to a protobuf message",
                    kind = def.kind,
                    v = def.version
                )));
            }
            return pb::decode(&self.body);
        }
        match serde_json::from_slice(&self.body) {
            Ok(v) => Ok(v),
            Err(e) => {
                let ct = self.content_type();
                if ct.contains("yaml") {
                    serde_norway::from_slice(&self.body)
                        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
                } else {
                    Err(ApiError::bad_request(format!(
                        "error decoding JSON body: {e}"
                    )))
                }
            }
        }
    }

    fn write_options(&self) -> ApiResult<WriteOptions> {
        let manager = self.q("fieldManager").map(String::from).or_else(|| {
            self.headers
                .get(header::USER_AGENT)
                .and_then(|u| u.to_str().ok())
                .map(|u| u.split('/').next().unwrap_or(u).to_string())
        });
        Ok(WriteOptions {
            field_manager: manager,
            dry_run: self.q("dryRun").is_some_and(|d| !d.is_empty()),
            force: self.flag("force"),
            field_validation: FieldValidation::parse(self.q("fieldValidation"))?,
            warnings: Default::default(),
        })
    }
}

fn identify(s: &Server, headers: &HeaderMap) -> ApiResult<Identity> {
    // client-go (kubectl) never sends bearer tokens over plain HTTP, so a request without
    // credentials on this loopback-only server is the admin; a presented token must be valid.
    let who = match headers.get(header::AUTHORIZATION) {
        None => Identity::Admin,
        Some(h) => {
            let token = h
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(ApiError::unauthorized)?;
            s.tokens
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(token.trim())
                .cloned()
                .ok_or_else(ApiError::unauthorized)?
        }
    };
    let Some(user) = headers
        .get("impersonate-user")
        .and_then(|h| h.to_str().ok())
    else {
        return Ok(who);
    };
    if who != Identity::Admin {
        return Err(ApiError::forbidden(format!("users \"{user}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope", who.username())));
    }
    let mut groups: Vec<String> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|h| h.to_str().ok().map(String::from))
        .collect();
    if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
        if let Some((ns, name)) = rest.split_once(':') {
            if let Identity::User { groups: g, .. } = Identity::service_account(ns, name) {
                groups.extend(g);
            }
        }
    }
    groups.push("system:authenticated".into());
    Ok(Identity::User {
        name: user.to_string(),
        groups,
    })
}

async fn handle(
    State(s): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|x| !x.is_empty())
        .collect();
    match segs.as_slice() {
        ["healthz"] | ["readyz"] | ["livez"] => return (StatusCode::OK, "ok").into_response(),
        ["version"] => return value_response(200, &discovery::version()),
        _ => {}
    }
    let who = match identify(&s, &headers) {
        Ok(w) => w,
        Err(e) => return error_response(&e),
    };
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let req = Req {
        method,
        query,
        headers,
        body,
        who,
        out: std::sync::OnceLock::new(),
    };
    let reg = || s.store.registry();
    let found = |v: Option<Value>| match v {
        Some(v) => value_response(200, &v),
        None => error_response(&ApiError::no_route(&path)),
    };
    let found_doc = |d: Option<Arc<openapi::Doc>>| match d {
        Some(d) => json_response(200, d.json.clone()),
        None => error_response(&ApiError::no_route(&path)),
    };
    if req.method == Method::GET {
        match segs.as_slice() {
            ["api"] => {
                return value_response(
                    200,
                    &discovery::api_versions(&s.base_url.read().unwrap_or_else(|e| e.into_inner())),
                )
            }
            ["apis"] => return value_response(200, &discovery::api_groups(&reg())),
            ["api", v] => return found(discovery::resource_list(&reg(), "", v)),
            ["apis", g] => return found(discovery::api_group(&reg(), g)),
            ["apis", g, v] => return found(discovery::resource_list(&reg(), g, v)),
            ["openapi", "v2"] => {
                // JSON only: the gnostic protobuf form kubectl asks for alone gets 406.
                return match media::negotiate(req.header(header::ACCEPT), false, None) {
                    Ok(_) => json_response(200, openapi::v2_document(&reg()).json.clone()),
                    Err(e) => error_response(&e),
                };
            }
            ["openapi", "v3"] => return value_response(200, &openapi::v3_root(&reg())),
            ["openapi", "v3", "api", v] => return found_doc(openapi::v3_document(&reg(), "", v)),
            ["openapi", "v3", "apis", g, v] => {
                return found_doc(openapi::v3_document(&reg(), g, v))
            }
            _ => {}
        }
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return error_response(&ApiError::no_route(&path)),
    };
    match resource_request(&s, &req, group, version, rest).await {
        Ok(r) => r,
        Err(e) => error_for(&req, &e),
    }
}

struct Target {
    def: Arc<ResourceDef>,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn parse_target(store: &Store, group: &str, version: &str, rest: &[&str]) -> ApiResult<Target> {
    let lookup = |plural: &str| {
        store
            .def(group, version, plural)
            .ok_or_else(|| ApiError::no_route(plural))
    };
    let t = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if store
                .def(group, version, plural)
                .is_some_and(|d| d.namespaced) =>
        {
            Target {
                def: lookup(plural)?,
                ns: Some(ns.to_string()),
                name: tail.first().map(|x| x.to_string()),
                sub: tail.get(1).map(|x| x.to_string()),
            }
        }
        [plural, tail @ ..] => Target {
            def: lookup(plural)?,
            ns: None,
            name: tail.first().map(|x| x.to_string()),
            sub: tail.get(1).map(|x| x.to_string()),
        },
        [] => return Err(ApiError::no_route("")),
    };
    if let Some(sub) = &t.sub {
        if !t.def.has_sub(sub) {
            return Err(ApiError::no_route(sub));
        }
    }
    if t.def.namespaced && t.name.is_some() && t.ns.is_none() {
        return Err(ApiError::no_route("namespace required"));
    }
    Ok(t)
}

fn verb_of(req: &Req, t: &Target) -> &'static str {
    match (&req.method, t.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if req.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// Serializes an object as the target version presents it (stored bytes when identical).
/// Whether the stored object is what this version serves as it is (no view, same version).
fn native(def: &ResourceDef, o: &Stored) -> bool {
    def.view == View::Native && o.value["apiVersion"].as_str() == Some(def.api_version().as_str())
}

fn present_bytes(def: &ResourceDef, o: &Stored) -> Bytes {
    if native(def, o) {
        o.json.clone()
    } else {
        Bytes::from(serde_json::to_vec(&to_view(def, &o.value)).unwrap_or_default())
    }
}

fn object_response(req: &Req, def: &ResourceDef, code: u16, o: &Stored) -> Response {
    if req.wants_table() && req.method == Method::GET {
        let v = to_view(def, &o.value);
        let rv = o.rv.to_string();
        return value_response(
            code,
            &table::table(
                def,
                &[v],
                IncludeObject::parse(req.q("includeObject")),
                &rv,
                None,
            ),
        );
    }
    if req.out().wire == Wire::Protobuf {
        if native(def, o) {
            if let Some(raw) = o.protobuf() {
                return protobuf_response(
                    code,
                    pb::MEDIA_TYPE,
                    pb::wrap(&def.api_version(), &def.kind, &raw),
                );
            }
        }
        return respond(req, code, &to_view(def, &o.value));
    }
    json_response(code, present_bytes(def, o))
}

/// The patch type of a PATCH request, or 415 listing those the resource accepts.
fn patch_type(req: &Req, def: &ResourceDef) -> ApiResult<PatchType> {
    let ct = req.content_type();
    PatchType::from_content_type(&ct).ok_or_else(|| {
        let accepted: &[&str] = if def.custom {
            &super::patch::CUSTOM_PATCH_TYPES
        } else {
            &super::patch::PATCH_TYPES
        };
        ApiError::unsupported_media_type(&ct, accepted)
    })
}

fn list_options(req: &Req) -> ApiResult<ListOptions> {
    Ok(ListOptions {
        labels: LabelSelector::parse(req.q("labelSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(req.q("fieldSelector").unwrap_or(""))
            .map_err(ApiError::bad_request)?,
        limit: req.q("limit").and_then(|l| l.parse().ok()),
        continue_: req
            .q("continue")
            .filter(|c| !c.is_empty())
            .map(String::from),
        resource_version: req.q("resourceVersion").map(String::from),
        resource_version_match: req.q("resourceVersionMatch").map(String::from),
    })
}

fn delete_options(req: &Req, def: &ResourceDef) -> ApiResult<DeleteOptions> {
    let mut o = if req.body.is_empty() {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_value(&req.body_value(def)?)
    };
    if let Some(p) = req.q("propagationPolicy") {
        o.propagation = Some(p.to_string());
    }
    if let Some(g) = req.q("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        o.grace_period = Some(g);
    }
    if req.q("dryRun").is_some() {
        o.dry_run = true;
    }
    Ok(o)
}

async fn resource_request(
    s: &Arc<Server>,
    req: &Req,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Response> {
    let t = parse_target(&s.store, group, version, rest)?;
    let def = t.def.clone();
    let verb = verb_of(req, &t);
    let attrs = Attributes {
        verb: verb.into(),
        group: group.into(),
        resource: def.plural.clone(),
        subresource: t.sub.clone().unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
        namespace: t.ns.clone().unwrap_or_default(),
    };
    // Every authenticated user may ask what it may do (system:basic-user).
    if !def.create_only && !rbac::authorize(&s.store, &req.who, &attrs) {
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", attrs.namespace)
        };
        let res = if attrs.subresource.is_empty() {
            def.plural.clone()
        } else {
            format!("{}/{}", def.plural, attrs.subresource)
        };
        let what = if attrs.name.is_empty() {
            super::error::qualified(group, &def.plural)
        } else {
            format!(
                "{} \"{}\"",
                super::error::qualified(group, &def.plural),
                attrs.name
            )
        };
        let message = format!(
            "{what} is forbidden: User \"{}\" cannot {verb} resource \"{res}\" in API group \"{group}\" {scope}",
            req.who.username()
        );
        s.forbidden
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        return Err(ApiError::forbidden(message));
    }
    if t.sub.as_deref() != Some("log") {
        // Before any work, as kube-apiserver does (pod logs are text whatever is asked).
        let protobuf_ok =
            s.protobuf_responses && !def.custom && pb::supports(&def.api_version(), &def.kind);
        let _ = req.out.set(media::negotiate(
            req.header(header::ACCEPT),
            protobuf_ok,
            req.q("includeObject"),
        )?);
    }
    if def.create_only {
        return review(s, req, &def);
    }
    let ns = t.ns.clone().unwrap_or_default();
    let store = &s.store;
    let opts = req.write_options()?;
    let writes = matches!(req.method, Method::POST | Method::PUT | Method::PATCH);
    if writes && req.body.len() > MAX_REQUEST_BYTES {
        return Err(ApiError::entity_too_large(MAX_REQUEST_BYTES));
    }
    let sub = t.sub.as_deref();
    // The request proper, in a closure so that a refusal still gets the warnings below.
    let serve = || -> ApiResult<Response> {
        match (&req.method, t.name.as_deref(), sub) {
            (&Method::GET, None, None) if req.flag("watch") => watch(s, req, def, t.ns.clone()),
            (&Method::GET, None, None) => list(store, req, &def, t.ns.as_deref()),
            (&Method::GET, Some(name), None | Some("status")) => Ok(object_response(
                req,
                &def,
                200,
                store.get(&def, &ns, name)?.as_ref(),
            )),
            (&Method::GET, Some(name), Some("scale")) => Ok(respond(
                req,
                200,
                &subresources::scale_of(&def, &store.get(&def, &ns, name)?.value),
            )),
            (&Method::GET, Some(name), Some("log")) => {
                store.get(&def, &ns, name)?;
                let source = {
                    let logs = s.logs.lock().unwrap_or_else(|e| e.into_inner());
                    req.q("container")
                        .and_then(|c| logs.get(&(ns.clone(), format!("{name}/{c}"))))
                        .or_else(|| logs.get(&(ns.clone(), name.to_string())))
                        .cloned()
                };
                let tail = req.q("tailLines").and_then(|t| t.parse::<usize>().ok());
                Ok(log_response(source, tail, req.flag("follow")))
            }
            (&Method::POST, None, None) => {
                let o = store.create(&def, &ns, req.body_value(&def)?, &opts)?;
                Ok(object_response(req, &def, 201, &o))
            }
            (&Method::POST, Some(name), Some("eviction")) => {
                subresources::evict(store, &ns, name, &req.body_value(&def)?)?;
                Ok(respond(
                    req,
                    201,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                ))
            }
            (&Method::POST, Some(name), Some("binding")) => {
                subresources::bind(store, &ns, name, &req.body_value(&def)?)?;
                Ok(respond(
                    req,
                    201,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                ))
            }
            (&Method::PUT, Some(name), None | Some("status") | Some("finalize")) => {
                let sub = sub.filter(|x| *x == "status");
                let target = WriteTarget::object(&def, &ns, name).with_sub(sub);
                let o = store.update(target, req.body_value(&def)?, &opts)?;
                Ok(object_response(req, &def, 200, &o))
            }
            (&Method::PUT, Some(name), Some("scale")) => {
                let o =
                    subresources::set_scale(store, &def, &ns, name, &req.body_value(&def)?, &opts)?;
                Ok(respond(req, 200, &subresources::scale_of(&def, &o.value)))
            }
            (&Method::PATCH, Some(name), Some("scale")) => {
                let kind = patch_type(req, &def)?;
                let cur = subresources::scale_of(&def, &store.get(&def, &ns, name)?.value);
                let patched = match kind {
                    PatchType::Apply => {
                        let mut c = cur.clone();
                        super::patch::strategic_merge(&mut c, &req.body_value(&def)?, "");
                        c
                    }
                    k => super::patch::apply_patch(&cur, k, &req.body_value(&def)?)?,
                };
                let o = subresources::set_scale(store, &def, &ns, name, &patched, &opts)?;
                Ok(respond(req, 200, &subresources::scale_of(&def, &o.value)))
            }
            (&Method::PATCH, Some(name), None | Some("status")) => {
                let kind = patch_type(req, &def)?;
                let existed = kind != PatchType::Apply || store.get(&def, &ns, name).is_ok();
                let target = WriteTarget::object(&def, &ns, name).with_sub(sub);
                let o = store.patch(target, kind, &req.body_value(&def)?, &opts)?;
                let code = if existed { 200 } else { 201 };
                Ok(object_response(req, &def, code, &o))
            }
            (&Method::DELETE, Some(name), None) => {
                let o = store.delete(&def, &ns, name, &delete_options(req, &def)?)?;
                Ok(object_response(req, &def, 200, &o))
            }
            (&Method::DELETE, None, None) => {
                let gone = store.delete_collection(
                    &def,
                    t.ns.as_deref(),
                    &list_options(req)?,
                    &delete_options(req, &def)?,
                )?;
                let mut out = list_header(&def);
                out["metadata"] = json!({"resourceVersion": store.resource_version().to_string()});
                out["items"] = Value::Array(gone.iter().map(|o| to_view(&def, &o.value)).collect());
                Ok(respond(req, 200, &out))
            }
            _ => Err(ApiError::method_not_allowed()),
        }
    };
    let out = serve();
    // Warnings go with the answer, a refusal included (as kube-apiserver's do).
    let mut r = out.unwrap_or_else(|e| error_for(req, &e));
    for w in opts.take_warnings() {
        let text = format!("299 - {}", super::schema::errors::go_quote(&w));
        if let Ok(h) = axum::http::HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, h);
        }
    }
    Ok(r)
}

fn list(store: &Store, req: &Req, def: &ResourceDef, ns: Option<&str>) -> ApiResult<Response> {
    let page = store.list(def, ns, &list_options(req)?)?;
    let rv = page.rv.to_string();
    if req.wants_table() {
        let objs: Vec<Value> = page.items.iter().map(|o| to_view(def, &o.value)).collect();
        let t = table::table(
            def,
            &objs,
            IncludeObject::parse(req.q("includeObject")),
            &rv,
            page.continue_.as_deref(),
        );
        return Ok(respond(req, 200, &t));
    }
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = &page.continue_ {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    if req.out().wire == Wire::Protobuf {
        // Each stored object's message is encoded once and kept; the list concatenates them.
        let raw: Option<Vec<Bytes>> = page
            .items
            .iter()
            .map(|o| {
                if native(def, o) {
                    o.protobuf()
                } else {
                    pb::encode_raw(&to_view(def, &o.value))
                        .ok()
                        .map(Bytes::from)
                }
            })
            .collect();
        if let Some(raw) = raw {
            match pb::encode_list(
                &def.api_version(),
                &format!("{}List", def.kind),
                &meta,
                &raw,
            ) {
                Ok(b) => return Ok(protobuf_response(200, pb::MEDIA_TYPE, b)),
                Err(e) => tracing::warn!(error = %e, "protobuf list encoding failed"),
            }
        }
        let items: Vec<Value> = page.items.iter().map(|o| to_view(def, &o.value)).collect();
        let list = json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": meta,
            "items": items,
        });
        return Ok(respond(req, 200, &list));
    }
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        def.kind,
        def.api_version(),
        meta
    );
    let mut buf = Vec::with_capacity(
        head.len() + page.items.iter().map(|o| o.json.len() + 1).sum::<usize>() + 2,
    );
    buf.extend_from_slice(head.as_bytes());
    for (i, o) in page.items.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(&present_bytes(def, o));
    }
    buf.extend_from_slice(b"]}");
    Ok(json_response(200, buf))
}

/// A watcher's filter over shared events.
struct WatchFilter {
    def: Arc<ResourceDef>,
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: Option<IncludeObject>,
    wire: Wire,
}

impl WatchFilter {
    fn matches(&self, v: &Value) -> bool {
        self.labels.matches(v) && self.fields.matches(&self.def.kind, v)
    }

    /// The line to send for an event, if this watcher sees it.
    fn line(&self, ev: &WatchEvent) -> Option<Bytes> {
        if ev.storage != self.def.storage {
            return None;
        }
        if let Some(ns) = &self.ns {
            if ev.obj.namespace() != ns {
                return None;
            }
        }
        let now = self.matches(&ev.obj.value);
        let before = ev.prev.as_ref().map(|p| self.matches(&p.value));
        let type_ = match (ev.type_, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Deleted, _, true) => EventType::Deleted,
            (EventType::Modified, Some(true) | None, true) => EventType::Modified,
            (EventType::Modified, Some(false), true) => EventType::Added,
            (EventType::Modified, Some(true), false) => EventType::Deleted,
            _ => return None,
        };
        if let Some(inc) = self.table {
            let v = to_view(&self.def, &ev.obj.value);
            let t = table::table(&self.def, &[v], inc, &ev.rv.to_string(), None);
            return Some(event_line(
                type_.as_str(),
                &serde_json::to_vec(&t).unwrap_or_default(),
            ));
        }
        let native = self.def.view == View::Native
            && ev.obj.value["apiVersion"].as_str() == Some(self.def.api_version().as_str());
        if self.wire == Wire::Protobuf {
            if native && type_ == ev.type_ {
                return ev.native_frame(|| self.frame(type_.as_str(), &ev.obj.value));
            }
            return self.frame(type_.as_str(), &ev.obj.value);
        }
        if native && type_ == ev.type_ {
            return Some(ev.native_line());
        }
        Some(event_line(
            type_.as_str(),
            &present_bytes(&self.def, &ev.obj),
        ))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let o =
            json!({"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta});
        if self.wire == Wire::Protobuf {
            if let Ok(b) = pb::encode(&o) {
                return pb::watch_frame("BOOKMARK", &b);
            }
        }
        event_line("BOOKMARK", &serde_json::to_vec(&o).unwrap_or_default())
    }

    /// A protobuf watch frame for a stored object, as this watcher's version presents it.
    fn frame(&self, type_: &str, stored: &Value) -> Option<Bytes> {
        match pb::encode(&to_view(&self.def, stored)) {
            Ok(b) => Some(pb::watch_frame(type_, &b)),
            Err(e) => {
                tracing::warn!(error = %e, "protobuf watch event not encodable; skipped");
                None
            }
        }
    }
}

fn watch(
    s: &Arc<Server>,
    req: &Req,
    def: Arc<ResourceDef>,
    ns: Option<String>,
) -> ApiResult<Response> {
    let lo = list_options(req)?;
    lo.fields
        .validate(&def.kind)
        .map_err(ApiError::bad_request)?;
    let rv = match req.q("resourceVersion").filter(|r| !r.is_empty()) {
        Some(r) => Some(
            r.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {r:?}")))?,
        ),
        None => None,
    };
    let send_initial = req.flag("sendInitialEvents");
    let bookmarks = req.flag("allowWatchBookmarks");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let filter = WatchFilter {
        def: def.clone(),
        ns,
        labels: lo.labels,
        fields: lo.fields,
        table: req.out().table,
        wire: req.out().wire,
    };
    let wire = filter.wire;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1024);
    let start = match s.store.watch(&def, rv, send_initial) {
        Ok(st) => Some(st),
        Err(e) if e.code == 410 => {
            s.gone_watches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let status = e.to_status();
            let line = match pb::encode(&status) {
                Ok(b) if wire == Wire::Protobuf => pb::watch_frame("ERROR", &b),
                _ => event_line("ERROR", &serde_json::to_vec(&status).unwrap_or_default()),
            };
            let _ = tx.try_send(line);
            None
        }
        Err(e) => return Err(e),
    };
    let interval = s.bookmark_interval;
    let mut epoch = s.watch_epoch.subscribe();
    if let Some(mut start) = start {
        tokio::spawn(async move {
            let mut last_rv = start.rv;
            for ev in &start.replay {
                if let Some(l) = filter.line(ev) {
                    if tx.send(l).await.is_err() {
                        return;
                    }
                }
            }
            if send_initial && bookmarks && tx.send(filter.bookmark(start.rv, true)).await.is_err()
            {
                return;
            }
            let deadline = tokio::time::sleep(Duration::from_secs(timeout));
            tokio::pin!(deadline);
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = &mut deadline => return,
                    _ = tick.tick(), if bookmarks => {
                        if tx.send(filter.bookmark(last_rv, false)).await.is_err() { return; }
                    }
                    _ = tx.closed() => return,
                    _ = epoch.changed() => return,
                    ev = start.rx.recv() => match ev {
                        Ok(ev) => {
                            if ev.rv <= start.rv { continue; }
                            last_rv = ev.rv;
                            if let Some(l) = filter.line(&ev) {
                                if tx.send(l).await.is_err() { return; }
                            }
                        }
                        // A watcher that fell behind is closed; its client resumes from its last version.
                        Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                    }
                }
            }
        });
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let content_type = match wire {
        Wire::Protobuf => pb::WATCH_MEDIA_TYPE,
        Wire::Json => "application/json",
    };
    Ok(Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// SelfSubjectAccessReview: answers for the caller.
fn review(s: &Arc<Server>, req: &Req, def: &ResourceDef) -> ApiResult<Response> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let mut body = req.body_value(def)?;
    let allowed = if let Some(ra) = body.pointer("/spec/resourceAttributes") {
        let a = Attributes {
            verb: ra["verb"].as_str().unwrap_or_default().into(),
            group: ra["group"].as_str().unwrap_or_default().into(),
            resource: ra["resource"].as_str().unwrap_or_default().into(),
            subresource: ra["subresource"].as_str().unwrap_or_default().into(),
            name: ra["name"].as_str().unwrap_or_default().into(),
            namespace: ra["namespace"].as_str().unwrap_or_default().into(),
        };
        rbac::authorize(&s.store, &req.who, &a)
    } else {
        // Non-resource URLs (discovery, health) are open to every authenticated user.
        true
    };
    body["apiVersion"] = json!(def.api_version());
    body["kind"] = json!(def.kind);
    body["status"] = json!({"allowed": allowed});
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    Ok(respond(req, 201, &body))
}

/// Where the `pods/log` of a pod comes from.
#[derive(Debug, Clone)]
pub enum LogSource {
    /// Fixed text.
    Text(String),
    /// A file read at each request (and followed with `follow=true`), e.g. the log of a
    /// controller process running outside the simulated cluster.
    File(std::path::PathBuf),
}

/// The last `n` lines of `text`.
fn tail_lines(text: &str, n: Option<usize>) -> &str {
    let Some(n) = n else { return text };
    let body = text.strip_suffix('\n').unwrap_or(text);
    if n == 0 {
        return "";
    }
    match body.match_indices('\n').rev().nth(n - 1) {
        Some((i, _)) => &text[i + 1..],
        None => text,
    }
}

fn log_response(source: Option<LogSource>, tail: Option<usize>, follow: bool) -> Response {
    let ok = |body: Body| {
        Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .unwrap_or_default()
    };
    match source {
        None => ok(Body::empty()),
        Some(LogSource::Text(t)) => ok(Body::from(tail_lines(&t, tail).to_string())),
        Some(LogSource::File(path)) => {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let first = Bytes::from(tail_lines(&text, tail).to_string());
            if !follow {
                return ok(Body::from(first));
            }
            // Follow: send what is there, then whatever is appended, until the client leaves.
            let state = (Some(first), path, bytes.len() as u64);
            let stream = futures::stream::unfold(state, |(first, path, mut offset)| async move {
                if let Some(f) = first {
                    return Some((Ok::<_, Infallible>(f), (None, path, offset)));
                }
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let Ok(all) = tokio::fs::read(&path).await else {
                        continue;
                    };
                    let len = all.len() as u64;
                    if len < offset {
                        offset = 0; // truncated or rotated
                    }
                    if len > offset {
                        let chunk = Bytes::copy_from_slice(&all[offset as usize..]);
                        return Some((Ok(chunk), (None, path, len)));
                    }
                }
            });
            ok(Body::from_stream(stream))
        }
    }
}
