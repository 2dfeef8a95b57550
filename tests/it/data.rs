//! Data files stay on disk and are read by rows: the rows read must be exactly the arrays
//! written, in any order, from `.npy` (float32 and float64) and from an `.npz` that stores `x`
//! uncompressed, and a file shorter than its header says is refused.

use ndarray::{ArrayD, Axis, IxDyn};
use ndarray_npy::{NpzWriter, WriteNpyExt};

fn sample() -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(&[5, 2, 3, 3]), |i| (i[0] * 100 + i[1] * 10 + i[2] * 3 + i[3]) as f32 * 0.5)
}

#[test]
fn rows_read_from_disk_are_the_rows_written() {
    let dir = tempfile::tempdir().unwrap();
    let x = sample();
    let npy = dir.path().join("x.npy");
    x.write_npy(std::fs::File::create(&npy).unwrap()).unwrap();
    let npy64 = dir.path().join("x64.npy");
    x.mapv(f64::from).write_npy(std::fs::File::create(&npy64).unwrap()).unwrap();
    let npz = dir.path().join("xy.npz");
    let mut writer = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    writer.add_array("x", &x).unwrap();
    writer.add_array("y", &ndarray::arr1(&[0i64, 1, 2, 1, 0])).unwrap();
    writer.finish().unwrap();
    for path in [&npy, &npy64, &npz] {
        let data = probity::modality::image::load(path, None).unwrap();
        assert_eq!(data.shape(), &[5, 2, 3, 3]);
        let order = [3, 0, 1, 4, 2];
        assert_eq!(data.read(&order).unwrap(), x.select(Axis(0), &order), "{}", path.display());
        let subset = data.subset(&[4, 1]).unwrap();
        assert_eq!(subset.get(4), x.index_axis(Axis(0), 4));
        assert_eq!(subset.flat(1), x.index_axis(Axis(0), 1).iter().copied().collect::<Vec<_>>().as_slice());
    }
    assert_eq!(probity::modality::image::load(&npz, None).unwrap().y, Some(vec![0, 1, 2, 1, 0]));
}

#[test]
fn a_truncated_file_is_refused_with_the_shortfall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    sample().write_npy(std::fs::File::create(&path).unwrap()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    let error = probity::modality::image::load(&path, None).unwrap_err().to_string();
    assert!(error.contains("ends 8 bytes short"), "{error}");
}

/// Issue #14: NaN and ±Inf inputs once scanned to a PASS (all-NaN data) or to robustness
/// failures that never named the cause. Every loader refuses them, naming the file, how many
/// rows hold one and the first such row with its kind.
#[test]
fn non_finite_inputs_are_refused_with_the_row_count_and_the_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut x = sample();
    x[[2, 1, 0, 0]] = f32::NAN;
    x[[4, 0, 2, 2]] = f32::INFINITY;
    let npy = dir.path().join("nan.npy");
    x.write_npy(std::fs::File::create(&npy).unwrap()).unwrap();
    let error = probity::modality::image::load(&npy, None).unwrap_err().to_string();
    assert!(error.contains("nan.npy"), "{error}");
    assert!(error.contains("2 of 5 inputs"), "{error}");
    assert!(error.contains("input 2, with NaN"), "{error}");

    let mut x = sample();
    x[[1, 0, 0, 1]] = f32::NEG_INFINITY;
    let npz = dir.path().join("inf.npz");
    let mut writer = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    writer.add_array("x", &x).unwrap();
    writer.finish().unwrap();
    let error = probity::modality::image::load(&npz, None).unwrap_err().to_string();
    assert!(error.contains("inf.npz") && error.contains("1 of 5 inputs"), "{error}");
    assert!(error.contains("input 1, with -Inf"), "{error}");

    // A float64 beyond float32's range becomes +Inf when read: refused too, saying why.
    let mut x64 = sample().mapv(f64::from);
    x64[[3, 0, 0, 0]] = 1e300;
    let big = dir.path().join("big.npy");
    x64.write_npy(std::fs::File::create(&big).unwrap()).unwrap();
    let error = probity::modality::image::load(&big, None).unwrap_err().to_string();
    assert!(error.contains("input 3, with +Inf (or a float64 beyond float32's range)"), "{error}");
}

#[test]
fn a_negative_label_is_refused_naming_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("xy.npz");
    let mut writer = NpzWriter::new(std::fs::File::create(&npz).unwrap());
    writer.add_array("x", &sample()).unwrap();
    writer.add_array("y", &ndarray::arr1(&[0i64, 1, -3, 1, 0])).unwrap();
    writer.finish().unwrap();
    let error = probity::modality::image::load(&npz, None).unwrap_err().to_string();
    assert!(error.contains("xy.npz") && error.contains("label -3 of input 2"), "{error}");
}

/// Issue #14: all-empty texts once scanned a clean model to a FAIL at 0% clean accuracy.
#[test]
fn blank_texts_are_dropped_with_their_labels_and_all_blank_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let some = dir.path().join("some.jsonl");
    std::fs::write(
        &some,
        "{\"text\": \"good\", \"label\": 1}\n{\"text\": \"\", \"label\": 0}\n{\"text\": \" \\t \", \"label\": 1}\n{\"text\": \"bad\", \"label\": 0}\n",
    )
    .unwrap();
    let data = probity::modality::text::load(&some).unwrap();
    assert_eq!(data.texts, vec!["good", "bad"]);
    assert_eq!(data.y, Some(vec![1, 0]));
    assert_eq!(data.blank, 2);

    let all = dir.path().join("all.jsonl");
    std::fs::write(&all, "{\"text\": \"\", \"label\": 0}\n{\"text\": \"   \", \"label\": 1}\n").unwrap();
    let error = probity::modality::text::load(&all).unwrap_err().to_string();
    assert!(error.contains("all.jsonl") && error.contains("every text is empty or blank"), "{error}");
    let txt = dir.path().join("all.txt");
    std::fs::write(&txt, "  \n\t\n\n").unwrap();
    let error = probity::modality::text::load(&txt).unwrap_err().to_string();
    assert!(error.contains("all.txt") && error.contains("every text is empty or blank"), "{error}");
}
