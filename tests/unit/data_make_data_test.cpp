// make-data: deterministic from the seed; scenes drawn where they say; answers that follow from the scene.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/image/image_decode.h"
#include "data/synthetic/image_encode.h"
#include "data/synthetic/make_data.h"
#include "data/synthetic/shapes.h"
#include "tests/unit/data_test_support.h"

namespace mha2mla::data {
namespace {

std::map<std::string, std::string> folder_contents(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[std::filesystem::relative(e.path(), dir).string()] = read_file(e.path().string());
  return files;
}

TEST(MakeData, IsDeterministicFromTheSeed) {
  const std::string dir = mha2mla::testing::scratch_dir();
  testing::make_dataset(path_join(dir, "a"), "llava_json", 15, 1, 42);
  testing::make_dataset(path_join(dir, "b"), "llava_json", 15, 1, 42);
  testing::make_dataset(path_join(dir, "c"), "llava_json", 15, 1, 43);
  auto a = folder_contents(path_join(dir, "a")), b = folder_contents(path_join(dir, "b"));
  auto c = folder_contents(path_join(dir, "c"));
  EXPECT_EQ(a, b);
  EXPECT_NE(a.at("data.json"), c.at("data.json"));
  EXPECT_GT(a.size(), 2u + 15u);  // data.json, manifest.json and the images
}

TEST(Shapes, ScenesAreDrawnWhereTheySayInTheirColours) {
  Rng rng(9);
  const std::map<std::string, std::array<int, 3>> colours = {{"red", {220, 40, 40}},    {"green", {40, 170, 60}},
                                                             {"blue", {40, 80, 220}},   {"yellow", {235, 200, 40}},
                                                             {"purple", {150, 60, 190}}, {"orange", {240, 140, 30}}};
  for (int trial = 0; trial < 20; ++trial) {
    Scene scene = random_scene(rng, 90, 120, 5);
    // PNG is lossless: the decoded pixels are the drawn ones.
    image::RgbImage image = image::decode_image(encode_png(render_scene(scene)), "scene.png");
    std::set<int> cells;
    for (const Shape& s : scene.shapes) {
      EXPECT_TRUE(cells.insert(s.row * 3 + s.column).second) << "two shapes in one cell";
      const int64_t x = s.column * 30 + 15, y = s.row * 40 + 20 + 2;  // the cell centre (below a triangle's apex)
      const uint8_t* p = image.row(y) + x * 3;
      EXPECT_EQ((std::array<int, 3>{p[0], p[1], p[2]}), colours.at(s.colour)) << s.colour << " " << s.kind;
    }
    for (int cell = 0; cell < 9; ++cell) {
      if (cells.count(cell)) continue;
      const uint8_t* p = image.row((cell / 3) * 40 + 20) + ((cell % 3) * 30 + 15) * 3;
      EXPECT_EQ(p[0], 235) << "empty cell " << cell << " is not background";
    }
  }
}

TEST(Shapes, OnlyTheAllowedKindsOfQuestionAreAsked) {
  Scene scene;
  scene.width = scene.height = 90;
  scene.shapes = {{"circle", "red", 0, 0}, {"square", "blue", 1, 2}};
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    auto colour = ask_about(scene, rng, {"colour"});
    ASSERT_TRUE(colour.has_value());
    EXPECT_EQ(colour->question.rfind("What colour is the ", 0), 0u) << colour->question;
    auto place = ask_about(scene, rng, {"cell", "total"});
    ASSERT_TRUE(place.has_value());
    EXPECT_TRUE(place->question.rfind("Where is ", 0) == 0 || place->question == "How many shapes are in the image?")
        << place->question;
  }
  Scene single;
  single.width = single.height = 90;
  single.shapes = {{"triangle", "green", 2, 2}};
  EXPECT_FALSE(ask_about(single, rng, {"relative"}).has_value()) << "one shape has nothing to be left of";
}

TEST(MakeData, QuestionKindsAreCheckedAndKept) {
  const std::string dir = mha2mla::testing::scratch_dir();
  MakeDataOptions o;
  o.out = path_join(dir, "colour");
  o.samples = 30;
  o.task = "vqa";
  o.max_shapes = 1;
  o.questions = {"colour"};
  make_synthetic_dataset(o);
  const auto records = nlohmann::json::parse(read_file(path_join(o.out, "data.json")));
  ASSERT_EQ(records.size(), 30u);
  for (const auto& r : records)
    EXPECT_EQ(r["conversations"][0]["value"].get<std::string>().rfind("<image>\nWhat colour is the ", 0), 0u) << r;
  o.questions = {"color"};
  EXPECT_ERROR_CONTAINS(make_synthetic_dataset(o), "unknown question kind 'color'", "colour, shape");
  o.questions = {"relative"};
  EXPECT_ERROR_CONTAINS(make_synthetic_dataset(o), "relative questions need two shapes");
  o.questions = {"colour"};
  o.task = "mixed";
  EXPECT_ERROR_CONTAINS(make_synthetic_dataset(o), "--questions applies to --task vqa only");
}

TEST(Shapes, AnswersFollowFromTheScene) {
  Scene scene;
  scene.width = scene.height = 90;
  scene.shapes = {{"circle", "red", 0, 0}, {"square", "blue", 1, 2}, {"square", "green", 2, 1}};
  const std::map<std::string, std::string> single = {
      {"How many squares are there?", "There are 2 squares."},
      {"How many triangles are there?", "There are no triangles."},
      {"How many circles are there?", "There is 1 circle."},
      {"How many shapes are in the image?", "There are 3 shapes."},
      {"What colour is the circle?", "The circle is red."},
      {"What shape is the blue object?", "It is a square."},
      {"Where is the green square?", "The green square is in the bottom."},
      {"Where is the red circle?", "The red circle is in the top left."},
      {"Is the red circle to the left or to the right of the blue square?", "It is to the left."},
      {"Is the blue square to the left or to the right of the green square?", "It is to the right."},
      {"Is the green square to the left or to the right of the red circle?", "It is to the right."},
  };
  Rng rng(1);
  std::set<std::string> asked;
  for (int i = 0; i < 300; ++i) {
    QuestionAnswer qa = ask_about(scene, rng);
    EXPECT_NE(qa.question, "What colour is the square?") << "ambiguous: there are two squares";
    auto it = single.find(qa.question);
    if (it != single.end()) {
      EXPECT_EQ(qa.answer, it->second) << qa.question;
      asked.insert(qa.question);
    }
  }
  EXPECT_GE(asked.size(), 8u);

  Scene other;
  other.width = other.height = 90;
  other.shapes = {{"triangle", "red", 1, 1}};
  const std::map<std::string, std::string> pair = {
      {"How many shapes are there in the two images together?", "There are 4 shapes in total."},
      {"Which image has more squares, the first or the second?", "The first image has more squares."},
      {"Which image has more triangles, the first or the second?", "The second image has more triangles."},
  };
  for (int i = 0; i < 50; ++i) {
    QuestionAnswer qa = ask_about_pair(scene, other, rng);
    auto it = pair.find(qa.question);
    if (it != pair.end()) {
      EXPECT_EQ(qa.answer, it->second) << qa.question;
    }
  }
}

}  // namespace
}  // namespace mha2mla::data
