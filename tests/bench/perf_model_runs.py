#!/usr/bin/env python3
"""Per-run view of a perf_model_validation.sh output folder: for each measured
run, how fast the machine ran its steps compared with what beta predicts for
those very batches (the run's own step trace), beside sim's error on that
run. A ratio near 1 means the run saw the machine the model was fitted on; a
ratio well above 1 means the shared machine was slow during that run, and
the prediction's error there measures the machine, not the model.
Usage: tests/bench/perf_model_runs.py OUT_DIR WORKLOAD..."""
import json
import os
import sys


def features(s):
    n, d = s["batch.num_prefill_reqs"], s["batch.num_decode_reqs"]
    return [1, s["batch.prefill_tokens"], s["batch.decode_tokens"],
            s["batch.decode_ctx_tokens_sum"], s["batch.prefill_ctx_tokens_sum"], n + d, n,
            s.get("batch.prefill_attention_pairs", 0)]


def main(out, workloads):
    beta = json.load(open(os.path.join(out, "fit", "coeffs.json")))["beta"]["coefficients"]
    keys = ["mean_ttft_ms", "mean_tpot_ms", "mean_e2el_ms", "p90_e2el_ms"]
    print("| run | step time / beta | TTFT mean | TPOT mean | E2E mean | E2E P90 |")
    print("|---|---|---|---|---|---|")
    for w in workloads:
        p = json.load(open(os.path.join(out, f"sim_{w}.json")))
        print(f"| {w}: predicted | | " + " | ".join(f"{p[k]:.2f}" for k in keys) + " |")
        i = 1
        while os.path.exists(os.path.join(out, f"{w}_{i}.json")):
            base = os.path.join(out, f"{w}_{i}")
            m = json.load(open(base + ".json"))
            actual = predicted = 0.0
            for line in open(base + ".jsonl"):
                if "BATCH_SUMMARY" not in line:
                    continue
                s = json.loads(line)
                actual += s["step.duration_us"]
                predicted += sum(c * x for c, x in zip(beta, features(s)))
            cells = [f"{m[k]:.2f} ({(p[k] - m[k]) / m[k] * 100:+.1f}%)" for k in keys]
            print(f"| {w}: run {i} | {actual / predicted:.3f} | " + " | ".join(cells) + " |")
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
