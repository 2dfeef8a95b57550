//! Text: `.jsonl` records or `.txt` lines ([`data`]), tokenized with the model's
//! `tokenizer.json` ([`encoder`]), probed by the text transforms and searched by the
//! vocabulary sweep ([`kit`]).

pub mod data;
pub mod encoder;
mod kit;
mod prepare;

pub use data::{TextDataset, claims, load};
pub use encoder::{CHARS_PER_TOKEN, Padding, PaddingCheck, TextEncoder, TextError, is_text_model, tokenizer_path};
pub use kit::{TextInputs, TextKit};
