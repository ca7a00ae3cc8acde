//! Arbitrary datagrams against the BMC session layer in front of the simulated machine,
//! both before any login and inside an established RMCP+ session (suite 3), so the
//! post-login paths (integrity, decryption, sequence window, every command handler of
//! the machine) see fuzzed input too.
//!
//! The input is a list of datagrams, each prefixed by a little-endian u16 length (a short
//! tail is one last datagram). The first byte picks the phase: even, sessionless; odd,
//! after a login, with every fuzzed datagram also sent once sealed by the console as the
//! body of a command (so the machine's command decoders get arbitrary request data).
//!
//! Invariants: nothing panics; every datagram yields a record; a reply is never larger
//! than the largest IPMI LAN packet the BMC may send.

#![no_main]

use ipmi::console::{Console, ConsoleConfig, SuiteChoice};
use ipmi::session::{Bmc, BmcConfig};
use libfuzzer_sys::fuzz_target;

mod common;
use common::{datagrams, log_in};
use machine::{Machine, MachineSpec};
use rand::SeedableRng;
use rand::rngs::StdRng;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(7);
    let Ok(mut machine) = Machine::new(MachineSpec::default(), 0) else {
        return;
    };
    let mut bmc = Bmc::new(BmcConfig::default());
    let mut now = 1_000u64;
    let mut console = Console::new({
        let mut c = ConsoleConfig::new("admin", "admin");
        c.suite = SuiteChoice::Id(3);
        c
    });
    if mode & 1 == 1 {
        log_in(&mut console, &mut bmc, &mut machine, &mut now, &mut rng);
    }
    for d in datagrams(rest) {
        now += 3;
        let h = bmc.handle(&mut machine, d, now, &mut rng);
        for r in &h.replies {
            assert!(r.len() <= 1024, "reply of {} bytes", r.len());
        }
        if mode & 1 == 1 && d.len() >= 2 {
            // The same bytes as a command inside the session: NetFn, command, data.
            if let Ok(sealed) = console.command(d[0] & 0xFE, d[1], &d[2..], now, &mut rng) {
                let h = bmc.handle(&mut machine, &sealed, now, &mut rng);
                for r in &h.replies {
                    let _ = console.receive(r, now, &mut rng);
                }
            }
        }
        bmc.handle_timeout(now);
        if let Some(t) = bmc.next_timeout() {
            assert!(t > now, "a timeout at {t} left after handling {now}");
        }
    }
});
