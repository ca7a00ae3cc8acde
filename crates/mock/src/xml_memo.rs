//! Instances written before, with their XML: the memo that spares rewriting an
//! instance that has not changed since the last answer (see [`XmlMemo`]).

use std::sync::Arc;

use machine::cim::Instance;
use wsman::body::{Body, Item};

use crate::cimxml::{ItemShape, UriStyle, instance_body, item};

/// Instances written before, with their text: an instance equal to the one last
/// written in the same place (same class, same position in an enumeration or a Get,
/// same URI style, same shape) gets that text again without being written again.
///
/// Most of what a WS-Man client asks for does not change between two requests (a
/// sensor's reading is quantised to its raw byte, names and capabilities never change),
/// and comparing an instance with the one kept costs a tenth of writing it. Equality of
/// the whole instance decides, so an answer is byte for byte what writing it now would
/// give: the memo can make an answer faster, never different.
#[derive(Debug, Default)]
pub struct XmlMemo {
    written: std::collections::HashMap<(u8, u64, usize), Written, Fnv>,
    /// The body [`XmlMemo::instance_body`] gave last: a client polling one instance
    /// (the commonest Get) is answered by a pointer comparison, without hashing the
    /// instance's keys and class to find it in `written`.
    last_body: Option<Written>,
}

#[derive(Debug)]
struct Written {
    inst: Arc<Instance>,
    style: UriStyle,
    text: Arc<str>,
}

/// FNV-1a: the memo's keys are class names and small numbers the scenario decides,
/// not input a client controls, and SipHash cost more than the rest of a memo hit.
type Fnv = std::hash::BuildHasherDefault<FnvHasher>;

#[derive(Debug)]
struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// A number in one step, not byte by byte (the memo's keys end with two).
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// How many instances the memo keeps before it starts afresh: far more than any
/// scenario serves, so only a pathological one pays for the clearing.
const MEMO_CAPACITY: usize = 4096;

impl XmlMemo {
    /// [`item`], from the memo when `inst` is the instance written last at `slot`: the
    /// same `Arc` (a shared instance handed out again, not compared), or an equal one.
    pub fn item(
        &mut self,
        slot: usize,
        inst: &Arc<Instance>,
        style: &UriStyle,
        shape: ItemShape,
    ) -> Item<'static> {
        let kind = match shape {
            ItemShape::Object => 0,
            ItemShape::Epr => 1,
            ItemShape::ObjectAndEpr => 2,
        };
        let text = self.text(kind, slot, inst, Some(inst), style, |inst, style| {
            match item(inst, style, shape) {
                Item::Xml(text) => text,
                // `item` only ever writes text.
                _ => Arc::from(""),
            }
        });
        Item::Xml(text)
    }

    /// [`instance_body`], from the memo when `inst` is the instance with its keys last
    /// written as a body: the same `Arc` (a shared instance handed out again, not
    /// compared), or an equal one.
    pub fn instance_body(&mut self, inst: &Arc<Instance>, style: &UriStyle) -> Body<'static> {
        use std::hash::BuildHasher as _;
        if let Some(w) = &self.last_body
            && Arc::ptr_eq(&w.inst, inst)
            && w.style == *style
        {
            return Body::Xml(w.text.clone());
        }
        // Distinct instances of a class are told apart by their keys (a collision only
        // costs a write).
        let keys = Fnv::default().hash_one(&inst.keys);
        let slot = keys as usize;
        let text = self.text(3, slot, inst, Some(inst), style, |inst, style| {
            match instance_body(inst, style) {
                Body::Xml(text) => text,
                // `instance_body` only ever writes text.
                _ => Arc::from(""),
            }
        });
        self.last_body = Some(Written {
            inst: Arc::clone(inst),
            style: style.clone(),
            text: text.clone(),
        });
        Body::Xml(text)
    }

    fn text(
        &mut self,
        kind: u8,
        slot: usize,
        inst: &Instance,
        shared: Option<&Arc<Instance>>,
        style: &UriStyle,
        write: impl FnOnce(&Instance, &UriStyle) -> Arc<str>,
    ) -> Arc<str> {
        use std::hash::BuildHasher as _;
        let class = Fnv::default().hash_one(inst.class.as_str());
        let key = (kind, class, slot);
        if let Some(w) = self.written.get(&key)
            && w.style == *style
            && (shared.is_some_and(|a| Arc::ptr_eq(a, &w.inst)) || *w.inst == *inst)
        {
            return w.text.clone();
        }
        let text = write(inst, style);
        if self.written.len() >= MEMO_CAPACITY {
            self.written.clear();
        }
        self.written.insert(
            key,
            Written {
                inst: shared.map_or_else(|| Arc::new(inst.clone()), Arc::clone),
                style: style.clone(),
                text: text.clone(),
            },
        );
        text
    }

    /// Forgets everything (a new scenario).
    pub fn clear(&mut self) {
        self.written.clear();
        self.last_body = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cimxml::tests::{every_value, instance, text};
    use machine::cim::Value;

    fn body_text(body: Body<'static>) -> String {
        match body {
            Body::Xml(x) => x.to_string(),
            other => panic!("not written once: {other:?}"),
        }
    }

    /// The memo answers what writing would: for the instance it kept, and after any
    /// change to the instance (a value, a property name, the class, a key), the URI
    /// style or the shape, whatever the slot holds.
    #[test]
    fn the_memo_answers_what_writing_now_would() {
        let mut memo = XmlMemo::default();
        let base = instance("CIM_NumericSensor", every_value());
        let mut changed_value = base.clone();
        changed_value.properties[3].value = Value::Int(-43);
        let mut renamed = base.clone();
        renamed.properties[0].name = "Other".into();
        let mut other_class = base.clone();
        other_class.class = "CIM_Sensor".into();
        let mut other_key = base.clone();
        other_key.keys[0].1 = "d2".into();
        let nan = instance("CIM_NumericSensor", vec![("R", Value::Real(f64::NAN))]);
        let styles = [UriStyle::dmtf(), UriStyle::wmi("root/cimv2")];
        let shapes = [ItemShape::Object, ItemShape::Epr, ItemShape::ObjectAndEpr];
        // Every order of asking, each twice, so that hits and misses both happen.
        for _round in 0..2 {
            for inst in [
                &base,
                &changed_value,
                &base,
                &renamed,
                &other_class,
                &other_key,
                &nan,
            ] {
                for style in &styles {
                    for shape in shapes {
                        for slot in [0, 1] {
                            assert_eq!(
                                text(memo.item(slot, &Arc::new((*inst).clone()), style, shape)),
                                text(item(inst, style, shape)),
                                "{} {shape:?} {style:?}",
                                inst.class
                            );
                        }
                    }
                    assert_eq!(
                        body_text(memo.instance_body(&Arc::new((*inst).clone()), style)),
                        body_text(instance_body(inst, style)),
                    );
                }
            }
        }
        // It keeps what it wrote: an unchanged instance is not written again, a changed
        // one is, and a cleared memo writes everything again.
        let mut memo = XmlMemo::default();
        let style = UriStyle::dmtf();
        let ask = |memo: &mut XmlMemo, inst: &Instance, n: &str| {
            memo.text(0, 0, inst, None, &style, |_, _| Arc::from(n))
                .to_string()
        };
        // (Not `base`: its NaN equals nothing, so it is written every time.)
        let plain = instance("CIM_NumericSensor", vec![("A", Value::UInt(1))]);
        let mut changed = plain.clone();
        changed.properties[0].value = Value::UInt(2);
        assert_eq!(ask(&mut memo, &plain, "first"), "first");
        assert_eq!(ask(&mut memo, &plain, "second"), "first");
        assert_eq!(ask(&mut memo, &changed, "third"), "third");
        assert_eq!(ask(&mut memo, &base, "fourth"), "fourth");
        assert_eq!(ask(&mut memo, &base, "fifth"), "fifth");
        assert_eq!(memo.written.len(), 1);
        assert_eq!(ask(&mut memo, &changed, "sixth"), "sixth");
        assert_eq!(ask(&mut memo, &changed, "seventh"), "sixth");
        memo.clear();
        assert_eq!(ask(&mut memo, &changed, "eighth"), "eighth");
    }

    /// A shared instance handed out again is the kept one without a comparison; an
    /// equal copy is found by comparing; another URI style is written again.
    #[test]
    fn the_same_shared_instance_is_known_by_its_pointer() {
        let mut memo = XmlMemo::default();
        let dmtf = UriStyle::dmtf();
        // NaN equals nothing, so only the pointer can make the first hit.
        let nan = Arc::new(instance(
            "CIM_NumericSensor",
            vec![("R", Value::Real(f64::NAN))],
        ));
        let mut ask = |a: &Arc<Instance>, style: &UriStyle, n: &str| {
            memo.text(0, 0, a, Some(a), style, |_, _| Arc::from(n))
                .to_string()
        };
        assert_eq!(ask(&nan, &dmtf, "first"), "first");
        assert_eq!(ask(&nan, &dmtf, "second"), "first");
        let copy = Arc::new((*nan).clone());
        assert_eq!(
            ask(&copy, &dmtf, "third"),
            "third",
            "a NaN copy is not equal"
        );
        let plain = Arc::new(instance("CIM_NumericSensor", vec![("A", Value::UInt(1))]));
        assert_eq!(ask(&plain, &dmtf, "fourth"), "fourth");
        let equal = Arc::new((*plain).clone());
        assert_eq!(
            ask(&equal, &dmtf, "fifth"),
            "fourth",
            "an equal copy is a hit"
        );
        let wmi = UriStyle::wmi("root/cimv2");
        assert_eq!(
            ask(&equal, &wmi, "sixth"),
            "sixth",
            "another style is written"
        );
    }

    /// The memo's keys spread over the hash: a thousand slots of one class hash apart,
    /// as do the same slot's kinds (a hash that lost the numbers would still find
    /// every entry, in one long chain).
    #[test]
    fn memo_keys_hash_apart() {
        use std::hash::BuildHasher as _;
        let class = Fnv::default().hash_one("CIM_NumericSensor");
        let mut seen = std::collections::HashSet::new();
        for kind in 0..4u8 {
            for slot in 0..1000usize {
                assert!(
                    seen.insert(Fnv::default().hash_one((kind, class, slot))),
                    "kind {kind} slot {slot} hashes as another key"
                );
            }
        }
    }

    /// A Get of the instance the last one wrote is answered with the same text, found
    /// by its pointer alone (the map lookup is not needed for it); another instance,
    /// another style or a cleared memo is looked up or written again.
    #[test]
    fn the_body_given_last_is_given_again_for_the_same_instance() {
        let mut memo = XmlMemo::default();
        let dmtf = UriStyle::dmtf();
        let wmi = UriStyle::wmi("root/cimv2");
        // NaN equals nothing, so only a pointer can make a hit.
        let nan = Arc::new(instance(
            "CIM_NumericSensor",
            vec![("R", Value::Real(f64::NAN))],
        ));
        let xml = |body: Body<'static>| match body {
            Body::Xml(x) => x,
            other => panic!("not written once: {other:?}"),
        };
        let first = xml(memo.instance_body(&nan, &dmtf));
        assert_eq!(first, xml(instance_body(&nan, &dmtf)));
        // Not through the map: it is emptied, and the same text comes back.
        memo.written.clear();
        let again = xml(memo.instance_body(&nan, &dmtf));
        assert!(Arc::ptr_eq(&first, &again), "the last body, given again");
        let other_style = xml(memo.instance_body(&nan, &wmi));
        assert!(!Arc::ptr_eq(&first, &other_style));
        assert_eq!(other_style, xml(instance_body(&nan, &wmi)));
        let copy = Arc::new((*nan).clone());
        let copied = xml(memo.instance_body(&copy, &wmi));
        assert!(!Arc::ptr_eq(&other_style, &copied), "another instance");
        memo.clear();
        let after_clear = xml(memo.instance_body(&copy, &wmi));
        assert!(
            !Arc::ptr_eq(&copied, &after_clear),
            "a cleared memo writes again"
        );
        assert_eq!(after_clear, xml(instance_body(&copy, &wmi)));
    }

    /// Slots are kept side by side up to the capacity; past it the memo starts afresh
    /// rather than growing.
    #[test]
    fn the_memo_keeps_many_slots_and_no_more_than_its_capacity() {
        let mut memo = XmlMemo::default();
        let style = UriStyle::dmtf();
        let plain = instance("CIM_NumericSensor", vec![("A", Value::UInt(1))]);
        let mut ask = |slot: usize, n: &str| {
            memo.text(0, slot, &plain, None, &style, |_, _| Arc::from(n))
                .to_string()
        };
        assert_eq!(ask(0, "a"), "a");
        assert_eq!(ask(1, "b"), "b");
        assert_eq!(ask(0, "c"), "a", "slot 0 is kept beside slot 1");
        assert_eq!(ask(1, "d"), "b");
        for slot in 2..=MEMO_CAPACITY {
            ask(slot, "x");
        }
        assert!(
            memo.written.len() <= MEMO_CAPACITY,
            "{}",
            memo.written.len()
        );
        assert!(!memo.written.is_empty());
    }
}
