// TensorBoard event files written directly, without TensorFlow: scalars only.
//
// File: <dir>/events.out.tfevents.<unix seconds>.<host>.<pid>.<n> (TensorBoard reads files whose name
// contains "tfevents"). It is a sequence of TFRecords, each
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// where data is a serialized tensorflow.Event (trainer/tensorboard_event.proto) and masking is
// ((crc >> 15) | (crc << 17)) + 0xa282ead8. The first record carries file_version "brain.Event:2"; every
// later one a Summary of {tag, simple_value} pairs for one step. Every write is flushed, so TensorBoard
// follows a running job and a crash loses nothing already logged.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mha2mla {

// One TFRecord around `data`.
std::string tfrecord_frame(const std::string& data);

// Seconds since the epoch, as TensorBoard's wall_time.
double wall_time_now();

class TensorBoardWriter {
 public:
  // Creates `dir` if needed and a new event file in it (never appends to an old one).
  explicit TensorBoardWriter(const std::string& dir, double wall_time = wall_time_now());
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One event holding every (tag, value) pair at `step`. Values are stored as float32 (simple_value).
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values,
                   double wall_time = wall_time_now());
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = wall_time_now());

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_;
};

}  // namespace mha2mla
