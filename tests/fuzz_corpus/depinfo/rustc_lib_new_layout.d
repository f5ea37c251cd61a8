/ws/target/debug/build/gen_lib/60b6d7738e066549/out/gen_lib-60b6d7738e066549.d: crates/gen_lib/src/lib.rs /ws/target/debug/build/gen_lib/bb846a2be36fb1f3/out/generated.rs

/ws/target/debug/build/gen_lib/60b6d7738e066549/out/libgen_lib-60b6d7738e066549.rlib: crates/gen_lib/src/lib.rs /ws/target/debug/build/gen_lib/bb846a2be36fb1f3/out/generated.rs

/ws/target/debug/build/gen_lib/60b6d7738e066549/out/libgen_lib-60b6d7738e066549.rmeta: crates/gen_lib/src/lib.rs /ws/target/debug/build/gen_lib/bb846a2be36fb1f3/out/generated.rs

crates/gen_lib/src/lib.rs:
/ws/target/debug/build/gen_lib/bb846a2be36fb1f3/out/generated.rs:

# env-dep:GEN_FLAVOUR=vanilla
# env-dep:OUT_DIR=/ws/target/debug/build/gen_lib/bb846a2be36fb1f3/out
