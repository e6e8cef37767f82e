#include "trainer/tensorboard_writer.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "common/crc32c.h"
#include "common/error.h"
#include "common/files.h"
#include "trainer/tensorboard_event.pb.h"

namespace mha2mla {
namespace {

void append_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFFu));
}

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == 0) return "localhost";
  return buffer;
}

}  // namespace

std::string tfrecord_frame(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  append_le(out, data.size(), 8);
  append_le(out, crc32c_mask(crc32c(out.data(), 8)), 4);
  out += data;
  append_le(out, crc32c_mask(crc32c(data)), 4);
  return out;
}

double wall_time_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, double wall_time) : file_(nullptr, &std::fclose) {
  ensure_directory(dir);
  // The counter keeps two writers opened in the same second by one process apart.
  static std::atomic<int> counter{0};
  path_ = path_join(dir, fmt::format("events.out.tfevents.{}.{}.{}.{}", static_cast<int64_t>(std::floor(wall_time)),
                                     host_name(), ::getpid(), counter++));
  file_.reset(std::fopen(path_.c_str(), "wb"));
  if (!file_) fail("cannot create TensorBoard event file '{}': {}", path_, std::strerror(errno));
  tensorboard::Event event;
  event.set_wall_time(wall_time);
  event.set_step(0);
  event.set_file_version("brain.Event:2");
  write_record(event.SerializeAsString());
}

TensorBoardWriter::~TensorBoardWriter() = default;

void TensorBoardWriter::write_record(const std::string& data) {
  std::string record = tfrecord_frame(data);
  if (std::fwrite(record.data(), 1, record.size(), file_.get()) != record.size() || std::fflush(file_.get()) != 0)
    fail("cannot write TensorBoard event file '{}': {}", path_, std::strerror(errno));
}

void TensorBoardWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values,
                                    double wall_time) {
  tensorboard::Event event;
  event.set_wall_time(wall_time);
  event.set_step(step);
  auto* summary = event.mutable_summary();
  for (const auto& [tag, value] : values) {
    auto* entry = summary->add_value();
    entry->set_tag(tag);
    entry->set_simple_value(static_cast<float>(value));
  }
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  add_scalars(step, {{tag, value}}, wall_time);
}

}  // namespace mha2mla
