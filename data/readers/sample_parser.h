// Record text -> ParsedSample, for every format. Throws BadSampleError (malformed_json, bad_schema,
// unknown_role, empty_conversation, placeholder_mismatch) with a message saying what was found.
//
//   llava_json, sharegpt_jsonl   {"id": ..., "image": "a.jpg" | ["a.jpg", ...] (or "images": [...]),
//                                 "conversations": [{"from": "human"|"user"|"gpt"|"assistant"|"system",
//                                                    "value": "..."}]}
//   messages_jsonl               {"messages": [{"role": "system"|"user"|"assistant", "content": "..." or
//                                 [{"type": "text", "text": ...}, {"type": "image"}]}], "images": [...]}
//                                 (an image part stands for one "<image>" at that point)
//   wds                          the .json member holds either layout (without image paths); the images are the
//                                members named <key>.jpg|jpeg|png or <key>.<n>.jpg|jpeg|png, in that order
//                                (plain first, then by n)
//
// The sample must have as many "<image>" placeholders in its user/system turns as it has images, and none in
// assistant turns. The id is the record's "id" (string or number), else "<file>:<line>" / "<shard>:<key>".
#pragma once

#include <string>

#include "data/chat/conversation.h"
#include "data/record.h"

namespace mha2mla::data {

// `shard_path` names the file in ids and messages; `image_root` resolves relative image paths.
ParsedSample parse_record(DatasetFormat format, const Record& record, const std::string& shard_path,
                          const std::string& image_root);

}  // namespace mha2mla::data
