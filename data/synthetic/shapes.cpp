#include "data/synthetic/shapes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "common/error.h"

namespace mha2mla::data {

namespace {

const std::map<std::string, std::array<uint8_t, 3>>& colour_values() {
  static const std::map<std::string, std::array<uint8_t, 3>> values = {
      {"red", {220, 40, 40}},   {"green", {40, 170, 60}},   {"blue", {40, 80, 220}},
      {"yellow", {235, 200, 40}}, {"purple", {150, 60, 190}}, {"orange", {240, 140, 30}}};
  return values;
}

std::string plural(const std::string& kind, int64_t n) { return n == 1 ? kind : kind + "s"; }

int64_t count_kind(const Scene& scene, const std::string& kind) {
  return std::count_if(scene.shapes.begin(), scene.shapes.end(), [&](const Shape& s) { return s.kind == kind; });
}

std::string count_sentence(int64_t n, const std::string& kind) {
  if (n == 0) return "There are no " + plural(kind, 2) + ".";
  if (n == 1) return "There is 1 " + kind + ".";
  return "There are " + std::to_string(n) + " " + plural(kind, n) + ".";
}

std::string name_of(const Shape& s) { return "the " + s.colour + " " + s.kind; }

std::string capitalised(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

}  // namespace

const std::vector<std::string>& shape_kinds() {
  static const std::vector<std::string> kinds = {"circle", "square", "triangle"};
  return kinds;
}

const std::vector<std::string>& shape_colours() {
  static const std::vector<std::string> colours = {"red", "green", "blue", "yellow", "purple", "orange"};
  return colours;
}

const std::vector<std::string>& short_answer_vocabulary() {
  static const std::vector<std::string> vocabulary = [] {
    std::vector<std::string> words = shape_colours();
    words.insert(words.end(), shape_kinds().begin(), shape_kinds().end());
    for (int n = 0; n <= 18; ++n) words.push_back(std::to_string(n));  // counts: up to 9 shapes in each of two images
    for (int cell = 0; cell < 9; ++cell) words.push_back(cell_name(cell / 3, cell % 3));
    for (const char* word : {"above", "below", "first", "second"}) words.push_back(word);
    return words;
  }();
  return vocabulary;
}

std::string cell_name(int row, int column) {
  static const char* rows[] = {"top", "", "bottom"};
  static const char* columns[] = {"left", "", "right"};
  if (row == 1 && column == 1) return "center";
  if (row == 1) return columns[column];
  if (column == 1) return rows[row];
  return std::string(rows[row]) + " " + columns[column];
}

Scene random_scene(Rng& rng, int64_t width, int64_t height, int max_shapes) {
  Scene scene;
  scene.width = width;
  scene.height = height;
  std::vector<int> cells(9);
  for (int i = 0; i < 9; ++i) cells[i] = i;
  shuffle_in_place(cells, rng);
  const int n = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(std::clamp(max_shapes, 1, 9))));
  std::vector<std::pair<std::string, std::string>> used;
  for (int i = 0; i < n; ++i) {
    Shape s;
    do {
      s.kind = shape_kinds()[rng.below(shape_kinds().size())];
      s.colour = shape_colours()[rng.below(shape_colours().size())];
    } while (std::find(used.begin(), used.end(), std::make_pair(s.kind, s.colour)) != used.end());
    used.emplace_back(s.kind, s.colour);
    s.row = cells[i] / 3;
    s.column = cells[i] % 3;
    scene.shapes.push_back(s);
  }
  return scene;
}

image::RgbImage render_scene(const Scene& scene) {
  image::RgbImage image(scene.width, scene.height);
  std::fill(image.pixels.begin(), image.pixels.end(), uint8_t{235});
  const double cell_w = static_cast<double>(scene.width) / 3, cell_h = static_cast<double>(scene.height) / 3;
  for (const Shape& s : scene.shapes) {
    const auto& colour = colour_values().at(s.colour);
    const double cx = (s.column + 0.5) * cell_w, cy = (s.row + 0.5) * cell_h;
    const double r = 0.35 * std::min(cell_w, cell_h);
    const int64_t x0 = static_cast<int64_t>(std::floor(cx - r)), x1 = static_cast<int64_t>(std::ceil(cx + r));
    const int64_t y0 = static_cast<int64_t>(std::floor(cy - r)), y1 = static_cast<int64_t>(std::ceil(cy + r));
    for (int64_t y = std::max<int64_t>(0, y0); y < std::min(scene.height, y1); ++y) {
      for (int64_t x = std::max<int64_t>(0, x0); x < std::min(scene.width, x1); ++x) {
        const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        bool inside = false;
        if (s.kind == "circle") inside = dx * dx + dy * dy <= r * r;
        else if (s.kind == "square") inside = std::abs(dx) <= r * 0.85 && std::abs(dy) <= r * 0.85;
        else inside = dy <= r * 0.8 && dy >= -r && std::abs(dx) <= (dy + r) * 0.6;  // apex up
        if (inside) std::copy(colour.begin(), colour.end(), image.row(y) + x * 3);
      }
    }
  }
  return image;
}

const std::vector<std::string>& question_kinds() {
  static const std::vector<std::string> kinds = {"colour", "shape", "count", "total", "cell", "relative"};
  return kinds;
}

std::optional<QuestionAnswer> ask_about(const Scene& scene, Rng& rng, const std::vector<std::string>& kinds) {
  MHA2MLA_CHECK(!scene.shapes.empty(), "empty scene");
  std::vector<bool> allowed(question_kinds().size(), kinds.empty());
  for (const std::string& kind : kinds) {
    auto it = std::find(question_kinds().begin(), question_kinds().end(), kind);
    MHA2MLA_CHECK(it != question_kinds().end(), "unknown question kind {}", kind);
    allowed[static_cast<size_t>(it - question_kinds().begin())] = true;
  }
  // Draws as many times as an answerable question takes; a scene that cannot answer any allowed kind gives up
  // after enough draws to make a miss on an answerable one vanishingly unlikely.
  for (int attempt = 0; attempt < 4096; ++attempt) {
    const Shape& a = scene.shapes[rng.below(scene.shapes.size())];
    const uint64_t kind = rng.below(6);
    if (!allowed[kind]) continue;
    switch (kind) {
      case 0:  // colour of a shape kind that occurs once
        if (count_kind(scene, a.kind) != 1) break;
        return QuestionAnswer{"What colour is the " + a.kind + "?", "The " + a.kind + " is " + a.colour + ".", a.colour};
      case 1: {  // shape of a colour that occurs once
        int64_t same = std::count_if(scene.shapes.begin(), scene.shapes.end(),
                                     [&](const Shape& s) { return s.colour == a.colour; });
        if (same != 1) break;
        return QuestionAnswer{"What shape is the " + a.colour + " object?", "It is a " + a.kind + ".", a.kind};
      }
      case 2: {  // count of a kind (possibly zero)
        const std::string& kind = shape_kinds()[rng.below(shape_kinds().size())];
        const int64_t n = count_kind(scene, kind);
        return QuestionAnswer{"How many " + plural(kind, 2) + " are there?", count_sentence(n, kind), std::to_string(n)};
      }
      case 3: {
        const auto n = static_cast<int64_t>(scene.shapes.size());
        return QuestionAnswer{"How many shapes are in the image?", count_sentence(n, "shape"), std::to_string(n)};
      }
      case 4: {
        const std::string cell = cell_name(a.row, a.column);
        return QuestionAnswer{"Where is " + name_of(a) + "?", capitalised(name_of(a)) + " is in the " + cell + ".", cell};
      }
      case 5: {  // relative position of two shapes in different columns (or rows)
        const Shape& b = scene.shapes[rng.below(scene.shapes.size())];
        if (&a == &b) break;
        if (a.column != b.column) {
          const std::string side = a.column < b.column ? "left" : "right";
          return QuestionAnswer{"Is " + name_of(a) + " to the left or to the right of " + name_of(b) + "?", "It is to the " + side + ".",
                  side};
        }
        const std::string side = a.row < b.row ? "above" : "below";
        return QuestionAnswer{"Is " + name_of(a) + " above or below " + name_of(b) + "?", "It is " + side + ".", side};
      }
    }
  }
  return std::nullopt;
}

QuestionAnswer ask_about(const Scene& scene, Rng& rng) {
  auto qa = ask_about(scene, rng, {});
  MHA2MLA_CHECK(qa.has_value(), "no question for a scene of {} shape(s)", scene.shapes.size());
  return *qa;
}

QuestionAnswer ask_about_pair(const Scene& first, const Scene& second, Rng& rng) {
  while (true) {
    if (rng.below(2) == 0) {
      const int64_t total = static_cast<int64_t>(first.shapes.size() + second.shapes.size());
      return {"How many shapes are there in the two images together?",
              "There are " + std::to_string(total) + " shapes in total.", std::to_string(total)};
    }
    const std::string& kind = shape_kinds()[rng.below(shape_kinds().size())];
    const int64_t a = count_kind(first, kind), b = count_kind(second, kind);
    if (a == b) continue;
    const std::string which = a > b ? "first" : "second";
    return {"Which image has more " + plural(kind, 2) + ", the first or the second?",
            "The " + which + " image has more " + plural(kind, 2) + ".", which};
  }
}

}  // namespace mha2mla::data
