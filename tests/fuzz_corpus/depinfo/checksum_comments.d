/t/a-1.d: src/lib.rs

src/lib.rs:

# env-dep:X=1
# checksum:sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 file_len:12 src/lib.rs
