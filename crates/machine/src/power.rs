//! Chassis power: a timeline of power states with transition delays.
//!
//! An accepted action appends the states it goes through, each with its start time
//! (`PoweringOff` at `now`, `Off` at `now + power_off_delay_ms`, ...); the state at a
//! time is the last one that has started. Nothing is pending in the background: the
//! transition "completes" because a later `now` falls past its delay.
//!
//! Rules (as real BMCs behave; refusals are [`crate::MachineError::PowerActionRefused`],
//! which IPMI answers with completion code 0xD5 "not supported in present state"):
//! - `On`: from `Off` starts powering on; when `On` or already `PoweringOn` it is
//!   accepted and does nothing; refused while `PoweringOff`.
//! - `Off` (hard): from `On` or `PoweringOn` powers off after `power_off_delay_ms`,
//!   cancelling any pending transition (it also cuts short a soft off or a cycle); when
//!   `Off` or a hard off is already pending it does nothing.
//! - `SoftOff` (ACPI shutdown): from `On` powers off after `soft_off_delay_ms`; when
//!   `Off` or `PoweringOff` it does nothing; refused while `PoweringOn`.
//! - `Cycle`: from `On`: off (`power_off_delay_ms`), stays off `cycle_delay_ms`, then on
//!   (`power_on_delay_ms`). Refused when off or in transition, as IPMI BMCs refuse a
//!   power cycle of a machine that is off.
//! - `HardReset`: from `On`: `PoweringOn` for `reset_delay_ms`, then `On`. Refused
//!   otherwise.
//! - `DiagnosticInterrupt` (NMI): accepted only when `On`; no state change.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// The power state of the chassis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Powered and running.
    On,
    /// Powered off.
    Off,
    /// Powering on (or resetting); IPMI still reports power off until it completes.
    PoweringOn,
    /// Shutting down; IPMI still reports power on until it completes.
    PoweringOff,
}

impl PowerState {
    /// Whether IPMI Get Chassis Status reports "system power is on": `On` and
    /// `PoweringOff` (power is still applied while shutting down).
    pub fn is_on(self) -> bool {
        matches!(self, PowerState::On | PowerState::PoweringOff)
    }

    /// The CIM `EnabledState`: 2 Enabled (on), 3 Disabled (off), 4 Shutting Down, 10
    /// Starting.
    pub fn cim_enabled_state(self) -> u16 {
        match self {
            PowerState::On => 2,
            PowerState::Off => 3,
            PowerState::PoweringOff => 4,
            PowerState::PoweringOn => 10,
        }
    }
}

/// A chassis control action (IPMI Chassis Control data byte in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerAction {
    /// Power up (1).
    On,
    /// Power down, hard (0).
    Off,
    /// Power cycle (2).
    Cycle,
    /// Hard reset (3).
    HardReset,
    /// Pulse diagnostic interrupt, NMI (4).
    DiagnosticInterrupt,
    /// Soft shutdown via ACPI (5).
    SoftOff,
}

impl PowerAction {
    /// The action for an IPMI Chassis Control code.
    pub fn from_ipmi(code: u8) -> Option<PowerAction> {
        Some(match code & 0x0F {
            0 => PowerAction::Off,
            1 => PowerAction::On,
            2 => PowerAction::Cycle,
            3 => PowerAction::HardReset,
            4 => PowerAction::DiagnosticInterrupt,
            5 => PowerAction::SoftOff,
            _ => return None,
        })
    }
}

/// The initial power state in the spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialPower {
    /// Powered on.
    #[default]
    On,
    /// Powered off.
    Off,
}

/// `[machine.power]`: the initial state and the transition delays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerSpec {
    /// The state at start.
    pub initial: InitialPower,
    /// Time from a power-on request to `On`.
    pub power_on_delay_ms: u64,
    /// Time from a hard power-off request to `Off`.
    pub power_off_delay_ms: u64,
    /// Time from a soft-off (ACPI shutdown) request to `Off`.
    pub soft_off_delay_ms: u64,
    /// How long a power cycle stays off.
    pub cycle_delay_ms: u64,
    /// How long a hard reset takes.
    pub reset_delay_ms: u64,
}

impl Default for PowerSpec {
    fn default() -> Self {
        PowerSpec {
            initial: InitialPower::On,
            power_on_delay_ms: 0,
            power_off_delay_ms: 0,
            soft_off_delay_ms: 2000,
            cycle_delay_ms: 1000,
            reset_delay_ms: 0,
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused(pub PowerState);

/// The power timeline.
#[derive(Debug, Clone)]
pub(crate) struct Power {
    spec: PowerSpec,
    /// (start, state), starts non-decreasing; the first segment is always in effect.
    segments: Vec<(Millis, PowerState)>,
    /// The action whose transition is scheduled, while segments lie in the future.
    pending: Option<PowerAction>,
    /// Powered time accumulated over segments pruned from the timeline.
    on_ms_before: u64,
}

impl Power {
    pub(crate) fn new(spec: PowerSpec, now: Millis) -> Power {
        let s = match spec.initial {
            InitialPower::On => PowerState::On,
            InitialPower::Off => PowerState::Off,
        };
        Power {
            spec,
            segments: vec![(now, s)],
            pending: None,
            on_ms_before: 0,
        }
    }

    fn index_at(&self, now: Millis) -> usize {
        self.segments
            .iter()
            .rposition(|(start, _)| *start <= now)
            .unwrap_or(0)
    }

    pub(crate) fn state(&self, now: Millis) -> PowerState {
        self.segments
            .get(self.index_at(now))
            .map_or(PowerState::Off, |s| s.1)
    }

    /// When the state in effect at `now` began.
    pub(crate) fn since(&self, now: Millis) -> Millis {
        self.segments.get(self.index_at(now)).map_or(0, |s| s.0)
    }

    fn in_transition(&self, now: Millis) -> bool {
        self.segments.iter().any(|(start, _)| *start > now)
    }

    /// Folds segments that ended before `now` into the powered-time counter.
    fn settle(&mut self, now: Millis) {
        let i = self.index_at(now);
        for w in self.segments[..=i].windows(2) {
            if w[0].1.is_on() {
                self.on_ms_before += w[1].0.saturating_sub(w[0].0);
            }
        }
        self.segments.drain(..i);
        if !self.in_transition(now) {
            self.pending = None;
        }
    }

    /// Milliseconds the machine has been powered (IPMI's view, [`PowerState::is_on`]).
    pub(crate) fn on_ms(&self, now: Millis) -> u64 {
        let mut total = self.on_ms_before;
        for (i, (start, state)) in self.segments.iter().enumerate() {
            if *start > now {
                break;
            }
            let end = self.segments.get(i + 1).map_or(now, |n| n.0.min(now));
            if state.is_on() {
                total += end.saturating_sub(*start);
            }
        }
        total
    }

    fn schedule(&mut self, now: Millis, action: PowerAction, steps: &[(PowerState, u64)]) {
        self.segments.retain(|(start, _)| *start <= now);
        let mut t = now;
        for (i, (state, dur)) in steps.iter().enumerate() {
            if *dur > 0 || i + 1 == steps.len() {
                self.segments.push((t, *state));
            }
            t = t.saturating_add(*dur);
        }
        self.pending = Some(action);
    }

    /// Applies an action. `Ok(true)`: accepted and the machine changes state (or gets an
    /// NMI); `Ok(false)`: accepted, nothing to do.
    pub(crate) fn control(&mut self, action: PowerAction, now: Millis) -> Result<bool, Refused> {
        self.settle(now);
        let cur = self.state(now);
        let sp = self.spec.clone();
        use PowerState::*;
        match action {
            PowerAction::On => match cur {
                On | PoweringOn => Ok(false),
                PoweringOff => Err(Refused(cur)),
                Off => {
                    self.schedule(now, action, &[(PoweringOn, sp.power_on_delay_ms), (On, 0)]);
                    Ok(true)
                }
            },
            PowerAction::Off => {
                if cur == Off {
                    self.segments.retain(|(start, _)| *start <= now);
                    let was_pending = self.pending.take().is_some();
                    Ok(was_pending)
                } else if self.pending == Some(PowerAction::Off) {
                    Ok(false)
                } else {
                    self.schedule(
                        now,
                        action,
                        &[(PoweringOff, sp.power_off_delay_ms), (Off, 0)],
                    );
                    Ok(true)
                }
            }
            PowerAction::SoftOff => match cur {
                Off | PoweringOff => Ok(false),
                PoweringOn => Err(Refused(cur)),
                On => {
                    self.schedule(
                        now,
                        action,
                        &[(PoweringOff, sp.soft_off_delay_ms), (Off, 0)],
                    );
                    Ok(true)
                }
            },
            PowerAction::Cycle => match cur {
                On if !self.in_transition(now) => {
                    self.schedule(
                        now,
                        action,
                        &[
                            (PoweringOff, sp.power_off_delay_ms),
                            (Off, sp.cycle_delay_ms),
                            (PoweringOn, sp.power_on_delay_ms),
                            (On, 0),
                        ],
                    );
                    Ok(true)
                }
                _ => Err(Refused(cur)),
            },
            PowerAction::HardReset => match cur {
                On if !self.in_transition(now) => {
                    self.schedule(now, action, &[(PoweringOn, sp.reset_delay_ms), (On, 0)]);
                    Ok(true)
                }
                _ => Err(Refused(cur)),
            },
            PowerAction::DiagnosticInterrupt => match cur {
                On => Ok(true),
                _ => Err(Refused(cur)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PowerSpec {
        PowerSpec {
            initial: InitialPower::Off,
            power_on_delay_ms: 100,
            power_off_delay_ms: 50,
            soft_off_delay_ms: 1000,
            cycle_delay_ms: 200,
            reset_delay_ms: 10,
        }
    }

    #[test]
    fn cycle_timeline_and_on_time() {
        let mut p = Power::new(spec(), 0);
        assert_eq!(p.control(PowerAction::On, 0), Ok(true));
        assert_eq!(p.state(99), PowerState::PoweringOn);
        assert_eq!(p.state(100), PowerState::On);
        assert_eq!(p.control(PowerAction::Cycle, 1000), Ok(true));
        assert_eq!(p.state(1049), PowerState::PoweringOff);
        assert_eq!(p.state(1050), PowerState::Off);
        assert_eq!(p.state(1249), PowerState::Off);
        assert_eq!(p.state(1250), PowerState::PoweringOn);
        assert_eq!(p.state(1350), PowerState::On);
        // On from 100 to 1050 (PoweringOff counts as powered), then from 1350.
        assert_eq!(p.on_ms(2000), 950 + 650);
        assert_eq!(
            p.control(PowerAction::Cycle, 1100),
            Err(Refused(PowerState::Off))
        );
    }
}
