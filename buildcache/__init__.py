"""buildcache: a compiler cache for Rust that cargo runs as its rustc-wrapper.

Kept empty on purpose: every rustc call imports this package, so nothing
here may cost start-up time.
"""

__version__ = "0.1.0"
