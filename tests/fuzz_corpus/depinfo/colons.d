/t/a-1.d: src/a:b.rs src/c:\ d.rs src/e:

src/a:b.rs:
src/c:\ d.rs:
src/e::
