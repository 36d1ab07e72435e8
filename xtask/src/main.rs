//! Repository tasks. `cargo xtask test` is the README's test command: it installs what a fresh
//! machine lacks, then runs formatting, lints and the whole test suite.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod contract_types;
mod k8s_assets;
mod policies;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).context("entering the workspace root")?;
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("bench") => bench::run(&root, &args[1..]),
        Some("install-tools") => install_tools(),
        Some("wit-check") => wit_check(),
        Some("build-policies") => policies::build(&root),
        Some("check-policies") => policies::check(&root),
        Some("gen-contract-types") => contract_types::generate(&root),
        Some("k8s-assets") => k8s_assets::run(&root, &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test [nextest args]  install missing tools, then fmt, clippy and the full test suite\n  \
                 install-tools        install the Wasm toolchain (Debian rustc-web) and Python test deps\n  \
                 wit-check            parse wit/ and list its worlds\n  \
                 build-policies       build every policy crate to a component in policies/dist and policies/testdata/dist\n  \
                 check-policies       rebuild the components and compare them byte for byte with the committed ones\n  \
                 gen-contract-types   regenerate the core's policy types and the host's conversions from wit/policy.wit\n  \
                 k8s-assets --k8s-pb DIR --go DIR [--check]\n                       \
                 regenerate (or check) the sim's Kubernetes assets: protobuf descriptors, Go-tag tables and\n                       \
                 OpenAPI definitions (DIRs: kube-rs/k8s-pb at tag 0.8.0; kubernetes/api, apimachinery and\n                       \
                 apiextensions-apiserver at v0.33.1, side by side; see xtask/src/k8s_assets.rs)\n  \
                 bench [--quick] [--out FILE] [--only TITLE,...]\n                       \
                 run every benchmark and rewrite BENCHMARKS.md (--quick: smoke run, written to target/BENCHMARKS.quick.md;\n                       \
                 --only: re-run the benchmarks whose titles start so, e.g. \"policy runtime,scheduling\", and replace just their sections)"
            );
            bail!("no command given")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs a command, echoing it, and fails with its exit status.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// Debian packages that provide a wasm32-capable rustc (see docs/ARCHITECTURE.md, "OVH rules the code relies on").
const WASM_DEBS: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "lld-19"];

/// Debian packages the tests call: `shellcheck` lints the demo scripts.
const TEST_DEBS: &[&str] = &["shellcheck", "gettext-base", "curl"];

/// PyPI package the chart tests render and lint the chart with (`import helm_python`).
const HELM_PYTHON_SDK: &str = "helm-python-sdk==0.2.2";

fn install_tools() -> Result<()> {
    install_debs()?;
    install_helm_python_sdk()
}

fn install_debs() -> Result<()> {
    let have_wasm = Path::new("/usr/lib/llvm-19/bin/wasm-ld").exists()
        && Path::new("/usr/bin/cargo").exists()
        && Path::new("/usr/lib/rustlib/src/rust/library").exists();
    if !have_wasm {
        apt_install(WASM_DEBS)?;
    }
    let have_test_tools = ["/usr/bin/shellcheck", "/usr/bin/envsubst", "/usr/bin/curl"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !have_test_tools {
        apt_install(TEST_DEBS)?;
    }
    Ok(())
}

fn apt_install(debs: &[&str]) -> Result<()> {
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(debs)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Installs helm-python-sdk for the `python3` on PATH (the one the chart tests run), unless it
/// imports already. A Debian system Python refuses plain `pip install` (PEP 668): then into
/// the user site.
fn install_helm_python_sdk() -> Result<()> {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import helm_python"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return Ok(());
    }
    let pip = |extra: &[&str]| {
        run(Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg(HELM_PYTHON_SDK))
    };
    if pip(&[]).is_err() {
        pip(&["--user", "--break-system-packages"])?;
    }
    if !importable() {
        bail!("{HELM_PYTHON_SDK} installed but `python3 -c 'import helm_python'` still fails");
    }
    Ok(())
}

/// The tests `cargo xtask test` runs a second time with upstream Karpenter's CRDs installed.
const UPSTREAM_CRDS_TESTS: &str = "package(karpenter-ovhcloud) & binary(it) & (test(/^demo_main::demo_walks/) | test(/^controller_provisioning::/) | test(/^disruption::/) | test(/^status_update::/) | test(/^controller_lifecycle::/))";

fn test(extra: &[String]) -> Result<()> {
    install_tools()?;
    run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
    contract_types::check(&workspace_root())?;
    policies::check(&workspace_root())?;
    // Clippy runs inside the real build: clippy-driver compiles the workspace's own crates
    // (lints, then code generation) while dependencies go through plain rustc. `cargo clippy`
    // followed by a build would type-check every dependency twice, which was a third of a
    // clean CI run. The lints are those of `cargo clippy --all-targets -- -D warnings`.
    let cargo = |args: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.args(args)
            .env("RUSTC_WORKSPACE_WRAPPER", "clippy-driver")
            .env(
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
            );
        cmd
    };
    run(&mut cargo(&["build", "--workspace", "--all-targets"]))?;
    run(cargo(&["nextest", "run", "--workspace", "--profile", "ci"]).args(extra))?;
    // The variant the guide's install step makes: upstream Karpenter's NodePool and NodeClaim
    // CRDs instead of the chart's, for the guide scenarios and everything that writes status.
    run(cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--profile",
        "ci",
        "-E",
        UPSTREAM_CRDS_TESTS,
    ])
    .env("KARPENTER_OVHCLOUD_TEST_CRDS", "upstream"))?;
    run(&mut cargo(&["test", "--workspace", "--doc"]))?;
    Ok(())
}

fn wit_check() -> Result<()> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_path("wit").context("parsing wit/")?;
    println!("package {}", resolve.packages[pkg].name);
    for (_, world) in &resolve.worlds {
        println!("  world {}", world.name);
    }
    Ok(())
}
