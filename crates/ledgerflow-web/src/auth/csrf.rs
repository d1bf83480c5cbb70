//! CSRF tokens: a session's is derived from its secret (no storage; it changes with every
//! sign-in), and secrets are compared in constant time.

use sha2::{Digest, Sha256};

/// The CSRF token of a session.
pub fn csrf_for(session_secret: &str) -> String {
    let d = Sha256::digest(format!("ledgerflow-csrf:{session_secret}").as_bytes());
    hex::encode(&d[..16])
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_for("lfs_a");
        assert_ne!(a, csrf_for("lfs_b"));
        assert!(same(&a, &csrf_for("lfs_a")));
        assert!(!same(&a, &a[..a.len() - 1]));
    }
}
