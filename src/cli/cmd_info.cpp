// inhouse info FILE [--json]: what a GGUF file holds — architecture, hyper-parameters,
// tokenizer summary, tensor table and sizes.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "gguf/gguf.h"

namespace inhouse::cli {
namespace {

using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;
using nlohmann::json;

json value_to_json(const Value& v, size_t max_items) {
  switch (v.type()) {
    case ValueType::STRING: return std::string(v.as_string());
    case ValueType::BOOL: return v.as_bool();
    case ValueType::FLOAT32: case ValueType::FLOAT64: return v.as_float();
    case ValueType::ARRAY: {
      json j = {{"type", gguf::value_type_name(v.element_type())}, {"length", v.size()}};
      json head = json::array();
      for (size_t i = 0; i < v.size() && i < max_items; ++i) head.push_back(value_to_json(v.items()[i], max_items));
      j["head"] = head;
      return j;
    }
    case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
      return v.as_int();
    default: return v.as_uint();
  }
}

std::string shape_string(const gguf::TensorInfo& t) {
  std::string s;
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? " x " : "") + std::to_string(t.shape[i]);
  return s;
}

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / (1ull << 30));
  else if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / (1ull << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.2f KiB", double(b) / 1024);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

json tokenizer_summary(const GgufFile& f) {
  json t = json::object();
  if (auto m = f.get_string("tokenizer.ggml.model")) t["model"] = std::string(*m);
  if (auto p = f.get_string("tokenizer.ggml.pre")) t["pre"] = std::string(*p);
  if (auto* tokens = f.get_array("tokenizer.ggml.tokens")) t["n_tokens"] = tokens->size();
  if (auto* merges = f.get_array("tokenizer.ggml.merges")) t["n_merges"] = merges->size();
  for (const char* k : {"bos", "eos", "eot", "unknown", "separator", "padding"}) {
    if (auto id = f.get_int(std::string("tokenizer.ggml.") + k + "_token_id")) t[std::string(k) + "_id"] = *id;
  }
  if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) t["add_bos"] = *b;
  if (auto e = f.get_bool("tokenizer.ggml.add_eos_token")) t["add_eos"] = *e;
  t["chat_template"] = f.find("tokenizer.chat_template") != nullptr;
  return t;
}

json info_json(const GgufFile& f) {
  std::string arch = f.architecture();
  json hparams = json::object(), general = json::object(), tensors = json::array();
  for (const auto& kv : f.metadata()) {
    if (!arch.empty() && kv.key.rfind(arch + ".", 0) == 0) hparams[kv.key.substr(arch.size() + 1)] = value_to_json(kv.value, 8);
    else if (kv.key.rfind("general.", 0) == 0) general[kv.key] = value_to_json(kv.value, 8);
  }
  uint64_t total = 0;
  std::map<std::string, uint64_t> by_type;
  for (const auto& t : f.tensors()) {
    tensors.push_back({{"name", t.name}, {"type", gguf::tensor_type_name(t.type)}, {"shape", t.shape},
                       {"bytes", t.n_bytes}, {"offset", f.data_offset() + t.offset}});
    total += t.n_bytes;
    by_type[gguf::tensor_type_name(t.type)] += 1;
  }
  return {{"file", f.path()}, {"version", f.version()}, {"file_bytes", f.file_size()},
          {"architecture", arch}, {"alignment", f.alignment()}, {"general", general},
          {"hyperparameters", hparams}, {"tokenizer", tokenizer_summary(f)},
          {"n_tensors", f.tensors().size()}, {"tensor_bytes", total}, {"tensor_types", by_type},
          {"tensors", tensors}};
}

void print_text(const GgufFile& f) {
  json j = info_json(f);
  std::cout << "file:          " << f.path() << " (" << human_bytes(f.file_size()) << ", GGUF v" << f.version() << ")\n";
  std::cout << "architecture:  " << (j["architecture"].get<std::string>().empty() ? "(none)" : j["architecture"].get<std::string>()) << "\n";
  if (auto name = f.get_string("general.name")) std::cout << "name:          " << *name << "\n";
  std::string arch = f.architecture();
  if (!j["hyperparameters"].empty()) {
    std::cout << "\nhyper-parameters:\n";
    for (const auto& kv : f.metadata())
      if (!arch.empty() && kv.key.rfind(arch + ".", 0) == 0)
        std::cout << "  " << kv.key.substr(arch.size() + 1) << " = " << kv.value.to_string() << "\n";
  }
  std::cout << "\ntokenizer:     " << j["tokenizer"].dump() << "\n";
  std::cout << "\ntensors: " << f.tensors().size() << ", " << human_bytes(j["tensor_bytes"].get<uint64_t>()) << " "
            << j["tensor_types"].dump() << "\n";
  if (!f.tensors().empty()) {
    std::printf("  %-40s %-6s %-24s %12s\n", "name", "type", "shape", "bytes");
    for (const auto& t : f.tensors())
      std::printf("  %-40s %-6s %-24s %12llu\n", t.name.c_str(), gguf::tensor_type_name(t.type),
                  shape_string(t).c_str(), static_cast<unsigned long long>(t.n_bytes));
  }
}

}  // namespace

void register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show what a GGUF file holds");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("file", *path, "GGUF file")->required();
  cmd->add_flag("--json", *as_json, "Machine-readable output");
  cmd->callback([path, as_json] {
    GgufFile f = GgufFile::open(*path);
    if (*as_json) std::cout << info_json(f).dump(2) << "\n";
    else print_text(f);
  });
}

}  // namespace inhouse::cli
