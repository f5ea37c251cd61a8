/t/a-1.d: src/lib.rs

src/lib.rs:

# env-dep:MULTI=line1\nline2\rline3\\end
# env-dep:WEIRD\\NAME=v
# env-dep:EQUALS=a=b=c
# env-dep:UNSET_VAR
# env-dep:EMPTY=
