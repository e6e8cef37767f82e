// C interface of the SentencePiece shim module (libmha2mla_sentencepiece.so).
//
// Why a separate module: Debian's libsentencepiece carries its own copy of protobuf-lite 3.14 and exports
// its symbols, while LibTorch and the project load protobuf 3.21. In one symbol namespace the two
// interpose on each other and the process dies at start-up. The shim links libsentencepiece alone and is
// opened with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so it and libsentencepiece resolve protobuf to their own
// copy while the rest of the process keeps the system one. Only C types cross the boundary; strings and
// id arrays returned by the shim are malloc'ed and released by the caller with free().
#pragma once

#include <stddef.h>

extern "C" {

// Returns a handle, or null with *error set.
void* mha2mla_spm_load(const char* path, char** error);
void mha2mla_spm_free(void* handle);
int mha2mla_spm_piece_size(const void* handle);
int mha2mla_spm_piece_to_id(const void* handle, const char* piece, size_t length);
// Pointer into the model (valid while the handle lives).
const char* mha2mla_spm_id_to_piece(const void* handle, int id, size_t* length);
int mha2mla_spm_is_control(const void* handle, int id);
// which: 0 bos, 1 eos, 2 pad, 3 unk; -1 when the model has none.
int mha2mla_spm_role_id(const void* handle, int which);
// 0 on success; *ids (malloc'ed) and *count receive the ids.
int mha2mla_spm_encode(const void* handle, const char* text, size_t length, int** ids, size_t* count, char** error);
// 0 on success; *text (malloc'ed, not NUL-terminated past *length) receives the decoded text.
int mha2mla_spm_decode(const void* handle, const int* ids, size_t count, char** text, size_t* length, char** error);
}
