//! The production image carries no simulator: `cargo tree`, run with the flags of the
//! Dockerfile's `cargo build` line (read from the Dockerfile, so this follows it), shows no
//! `karpenter-ovhcloud-sim` among the controller's normal dependencies. There is no Docker daemon
//! in CI; the dependency graph is what decides what gets compiled into the binary.

use std::collections::BTreeSet;

use crate::layout::{normal_dependencies, workspace_root};

/// The simulators' crate, which must stay out of the image.
const SIM_CRATE: &str = "karpenter-ovhcloud-sim";

/// The arguments of the `cargo build` command in a Dockerfile's `RUN` instructions (what
/// follows `cargo build`, up to the end of that shell command).
fn cargo_build_args(dockerfile: &str) -> Vec<String> {
    // Join continuation lines; comment lines inside a continuation are dropped, as Docker does.
    let mut instructions = vec![String::new()];
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let current = instructions.last_mut().unwrap();
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                instructions.push(String::new());
            }
        }
    }
    let builds: Vec<Vec<String>> = instructions
        .iter()
        .filter_map(|i| i.strip_prefix("RUN "))
        .flat_map(|run| run.split("&&").flat_map(|c| c.split(';')))
        .map(|command| {
            command
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|words| words.len() >= 2 && words[0] == "cargo" && words[1] == "build")
        .map(|words| words[2..].to_vec())
        .collect();
    assert_eq!(
        builds.len(),
        1,
        "expected exactly one `cargo build` in the Dockerfile, found {builds:?}"
    );
    builds.into_iter().next().unwrap()
}

/// `cargo build`'s flags as `cargo tree` flags: those that choose packages, features, target
/// and lock file are kept, the profile (which does not change the dependency graph) is dropped.
/// A flag not known here fails the test, so that a new one in the Dockerfile gets looked at.
fn tree_flags(build_args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = build_args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.split('=').next().unwrap();
        let takes_value = !arg.contains('=');
        match flag {
            "--release" | "-r" => {}
            "--profile" => {
                if takes_value {
                    args.next();
                }
            }
            "--locked"
            | "--frozen"
            | "--offline"
            | "--no-default-features"
            | "--all-features"
            | "--workspace" => out.push(arg.clone()),
            "-p" | "--package" | "-F" | "--features" | "--target" | "--manifest-path" => {
                out.push(arg.clone());
                if takes_value {
                    out.push(
                        args.next()
                            .unwrap_or_else(|| panic!("{arg} without a value"))
                            .clone(),
                    );
                }
            }
            other => panic!(
                "the Dockerfile's `cargo build` has {other:?}, which this test does not know: \
                 decide whether it changes the dependency graph and teach tree_flags"
            ),
        }
    }
    out
}

/// The crates `cargo tree` lists for these flags, normal dependencies only: what gets linked
/// into the binary.
fn tree(flags: &[String]) -> BTreeSet<String> {
    let packages = normal_dependencies(flags);
    assert!(
        packages.contains("karpenter-ovhcloud"),
        "cargo tree {flags:?} did not list the controller: {packages:?}"
    );
    packages
}

fn has_sim(packages: &BTreeSet<String>) -> bool {
    packages.contains(SIM_CRATE)
}

#[test]
fn the_dockerfile_builds_the_controller_without_the_simulators() {
    let dockerfile = std::fs::read_to_string(workspace_root().join("Dockerfile")).unwrap();
    let build = cargo_build_args(&dockerfile);
    let flags = tree_flags(&build);
    assert!(
        flags
            .windows(2)
            .any(|w| w[0] == "-p" && w[1] == "karpenter-ovhcloud"),
        "the Dockerfile no longer builds -p karpenter-ovhcloud: {build:?}"
    );
    let packages = tree(&flags);
    assert!(
        !has_sim(&packages),
        "the image (cargo build {}) would link {SIM_CRATE}: {packages:#?}",
        build.join(" ")
    );

    // The check can fail: with the default features (the `simulators` feature on) the same
    // command does list the simulators.
    let defaults: Vec<String> = flags
        .iter()
        .filter(|f| *f != "--no-default-features")
        .cloned()
        .collect();
    assert!(
        has_sim(&tree(&defaults)),
        "with default features {SIM_CRATE} should be a dependency, or this test checks nothing"
    );
}

#[test]
fn the_dockerfile_parser_finds_the_build_flags() {
    let dockerfile = "FROM rust AS build\n\
        # a comment\n\
        RUN apt-get update; cargo build --release --locked \\\n\
        # a comment inside the continuation\n\
         -p karpenter-ovhcloud --features=x --no-default-features \\\n\
         && cp target/release/x /x\n\
        RUN cargo --version\n";
    let build = cargo_build_args(dockerfile);
    assert_eq!(
        build,
        [
            "--release",
            "--locked",
            "-p",
            "karpenter-ovhcloud",
            "--features=x",
            "--no-default-features"
        ]
    );
    assert_eq!(
        tree_flags(&build),
        [
            "--locked",
            "-p",
            "karpenter-ovhcloud",
            "--features=x",
            "--no-default-features"
        ]
    );
}
