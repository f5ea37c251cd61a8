/t/a-1.d: src/lib.rs src/b.rs

src/lib.rs:
src/b.rs:

# env-dep:X=1
