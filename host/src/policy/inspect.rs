//! What a component is, read from its bytes before compiling it: size, digest, world, contract
//! version and imports.

use std::fmt;

use sha2::{Digest as _, Sha256};
use wasmparser::{Encoding, Parser, Payload};

use super::error::PolicyError;
use super::world::World;

/// Package of the policy contract, as it appears in import names.
pub const CONTRACT_PACKAGE: &str = "karpenter-ovhcloud:policy";

/// The current version of the contract (`wit/policy.wit`), the one new policies target.
pub const CONTRACT_VERSION: Version = Version {
    major: 0,
    minor: 2,
    patch: 0,
};

/// Every contract version the host serves: the current one and the frozen 0.1.0
/// (`wit/v0.1/policy.wit`, see `policy/v0_1.rs`). A component of a compatible version of any
/// of them is accepted.
pub const SUPPORTED_VERSIONS: [Version; 2] = [
    Version {
        major: 0,
        minor: 1,
        patch: 0,
    },
    CONTRACT_VERSION,
];

/// The ranges the host accepts, e.g. `0.1.x or 0.2.x`.
pub fn supported_ranges() -> String {
    SUPPORTED_VERSIONS
        .iter()
        .map(|v| v.accepted_range())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Interfaces of the contract a component may import: `host` (the `log` function) and the
/// types-only interfaces its world uses.
const ALLOWED_IMPORTS: [&str; 5] = [
    "host",
    "types",
    "provisioning-types",
    "consolidation-types",
    "drift-types",
];

/// sha256 of a component's bytes, the identity of a policy.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.short())
    }
}

/// A semantic version `major.minor.patch` of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Version {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
}

impl Version {
    /// Parses `1.2.3` (pre-release and build suffixes are not used by the contract).
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.split('.').map(|p| p.parse::<u64>().ok());
        let v = Version {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(v)
    }

    /// Whether a component targeting `self` links against a host implementing `host`: the same
    /// major version (for `0.x`, the same minor, as semver and wasmtime's linker have it).
    pub fn compatible_with(self, host: Version) -> bool {
        if host.major == 0 {
            self.major == 0 && self.minor == host.minor
        } else {
            self.major == host.major
        }
    }

    /// The range a host of this version accepts, e.g. `0.1.x` or `1.x`.
    pub fn accepted_range(self) -> String {
        if self.major == 0 {
            format!("0.{}.x", self.minor)
        } else {
            format!("{}.x", self.major)
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What the bytes of a policy component say about it.
#[derive(Debug, Clone)]
pub struct ComponentInfo {
    /// sha256 of the bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: usize,
    /// The world its exports implement.
    pub world: World,
    /// The contract version its imports name.
    pub wit_version: Version,
}

/// Reads a component's world, contract version and imports, refusing anything that is not a
/// policy of a compatible contract version, imports more than the contract allows or is larger
/// than `max_size` bytes. Does not compile anything.
pub fn inspect(bytes: &[u8], max_size: usize) -> Result<ComponentInfo, PolicyError> {
    if bytes.len() > max_size {
        return Err(PolicyError::TooLarge {
            size: bytes.len(),
            limit: max_size,
        });
    }
    let malformed = |e: wasmparser::BinaryReaderError| PolicyError::Malformed(e.to_string());
    let mut depth = 0usize;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != Encoding::Component {
                    return Err(PolicyError::Malformed(
                        "this is a core WebAssembly module, not a component (build it with `cargo xtask build-policies` or `wasm-tools component new`)".into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(malformed)?;
                    // Type imports (`use types.{policy-metadata}` at world level) carry no
                    // functionality; only instances and functions are checked.
                    if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                        imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    exports.push(export.map_err(malformed)?.name.name.to_string());
                }
            }
            _ => {}
        }
    }

    let mut version: Option<Version> = None;
    for name in &imports {
        let (interface, v) =
            contract_import(name).ok_or_else(|| PolicyError::ForbiddenImport(name.clone()))?;
        if !ALLOWED_IMPORTS.contains(&interface) {
            return Err(PolicyError::ForbiddenImport(name.clone()));
        }
        match version {
            Some(seen) if seen != v => {
                return Err(PolicyError::Malformed(format!(
                    "imports mix contract versions {seen} and {v}"
                )))
            }
            _ => version = Some(v),
        }
    }
    // A component that imports nothing of the contract cannot use its types: not a policy.
    let wit_version = version.ok_or_else(|| {
        PolicyError::Malformed(format!(
            "imports nothing of {CONTRACT_PACKAGE}; a policy implements one of its worlds"
        ))
    })?;
    if !SUPPORTED_VERSIONS
        .iter()
        .any(|v| wit_version.compatible_with(*v))
    {
        return Err(PolicyError::UnsupportedVersion {
            found: wit_version.to_string(),
            supported: supported_ranges(),
        });
    }

    let worlds: Vec<World> = exports
        .iter()
        .filter_map(|e| World::from_decision_export(e))
        .collect();
    let world = match worlds.as_slice() {
        [world] => *world,
        [] => {
            return Err(PolicyError::Malformed(format!(
                "exports none of `select`, `consolidate`, `detect` (exports: {})",
                exports.join(", ")
            )))
        }
        _ => {
            return Err(PolicyError::Malformed(format!(
                "exports the decision functions of several worlds ({})",
                exports.join(", ")
            )))
        }
    };
    if !exports.iter().any(|e| e == "metadata") {
        return Err(PolicyError::Malformed(
            "does not export `metadata`".to_string(),
        ));
    }
    Ok(ComponentInfo {
        digest: Digest::of(bytes),
        size: bytes.len(),
        world,
        wit_version,
    })
}

/// Splits `karpenter-ovhcloud:policy/<interface>@<version>` into interface and version.
fn contract_import(name: &str) -> Option<(&str, Version)> {
    let rest = name.strip_prefix(CONTRACT_PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = rest.split_once('@')?;
    Some((interface, Version::parse(version)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_the_same_0_minor_are_compatible() {
        let host = Version::parse("0.1.0").unwrap();
        assert!(Version::parse("0.1.7").unwrap().compatible_with(host));
        assert!(!Version::parse("0.2.0").unwrap().compatible_with(host));
        assert!(!Version::parse("1.1.0").unwrap().compatible_with(host));
        let host1 = Version::parse("1.0.0").unwrap();
        assert!(Version::parse("1.4.0").unwrap().compatible_with(host1));
        assert!(!Version::parse("2.0.0").unwrap().compatible_with(host1));
        assert_eq!(host.accepted_range(), "0.1.x");
        assert_eq!(supported_ranges(), "0.1.x or 0.2.x");
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
    }

    #[test]
    fn contract_imports_are_split_into_interface_and_version() {
        assert_eq!(
            contract_import("karpenter-ovhcloud:policy/host@0.1.0"),
            Some(("host", Version::parse("0.1.0").unwrap()))
        );
        assert_eq!(contract_import("wasi:cli/environment@0.2.0"), None);
        assert_eq!(contract_import("karpenter-ovhcloud:policy/host"), None);
    }

    #[test]
    fn oversize_and_core_modules_are_refused_before_parsing() {
        let err = inspect(&[0u8; 2048], 1024).unwrap_err();
        assert!(
            matches!(
                err,
                PolicyError::TooLarge {
                    size: 2048,
                    limit: 1024
                }
            ),
            "{err}"
        );
        // The smallest core module: magic + version 1.
        let err = inspect(b"\0asm\x01\0\0\0", 1024).unwrap_err();
        assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    }
}
