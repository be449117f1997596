#include "perf/bench_workload.hpp"

#include <cmath>
#include <limits>
#include <ostream>
#include <sstream>

#include "perf/bench_arrivals.hpp"

namespace po = boost::program_options;

namespace waypoint::bench {

void add_workload_options(po::options_description& opts, WorkloadOptions& o, WorkloadFlags& flags) {
  // clang-format off
  opts.add_options()
      ("dataset-name", po::value(&o.dataset_name)->default_value(o.dataset_name),
       "random, sharegpt or trace")
      ("dataset-path", po::value(&o.dataset_path),
       "the ShareGPT JSON file, or the `waypoint events` JSONL trace to replay")
      ("num-prompts", po::value(&flags.num_prompts)->default_value(flags.num_prompts),
       "requests to send (trace: default all of them)")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seeds the dataset and the arrivals")
      ("request-rate", po::value(&flags.request_rate)->default_value(flags.request_rate),
       "mean requests per second; inf sends them all at once")
      ("burstiness", po::value(&o.burstiness)->default_value(o.burstiness),
       "the gamma shape of the gaps between arrivals: 1 is Poisson, lower is burstier")
      ("max-concurrency", po::value(&flags.max_concurrency), "at most this many requests in flight")
      ("random-input-len", po::value(&o.random.input_len)->default_value(o.random.input_len),
       "random dataset: prompt tokens")
      ("random-output-len", po::value(&o.random.output_len)->default_value(o.random.output_len),
       "random dataset: output tokens")
      ("random-range-ratio", po::value(&o.random.range_ratio)->default_value(o.random.range_ratio),
       "random dataset: lengths uniform in [len*(1-r), len*(1+r)]")
      ("sharegpt-output-len", po::value(&flags.sharegpt_output_len),
       "sharegpt: ask for this many output tokens instead of the reply's length")
      ("ignore-eos", po::bool_switch(&o.ignore_eos),
       "sharegpt: generate every asked-for token (random and trace always do)")
      ("goodput", po::value(&flags.goodput)->multitoken(),
       "SLOs for goodput, in ms: ttft:MS tpot:MS e2el:MS")
      ("metric-percentiles", po::value(&flags.percentiles)->default_value(flags.percentiles),
       "comma-separated percentiles to report")
      ("result-json", po::value(&o.result_json), "write every figure to this JSON file");
  // clang-format on
}

std::optional<double> parse_rate(const std::string& text) {
  if (text == "inf" || text == "Infinity") return std::numeric_limits<double>::infinity();
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Result<void> finish_workload_options(const po::variables_map& vm, const WorkloadFlags& flags,
                                     WorkloadOptions& o) {
  if (o.dataset_name != "random" && o.dataset_name != "sharegpt" && o.dataset_name != "trace") {
    return Error{"--dataset-name '" + o.dataset_name + "' is not one of random, sharegpt, trace"};
  }
  if (o.dataset_name != "random" && o.dataset_path.empty()) {
    return Error{"--dataset-name " + o.dataset_name + " needs --dataset-path"};
  }
  if (flags.num_prompts < 1) return Error{"--num-prompts must be at least 1"};
  o.num_prompts = static_cast<std::size_t>(flags.num_prompts);
  o.num_prompts_given = vm.count("num-prompts") && !vm["num-prompts"].defaulted();
  const auto rate = parse_rate(flags.request_rate);
  if (!rate) return Error{"--request-rate '" + flags.request_rate + "' is not a number"};
  o.request_rate = *rate;
  if (auto valid = validate(ArrivalProcess{o.request_rate, o.burstiness}); !valid) {
    return valid.error();
  }
  if (vm.count("max-concurrency")) {
    if (flags.max_concurrency < 1) return Error{"--max-concurrency must be at least 1"};
    o.max_concurrency = static_cast<std::size_t>(flags.max_concurrency);
  }
  if (o.random.input_len < 1) return Error{"--random-input-len must be at least 1"};
  if (o.random.output_len < 1) return Error{"--random-output-len must be at least 1"};
  if (!(o.random.range_ratio >= 0 && o.random.range_ratio < 1)) {
    return Error{"--random-range-ratio must be in [0, 1)"};
  }
  if (vm.count("sharegpt-output-len")) {
    if (flags.sharegpt_output_len < 1) return Error{"--sharegpt-output-len must be at least 1"};
    o.sharegpt_output_len = flags.sharegpt_output_len;
  }
  if (vm.count("goodput")) {
    auto slo = parse_goodput(flags.goodput);
    if (!slo) return slo.error();
    o.slo = *slo;
    o.goodput = true;
  }
  o.percentiles.clear();
  std::stringstream in(flags.percentiles);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto p = parse_rate(item);
    if (!p || *p < 0 || *p > 100) {
      return Error{"--metric-percentiles '" + flags.percentiles +
                   "' is not a list of numbers 0..100"};
    }
    o.percentiles.push_back(*p);
  }
  return {};
}

Result<Workload> draw_workload(const WorkloadOptions& o, const WorkloadSource& source,
                               std::ostream& err, const std::string& tool) {
  std::mt19937_64 rng(o.seed);
  Workload w;
  if (o.dataset_name == "random") {
    auto vocab = source.vocab_size();
    if (!vocab) return vocab.error();
    auto requests = random_requests(o.random, o.num_prompts, *vocab, rng);
    if (!requests) return requests.error();
    w.requests = std::move(*requests);
  } else if (o.dataset_name == "sharegpt") {
    auto conversations = read_sharegpt(o.dataset_path);
    if (!conversations) return conversations.error();
    auto requests = sample_sharegpt(std::move(*conversations), o.num_prompts, source.count_tokens,
                                    rng, o.sharegpt_output_len);
    if (!requests) return requests.error();
    if (requests->size() < o.num_prompts) {
      err << tool << ": warning: " << o.dataset_path << " has only " << requests->size()
          << " usable conversations of the " << o.num_prompts << " asked for\n";
    }
    w.requests = std::move(*requests);
  } else {
    auto traced = read_trace(o.dataset_path);
    if (!traced) return traced.error();
    auto vocab = source.vocab_size();
    if (!vocab) return vocab.error();
    w.requests = trace_requests(*traced, o.num_prompts_given ? o.num_prompts : 0, *vocab, rng);
  }
  if (w.requests.empty()) return Error{"the dataset gave no request"};
  if (o.dataset_name == "trace") {
    for (const BenchRequest& r : w.requests) w.offsets.push_back(r.arrival_offset.value_or(0));
  } else {
    w.offsets = arrival_offsets(w.requests.size(), {o.request_rate, o.burstiness}, rng);
  }
  return w;
}

void print_traffic(std::ostream& out, const WorkloadOptions& o) {
  if (o.dataset_name == "trace") {
    out << "Traffic: the recorded arrival times of " << o.dataset_path << "\n";
  } else {
    out << "Traffic request rate: ";
    if (std::isinf(o.request_rate)) {
      out << "inf";
    } else {
      out << o.request_rate;
    }
    out << "\nBurstiness factor: " << o.burstiness
        << (o.burstiness == 1.0 ? " (Poisson process)" : " (Gamma distribution)") << "\n";
  }
  out << "Maximum request concurrency: "
      << (o.max_concurrency ? std::to_string(*o.max_concurrency) : "None") << "\n"
      << std::flush;
}

RunInfo run_info(const WorkloadOptions& o, const std::string& model, const std::string& endpoint,
                 std::size_t num_requests) {
  RunInfo info;
  info.model = model;
  info.endpoint = endpoint;
  info.dataset = o.dataset_name;
  info.num_prompts = num_requests;
  info.request_rate =
      o.dataset_name == "trace" ? std::numeric_limits<double>::quiet_NaN() : o.request_rate;
  info.burstiness = o.burstiness;
  if (o.max_concurrency) info.max_concurrency = static_cast<int64_t>(*o.max_concurrency);
  info.goodput = o.goodput;
  info.percentiles = o.percentiles;
  return info;
}

}  // namespace waypoint::bench
