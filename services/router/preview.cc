#include "services/router/preview.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "services/common/lease_loop.h"
#include "services/router/decide.h"

namespace utpost::router {
namespace {

// As router.cc: a decision's detail is at most this long.
constexpr size_t kMaxDetail = 1000;

// Reasons by count, largest first; equal counts in the order of the enum.
void AddReasons(const std::map<v1::StatusReason, uint64_t>& counts,
                google::protobuf::RepeatedPtrField<v1::PaperReasonCount>& out) {
  std::vector<std::pair<v1::StatusReason, uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [reason, letters] : sorted) {
    v1::PaperReasonCount& c = *out.Add();
    c.set_reason(reason);
    c.set_letters(letters);
  }
}

v1::Money Amount(const std::string& currency, int64_t minor_units) {
  v1::Money money;
  money.set_currency_code(currency);
  money.set_minor_units(minor_units);
  return money;
}

}  // namespace

PreviewPlan PlanPreview(const v1::PreviewRoutesRequest& request) {
  PreviewPlan plan;
  plan.key_of.assign(static_cast<size_t>(request.recipients_size()), -1);
  absl::flat_hash_map<std::string, int> index;
  for (int i = 0; i < request.recipients_size(); ++i) {
    const v1::Recipient& recipient = request.recipients(i).recipient();
    std::string dedup = RecipientDedupKey(recipient);
    if (dedup.empty()) continue;
    auto [it, inserted] = index.try_emplace(std::move(dedup), static_cast<int>(plan.keys.size()));
    if (inserted) plan.keys.push_back(*RegistryKeyFor(recipient));
    plan.key_of[static_cast<size_t>(i)] = it->second;
  }
  return plan;
}

internal::v1::TaskLetter PreviewLetter(const v1::PreviewRecipient& recipient,
                                       const v1::DeliveryOptions& options) {
  internal::v1::TaskLetter letter;
  *letter.mutable_recipient() = recipient.recipient();
  *letter.mutable_options() = options;
  if (recipient.has_postal_address()) {
    // Any non-empty address will do: Decide asks only whether the letter has one.
    letter.mutable_postal_address()->set_country_code("NO");
  }
  return letter;
}

absl::StatusOr<v1::PreviewRoutesResponse> PreviewFrom(const v1::PreviewRoutesRequest& request,
                                                      const PreviewPlan& plan,
                                                      const std::vector<v1::LookupResult>& results,
                                                      const v1::PriceTable& prices) {
  if (results.size() != plan.keys.size() ||
      plan.key_of.size() != static_cast<size_t>(request.recipients_size())) {
    return absl::UnavailableError(absl::StrCat("the registry answered ", results.size(),
                                               " results for ", plan.keys.size(),
                                               " recipients; retry with backoff"));
  }
  v1::PreviewRoutesResponse response;
  response.mutable_routes()->Reserve(request.recipients_size());
  std::map<v1::StatusReason, uint64_t> paper_reasons;
  std::map<v1::StatusReason, uint64_t> failed_reasons;
  for (int i = 0; i < request.recipients_size(); ++i) {
    const v1::PreviewRecipient& recipient = request.recipients(i);
    const int k = plan.key_of[static_cast<size_t>(i)];
    const v1::LookupResult* result = k >= 0 ? &results[static_cast<size_t>(k)] : nullptr;
    if (result != nullptr && !LookupAnswersRecipient(recipient.recipient(), *result)) {
      return absl::UnavailableError(absl::StrCat("the registry's answer for recipients[", i,
                                                 "] is about another entry; retry with backoff"));
    }
    Decision decision = Decide(PreviewLetter(recipient, request.options()), result);
    v1::PreviewRoute& route = *response.add_routes();
    route.set_status(decision.status);
    route.set_channel(decision.channel);
    route.set_reason(decision.reason);
    if (decision.detail.size() > kMaxDetail) decision.detail.resize(kMaxDetail);
    route.set_detail(std::move(decision.detail));
    if (decision.status != v1::LETTER_STATUS_ROUTED) {
      response.set_failed(response.failed() + 1);
      ++failed_reasons[decision.reason];
      continue;
    }
    switch (decision.channel) {
      case v1::CHANNEL_DIGITAL_MAILBOX:
        response.set_digital_mailbox(response.digital_mailbox() + 1);
        break;
      case v1::CHANNEL_ORGANISATION_INBOX:
        response.set_organisation_inbox(response.organisation_inbox() + 1);
        break;
      default:
        response.set_paper(response.paper() + 1);
        ++paper_reasons[decision.reason];
        break;
    }
  }
  AddReasons(paper_reasons, *response.mutable_paper_by_reason());
  AddReasons(failed_reasons, *response.mutable_failed_by_reason());

  const std::string& currency = prices.print_per_letter().currency_code();
  const int64_t paper_price =
      prices.print_per_letter().minor_units() + prices.postage_per_letter().minor_units();
  const int64_t digital_price = prices.digital_per_letter().minor_units();
  const auto paper = static_cast<int64_t>(response.paper());
  const auto digital =
      static_cast<int64_t>(response.digital_mailbox() + response.organisation_inbox());
  *response.mutable_estimated_cost() =
      Amount(currency, paper * paper_price + digital * digital_price);
  *response.mutable_cost_avoided() = Amount(currency, digital * (paper_price - digital_price));
  *response.mutable_prices() = prices;
  return response;
}

RoutePreview::RoutePreview(std::shared_ptr<grpc::ChannelInterface> registry, v1::PriceTable prices,
                           absl::Duration timeout)
    : registry_(internal::v1::RegistryLookupService::NewStub(std::move(registry))),
      prices_(std::move(prices)),
      timeout_(timeout) {}

void RoutePreview::Run(v1::PreviewRoutesRequest request, Done done) {
  // Everything the call needs, alive until its callback has run.
  struct Call {
    v1::PreviewRoutesRequest request;
    PreviewPlan plan;
    grpc::ClientContext context;
    internal::v1::LookupRequest lookup;
    internal::v1::LookupResponse answer;
    Done done;
    std::shared_ptr<RoutePreview> self;
  };
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->plan = PlanPreview(call->request);
  if (call->plan.keys.empty()) {
    done(PreviewFrom(call->request, call->plan, {}, prices_));
    return;
  }
  call->done = std::move(done);
  call->self = shared_from_this();
  call->context.set_deadline(std::chrono::system_clock::now() +
                             absl::ToChronoNanoseconds(timeout_));
  for (const v1::RegistryKey& key : call->plan.keys) *call->lookup.add_keys() = key;
  registry_->async()->Lookup(
      &call->context, &call->lookup, &call->answer, [call](grpc::Status status) {
        if (!status.ok()) {
          call->done(absl::UnavailableError(absl::StrCat("the registry did not answer (",
                                                         service::CodeName(status.error_code()),
                                                         "); retry with backoff")));
          return;
        }
        std::vector<v1::LookupResult> results;
        results.reserve(static_cast<size_t>(call->answer.results_size()));
        for (v1::LookupResult& r : *call->answer.mutable_results()) results.push_back(std::move(r));
        call->done(PreviewFrom(call->request, call->plan, results, call->self->prices_));
      });
}

}  // namespace utpost::router
