//! What the GPU a CUDA session runs on is: its name and memory, for the report.
//!
//! ONNX Runtime does not say which device its CUDA provider runs on beyond the ordinal, so the
//! NVIDIA driver API is asked directly (`libcuda.so.1`, present wherever the CUDA provider can
//! run): `cuInit`, `cuDeviceGet`, `cuDeviceGetName`, `cuDeviceTotalMem_v2` (CUDA Driver API
//! reference, "Device Management"). Failing to ask is not an error: the report then says why.

use serde::{Deserialize, Serialize};

/// A GPU as the driver describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// CUDA device ordinal.
    pub ordinal: i32,
    /// e.g. "NVIDIA H200"; absent when the driver could not be asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_memory_bytes: Option<u64>,
    /// Why `name` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// Describes CUDA device `ordinal`, as far as the driver can be asked.
pub fn describe(ordinal: i32) -> DeviceInfo {
    match query(ordinal) {
        Ok((name, memory)) => {
            DeviceInfo { ordinal, name: Some(name), total_memory_bytes: Some(memory), unavailable: None }
        }
        Err(why) => DeviceInfo { ordinal, name: None, total_memory_bytes: None, unavailable: Some(why) },
    }
}

type CuInit = unsafe extern "C" fn(u32) -> i32;
type CuDeviceGet = unsafe extern "C" fn(*mut i32, i32) -> i32;
type CuDeviceGetName = unsafe extern "C" fn(*mut std::ffi::c_char, i32, i32) -> i32;
type CuDeviceTotalMem = unsafe extern "C" fn(*mut usize, i32) -> i32;

fn query(ordinal: i32) -> Result<(String, u64), String> {
    let checked =
        |what: &str, code: i32| if code == 0 { Ok(()) } else { Err(format!("{what} returned CUDA error {code}")) };
    // SAFETY: libcuda.so.1 is the NVIDIA driver library; the four symbols are looked up by
    // their documented names and called with the documented signatures, with buffers that
    // outlive the calls.
    unsafe {
        let library = libloading::Library::new("libcuda.so.1").map_err(|e| format!("the CUDA driver: {e}"))?;
        let symbol = |name: &str| format!("libcuda.so.1 has no {name}");
        let init: libloading::Symbol<'_, CuInit> = library.get(b"cuInit\0").map_err(|_| symbol("cuInit"))?;
        let get: libloading::Symbol<'_, CuDeviceGet> =
            library.get(b"cuDeviceGet\0").map_err(|_| symbol("cuDeviceGet"))?;
        let get_name: libloading::Symbol<'_, CuDeviceGetName> =
            library.get(b"cuDeviceGetName\0").map_err(|_| symbol("cuDeviceGetName"))?;
        let total_mem: libloading::Symbol<'_, CuDeviceTotalMem> =
            library.get(b"cuDeviceTotalMem_v2\0").map_err(|_| symbol("cuDeviceTotalMem_v2"))?;
        checked("cuInit", init(0))?;
        let mut device = 0;
        checked("cuDeviceGet", get(&mut device, ordinal))?;
        let mut name = [0 as std::ffi::c_char; 256];
        checked("cuDeviceGetName", get_name(name.as_mut_ptr(), name.len() as i32, device))?;
        let mut bytes = 0usize;
        checked("cuDeviceTotalMem_v2", total_mem(&mut bytes, device))?;
        let name = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        Ok((name, bytes as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_the_driver_says_why() {
        // CI and the dev machines have no GPU driver; on a GPU machine the name is filled in.
        let info = describe(0);
        assert_eq!(info.ordinal, 0);
        assert!(info.name.is_some() != info.unavailable.is_some(), "{info:?}");
    }
}
