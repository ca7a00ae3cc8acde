//! WS-Eventing (DSP0226 clause 10, WS-Eventing 2004/08): the mock as an event source.
//!
//! - `settings.rs`: the scenario's `[eventing]` table (modes, limits, delivery faults).
//! - [`machine::subscriptions`] (below the mock, sans-IO): the subscriptions' state
//!   and its arithmetic (keyed by their `wse:Identifier`: mode, expiry, heartbeats,
//!   bookmarks, batching limits, Pull context, the cursor in the machine's event log
//!   [`machine::events`], and reading the log after it).
//! - this file: the mock's part of each subscription (`Delivery`: NotifyTo, EndTo,
//!   the manager EPR, the WQL or channel filter, retries), `collect`, which reads the
//!   log with the mock's rendering and filter as the selection, the delivery mode URIs,
//!   and the `Wake` channel that tells delivery tasks and waiting Pulls to look again.
//! - `render.rs`: an event as a CIM indication or a Windows `<Event>`.
//! - `deliver.rs`: one task per subscription that pushes events, heartbeats and
//!   SubscriptionEnd over HTTP to loopback sinks, with retries, acks and batches.
//!
//! The WS-Man operations (Subscribe, Renew, GetStatus, Unsubscribe, Pull of a
//! Pull-mode subscription's context) are in `crate::wsman::eventing`.

pub(crate) mod deliver;
pub(crate) mod render;
pub mod settings;

use machine::Machine;
use wsman::Epr;

pub(crate) use machine::subscriptions::{Collected, Mode};
pub use settings::{DeliveryFault, EventingSettings, FaultAction};

use crate::filter::wql::Query;
use render::Rendered;

/// A subscription as the mock keeps it: the machine's bookkeeping and the mock's
/// [`Delivery`] part.
pub(crate) type Subscription = machine::subscriptions::Subscription<Delivery>;

/// The mock's subscriptions (in `Inner`, next to the [`Wake`] channel).
pub(crate) type Subscriptions = machine::subscriptions::Subscriptions<Delivery>;

/// The delivery mode a `wse:Delivery Mode` URI names.
pub(crate) fn mode_from_uri(uri: &str) -> Option<Mode> {
    use wsman::ns::eventing as e;
    Some(match uri {
        e::PUSH => Mode::Push,
        e::PUSH_WITH_ACK => Mode::PushWithAck,
        e::EVENTS => Mode::Events,
        e::PULL => Mode::Pull,
        _ => return None,
    })
}

/// What a subscription selects.
#[derive(Debug, Clone)]
pub(crate) enum EventFilter {
    /// Every event.
    All,
    /// A WQL `SELECT * FROM <class> [WHERE ...]` over the indication.
    Wql(Query),
    /// A WinRM event query: the channels its `Select Path` names.
    Channels(Vec<String>),
}

/// The mock's part of a subscription: where its messages go, how it selects and
/// writes events, and how its answers say its expiry.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// Where events go (push modes).
    pub(crate) notify_to: Option<Epr<'static>>,
    /// Where SubscriptionEnd goes.
    pub(crate) end_to: Option<Epr<'static>>,
    /// The SubscriptionManager EPR (sent back in SubscriptionEnd).
    pub(crate) manager: Epr<'static>,
    /// Whether the Expires was asked as an absolute dateTime (answers use the same type).
    pub(crate) absolute_expiry: bool,
    pub(crate) filter: EventFilter,
    /// The WinRM event log resource: events in the Windows shape.
    pub(crate) windows: bool,
    /// ConnectionRetry: (retries, interval ms).
    pub(crate) retry: (u32, u64),
}

impl Delivery {
    /// Whether the filter selects a rendered event.
    fn selects(&self, r: &Rendered) -> bool {
        match &self.filter {
            EventFilter::All => true,
            EventFilter::Wql(q) => matches!(
                q.select(&r.instance, &machine::cim::is_subclass),
                Ok(Some(_))
            ),
            EventFilter::Channels(c) => c.iter().any(|c| c.eq_ignore_ascii_case(&r.channel)),
        }
    }
}

/// Reads up to `limit` events `sub` selects after its cursor, rendered
/// ([`machine::subscriptions::Subscription::collect`] with the mock's rendering and
/// filter; the cursor is not moved).
pub(crate) fn collect(sub: &Subscription, m: &mut Machine, limit: usize) -> Collected<Rendered> {
    sub.collect(m, limit, |m, e| {
        let r = render::render(m, e, sub.delivery.windows);
        sub.delivery.selects(&r).then_some(r)
    })
}

/// A new epoch for the subscriptions' bookmarks: random per machine, so bookmarks of
/// an earlier machine are unknown.
pub(crate) fn new_epoch() -> u64 {
    rand::random::<u32>().into()
}

/// Bumped when events may be waiting (after an operation that held the machine
/// lock): delivery tasks and waiting Pulls look again.
///
/// It lives in the machine's `Inner`, so every call holds the machine lock. The last
/// value sent is kept beside the channel: [`Wake::notify`] runs on every request, and
/// reading the channel's own value takes its lock, a cache line both workers write.
#[derive(Debug)]
pub(crate) struct Wake {
    tx: tokio::sync::watch::Sender<u64>,
    sent: u64,
}

impl Default for Wake {
    fn default() -> Wake {
        Wake {
            tx: tokio::sync::watch::Sender::new(0),
            sent: 0,
        }
    }
}

impl Wake {
    /// Tells waiters that the log's newest event is `last_seq`, if it moved.
    pub(crate) fn notify(&mut self, last_seq: u64) {
        if self.sent != last_seq {
            self.sent = last_seq;
            self.tx.send_replace(last_seq);
        }
    }

    /// Wakes every waiter without news (a subscription changed or went away).
    pub(crate) fn poke(&self) {
        self.tx.send_modify(|g| *g = g.wrapping_add(0));
    }

    /// Wakes every waiter after the subscriptions were reset (a new machine): the
    /// value moves, so the next [`Wake::notify`] wakes them again.
    pub(crate) fn bump(&mut self) {
        self.sent = self.sent.wrapping_add(1);
        let sent = self.sent;
        self.tx.send_replace(sent);
    }

    /// A receiver for a delivery task or a waiting Pull.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tx.subscribe()
    }
}

/// Whether a push address is on this host (127.0.0.0/8, `::1`, `localhost`): the only
/// addresses the mock delivers to. Returns the socket address to connect to and the
/// path, or why not.
pub(crate) fn loopback_target(address: &str) -> Result<(std::net::SocketAddr, String), String> {
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("HTTP://"))
        .ok_or_else(|| format!("`{address}` is not an http:// address"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    if authority.contains('@') {
        return Err(format!("`{address}` carries user information"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{address}` has a malformed IPv6 host"))?;
        (h.to_owned(), p.strip_prefix(':').unwrap_or(""))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p),
            None => (authority.to_owned(), ""),
        }
    };
    let port: u16 = if port.is_empty() {
        80
    } else {
        port.parse()
            .map_err(|_| format!("`{address}` has a malformed port"))?
    };
    let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse()
            .map_err(|_| format!("`{host}` is not a loopback address"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "`{host}` is not a loopback address: this mock delivers events to this host only"
        ));
    }
    Ok((std::net::SocketAddr::new(ip, port), path))
}

/// Parses an `xs:dateTime` (`2026-12-05T18:40:00Z`, fractions and offsets allowed) to
/// Unix milliseconds.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (clock, offset_min) = if let Some(c) = time.strip_suffix('Z') {
        (c, 0i64)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        if oh > 14 || om > 59 {
            return None;
        }
        (c, sign * (oh * 60 + om))
    } else {
        (time, 0)
    };
    let mut c = clock.splitn(3, ':');
    let h: i64 = c.next()?.parse().ok()?;
    let mi: i64 = c.next()?.parse().ok()?;
    let sec: f64 = c.next()?.parse().ok()?;
    if h > 24 || mi > 59 || !(0.0..61.0).contains(&sec) {
        return None;
    }
    // `days` refuses years far beyond any calendar (a hostile `99999999999999999`).
    let days = crate::filter::value::days(y, i64::from(mo), i64::from(da))?;
    let secs = days * 86_400 + h * 3600 + mi * 60 - offset_min * 60;
    Some(secs * 1000 + (sec * 1000.0) as i64)
}

/// A duration in whole milliseconds, saturating (a client's `P999999999Y` is "forever",
/// not whatever the low 64 bits of its millisecond count happen to be).
pub(crate) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A new `uuid:` identifier (the one generator the mock's message IDs come from).
pub(crate) fn new_id() -> String {
    crate::wsman::write::new_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_addresses_are_targets() {
        assert!(loopback_target("http://127.0.0.1:8080/sink").is_ok());
        assert!(loopback_target("http://127.3.2.1:1/").is_ok());
        assert!(loopback_target("http://localhost:9/x").is_ok());
        assert!(loopback_target("http://[::1]:9/x").is_ok());
        assert!(loopback_target("http://10.0.0.1:9/x").is_err());
        assert!(loopback_target("http://example.com/x").is_err());
        assert!(loopback_target("https://127.0.0.1/x").is_err());
        assert!(loopback_target("http://evil@127.0.0.1/x").is_err());
        let (addr, path) = loopback_target("http://127.0.0.1:8080/a/b").unwrap();
        assert_eq!(addr.port(), 8080);
        assert_eq!(path, "/a/b");
    }

    #[test]
    fn datetimes_parse_with_zones() {
        assert_eq!(parse_datetime("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_datetime("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_datetime("1970-01-01T00:00:00.250Z"), Some(250));
        assert_eq!(parse_datetime("not a date"), None);
        assert_eq!(parse_datetime("2026-13-01T00:00:00Z"), None);
        // What the mock writes, it reads back (the epoch, a leap day, far dates).
        for unix in [0u64, 59, 951_782_400 + 3661, 1_764_892_800, 4_102_444_800] {
            let written = render::datetime(unix);
            assert_eq!(
                parse_datetime(&written),
                Some(unix as i64 * 1000),
                "{written}"
            );
        }
        assert_eq!(render::datetime(1_764_892_800), "2025-12-05T00:00:00Z");
    }
}
