//! Pooling on candle tensors: attention-masked mean and L2 normalization.

use candle_core::{D, DType, Result, Tensor};

/// Mean of `hidden` `(batch, seq, dim)` over the positions where `mask` `(batch, seq)` is
/// 1. Padding never contributes (the MiniLM tokenizer pads, so an unmasked mean is wrong).
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Scales each row of `(batch, dim)` to unit length.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norms = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn padding_is_ignored_and_rows_are_unit_length() {
        let hidden = Tensor::new(
            &[
                [[1f32, 0.], [3., 0.], [100., 100.]],
                [[0., 2.], [0., 2.], [0., 2.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let mean = masked_mean(&hidden, &mask).unwrap();
        assert_eq!(
            mean.to_vec2::<f32>().unwrap(),
            vec![vec![2.0, 0.0], vec![0.0, 2.0]]
        );
        let unit = l2_normalize(&mean).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(unit, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    }
}
