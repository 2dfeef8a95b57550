//! Image data readied for a model: anything but a text model takes it as it is (the runner's
//! session checks shapes, layout and value range against each battery).

use super::data::Dataset;
use crate::engine::Engine;
use crate::error::Failure;
use crate::modality::text::is_text_model;
use crate::modality::{LoadedData, ModelInputOptions, ModelInputs};

impl LoadedData for Dataset {
    fn prepare<'a>(&'a self, engine: &mut Engine, _: &ModelInputOptions<'_>) -> Result<ModelInputs<'a>, Failure> {
        if is_text_model(engine) {
            return Err(Failure::invalid(anyhow::anyhow!(
                "{} takes token ids (a text model) but {} holds images; pass text data (.jsonl or .txt) and the \
                 model's tokenizer (--tokenizer)",
                engine.model_path.display(),
                self.path.display()
            )));
        }
        Ok(ModelInputs::plain(self))
    }
}
