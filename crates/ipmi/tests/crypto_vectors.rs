//! The crypto checked against vectors computed independently by
//! `tests/fixtures/gen_vectors.py` (Python hashlib/hmac and `cryptography`), committed
//! as `tests/fixtures/crypto_vectors.json`.

use ipmi::crypto::{self, AuthAlg, CipherSuite, IntegrityAlg, RakpParams, SessionKeys};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("fixtures/crypto_vectors.json");
    serde_json::from_str(text).expect("fixture is JSON")
}

fn hex(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("hex string");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn arr16(v: &Value) -> [u8; 16] {
    hex(v).try_into().expect("16 bytes")
}

fn num(v: &Value) -> u64 {
    v.as_u64().expect("number")
}

#[test]
fn rakp_hmacs_sik_and_keys_match_python() {
    let all = vectors();
    let cases = all["rakp"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for c in cases {
        let auth = AuthAlg::from_u8(num(&c["auth"]) as u8).unwrap();
        let (rm, rc, guid) = (arr16(&c["rm"]), arr16(&c["rc"]), arr16(&c["guid"]));
        let name = hex(&c["name"]);
        let password = hex(&c["password"]);
        let p = RakpParams {
            auth,
            console_sid: num(&c["console_sid"]) as u32,
            bmc_sid: num(&c["bmc_sid"]) as u32,
            rm: &rm,
            rc: &rc,
            guid: &guid,
            role: num(&c["role"]) as u8,
            name: &name,
        };
        let kuid = crypto::kuid(&password);
        assert_eq!(p.rakp2(kuid), hex(&c["rakp2"]));
        assert_eq!(p.rakp3(kuid), hex(&c["rakp3"]));
        let kg = if c["kg"].is_null() {
            None
        } else {
            Some(hex(&c["kg"]))
        };
        let sik = p.sik(kg.as_deref().unwrap_or(kuid));
        assert_eq!(sik, hex(&c["sik"]));
        assert_eq!(p.rakp4(&sik), hex(&c["rakp4"]));
        let suite = if auth == AuthAlg::HmacSha1 {
            CipherSuite::by_id(3).unwrap()
        } else {
            CipherSuite::by_id(17).unwrap()
        };
        let keys = SessionKeys::derive(suite, sik);
        assert_eq!(keys.k1, hex(&c["k1"]));
        assert_eq!(keys.k2, hex(&c["k2"]));
        assert_eq!(keys.aes_key().to_vec(), hex(&c["k2"])[..16].to_vec());
    }
}

#[test]
fn ipmi15_md5_auth_codes_match_python() {
    let all = vectors();
    for c in all["md5"].as_array().unwrap() {
        let code = crypto::md5_auth_code(
            &hex(&c["password"]),
            num(&c["session_id"]) as u32,
            &hex(&c["message"]),
            num(&c["seq"]) as u32,
        );
        assert_eq!(code.to_vec(), hex(&c["md5"]));
    }
}

#[test]
fn integrity_codes_match_python() {
    let all = vectors();
    for c in all["integrity"].as_array().unwrap() {
        let alg = IntegrityAlg::from_u8(num(&c["alg"]) as u8).unwrap();
        let code = crypto::integrity_code(alg, &hex(&c["k1"]), &hex(&c["covered"]));
        assert_eq!(code, hex(&c["code"]));
        assert_eq!(code.len(), alg.code_len());
    }
}

#[test]
fn aes_cbc_with_the_ipmi_pad_matches_python() {
    let all = vectors();
    let Some(cases) = all["aes"].as_array() else {
        // gen_vectors.py ran without the `cryptography` package.
        assert!(
            std::env::var("CI").is_err(),
            "AES vectors missing from the fixture"
        );
        return;
    };
    assert!(!cases.is_empty());
    for c in cases {
        let key = arr16(&c["key"]);
        let iv = arr16(&c["iv"]);
        let data = hex(&c["data"]);
        let ct = crypto::aes_encrypt(&key, &iv, &data);
        assert_eq!(ct, hex(&c["ciphertext"]));
        assert_eq!(crypto::aes_decrypt(&key, &ct).unwrap(), data);
    }
}
