/t/a-1.d: src/lib.rs

# env-dep:TAB=a\tb
# env-dep:DANGLING=ends\
