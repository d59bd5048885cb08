#include "common/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <map>

namespace utpost::common {
namespace {

std::map<std::string, std::string> Labels(const std::vector<std::string>& names,
                                          std::initializer_list<std::string_view> values) {
  if (names.size() != values.size()) {
    // The label names and every call site are fixed in the code: a mismatch is a bug that
    // would otherwise make a series with half its labels.
    std::fprintf(stderr, "metrics: %zu label values for %zu label names\n", values.size(),
                 names.size());
    std::abort();
  }
  std::map<std::string, std::string> labels;
  auto value = values.begin();
  for (const std::string& name : names) labels.emplace(name, std::string(*value++));
  return labels;
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
      1,     2.5,    5,     10,   30,    60,   120, 300,  600};
  return kBuckets;
}

CounterVec::CounterVec(prometheus::Registry& registry, const std::string& name,
                       const std::string& help, std::vector<std::string> label_names)
    : family_(prometheus::BuildCounter().Name(name).Help(help).Register(registry)),
      label_names_(std::move(label_names)) {}

void CounterVec::Inc(std::initializer_list<std::string_view> values, double by) {
  At(values).Increment(by);
}

prometheus::Counter& CounterVec::At(std::initializer_list<std::string_view> values) {
  return family_.Add(Labels(label_names_, values));
}

GaugeVec::GaugeVec(prometheus::Registry& registry, const std::string& name, const std::string& help,
                   std::vector<std::string> label_names)
    : family_(prometheus::BuildGauge().Name(name).Help(help).Register(registry)),
      label_names_(std::move(label_names)) {}

void GaugeVec::Set(std::initializer_list<std::string_view> values, double value) {
  family_.Add(Labels(label_names_, values)).Set(value);
}

HistogramVec::HistogramVec(prometheus::Registry& registry, const std::string& name,
                           const std::string& help, std::vector<std::string> label_names,
                           prometheus::Histogram::BucketBoundaries buckets)
    : family_(prometheus::BuildHistogram().Name(name).Help(help).Register(registry)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

void HistogramVec::Observe(std::initializer_list<std::string_view> values, double value) {
  family_.Add(Labels(label_names_, values), buckets_).Observe(value);
}

}  // namespace utpost::common
