#include "tools/bench_command.hpp"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "tools/bench_arrivals.hpp"
#include "tools/bench_client.hpp"
#include "tools/bench_dataset.hpp"
#include "tools/bench_metrics.hpp"
#include "tools/bench_report.hpp"
#include "tools/bench_runner.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

using bench::BenchRequest;

struct BenchOptions {
  std::string base_url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";
  std::string model;
  std::string api_key;
  std::string dataset_name = "random";
  std::string dataset_path;
  std::size_t num_prompts = 1000;
  bool num_prompts_given = false;
  uint64_t seed = 0;
  double request_rate = std::numeric_limits<double>::infinity();
  double burstiness = 1.0;
  std::optional<std::size_t> max_concurrency;
  bench::RandomSpec random;
  std::optional<int64_t> sharegpt_output_len;
  bool ignore_eos = false;
  bench::Slo slo;
  bool goodput = false;
  std::vector<double> percentiles{90, 99};
  std::string result_json;
};

// A failure after the command line was accepted: exit 1, one line.
struct RunError {
  std::string message;
};

template <class T>
T must(Result<T> r) {
  if (!r) throw RunError{r.error().message};
  return std::move(*r);
}

// An in-place bar on a terminal; elsewhere only the final line, so logs and
// pipes are not filled with carriage returns.
class Progress {
 public:
  Progress(std::ostream& err, std::size_t total, bool tty)
      : err_(err), total_(total), tty_(tty) {}

  void update(std::size_t done, std::size_t failed) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done != total_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr std::size_t kWidth = 40;
    const std::size_t filled = total_ == 0 ? kWidth : done * kWidth / total_;
    err_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] " << done
         << "/" << total_ << (failed ? " (" + std::to_string(failed) + " failed)" : "")
         << std::flush;
  }

  void finish(std::size_t done, std::size_t failed, double seconds) {
    if (tty_) err_ << "\n";
    std::ostringstream line;
    line.precision(2);
    line << std::fixed << "waypoint bench: " << done << "/" << total_ << " requests done, "
         << failed << " failed, in " << seconds << " s\n";
    err_ << line.str() << std::flush;
  }

 private:
  std::ostream& err_;
  std::size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point last_{};
};

std::vector<BenchRequest> load_dataset(const BenchOptions& o, const bench::BenchClient& client,
                                       const std::string& model, std::mt19937_64& rng,
                                       std::ostream& err) {
  if (o.dataset_name == "random") {
    const int32_t vocab = must(client.vocab_size(model));
    return must(bench::random_requests(o.random, o.num_prompts, vocab, rng));
  }
  if (o.dataset_name == "sharegpt") {
    auto conversations = must(bench::read_sharegpt(o.dataset_path));
    auto requests = must(bench::sample_sharegpt(
        std::move(conversations), o.num_prompts,
        [&](const std::string& text) { return client.count_tokens(model, text); }, rng,
        o.sharegpt_output_len));
    if (requests.size() < o.num_prompts) {
      err << "waypoint bench: warning: " << o.dataset_path << " has only " << requests.size()
          << " usable conversations of the " << o.num_prompts << " asked for\n";
    }
    return requests;
  }
  const auto traced = must(bench::read_trace(o.dataset_path));
  const int32_t vocab = must(client.vocab_size(model));
  return bench::trace_requests(traced, o.num_prompts_given ? o.num_prompts : 0, vocab, rng);
}

int run_benchmark(const BenchOptions& o, std::ostream& out, std::ostream& err) {
  const bench::BenchClient client(must(bench::parse_base_url(o.base_url)), o.api_key);
  const std::string model = o.model.empty() ? must(client.first_model()) : o.model;
  std::mt19937_64 rng(o.seed);
  std::vector<BenchRequest> requests = load_dataset(o, client, model, rng, err);
  if (requests.empty()) throw RunError{"the dataset gave no request"};

  const bool chat = o.endpoint.find("chat") != std::string::npos;
  if (chat) {
    // The chat API takes text only: token prompts go as their text.
    for (BenchRequest& r : requests) {
      if (r.prompt_token_ids.empty()) continue;
      r.prompt_text = must(client.detokenize(model, r.prompt_token_ids));
      r.prompt_token_ids.clear();
    }
  }

  std::vector<double> offsets;
  const bool replay = o.dataset_name == "trace";
  if (replay) {
    for (const BenchRequest& r : requests) offsets.push_back(r.arrival_offset.value_or(0));
  } else {
    offsets = bench::arrival_offsets(requests.size(), {o.request_rate, o.burstiness}, rng);
  }

  if (replay) {
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

  bench::BenchClient::Options send_options;
  send_options.endpoint = o.endpoint;
  send_options.chat = chat;
  send_options.model = model;
  // Random and replayed prompts must produce exactly the lengths asked for.
  send_options.ignore_eos = o.ignore_eos || o.dataset_name != "sharegpt";

  Progress progress(err, requests.size(), &err == &std::cerr && ::isatty(STDERR_FILENO) == 1);
  const bench::RunOutcome outcome = bench::run_open_loop(
      requests, offsets, o.max_concurrency,
      [&](const BenchRequest& r) { return client.stream(send_options, r); },
      [&](std::size_t done, std::size_t failed) { progress.update(done, failed); });
  const bench::Summary summary =
      bench::summarize(outcome.records, outcome.duration_s, o.slo, o.percentiles);
  progress.finish(outcome.records.size(), static_cast<std::size_t>(summary.failed),
                  outcome.duration_s);

  bench::RunInfo info;
  info.model = model;
  info.endpoint = o.endpoint;
  info.dataset = o.dataset_name;
  info.num_prompts = requests.size();
  info.request_rate = replay ? std::numeric_limits<double>::quiet_NaN() : o.request_rate;
  info.burstiness = o.burstiness;
  if (o.max_concurrency) info.max_concurrency = static_cast<int64_t>(*o.max_concurrency);
  info.goodput = o.goodput;
  info.percentiles = o.percentiles;
  out << bench::summary_table(info, summary) << std::flush;

  if (!o.result_json.empty()) {
    std::ofstream file(o.result_json, std::ios::out | std::ios::trunc);
    if (!file) throw RunError{"cannot write --result-json " + o.result_json};
    file << bench::result_json(info, summary, outcome.records).dump(2) << "\n";
    if (!file) throw RunError{"cannot write --result-json " + o.result_json};
  }
  if (summary.completed == 0) {
    for (const auto& r : outcome.records) {
      if (!r.error.empty()) throw RunError{"every request failed; the first: " + r.error};
    }
    throw RunError{"every request failed"};
  }
  return kExitOk;
}

std::optional<double> parse_double(const std::string& text) {
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

int run_bench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  BenchOptions o;
  std::string request_rate = "inf";
  std::string percentiles = "90,99";
  int64_t num_prompts = 1000;
  int64_t max_concurrency = 0;
  int64_t sharegpt_output_len = 0;
  std::vector<std::string> goodput;
  po::options_description opts("waypoint bench options");
  // clang-format off
  opts.add_options()
      ("help,h", "print this help and exit")
      ("base-url", po::value(&o.base_url)->default_value(o.base_url), "the server, http://HOST:PORT")
      ("endpoint", po::value(&o.endpoint)->default_value(o.endpoint),
       "/v1/completions, or /v1/chat/completions (prompts sent as text)")
      ("model", po::value(&o.model), "the model name to ask for; default: the first of /v1/models")
      ("api-key", po::value(&o.api_key), "a bearer token, for a server started with --api-key")
      ("dataset-name", po::value(&o.dataset_name)->default_value(o.dataset_name),
       "random, sharegpt or trace")
      ("dataset-path", po::value(&o.dataset_path),
       "the ShareGPT JSON file, or the `waypoint events` JSONL trace to replay")
      ("num-prompts", po::value(&num_prompts)->default_value(num_prompts),
       "requests to send (trace: default all of them)")
      ("seed", po::value(&o.seed)->default_value(o.seed), "seeds the dataset and the arrivals")
      ("request-rate", po::value(&request_rate)->default_value(request_rate),
       "mean requests per second; inf sends them all at once")
      ("burstiness", po::value(&o.burstiness)->default_value(o.burstiness),
       "the gamma shape of the gaps between arrivals: 1 is Poisson, lower is burstier")
      ("max-concurrency", po::value(&max_concurrency), "at most this many requests in flight")
      ("random-input-len", po::value(&o.random.input_len)->default_value(o.random.input_len),
       "random dataset: prompt tokens")
      ("random-output-len", po::value(&o.random.output_len)->default_value(o.random.output_len),
       "random dataset: output tokens")
      ("random-range-ratio", po::value(&o.random.range_ratio)->default_value(o.random.range_ratio),
       "random dataset: lengths uniform in [len*(1-r), len*(1+r)]")
      ("sharegpt-output-len", po::value(&sharegpt_output_len),
       "sharegpt: ask for this many output tokens instead of the reply's length")
      ("ignore-eos", po::bool_switch(&o.ignore_eos),
       "sharegpt: generate every asked-for token (random and trace always do)")
      ("goodput", po::value(&goodput)->multitoken(),
       "SLOs for goodput, in ms: ttft:MS tpot:MS e2el:MS")
      ("metric-percentiles", po::value(&percentiles)->default_value(percentiles),
       "comma-separated percentiles to report")
      ("result-json", po::value(&o.result_json), "write every figure to this JSON file");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    if (vm.count("help")) {
      out << "Usage: waypoint bench [--base-url URL] [--dataset-name random|sharegpt|trace]\n"
             "                      [--num-prompts N] [--request-rate R] [--burstiness B]\n"
             "                      [--max-concurrency N] [--result-json FILE] ...\n\n"
             "Sends an open-loop workload to a running server's OpenAI API, streamed, and\n"
             "reports TTFT, TPOT, ITL and E2E latency and throughput with vLLM's\n"
             "benchmark_serving definitions.\n\n"
          << opts;
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    err << "waypoint bench: " << e.what() << "\n";
    return kExitUsage;
  }
  const auto usage = [&](const std::string& message) {
    err << "waypoint bench: " << message << "\n";
    return kExitUsage;
  };

  if (o.dataset_name != "random" && o.dataset_name != "sharegpt" && o.dataset_name != "trace") {
    return usage("--dataset-name '" + o.dataset_name + "' is not one of random, sharegpt, trace");
  }
  if (o.dataset_name != "random" && o.dataset_path.empty()) {
    return usage("--dataset-name " + o.dataset_name + " needs --dataset-path");
  }
  if (num_prompts < 1) return usage("--num-prompts must be at least 1");
  o.num_prompts = static_cast<std::size_t>(num_prompts);
  o.num_prompts_given = !vm["num-prompts"].defaulted();
  const auto rate = parse_double(request_rate);
  if (!rate) return usage("--request-rate '" + request_rate + "' is not a number");
  o.request_rate = *rate;
  if (auto valid = bench::validate(bench::ArrivalProcess{o.request_rate, o.burstiness}); !valid) {
    return usage(valid.error().message);
  }
  if (vm.count("max-concurrency")) {
    if (max_concurrency < 1) return usage("--max-concurrency must be at least 1");
    o.max_concurrency = static_cast<std::size_t>(max_concurrency);
  }
  if (o.random.input_len < 1) return usage("--random-input-len must be at least 1");
  if (o.random.output_len < 1) return usage("--random-output-len must be at least 1");
  if (!(o.random.range_ratio >= 0 && o.random.range_ratio < 1)) {
    return usage("--random-range-ratio must be in [0, 1)");
  }
  if (vm.count("sharegpt-output-len")) {
    if (sharegpt_output_len < 1) return usage("--sharegpt-output-len must be at least 1");
    o.sharegpt_output_len = sharegpt_output_len;
  }
  if (vm.count("goodput")) {
    auto slo = bench::parse_goodput(goodput);
    if (!slo) return usage(slo.error().message);
    o.slo = *slo;
    o.goodput = true;
  }
  o.percentiles.clear();
  {
    std::stringstream in(percentiles);
    std::string item;
    while (std::getline(in, item, ',')) {
      const auto p = parse_double(item);
      if (!p || *p < 0 || *p > 100) {
        return usage("--metric-percentiles '" + percentiles + "' is not a list of numbers 0..100");
      }
      o.percentiles.push_back(*p);
    }
  }
  if (o.endpoint.empty() || o.endpoint.front() != '/') {
    return usage("--endpoint '" + o.endpoint + "' must start with /");
  }
  if (auto address = bench::parse_base_url(o.base_url); !address) {
    return usage(address.error().message);
  }

  try {
    return run_benchmark(o, out, err);
  } catch (const RunError& e) {
    err << "waypoint bench: " << e.message << "\n";
    return kExitFailure;
  }
}

}  // namespace

Subcommand bench_subcommand() {
  return {"bench", "benchmark a running server's API (TTFT, TPOT, ITL, throughput)", run_bench};
}

}  // namespace waypoint::cli
