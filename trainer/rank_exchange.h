// Byte strings between ranks (checkpoint records, resume decisions) over a Communicator, and a way for
// every rank to learn that one of them failed instead of waiting for it in the next collective.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace mha2mla {

namespace dist {
class Communicator;
}

// Every rank's `bytes`, in rank order, on every rank. Collective.
std::vector<std::string> all_gather_bytes(dist::Communicator& group, const std::string& bytes);

// `root`'s bytes on every rank. Collective.
std::string broadcast_bytes(dist::Communicator& group, const std::string& bytes, int root);

// Runs `body` on this rank, then agrees over `group` whether it succeeded everywhere. A rank whose body
// threw rethrows its own exception; the others throw an Error saying which `what` failed on how many
// ranks. Every rank leaves together, so no rank is left waiting in a later collective. Collective.
void run_on_every_rank(dist::Communicator& group, const std::string& what, const std::function<void()>& body);

}  // namespace mha2mla
