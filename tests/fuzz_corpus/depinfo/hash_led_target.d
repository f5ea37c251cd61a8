#out/a-1.d: src/lib.rs src/b.rs

#out/liba-1.rlib: src/lib.rs src/b.rs

src/lib.rs:
src/b.rs:
