//! Random ids and secrets, drawn from the sandbox's seeded generator (same seed, same ids).

use rand::Rng;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A 20-character id like HighLevel's (`ocQHyuzHvysMo5N5VsXc`).
pub fn new_id(rng: &mut impl Rng) -> String {
    new_secret(rng, "", 20)
}

/// A random opaque secret of `len` characters after `prefix` (tokens, keys, codes).
pub fn new_secret(rng: &mut impl Rng, prefix: &str, len: usize) -> String {
    let body: String =
        (0..len).map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char).collect();
    format!("{prefix}{body}")
}
