//! `cargo xtask gen-contract-types`: the policy contract's types as the core crate's own plain
//! Rust types, and the host's conversions between them and wasmtime's generated bindings, both
//! generated from `wit/policy.wit` so they never drift from it.
//!
//! - `core/src/policy/types.rs`: records, enums and variants of the `types`,
//!   `provisioning-types`, `consolidation-types` and `drift-types` interfaces, with the WIT's
//!   doc comments and serde derives whose JSON is that of the bindings (field and case names as
//!   wasmtime's `bindgen!` spells them).
//! - `host/src/policy/convert.rs`: `From` both ways between each core type and its binding,
//!   moving every field (vectors of same-layout elements are converted in place).
//! - `host/src/policy/convert_v0_1.rs`: the same between the core types and the bindings of
//!   the frozen contract 0.1.0 (`wit/v0.1/policy.wit`), for the 0.1.0 policies the host still
//!   serves. Requests go down (core to 0.1.0: fields added since are dropped), decisions come
//!   up (0.1.0 to core) where the shapes allow it. A type whose change since 0.1.0 needs a
//!   rule (new enum cases) is listed in [`V0_1_BY_HAND`] and converted in
//!   `host/src/policy/v0_1.rs`.
//!
//! `cargo xtask test` regenerates them in memory and fails when a committed file differs.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use wit_parser::{Docs, Resolve, Type, TypeDefKind, TypeId};

/// The generated core file.
const CORE_FILE: &str = "core/src/policy/types.rs";
/// The generated host file.
const HOST_FILE: &str = "host/src/policy/convert.rs";
/// The generated conversions to and from contract 0.1.0.
const V0_1_FILE: &str = "host/src/policy/convert_v0_1.rs";
/// The frozen contract 0.1.0.
const V0_1_WIT: &str = "wit/v0.1";
/// WIT types whose down conversion (core to 0.1.0) is written by hand in
/// `host/src/policy/v0_1.rs`: `operator` gained `gte`/`lte` (lowered with the values, inside
/// `requirement`), `consolidation-policy` gained `balanced`, `node-state` gained `unhealthy`.
const V0_1_BY_HAND: &[&str] = &[
    "operator",
    "requirement",
    "consolidation-policy",
    "node-state",
];
/// Defaults of fields added since 0.1.0 whose type's default would mean something else, as
/// (record, field, `f64` value): a pod's eviction cost is 1 unless it says otherwise.
const ADDED_DEFAULTS: &[(&str, &str, &str)] = &[("pod-group", "eviction-cost", "1.0")];

/// Interfaces whose types are generated: (WIT interface, Rust module under `types`, path of
/// wasmtime's binding module in the host).
const INTERFACES: &[(&str, Option<&str>, &str)] = &[
    (
        "types",
        None,
        "bindings::flavor_selection::karpenter_ovhcloud::policy::types",
    ),
    (
        "provisioning-types",
        Some("provisioning"),
        "bindings::flavor_selection::karpenter_ovhcloud::policy::provisioning_types",
    ),
    (
        "consolidation-types",
        Some("consolidation"),
        "bindings::consolidation::karpenter_ovhcloud::policy::consolidation_types",
    ),
    (
        "drift-types",
        Some("drift"),
        "bindings::drift::karpenter_ovhcloud::policy::drift_types",
    ),
];

/// Writes both generated files.
pub fn generate(root: &Path) -> Result<()> {
    let (core, host, v0_1) = render(root)?;
    fs::create_dir_all(root.join("core/src/policy"))?;
    fs::write(root.join(CORE_FILE), core)?;
    fs::write(root.join(HOST_FILE), host)?;
    fs::write(root.join(V0_1_FILE), v0_1)?;
    println!("wrote {CORE_FILE}, {HOST_FILE} and {V0_1_FILE}");
    Ok(())
}

/// Fails when a committed generated file differs from what the WIT gives.
pub fn check(root: &Path) -> Result<()> {
    let (core, host, v0_1) = render(root)?;
    let mut stale = Vec::new();
    for (file, want) in [(CORE_FILE, core), (HOST_FILE, host), (V0_1_FILE, v0_1)] {
        let have = fs::read_to_string(root.join(file)).unwrap_or_default();
        if have != want {
            stale.push(file);
        }
    }
    if !stale.is_empty() {
        bail!(
            "{} out of date with wit/policy.wit: run `cargo xtask gen-contract-types` and commit",
            stale.join(" and ")
        );
    }
    println!("ok  {CORE_FILE}, {HOST_FILE} and {V0_1_FILE} match wit/");
    Ok(())
}

/// A generated type: where it lives and what it is.
struct Item {
    id: TypeId,
    /// Rust module under `types` (None: the root).
    module: Option<&'static str>,
    /// Path of wasmtime's binding module (relative to `crate::policy`).
    binding: &'static str,
}

fn render(root: &Path) -> Result<(String, String, String)> {
    let (resolve, items) = parse(root, "wit")?;
    let (old_resolve, old_items) = parse(root, V0_1_WIT)?;
    let old = Gen {
        resolve: &old_resolve,
        items: &old_items,
        added: Vec::new(),
    };
    let mut gen = Gen {
        resolve: &resolve,
        items: &items,
        added: Vec::new(),
    };
    gen.added = added_fields(&gen, &old);
    Ok((
        rustfmt(&gen.core()?)?,
        rustfmt(&gen.host()?)?,
        rustfmt(&v0_1(&gen, &old)?)?,
    ))
}

/// Parses a WIT directory and lists the types of [`INTERFACES`].
fn parse(root: &Path, dir: &str) -> Result<(Resolve, Vec<Item>)> {
    let mut resolve = Resolve::default();
    resolve
        .push_path(root.join(dir))
        .with_context(|| format!("parsing {dir}/"))?;
    let mut items = Vec::new();
    for (name, module, binding) in INTERFACES {
        let (_, iface) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some(*name))
            .with_context(|| format!("interface {name} not found in {dir}/"))?;
        for (_, id) in &iface.types {
            // `use` brings an alias of another interface's type: generated there.
            if matches!(resolve.types[*id].kind, TypeDefKind::Type(Type::Id(_))) {
                continue;
            }
            items.push(Item {
                id: *id,
                module: *module,
                binding,
            });
        }
    }
    Ok((resolve, items))
}

/// Record fields of `new` that the same record of `old` lacks, as (record, field).
fn added_fields(new: &Gen, old: &Gen) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in new.items {
        let def = &new.resolve.types[item.id];
        let TypeDefKind::Record(r) = &def.kind else {
            continue;
        };
        let name = def.name.clone().unwrap_or_default();
        // A record new since 0.1.0 has no JSON of 0.1.0 to read.
        let Some(before) = old
            .items
            .iter()
            .find(|i| i.module == item.module && old.resolve.types[i.id].name == def.name)
            .map(|i| members(&old.resolve.types[i.id].kind))
        else {
            continue;
        };
        for f in &r.fields {
            if !before.contains(&f.name.as_str()) {
                out.push((name.clone(), f.name.clone()));
            }
        }
    }
    out
}

/// Name of the function giving the default of an added field with a custom default.
fn default_fn(record: &str, field: &str) -> String {
    format!("default_{}_{}", snake(record), snake(field))
}

/// Names of a type's fields (record) or cases (enum, variant).
fn members(kind: &TypeDefKind) -> Vec<&str> {
    match kind {
        TypeDefKind::Record(r) => r.fields.iter().map(|f| f.name.as_str()).collect(),
        TypeDefKind::Enum(e) => e.cases.iter().map(|c| c.name.as_str()).collect(),
        TypeDefKind::Variant(v) => v.cases.iter().map(|c| c.name.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// Names of the generated types a type's fields or case payloads refer to.
fn referenced(gen: &Gen, kind: &TypeDefKind) -> Vec<String> {
    fn walk(gen: &Gen, ty: &Type, out: &mut Vec<String>) {
        if let Type::Id(id) = ty {
            match &gen.resolve.types[*id].kind {
                TypeDefKind::List(t) | TypeDefKind::Option(t) => walk(gen, t, out),
                _ => {
                    if let Ok(item) = gen.item(*id) {
                        out.extend(gen.resolve.types[item.id].name.clone());
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    match kind {
        TypeDefKind::Record(r) => r.fields.iter().for_each(|f| walk(gen, &f.ty, &mut out)),
        TypeDefKind::Variant(v) => v
            .cases
            .iter()
            .filter_map(|c| c.ty.as_ref())
            .for_each(|t| walk(gen, t, &mut out)),
        _ => {}
    }
    out
}

/// `host/src/policy/convert_v0_1.rs`: core types down to the 0.1.0 bindings (record fields
/// added since are dropped) and the 0.1.0 bindings up to core types (where no field or case
/// was added since).
fn v0_1(new: &Gen, old: &Gen) -> Result<String> {
    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo xtask gen-contract-types` from wit/ and wit/v0.1/: do not edit.\n\
         //! Conversions between the core's policy types (contract 0.2.0) and wasmtime's bindings\n\
         //! of the frozen contract 0.1.0: requests down (fields added since 0.1.0 are dropped),\n\
         //! decisions and metadata up. Types whose new enum cases need a rule are converted by\n\
         //! hand in `v0_1.rs`.\n\n\
         use karpenter_ovhcloud_core::policy::types as core;\n\n\
         use super::bindings;\n",
    );
    // (0.1.0 type, its 0.2.0 counterpart, down possible, up possible on its own).
    let mut pairs = Vec::new();
    for item in old.items {
        let def = &old.resolve.types[item.id];
        let wit_name = def.name.as_deref().unwrap_or("");
        let Some(now) = new.items.iter().find(|i| {
            i.module == item.module && new.resolve.types[i.id].name.as_deref() == Some(wit_name)
        }) else {
            bail!("0.1.0 type `{wit_name}` is gone from wit/policy.wit: a minor version only adds");
        };
        let now_def = &new.resolve.types[now.id];
        let (was, is) = (members(&def.kind), members(&now_def.kind));
        let is_record = matches!(def.kind, TypeDefKind::Record(_));
        // Down: a record keeps every 0.1.0 field; an enum or variant added no case.
        let down = if is_record {
            was.iter().all(|m| is.contains(m))
        } else {
            is.iter().all(|m| was.contains(m))
        };
        // Up: the core record has no field 0.1.0 lacks; 0.1.0 has no case the core lacks.
        let up = if is_record {
            is.iter().all(|m| was.contains(m))
        } else {
            was.iter().all(|m| is.contains(m))
        };
        pairs.push((item, wit_name, down, up));
    }
    // Up also needs every type a field refers to to go up: drop types until that holds.
    let mut up_ok: Vec<&str> = pairs.iter().filter(|p| p.3).map(|p| p.1).collect();
    loop {
        let before = up_ok.len();
        let kept: Vec<&str> = up_ok
            .iter()
            .copied()
            .filter(|name| {
                let item = pairs.iter().find(|p| p.1 == *name).expect("listed").0;
                referenced(old, &old.resolve.types[item.id].kind)
                    .iter()
                    .all(|r| up_ok.contains(&r.as_str()))
            })
            .collect();
        up_ok = kept;
        if up_ok.len() == before {
            break;
        }
    }
    for (item, wit_name, down, _) in pairs {
        let up = up_ok.contains(&wit_name);
        let name = camel(wit_name);
        let core_path = match item.module {
            Some(m) => format!("core::{m}::{name}"),
            None => format!("core::{name}"),
        };
        let bind_path = format!(
            "{}::{name}",
            item.binding.replacen("bindings::", "bindings::v0_1::", 1)
        );
        if !down && !V0_1_BY_HAND.contains(&wit_name) {
            bail!(
                "`{wit_name}` changed since 0.1.0 in a way a 0.1.0 policy cannot be handed: \
                 convert it by hand in host/src/policy/v0_1.rs and list it in V0_1_BY_HAND"
            );
        }
        let mut pairs = Vec::new();
        if down && !V0_1_BY_HAND.contains(&wit_name) {
            pairs.push((&core_path, &bind_path));
        }
        if up {
            pairs.push((&bind_path, &core_path));
        }
        for (from, to) in pairs {
            old.conversion(&mut out, item.id, from, to)?;
        }
    }
    Ok(out)
}

/// Formats generated code as `cargo fmt` would, so the committed files pass `cargo fmt --check`.
fn rustfmt(code: &str) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    child
        .stdin
        .take()
        .context("rustfmt's stdin")?
        .write_all(code.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("rustfmt refused the generated code");
    }
    String::from_utf8(out.stdout).context("rustfmt's output")
}

struct Gen<'a> {
    resolve: &'a Resolve,
    items: &'a [Item],
    /// Record fields added since 0.1.0, as (record, field): the core type reads JSON without
    /// them (inputs written for 0.1.0), with the default of [`ADDED_DEFAULTS`] or the type's.
    added: Vec<(String, String)>,
}

impl Gen<'_> {
    /// The item a type id stands for, following `use` aliases.
    fn item(&self, mut id: TypeId) -> Result<&Item> {
        while let TypeDefKind::Type(Type::Id(inner)) = self.resolve.types[id].kind {
            id = inner;
        }
        self.items
            .iter()
            .find(|i| i.id == id)
            .with_context(|| format!("type {:?} is not generated", self.resolve.types[id].name))
    }

    fn name(&self, id: TypeId) -> Result<String> {
        let item = self.item(id)?;
        Ok(camel(
            self.resolve.types[item.id].name.as_deref().unwrap_or(""),
        ))
    }

    /// The Rust type of a WIT type, as seen from module `from` of the core types.
    fn rust(&self, ty: &Type, from: Option<&str>) -> Result<String> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::S8 => "i8".into(),
            Type::S16 => "i16".into(),
            Type::S32 => "i32".into(),
            Type::S64 => "i64".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::Char => "char".into(),
            Type::String => "String".into(),
            Type::Id(id) => match &self.resolve.types[*id].kind {
                TypeDefKind::List(t) => format!("Vec<{}>", self.rust(t, from)?),
                TypeDefKind::Option(t) => format!("Option<{}>", self.rust(t, from)?),
                _ => {
                    let item = self.item(*id)?;
                    let name = self.name(*id)?;
                    match (from, item.module) {
                        (a, b) if a == b => name,
                        (_, None) => format!("super::{name}"),
                        (None, Some(m)) => format!("{m}::{name}"),
                        (Some(_), Some(m)) => format!("super::{m}::{name}"),
                    }
                }
            },
            other => bail!("WIT type {other:?} is not supported by the generator"),
        })
    }

    /// How a value of WIT type `ty` converts into the other side's type (`v` is the value).
    fn convert(&self, ty: &Type, v: &str) -> Result<String> {
        Ok(match ty {
            Type::Id(id) => match &self.resolve.types[*id].kind {
                TypeDefKind::List(t) => match self.convert(t, "x")?.as_str() {
                    "x" => v.to_string(),
                    "x.into()" => format!("{v}.into_iter().map(Into::into).collect()"),
                    inner => format!("{v}.into_iter().map(|x| {inner}).collect()"),
                },
                TypeDefKind::Option(t) => match self.convert(t, "x")?.as_str() {
                    "x" => v.to_string(),
                    "x.into()" => format!("{v}.map(Into::into)"),
                    inner => format!("{v}.map(|x| {inner})"),
                },
                _ => format!("{v}.into()"),
            },
            _ => v.to_string(),
        })
    }

    /// Whether values of the type are plain bits (no string, list or option of such).
    fn is_copy(&self, id: TypeId) -> bool {
        match &self.resolve.types[id].kind {
            TypeDefKind::Record(r) => r.fields.iter().all(|f| self.ty_is_copy(&f.ty)),
            TypeDefKind::Enum(_) => true,
            TypeDefKind::Variant(v) => v
                .cases
                .iter()
                .all(|c| c.ty.as_ref().is_none_or(|t| self.ty_is_copy(t))),
            TypeDefKind::Type(t) | TypeDefKind::Option(t) => self.ty_is_copy(t),
            _ => false,
        }
    }

    fn ty_is_copy(&self, ty: &Type) -> bool {
        match ty {
            Type::String => false,
            Type::Id(id) => self.is_copy(*id),
            _ => true,
        }
    }

    fn core(&self) -> Result<String> {
        let mut out = String::new();
        out.push_str(
            "// @generated by `cargo xtask gen-contract-types` from wit/policy.wit: do not edit.\n\
             //! The policy contract's types (`wit/policy.wit`), as the core's own plain data.\n\
             //!\n\
             //! The decision code builds requests and reads decisions with these types; the host's\n\
             //! Wasm runtime converts them to and from wasmtime's bindings at the call. Their JSON\n\
             //! (serde) is that of the bindings: field names in `snake_case`, enum cases in\n\
             //! `CamelCase`. Shared types are at the root; each world's request and decision types\n\
             //! are in [`provisioning`], [`consolidation`] and [`drift`].\n\n\
             use serde::{Deserialize, Serialize};\n",
        );
        for (_, module, _) in INTERFACES {
            let mine: Vec<&Item> = self.items.iter().filter(|i| i.module == *module).collect();
            let indent = if module.is_some() { "    " } else { "" };
            if let Some(m) = module {
                let world = match *m {
                    "provisioning" => "flavor-selection",
                    other => other,
                };
                writeln!(
                    out,
                    "\n/// Request and decision of the `{world}` world (WIT interface `{m}-types`)."
                )?;
                writeln!(out, "pub mod {m} {{")?;
                writeln!(out, "    use serde::{{Deserialize, Serialize}};")?;
            }
            for item in mine {
                self.core_item(&mut out, item, indent)?;
            }
            if module.is_some() {
                out.push_str("}\n");
            }
        }
        for (record, field, value) in ADDED_DEFAULTS {
            writeln!(
                out,
                "\n/// Default of `{record}.{field}` in JSON written for contract 0.1.0.\n\
                 fn {}() -> f64 {{\n    {value}\n}}",
                default_fn(record, field)
            )?;
        }
        Ok(out)
    }

    fn core_item(&self, out: &mut String, item: &Item, ind: &str) -> Result<()> {
        let def = &self.resolve.types[item.id];
        let wit_name = def.name.as_deref().unwrap_or("");
        let name = camel(wit_name);
        out.push('\n');
        docs(out, &def.docs, ind, &format!("The WIT type `{wit_name}`."));
        match &def.kind {
            TypeDefKind::Record(r) => {
                // Copy when every field is, as wasmtime's bindgen derives it.
                let copy = if self.is_copy(item.id) { "Copy, " } else { "" };
                writeln!(
                    out,
                    "{ind}#[derive(Clone, {copy}Debug, PartialEq, Serialize, Deserialize)]"
                )?;
                writeln!(out, "{ind}pub struct {name} {{")?;
                for f in &r.fields {
                    docs(
                        out,
                        &f.docs,
                        &format!("{ind}    "),
                        &format!("The field `{}` of `{wit_name}`.", f.name),
                    );
                    let added = self
                        .added
                        .iter()
                        .any(|(r, field)| r == wit_name && *field == f.name);
                    if added {
                        match ADDED_DEFAULTS
                            .iter()
                            .any(|(r, field, _)| *r == wit_name && *field == f.name)
                        {
                            true => writeln!(
                                out,
                                "{ind}    #[serde(default = \"{}{}\")]",
                                if item.module.is_some() { "super::" } else { "" },
                                default_fn(wit_name, &f.name)
                            )?,
                            false => writeln!(out, "{ind}    #[serde(default)]")?,
                        }
                    }
                    writeln!(
                        out,
                        "{ind}    pub {}: {},",
                        snake(&f.name),
                        self.rust(&f.ty, item.module)?
                    )?;
                }
                writeln!(out, "{ind}}}")?;
            }
            TypeDefKind::Enum(e) => {
                writeln!(
                    out,
                    "{ind}#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]"
                )?;
                writeln!(out, "{ind}pub enum {name} {{")?;
                for c in &e.cases {
                    docs(
                        out,
                        &c.docs,
                        &format!("{ind}    "),
                        &format!("The case `{}`.", c.name),
                    );
                    writeln!(out, "{ind}    {},", camel(&c.name))?;
                }
                writeln!(out, "{ind}}}")?;
            }
            TypeDefKind::Variant(v) => {
                writeln!(
                    out,
                    "{ind}#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]"
                )?;
                writeln!(out, "{ind}pub enum {name} {{")?;
                for c in &v.cases {
                    docs(
                        out,
                        &c.docs,
                        &format!("{ind}    "),
                        &format!("The case `{}`.", c.name),
                    );
                    match &c.ty {
                        Some(t) => writeln!(
                            out,
                            "{ind}    {}({}),",
                            camel(&c.name),
                            self.rust(t, item.module)?
                        )?,
                        None => writeln!(out, "{ind}    {},", camel(&c.name))?,
                    }
                }
                writeln!(out, "{ind}}}")?;
            }
            other => bail!("WIT type `{wit_name}` ({other:?}) is not supported by the generator"),
        }
        Ok(())
    }

    /// Writes `impl From<from> for to` for type `id`, moving each field (or case) by name.
    fn conversion(&self, out: &mut String, id: TypeId, from: &str, to: &str) -> Result<()> {
        let def = &self.resolve.types[id];
        let name = camel(def.name.as_deref().unwrap_or(""));
        writeln!(out, "\nimpl From<{from}> for {to} {{")?;
        writeln!(out, "    fn from(v: {from}) -> Self {{")?;
        match &def.kind {
            TypeDefKind::Record(r) => {
                writeln!(out, "        Self {{")?;
                for f in &r.fields {
                    let field = snake(&f.name);
                    let value = self.convert(&f.ty, &format!("v.{field}"))?;
                    if value == format!("v.{field}") {
                        writeln!(out, "            {field}: v.{field},")?;
                    } else {
                        writeln!(out, "            {field}: {value},")?;
                    }
                }
                writeln!(out, "        }}")?;
            }
            TypeDefKind::Enum(e) => {
                writeln!(out, "        match v {{")?;
                for c in &e.cases {
                    let case = camel(&c.name);
                    writeln!(out, "            {from}::{case} => Self::{case},")?;
                }
                writeln!(out, "        }}")?;
            }
            TypeDefKind::Variant(v) => {
                writeln!(out, "        match v {{")?;
                for c in &v.cases {
                    let case = camel(&c.name);
                    match &c.ty {
                        Some(t) => writeln!(
                            out,
                            "            {from}::{case}(x) => Self::{case}({}),",
                            self.convert(t, "x")?
                        )?,
                        None => writeln!(out, "            {from}::{case} => Self::{case},")?,
                    }
                }
                writeln!(out, "        }}")?;
            }
            other => {
                bail!("WIT type `{name}` ({other:?}) is not supported by the generator")
            }
        }
        writeln!(out, "    }}\n}}")?;
        Ok(())
    }

    fn host(&self) -> Result<String> {
        let mut out = String::new();
        out.push_str(
            "// @generated by `cargo xtask gen-contract-types` from wit/policy.wit: do not edit.\n\
             //! Conversions between the core's policy types (`karpenter_ovhcloud_core::policy::types`)\n\
             //! and wasmtime's bindings of the same WIT types, both ways, moving every field.\n\n\
             use karpenter_ovhcloud_core::policy::types as core;\n\n\
             use super::bindings;\n",
        );
        for item in self.items {
            let def = &self.resolve.types[item.id];
            let name = camel(def.name.as_deref().unwrap_or(""));
            let core_path = match item.module {
                Some(m) => format!("core::{m}::{name}"),
                None => format!("core::{name}"),
            };
            let bind_path = format!("{}::{name}", item.binding);
            for (from, to) in [(&core_path, &bind_path), (&bind_path, &core_path)] {
                self.conversion(&mut out, item.id, from, to)?;
            }
        }
        Ok(out)
    }
}

/// Writes a doc comment from WIT docs, or `fallback` when the WIT has none.
fn docs(out: &mut String, docs: &Docs, indent: &str, fallback: &str) {
    let text = docs.contents.as_deref().unwrap_or(fallback);
    for line in text.trim_end().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str(&format!("{indent}///\n"));
        } else {
            out.push_str(&format!("{indent}/// {line}\n"));
        }
    }
}

/// `pod-group` -> `PodGroup` (wasmtime's `bindgen!` naming).
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `pod-groups` -> `pod_groups`; Rust keywords get a trailing `_` as `bindgen!` does.
fn snake(name: &str) -> String {
    let s = name.replace('-', "_");
    match s.as_str() {
        "type" | "match" | "move" | "ref" | "self" | "static" | "struct" | "trait" | "use"
        | "where" | "loop" | "fn" | "for" | "in" | "impl" | "let" | "mod" | "mut" | "pub"
        | "return" | "async" | "await" | "dyn" | "enum" | "extern" | "false" | "true" | "if"
        | "else" | "while" | "const" | "crate" | "super" | "as" | "break" | "continue" => {
            format!("{s}_")
        }
        _ => s,
    }
}
