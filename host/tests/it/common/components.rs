//! Components built from core WAT for tests and benchmarks: what the policy toolchain cannot
//! produce on purpose (another contract version, forbidden imports, a no-op policy).

/// The contract, `wit/policy.wit`.
pub fn contract_wit() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/policy.wit"))
        .expect("wit/policy.wit")
}

/// A core module implementing `flavor-selection` that answers an empty decision without
/// reading its input: calling it costs lowering the request into guest memory (through
/// `cabi_realloc`) and lifting the decision, nothing else. `extra` is spliced into the module.
pub fn noop_select_wat(extra: &str) -> String {
    format!(
        r#"(module
      {extra}
      (memory (export "memory") 1)
      (global $heap (mut i32) (i32.const 1024))
      (data (i32.const 64) "noop0.0.0")
      (data (i32.const 128) "\40\00\00\00\04\00\00\00\44\00\00\00\05\00\00\00\40\00\00\00\04\00\00\00")
      (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32) (local $end i32)
        (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                               (i32.sub (i32.const 0) (local.get 2))))
        (local.set $end (i32.add (local.get $p) (local.get 3)))
        (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
          (then
            (if (i32.eq (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end)
                   (i32.shl (memory.size) (i32.const 16))) (i32.const 65535)) (i32.const 16)))
                 (i32.const -1))
              (then unreachable))))
        (global.set $heap (local.get $end))
        (local.get $p))
      (func (export "metadata") (result i32) (i32.const 128))
      (func (export "select") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
        (i32.const 256)))"#
    )
}

/// Wraps the core module `wat` into a component of `world` of the WIT package `wit`.
pub fn component(wit: &str, world: &str, wat: &str) -> Vec<u8> {
    let mut module = wat::parse_str(wat).expect("core module");
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("policy.wit", wit).expect("wit");
    let world = resolve.select_world(&[pkg], Some(world)).expect("world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed");
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .expect("module")
        .encode()
        .expect("encode")
}

/// A core module implementing `consolidation` that answers no command: the no-op
/// flavor-selection module with the `consolidate` export, whose request lowers to 12 flat
/// parameters (six lists and strings, a pointer and a length each).
pub fn noop_consolidate_wat() -> String {
    noop_select_wat("").replace(
        r#"(func (export "select") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)"#,
        r#"(func (export "consolidate") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)"#,
    )
}

/// The no-op flavor-selection component of the current contract.
pub fn noop_select() -> Vec<u8> {
    component(&contract_wit(), "flavor-selection", &noop_select_wat(""))
}

/// A flavor-selection component that also imports `clock.now` from a `clock` interface the
/// contract does not have: what a policy reaching beyond the log function looks like.
pub fn clock_importing_select() -> Vec<u8> {
    let wit = contract_wit().replace(
        "world flavor-selection {\n    import host;",
        "interface clock { now: func() -> u64; }\nworld flavor-selection {\n    import host;\n    import clock;",
    );
    let wat = noop_select_wat(
        r#"(import "karpenter-ovhcloud:policy/clock@0.2.0" "now" (func (result i64)))"#,
    );
    component(&wit, "flavor-selection", &wat)
}
