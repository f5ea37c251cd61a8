/t/a-1.d: src/a b.rs src/cd.rs src/ef.rs src/gh.rs

# env-dep:SEP=x y: z
