//! The property behind WS-Eventing's Pull delivery (issue 16): for any interleaving of
//! machine changes and subscriber actions (Subscribe, Pull, Renew, Unsubscribe, time
//! passing until expiry), every event the machine produces while a Pull-mode
//! subscription is active reaches that subscription exactly once and in order, or is
//! counted in `wsman:DroppedEvents`; nothing produced before it began or after it ended
//! reaches it, and an ended subscription answers no more Pulls.
//!
//! Subscribe, Renew and Unsubscribe go through the same dispatch as requests over HTTP,
//! a Pull through `event_pull` (what an HTTP Pull of a subscription's context comes to
//! once any wait is over), all on the mock's own state with a virtual clock (`now` is
//! the test's), so expiry is exact and instant.

use proptest::prelude::*;
use wsman::body::{Body, Item};
use wsman::decode::Charset;
use wsman::ns::{self, eventing as ev};

use crate::http::Request;
use crate::journal::Journal;
use crate::mock::Mock;
use crate::scenario::Scenario;

const ALERT_URI: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AlertIndication";
const WSE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";

/// One step of a run.
#[derive(Debug, Clone)]
enum Op {
    /// The machine raises this many alerts.
    Raise(u8),
    /// A new Pull-mode subscription expiring after this many ms.
    Subscribe(u64),
    /// A Pull of up to `max` events by subscription `sub` (an index, modulo those made).
    Pull {
        sub: usize,
        max: u32,
    },
    /// A Renew for this many more ms.
    Renew {
        sub: usize,
        ms: u64,
    },
    Unsubscribe {
        sub: usize,
    },
    /// Time passes.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u8..4).prop_map(Op::Raise),
        2 => (50u64..3_000).prop_map(Op::Subscribe),
        4 => (any::<usize>(), 1u32..5).prop_map(|(sub, max)| Op::Pull { sub, max }),
        1 => (any::<usize>(), 50u64..3_000).prop_map(|(sub, ms)| Op::Renew { sub, ms }),
        1 => any::<usize>().prop_map(|sub| Op::Unsubscribe { sub }),
        2 => (0u64..2_000).prop_map(Op::Advance),
    ]
}

/// What the test knows of one subscription.
#[derive(Debug)]
struct Model {
    id: String,
    context: String,
    /// When it expires on the test's clock; `None` once unsubscribed.
    expires_at: Option<u64>,
    /// The events produced while it was active, in order.
    produced: Vec<u64>,
    /// The events its Pulls returned, in order.
    delivered: Vec<u64>,
    dropped: u64,
}

impl Model {
    fn active(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|t| t > now)
    }
}

fn envelope(action: &str, header: &str, body: &str) -> String {
    format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:e=\"{WSE}\" xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\">\
         <s:Header><a:To>http://127.0.0.1/wsman</a:To>\
         <w:ResourceURI s:mustUnderstand=\"true\">{ALERT_URI}</w:ResourceURI>\
         <a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
         <a:Action s:mustUnderstand=\"true\">{action}</a:Action>\
         <a:MessageID>uuid:{}</a:MessageID>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>",
        crate::wsman::write::new_uuid().trim_start_matches("uuid:")
    )
}

fn identifier(id: &str) -> String {
    format!("<e:Identifier>{id}</e:Identifier>")
}

/// The event sequence numbers in an answer's items (`touchstone:event:N`).
fn seqs(items: &[Item<'_>]) -> Vec<u64> {
    items
        .iter()
        .flat_map(|i| match i {
            Item::Xml(x) => x
                .split("touchstone:event:")
                .skip(1)
                .filter_map(|rest| {
                    let d: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    d.parse().ok()
                })
                .collect::<Vec<u64>>(),
            other => panic!("an event item that is not written XML: {other:?}"),
        })
        .collect()
}

struct Run {
    mock: Mock,
    scenario: std::sync::Arc<Scenario>,
    req: Request,
    now: u64,
    subs: Vec<Model>,
}

/// The outcome of one operation: the answer's body, or its fault's text.
type Outcome = Result<wsman::Envelope<'static>, String>;

impl Run {
    fn new() -> Run {
        let mock = Mock::new(
            Scenario::default_scenario(),
            std::sync::Arc::new(Journal::default()),
        )
        .expect("the default scenario");
        let scenario = mock.scenario();
        Run {
            mock,
            scenario,
            req: Request {
                method: "POST".into(),
                path: "/wsman".into(),
                headers: Default::default(),
                body: bytes::Bytes::new(),
                peer: "127.0.0.1:1".parse().expect("address"),
                tls: false,
                user: Some("admin".into()),
            },
            now: 0,
            subs: Vec::new(),
        }
    }

    fn send(&self, action: &str, header: &str, body: &str) -> Outcome {
        let xml = envelope(action, header, body);
        let env = wsman::parse(&xml, &wsman::Limits::default()).expect("a well-formed request");
        let mut inner = self.mock.lock();
        let result = if action == ns::action::PULL {
            let id = inner
                .event_context(&env)
                .ok_or("no subscription has the context")?;
            inner
                .event_pull(&env, &id, self.now, true)
                .expect("a last try always answers")
        } else {
            inner.dispatch(&env, &self.req, &self.scenario, Charset::Utf8, self.now)
        };
        result.map_err(|f| format!("{:?}: {}", f.spec.kind, f.spec.reason))
    }

    fn raise(&mut self, n: u8) {
        let now = self.now;
        let seqs: Vec<u64> = self.mock.with_machine(|m, _| {
            (0..n)
                .map(|i| {
                    m.raise_event(
                        machine::events::EventKind::Custom {
                            class: "CIM_AlertIndication".into(),
                            properties: vec![("ElementName".into(), format!("alert {i}"))],
                        },
                        now,
                    )
                })
                .collect()
        });
        for s in self.subs.iter_mut().filter(|s| s.active(now)) {
            s.produced.extend(&seqs);
        }
    }

    fn subscribe(&mut self, ms: u64) {
        let body = format!(
            "<e:Subscribe><e:Delivery Mode=\"{}\"/><e:Expires>PT{}.{:03}S</e:Expires></e:Subscribe>",
            ev::PULL,
            ms / 1000,
            ms % 1000
        );
        let answer = self
            .send(ns::action::SUBSCRIBE, "", &body)
            .expect("Subscribe");
        let Body::SubscribeResponse(r) = &answer.body else {
            panic!("not a SubscribeResponse: {answer:?}");
        };
        let context = r
            .enumeration_context
            .as_deref()
            .expect("a Pull-mode subscription's context")
            .trim()
            .to_owned();
        let id = self
            .mock
            .lock()
            .subscriptions
            .by_context(&context)
            .expect("the subscription of the context")
            .to_owned();
        self.subs.push(Model {
            id,
            context,
            expires_at: Some(self.now + ms),
            produced: Vec::new(),
            delivered: Vec::new(),
            dropped: 0,
        });
    }

    fn pull(&mut self, i: usize, max: u32) {
        let body = format!(
            "<n:Pull><n:EnumerationContext>{}</n:EnumerationContext>\
             <n:MaxElements>{max}</n:MaxElements></n:Pull>",
            self.subs[i].context
        );
        let outcome = self.send(ns::action::PULL, "", &body);
        let s = &mut self.subs[i];
        if !s.active(self.now) {
            assert!(
                outcome.is_err(),
                "an ended subscription was pulled: {outcome:?}"
            );
            return;
        }
        let pending = s.produced.len().saturating_sub(s.delivered.len());
        match outcome {
            Ok(answer) => {
                let Body::PullResponse(p) = &answer.body else {
                    panic!("not a PullResponse: {answer:?}");
                };
                let got = seqs(&p.items);
                assert!(
                    got.len() <= max as usize,
                    "{} events for MaxElements {max}",
                    got.len()
                );
                assert!(
                    !got.is_empty() || pending == 0,
                    "a PullResponse without events"
                );
                s.delivered.extend(got);
                assert!(
                    s.produced.starts_with(&s.delivered),
                    "delivered {:?}, produced while active {:?}",
                    s.delivered,
                    s.produced
                );
                s.dropped += answer
                    .header
                    .other
                    .iter()
                    .find(|h| h.element.root().is(ns::WSMAN, "DroppedEvents"))
                    .map_or(0, |h| h.element.root().text().trim().parse().unwrap_or(0));
            }
            Err(fault) => assert_eq!(pending, 0, "{pending} events waiting, yet {fault}"),
        }
    }

    fn renew(&mut self, i: usize, ms: u64) {
        let body = format!(
            "<e:Renew><e:Expires>PT{}.{:03}S</e:Expires></e:Renew>",
            ms / 1000,
            ms % 1000
        );
        let outcome = self.send(ns::action::RENEW, &identifier(&self.subs[i].id), &body);
        let now = self.now;
        let s = &mut self.subs[i];
        if s.active(now) {
            outcome.expect("Renew of an active subscription");
            s.expires_at = Some(now + ms);
        } else {
            assert!(outcome.is_err(), "an ended subscription was renewed");
        }
    }

    fn unsubscribe(&mut self, i: usize) {
        let outcome = self.send(
            ns::action::UNSUBSCRIBE,
            &identifier(&self.subs[i].id),
            "<e:Unsubscribe/>",
        );
        let now = self.now;
        let s = &mut self.subs[i];
        if s.active(now) {
            outcome.expect("Unsubscribe of an active subscription");
        } else {
            assert!(outcome.is_err(), "an ended subscription was unsubscribed");
        }
        s.expires_at = None;
    }

    /// Checks every subscription: what was delivered is, in order, the start of what
    /// was produced while it was active (nothing twice, nothing from outside its life,
    /// nothing skipped); and a subscription still active gets the rest on its Pulls.
    fn check(&mut self) {
        for i in 0..self.subs.len() {
            if self.subs[i].active(self.now) {
                for _ in 0..=self.subs[i].produced.len() {
                    self.pull(i, 7);
                }
            }
            let s = &self.subs[i];
            assert_eq!(s.dropped, 0, "the log keeps far more than these runs raise");
            assert!(
                s.produced.starts_with(&s.delivered),
                "delivered {:?}, produced while active {:?}",
                s.delivered,
                s.produced
            );
            if s.active(self.now) {
                assert_eq!(
                    s.delivered, s.produced,
                    "an active subscription lost events"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_event_reaches_each_active_pull_subscription_exactly_once(
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut run = Run::new();
        for op in ops {
            let n = run.subs.len();
            match op {
                Op::Raise(k) => run.raise(k),
                Op::Subscribe(ms) => run.subscribe(ms),
                Op::Pull { sub, max } if n > 0 => run.pull(sub % n, max),
                Op::Renew { sub, ms } if n > 0 => run.renew(sub % n, ms),
                Op::Unsubscribe { sub } if n > 0 => run.unsubscribe(sub % n),
                Op::Advance(ms) => run.now += ms,
                _ => {}
            }
        }
        run.check();
    }
}
