//! Building the policy crates to WebAssembly components, reproducibly.
//!
//! Every crate under `policies/defaults/<name>` becomes `policies/dist/<name>.wasm`, every
//! crate under `policies/examples/<name>` becomes `policies/dist/example-<name>.wasm`, and every
//! crate under `policies/testdata/<name>` becomes `policies/testdata/dist/<name>.wasm`.
//!
//! The crates are compiled for `wasm32-unknown-unknown` with the `policy` profile, by rustup's
//! toolchain when it has the wasm32 target, else by Debian's wasm-capable rustc (docs/ARCHITECTURE.md,
//! "OVH rules the code relies on"). Paths that differ between checkouts (the workspace root, the cargo
//! home) are remapped, so the bytes depend only on the sources, `Cargo.lock` and the compiler.
//! `policies/dist/TOOLCHAIN` records the compiler of the committed components.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::run;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "policy";
const TOOLCHAIN_FILE: &str = "policies/dist/TOOLCHAIN";
const DEBIAN_WASM_LD: &str = "/usr/lib/llvm-19/bin/wasm-ld";

/// One policy crate and where its component goes.
struct PolicyCrate {
    package: String,
    /// Output path relative to the workspace root.
    dist: PathBuf,
}

impl PolicyCrate {
    fn artifact(&self, root: &Path) -> PathBuf {
        root.join("target/wasm")
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{}.wasm", self.package.replace('-', "_")))
    }
}

/// Which compiler builds the components.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Toolchain {
    /// rustup's toolchain with its `wasm32-unknown-unknown` target.
    Rustup,
    /// Debian's `rustc-web` with `-Zbuild-std`.
    Debian,
}

fn toolchain() -> Result<Toolchain> {
    match std::env::var("KARPENTER_POLICY_TOOLCHAIN").as_deref() {
        Ok("rustup") => return Ok(Toolchain::Rustup),
        Ok("debian") => return Ok(Toolchain::Debian),
        Ok(other) => {
            bail!("KARPENTER_POLICY_TOOLCHAIN must be `rustup` or `debian`, not `{other}`")
        }
        Err(_) => {}
    }
    let rustup_has_wasm = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if rustup_has_wasm {
        return Ok(Toolchain::Rustup);
    }
    if Path::new(DEBIAN_WASM_LD).exists() && Path::new("/usr/bin/cargo").exists() {
        return Ok(Toolchain::Debian);
    }
    bail!("no wasm32 toolchain: run `cargo xtask install-tools` (Debian rustc-web) or `rustup target add {TARGET}`")
}

/// A `cargo` command for `toolchain`, with a clean environment (the outer `cargo run` of the
/// xtask must not leak its compiler or flags into the wasm build).
fn cargo(toolchain: Toolchain) -> Command {
    let mut cmd = match toolchain {
        Toolchain::Rustup => Command::new("cargo"),
        Toolchain::Debian => {
            let mut c = Command::new("/usr/bin/cargo");
            let path = std::env::var("PATH").unwrap_or_default();
            c.env("PATH", format!("/usr/bin:{path}"))
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", DEBIAN_WASM_LD);
            c
        }
    };
    for var in [
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTUP_TOOLCHAIN",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "CARGO_INCREMENTAL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn rustc_version(toolchain: Toolchain) -> Result<String> {
    let rustc = match toolchain {
        Toolchain::Rustup => "rustc",
        Toolchain::Debian => "/usr/bin/rustc",
    };
    let out = Command::new(rustc)
        .arg("-V")
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .with_context(|| format!("running {rustc} -V"))?;
    Ok(format!(
        "{} ({})",
        String::from_utf8_lossy(&out.stdout).trim(),
        match toolchain {
            Toolchain::Rustup => "rustup",
            Toolchain::Debian => "debian",
        }
    ))
}

/// The package name in a crate's `Cargo.toml` (the first `name = "..."` of `[package]`).
fn package_name(manifest: &Path) -> Result<String> {
    let text =
        fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(rest) = line.strip_prefix("name") {
                if let Some(v) = rest.trim_start().strip_prefix('=') {
                    return Ok(v.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    bail!("{} has no [package] name", manifest.display())
}

/// Every policy crate of the workspace, in a stable order.
fn policy_crates(root: &Path) -> Result<Vec<PolicyCrate>> {
    let groups = [
        ("policies/defaults", "", "policies/dist"),
        ("policies/examples", "example-", "policies/dist"),
        ("policies/testdata", "", "policies/testdata/dist"),
    ];
    let mut out = Vec::new();
    for (dir, prefix, dist) in groups {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            out.push(PolicyCrate {
                package: package_name(&root.join(dir).join(&name).join("Cargo.toml"))?,
                dist: Path::new(dist).join(format!("{prefix}{name}.wasm")),
            });
        }
    }
    Ok(out)
}

/// `(path relative to the workspace root, component bytes)` of every policy crate.
type Components = Vec<(PathBuf, Vec<u8>)>;

/// Compiles every policy crate; returns the components and the compiler's version.
fn build_components(root: &Path) -> Result<(Components, String)> {
    let toolchain = toolchain()?;
    let version = rustc_version(toolchain)?;
    let crates = policy_crates(root)?;
    if crates.is_empty() {
        bail!("no policy crates under policies/");
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let flags = [
        format!("--remap-path-prefix={}=/karpenter-ovhcloud", root.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ]
    .join("\x1f");

    let mut cmd = cargo(toolchain);
    cmd.current_dir(root)
        .args([
            "build",
            "--locked",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
        ])
        .args(["--target-dir", "target/wasm"])
        .env("CARGO_ENCODED_RUSTFLAGS", flags);
    if toolchain == Toolchain::Debian {
        cmd.arg("-Zbuild-std=std,panic_abort");
    }
    for c in &crates {
        cmd.args(["-p", &c.package]);
    }
    let started = Instant::now();
    run(&mut cmd)?;
    eprintln!(
        "xtask: compiled {} policy crates in {:.1?} with {version}",
        crates.len(),
        started.elapsed()
    );

    let mut out = Vec::new();
    for c in &crates {
        let path = c.artifact(root);
        let module = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let module = only_exported_world(&module)
            .with_context(|| format!("reading the sections of {}", path.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|e| e.validate(true).encode())
            .with_context(|| format!("turning {} into a component", path.display()))?;
        out.push((c.dist.clone(), component));
    }
    Ok((out, version))
}

/// Drops the SDK's import-only `component-type` sections when the module has the full world
/// of its export macro (`...:<world>:imports and exports`).
///
/// The SDK generates bindings for all three worlds, so every module carries a section per
/// world; merged, they would make a flavor-selection component import the consolidation and
/// drift types too. The export macro's section already describes the world's imports.
fn only_exported_world(module: &[u8]) -> Result<Vec<u8>> {
    fn leb(bytes: &[u8], mut i: usize) -> Result<(usize, usize)> {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = *bytes.get(i).context("truncated module")?;
            i += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value, i));
            }
            shift += 7;
            if shift > 28 {
                bail!("malformed LEB128");
            }
        }
    }
    const PREFIX: &[u8] = b"component-type:";
    const FULL: &[u8] = b":imports and exports";
    // (start, end, custom section name) of every section.
    if module.len() < 8 {
        bail!("not a wasm module");
    }
    let mut sections = Vec::new();
    let mut i = 8;
    while i < module.len() {
        let id = module[i];
        let (size, body) = leb(module, i + 1)?;
        let end = body
            .checked_add(size)
            .filter(|e| *e <= module.len())
            .context("truncated section")?;
        let name = if id == 0 {
            let (len, at) = leb(module, body)?;
            module.get(at..at + len).context("truncated section name")?
        } else {
            &[][..]
        };
        sections.push((i, end, name));
        i = end;
    }
    let has_full = sections
        .iter()
        .any(|(_, _, n)| n.starts_with(PREFIX) && n.ends_with(FULL));
    let mut out = module[..8].to_vec();
    for (start, end, name) in sections {
        if has_full && name.starts_with(PREFIX) && !name.ends_with(FULL) {
            continue;
        }
        out.extend_from_slice(&module[start..end]);
    }
    Ok(out)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `cargo xtask build-policies`: (re)writes the committed components.
pub fn build(root: &Path) -> Result<()> {
    let (components, version) = build_components(root)?;
    for (rel, bytes) in &components {
        let dest = root.join(rel);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
        println!(
            "{:>9} bytes  sha256 {}  {}",
            bytes.len(),
            &sha256(bytes)[..16],
            rel.display()
        );
    }
    fs::write(root.join(TOOLCHAIN_FILE), format!("{version}\n"))
        .context("writing the TOOLCHAIN file")?;
    copy_to_chart(root, &components)
}

/// Where the Helm chart keeps its copies of the default components (`.Files.Get` only reads
/// files inside the chart); `host/tests/it/chart.rs` checks they equal `policies/dist`.
const CHART_POLICY_DIR: &str = "charts/karpenter-ovhcloud/policies";

/// Copies the default components (`policies/dist/<world>.wasm`, not the examples) into the chart.
fn copy_to_chart(root: &Path, components: &Components) -> Result<()> {
    for (rel, bytes) in components {
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if rel.parent() != Some(Path::new("policies/dist")) || name.starts_with("example-") {
            continue;
        }
        let dest = root.join(CHART_POLICY_DIR).join(name);
        fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
        println!("copied to {CHART_POLICY_DIR}/{name}");
    }
    Ok(())
}

/// `cargo xtask check-policies`: rebuilds and compares byte for byte with the committed
/// components, naming every file that differs, is missing, or is stale.
pub fn check(root: &Path) -> Result<()> {
    let (components, version) = build_components(root)?;
    let committed_version = fs::read_to_string(root.join(TOOLCHAIN_FILE)).unwrap_or_default();
    let mut problems = Vec::new();
    for (rel, bytes) in &components {
        match fs::read(root.join(rel)) {
            Err(_) => problems.push(format!("{} is missing (not committed)", rel.display())),
            Ok(old) if old != *bytes => problems.push(format!(
                "{} differs from a fresh build: committed {} bytes sha256 {}, rebuilt {} bytes sha256 {}",
                rel.display(),
                old.len(),
                sha256(&old),
                bytes.len(),
                sha256(bytes)
            )),
            Ok(_) => println!("ok  {:>9} bytes  {}", bytes.len(), rel.display()),
        }
    }
    for dir in ["policies/dist", "policies/testdata/dist"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let rel = Path::new(dir).join(e.file_name());
            if rel.extension().is_some_and(|x| x == "wasm")
                && !components.iter().any(|(p, _)| *p == rel)
            {
                problems.push(format!(
                    "{} is stale: no policy crate builds it",
                    rel.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        println!(
            "check-policies: {} components match their sources",
            components.len()
        );
        return Ok(());
    }
    let mut msg = problems.join("\n");
    if committed_version.trim() != version {
        msg.push_str(&format!(
            "\nnote: the committed components were built with `{}`, this machine builds with `{version}`; \
             bytes only match with the same compiler (KARPENTER_POLICY_TOOLCHAIN=debian selects Debian's)",
            committed_version.trim()
        ));
    }
    msg.push_str(
        "\nrun `cargo xtask build-policies` and commit policies/dist and policies/testdata/dist",
    );
    bail!("check-policies failed:\n{msg}")
}
