//! Text: `.jsonl` records or `.txt` lines ([`data`]), tokenized with the model's
//! `tokenizer.json` ([`encoder`]), probed by the text transforms and searched by the
//! vocabulary sweep ([`kit`]); a probe's preview as an HTML page ([`page`]).

pub mod data;
pub mod encoder;
mod kit;
pub mod page;
mod prepare;

pub use data::{TextDataset, claims, load};
pub use encoder::{
    CHARS_PER_TOKEN, Padding, PaddingCheck, TextEncoder, TextError, TextTokenizer, is_text_model, tokenizer_path,
};
pub use kit::{PreviewRow, ShownText, TextInputs, TextKit, preview, search_outline};
