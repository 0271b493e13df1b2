//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): endpoint secrets are `whsec_` + base64 of
//! random bytes; a delivery is signed as `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`, one entry per
//! active secret, space-separated, so receivers using any of the specification's libraries verify it unchanged —
//! also during a secret rotation, when the old and the new secret both sign.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

const PREFIX: &str = "whsec_";
/// Bytes of a new secret (the specification allows 24 to 64).
const SECRET_BYTES: usize = 32;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret is `whsec_` followed by base64")]
    Malformed,
    #[error("a signing secret holds 24 to 64 bytes")]
    WrongLength,
}

/// A fresh endpoint secret.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    // The system's CSPRNG failing is not a state the server can serve in.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
    let key = STANDARD.decode(encoded).map_err(|_| SecretError::Malformed)?;
    if !(24..=64).contains(&key.len()) {
        return Err(SecretError::WrongLength);
    }
    Ok(key)
}

/// One `v1,…` signature of a delivery.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(tag.as_ref()))
}

/// The `webhook-signature` header: one signature per key, in the order given (the newest secret first).
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1` entry of a `webhook-signature` header is `key`'s signature (constant-time comparison), as a
/// receiver checks it. Used by the tests' receivers; timestamps are the receiver's to bound.
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let message = format!("{id}.{timestamp}.{body}");
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|encoded| {
            STANDARD
                .decode(encoded)
                .is_ok_and(|tag| hmac::verify(&key, message.as_bytes(), &tag).is_ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks specification's published test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;

    #[test]
    fn signatures_match_the_specifications_test_vector() {
        let key = decode_secret(SECRET).unwrap();
        assert_eq!(
            sign(&key, ID, TIMESTAMP, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(verify(
            &key,
            ID,
            TIMESTAMP,
            BODY,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        ));
        // Any change to the id, the timestamp or the body breaks it.
        assert!(!verify(
            &key,
            "msg_other",
            TIMESTAMP,
            BODY,
            &sign(&key, ID, TIMESTAMP, BODY)
        ));
        assert!(!verify(&key, ID, TIMESTAMP + 1, BODY, &sign(&key, ID, TIMESTAMP, BODY)));
        assert!(!verify(
            &key,
            ID,
            TIMESTAMP,
            r#"{"test": 2432232315}"#,
            &sign(&key, ID, TIMESTAMP, BODY)
        ));
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_and_either_verifies() {
        let (new, old) = (decode_secret(&new_secret()).unwrap(), decode_secret(SECRET).unwrap());
        let header = signature_header(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY);
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.split(' ').all(|s| s.starts_with("v1,")));
        assert!(verify(&new, ID, TIMESTAMP, BODY, &header));
        assert!(verify(&old, ID, TIMESTAMP, BODY, &header));
        assert!(!verify(
            &decode_secret(&new_secret()).unwrap(),
            ID,
            TIMESTAMP,
            BODY,
            &header
        ));
    }

    #[test]
    fn new_secrets_are_random_and_well_formed_and_bad_ones_are_refused() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(decode_secret(&secret).unwrap().len(), SECRET_BYTES);
        assert_ne!(secret, new_secret());
        assert_eq!(
            decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(SecretError::Malformed)
        );
        assert_eq!(decode_secret("whsec_not base64!"), Err(SecretError::Malformed));
        assert_eq!(decode_secret("whsec_c2hvcnQ="), Err(SecretError::WrongLength));
    }
}
