#include "scaling/catalog.h"

#include <map>
#include <vector>

#include "scaling/provider_util.h"

namespace sextant::scaling {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kGaugeWindow{60000};       // 1m: smooths a scrape or two of noise
constexpr milliseconds kCounterWindow{120000};    // 2m: at least 2 samples at 1m scrapes
constexpr milliseconds kHistogramWindow{300000};  // 5m: enough observations for a p95
// 5m: kube-state-metrics' last values as an instant selector finds them (its lookback).
constexpr milliseconds kKubeStateWindow{300000};

const std::vector<std::string_view> kDcgmKeys = {"gpu",        "UUID",     "device",  "modelName",
                                                 "pci_bus_id", "Hostname", "hostname"};

CatalogEntry Dcgm(std::string_view name, std::string_view metric, std::string_view unit,
                  std::string_view typical, std::string_view description) {
  return {.name = name,
          .family_name = "DCGM exporter",
          .family = CatalogFamily::kDcgm,
          .plan = CatalogPlan::kGauge,
          .metrics = {metric},
          .over_time = OverTime::kAvg,
          .across = Across::kAvg,
          .window = kGaugeWindow,
          .unit = unit,
          .target_type = "Value",
          .typical_target = typical,
          .description = description,
          .series_keys = kDcgmKeys};
}

CatalogEntry ServerGauge(std::string_view name, std::string_view family_name,
                         std::vector<std::string_view> metrics, Across across,
                         std::string_view unit, std::string_view target_type,
                         std::string_view typical, std::string_view description,
                         std::vector<std::string_view> keys) {
  return {.name = name,
          .family_name = family_name,
          .family = CatalogFamily::kServer,
          .plan = CatalogPlan::kGauge,
          .metrics = std::move(metrics),
          .over_time = OverTime::kAvg,
          .across = across,
          .window = kGaugeWindow,
          .unit = unit,
          .target_type = target_type,
          .typical_target = typical,
          .description = description,
          .series_keys = std::move(keys)};
}

CatalogEntry ServerHistogram(std::string_view name, std::string_view family_name,
                             std::vector<std::string_view> metrics, std::string_view typical,
                             std::string_view description, std::vector<std::string_view> keys) {
  return {.name = name,
          .family_name = family_name,
          .family = CatalogFamily::kServer,
          .plan = CatalogPlan::kHistogramQuantile,
          .metrics = std::move(metrics),
          .window = kHistogramWindow,
          .quantile = 0.95,
          .unit = "seconds",
          .target_type = "Value",
          .typical_target = typical,
          .description = description,
          .series_keys = std::move(keys)};
}

std::vector<CatalogEntry> BuildCatalog() {
  const std::vector<std::string_view> vllm_keys = {"model_name", "engine"};
  const std::vector<std::string_view> triton_keys = {"model", "version"};
  const std::vector<std::string_view> sglang_keys = {"model_name"};
  std::vector<CatalogEntry> c;
  // NVIDIA DCGM exporter: the mean over the selected workload's GPUs.
  c.push_back(Dcgm("gpu-utilization", "DCGM_FI_DEV_GPU_UTIL", "percent (0-100)", "70",
                   "GPU utilization: the share of time a kernel ran"));
  c.push_back(Dcgm("gpu-tensor-active", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "ratio (0-1)", "500m",
                   "tensor-core pipe activity"));
  c.push_back(Dcgm("gpu-engine-active", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "ratio (0-1)", "800m",
                   "graphics/compute engine activity"));
  c.push_back(Dcgm("gpu-dram-active", "DCGM_FI_PROF_DRAM_ACTIVE", "ratio (0-1)", "600m",
                   "device memory interface activity"));
  {
    CatalogEntry e = Dcgm("gpu-memory-used-ratio", "DCGM_FI_DEV_FB_USED", "ratio (0-1)", "900m",
                          "framebuffer used / (used + free)");
    e.plan = CatalogPlan::kUsedRatio;
    e.metrics = {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"};
    c.push_back(std::move(e));
  }
  // AWS neuron-monitor: per node and NeuronCore, no pod mapping.
  c.push_back({.name = "neuroncore-utilization",
               .family_name = "AWS Neuron monitor",
               .family = CatalogFamily::kNeuron,
               .plan = CatalogPlan::kGauge,
               .metrics = {"neuroncore_utilization_ratio"},
               .over_time = OverTime::kAvg,
               .across = Across::kAvg,
               .window = kGaugeWindow,
               .unit = "ratio (0-1)",
               .target_type = "Value",
               .typical_target = "700m",
               .description = "NeuronCore utilization, mean over the selected cores"});
  c.push_back({.name = "neuron-execution-latency-p99",
               .family_name = "AWS Neuron monitor",
               .family = CatalogFamily::kNeuron,
               .plan = CatalogPlan::kGauge,
               .metrics = {"execution_latency_seconds"},
               .matchers = "percentile=\"p99\"",
               .over_time = OverTime::kAvg,
               .across = Across::kMax,
               .window = kGaugeWindow,
               .unit = "seconds",
               .target_type = "Value",
               .typical_target = "200m",
               .description = "the worst selected runtime's p99 execution latency"});
  c.push_back({.name = "neuron-errors-per-second",
               .family_name = "AWS Neuron monitor",
               .family = CatalogFamily::kNeuron,
               .plan = CatalogPlan::kGauge,
               .metrics = {"execution_errors_total"},
               .over_time = OverTime::kRate,
               .across = Across::kSum,
               .window = kCounterWindow,
               .unit = "errors per second",
               .target_type = "Value",
               .typical_target = "1",
               .description = "execution errors of every type, per second"});
  // vLLM.
  c.push_back(ServerGauge("vllm-requests-waiting", "vLLM", {"vllm:num_requests_waiting"},
                          Across::kSum, "requests", "AverageValue", "5",
                          "requests queued, waiting for a batch slot", vllm_keys));
  c.push_back(ServerGauge("vllm-requests-running", "vLLM", {"vllm:num_requests_running"},
                          Across::kSum, "requests", "AverageValue", "32",
                          "requests being decoded", vllm_keys));
  c.push_back(ServerGauge("vllm-kv-cache-usage", "vLLM",
                          {"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}, Across::kAvg,
                          "ratio (0-1)", "Value", "800m", "KV-cache blocks in use", vllm_keys));
  c.push_back(ServerHistogram("vllm-ttft-p95", "vLLM", {"vllm:time_to_first_token_seconds"},
                              "500m", "time to first token, p95", vllm_keys));
  c.push_back(ServerHistogram("vllm-e2e-latency-p95", "vLLM",
                              {"vllm:e2e_request_latency_seconds"}, "10",
                              "end-to-end request latency, p95", vllm_keys));
  c.push_back(ServerHistogram("vllm-inter-token-latency-p95", "vLLM",
                              {"vllm:inter_token_latency_seconds",
                               "vllm:time_per_output_token_seconds"},
                              "100m", "time between output tokens, p95", vllm_keys));
  // Triton.
  c.push_back(ServerGauge("triton-pending-requests", "Triton",
                          {"nv_inference_pending_request_count"}, Across::kSum, "requests",
                          "AverageValue", "10", "requests received and not yet executing",
                          triton_keys));
  c.push_back({.name = "triton-queue-time-per-request",
               .family_name = "Triton",
               .family = CatalogFamily::kServer,
               .plan = CatalogPlan::kIncreaseRatio,
               .metrics = {"nv_inference_queue_duration_us", "nv_inference_request_success"},
               .window = kCounterWindow,
               .unit = "microseconds",
               .target_type = "Value",
               .typical_target = "50k",
               .description = "mean time a successful request waited in the queue",
               .series_keys = triton_keys});
  // TGI.
  c.push_back(ServerGauge("tgi-queue-size", "TGI", {"tgi_queue_size"}, Across::kSum, "requests",
                          "AverageValue", "5", "requests waiting in the queue", {}));
  c.push_back(ServerGauge("tgi-batch-size", "TGI", {"tgi_batch_current_size"}, Across::kAvg,
                          "requests", "Value", "16", "current batch size, mean over pods", {}));
  c.push_back(ServerHistogram("tgi-request-latency-p95", "TGI", {"tgi_request_duration"}, "10",
                              "end-to-end request latency, p95", {}));
  // SGLang.
  c.push_back(ServerGauge("sglang-queue-requests", "SGLang", {"sglang:num_queue_reqs"},
                          Across::kSum, "requests", "AverageValue", "5",
                          "requests waiting in the queue", sglang_keys));
  c.push_back(ServerGauge("sglang-token-usage", "SGLang", {"sglang:token_usage"}, Across::kAvg,
                          "ratio (0-1)", "Value", "850m", "KV-cache token pool in use",
                          sglang_keys));
  // Karpenter headroom, from kube-state-metrics.
  c.push_back({.name = "gpu-pending-demand",
               .family_name = "kube-state-metrics (Karpenter headroom)",
               .family = CatalogFamily::kKubeState,
               .plan = CatalogPlan::kPendingDemand,
               .window = kKubeStateWindow,
               .unit = "GPUs",
               .target_type = "AverageValue",
               .typical_target = "1",
               .description = "GPUs requested by Pending pods that no node holds",
               .series_keys = {"namespace"}});
  c.push_back({.name = "gpu-headroom-deficit",
               .family_name = "kube-state-metrics (Karpenter headroom)",
               .family = CatalogFamily::kKubeState,
               .plan = CatalogPlan::kHeadroomDeficit,
               .window = kKubeStateWindow,
               .unit = "GPUs",
               .target_type = "AverageValue",
               .typical_target = "1",
               .description = "pending demand + buffer - free allocatable GPUs, at least 0",
               .series_keys = {"namespace"}});
  return c;
}

}  // namespace

std::span<const CatalogEntry> Catalog() {
  static const std::vector<CatalogEntry> catalog = BuildCatalog();
  return catalog;
}

const CatalogEntry* FindCatalogEntry(std::string_view name) {
  static const std::map<std::string, const CatalogEntry*> by_name = [] {
    std::map<std::string, const CatalogEntry*> out;
    for (const CatalogEntry& e : Catalog()) out.emplace(Lower(std::string(e.name)), &e);
    return out;
  }();
  auto it = by_name.find(Lower(std::string(name)));
  return it == by_name.end() ? nullptr : it->second;
}

std::vector<std::string> CatalogSeriesNames(const CatalogEntry& entry) {
  if (entry.family == CatalogFamily::kKubeState) {
    return {"kube_pod_status_phase", "kube_pod_container_resource_requests"};
  }
  std::vector<std::string> out;
  for (std::string_view m : entry.metrics) {
    out.push_back(entry.plan == CatalogPlan::kHistogramQuantile ? std::string(m) + "_bucket"
                                                                : std::string(m));
  }
  return out;
}

}  // namespace sextant::scaling
