/my dir/target/debug/deps/a-1.d: src/my\ file.rs src/two\ \ spaces.rs

src/my\ file.rs:
src/two\ \ spaces.rs:
