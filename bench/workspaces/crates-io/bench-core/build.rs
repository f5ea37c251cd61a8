// Generates a lookup table into OUT_DIR so the workspace has a build script
// whose output the library includes.
use std::{env, fs, path::Path};

fn main() {
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let squares: Vec<String> = (0u64..64).map(|n| (n * n).to_string()).collect();
    let code = format!(
        "pub const SQUARES: [u64; 64] = [{}];\n",
        squares.join(", ")
    );
    fs::write(Path::new(&out_dir).join("squares.rs"), code).expect("write squares.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
