//! `attestation.intoto.json`: an in-toto Statement v1 about the scanned model (built in
//! [`crate::attest`]), ready to be signed with existing tools.

use super::Report;
use crate::attest::Statement;

pub fn render(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&Statement::for_report(report)).expect("the statement always serialises");
    bytes.push(b'\n');
    bytes
}
