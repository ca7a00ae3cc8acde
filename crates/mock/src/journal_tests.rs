//! The journal's unit tests (kept apart so that `journal.rs` stays a readable size).

use super::*;

fn entry(n: u8) -> Entry {
    Entry::new(
        "ipmi",
        SocketAddr::from(([127, 0, 0, 1], 623)),
        SystemTime::now(),
        Duration::from_millis(1),
        Detail::Data(serde_json::json!({ "n": n })),
    )
}

/// `wait_for` ends when its entry is recorded, from whichever thread, whether it
/// registered before or after the recording; a waiter gone stops being counted.
#[test]
fn waiters_wake_on_their_entry_from_any_thread_and_are_counted_while_waiting() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let j = std::sync::Arc::new(Journal::new(4));
    let patience = Duration::from_secs(10);
    rt.block_on(async {
        // Already recorded: no wait at all.
        j.record(entry(0));
        assert_eq!(j.wait_for(1).await, 1);
        assert_eq!(j.waiters.load(Ordering::SeqCst), 0);

        // Waiting first, recorded later by another thread (and a capacity-0
        // journal's `skip` wakes the same way).
        let waiter = tokio::spawn({
            let j = j.clone();
            async move { j.wait_for(3).await }
        });
        while j.waiters.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let recorder = std::thread::spawn({
            let j = j.clone();
            move || {
                j.record(entry(1));
                j.skip();
            }
        });
        let got = tokio::time::timeout(patience, waiter)
            .await
            .expect("the waiter was woken")
            .expect("the waiter did not panic");
        assert_eq!(got, 3);
        recorder.join().expect("recorder");
        assert_eq!(j.waiters.load(Ordering::SeqCst), 0);

        // Racing: each round a waiter and a recorder on different threads.
        for _ in 0..200 {
            let want = j.last_seq() + 1;
            let waiter = tokio::spawn({
                let j = j.clone();
                async move { j.wait_for(want).await }
            });
            let recorder = std::thread::spawn({
                let j = j.clone();
                move || j.record(entry(2))
            });
            let got = tokio::time::timeout(patience, waiter)
                .await
                .expect("no wake-up lost in the race")
                .expect("the waiter did not panic");
            assert!(got >= want);
            recorder.join().expect("recorder");
        }

        // A waiter dropped while waiting is no longer counted.
        let waiting = tokio::time::timeout(Duration::from_millis(1), j.wait_for(u64::MAX));
        assert!(waiting.await.is_err());
        assert_eq!(j.waiters.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn ring_keeps_the_newest_and_counts_on() {
    let j = Journal::new(3);
    for n in 0..5 {
        j.record(entry(n));
    }
    let seqs: Vec<u64> = j.entries().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    assert_eq!(j.since(3).len(), 2);
    assert_eq!(j.since(0).len(), 3);
    assert_eq!(j.since(9).len(), 0);
    assert_eq!((j.len(), j.is_empty(), j.capacity()), (3, false, 3));
    assert_eq!(j.clear(), 3);
    assert!(j.is_empty());
    assert_eq!(j.record(entry(9)), 6);
}

#[test]
fn bodies_are_text_or_base64_and_capped() {
    let b = StoredBody::new(b"<x/>");
    assert_eq!(
        (b.data().as_ref(), b.is_base64(), b.truncated),
        ("<x/>", false, false)
    );
    let b = StoredBody::new(&[0xff, 0xfe, 0]);
    assert!(b.is_base64());
    assert_eq!(b.data(), "//4A");
    assert_eq!(b.bytes(), [0xff, 0xfe, 0]);
    // A multi-byte character split by the cap is dropped, not turned into base64.
    let mut long = vec![b'a'; MAX_STORED_BODY - 1];
    long.extend_from_slice("é".as_bytes());
    let b = StoredBody::new(&long);
    assert!(b.truncated && !b.is_base64());
    assert_eq!(b.data().len(), MAX_STORED_BODY - 1);
    assert_eq!(b.bytes().len(), MAX_STORED_BODY - 1);
    assert_eq!(b.len, MAX_STORED_BODY + 1);
}

/// The journal's JSON of a body is what it was before bodies were kept as bytes,
/// and storing shared bytes copies nothing.
#[test]
fn stored_bodies_serialize_as_before_and_share_their_bytes() {
    let v = serde_json::to_value(StoredBody::new(b"<x/>")).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"data": "<x/>", "base64": false, "len": 4, "truncated": false})
    );
    let v = serde_json::to_value(StoredBody::new(&[0xff, 0xfe, 0])).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"data": "//4A", "base64": true, "len": 3, "truncated": false})
    );
    let answer = Bytes::from(vec![b'a'; MAX_STORED_BODY + 5]);
    let b = StoredBody::from_bytes(answer.clone());
    assert_eq!(
        b.kept.as_ptr(),
        answer.as_ptr(),
        "the answer's bytes are shared"
    );
    assert_eq!(
        (b.len, b.truncated, b.kept.len()),
        (MAX_STORED_BODY + 5, true, MAX_STORED_BODY)
    );
    assert_eq!(b, StoredBody::new(&answer));
}

/// `from_vec` stores exactly what `new` stores, for text, binary, empty, exactly
/// at the cap, over it, and a character split by the cap.
#[test]
fn storing_an_owned_body_stores_what_storing_a_borrowed_one_does() {
    let mut at_cap = vec![b'a'; MAX_STORED_BODY];
    at_cap[0] = b'<';
    let mut split = vec![b'a'; MAX_STORED_BODY - 1];
    split.extend_from_slice("é".as_bytes());
    let bodies: Vec<Vec<u8>> = vec![
        b"<s:Envelope/>".to_vec(),
        Vec::new(),
        vec![0xff, 0xfe, 0],
        "Größe ✓".as_bytes().to_vec(),
        at_cap,
        vec![b'b'; MAX_STORED_BODY + 10],
        split,
    ];
    for body in bodies {
        assert_eq!(
            StoredBody::from_vec(body.clone()),
            StoredBody::new(&body),
            "{} bytes",
            body.len()
        );
    }
}

/// A journal of capacity 0 keeps nothing but still numbers what it is given, by
/// `record` and by `skip` alike.
#[test]
fn a_journal_of_capacity_zero_keeps_nothing_and_counts_on() {
    let j = Journal::new(0);
    assert!(!j.keeps_entries());
    assert_eq!(j.record(entry(1)), 1);
    assert_eq!(j.skip(), 2);
    assert_eq!(j.record(entry(3)), 3);
    assert!(j.is_empty());
    assert_eq!(j.entries().len(), 0);
    assert_eq!(j.last_seq(), 3);
    assert!(Journal::new(1).keeps_entries());
}

#[test]
fn serializes_with_protocol_and_flat_detail() {
    let j = Journal::new(2);
    j.record(entry(7));
    let v = serde_json::to_value(j.entries()).unwrap();
    assert_eq!(v[0]["protocol"], "ipmi");
    assert_eq!(v[0]["detail"]["n"], 7);
    assert_eq!(v[0]["seq"], 1);
}

/// An HTTP entry whose response body is `response` bytes long (none when `None`).
fn exchange(response: Option<usize>) -> Entry {
    let record = HttpRecord {
        tls: false,
        method: "POST".into(),
        path: "/wsman".into(),
        request_headers: crate::http::Headers::default(),
        request_body: StoredBody::new(b"<s:Envelope/>"),
        user: None,
        auth: AuthOutcome::Basic,
        encrypted: false,
        rule: None,
        operation: Some("Get".into()),
        psrp: Vec::new(),
        outcome: OutcomeKind::Reply,
        status: Some(200),
        response_headers: Vec::new(),
        response_body: response.map(|n| StoredBody::from_vec(vec![b'r'; n])),
    };
    Entry::new(
        "http",
        SocketAddr::from(([127, 0, 0, 1], 5985)),
        SystemTime::now(),
        Duration::from_millis(1),
        Detail::Http(Box::new(record)),
    )
}

/// Of each entry, whether its response body is released (`None`: it has none).
fn released(j: &Journal) -> Vec<Option<bool>> {
    j.entries()
        .iter()
        .map(|e| {
            e.http()?
                .response_body
                .as_ref()
                .map(StoredBody::is_released)
        })
        .collect()
}

/// The response budget lets the oldest bodies go first, only as many as it must,
/// never the newest's; a released body keeps its length and the rest of its entry,
/// and says so in the JSON (and only then).
#[test]
fn the_response_budget_lets_the_oldest_bodies_go_and_keeps_the_newest() {
    let j = Journal::with_response_budget(10, 100);
    for _ in 0..2 {
        j.record(exchange(Some(40)));
    }
    j.record(exchange(None));
    assert_eq!(released(&j), [Some(false), Some(false), None]);
    // 120 bytes: the oldest goes.
    j.record(exchange(Some(40)));
    assert_eq!(released(&j), [Some(true), Some(false), None, Some(false)]);
    // The newest is kept whatever its size; all before it go.
    j.record(exchange(Some(500)));
    assert_eq!(
        released(&j),
        [Some(true), Some(true), None, Some(true), Some(false)]
    );
    // No longer the newest, the big one goes too.
    j.record(exchange(Some(1)));
    assert_eq!(released(&j)[3..], [Some(true), Some(true), Some(false)]);

    let entries = j.entries();
    let first = entries[0].http().unwrap();
    let body = first.response_body.as_ref().unwrap();
    assert_eq!(
        (body.len, body.data().as_ref(), body.bytes().len()),
        (40, "", 0)
    );
    assert_eq!(first.request_body.data(), "<s:Envelope/>");
    assert_eq!(first.status, Some(200));
    let v = serde_json::to_value(body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"data": "", "base64": false, "len": 40, "truncated": false, "released": true})
    );
    let kept = entries[5].http().unwrap().response_body.clone().unwrap();
    assert!(!kept.is_released());
    assert_eq!(serde_json::to_value(&kept).unwrap()["data"], "r");
    assert!(
        serde_json::to_value(&kept)
            .unwrap()
            .get("released")
            .is_none()
    );

    // After a clear, the count starts afresh.
    j.clear();
    for _ in 0..2 {
        j.record(exchange(Some(50)));
    }
    assert_eq!(released(&j), [Some(false), Some(false)]);
}

/// Evicted entries give their bytes back: a budget that holds every entry kept
/// never releases anything, however many pass through.
#[test]
fn evicted_entries_give_their_response_bytes_back() {
    let j = Journal::with_response_budget(3, 90);
    for _ in 0..20 {
        j.record(exchange(Some(30)));
    }
    assert_eq!(released(&j), [Some(false); 3]);
    let j = Journal::with_response_budget(3, 89);
    for _ in 0..20 {
        j.record(exchange(Some(30)));
    }
    assert_eq!(released(&j), [Some(true), Some(false), Some(false)]);
}

proptest::proptest! {
    /// Whatever passes through: the released bodies are the oldest, the newest is
    /// never released, the kept ones fit the budget unless only the newest is
    /// kept, and each release was needed.
    #[test]
    fn the_response_budget_holds_for_any_traffic(
        capacity in 1usize..8,
        budget in 0usize..300,
        ops in proptest::collection::vec(proptest::option::of(0usize..200), 0..40),
        clear_at in proptest::option::of(0usize..40),
    ) {
        let j = Journal::with_response_budget(capacity, budget);
        for (i, op) in ops.iter().enumerate() {
            if clear_at == Some(i) {
                j.clear();
            }
            j.record(exchange(*op));
            let entries = j.entries();
            let bodies: Vec<&StoredBody> = entries
                .iter()
                .filter_map(|e| e.http()?.response_body.as_ref())
                .collect();
            let kept: Vec<&&StoredBody> = bodies.iter().filter(|b| !b.is_released()).collect();
            let released = bodies.len() - kept.len();
            proptest::prop_assert!(bodies[..released].iter().all(|b| b.is_released()));
            if op.is_some() {
                proptest::prop_assert!(!bodies.last().unwrap().is_released());
            }
            let total: usize = kept.iter().map(|b| b.kept_len()).sum();
            if kept.len() > 1 {
                proptest::prop_assert!(total <= budget);
            }
            if released > 0 {
                proptest::prop_assert!(total + bodies[released - 1].len > budget);
            }
        }
    }
}

/// An HTTP entry with a request body of `request` bytes (each its index's low byte,
/// after `tag`'s) and a response body of `response` bytes, its bytes telling the
/// entry apart from the others.
fn exchange_sized(tag: u8, request: usize, response: Option<usize>) -> Entry {
    let mut e = exchange(None);
    let Detail::Http(h) = &mut e.detail else {
        unreachable!()
    };
    let body: Vec<u8> = (0..request).map(|i| tag.wrapping_add(i as u8)).collect();
    h.request_body = StoredBody::from_vec(body);
    h.response_body = response.map(|n| StoredBody::from_vec(vec![tag; n]));
    e
}

/// The bytes an entry made by [`exchange_sized`] keeps of its request: its target
/// and its body (no headers).
fn request_part(request: usize) -> usize {
    "/wsman".len() + request.min(MAX_STORED_BODY)
}

fn seqs(j: &Journal) -> Vec<u64> {
    j.entries().iter().map(|e| e.seq).collect()
}

/// The byte ring gives back what it keeps, across its end too, and lays the bytes it
/// keeps again when it grows.
#[test]
fn the_byte_ring_reads_back_what_it_keeps_across_its_end_and_as_it_grows() {
    let mut r = store::ByteRing::default();
    let a = r.position();
    r.reserve(a, 4, 10);
    r.write(b"abcd");
    let b = r.position();
    r.reserve(a, 4, 10);
    r.write(b"efgh");
    assert_eq!(
        (r.read(a, 4), r.read(b, 4)),
        (b"abcd".to_vec(), b"efgh".to_vec())
    );
    let c = r.position();
    r.reserve(b, 4, 10);
    r.write(b"ijkl");
    assert_eq!(r.read(c, 4), b"ijkl", "written across the end");
    assert_eq!(r.read(b, 4), b"efgh", "not overwritten");
    assert_eq!(r.len(), 10);
    // Growing: what is kept is laid again, the next write fits.
    let d = r.position();
    r.reserve(b, 10, 100);
    assert_eq!(r.len(), 100, "at least 4 KiB, within the limit");
    r.write(b"0123456789");
    assert_eq!(r.read(b, 8), b"efghijkl");
    assert_eq!(r.read(d, 10), b"0123456789");
    assert_eq!(r.read(d, 0), b"");
    // A ring that keeps nothing stays as it is.
    r.reserve(r.position(), 20, 1000);
    assert_eq!(r.len(), 100);
    // Beyond 4 KiB it doubles, or grows to what it must hold.
    let mut r = store::ByteRing::default();
    let first: Vec<u8> = (0..4000).map(|k| k as u8).collect();
    r.reserve(0, 4000, 1 << 20);
    r.write(&first);
    assert_eq!(r.len(), 4096);
    r.reserve(0, 100, 1 << 20);
    assert_eq!(r.len(), 8192);
    r.write(&[9; 100]);
    r.reserve(0, 20_000, 1 << 20);
    assert_eq!(r.len(), 24_100);
    assert_eq!(r.read(0, 4000), first);
    assert_eq!(r.read(4000, 100), [9; 100]);
}

proptest::proptest! {
    /// Any writes of any sizes within a limit, keeping any number of the latest: every
    /// write kept reads back as written, and the ring never outgrows the limit.
    #[test]
    fn the_byte_ring_keeps_every_write_it_is_asked_to(
        limit in 1usize..64,
        ops in proptest::collection::vec((0usize..64, 0usize..8), 0..40),
    ) {
        let mut r = store::ByteRing::default();
        let mut written: Vec<(u64, Vec<u8>)> = Vec::new();
        for (i, (n, keep)) in ops.into_iter().enumerate() {
            let n = n.min(limit);
            let end = r.position() + n as u64;
            // The latest `keep` writes that fit beside this one.
            let fits: Vec<usize> = (0..written.len())
                .filter(|&w| end - written[w].0 <= limit as u64)
                .collect();
            let from = fits.len().saturating_sub(keep);
            let keep_from = fits.get(from).map_or(r.position(), |&w| written[w].0);
            r.reserve(keep_from, n, limit);
            let bytes: Vec<u8> = (0..n).map(|k| (i * 31 + k) as u8).collect();
            written.push((r.position(), bytes.clone()));
            r.write(&bytes);
            proptest::prop_assert!(r.len() <= limit);
            for (at, bytes) in written.iter().filter(|w| w.0 >= keep_from) {
                proptest::prop_assert_eq!(&r.read(*at, bytes.len()), bytes);
            }
        }
    }
}

/// An HTTP record read back from the journal is the record given, in its JSON and
/// its bytes: binary and cut bodies, repeated and odd headers, every field.
#[test]
fn an_http_record_reads_back_as_it_was_recorded() {
    let headers = crate::http::Headers::from_pairs([
        ("host", "127.0.0.1:5985"),
        ("x-many", "one"),
        ("x-many", "two"),
        ("authorization", "Basic dTpw"),
    ])
    .unwrap();
    let mut long = vec![b'q'; MAX_STORED_BODY + 7];
    long[0] = 0xff;
    let record = HttpRecord {
        tls: true,
        method: Cow::Owned("PROPFIND".into()),
        path: "/wsman?x=ü".into(),
        request_headers: headers,
        request_body: StoredBody::from_vec(long),
        user: Some("alice".into()),
        auth: AuthOutcome::Digest,
        encrypted: true,
        rule: Some("slow-get".into()),
        operation: Some("Get".into()),
        psrp: vec!["> CREATE_PIPELINE".into(), "< PIPELINE_STATE".into()],
        outcome: OutcomeKind::SlowDrip,
        status: Some(500),
        response_headers: vec![
            ("content-type".into(), "application/soap+xml".into()),
            ("x-empty".into(), "".into()),
            ("content-length".into(), "3".into()),
        ],
        response_body: Some(StoredBody::new(&[0, 1, 2])),
    };
    let entry = Entry::new(
        "https",
        SocketAddr::from(([127, 0, 0, 1], 5986)),
        SystemTime::now(),
        Duration::from_millis(12),
        Detail::Http(Box::new(record)),
    );
    let mut expected = serde_json::to_value(&entry).unwrap();
    expected["seq"] = 1.into();
    let j = Journal::new(4);
    j.record(entry.clone());
    let got = j.entries();
    assert_eq!(serde_json::to_value(&got[0]).unwrap(), expected);
    let (sent, kept) = (entry.http().unwrap(), got[0].http().unwrap());
    assert_eq!(kept.request_body, sent.request_body);
    assert_eq!(kept.response_body, sent.response_body);
    assert_eq!(kept.request_headers.get("x-many").as_deref(), Some("one"));
    assert_eq!(kept.request_headers.len(), 4);
    assert_eq!(kept.request_body.len, MAX_STORED_BODY + 7);
    // Read twice, the same.
    assert_eq!(serde_json::to_value(&j.entries()[0]).unwrap(), expected);
}

/// An exchange recorded from its parts (as the HTTP layer records one) reads back as
/// the record with the same fields: the framing headers left out and the answer's
/// length added, the bodies cut as `StoredBody` cuts them.
#[test]
fn an_exchange_recorded_from_its_parts_reads_as_its_record() {
    fn framing(name: &str) -> bool {
        name == "content-length" || name == "transfer-encoding"
    }
    let headers = crate::http::Headers::from_pairs([("host", "h"), ("x", "1")]).unwrap();
    let request = vec![b'r'; MAX_STORED_BODY + 1];
    let response = b"<answer/>".to_vec();
    let pairs: Vec<crate::http::HeaderPair> = vec![
        ("content-type".into(), "text/xml".into()),
        ("transfer-encoding".into(), "chunked".into()),
        ("content-length".into(), "1".into()),
        ("x-b".into(), "2".into()),
    ];
    let peer = SocketAddr::from(([127, 0, 0, 1], 5985));
    let started = SystemTime::now();
    let j = Journal::new(4);
    j.record_http(
        Head::new("http", peer, started, Duration::from_millis(3)),
        HttpParts {
            tls: false,
            method: "POST".into(),
            path: "/wsman",
            request_headers: &headers,
            request_body: &request,
            request_len: request.len(),
            user: None,
            auth: AuthOutcome::Basic,
            encrypted: false,
            rule: None,
            operation: Some("Identify".into()),
            psrp: Vec::new(),
            outcome: OutcomeKind::Reply,
            status: Some(200),
            response_headers: ResponseHeaders {
                pairs: &pairs,
                skip: framing,
                content_length: Some(123_456_789),
            },
            response_body: Some(ResponseBody::Bytes(&response, response.len())),
        },
    );
    let record = HttpRecord {
        tls: false,
        method: "POST".into(),
        path: "/wsman".into(),
        request_headers: headers.clone(),
        request_body: StoredBody::new(&request),
        user: None,
        auth: AuthOutcome::Basic,
        encrypted: false,
        rule: None,
        operation: Some("Identify".into()),
        psrp: Vec::new(),
        outcome: OutcomeKind::Reply,
        status: Some(200),
        response_headers: vec![
            ("content-type".into(), "text/xml".into()),
            ("x-b".into(), "2".into()),
            ("content-length".into(), "123456789".into()),
        ],
        response_body: Some(StoredBody::new(&response)),
    };
    let mut expected = serde_json::to_value(Entry::new(
        "http",
        peer,
        started,
        Duration::from_millis(3),
        Detail::Http(Box::new(record)),
    ))
    .unwrap();
    expected["seq"] = 1.into();
    assert_eq!(serde_json::to_value(&j.entries()[0]).unwrap(), expected);
    let mut digits = [0u8; 20];
    for n in [0, 7, 10, 99, 100, usize::MAX] {
        assert_eq!(store::decimal(n, &mut digits), n.to_string().as_bytes());
    }
}

/// A body already released stays released when its entry is recorded again (into
/// another journal), with its length; and a body too big for the budget, kept only
/// while its entry is the newest, goes when any newer entry comes, HTTP or not.
#[test]
fn released_bodies_stay_released_and_oversized_ones_last_while_newest() {
    let a = Journal::with_response_budget(4, 10);
    a.record(exchange(Some(8)));
    a.record(exchange(Some(8)));
    let old = a.entries().remove(0);
    assert!(
        old.http()
            .unwrap()
            .response_body
            .as_ref()
            .unwrap()
            .is_released()
    );
    let b = Journal::new(4);
    b.record(old);
    let body = b.entries()[0]
        .http()
        .unwrap()
        .response_body
        .clone()
        .unwrap();
    assert!(body.is_released());
    assert_eq!(body.len, 8);

    a.record(exchange(Some(11)));
    assert_eq!(released(&a)[2], Some(false));
    a.record(entry(1));
    assert_eq!(released(&a)[2], Some(true));
}

/// The request budget drops the oldest entries whole once the newer ones need the
/// room, exactly at its boundary; the newest is kept whatever its size, until the
/// next comes.
#[test]
fn the_request_budget_drops_the_oldest_entries_whole() {
    let part = request_part(13);
    let j = Journal::with_budgets(10, 2 * part, 1 << 20);
    for tag in 0..3 {
        j.record(exchange_sized(tag, 13, Some(1)));
    }
    assert_eq!(seqs(&j), [2, 3]);
    let j = Journal::with_budgets(10, 2 * part - 1, 1 << 20);
    for tag in 0..3 {
        j.record(exchange_sized(tag, 13, Some(1)));
    }
    assert_eq!(seqs(&j), [3]);
    j.record(exchange_sized(9, 500, None));
    assert_eq!(seqs(&j), [4]);
    let big = j.entries().remove(0);
    assert_eq!(
        big.http().unwrap().request_body.bytes()[499],
        9u8.wrapping_add(243)
    );
    j.record(exchange_sized(1, 13, None));
    assert_eq!(seqs(&j), [5]);
    j.record(entry(1));
    assert_eq!(seqs(&j), [5, 6]);
}

proptest::proptest! {
    /// Whatever passes through, with any capacity and budgets: the entries kept are
    /// the newest, each with its own bytes; their request parts fit the request budget
    /// unless only the newest is kept; and each entry dropped had to be (the journal
    /// was full, or the one before the oldest kept would not have fitted).
    #[test]
    fn the_request_budget_holds_for_any_traffic(
        capacity in 1usize..8,
        request_budget in 0usize..300,
        response_budget in 0usize..300,
        ops in proptest::collection::vec((0usize..150, proptest::option::of(0usize..150)), 1..40),
        clear_at in proptest::option::of(0usize..40),
    ) {
        let j = Journal::with_budgets(capacity, request_budget, response_budget);
        let mut since_clear: Vec<(u64, usize, Option<usize>)> = Vec::new();
        for (i, &(request, response)) in ops.iter().enumerate() {
            if clear_at == Some(i) {
                j.clear();
                since_clear.clear();
            }
            let tag = i as u8;
            let seq = j.record(exchange_sized(tag, request, response));
            since_clear.push((seq, request, response));
            let entries = j.entries();
            let n = entries.len();
            proptest::prop_assert!(n >= 1 && n <= capacity);
            let expected = &since_clear[since_clear.len() - n..];
            let total: usize = expected.iter().map(|e| request_part(e.1)).sum();
            if n > 1 {
                proptest::prop_assert!(total <= request_budget);
            }
            if n < since_clear.len() && n < capacity {
                let before = since_clear[since_clear.len() - n - 1];
                proptest::prop_assert!(total + request_part(before.1) > request_budget);
            }
            for (e, &(seq, request, response)) in entries.iter().zip(expected) {
                proptest::prop_assert_eq!(e.seq, seq);
                let h = e.http().unwrap();
                let tag = (seq - 1) as u8;
                let want: Vec<u8> =
                    (0..request.min(MAX_STORED_BODY)).map(|k| tag.wrapping_add(k as u8)).collect();
                proptest::prop_assert_eq!(h.request_body.bytes(), want);
                proptest::prop_assert_eq!(h.path.as_str(), "/wsman");
                match (response, &h.response_body) {
                    (None, None) => {}
                    (Some(len), Some(b)) => {
                        proptest::prop_assert_eq!(b.len, len);
                        if !b.is_released() {
                            proptest::prop_assert_eq!(b.bytes(), vec![tag; len]);
                        }
                    }
                    _ => proptest::prop_assert!(false, "response body kind changed"),
                }
            }
        }
    }
}

/// Bodies at the cut and just past it read back as `StoredBody` stores them: whole
/// and not truncated at exactly [`MAX_STORED_BODY`] bytes, cut and truncated past it.
#[test]
fn bodies_at_the_cut_read_back_as_stored() {
    let j = Journal::new(4);
    for len in [MAX_STORED_BODY - 1, MAX_STORED_BODY, MAX_STORED_BODY + 1] {
        j.clear();
        j.record(exchange_sized(7, len, Some(len)));
        let e = j.entries().remove(0);
        let h = e.http().unwrap();
        let sent: Vec<u8> = (0..len).map(|k| 7u8.wrapping_add(k as u8)).collect();
        assert_eq!(h.request_body, StoredBody::new(&sent), "{len}");
        assert_eq!(h.request_body.truncated, len > MAX_STORED_BODY, "{len}");
        let answer = h.response_body.as_ref().unwrap();
        assert_eq!(answer, &StoredBody::new(&vec![7; len]), "{len}");
        assert_eq!(answer.truncated, len > MAX_STORED_BODY, "{len}");
    }
}

/// A journal of few entries holds few bytes, whatever its budgets: its rings grow to
/// what the entries kept hold (a fleet of a thousand machines keeps 64 entries each).
#[test]
fn a_journal_of_few_entries_holds_few_bytes_whatever_its_budgets() {
    let j = Journal::new(4);
    for tag in 0..200u8 {
        j.record(exchange_sized(tag, 1000, Some(3000)));
    }
    assert_eq!(seqs(&j), [197, 198, 199, 200]);
    let (requests, responses) = j.ring().store.ring_sizes();
    assert!(requests <= 8192, "{requests}");
    assert!(responses <= 16384, "{responses}");
    for e in j.entries() {
        let h = e.http().unwrap();
        let tag = (e.seq - 1) as u8;
        assert_eq!(h.response_body.as_ref().unwrap().bytes(), vec![tag; 3000]);
        assert_eq!(h.request_body.bytes()[0], tag);
    }
}
