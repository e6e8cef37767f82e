// Synthetic visual question answering with exact answers: images of coloured shapes placed in a 3 x 3 grid of
// cells, and questions about colour, shape, count, position and relative position that the scene answers
// exactly. Deterministic from the generator's state. Used by `mha2mla make-data`, the tests and the demo.
//
// Every (shape, colour) pair occurs at most once per image, so "the red circle" always names one shape.
// Questions are only asked when their answer is unique (a colour question names a shape kind that occurs once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/image/rgb_image.h"
#include "data/rng.h"

namespace mha2mla::data {

struct Shape {
  std::string kind;    // circle, square, triangle
  std::string colour;  // red, green, blue, yellow, purple, orange
  int row = 0, column = 0;  // grid cell: rows top to bottom, columns left to right
};

struct Scene {
  int64_t width = 0, height = 0;
  std::vector<Shape> shapes;
};

const std::vector<std::string>& shape_kinds();
const std::vector<std::string>& shape_colours();

// 1..max_shapes shapes in distinct cells of a width x height image.
Scene random_scene(Rng& rng, int64_t width, int64_t height, int max_shapes = 4);

// Draws the scene: light grey background, each shape filled in its colour inside its cell (no anti-aliasing).
image::RgbImage render_scene(const Scene& scene);

// A question with its exact answer, as a sentence and as a single word or short phrase from a fixed vocabulary
// (short_answer_vocabulary(): colours, shape kinds, counts as digits, cell names, left/right, above/below, first/
// second), the form VQA benchmarks score by exact match.
struct QuestionAnswer {
  std::string question;
  std::string answer;
  std::string short_answer;
};

// Every short answer ask_about / ask_about_pair can give, in a fixed order.
const std::vector<std::string>& short_answer_vocabulary();

// The kinds of question ask_about draws from, in its order: colour (of a shape kind), shape (of a colour), count (of
// a kind), total (shapes in the image), cell (where a shape is), relative (left/right or above/below of another).
const std::vector<std::string>& question_kinds();

// One question about a scene, of a randomly chosen answerable kind among `kinds` (empty: all of question_kinds()).
// Returns nothing when no allowed kind is answerable for this scene (relative questions need two shapes).
std::optional<QuestionAnswer> ask_about(const Scene& scene, Rng& rng, const std::vector<std::string>& kinds);
// Any kind (always answerable).
QuestionAnswer ask_about(const Scene& scene, Rng& rng);

// One question about two scenes together ("the first image", "the second image").
QuestionAnswer ask_about_pair(const Scene& first, const Scene& second, Rng& rng);

// The cell's name: "top left", "top", "top right", "left", "center", ..., "bottom right".
std::string cell_name(int row, int column);

}  // namespace mha2mla::data
