//! A refused method parameter says why as a typed `ParameterProblem` (the WS-Man layer
//! maps it to a fault detail by variant), and its text is unchanged.

use machine::cim::{self, CimError, ParameterProblem};
use machine::{Machine, MachineSpec};

fn request_state_change(params: &[(&str, &str)]) -> CimError {
    let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    cim::invoke(
        &mut m,
        "CIM_ComputerSystem",
        &[],
        "RequestStateChange",
        &params,
        0,
    )
    .unwrap_err()
}

#[test]
fn missing_wrong_type_and_unknown_parameters_are_told_apart() {
    let e = request_state_change(&[]);
    assert_eq!(
        e,
        CimError::InvalidParameter {
            name: "RequestedState".into(),
            reason: ParameterProblem::Missing,
        }
    );
    assert_eq!(e.to_string(), "parameter RequestedState: is missing");

    let e = request_state_change(&[("RequestedState", "on")]);
    assert_eq!(
        e,
        CimError::InvalidParameter {
            name: "RequestedState".into(),
            reason: ParameterProblem::WrongType {
                value: "on".into(),
                expected: "uint16",
            },
        }
    );
    assert_eq!(
        e.to_string(),
        "parameter RequestedState: \"on\" is not a uint16"
    );

    let e = request_state_change(&[("RequestedState", "2"), ("Colour", "red")]);
    assert_eq!(
        e,
        CimError::InvalidParameter {
            name: "Colour".into(),
            reason: ParameterProblem::Unknown,
        }
    );
    assert_eq!(
        e.to_string(),
        "parameter Colour: the method has no such parameter"
    );
}
