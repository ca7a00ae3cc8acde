//! The cost of an element's attributes (issue #13): a normal Identify envelope against
//! the same envelope whose body is one element carrying N empty attributes, in one
//! criterion group so the ratios come from one run on one machine state.
//!
//! `attrs_200` is under the default per-element cap (256); `attrs_45000` raises the cap
//! to show that checking attributes (duplicates, repeated declarations) costs time
//! linear in their number; `attrs_45000_refused` is the same input under the default
//! cap, the path a server takes for a hostile request.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use touchstone_benches::read;
use wsman::{ErrorKind, Limits};

const IDENTIFY: &str = "requests/openwsman-identify.xml";
const IDENTIFY_BODY: &str = "<wsmid:Identify></wsmid:Identify>";

/// The Identify envelope with its body replaced by one element of `n` attributes.
fn with_attributes(identify: &str, n: usize) -> String {
    let attrs: String = (0..n).map(|i| format!(r#" a{i}="""#)).collect();
    let body = format!(r#"<p:X xmlns:p="urn:x"{attrs}/>"#);
    assert!(identify.contains(IDENTIFY_BODY), "{IDENTIFY} changed shape");
    identify.replace(IDENTIFY_BODY, &body)
}

fn attributes(c: &mut Criterion) {
    let default = Limits::default();
    let raised = Limits {
        max_attributes: 50_000,
        ..Limits::default()
    };
    let identify = read(IDENTIFY);
    let a200 = with_attributes(&identify, 200);
    let a45k = with_attributes(&identify, 45_000);
    // Check once, outside the timed loops, that each input takes the path its name says.
    wsman::parse(&identify, &default).expect("the Identify envelope parses");
    wsman::parse(&a200, &default).expect("200 attributes are under the default cap");
    wsman::parse(&a45k, &raised).expect("45,000 attributes parse under a raised cap");
    let refused = wsman::parse(&a45k, &default)
        .map(|_| ())
        .map_err(|e| e.kind);
    assert_eq!(
        refused,
        Err(ErrorKind::TooManyAttributes {
            limit: default.max_attributes
        })
    );

    let mut g = c.benchmark_group("attributes");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(30);
    g.nresamples(20_000);
    g.bench_function("identify", |b| {
        b.iter(|| wsman::parse(black_box(&identify), &default))
    });
    g.bench_function("attrs_200", |b| {
        b.iter(|| wsman::parse(black_box(&a200), &default))
    });
    g.bench_function("attrs_45000", |b| {
        b.iter(|| wsman::parse(black_box(&a45k), &raised))
    });
    g.bench_function("attrs_45000_refused", |b| {
        b.iter(|| wsman::parse(black_box(&a45k), &default))
    });
    g.finish();
}

criterion_group!(benches, attributes);
criterion_main!(benches);
