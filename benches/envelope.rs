//! Envelope parsing and writing throughput, one criterion group per corpus file.
//!
//! Every group holds the quick-xml event loop (the floor any parser built on it pays),
//! the typed parse, the same parse through a `ParseMemo` as a polling client's copies
//! come, the header-only parse, the writer and a roxmltree DOM parse, so the
//! ratios the README asks for come from one run on one machine state.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::Reader;
use quick_xml::events::Event;
use touchstone_benches::{ENVELOPES, read, with_message_ids};
use wsman::Limits;

/// The baseline: quick-xml's borrowing reader, default configuration, every event
/// pulled and dropped.
fn quick_xml_events(text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return events,
            Ok(ev) => {
                black_box(&ev);
                events += 1;
            }
            Err(e) => panic!("quick-xml failed on a corpus file: {e}"),
        }
    }
}

fn envelope(c: &mut Criterion) {
    let limits = Limits::default();
    for input in ENVELOPES {
        let text = read(input.path);
        let len = text.len();
        // Check once, outside the timed loops, that every path accepts the file: a bench
        // of an error path would measure the wrong thing.
        let env = wsman::parse(&text, &limits)
            .unwrap_or_else(|e| panic!("{}: typed parse failed: {e}", input.path));
        wsman::parse_header(&text, &limits)
            .unwrap_or_else(|e| panic!("{}: header parse failed: {e}", input.path));
        let written = wsman::write::write_envelope(&env, Vec::with_capacity(len));
        let written = String::from_utf8(written).expect("the writer emits UTF-8");
        wsman::parse(&written, &limits)
            .unwrap_or_else(|e| panic!("{}: written envelope does not parse: {e}", input.path));
        roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{}: roxmltree failed: {e}", input.path));

        let mut g = c.benchmark_group(input.group);
        g.throughput(Throughput::Bytes(len as u64));
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        g.sample_size(50);
        // The default 100,000 bootstrap resamples cost more time than they add precision here.
        g.nresamples(20_000);

        g.bench_function("quick_xml_events", |b| {
            b.iter(|| quick_xml_events(black_box(&text)))
        });
        g.bench_function("typed_parse", |b| {
            b.iter(|| wsman::parse(black_box(&text), &limits))
        });
        // A client polling: the same text with a new MessageID each time, through one
        // memo (after its first two reads, copies of the envelope it kept; a body it
        // does not keep, or a text over its size, is read every time). Two copies in
        // turn: each differs from the one before, and both stay in cache as the one
        // text of the other functions does (64 copies of the 65 KB file would not).
        let copies = with_message_ids(&text, 2);
        let mut memo = wsman::ParseMemo::new();
        let mut next = 0usize;
        g.bench_function("memo_parse", |b| {
            b.iter(|| {
                next = (next + 1) % copies.len();
                let env = memo.parse(black_box(&copies[next]), &limits);
                black_box(env.is_ok())
            })
        });
        g.bench_function("header_only", |b| {
            b.iter(|| wsman::parse_header(black_box(&text), &limits))
        });
        g.bench_function("write", |b| {
            b.iter(|| wsman::write::write_envelope(black_box(&env), Vec::with_capacity(len)))
        });
        g.bench_function("roxmltree_dom", |b| {
            b.iter(|| roxmltree::Document::parse(black_box(&text)))
        });
        g.finish();
    }
}

criterion_group!(benches, envelope);
criterion_main!(benches);
