//! Instances shared between requests: [`enumerate_shared`] hands out the same
//! `Arc<Instance>` for a numeric sensor while nothing its instance is built from has
//! changed, so a caller that keeps what it made of an instance (the mock's XML memo)
//! can tell it is unchanged by pointer, and nothing is built or compared again.
//!
//! A numeric sensor's instance is built from its spec and the machine's identity,
//! which never change, and from four things that do: the sensor's raw reading, its
//! threshold status, its thresholds and its name. [`Inputs`] holds those four as they
//! were when the kept instance was built. Debug builds (every test) build the instance
//! again on each hit and check it equals the kept one, so an input added to
//! `numeric_instance` and forgotten here fails the first test that changes it.

use std::sync::Arc;

use super::{
    CimError, Device, Instance, Obj, SystemState, instance, is_known, numeric_instance, objects,
    resolve, system_instance, system_state,
};
use crate::sensor::{ThresholdStatus, Thresholds};
use crate::{Machine, Millis};

/// What a numeric sensor's instance is built from that can change.
#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    raw: u8,
    status: ThresholdStatus,
    thresholds: Thresholds,
    name: String,
}

/// What the computer system's instance is built from that can change (see
/// [`super::system_instance`]; the machine's identity is fixed when it is made).
#[derive(Debug, Clone, PartialEq)]
struct SystemInputs {
    state: SystemState,
    element_name: String,
}

/// The kept instance of each numeric sensor, by index, and of the computer system,
/// with their inputs.
#[derive(Debug, Default)]
pub(crate) struct SharedInstances {
    numeric: Vec<Option<(Inputs, Arc<Instance>)>>,
    system: Option<(SystemInputs, Arc<Instance>)>,
}

/// [`super::get`], behind an `Arc`: a numeric sensor's or the computer system's
/// instance is the one handed out before while its inputs are unchanged.
pub fn get_shared(
    m: &mut Machine,
    class: &str,
    selectors: &[(String, String)],
    now: Millis,
) -> Result<Arc<Instance>, CimError> {
    shared_of(m, class, selectors, now)
}

/// [`get_shared`] with the selectors borrowed (as a request holds them): nothing
/// copied to find the instance.
pub fn get_shared_borrowed(
    m: &mut Machine,
    class: &str,
    selectors: &[(&str, &str)],
    now: Millis,
) -> Result<Arc<Instance>, CimError> {
    shared_of(m, class, selectors, now)
}

fn shared_of<K: AsRef<str>, V: AsRef<str>>(
    m: &mut Machine,
    class: &str,
    selectors: &[(K, V)],
    now: Millis,
) -> Result<Arc<Instance>, CimError> {
    Ok(match resolve(m, class, selectors)? {
        Obj::Device(Device::Numeric(i)) => numeric_shared(m, i, now),
        Obj::System => system_shared(m, now),
        other => Arc::new(instance(m, other, now)),
    })
}

fn system_shared(m: &mut Machine, now: Millis) -> Arc<Instance> {
    let state = system_state(m, now);
    if let Some((kept, inst)) = &m.cim_shared.system
        && kept.state == state
        && kept.element_name == m.system_element_name
    {
        debug_assert_eq!(
            **inst,
            system_instance(m, state),
            "a kept computer system instance differs from one built now: an input of \
             system_instance is missing from cim::shared::SystemInputs"
        );
        return Arc::clone(inst);
    }
    let inst = Arc::new(system_instance(m, state));
    m.cim_shared.system = Some((
        SystemInputs {
            state,
            element_name: m.system_element_name.clone(),
        },
        Arc::clone(&inst),
    ));
    inst
}

/// [`super::enumerate`], with each instance behind an `Arc`: a numeric sensor's is the
/// one handed out before while its inputs are unchanged (the others are built anew).
/// The instances are the same as [`super::enumerate`]'s, in the same order, and reading
/// sensors observes them in the same way.
pub fn enumerate_shared(
    m: &mut Machine,
    class: &str,
    now: Millis,
    polymorphic: bool,
) -> Result<Vec<Arc<Instance>>, CimError> {
    if !is_known(m, class) {
        return Err(CimError::UnknownClass {
            class: class.into(),
        });
    }
    let objs = objects(m, class, polymorphic);
    Ok(objs
        .into_iter()
        .map(|o| match o {
            Obj::Device(Device::Numeric(i)) => numeric_shared(m, i, now),
            other => Arc::new(instance(m, other, now)),
        })
        .collect())
}

fn numeric_shared(m: &mut Machine, i: usize, now: Millis) -> Arc<Instance> {
    let d = Device::Numeric(i);
    if m.observe_numeric(i, now).is_none() {
        return Arc::new(instance(m, Obj::Device(d), now));
    }
    let sn = &m.numeric_sensors()[i];
    let same = |kept: &Inputs| {
        kept.raw == sn.last_raw()
            && kept.status == sn.last_status()
            && kept.thresholds == *sn.thresholds()
            && kept.name == sn.name()
    };
    if let Some(Some((kept, inst))) = m.cim_shared.numeric.get(i)
        && same(kept)
    {
        debug_assert_eq!(
            **inst,
            numeric_instance(m, d, sn),
            "a kept instance of sensor {} differs from one built now: an input of \
             numeric_instance is missing from cim::shared::Inputs",
            sn.id()
        );
        return Arc::clone(inst);
    }
    let inputs = Inputs {
        raw: sn.last_raw(),
        status: sn.last_status(),
        thresholds: *sn.thresholds(),
        name: sn.name().to_owned(),
    };
    let inst = Arc::new(numeric_instance(m, d, sn));
    let kept = &mut m.cim_shared.numeric;
    if kept.len() <= i {
        kept.resize_with(i + 1, || None);
    }
    kept[i] = Some((inputs, Arc::clone(&inst)));
    inst
}
