// The one table behind every recipe section. A config struct lists its fields once, in a
// `void describe(config::Visitor&)` member; reading YAML, checking values, printing the effective config,
// saving it, and writing docs/recipes.md are all visitors over that same table, so they cannot drift.
//
//   struct LoraConfig {
//     int64_t rank = 8;
//     void describe(config::Visitor& v) {
//       v.field("rank", rank, "adapter rank", config::Constraint::at_least(1));
//     }
//   };
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace mha2mla::config {

struct Constraint {
  std::optional<double> min;          // inclusive lower bound for numbers (each element for lists)
  std::optional<double> max;          // inclusive upper bound
  bool min_exclusive = false;         // turns `min` into a strict bound
  std::vector<std::string> choices;   // allowed values for strings (each element for lists)

  static Constraint range(double lo, double hi) { return {lo, hi, false, {}}; }
  static Constraint at_least(double lo) { return {lo, std::nullopt, false, {}}; }
  static Constraint positive() { return {0.0, std::nullopt, true, {}}; }
  static Constraint one_of(std::initializer_list<std::string> values) { return {{}, {}, false, values}; }

  // "" when `value` satisfies the constraint, else what was expected ("expected >= 1").
  std::string violation(double value) const;
  std::string violation(const std::string& value) const;
  // Human-readable summary for docs ("> 0", "one of a, b", "").
  std::string describe() const;
};

class Visitor;

// Type-erased access to a std::vector of sections (e.g. data.datasets), for visitors that need to size it.
class SectionList {
 public:
  virtual ~SectionList() = default;
  virtual size_t size() const = 0;
  virtual void resize(size_t n) = 0;
  virtual void visit(size_t index, Visitor& visitor) = 0;
  // Visits a default-constructed element (for docs and key listings).
  virtual void visit_prototype(Visitor& visitor) = 0;
};

class Visitor {
 public:
  virtual ~Visitor() = default;
  virtual void field(const char* key, bool& value, const char* doc) = 0;
  virtual void field(const char* key, int64_t& value, const char* doc, const Constraint& c = {}) = 0;
  virtual void field(const char* key, double& value, const char* doc, const Constraint& c = {}) = 0;
  virtual void field(const char* key, std::string& value, const char* doc, const Constraint& c = {}) = 0;
  virtual void field(const char* key, std::vector<int64_t>& value, const char* doc, const Constraint& c = {}) = 0;
  virtual void field(const char* key, std::vector<double>& value, const char* doc, const Constraint& c = {}) = 0;
  virtual void field(const char* key, std::vector<std::string>& value, const char* doc,
                     const Constraint& c = {}) = 0;
  virtual void section(const char* key, const char* doc, const std::function<void(Visitor&)>& body) = 0;
  virtual void section_list(const char* key, const char* doc, SectionList& list) = 0;

  // Convenience for structs with a describe() member.
  template <typename T>
  void section(const char* key, const char* doc, T& value) {
    section(key, doc, [&value](Visitor& v) { value.describe(v); });
  }
  template <typename T>
  void section_list(const char* key, const char* doc, std::vector<T>& items);
};

template <typename T>
class VectorSectionList final : public SectionList {
 public:
  explicit VectorSectionList(std::vector<T>& items) : items_(items) {}
  size_t size() const override { return items_.size(); }
  void resize(size_t n) override { items_.resize(n); }
  void visit(size_t index, Visitor& visitor) override { items_[index].describe(visitor); }
  void visit_prototype(Visitor& visitor) override {
    T prototype;
    prototype.describe(visitor);
  }

 private:
  std::vector<T>& items_;
};

template <typename T>
void Visitor::section_list(const char* key, const char* doc, std::vector<T>& items) {
  VectorSectionList<T> list(items);
  section_list(key, doc, static_cast<SectionList&>(list));
}

}  // namespace mha2mla::config
