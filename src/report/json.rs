//! `report.json`: the report model as pretty-printed JSON (schema in `docs/report-schema.md`).

use super::Report;

pub fn render(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(report).expect("the report model always serialises");
    bytes.push(b'\n');
    bytes
}
