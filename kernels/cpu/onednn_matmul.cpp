#include "kernels/cpu/onednn_matmul.hpp"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

namespace waypoint::kernels::cpu::detail {

// One primitive per slice shape (rows, k, row stride of y), built on
// first use and kept: a model has a handful of them. M is a run-time
// dimension, so prefill chunks of any length share them.
struct OnednnMatmul::State {
  using Key = std::tuple<int64_t, int64_t, int64_t>;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<Key, dnnl::matmul> primitives;

  dnnl::matmul& primitive(int64_t rows, int64_t k, int64_t ldy) {
    const Key key{rows, k, ldy};
    if (auto it = primitives.find(key); it != primitives.end()) return it->second;
    const auto in = dnnl::memory::data_type::f32;
    const dnnl::memory::dim any_m = DNNL_RUNTIME_DIM_VAL;
    const dnnl::memory::desc x_md({any_m, k}, in, dnnl::memory::dims{k, 1});
    // W's rows are y's columns: as the [k, rows] right operand, a transposed view.
    const dnnl::memory::desc w_md({k, rows}, in, dnnl::memory::dims{1, k});
    const dnnl::memory::desc y_md({any_m, rows}, in, dnnl::memory::dims{ldy, 1});
    const dnnl::matmul::desc desc(x_md, w_md, y_md);
    return primitives.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(desc, engine)))
        .first->second;
  }
};

OnednnMatmul::OnednnMatmul() : state_(std::make_unique<State>()) {
  // This thread's OpenMP team is itself alone: the pool provides the threads.
  omp_set_num_threads(1);
}

OnednnMatmul::~OnednnMatmul() = default;

void OnednnMatmul::run(const float* x, int64_t m, const WeightMatrix& w, int64_t n_begin,
                       int64_t n_end, float* y) {
  const int64_t rows = n_end - n_begin;
  const int64_t k = w.cols();
  const int64_t ldy = w.rows();
  const auto in = dnnl::memory::data_type::f32;
  const float* w_slice = w.f32() + n_begin * k;
  dnnl::matmul& prim = state_->primitive(rows, k, ldy);
  // oneDNN's memory objects take non-const handles; it only reads x and W.
  dnnl::memory xm({{m, k}, in, dnnl::memory::dims{k, 1}}, state_->engine, const_cast<float*>(x));
  dnnl::memory wm({{k, rows}, in, dnnl::memory::dims{1, k}}, state_->engine,
                  const_cast<float*>(w_slice));
  dnnl::memory ym({{m, rows}, in, dnnl::memory::dims{ldy, 1}}, state_->engine, y + n_begin);
  prim.execute(state_->stream, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
  state_->stream.wait();
}

}  // namespace waypoint::kernels::cpu::detail
