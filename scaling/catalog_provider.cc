#include "scaling/catalog_provider.h"

#include <cstdio>

#include "common/log.h"
#include "query/promql.h"
#include "scaling/catalog_eval.h"
#include "scaling/catalog_request.h"
#include "scaling/provider_util.h"

namespace sextant::scaling {
namespace {

constexpr std::chrono::seconds kDiscoveryTimeout{30};
constexpr std::string_view kPodLabels = "kube_pod_labels";

// Every series name discovery asks about, sorted and unique.
std::vector<std::string> DiscoveryNames(const std::vector<const CatalogEntry*>& entries) {
  std::set<std::string> names = {std::string(kPodLabels)};
  for (const CatalogEntry* e : entries) {
    for (std::string& n : CatalogSeriesNames(*e)) names.insert(std::move(n));
  }
  return {names.begin(), names.end()};
}

// The subscription's newline-separated selectors on one log line.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n') c = ';';
  }
  return text;
}

std::string Digits17(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

CatalogProvider::CatalogProvider(CatalogConfig config, query::PrometheusClient& client,
                                 WindowStore& store, std::chrono::milliseconds relist_interval)
    : config_(std::move(config)),
      client_(client),
      store_(store),
      relist_interval_(relist_interval) {
  for (const CatalogEntry& e : Catalog()) {
    if (config_.Serves(std::string(e.name))) entries_.push_back(&e);
  }
}

CatalogProvider::~CatalogProvider() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (discovery_thread_.joinable()) discovery_thread_.join();
}

void CatalogProvider::Start() {
  if (entries_.empty()) return;
  discovery_thread_ = std::thread([this] { DiscoveryLoop(); });
}

void CatalogProvider::DiscoveryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Status status = DiscoverNow();
    if (!status.ok()) {
      SEXTANT_LOG(WARNING) << "catalog discovery failed: " << status.ToString()
                           << "; keeping the previous list";
    }
    lock.lock();
    cv_.wait_for(lock, relist_interval_, [this] { return stopping_; });
  }
}

Status CatalogProvider::DiscoverNow() {
  if (entries_.empty()) return OkStatus();
  const std::string expr =
      "count by (__name__) ({__name__=~" +
      query::QuotePromqlString(query::JoinRegexAlternatives(DiscoveryNames(entries_))) + "})";
  Result<query::QueryResult> answer =
      client_.Query(expr, std::nullopt, std::chrono::steady_clock::now() + kDiscoveryTimeout);
  if (!answer.ok()) return answer.status();
  if (answer->type != query::QueryResult::Type::kVector) {
    return InternalError("catalog discovery: the answer is not a vector");
  }
  auto present = std::make_shared<std::set<std::string>>();
  for (const query::InstantSeries& s : answer->vector) {
    auto name = s.labels.find("__name__");
    if (name != s.labels.end()) present->insert(name->second);
  }
  pod_labels_available_.store(present->count(std::string(kPodLabels)) > 0);
  size_t listed = 0;
  for (const CatalogEntry* e : entries_) listed += Present(*e, *present) ? 1 : 0;
  SEXTANT_VLOG(1) << "catalog discovery: " << listed << " of " << entries_.size()
                  << " entries have series; kube_pod_labels "
                  << (pod_labels_available_.load() ? "present" : "absent");
  std::lock_guard<std::mutex> lock(mu_);
  present_ = std::move(present);
  return OkStatus();
}

bool CatalogProvider::Present(const CatalogEntry& entry,
                              const std::set<std::string>& names) const {
  const std::vector<std::string> series = CatalogSeriesNames(entry);
  const bool needs_all = entry.plan == CatalogPlan::kUsedRatio ||
                         entry.plan == CatalogPlan::kIncreaseRatio ||
                         entry.family == CatalogFamily::kKubeState;
  size_t found = 0;
  for (const std::string& n : series) found += names.count(n);
  return needs_all ? found == series.size() : found > 0;
}

size_t CatalogProvider::listed_entries() const {
  std::shared_ptr<const std::set<std::string>> present;
  {
    std::lock_guard<std::mutex> lock(mu_);
    present = present_;
  }
  if (!present) return 0;
  size_t n = 0;
  for (const CatalogEntry* e : entries_) n += Present(*e, *present) ? 1 : 0;
  return n;
}

bool CatalogProvider::Serves(const std::string& name) const {
  const CatalogEntry* e = FindCatalogEntry(name);
  return e != nullptr && config_.Serves(std::string(e->name));
}

std::vector<apiserver::ExternalMetricInfo> CatalogProvider::ListExternalMetrics() {
  std::shared_ptr<const std::set<std::string>> present;
  {
    std::lock_guard<std::mutex> lock(mu_);
    present = present_;
  }
  std::vector<apiserver::ExternalMetricInfo> out;
  if (!present) return out;
  for (const CatalogEntry* e : entries_) {
    if (!Present(*e, *present)) continue;
    const bool namespaced =
        e->family == CatalogFamily::kDcgm || e->family == CatalogFamily::kServer;
    out.push_back({std::string(e->name), namespaced});
  }
  return out;
}

Result<std::vector<apiserver::ExternalMetricValue>> CatalogProvider::GetExternalMetric(
    const apiserver::ExternalMetricRequest& request) {
  const CatalogEntry* entry = FindCatalogEntry(request.metric_name);
  if (entry == nullptr || !config_.Serves(std::string(entry->name))) {
    return NotFoundError("the server could not find the metric \"" + request.metric_name + "\"");
  }
  Result<CatalogRequest> plan =
      CatalogRequest::Make(*entry, config_, request.namespace_name, request.selector,
                           pod_labels_available_.load());
  if (!plan.ok()) return plan.status();
  // Pod-label requirements: the pods first, through their own small subscription, so that
  // the entry's series subscription stays shared by every selector of the namespace.
  std::set<std::pair<std::string, std::string>> pods;
  Status status;
  if (plan->has_pod_requirements()) {
    status = store_.Read(plan->pod_labels_selector(), plan->window(), request.deadline,
                         [&](const WindowView& view) { pods = plan->PodsOf(view); });
  }
  std::optional<double> value;
  int64_t t = 0;
  if (status.ok()) {
    status = store_.Read(plan->selector(), plan->window(), request.deadline,
                         [&](const WindowView& view) {
                           value = EvaluateCatalog(*plan, view, pods, store_.options().version);
                           t = view.eval_time_ms;
                         });
  }
  if (!status.ok()) {
    SEXTANT_LOG(WARNING) << "catalog \"" << entry->name << "\" failed: " << status.ToString()
                         << "; series: " << OneLine(plan->selector())
                         << (plan->has_pod_requirements() ? "; " + plan->pod_labels_selector()
                                                          : "");
    return ClientSafe(status, std::string(entry->name));
  }
  std::vector<apiserver::ExternalMetricValue> items;
  if (!value) {
    SEXTANT_VLOG(2) << "catalog \"" << entry->name << "\" t=" << t / 1000 << " no value";
    return items;
  }
  SEXTANT_VLOG(2) << "catalog \"" << entry->name << "\" t=" << t / 1000
                  << " value=" << Digits17(*value);
  Result<apiserver::Quantity> quantity = apiserver::Quantity::FromDouble(*value);
  if (!quantity.ok()) {  // NaN or ±Inf never become a value
    non_finite_dropped_.fetch_add(1);
    return items;
  }
  items.push_back({std::string(entry->name), {}, FromMillis(t),
                   plan->window().count() / 1000, std::move(*quantity)});
  return items;
}

}  // namespace sextant::scaling
