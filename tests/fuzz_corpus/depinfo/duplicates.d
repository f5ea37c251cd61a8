/t/a-1.d: src/lib.rs src/lib.rs src/b.rs

/t/liba-1.rlib: src/b.rs src/lib.rs
