//! The PNG files a report's search probes show people, decoded from the report (the image
//! modality encodes them: [`crate::modality::image::png`]).

use base64::Engine as _;

/// The files a report's search probes show people, as `(file name, PNG bytes)` in report
/// order: per search probe the recovered mask and pattern, then each example before and after.
/// Text searches have no images: their evidence is the ranked token table in the report.
pub fn search_evidence(report: &super::Report) -> Result<Vec<(String, Vec<u8>)>, base64::DecodeError> {
    let mut files = Vec::new();
    for probe in &report.probes {
        let Some(search) = &probe.search else { continue };
        let mut named: Vec<(String, &str)> = vec![
            (format!("{}-mask.png", probe.id), &search.mask_png),
            (format!("{}-pattern.png", probe.id), &search.pattern_png),
        ];
        for (k, example) in probe.examples.iter().enumerate() {
            named.push((format!("{}-example{k}-before.png", probe.id), &example.clean_png));
            named.push((format!("{}-example{k}-after.png", probe.id), &example.probed_png));
        }
        for (name, data) in named.into_iter().filter(|(_, data)| !data.is_empty()) {
            files.push((name, base64::engine::general_purpose::STANDARD.decode(data)?));
        }
    }
    Ok(files)
}
