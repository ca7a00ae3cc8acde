//! What more than one fuzz target needs: splitting the input into datagrams, and a
//! scripted RMCP+ login of a console into the simulated BMC.

#![allow(dead_code)]

use ipmi::console::{Console, Event};
use ipmi::session::Bmc;
use machine::Machine;
use rand::rngs::StdRng;

/// The input as datagrams, each prefixed by a little-endian u16 length (a short tail is
/// one last datagram); at most 64.
pub fn datagrams(mut b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while b.len() >= 2 && out.len() < 64 {
        let n = usize::from(u16::from_le_bytes([b[0], b[1]]));
        b = &b[2..];
        let take = n.min(b.len());
        out.push(&b[..take]);
        b = &b[take..];
    }
    if !b.is_empty() {
        out.push(b);
    }
    out
}

/// Logs `console` in to `bmc` (RMCP+), pumping datagrams both ways until the login
/// ends; panics unless it succeeds (the targets rely on a working login). `now` moves
/// on by one per round.
pub fn log_in(
    console: &mut Console,
    bmc: &mut Bmc,
    machine: &mut Machine,
    now: &mut u64,
    rng: &mut StdRng,
) {
    let mut out = console.login_v20(*now, rng);
    let mut logged_in = false;
    for _ in 0..16 {
        *now += 1;
        let h = bmc.handle(machine, &out, *now, rng);
        let mut next = None;
        for r in h.replies {
            match console.receive(&r, *now, rng) {
                Ok(Event::Send(b)) => next = Some(b),
                Ok(Event::LoggedIn { .. }) => logged_in = true,
                _ => {}
            }
        }
        match next {
            Some(b) => out = b,
            None => break,
        }
    }
    assert!(logged_in, "the scripted login works");
}
