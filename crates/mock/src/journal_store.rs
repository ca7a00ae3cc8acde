//! Where the journal keeps its entries: fixed-size slots in a ring, and the bytes of
//! HTTP exchanges copied into two byte rings (one for requests, one for response
//! bodies), so that recording an exchange allocates nothing (once the rings have grown
//! to their working size) and forgetting one frees nothing.
//!
//! An entry used to be a boxed record holding the request's own buffers (its target,
//! a copy of its headers, its body, the answer's headers and body): five or six
//! allocations, each freed a thousand requests later, cold and often by the other
//! worker. On the throughput bench that cost a tenth of the mock's requests per
//! second. Copying the few kilobytes into rings costs less than keeping the buffers,
//! and the buffers are then freed at once by the thread that made them.
//!
//! Each ring has a budget, counted in "logical" positions (bytes from the journal's
//! start, of every part recorded, in the ring or not): a part recorded at position `p`
//! of a ring whose budget is `b` is intact while at most `b` bytes were recorded from
//! `p` on (its own included). That is the budget: the newest parts whose total fits
//! it. A part bigger than the whole budget is kept beside the ring, in its slot, for as
//! long as its entry is the newest.
//!
//! - Requests (the target, the request headers, the kept request body and the
//!   response headers, in one part per entry): an entry whose request part falls out
//!   of the budget is dropped, oldest first. Entries are kept whole or not at all.
//! - Response bodies: a body that falls out is released (its entry stays, and says so).
//!
//! The buffers are another matter ([`ByteRing`]): their positions count only what went
//! into them, and a buffer grows only when the bytes its entries still need and the
//! next part do not fit. It holds what the kept entries hold, at most the budget: a
//! journal of 64 small entries (a fleet's machine) stays at a few KiB.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::{AuthOutcome, Detail, Entry, HttpRecord, MAX_STORED_BODY, OutcomeKind, StoredBody};
use crate::http::{HeaderPair, Headers};

/// Bytes in order, in a buffer used as a ring: a byte written at position `p` (counted
/// from the ring's start) lies at `p % len`. The buffer grows (twice as big, the bytes
/// still needed laid again) only when the bytes to keep and the next write do not fit,
/// so it is as big as what the entries kept hold, not as their budget: a journal of 64
/// small entries stays small.
#[derive(Debug, Default)]
pub(super) struct ByteRing {
    buf: Vec<u8>,
    /// Bytes written since the start (the next write's position).
    written: u64,
    /// `written % buf.len()`, kept as writes go (a write is a few pieces per entry,
    /// most of them a header's name or value: a division each cost more than the copy).
    head: usize,
}

/// The smallest buffer a ring grows to.
const MIN_RING: usize = 4096;

impl ByteRing {
    /// The position the next write starts at.
    pub(super) fn position(&self) -> u64 {
        self.written
    }

    /// Makes room for `n` more bytes, keeping those from position `keep_from` on, in a
    /// buffer of at most `limit` bytes (which must hold them).
    pub(super) fn reserve(&mut self, keep_from: u64, n: usize, limit: usize) {
        let keep = (self.written - keep_from) as usize;
        let needed = keep + n;
        debug_assert!(needed <= limit);
        if needed <= self.buf.len() {
            return;
        }
        let len = needed.max(self.buf.len() * 2).max(MIN_RING).min(limit);
        let kept = self.read(keep_from, keep);
        self.buf = vec![0; len];
        self.put(keep_from, &kept);
        self.head = (self.written % len as u64) as usize;
    }

    /// Appends `bytes`, for which [`ByteRing::reserve`] made room.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n == 0 {
            return;
        }
        let len = self.buf.len();
        debug_assert!(n <= len && self.head == (self.written % len as u64) as usize);
        let first = n.min(len - self.head);
        self.buf[self.head..self.head + first].copy_from_slice(&bytes[..first]);
        if first < n {
            self.buf[..n - first].copy_from_slice(&bytes[first..]);
        }
        self.written += n as u64;
        self.head += n;
        if self.head >= len {
            self.head -= len;
        }
    }

    /// Lays `bytes` at position `at`, across the buffer's end if need be.
    fn put(&mut self, at: u64, bytes: &[u8]) {
        let n = bytes.len();
        if n == 0 {
            return;
        }
        debug_assert!(n <= self.buf.len());
        let i = (at % self.buf.len() as u64) as usize;
        let first = n.min(self.buf.len() - i);
        self.buf[i..i + first].copy_from_slice(&bytes[..first]);
        self.buf[..n - first].copy_from_slice(&bytes[first..]);
    }

    /// A copy of the `len` bytes written from position `at` (still there).
    pub(super) fn read(&self, at: u64, len: usize) -> Vec<u8> {
        if len == 0 {
            return Vec::new();
        }
        debug_assert!(self.written - at <= self.buf.len() as u64);
        let i = (at % self.buf.len() as u64) as usize;
        let first = len.min(self.buf.len() - i);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buf[i..i + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        out
    }

    /// The buffer's size.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }
}

/// A ring and its budget in logical positions (see the module's text).
#[derive(Debug)]
struct Budgeted {
    ring: ByteRing,
    budget: usize,
    /// Bytes of parts recorded since the start, in the ring or beside it.
    logical: u64,
}

impl Budgeted {
    fn new(budget: usize) -> Budgeted {
        Budgeted {
            ring: ByteRing::default(),
            budget,
            logical: 0,
        }
    }

    fn budget(&self) -> u64 {
        self.budget as u64
    }

    /// Whether a part recorded at logical position `at` is still intact.
    fn intact(&self, at: u64) -> bool {
        self.logical - at <= self.budget()
    }

    /// Makes room in the ring for a part of `n` bytes (at most the budget), keeping
    /// the bytes from `keep_from` on that the budget still allows.
    fn reserve(&mut self, keep_from: u64, n: usize) {
        let floor = (self.ring.position() + n as u64).saturating_sub(self.budget());
        self.ring.reserve(keep_from.max(floor), n, self.budget);
    }
}

/// Where an entry's request part is.
#[derive(Debug)]
enum Place {
    /// In the request ring, from this physical position.
    Ring(u64),
    /// Beside it (bigger than the whole ring).
    Own(Box<[u8]>),
}

/// An entry's response body.
#[derive(Debug)]
struct ResponseSlot {
    /// Logical position in the response ring.
    at: u64,
    /// Physical position, when it went into the ring.
    ring: Option<u64>,
    /// The body itself, when it was too big for the ring (until a newer entry comes).
    own: Option<Bytes>,
    /// The bytes kept (at most [`MAX_STORED_BODY`]).
    kept: usize,
    /// The whole body's length.
    len: usize,
}

/// An HTTP exchange, its bytes in the rings.
#[derive(Debug)]
struct HttpSlot {
    tls: bool,
    method: Cow<'static, str>,
    user: Option<Arc<str>>,
    auth: AuthOutcome,
    encrypted: bool,
    rule: Option<String>,
    operation: Option<Cow<'static, str>>,
    psrp: Vec<String>,
    outcome: OutcomeKind,
    status: Option<u16>,
    /// The request part: the target, the request headers (`name:value\n` lines), the
    /// kept request body, the response headers (each name and value after its length
    /// as four little-endian bytes), in that order and of these lengths.
    place: Place,
    path_len: usize,
    headers_len: usize,
    body_kept: usize,
    /// The request body's whole length.
    body_len: usize,
    response_headers_len: usize,
    response: Option<ResponseSlot>,
}

// Unboxed on purpose: a boxed HTTP slot is the allocation per exchange the rings are
// here to save, and other entries (IPMI datagrams) are the rarer kind.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum SlotDetail {
    Http(HttpSlot),
    Other(Detail),
}

/// One entry as kept.
#[derive(Debug)]
struct Slot {
    seq: u64,
    time_ms: u64,
    protocol: Cow<'static, str>,
    peer: SocketAddr,
    duration_ms: u64,
    /// Logical position of its request part (a non-HTTP entry has an empty one).
    request_at: u64,
    /// Where each ring stood when it was recorded: its bytes, if any, start there,
    /// and no kept entry's start before the oldest entry's.
    request_ring_at: u64,
    response_ring_at: u64,
    detail: SlotDetail,
}

/// What is common to every entry, HTTP or not.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) protocol: Cow<'static, str>,
    pub(crate) peer: SocketAddr,
    pub(crate) time_ms: u64,
    pub(crate) duration_ms: u64,
}

/// The response headers as the journal shows them: `pairs` but those `skip` says,
/// then `content-length` when given.
#[derive(Clone, Copy)]
pub(crate) struct ResponseHeaders<'r> {
    pub(crate) pairs: &'r [HeaderPair],
    pub(crate) skip: fn(&str) -> bool,
    pub(crate) content_length: Option<usize>,
}

impl<'r> ResponseHeaders<'r> {
    /// No headers.
    pub(crate) const NONE: ResponseHeaders<'static> = ResponseHeaders {
        pairs: &[],
        skip: |_| false,
        content_length: None,
    };

    fn each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        for (name, value) in self.pairs {
            if !(self.skip)(name) {
                f(name.as_bytes(), value.as_bytes());
            }
        }
        if let Some(n) = self.content_length {
            let mut digits = [0u8; 20];
            f(b"content-length", decimal(n, &mut digits));
        }
    }

    /// Bytes the encoded headers take.
    fn encoded_len(&self) -> usize {
        let mut n = 0;
        self.each(|name, value| n += 8 + name.len() + value.len());
        n
    }
}

/// `n` in decimal, written at the end of `buf`.
pub(super) fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// An HTTP exchange to record, borrowing its bytes (copied into the rings).
pub(crate) struct HttpParts<'r> {
    pub(crate) tls: bool,
    pub(crate) method: Cow<'static, str>,
    pub(crate) path: &'r str,
    pub(crate) request_headers: &'r Headers,
    /// The request body (only its first [`MAX_STORED_BODY`] bytes are kept).
    pub(crate) request_body: &'r [u8],
    /// The request body's whole length (`request_body` may already be cut).
    pub(crate) request_len: usize,
    pub(crate) user: Option<Arc<str>>,
    pub(crate) auth: AuthOutcome,
    pub(crate) encrypted: bool,
    pub(crate) rule: Option<String>,
    pub(crate) operation: Option<Cow<'static, str>>,
    pub(crate) psrp: Vec<String>,
    pub(crate) outcome: OutcomeKind,
    pub(crate) status: Option<u16>,
    pub(crate) response_headers: ResponseHeaders<'r>,
    /// The response body and its whole length (the bytes may already be cut); `None`
    /// for no response body at all. A body given as released stays released.
    pub(crate) response_body: Option<ResponseBody<'r>>,
}

impl HttpParts<'_> {
    /// The request part (see [`HttpSlot`]), in pieces to `out`: the target, the request
    /// headers as lines, `body` (the kept request body) and the response headers, each
    /// name and value after its length.
    fn write_request_part(&self, body: &[u8], out: &mut dyn FnMut(&[u8])) {
        out(self.path.as_bytes());
        self.request_headers.write_lines(out);
        out(body);
        self.response_headers.each(|name, value| {
            for part in [name, value] {
                out(&(part.len() as u32).to_le_bytes());
                out(part);
            }
        });
    }
}

/// A response body to record.
#[derive(Clone, Copy)]
pub(crate) enum ResponseBody<'r> {
    Bytes(&'r [u8], usize),
    Released(usize),
}

/// The entries kept, their bytes and their budgets.
#[derive(Debug)]
pub(super) struct Store {
    pub(super) capacity: usize,
    slots: VecDeque<Slot>,
    requests: Budgeted,
    responses: Budgeted,
}

impl Store {
    pub(super) fn new(capacity: usize, request_bytes: usize, response_bytes: usize) -> Store {
        Store {
            capacity,
            slots: VecDeque::with_capacity(capacity.min(1024)),
            requests: Budgeted::new(request_bytes),
            responses: Budgeted::new(response_bytes),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The sizes of the request and response rings' buffers.
    #[cfg(test)]
    pub(super) fn ring_sizes(&self) -> (usize, usize) {
        (self.requests.ring.len(), self.responses.ring.len())
    }

    pub(super) fn clear(&mut self) -> usize {
        // The rings need nothing: with no entry left, nothing in them is read again,
        // and every budget counts from a part's own position on.
        let n = self.slots.len();
        self.slots.clear();
        n
    }

    /// Makes room for a new entry whose request part is `request_len` bytes: the
    /// newest entry no longer keeps a response body it kept only as the newest,
    /// entries whose request part the new one would overwrite go, and the oldest
    /// goes when the journal is full.
    fn make_room(&mut self, request_len: usize) {
        if let Some(SlotDetail::Http(h)) = self.slots.back_mut().map(|s| &mut s.detail) {
            if let Some(r) = &mut h.response {
                r.own = None;
            }
        }
        let end = self.requests.logical + request_len as u64;
        let budget = self.requests.budget();
        while let Some(front) = self.slots.front() {
            if end - front.request_at <= budget && self.slots.len() < self.capacity {
                break;
            }
            self.slots.pop_front();
        }
    }

    /// Records a non-HTTP entry (or an HTTP one given as a record).
    pub(super) fn push(&mut self, seq: u64, entry: Entry) {
        let head = Head {
            protocol: entry.protocol,
            peer: entry.peer,
            time_ms: entry.time_ms,
            duration_ms: entry.duration_ms,
        };
        match entry.detail {
            Detail::Http(h) => {
                let HttpRecord {
                    tls,
                    method,
                    path,
                    request_headers,
                    request_body,
                    user,
                    auth,
                    encrypted,
                    rule,
                    operation,
                    psrp,
                    outcome,
                    status,
                    response_headers,
                    response_body,
                } = *h;
                let response_body = response_body.as_ref().map(|b| {
                    if b.released {
                        ResponseBody::Released(b.len)
                    } else {
                        ResponseBody::Bytes(&b.kept, b.len)
                    }
                });
                self.push_http(
                    seq,
                    head,
                    HttpParts {
                        tls,
                        method,
                        path: &path,
                        request_headers: &request_headers,
                        request_body: &request_body.kept,
                        request_len: request_body.len,
                        user,
                        auth,
                        encrypted,
                        rule,
                        operation,
                        psrp,
                        outcome,
                        status,
                        response_headers: ResponseHeaders {
                            pairs: &response_headers,
                            ..ResponseHeaders::NONE
                        },
                        response_body,
                    },
                );
            }
            detail => {
                self.make_room(0);
                self.slots.push_back(Slot {
                    seq,
                    time_ms: head.time_ms,
                    protocol: head.protocol,
                    peer: head.peer,
                    duration_ms: head.duration_ms,
                    request_at: self.requests.logical,
                    request_ring_at: self.requests.ring.position(),
                    response_ring_at: self.responses.ring.position(),
                    detail: SlotDetail::Other(detail),
                });
            }
        }
    }

    /// Records an HTTP exchange, copying its bytes into the rings.
    pub(super) fn push_http(&mut self, seq: u64, head: Head, p: HttpParts<'_>) {
        let body = &p.request_body[..p.request_body.len().min(MAX_STORED_BODY)];
        let headers_len = p.request_headers.lines_len();
        let response_headers_len = p.response_headers.encoded_len();
        let request_len = p.path.len() + headers_len + body.len() + response_headers_len;
        self.make_room(request_len);

        let request_at = self.requests.logical;
        let request_ring_at = self.requests.ring.position();
        let response_ring_at = self.responses.ring.position();
        self.requests.logical += request_len as u64;
        let place = if request_len as u64 <= self.requests.budget() {
            let keep_from = self
                .slots
                .front()
                .map_or(request_ring_at, |s| s.request_ring_at);
            self.requests.reserve(keep_from, request_len);
            let ring = &mut self.requests.ring;
            let at = ring.position();
            p.write_request_part(body, &mut |b| ring.write(b));
            Place::Ring(at)
        } else {
            let mut own = Vec::with_capacity(request_len);
            p.write_request_part(body, &mut |b| own.extend_from_slice(b));
            Place::Own(own.into_boxed_slice())
        };

        let keep_from = self
            .slots
            .front()
            .map_or(response_ring_at, |s| s.response_ring_at);
        let response = p.response_body.map(|b| self.keep_response(b, keep_from));
        self.slots.push_back(Slot {
            seq,
            time_ms: head.time_ms,
            protocol: head.protocol,
            peer: head.peer,
            duration_ms: head.duration_ms,
            request_at,
            request_ring_at,
            response_ring_at,
            detail: SlotDetail::Http(HttpSlot {
                tls: p.tls,
                method: p.method,
                user: p.user,
                auth: p.auth,
                encrypted: p.encrypted,
                rule: p.rule,
                operation: p.operation,
                psrp: p.psrp,
                outcome: p.outcome,
                status: p.status,
                place,
                path_len: p.path.len(),
                headers_len,
                body_kept: body.len(),
                body_len: p.request_len,
                response_headers_len,
                response,
            }),
        });
    }

    /// Keeps a response body, in the ring (keeping the bytes from `keep_from` on) or
    /// beside it.
    fn keep_response(&mut self, body: ResponseBody<'_>, keep_from: u64) -> ResponseSlot {
        let r = &mut self.responses;
        let (bytes, len) = match body {
            ResponseBody::Bytes(bytes, len) => (&bytes[..bytes.len().min(MAX_STORED_BODY)], len),
            // Kept nowhere (neither in the ring nor beside it): released.
            ResponseBody::Released(len) => {
                return ResponseSlot {
                    at: r.logical,
                    ring: None,
                    own: None,
                    kept: 0,
                    len,
                };
            }
        };
        let at = r.logical;
        r.logical += bytes.len() as u64;
        let (ring, own) = if bytes.len() as u64 <= r.budget() {
            r.reserve(keep_from, bytes.len());
            let pos = r.ring.position();
            r.ring.write(bytes);
            (Some(pos), None)
        } else {
            (None, Some(Bytes::copy_from_slice(bytes)))
        };
        ResponseSlot {
            at,
            ring,
            own,
            kept: bytes.len(),
            len,
        }
    }

    /// The entries with a sequence number above `after`, oldest first, as records.
    pub(super) fn entries_after(&self, after: u64) -> Vec<Entry> {
        let start = self.slots.partition_point(|s| s.seq <= after);
        self.slots.range(start..).map(|s| self.entry(s)).collect()
    }

    fn entry(&self, s: &Slot) -> Entry {
        let detail = match &s.detail {
            SlotDetail::Other(d) => d.clone(),
            SlotDetail::Http(h) => Detail::Http(Box::new(self.http_record(h))),
        };
        Entry {
            seq: s.seq,
            time_ms: s.time_ms,
            protocol: s.protocol.clone(),
            peer: s.peer,
            duration_ms: s.duration_ms,
            detail,
        }
    }

    fn http_record(&self, h: &HttpSlot) -> HttpRecord {
        let part_len = h.path_len + h.headers_len + h.body_kept + h.response_headers_len;
        let part: Cow<'_, [u8]> = match &h.place {
            Place::Ring(at) => Cow::Owned(self.requests.ring.read(*at, part_len)),
            Place::Own(own) => Cow::Borrowed(own),
        };
        let (path, rest) = part.split_at(h.path_len);
        let (headers, rest) = rest.split_at(h.headers_len);
        let (body, mut rest) = rest.split_at(h.body_kept);
        let mut response_headers = Vec::new();
        while !rest.is_empty() {
            let (name, after) = length_prefixed(rest);
            let (value, after) = length_prefixed(after);
            response_headers.push((
                Cow::Owned(String::from_utf8_lossy(name).into_owned()),
                Cow::Owned(String::from_utf8_lossy(value).into_owned()),
            ));
            rest = after;
        }
        HttpRecord {
            tls: h.tls,
            method: h.method.clone(),
            path: String::from_utf8_lossy(path).into_owned(),
            request_headers: Headers::from_lines(headers.into()),
            request_body: StoredBody::kept_of(Bytes::copy_from_slice(body), h.body_len),
            user: h.user.clone(),
            auth: h.auth,
            encrypted: h.encrypted,
            rule: h.rule.clone(),
            operation: h.operation.clone(),
            psrp: h.psrp.clone(),
            outcome: h.outcome,
            status: h.status,
            response_headers,
            response_body: h.response.as_ref().map(|r| self.response_body(r)),
        }
    }

    fn response_body(&self, r: &ResponseSlot) -> StoredBody {
        let kept = match (&r.own, r.ring) {
            (Some(own), _) => Some(own.clone()),
            (None, Some(pos)) if self.responses.intact(r.at) => {
                Some(Bytes::from(self.responses.ring.read(pos, r.kept)))
            }
            _ => None,
        };
        match kept {
            Some(kept) => StoredBody::kept_of(kept, r.len),
            None => StoredBody::released_of(r.len),
        }
    }
}

/// A length (four little-endian bytes) and that many bytes; what follows.
fn length_prefixed(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (len, rest) = bytes.split_at(4.min(bytes.len()));
    let len = u32::from_le_bytes(len.try_into().unwrap_or([0; 4])) as usize;
    rest.split_at(len.min(rest.len()))
}
