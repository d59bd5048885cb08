#include "services/common/server_reflection.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace utpost::service {
namespace {

namespace rv1 = ::grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// What the reflection service may tell: the services of the server and every file they use.
class Catalogue {
 public:
  void Set(const std::vector<std::string>& services) {
    const DescriptorPool* pool = DescriptorPool::generated_pool();
    std::lock_guard lock(mu_);
    services_ = services;
    std::vector<const FileDescriptor*> pending;
    for (const std::string& name : services) {
      if (const auto* service = pool->FindServiceByName(name)) pending.push_back(service->file());
    }
    while (!pending.empty()) {
      const FileDescriptor* file = pending.back();
      pending.pop_back();
      if (!files_.insert(file).second) continue;
      for (int i = 0; i < file->dependency_count(); ++i) pending.push_back(file->dependency(i));
    }
  }

  std::vector<std::string> services() const {
    std::lock_guard lock(mu_);
    return services_;
  }

  bool Offers(const FileDescriptor* file) const {
    std::lock_guard lock(mu_);
    return file != nullptr && files_.contains(file);
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> services_;
  absl::flat_hash_set<const FileDescriptor*> files_;
};

void SetError(rv1::ServerReflectionResponse& response, grpc::StatusCode code, std::string message) {
  response.mutable_error_response()->set_error_code(static_cast<int>(code));
  response.mutable_error_response()->set_error_message(std::move(message));
}

// `file` and its transitive dependencies, each once, the file first.
void FillFiles(const FileDescriptor* file, rv1::ServerReflectionResponse& response) {
  std::vector<const FileDescriptor*> order;
  absl::flat_hash_set<const FileDescriptor*> seen;
  std::vector<const FileDescriptor*> pending = {file};
  while (!pending.empty()) {
    const FileDescriptor* next = pending.back();
    pending.pop_back();
    if (!seen.insert(next).second) continue;
    order.push_back(next);
    if (order.size() > kMaxReflectionFilesPerResponse) {
      SetError(response, grpc::StatusCode::RESOURCE_EXHAUSTED,
               absl::StrCat(file->name(), " needs more than ", kMaxReflectionFilesPerResponse,
                            " files"));
      return;
    }
    for (int i = next->dependency_count() - 1; i >= 0; --i) pending.push_back(next->dependency(i));
  }
  auto* files = response.mutable_file_descriptor_response();
  for (const FileDescriptor* f : order) {
    google::protobuf::FileDescriptorProto proto;
    f->CopyTo(&proto);
    files->add_file_descriptor_proto(proto.SerializeAsString());
  }
}

void Answer(const Catalogue& catalogue, const rv1::ServerReflectionRequest& request,
            rv1::ServerReflectionResponse& response) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  response.Clear();
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case rv1::ServerReflectionRequest::kListServices:
      for (const std::string& name : catalogue.services()) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      return;
    case rv1::ServerReflectionRequest::kFileByFilename: {
      const FileDescriptor* file = pool->FindFileByName(request.file_by_filename());
      if (!catalogue.Offers(file)) {
        SetError(response, grpc::StatusCode::NOT_FOUND, "file not found");
        return;
      }
      FillFiles(file, response);
      return;
    }
    case rv1::ServerReflectionRequest::kFileContainingSymbol: {
      const FileDescriptor* file = pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (!catalogue.Offers(file)) {
        SetError(response, grpc::StatusCode::NOT_FOUND, "symbol not found");
        return;
      }
      FillFiles(file, response);
      return;
    }
    case rv1::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(ext.containing_type());
      const auto* extension =
          type == nullptr ? nullptr : pool->FindExtensionByNumber(type, ext.extension_number());
      if (extension == nullptr || !catalogue.Offers(extension->file())) {
        SetError(response, grpc::StatusCode::NOT_FOUND, "extension not found");
        return;
      }
      FillFiles(extension->file(), response);
      return;
    }
    case rv1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr || !catalogue.Offers(type->file())) {
        SetError(response, grpc::StatusCode::NOT_FOUND, "type not found");
        return;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* extension : extensions) {
        if (catalogue.Offers(extension->file())) numbers->add_extension_number(extension->number());
      }
      return;
    }
    case rv1::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      SetError(response, grpc::StatusCode::INVALID_ARGUMENT, "the request asks nothing");
      return;
  }
}

// One stream: read a request, write its answer, repeat until the client is done.
class Reactor final
    : public grpc::ServerBidiReactor<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse> {
 public:
  explicit Reactor(const Catalogue& catalogue) : catalogue_(catalogue) { StartRead(&request_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    if (request_.ByteSizeLong() > kMaxReflectionRequestBytes) {
      Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("a reflection request has at most ", kMaxReflectionRequestBytes, " bytes")));
      return;
    }
    Answer(catalogue_, request_, response_);
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  const Catalogue& catalogue_;
  rv1::ServerReflectionRequest request_;
  rv1::ServerReflectionResponse response_;
};

class ReflectionService final : public rv1::ServerReflection::CallbackService {
 public:
  grpc::ServerBidiReactor<rv1::ServerReflectionRequest, rv1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* /*context*/) override {
    return new Reactor(catalogue_);
  }

  Catalogue& catalogue() { return catalogue_; }

 private:
  Catalogue catalogue_;
};

// Registers the service with the server being built (which then owns it) and hands it the
// server's service list once every service is registered.
class ReflectionPlugin final : public grpc::ServerBuilderPlugin {
 public:
  std::string name() override { return "utpost_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* si) override { si->RegisterService(service_); }
  void Finish(grpc::ServerInitializer* si) override {
    service_->catalogue().Set(*si->GetServiceList());
  }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  std::shared_ptr<ReflectionService> service_ = std::make_shared<ReflectionService>();
};

class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ReflectionPlugin>());
  }
};

}  // namespace

void AddServerReflectionV1(grpc::ServerBuilder& builder) {
  builder.SetOption(std::make_unique<ReflectionOption>());
}

}  // namespace utpost::service
