#pragma once
// Softmax of one row, in place. The row's maximum is subtracted before exp, so large
// logits (1000, -1000) neither overflow nor underflow to an all-zero row.
#include <span>

namespace waypoint::kernels::cpu {

// An empty row is left alone. A row that is all -inf has no defined softmax and
// comes out NaN, as in PyTorch.
void softmax(std::span<float> row);

}  // namespace waypoint::kernels::cpu
