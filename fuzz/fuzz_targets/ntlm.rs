//! Arbitrary bytes against everything the mock's NTLM layer reads from the wire: the
//! SPNEGO reader, the acceptor (a NEGOTIATE, then an AUTHENTICATE after a real
//! CHALLENGE) and the WinRM `multipart/encrypted` framing.
//!
//! Invariants: nothing panics; arbitrary bytes never authenticate (the password check
//! needs the NTProofStr, which random input cannot produce for user admin/admin with a
//! fresh server challenge).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ntlm::{Acceptor, AcceptorConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fuzz_target!(|input: &[u8]| {
    let _ = ntlm::spnego::decode(input);
    let _ = ntlm::winrm::parse(&ntlm::winrm::content_type(), input);

    let mut rng = StdRng::seed_from_u64(11);
    let mut acceptor = Acceptor::new(AcceptorConfig::default());
    // A well-formed NEGOTIATE from the initiator, then the fuzzed AUTHENTICATE.
    let mut init = ntlm::Initiator::new(ntlm::InitiatorConfig::new("admin", "admin"));
    let negotiate = init.negotiate();
    if acceptor.challenge(&negotiate, &mut rng, 0).is_ok() {
        let password =
            |user: &str| (user.eq_ignore_ascii_case("admin")).then(|| "admin".to_owned());
        assert!(
            acceptor.authenticate(input, &password).is_err(),
            "random bytes authenticated"
        );
    }
    // The fuzzed bytes as a NEGOTIATE too.
    let mut acceptor = Acceptor::new(AcceptorConfig::default());
    let _ = acceptor.challenge(input, &mut rng, 0);
});
