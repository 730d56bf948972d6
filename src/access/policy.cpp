// access/policy.cpp — the policy JSON: parsing with duplicate-key detection (nlohmann keeps
// the last of two equal keys silently; a policy must not), validation with messages that name
// the offending field, export in the same form, and resource paths of stored documents.
#include <algorithm>
#include <cctype>
#include <set>

#include "access/access.h"

namespace inhouse::access {
namespace {

using nlohmann::json;

std::string show(std::string_view s) {
  std::string out = "\"";
  for (char c : s.substr(0, 120)) {
    if (static_cast<unsigned char>(c) < 0x20) out += '?';
    else out += c;
  }
  if (s.size() > 120) out += "...";
  return out + "\"";
}

bool valid_kb_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// Why a resource key is invalid, or "" when it is fine.
std::string resource_key_problem(std::string_view key) {
  if (key == "*") return "";
  if (key.empty()) return "empty";
  if (key.size() > 4096) return "longer than 4096 bytes";
  const size_t slash = key.find('/');
  const std::string_view kb = key.substr(0, slash);
  if (!valid_kb_name(kb))
    return "starts with " + show(kb) + ", not a knowledge base name (1-64 of A-Z a-z 0-9 _ . -) or \"*\"";
  if (slash == std::string_view::npos) return "";
  std::string_view rest = key.substr(slash + 1);
  if (rest.empty() || rest.back() == '/') return "ends with '/' (write \"kb/folder\")";
  while (!rest.empty()) {
    const size_t next = rest.find('/');
    const std::string_view seg = rest.substr(0, next);
    if (seg.empty()) return "has an empty path segment (\"//\")";
    if (seg == "." || seg == "..") return "has a \".\" or \"..\" segment";
    if (std::any_of(seg.begin(), seg.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      return "contains a control character";
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
  }
  return "";
}

// Parses JSON text, failing on the first key that appears twice in one object.
json parse_strict(std::string_view text) {
  struct Level {
    std::set<std::string> keys;
    std::string last;  // the key being read at this level (for the path in messages)
  };
  std::vector<Level> levels;
  std::string duplicate;
  auto callback = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: levels.emplace_back(); break;
      case json::parse_event_t::object_end:
        if (!levels.empty()) levels.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        if (!levels.empty() && !levels.back().keys.insert(key).second && duplicate.empty()) {
          for (size_t i = 0; i + 1 < levels.size(); ++i) duplicate += show(levels[i].last) + ".";
          duplicate += show(key);
        }
        if (!levels.empty()) levels.back().last = key;
        break;
      }
      default: break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    throw PolicyError(std::string("not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) throw PolicyError("duplicate key " + duplicate);
  return j;
}

std::map<std::string, std::vector<Permission>> parse_roles(const json& roles) {
  if (!roles.is_object()) throw PolicyError("\"roles\" must be an object of role name -> [permissions]");
  std::map<std::string, std::vector<Permission>> out;
  for (const auto& [name, perms] : roles.items()) {
    const std::string field = "roles." + show(name);
    if (!valid_name(name))
      throw PolicyError("role name " + show(name) + " is invalid: use 1-64 characters of letters, digits, _ - . @");
    if (!perms.is_array()) throw PolicyError(field + " must be an array of permissions (\"read\", \"write\", \"delete\")");
    std::vector<Permission> list;
    for (size_t i = 0; i < perms.size(); ++i) {
      const std::string at = field + "[" + std::to_string(i) + "]";
      const auto p = perms[i].is_string() ? parse_permission(perms[i].get<std::string>()) : std::nullopt;
      if (!p) throw PolicyError(at + ": " + perms[i].dump() + " is not a permission (use \"read\", \"write\", \"delete\")");
      if (std::find(list.begin(), list.end(), *p) != list.end())
        throw PolicyError(at + ": \"" + permission_name(*p) + "\" is listed twice");
      list.push_back(*p);
    }
    out[name] = std::move(list);
  }
  return out;
}

std::map<std::string, std::vector<std::string>> parse_resources(
    const json& resources, const std::map<std::string, std::vector<Permission>>& roles) {
  if (!resources.is_object()) throw PolicyError("\"resources\" must be an object of resource -> [role names]");
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [key, allowed] : resources.items()) {
    const std::string field = "resources." + show(key);
    if (const std::string problem = resource_key_problem(key); !problem.empty())
      throw PolicyError("resource key " + show(key) + " " + problem +
                        " (use \"kb\", \"kb/folder\", \"kb/path/to/doc.md\" or \"*\")");
    if (!allowed.is_array()) throw PolicyError(field + " must be an array of role names");
    std::vector<std::string> list;
    for (size_t i = 0; i < allowed.size(); ++i) {
      const std::string at = field + "[" + std::to_string(i) + "]";
      if (!allowed[i].is_string()) throw PolicyError(at + ": " + allowed[i].dump() + " is not a role name");
      const std::string role = allowed[i].get<std::string>();
      if (!roles.contains(role)) throw PolicyError(at + ": role " + show(role) + " is not defined in \"roles\"");
      if (std::find(list.begin(), list.end(), role) != list.end())
        throw PolicyError(at + ": role " + show(role) + " is listed twice");
      list.push_back(role);
    }
    out[key] = std::move(list);
  }
  return out;
}

}  // namespace

const char* permission_name(Permission p) {
  switch (p) {
    case Permission::Read: return "read";
    case Permission::Write: return "write";
    case Permission::Delete: return "delete";
  }
  return "?";
}

std::optional<Permission> parse_permission(std::string_view name) {
  if (name == "read") return Permission::Read;
  if (name == "write") return Permission::Write;
  if (name == "delete") return Permission::Delete;
  return std::nullopt;
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '@';
  });
}

bool valid_resource_key(std::string_view key) { return resource_key_problem(key).empty(); }

Policy Policy::parse(std::string_view json_text) { return from_json(parse_strict(json_text)); }

Policy Policy::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw PolicyError("the policy must be a JSON object {\"roles\": {...}, \"resources\": {...}}");
  for (const auto& [key, value] : j.items())
    if (key != "roles" && key != "resources")
      throw PolicyError("unknown top-level key " + show(key) + " (only \"roles\" and \"resources\")");
  if (!j.contains("roles")) throw PolicyError("missing \"roles\"");
  if (!j.contains("resources")) throw PolicyError("missing \"resources\"");
  Policy p;
  p.roles = parse_roles(j.at("roles"));
  p.resources = parse_resources(j.at("resources"), p.roles);
  return p;
}

nlohmann::json Policy::to_json() const {
  json roles_json = json::object(), resources_json = json::object();
  for (const auto& [name, perms] : roles) {
    json list = json::array();
    for (Permission p : perms) list.push_back(permission_name(p));
    roles_json[name] = std::move(list);
  }
  for (const auto& [key, allowed] : resources) resources_json[key] = allowed;
  return {{"roles", std::move(roles_json)}, {"resources", std::move(resources_json)}};
}

std::string document_resource_path(const kb::KbInfo& kb, const std::string& stored_path) {
  // Documents uploaded over HTTP are stored as "upload:NAME" and named NAME.
  if (stored_path.rfind("upload:", 0) == 0) {
    const size_t start = stored_path.find_first_not_of('/', 7);
    return start == std::string::npos ? std::string() : stored_path.substr(start);
  }
  std::string best;
  size_t best_root = 0;
  for (std::string root : kb.roots) {
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (root.empty() || root.size() < best_root) continue;
    if (stored_path == root) {  // the root is this file: its file name
      best = stored_path.substr(stored_path.find_last_of('/') + 1);
      best_root = root.size();
    } else {
      const std::string prefix = root == "/" ? root : root + "/";
      if (stored_path.starts_with(prefix) && stored_path.size() > prefix.size()) {
        best = stored_path.substr(prefix.size());
        best_root = root.size();
      }
    }
  }
  if (best_root > 0) return best;
  const size_t start = stored_path.find_first_not_of('/');
  return start == std::string::npos ? std::string() : stored_path.substr(start);
}

}  // namespace inhouse::access
