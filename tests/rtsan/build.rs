fn main() {
    let lib = std::env::var("RTSAN_LIB").expect("RTSAN_LIB: the path of libclang_rt.rtsan-x86_64.a");
    println!("cargo:rustc-link-arg=-Wl,--whole-archive");
    println!("cargo:rustc-link-arg={lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-whole-archive");
    println!("cargo:rustc-link-arg=-Wl,--export-dynamic");
    println!("cargo:rustc-link-arg=-lstdc++");
    println!("cargo:rerun-if-env-changed=RTSAN_LIB");
}
