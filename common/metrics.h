// Metric families with fixed label names, on a prometheus-cpp registry. A component declares
// each metric once, as a member built from the registry it is given (never a global), and
// counts with one call:
//
//   common::CounterVec deliveries_{registry, "utpost_courier_deliveries_total",
//                                  "Delivery attempts by provider and outcome",
//                                  {"provider", "outcome"}};
//   deliveries_.Inc({provider, "delivered"});
//
// Names follow Prometheus conventions: utpost_<component>_<thing>_<unit>, counters end in
// _total, durations in _seconds, sizes in _bytes. Label values must come from bounded sets
// (an organisation key, a channel, a reason, an enum's name; never a letter id, a person or
// free text): every distinct combination is a time series kept for the life of the process.
// Registering a name twice on one registry returns the same family (prometheus-cpp), so two
// instances of a component in one process share their series.
// Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace utpost::common {

// Latency buckets in seconds, from 1 ms to 10 minutes: a call, a delivery, a letter's way
// from acceptance to its channel.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

class CounterVec {
 public:
  CounterVec(prometheus::Registry& registry, const std::string& name, const std::string& help,
             std::vector<std::string> label_names);
  // Adds `by` (>= 0) to the series of `values`, one per label name, in order. A wrong number
  // of values is a programming error: it crashes (the label names are fixed at compile time).
  void Inc(std::initializer_list<std::string_view> values, double by = 1);
  // The series of `values`, created at zero if new (so that rates see its first increase).
  prometheus::Counter& At(std::initializer_list<std::string_view> values);

 private:
  prometheus::Family<prometheus::Counter>& family_;
  const std::vector<std::string> label_names_;
};

class GaugeVec {
 public:
  GaugeVec(prometheus::Registry& registry, const std::string& name, const std::string& help,
           std::vector<std::string> label_names);
  void Set(std::initializer_list<std::string_view> values, double value);

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  const std::vector<std::string> label_names_;
};

class HistogramVec {
 public:
  HistogramVec(prometheus::Registry& registry, const std::string& name, const std::string& help,
               std::vector<std::string> label_names,
               prometheus::Histogram::BucketBoundaries buckets = LatencyBuckets());
  void Observe(std::initializer_list<std::string_view> values, double value);

 private:
  prometheus::Family<prometheus::Histogram>& family_;
  const std::vector<std::string> label_names_;
  const prometheus::Histogram::BucketBoundaries buckets_;
};

}  // namespace utpost::common
