// The data pipeline's randomness: one tiny generator whose whole state is a uint64 (so a cursor can save it)
// and whose draws are defined here bit for bit (std::uniform_int_distribution is implementation-defined, so
// two standard libraries would shuffle differently). splitmix64 (Steele, Lea, Flood 2014) passes BigCrush and
// is what xoshiro's authors recommend for seeding; the bounded draw is Lemire's multiply-shift.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace mha2mla::data {

inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A seed derived from several values (seed, stream tag, epoch, ...): order matters, collisions are negligible.
inline uint64_t derive_seed(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  for (uint64_t p : parts) h = splitmix64_mix(h ^ splitmix64_mix(p + 0x9e3779b97f4a7c15ULL));
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t state = 0) : state_(state) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return splitmix64_mix(state_);
  }
  // Uniform in [0, n) for n >= 1 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

 private:
  uint64_t state_;
};

// Fisher-Yates with Rng::below, so a permutation is the same on every platform.
template <typename T>
void shuffle_in_place(std::vector<T>& items, Rng& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

}  // namespace mha2mla::data
