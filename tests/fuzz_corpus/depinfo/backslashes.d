/t/a-1.d: src/back\\slash.rs src/odd\\\ name.rs src/x\y.rs

src/back\\slash.rs:
