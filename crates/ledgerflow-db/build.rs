//! The migrations are embedded by `sqlx::migrate!` at compile time: a migration added (not only
//! one changed) must rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
