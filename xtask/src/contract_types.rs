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
//!
//! `cargo xtask test` regenerates both in memory and fails when the committed files differ.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};
use wit_parser::{Docs, Resolve, Type, TypeDefKind, TypeId};

/// The generated core file.
const CORE_FILE: &str = "core/src/policy/types.rs";
/// The generated host file.
const HOST_FILE: &str = "host/src/policy/convert.rs";

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
    let (core, host) = render(root)?;
    fs::create_dir_all(root.join("core/src/policy"))?;
    fs::write(root.join(CORE_FILE), core)?;
    fs::write(root.join(HOST_FILE), host)?;
    println!("wrote {CORE_FILE} and {HOST_FILE}");
    Ok(())
}

/// Fails when a committed generated file differs from what the WIT gives.
pub fn check(root: &Path) -> Result<()> {
    let (core, host) = render(root)?;
    let mut stale = Vec::new();
    for (file, want) in [(CORE_FILE, core), (HOST_FILE, host)] {
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
    println!("ok  {CORE_FILE} and {HOST_FILE} match wit/policy.wit");
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

fn render(root: &Path) -> Result<(String, String)> {
    let mut resolve = Resolve::default();
    resolve
        .push_path(root.join("wit"))
        .context("parsing wit/")?;
    let mut items = Vec::new();
    for (name, module, binding) in INTERFACES {
        let (_, iface) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some(*name))
            .with_context(|| format!("interface {name} not found in wit/"))?;
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
    let gen = Gen {
        resolve: &resolve,
        items: &items,
    };
    Ok((rustfmt(&gen.core()?)?, rustfmt(&gen.host()?)?))
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
                                None => {
                                    writeln!(out, "            {from}::{case} => Self::{case},")?
                                }
                            }
                        }
                        writeln!(out, "        }}")?;
                    }
                    other => {
                        bail!("WIT type `{name}` ({other:?}) is not supported by the generator")
                    }
                }
                writeln!(out, "    }}\n}}")?;
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
