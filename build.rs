//! Tests that need PostgreSQL run when `RAGCAST_TEST_DATABASE_URL` is set at build time and are
//! listed as ignored, with the reason, when it is not (libtest cannot skip at run time).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(ragcast_test_postgres)");
    println!("cargo::rerun-if-env-changed=RAGCAST_TEST_DATABASE_URL");
    if std::env::var_os("RAGCAST_TEST_DATABASE_URL").is_some() {
        println!("cargo::rustc-cfg=ragcast_test_postgres");
    }
}
