/t/a-1.d: src/café.rs src/ÿþ.rs

src/café.rs:

# env-dep:V=Ã(
