"""C and C++ object compiles sent through the wrapper by cc-rs (`buildcache cc -c x.c`)."""
