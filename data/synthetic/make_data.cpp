#include "data/synthetic/make_data.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "data/synthetic/image_encode.h"
#include "data/synthetic/shapes.h"
#include "data/synthetic/tar_writer.h"

namespace mha2mla::data {

namespace {

using ojson = nlohmann::ordered_json;

constexpr uint64_t kSampleTag = 0x53414d504c45ULL;  // "SAMPLE"
constexpr uint64_t kOrderTag = 0x4f52444552ULL;     // "ORDER"

struct Turn {
  bool user = true;
  std::string text;
};

struct EncodedImage {
  std::string bytes;
  std::string extension;  // jpg | png
};

// One record before it is written: a conversation, its images, and how it is broken (if it is).
struct SyntheticRecord {
  std::string id;
  std::vector<Turn> turns;
  std::vector<EncodedImage> images;
  std::string bad_kind;  // "" = a good sample
};

EncodedImage encode(const image::RgbImage& image, Rng& rng) {
  if (rng.below(3) == 0) return {encode_png(image), "png"};
  return {encode_jpeg(image, 90), "jpg"};
}

SyntheticRecord good_record(const MakeDataOptions& o, int64_t index) {
  Rng rng(derive_seed({o.seed, kSampleTag, static_cast<uint64_t>(index)}));
  auto side = [&] {
    return o.min_side + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.max_side - o.min_side + 1)));
  };
  SyntheticRecord r;
  r.id = fmt::format("sample-{:06d}", index);
  if (o.task == "vqa") {  // one image, one question, a short answer
    const int64_t width = side(), height = side();
    Scene scene = random_scene(rng, width, height, o.max_shapes);
    std::optional<QuestionAnswer> asked = ask_about(scene, rng, o.questions);
    while (!asked) {  // this scene answers none of the allowed kinds (a relative question needs two shapes)
      scene = random_scene(rng, width, height, o.max_shapes);
      asked = ask_about(scene, rng, o.questions);
    }
    const QuestionAnswer& qa = *asked;
    r.turns = {{true, "<image>\n" + qa.question}, {false, qa.short_answer}};
    r.images = {encode(render_scene(scene), rng)};
    return r;
  }
  const uint64_t kind = rng.below(20);
  if (kind < 3) {  // two images, one question about both
    Scene first = random_scene(rng, side(), side(), o.max_shapes);
    Scene second = random_scene(rng, side(), side(), o.max_shapes);
    QuestionAnswer qa = ask_about_pair(first, second, rng);
    r.turns = {{true, "<image>\n<image>\n" + qa.question}, {false, qa.answer}};
    r.images = {encode(render_scene(first), rng), encode(render_scene(second), rng)};
    return r;
  }
  Scene scene = random_scene(rng, side(), side(), o.max_shapes);
  r.images = {encode(render_scene(scene), rng)};
  const int questions = kind < 9 ? 2 + static_cast<int>(rng.below(2)) : 1;  // multi-turn about 30% of the time
  std::vector<std::string> asked;
  for (int q = 0; q < questions; ++q) {
    QuestionAnswer qa = ask_about(scene, rng);
    for (int attempt = 0; attempt < 16 && std::find(asked.begin(), asked.end(), qa.question) != asked.end(); ++attempt)
      qa = ask_about(scene, rng);  // a conversation does not repeat a question (a one-shape scene may have to)
    asked.push_back(qa.question);
    r.turns.push_back({true, (q == 0 ? "<image>\n" : "") + qa.question});
    r.turns.push_back({false, qa.answer});
  }
  return r;
}

SyntheticRecord bad_record(const MakeDataOptions& o, const std::string& kind, int64_t k) {
  SyntheticRecord r = good_record(o, 1000000 + k);  // a well-formed start, broken below
  r.id = fmt::format("bad-{}-{}", kind, k);
  r.bad_kind = kind;
  if (r.images.size() > 1) {  // keep the broken records single-image
    r.images.resize(1);
    r.turns = {{true, "<image>\nHow many shapes are in the first image?"}, {false, "I cannot tell."}};
  }
  if (kind == "corrupt_image") {
    r.images[0].extension = "jpg";
    if (k % 2 == 0) r.images[0].bytes = encode_jpeg(image::RgbImage(64, 48), 90).substr(0, 120);  // truncated
    else r.images[0].bytes = "this is not an image";
  } else if (kind == "placeholder_mismatch") {
    r.turns[0].text = "<image>\n" + r.turns[0].text;
  } else if (kind == "empty_conversation") {
    r.turns.clear();
  } else if (kind == "too_long") {
    std::string answer;
    for (int w = 0; w < 1500; ++w) answer += shape_colours()[w % shape_colours().size()] + (w % 12 == 11 ? ". " : " ");
    r.turns.back().text = answer;
  }
  return r;
}

std::string image_name(const SyntheticRecord& r, size_t i) {
  return fmt::format("images/{}{}.{}", r.id, r.images.size() > 1 ? fmt::format("-{}", i) : "", r.images[i].extension);
}

// The record in LLaVA/ShareGPT layout (wds: without image paths).
ojson llava_layout(const SyntheticRecord& r, bool with_paths) {
  ojson j;
  j["id"] = r.id;
  if (with_paths && !r.images.empty()) {
    if (r.bad_kind == "missing_image") j["image"] = fmt::format("images/missing-{}.jpg", r.id);
    else if (r.images.size() == 1) j["image"] = image_name(r, 0);
    else for (size_t i = 0; i < r.images.size(); ++i) j["image"].push_back(image_name(r, i));
  }
  j["conversations"] = ojson::array();
  for (const Turn& t : r.turns) {
    std::string role = t.user ? "human" : "gpt";
    if (r.bad_kind == "unknown_role" && !t.user) role = "narrator";
    j["conversations"].push_back({{"from", role}, {"value", t.text}});
  }
  return j;
}

ojson messages_layout(const SyntheticRecord& r) {
  ojson j;
  j["id"] = r.id;
  j["messages"] = ojson::array();
  for (const Turn& t : r.turns) {
    std::string role = t.user ? "user" : "assistant";
    if (r.bad_kind == "unknown_role" && !t.user) role = "narrator";
    j["messages"].push_back({{"role", role}, {"content", t.text}});
  }
  j["images"] = ojson::array();
  for (size_t i = 0; i < r.images.size(); ++i)
    j["images"].push_back(r.bad_kind == "missing_image" ? fmt::format("images/missing-{}.jpg", r.id) : image_name(r, i));
  return j;
}

// Malformed but bracket-balanced for the JSON list (so the scanner still finds the next element), truncated for
// line-based files.
std::string malformed_text(const SyntheticRecord& r, bool balanced) {
  if (balanced)
    return fmt::format("{{\"id\": \"{}\", \"conversations\": [{{\"from\": \"human\", \"value\": \"hi\"}} "
                       "{{\"from\": \"gpt\", \"value\": \"missing comma\"}}]}}",
                       r.id);
  return fmt::format("{{\"id\": \"{}\", \"conversations\": [{{\"from\": \"human\", \"value\": \"trunc", r.id);
}

// Plain writes: thousands of small files, and the dataset file that names them is written (atomically) last.
void write_images(const std::string& out, const SyntheticRecord& r) {
  if (r.bad_kind == "missing_image") return;
  for (size_t i = 0; i < r.images.size(); ++i) {
    const std::string path = path_join(out, image_name(r, i));
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(r.images[i].bytes.data(), static_cast<std::streamsize>(r.images[i].bytes.size()));
    if (!file) fail("cannot write '{}'", path);
  }
}

}  // namespace

const std::vector<std::string>& make_data_tasks() {
  static const std::vector<std::string> tasks = {"mixed", "vqa"};
  return tasks;
}

const std::vector<std::string>& make_data_formats() {
  static const std::vector<std::string> formats = {"llava_json", "sharegpt_jsonl", "messages_jsonl", "wds"};
  return formats;
}

std::vector<std::string> bad_kinds_for(const std::string& format) {
  std::vector<std::string> kinds = {"missing_image",       "corrupt_image",      "malformed_json", "unknown_role",
                                    "placeholder_mismatch", "empty_conversation", "too_long"};
  if (format == "wds") kinds.erase(kinds.begin());
  return kinds;
}

MakeDataReport make_synthetic_dataset(const MakeDataOptions& o) {
  const auto& formats = make_data_formats();
  if (std::find(formats.begin(), formats.end(), o.format) == formats.end())
    fail("make-data: unknown --format '{}'; expected {}", o.format, join(formats, ", "));
  if (o.samples < 0 || o.bad < 0) fail("make-data: --samples and --bad must not be negative");
  if (o.min_side < 16 || o.max_side < o.min_side) fail("make-data: image sides {}..{} are not a valid range", o.min_side, o.max_side);
  if (o.out.empty()) fail("make-data: --out is required");
  const auto& tasks = make_data_tasks();
  if (std::find(tasks.begin(), tasks.end(), o.task) == tasks.end())
    fail("make-data: unknown --task '{}'; expected {}", o.task, join(tasks, ", "));
  if (o.max_shapes < 1 || o.max_shapes > 9) fail("make-data: --max-shapes {} is not in 1..9 (one shape per grid cell)", o.max_shapes);
  for (const std::string& kind : o.questions)
    if (std::find(question_kinds().begin(), question_kinds().end(), kind) == question_kinds().end())
      fail("make-data: unknown question kind '{}' in --questions; expected some of {}", kind, join(question_kinds(), ", "));
  if (!o.questions.empty() && o.task != "vqa") fail("make-data: --questions applies to --task vqa only");
  if (o.questions.size() == 1 && o.questions[0] == "relative" && o.max_shapes < 2)
    fail("make-data: relative questions need two shapes: raise --max-shapes above 1");
  ensure_directory(o.out);
  if (o.format != "wds") ensure_directory(path_join(o.out, "images"));

  // Which record goes where: good samples and bad ones interleaved in a seeded order.
  struct Slot {
    std::string bad_kind;
    int64_t index;
  };
  std::vector<Slot> slots;
  for (int64_t i = 0; i < o.samples; ++i) slots.push_back({"", i});
  for (const std::string& kind : bad_kinds_for(o.format))
    for (int64_t k = 0; k < o.bad; ++k) slots.push_back({kind, k});
  Rng order(derive_seed({o.seed, kOrderTag}));
  shuffle_in_place(slots, order);

  MakeDataReport report;
  report.records = static_cast<int64_t>(slots.size());
  const bool wds = o.format == "wds";
  std::string text;
  std::unique_ptr<TarWriter> tar;
  int64_t in_shard = 0;
  if (o.format == "llava_json") text = "[\n";
  for (size_t s = 0; s < slots.size(); ++s) {
    SyntheticRecord r = slots[s].bad_kind.empty() ? good_record(o, slots[s].index)
                                                  : bad_record(o, slots[s].bad_kind, slots[s].index);
    if (!r.bad_kind.empty()) report.bad_ids[r.bad_kind].push_back(r.id);
    const bool malformed = r.bad_kind == "malformed_json";
    if (wds) {
      if (!tar || in_shard == o.shard_size) {
        if (tar) tar->finish();
        std::string name = fmt::format("shard-{:06d}.tar", report.files.size());
        report.files.push_back(name);
        tar = std::make_unique<TarWriter>(path_join(o.out, name));
        in_shard = 0;
      }
      ++in_shard;
      tar->add(r.id + ".json", malformed ? malformed_text(r, false) : llava_layout(r, false).dump());
      for (size_t i = 0; i < r.images.size(); ++i) {
        std::string ext = r.images.size() > 1 ? fmt::format("{}.{}", i, r.images[i].extension) : r.images[i].extension;
        tar->add(r.id + "." + ext, r.images[i].bytes);
      }
      continue;
    }
    write_images(o.out, r);
    if (o.format == "llava_json") {
      text += malformed ? "  " + malformed_text(r, true) : llava_layout(r, true).dump(2);
      text += s + 1 < slots.size() ? ",\n" : "\n";
    } else {
      text += malformed ? malformed_text(r, false)
                        : (o.format == "messages_jsonl" ? messages_layout(r) : llava_layout(r, true)).dump();
      text += "\n";
    }
  }
  if (wds) {
    if (tar) tar->finish();
  } else {
    if (o.format == "llava_json") text += "]\n";
    std::string name = o.format == "llava_json" ? "data.json" : "data.jsonl";
    write_file_atomic(path_join(o.out, name), text);
    report.files.push_back(name);
  }

  ojson manifest;
  manifest["format"] = o.format;
  manifest["samples"] = o.samples;
  manifest["records"] = report.records;
  manifest["seed"] = o.seed;
  manifest["task"] = o.task;
  manifest["max_shapes"] = o.max_shapes;
  manifest["questions"] = o.questions.empty() ? question_kinds() : o.questions;
  manifest["files"] = report.files;
  manifest["bad"] = ojson::object();
  for (const auto& [kind, ids] : report.bad_ids) manifest["bad"][kind] = ids;
  write_file_atomic(path_join(o.out, "manifest.json"), manifest.dump(2) + "\n");
  return report;
}

}  // namespace mha2mla::data
