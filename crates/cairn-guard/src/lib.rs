pub mod injection;
mod lexicon;
pub mod normalize;
