//! Lists: selectors, resourceVersion semantics (`resourceVersion`, `resourceVersionMatch`) and
//! paging with continue tokens.

use super::{ObjKey, Store, Stored};
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::resources::ResourceDef;
use crate::kube::selector::{FieldSelector, LabelSelector};
use serde_json::Value;
use std::ops::Bound;
use std::sync::Arc;

/// List options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token.
    pub continue_: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Items, in key order.
    pub items: Vec<Arc<Stored>>,
    /// List resourceVersion.
    pub rv: u64,
    /// Continue token of the next page.
    pub continue_: Option<String>,
    /// Items left after this page.
    pub remaining: Option<usize>,
}

impl Store {
    /// Lists objects (`ns` None: all namespaces).
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        opts.fields
            .validate(&def.kind)
            .map_err(ApiError::bad_request)?;
        let st = self.read();
        let (mut list_rv, start) = match &opts.continue_ {
            Some(tok) => decode_continue(tok)?,
            None => (st.rv, None),
        };
        if opts.continue_.is_none() {
            if let Some(rv) = opts
                .resource_version
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "0")
            {
                let want: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {rv:?}"))
                })?;
                if want > st.rv {
                    return Err(ApiError {
                        code: 504,
                        reason: "Timeout",
                        message: format!("Too large resource version: {want}, current: {}", st.rv),
                        details: None,
                    });
                }
                if opts.resource_version_match.as_deref() == Some("Exact") {
                    if want < st.compacted || want != st.rv {
                        return Err(ApiError::gone(format!(
                            "too old resource version: {want} ({})",
                            st.rv
                        )));
                    }
                    list_rv = want;
                }
            }
        }
        let Some(coll) = st.collections.get(&def.storage) else {
            return Ok(ListPage {
                items: vec![],
                rv: list_rv,
                continue_: None,
                remaining: None,
            });
        };
        let lower = match (&start, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0usize;
        let want_name = opts.fields.name();
        for ((ons, oname), o) in coll.range((lower, Bound::Unbounded)) {
            if let Some(n) = ns {
                if ons != n {
                    break;
                }
            }
            if want_name.is_some_and(|w| w != oname) {
                continue;
            }
            if !opts.labels.matches(&o.value) || !opts.fields.matches(&def.kind, &o.value) {
                continue;
            }
            if items.len() >= limit {
                if next.is_none() {
                    let last: &Arc<Stored> = items.last().expect("non-empty page");
                    let lk = (
                        last.namespace().to_string(),
                        last.value
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                    next = Some(encode_continue(list_rv, &lk));
                }
                remaining += 1;
                continue;
            }
            items.push(o.clone());
        }
        Ok(ListPage {
            items,
            rv: list_rv,
            continue_: next,
            remaining: (remaining > 0).then_some(remaining),
        })
    }
}

/// A continue token: the list resourceVersion and the last key returned.
fn encode_continue(rv: u64, key: &ObjKey) -> String {
    hex::encode(format!("{rv}\u{1}{}\u{1}{}", key.0, key.1))
}

/// Reads back an [`encode_continue`] token.
fn decode_continue(tok: &str) -> ApiResult<(u64, Option<ObjKey>)> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let raw = String::from_utf8(hex::decode(tok).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = raw.split('\u{1}');
    let rv = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let ns = parts.next().ok_or_else(bad)?.to_string();
    let name = parts.next().ok_or_else(bad)?.to_string();
    Ok((rv, Some((ns, name))))
}
