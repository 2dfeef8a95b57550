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
        let data = probity::data::load(path, None).unwrap();
        assert_eq!(data.shape(), &[5, 2, 3, 3]);
        let order = [3, 0, 1, 4, 2];
        assert_eq!(data.read(&order).unwrap(), x.select(Axis(0), &order), "{}", path.display());
        let subset = data.subset(&[4, 1]).unwrap();
        assert_eq!(subset.get(4), x.index_axis(Axis(0), 4));
        assert_eq!(subset.flat(1), x.index_axis(Axis(0), 1).iter().copied().collect::<Vec<_>>().as_slice());
    }
    assert_eq!(probity::data::load(&npz, None).unwrap().y, Some(vec![0, 1, 2, 1, 0]));
}

#[test]
fn a_truncated_file_is_refused_with_the_shortfall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    sample().write_npy(std::fs::File::create(&path).unwrap()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    let error = probity::data::load(&path, None).unwrap_err().to_string();
    assert!(error.contains("ends 8 bytes short"), "{error}");
}
