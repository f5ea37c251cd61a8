/t/a-1.d: src/lib.rs \
  src/b.rs
