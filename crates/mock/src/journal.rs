//! The journal: a bounded, in-memory record of every exchange the mock saw, newest
//! last. Tests and client authors read it through the admin API (`GET /journal`) to see
//! exactly what their client sent and what the mock answered, including the requests
//! that never reached the WS-Man handler (404, 401, 413, ...).
//!
//! Entries are protocol-neutral at the top (sequence number, time, peer, duration) and
//! carry a protocol-specific [`Detail`]: HTTP exchanges have a typed record; other
//! protocols (IPMI over UDP) can record free-form JSON until they grow a typed variant.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;

#[path = "journal_store.rs"]
mod store;

use store::Store;
pub(crate) use store::{Head, HttpParts, ResponseBody, ResponseHeaders};

/// Default number of entries kept.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Bodies longer than this are stored cut short (with [`StoredBody::truncated`] set).
pub const MAX_STORED_BODY: usize = 64 * 1024;

/// Default number of bytes of response bodies the entries keep, newest first (see
/// [`Journal::with_budgets`]).
pub const DEFAULT_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Default number of bytes of requests (target, headers, kept body) and response
/// headers the entries keep, newest first (see [`Journal::with_budgets`]).
pub const DEFAULT_REQUEST_BYTES: usize = 8 * 1024 * 1024;

/// One journal entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Sequence number, from 1, assigned by [`Journal::record`].
    pub seq: u64,
    /// When the exchange started, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `"http"`, `"https"`, `"ipmi"`, ...
    pub protocol: Cow<'static, str>,
    /// The peer's address.
    pub peer: SocketAddr,
    /// How long the exchange took, in milliseconds.
    pub duration_ms: u64,
    /// What happened, per protocol.
    pub detail: Detail,
}

impl Entry {
    /// A new entry (its `seq` is set when it is recorded) that started at `started` and
    /// took `duration`.
    pub fn new(
        protocol: impl Into<Cow<'static, str>>,
        peer: SocketAddr,
        started: SystemTime,
        duration: Duration,
        detail: Detail,
    ) -> Entry {
        let head = Head::new(protocol, peer, started, duration);
        Entry {
            seq: 0,
            time_ms: head.time_ms,
            protocol: head.protocol,
            peer,
            duration_ms: head.duration_ms,
            detail,
        }
    }

    /// The HTTP record, if this is an HTTP exchange.
    pub fn http(&self) -> Option<&HttpRecord> {
        match &self.detail {
            Detail::Http(h) => Some(h),
            _ => None,
        }
    }

    /// The IPMI record, if this is an IPMI datagram.
    pub fn ipmi(&self) -> Option<&IpmiRecord> {
        match &self.detail {
            Detail::Ipmi(i) => Some(i),
            _ => None,
        }
    }
}

impl Head {
    /// What an entry that started at `started` and took `duration` records of it.
    pub(crate) fn new(
        protocol: impl Into<Cow<'static, str>>,
        peer: SocketAddr,
        started: SystemTime,
        duration: Duration,
    ) -> Head {
        Head {
            protocol: protocol.into(),
            peer,
            time_ms: started
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            duration_ms: duration.as_millis() as u64,
        }
    }
}

/// The protocol-specific part of an entry. Serialized without a tag: the entry's
/// `protocol` field says which it is.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Detail {
    /// An HTTP request and what was done with it.
    Http(Box<HttpRecord>),
    /// An IPMI datagram, decoded.
    Ipmi(Box<IpmiRecord>),
    /// Free-form JSON, for protocols without a typed record yet.
    Data(serde_json::Value),
}

/// An IPMI datagram and what the BMC did with it.
#[derive(Debug, Clone, Serialize)]
pub struct IpmiRecord {
    /// `ping`, `sessionless`, `open_session`, `rakp1`, `rakp3`, `ipmi15`, `rmcpp`,
    /// `sol`, or `dropped`.
    pub kind: String,
    /// The BMC session ID (0 when sessionless or unknown).
    pub session_id: u32,
    /// The session's (or the login's) user.
    pub user: Option<String>,
    /// The session's privilege (or the one a login asked for).
    pub privilege: Option<String>,
    /// The session's RMCP+ cipher suite.
    pub cipher_suite: Option<u8>,
    /// Request NetFn.
    pub netfn: Option<u8>,
    /// Its name (`app`, `chassis`, ...).
    pub netfn_name: Option<String>,
    /// Command number.
    pub cmd: Option<u8>,
    /// Its name (`get_device_id`, ...).
    pub command: Option<String>,
    /// Request data (or SOL characters received), hex.
    pub request_hex: String,
    /// Completion code of the answer.
    pub completion_code: Option<u8>,
    /// Response data (or SOL characters sent), hex.
    pub response_hex: String,
    /// RMCP+/RAKP status code of a handshake answer.
    pub status: Option<u8>,
    /// Why the BMC did not answer (malformed, bad AuthCode, replay, ...).
    pub dropped: Option<String>,
    /// The `[[ipmi.rules]]` rule that acted, if any.
    pub rule: Option<String>,
    /// What the rule did.
    pub action: Option<String>,
    /// Datagrams sent back.
    pub replies: usize,
}

impl IpmiRecord {
    /// A record of `kind` with nothing else known yet.
    pub fn empty(kind: &str) -> IpmiRecord {
        IpmiRecord {
            kind: kind.to_owned(),
            session_id: 0,
            user: None,
            privilege: None,
            cipher_suite: None,
            netfn: None,
            netfn_name: None,
            cmd: None,
            command: None,
            request_hex: String::new(),
            completion_code: None,
            response_hex: String::new(),
            status: None,
            dropped: None,
            rule: None,
            action: None,
            replies: 0,
        }
    }
}

/// An HTTP exchange.
#[derive(Debug, Clone, Serialize)]
pub struct HttpRecord {
    /// Whether it came over TLS.
    pub tls: bool,
    /// Request method.
    pub method: Cow<'static, str>,
    /// Request target (path and query).
    pub path: String,
    /// Request headers as they arrived (lower-case names), shared with the handler.
    pub request_headers: crate::http::Headers,
    /// Request body as read (possibly only its first part when it was over the limit).
    pub request_body: StoredBody,
    /// The authenticated user.
    pub user: Option<std::sync::Arc<str>>,
    /// What authentication concluded.
    pub auth: AuthOutcome,
    /// The body arrived sealed (WinRM NTLM message encryption); `request_body` and
    /// `response_body` are the plain SOAP.
    pub encrypted: bool,
    /// The scenario rule that matched, if any.
    pub rule: Option<String>,
    /// The WS-Man operation as the handler understood it.
    pub operation: Option<std::borrow::Cow<'static, str>>,
    /// The PowerShell Remoting messages the exchange carried, by name: `> NAME` sent by
    /// the client, `< NAME` answered ([`crate::remoting::journal`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub psrp: Vec<String>,
    /// What the server did.
    pub outcome: OutcomeKind,
    /// Response status, when a status line was (or began to be) sent.
    pub status: Option<u16>,
    /// Response headers, when sent.
    pub response_headers: Vec<crate::http::HeaderPair>,
    /// Response body (for a fault outcome, the bytes meant for the wire).
    pub response_body: Option<StoredBody>,
}

/// What authentication concluded for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthOutcome {
    /// Authentication was not looked at (the request was refused before it: 404, 405,
    /// 411, 413).
    NotChecked,
    /// The policy offers no scheme: everyone is let in without a user.
    Open,
    /// Basic credentials were accepted.
    Basic,
    /// Digest credentials were accepted.
    Digest,
    /// NTLM (scheme `Negotiate` or `NTLM`) accepted: the AUTHENTICATE leg, or a later
    /// request on the connection it authenticated.
    Negotiate,
    /// The NEGOTIATE leg of NTLM, answered with a CHALLENGE (401).
    NegotiateChallenge,
    /// `WSMANIDENTIFY: unauthenticated` let the request through without credentials.
    UnauthenticatedIdentify,
    /// No (usable) `Authorization` header.
    Missing,
    /// The header could not be parsed, or used a scheme or algorithm not offered.
    Malformed,
    /// Unknown user or wrong password (or Digest response).
    Rejected,
    /// The Digest nonce had expired (the challenge says `stale=true`).
    Stale,
    /// The Digest nonce count was already used.
    Replay,
}

/// What the server did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeKind {
    /// A response generated by the HTTP layer itself (404, 401, 413, ...).
    Refused,
    /// A normal response from the handler.
    Reply,
    /// The connection was reset.
    Reset,
    /// The connection was closed without an answer.
    Close,
    /// The response was cut short.
    Truncated,
    /// Raw bytes were sent instead of HTTP.
    Garbage,
    /// The response was sent slowly.
    SlowDrip,
    /// The handler (or a delay) overran the request deadline.
    Timeout,
    /// The client went away before the answer was ready.
    Cancelled,
}

/// A body as stored in the journal: its first [`MAX_STORED_BODY`] bytes, shared with
/// the request or answer they came from (no copy on the request path), read as text or
/// base64 only when the journal is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    /// The bytes kept (at most [`MAX_STORED_BODY`]).
    kept: Bytes,
    /// The length of the whole body in bytes.
    pub len: usize,
    /// Whether only the first [`MAX_STORED_BODY`] bytes are kept.
    pub truncated: bool,
    /// Whether the journal let the bytes go to stay within its response budget
    /// ([`Journal::with_response_budget`]): nothing is kept, `len` still tells the size.
    released: bool,
}

impl StoredBody {
    /// Stores `body`, cut at [`MAX_STORED_BODY`] bytes (a copy of those bytes).
    pub fn new(body: &[u8]) -> StoredBody {
        StoredBody {
            kept: Bytes::copy_from_slice(&body[..body.len().min(MAX_STORED_BODY)]),
            len: body.len(),
            truncated: body.len() > MAX_STORED_BODY,
            released: false,
        }
    }

    /// Stores `body` as [`StoredBody::new`] does, keeping its allocation: no copy.
    pub fn from_vec(body: Vec<u8>) -> StoredBody {
        StoredBody::from_bytes(Bytes::from(body))
    }

    /// Stores `body` as [`StoredBody::new`] does, sharing it: no copy.
    pub fn from_bytes(mut body: Bytes) -> StoredBody {
        let len = body.len();
        body.truncate(MAX_STORED_BODY);
        StoredBody {
            kept: body,
            len,
            truncated: len > MAX_STORED_BODY,
            released: false,
        }
    }

    /// Whether the journal let the bytes go (to stay within its response budget): the
    /// body reads as empty text, and [`StoredBody::len`] is still the body's length.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// The number of bytes kept.
    #[cfg(test)]
    fn kept_len(&self) -> usize {
        self.kept.len()
    }

    /// A body of `len` bytes of which `kept` (the first [`MAX_STORED_BODY`] at most)
    /// are kept.
    fn kept_of(kept: Bytes, len: usize) -> StoredBody {
        StoredBody {
            kept,
            len,
            truncated: len > MAX_STORED_BODY,
            released: false,
        }
    }

    /// A body of `len` bytes the journal let go.
    fn released_of(len: usize) -> StoredBody {
        StoredBody {
            released: true,
            ..StoredBody::kept_of(Bytes::new(), len)
        }
    }

    /// The kept bytes as text, when they are UTF-8 (a last character split by the cut
    /// is left out: that is still text).
    pub fn text(&self) -> Option<&str> {
        match std::str::from_utf8(&self.kept) {
            Ok(text) => Some(text),
            Err(e) if self.truncated && e.error_len().is_none() => {
                std::str::from_utf8(&self.kept[..e.valid_up_to()]).ok()
            }
            Err(_) => None,
        }
    }

    /// Whether the body is stored as base64 (it is not UTF-8 text).
    pub fn is_base64(&self) -> bool {
        self.text().is_none()
    }

    /// The text (UTF-8 bodies) or its base64 (other bodies), as the journal shows it.
    pub fn data(&self) -> std::borrow::Cow<'_, str> {
        match self.text() {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(
                base64::engine::general_purpose::STANDARD.encode(&self.kept),
            ),
        }
    }

    /// The stored bytes (of a text body, those of its text).
    pub fn bytes(&self) -> Vec<u8> {
        match self.text() {
            Some(t) => t.as_bytes().to_vec(),
            None => self.kept.to_vec(),
        }
    }
}

impl Serialize for StoredBody {
    /// `{data, base64, len, truncated}`: the text or its base64, and which; and
    /// `released: true` when the journal let the bytes go.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("StoredBody", 5)?;
        let text = self.text();
        st.serialize_field("data", &self.data())?;
        st.serialize_field("base64", &text.is_none())?;
        st.serialize_field("len", &self.len)?;
        st.serialize_field("truncated", &self.truncated)?;
        if self.released {
            st.serialize_field("released", &true)?;
        } else {
            st.skip_field("released")?;
        }
        st.end()
    }
}

/// The bounded journal. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Ring>,
    /// The sequence number of the newest entry (0: none yet), stored with the ring
    /// locked so that it never goes back.
    last: AtomicU64,
    /// Tasks in [`Journal::wait_for`]. A recorder wakes them only when there are any:
    /// a request nobody waits for then writes no state shared with the other workers
    /// beyond the ring and `last` (a `watch` channel took nine locks per request).
    waiters: AtomicUsize,
    recorded: Notify,
    /// Whether the capacity is above 0 (read without the lock on every request).
    keeps: bool,
}

#[derive(Debug)]
struct Ring {
    next_seq: u64,
    store: Store,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(DEFAULT_CAPACITY)
    }
}

impl Journal {
    /// A journal keeping the newest `capacity` entries within the default budgets
    /// ([`DEFAULT_REQUEST_BYTES`], [`DEFAULT_RESPONSE_BYTES`]). With 0 it keeps none:
    /// entries are still numbered (and waiters woken), and recorders may skip building
    /// them ([`Journal::keeps_entries`]).
    pub fn new(capacity: usize) -> Journal {
        Journal::with_budgets(capacity, DEFAULT_REQUEST_BYTES, DEFAULT_RESPONSE_BYTES)
    }

    /// [`Journal::with_budgets`] with the default request budget.
    pub fn with_response_budget(capacity: usize, response_bytes: usize) -> Journal {
        Journal::with_budgets(capacity, DEFAULT_REQUEST_BYTES, response_bytes)
    }

    /// A journal keeping at most the newest `capacity` entries, within two budgets:
    ///
    /// - `request_bytes` for what the entries keep of their requests (the target, the
    ///   headers, the body's first [`MAX_STORED_BODY`] bytes) and of their responses'
    ///   headers: the oldest entries go, whole, when the newer ones need the room;
    /// - `response_bytes` for their response bodies: an older entry lets its response
    ///   body go ([`StoredBody::is_released`]) and keeps the rest of its record.
    ///
    /// The newest entry is always kept whole, whatever its size. The bytes are copied
    /// into rings that grow to what the entries kept hold, at most these sizes
    /// (`journal_store.rs`): recording an exchange allocates nothing, and forgetting
    /// one frees nothing. On the throughput bench (64 connections), keeping 1,000
    /// entries as the buffers of the requests they came from cost a tenth of the
    /// mock's requests per second.
    pub fn with_budgets(capacity: usize, request_bytes: usize, response_bytes: usize) -> Journal {
        Journal {
            inner: Mutex::new(Ring {
                next_seq: 1,
                store: Store::new(capacity, request_bytes, response_bytes),
            }),
            last: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            recorded: Notify::new(),
            keeps: capacity > 0,
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring inconsistent (every
        // mutation is a single push/pop), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `entry` (its `seq` is overwritten) and returns its sequence number. The
    /// oldest entries are dropped when the journal is full (see
    /// [`Journal::with_budgets`]).
    pub fn record(&self, entry: Entry) -> u64 {
        let (seq, unkept) = {
            let mut ring = self.ring();
            let seq = ring.number();
            self.last.store(seq, Ordering::SeqCst);
            if self.keeps {
                ring.store.push(seq, entry);
                (seq, None)
            } else {
                (seq, Some(entry))
            }
        };
        // Freed after the lock is released: other connections' requests wait for it.
        drop(unkept);
        self.wake_waiters();
        seq
    }

    /// Records an HTTP exchange from its parts, copying their bytes (no record is
    /// built: see [`Journal::with_budgets`]), and returns its sequence number.
    pub(crate) fn record_http(&self, head: Head, parts: HttpParts<'_>) -> u64 {
        let seq = {
            let mut ring = self.ring();
            let seq = ring.number();
            self.last.store(seq, Ordering::SeqCst);
            if self.keeps {
                ring.store.push_http(seq, head, parts);
            }
            seq
        };
        self.wake_waiters();
        seq
    }

    /// Wakes the tasks in [`Journal::wait_for`], if any. `last` was stored before
    /// (sequentially consistent on both sides), so a waiter that registered too late
    /// to be counted here reads the new value itself.
    fn wake_waiters(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.recorded.notify_waiters();
        }
    }

    /// Whether entries are kept at all (a capacity above 0). A recorder may skip
    /// building an entry nobody will see, and call [`Journal::skip`] instead.
    pub fn keeps_entries(&self) -> bool {
        self.keeps
    }

    /// Numbers an exchange that is not kept (as [`Journal::record`] would) and returns
    /// its sequence number.
    pub fn skip(&self) -> u64 {
        let seq = {
            let seq = self.ring().number();
            self.last.store(seq, Ordering::SeqCst);
            seq
        };
        self.wake_waiters();
        seq
    }

    /// All entries kept, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.ring().store.entries_after(0)
    }

    /// The entries with a sequence number greater than `seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<Entry> {
        self.ring().store.entries_after(seq)
    }

    /// Drops every entry (sequence numbers keep counting) and returns how many there
    /// were.
    pub fn clear(&self) -> usize {
        self.ring().store.clear()
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.ring().store.len()
    }

    /// Whether no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries kept.
    pub fn capacity(&self) -> usize {
        self.ring().store.capacity
    }

    /// The sequence number of the newest entry ever recorded (0: none).
    pub fn last_seq(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// Waits until an entry with a sequence number of at least `seq` has been recorded
    /// and returns the newest sequence number. Lets tests and long-polling clients wait
    /// on the event instead of sleeping.
    pub async fn wait_for(&self, seq: u64) -> u64 {
        /// Counts this task among the waiters while it waits (and when it is dropped
        /// while waiting, no longer).
        struct Counted<'a>(&'a AtomicUsize);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _counted = Counted(&self.waiters);
        loop {
            // Registered before `last` is read: a recording after the read wakes it.
            let recorded = self.recorded.notified();
            let mut recorded = std::pin::pin!(recorded);
            recorded.as_mut().enable();
            let last = self.last_seq();
            if last >= seq {
                return last;
            }
            recorded.await;
        }
    }
}

impl Ring {
    /// The next sequence number, taken.
    fn number(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
