#include "data/cursor.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace mha2mla::data {

using json = nlohmann::json;

int64_t DataCounters::bad_total() const {
  int64_t n = 0;
  for (int64_t c : bad) n += c;
  return n;
}

namespace {

// Positions are written as compact arrays: a cursor may hold a few thousand of them.
json ref_json(const RecordRef& r) { return json::array({r.dataset, r.shard, r.offset, r.line, r.epoch, r.index}); }
json key_json(const SampleKey& k) {
  json j = ref_json(k.ref);
  j.push_back(k.seq);
  return j;
}

RecordRef ref_from(const json& j) {
  if (!j.is_array() || j.size() < 6) throw std::runtime_error("a record position must be a list of 6 integers");
  RecordRef r;
  r.dataset = j[0].get<int32_t>();
  r.shard = j[1].get<int32_t>();
  r.offset = j[2].get<int64_t>();
  r.line = j[3].get<int64_t>();
  r.epoch = j[4].get<int64_t>();
  r.index = j[5].get<int64_t>();
  return r;
}
SampleKey key_from(const json& j) {
  if (!j.is_array() || j.size() != 7) throw std::runtime_error("a sample position must be a list of 7 integers");
  return {ref_from(j), j[6].get<int64_t>()};
}

json rows_json(const std::vector<std::vector<SampleKey>>& rows) {
  json out = json::array();
  for (const auto& row : rows) {
    json r = json::array();
    for (const SampleKey& k : row) r.push_back(key_json(k));
    out.push_back(std::move(r));
  }
  return out;
}
std::vector<std::vector<SampleKey>> rows_from(const json& j) {
  std::vector<std::vector<SampleKey>> rows;
  for (const json& r : j) {
    rows.emplace_back();
    for (const json& k : r) rows.back().push_back(key_from(k));
  }
  return rows;
}

}  // namespace

std::string cursor_to_json(const Cursor& c) {
  json j;
  j["version"] = c.version;
  j["rank"] = c.rank;
  j["world"] = c.world;
  j["seed"] = c.seed;
  j["split"] = c.split;
  j["datasets"] = json::array();
  for (const auto& d : c.datasets) j["datasets"].push_back({{"path", d.spec}, {"format", d.format}, {"shards", d.shards}});

  json& p = j["planner"];
  p["streams"] = json::array();
  for (const DatasetStreamState& s : c.planner.datasets)
    p["streams"].push_back({{"epoch", s.epoch},
                            {"order_pos", s.order_pos},
                            {"offset", s.shard_pos.offset},
                            {"line", s.shard_pos.line},
                            {"in_list", s.shard_pos.in_list},
                            {"index", s.index},
                            {"shard_record", s.shard_record},
                            {"split_index", s.split_index},
                            {"kept_this_epoch", s.kept_this_epoch},
                            {"reshard_skip", s.reshard_skip},
                            {"finished", s.finished}});
  p["mix_rng"] = c.planner.mix_rng;
  p["shuffle_rng"] = c.planner.shuffle_rng;
  p["next_seq"] = c.planner.next_seq;
  p["buffer"] = json::array();
  for (const RecordRef& r : c.planner.buffer) p["buffer"].push_back(ref_json(r));
  j["skip"] = c.skip;

  json& b = j["batcher"];
  b["ready"] = json::array();
  for (const auto& batch : c.batcher.ready) b["ready"].push_back(rows_json(batch));
  b["open"] = rows_json(c.batcher.open);
  b["window"] = json::array();
  for (const SampleKey& k : c.batcher.window) b["window"].push_back(key_json(k));
  b["window_index"] = c.batcher.window_index;

  json& n = j["counters"];
  n["records"] = c.counters.records;
  n["samples"] = c.counters.samples;
  n["batches"] = c.counters.batches;
  n["tokens"] = c.counters.tokens;
  n["supervised_tokens"] = c.counters.supervised_tokens;
  n["truncated"] = c.counters.truncated;
  n["bad"] = json::object();
  for (size_t r = 0; r < kBadReasonCount; ++r) n["bad"][bad_reason_name(static_cast<BadReason>(r))] = c.counters.bad[r];
  return j.dump();
}

Cursor cursor_from_json(const std::string& text, const std::string& source) {
  Cursor c;
  try {
    json j = json::parse(text);
    c.version = j.at("version").get<int64_t>();
    if (c.version != 1) fail("{}: data cursor version {} is not supported (expected 1)", source, c.version);
    c.rank = j.at("rank").get<int64_t>();
    c.world = j.at("world").get<int64_t>();
    c.seed = j.at("seed").get<uint64_t>();
    c.split = j.at("split").get<std::string>();
    for (const json& d : j.at("datasets"))
      c.datasets.push_back({d.at("path").get<std::string>(), d.at("format").get<std::string>(), d.at("shards").get<int64_t>()});

    const json& p = j.at("planner");
    for (const json& s : p.at("streams")) {
      DatasetStreamState st;
      st.epoch = s.at("epoch").get<int64_t>();
      st.order_pos = s.at("order_pos").get<int64_t>();
      st.shard_pos.offset = s.at("offset").get<int64_t>();
      st.shard_pos.line = s.at("line").get<int64_t>();
      st.shard_pos.in_list = s.at("in_list").get<bool>();
      st.index = s.at("index").get<int64_t>();
      st.shard_record = s.at("shard_record").get<int64_t>();
      st.split_index = s.at("split_index").get<int64_t>();
      st.kept_this_epoch = s.at("kept_this_epoch").get<int64_t>();
      st.reshard_skip = s.at("reshard_skip").get<int64_t>();
      st.finished = s.at("finished").get<bool>();
      c.planner.datasets.push_back(st);
    }
    c.planner.mix_rng = p.at("mix_rng").get<uint64_t>();
    c.planner.shuffle_rng = p.at("shuffle_rng").get<uint64_t>();
    c.planner.next_seq = p.at("next_seq").get<int64_t>();
    for (const json& r : p.at("buffer")) c.planner.buffer.push_back(ref_from(r));
    c.skip = j.at("skip").get<int64_t>();

    const json& b = j.at("batcher");
    for (const json& batch : b.at("ready")) c.batcher.ready.push_back(rows_from(batch));
    c.batcher.open = rows_from(b.at("open"));
    for (const json& k : b.at("window")) c.batcher.window.push_back(key_from(k));
    c.batcher.window_index = b.at("window_index").get<int64_t>();

    const json& n = j.at("counters");
    c.counters.records = n.at("records").get<int64_t>();
    c.counters.samples = n.at("samples").get<int64_t>();
    c.counters.batches = n.at("batches").get<int64_t>();
    c.counters.tokens = n.at("tokens").get<int64_t>();
    c.counters.supervised_tokens = n.at("supervised_tokens").get<int64_t>();
    c.counters.truncated = n.at("truncated").get<int64_t>();
    for (size_t r = 0; r < kBadReasonCount; ++r)
      c.counters.bad[r] = n.at("bad").value(bad_reason_name(static_cast<BadReason>(r)), int64_t{0});
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("{}: not a data cursor: {}", source, e.what());
  }
  return c;
}

}  // namespace mha2mla::data
