//! Images: `[N, C, H, W]` or `[N, H, W, C]` float arrays (`.npy`, `.npz`) or folders of PNG/JPEG
//! files ([`data`]), probed by the image transforms and searched by the patch and
//! reverse-engineering searches ([`kit`]), shown in reports as PNG ([`png`]).

pub mod data;
mod kit;
pub mod png;
mod prepare;

pub use data::{ChannelOrder, Dataset, ImageFolderOptions, Subset, load};
pub use kit::{ImageKit, ImageSession, Preview, Probing, SearchOutline, preview, search_outline};
