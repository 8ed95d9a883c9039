// Weight-norm folding: X.weight = g * v / ||v|| for both torch spellings of the (g, v) pair.
#pragma once

#include "runtime/io/checkpoint.h"

namespace cosyflow {

// Replaces every X.weight_g / X.weight_v pair and every
// X.parametrizations.weight.original0 / original1 pair with one f32 tensor X.weight, placed where
// the first of the pair was. ||v|| is the L2 norm over all dims except 0, without epsilon: the
// same formula serves Conv1d (v [out, in, k], g [out, 1, 1]) and ConvTranspose1d (v [in, out, k],
// g [in, 1, 1]). Errors: a half without its partner, g/v shapes that disagree.
Status FoldWeightNorm(Checkpoint* ckpt);

}  // namespace cosyflow
